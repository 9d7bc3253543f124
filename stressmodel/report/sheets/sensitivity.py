"""The Sensitivity sheet: the grid scenarios (export shock rows x output cut columns, then
export shock rows x permanent share columns: the share of the shock never recovered).

Blocks: value / price, cash headroom (minimum cash less revolver minus the firm's minimum
cash: negative means a revolving draw), minimum interest cover. Colours on fixed
thresholds (value / price 0.8 and 1; headroom 0; interest cover 1x and 2x), not a relative
scale. The observed export trough (about -77% in May 2025, inputs/trade.csv and
reference NOTES) and the trade-implied level are marked beside the rows; the grid's other
parameters (those of its base scenario) are stated beside the 0% / 0% cell.
"""

from __future__ import annotations

from typing import Any

from stressmodel.inputs.scenarios import PERMANENT_GRID_KIND
from stressmodel.report.sheets.common import FirmContext, _is_num, rows_where
from stressmodel.report.spec import CondFormat, SheetSpec

#: the observed fall of China's magnet exports, May 2025 against March 2025 (NOTES.md)
OBSERVED_TROUGH = 0.77
ENGINE_NOTE = "engine value: does not move when inputs change"


def _rules(kind: str, price: float | None, min_cash: float) -> list[tuple[str, str, float]]:
    if kind == "value_to_price":
        return [("cf_red", "<", 0.8), ("cf_amber", "<", 1.0), ("cf_green", ">=", 1.0)]
    if kind == "headroom":
        return [("cf_red", "<", 0.0), ("cf_green", ">=", 0.0)]
    return [("cf_red", "<", 1.0), ("cf_amber", "<", 2.0), ("cf_green", ">=", 2.0)]


#: columns of the grid summary read by the sheet's blocks
READ_COLUMNS = ("value_per_share", "min_cash", "min_interest_cover")


def sensitivity_sheet(ctx: FirmContext) -> SheetSpec:
    r = ctx.result
    sh = SheetSpec("Sensitivity")
    grid = rows_where(r.grid_summary, "ticker", ctx.ticker)
    # the columns this sheet reads (the grid summary has ~65 and a row per grid case)
    used = ("scenario", "scenario_kind", "export_shock", "output_cut", *READ_COLUMNS)
    grid = grid.select([c for c in used if c in grid.columns])
    first = [s for s in r.grid if s.kind == "grid"]
    second = [s for s in r.grid if s.kind == PERMANENT_GRID_KIND]
    perm = {s.name: round(s.permanent_share, 10) for s in second}
    # the grid's rows by (shock, cut) and the permanent-share rows by (shock, share), in
    # one pass over the firm's rows
    cells: dict[tuple[float, float], dict[str, Any]] = {}
    cells_p: dict[tuple[float, float], dict[str, Any]] = {}
    for x in grid.iter_rows(named=True):
        kind = x["scenario_kind"]
        if kind == "grid":
            cells[(round(x["export_shock"], 10), round(x["output_cut"], 10))] = x
        elif kind == PERMANENT_GRID_KIND and x["scenario"] in perm:
            cells_p[(round(x["export_shock"], 10), perm[x["scenario"]])] = x
    shocks = sorted({round(s.export_shock, 10) for s in first})
    cuts = sorted({round(s.output_cut, 10) for s in first})
    base = r.grid[0].description.split("as in ")[-1] if r.grid else ""
    sh.text(
        0,
        0,
        f"{ctx.ticker} - sensitivity: export shock (rows) x output cut, then x permanent share "
        f"(columns), other parameters as in {base}",
        "title",
    )
    sh.text(1, 0, f"Grid scenarios run by the engine (purple: {ENGINE_NOTE}).", "note")
    base_sc = next((s for s in r.scenarios if s.name == base), None)
    if base_sc is not None:
        sh.text(
            2,
            0,
            f"Other parameters at every cell (from {base}): shock from the first projected quarter, "
            f"storage cost {base_sc.storage_cost_rate:.1%}/yr, "
            f"licence delay {base_sc.licence_delay_days:g} business days, domestic shock "
            f"{base_sc.domestic_shock:.0%}, {base_sc.duration_quarters} quarters at full strength, "
            f"{base_sc.recovery_quarters} to recover, permanent share {base_sc.permanent_share:.0%} "
            f"(second grid: output cut {base_sc.output_cut:.0%}): "
            "so the 0% / 0% cell is not the baseline scenario.",
            "note",
        )
        if not base_sc.output_cut_forced:
            sh.text(
                3,
                0,
                f"Output cut: in {base} production follows orders (output_cut_forced = 0), so the cut is "
                "the demand loss and the output-cut columns of the first grid coincide; a forced cut "
                "(output_cut_forced = 1 in scenarios.toml) makes them differ.",
                "note",
            )
    price = ctx.figure("share_price")
    price_ok = _is_num(price) and float(price) > 0
    min_cash = float(ctx.fb.params.get("min_cash", 0.0))
    trade_level = max((float(v) for k, v in r.trade.loss.items() if k > r.as_of), default=None)
    ncols = max(len(cuts), len(sorted(set(perm.values()))))
    blocks = (
        ("Value per share / share price (times; 1 = the price)", "value_to_price", "multiple2"),
        (
            f"Cash headroom: minimum cash less revolver minus the minimum cash of {min_cash:,.1f} "
            "(CNY mn; negative = a revolving draw)",
            "headroom",
            "money",
        ),
        ("Minimum interest cover (times)", "min_interest_cover", "cover"),
    )
    grids = [("output cut", cuts, cells, "Export shock \\ output cut")]
    if cells_p:
        grids.append(
            (
                "permanent share",
                sorted(set(perm.values())),
                cells_p,
                "Export shock \\ share never recovered",
            )
        )
    row = 5
    for axis, cols, grid_cells, corner in grids:
        for title, col, fmt in blocks:
            if (
                col == "min_interest_cover"
                and grid_cells
                and all(x.get(col) is None for x in grid_cells.values())
            ):
                # no interest expense in any case of the grid: one line, not a grid of n/a
                sh.text(row, 0, f"{title}: export shock x {axis}", "section")
                for j in range(1, ncols + 2):
                    sh.text(row, j, "", "section")
                sh.text(
                    row + 1,
                    0,
                    "n/a in every cell: no material debt (no interest expense in any case of the grid)",
                    "status",
                )
                row += 3
                continue
            sh.text(row, 0, f"{title}: export shock x {axis}", "section")
            for j in range(1, ncols + 2):
                sh.text(row, j, "", "section")
            row += 1
            sh.text(row, 0, corner, "header")
            for j, c in enumerate(cols, start=1):
                sh.number(row, j, c, "pct/head")
            sh.text(row, ncols + 1, "Marks", "header")
            head = row
            for i, e in enumerate(shocks, start=1):
                sh.number(head + i, 0, e, "pct/head")
                for j, c in enumerate(cols, start=1):
                    x = grid_cells.get((e, c))
                    if x is None:
                        sh.text(head + i, j, "n/a", "status_right")
                        continue
                    if col == "value_to_price":
                        vps = x.get("value_per_share")
                        v = float(vps) / float(price) if price_ok and _is_num(vps) else None
                    elif col == "headroom":
                        mc = x.get("min_cash")
                        v = float(mc) - min_cash if _is_num(mc) else None
                    else:
                        v = x.get(col)
                    if v is None and col == "min_interest_cover":
                        sh.text(head + i, j, "n/a: no interest", "status_right")
                    elif v is None:
                        sh.text(head + i, j, "n/a", "status_right")
                    else:
                        sh.number(head + i, j, v, f"{fmt}/frozen")
                marks = []
                step = shocks[1] - shocks[0] if len(shocks) > 1 else 1.0
                if abs(e - OBSERVED_TROUGH) <= step / 2 + 1e-12:
                    marks.append("observed trough about 77% (May 2025 vs March)")
                if trade_level is not None and abs(e - trade_level) <= step / 2 + 1e-12:
                    marks.append(f"trade-implied peak loss {trade_level:.0%}")
                elif trade_level is not None and i == 1 and trade_level < e - step / 2:
                    marks.append(
                        f"trade-implied loss {trade_level:.0%} (exports above the reference): below this row"
                    )
                if marks:
                    sh.text(head + i, ncols + 1, "<- " + "; ".join(marks), "label_bold")
            for style, crit, v in _rules(col, price, min_cash):
                sh.cond_formats.append(
                    CondFormat(
                        head + 1,
                        1,
                        head + len(shocks),
                        len(cols),
                        {"type": "cell", "criteria": crit, "value": v, "format": style},
                    )
                )
            row = head + len(shocks) + 2
    sh.freeze = (7, 1)
    sh.widths = {0: 28, ncols + 1: 40}
    sh.width(1, ncols, 11)
    return sh
