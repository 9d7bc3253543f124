"""The Risk sheet: distress metrics by scenario and by quarter."""

from __future__ import annotations

from typing import Any

import polars as pl

from stressmodel.report import catalog
from stressmodel.report.formulas import sheet_ref
from stressmodel.report.frames import write_frame
from stressmodel.report.sheets.common import FirmContext, _is_num, rows_where
from stressmodel.report.spec import SheetSpec

# --- Risk -----------------------------------------------------------------------------------

RISK_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("min_interest_cover", "Minimum interest cover (times; live)", "cover"),
    ("interest_cover_status", "Interest cover data", "text"),
    ("altman_z", "Altman Z'' (minimum)", "ratio2"),
    ("altman_zone", "Z'' zone", "text"),
    ("ohlson_probability", "Ohlson probability (maximum)", "pct"),
    ("distance_to_default", "Distance to default (SD)", "ratio2"),
    ("default_probability", "Default probability", "pct2"),
    ("dd_status", "Distance-to-default data", "text"),
    ("net_debt_to_ebitda", "Net debt / EBITDA at the horizon (times)", "multiple"),
    ("net_debt_to_ebitda_status", "Net debt / EBITDA data", "text"),
    ("min_cash", "Minimum cash less revolver (CNY mn; live)", "money"),
    ("cash_runway_quarters", "First revolving draw (projected quarter; live)", "quarter"),
    ("runway_status", "Runway", "text"),
    ("default_point", "Default point (CNY mn)", "money"),
)
#: live cells of the scenario sheets' metric blocks, by Risk column
LIVE = {
    "min_interest_cover": "min_interest_cover",
    "min_cash": "min_cash",
    "cash_runway_quarters": "first_draw",
}
#: the reverse-stress row, shown as labelled rows: (column, label, number kind)
REVERSE_ROWS = (
    ("share_price", "Share price (CNY/share)", "per_share"),
    ("price_date", "Price date", "text"),
    ("value_no_shock", "Value per share with no shock (CNY/share)", "per_share"),
    ("implied_export_shock", "Permanent export shock the price implies", "pct"),
    ("status", "Status of the implied shock", "text"),
    ("implied_shock_low_rate", "Implied shock at the low discount rate", "pct"),
    ("implied_shock_low_rate_status", "Status (low rate)", "text"),
    ("implied_shock_high_rate", "Implied shock at the high discount rate", "pct"),
    ("implied_shock_high_rate_status", "Status (high rate)", "text"),
    ("implied_growth", "Perpetual growth the price implies (no shock)", "pct2"),
    ("implied_growth_status", "Status (implied growth)", "text"),
    ("shock_cash_breaks", "Export shock at which cash needs a revolving draw", "pct"),
    ("shock_cash_breaks_status", "Status (cash)", "text"),
    ("shock_icr_below_1", "Export shock at which interest cover falls below 1", "pct"),
    ("shock_icr_below_1_status", "Status (interest cover)", "text"),
    ("value_no_shock_midcycle", "Mid-cycle value per share with no shock (CNY/share)", "per_share"),
    ("implied_midcycle_margin", "Mid-cycle EBIT margin the price implies", "pct"),
    ("implied_midcycle_margin_status", "Status (implied margin)", "text"),
    ("implied_revenue_growth_5y", "5-year revenue growth the price implies (per year)", "pct"),
    ("implied_revenue_growth_5y_status", "Status (implied 5-year growth)", "text"),
    ("implied_perpetual_growth", "Perpetual growth the price implies (mid-cycle DCF)", "pct2"),
    ("implied_perpetual_growth_status", "Status (implied perpetual growth)", "text"),
    ("midcycle_margin", "Mid-cycle EBIT margin (through the cycle)", "pct"),
    ("midcycle_margin_basis", "Mid-cycle margin: basis", "text"),
    ("midcycle_margin_how", "Mid-cycle margin: how obtained", "text"),
    ("midcycle_revenue_growth", "Mid-cycle revenue growth (per year)", "pct"),
    ("midcycle_growth_years", "Mid-cycle growth period (years)", "ratio2"),
    ("midcycle_reversion_years", "Reversion to the mid-cycle margin (years)", "ratio2"),
    ("discount_rate", "Discount rate k (per year)", "pct2"),
    ("risk_free_rate", "Risk-free rate (per year)", "pct2"),
    ("equity_risk_premium", "Equity risk premium (per year)", "pct2"),
    ("size_and_cycle_premium", "Size and cycle premium (per year)", "pct2"),
    ("terminal_growth", "Terminal growth g (per year)", "pct2"),
)
#: column of the engine's column names in the reverse-stress block (right of the status
#: texts, which spill over the empty columns between)
KEY_COL = 7


def _data_status(v: Any) -> str:
    """A metric's status as data, never as a verdict ('ok' meant 'computed')."""
    return "computed" if v == "ok" else ("n/a" if v is None else str(v))


QUARTER_METRICS = (
    ("interest_cover", "Interest cover (EBIT / interest)", "multiple"),
    ("altman_z", "Altman Z''", "ratio"),
    ("ohlson_probability", "Ohlson probability", "pct"),
    ("net_debt_to_ebitda", "Net debt / TTM EBITDA", "multiple"),
)


def risk_sheet(ctx: FirmContext) -> SheetSpec:
    r = ctx.result
    sh = SheetSpec("Risk")
    sh.text(0, 0, f"{ctx.ticker} - distress metrics by scenario", "title")
    sh.text(
        1,
        0,
        f"Worst value over the {r.horizon} projected quarters per scenario; the first row is "
        f"the last actual "
        f"period ({r.as_of_label}). Minimum cash, first draw and interest cover are live formulas "
        f"over the scenario sheets; purple cells: engine value: does not move when inputs change. "
        f"{r.extras.get('fx_note', '')}",
        "note",
    )
    top = 3
    sh.heights[top] = 48  # headers wrap over three lines
    sh.text(top, 0, "Scenario", "header")
    for j, (_c, head, _k) in enumerate(RISK_COLUMNS, start=1):
        sh.text(top, j, head, "header")
    actual: dict[str, Any] = next(
        (x for x in r.extras["actual_metrics"].iter_rows(named=True) if x["ticker"] == ctx.ticker),
        {},
    )
    rows: list[tuple[str, dict[str, Any]]] = [
        (
            f"actual {r.as_of_label}",
            {
                **actual,
                "min_interest_cover": actual.get("interest_cover"),
                "min_cash": actual.get("cash"),
                "cash_runway_quarters": None,
                "runway_status": "n/a (actual period)",
            },
        )
    ]
    rows += [(s, ctx.summary[s]) for s in ctx.scenarios]
    for i, (label, x) in enumerate(rows, start=1):
        scen = label if i > 1 else None
        sh.text(top + i, 0, catalog.scenario_name(label) if scen else label, "label_bold")
        live = ctx.metric_cells.get(scen, {}) if scen else {}
        for j, (c, _h, kind) in enumerate(RISK_COLUMNS, start=1):
            v = x.get(c)
            cell = live.get(LIVE.get(c, ""))
            if cell is not None and scen is not None:
                value = ctx.sheet_specs[scen].cells[cell].value
                sh.formula(top + i, j, "=" + sheet_ref(scen, *cell), float(value), kind)
            elif c.endswith("status"):
                sh.text(top + i, j, _data_status(v), "status")
            elif kind == "text" or isinstance(v, str):
                sh.text(top + i, j, "n/a" if v is None else str(v), "status")
            elif c == "cash_runway_quarters" and v is None:
                sh.text(top + i, j, "n/a", "status")
            else:
                sh.number(top + i, j, v, f"{kind}/frozen")
    row = top + len(rows) + 2
    proj = rows_where(r.projection, "ticker", ctx.ticker)
    # only the columns read here: the sort and partition copy every column they carry
    read = ("scenario", "quarter_index", *(c for c, _t, _k in QUARTER_METRICS))
    proj = proj.select([c for c in read if c in proj.columns])
    # each scenario's quarters in quarter order, cut once (not once per metric), by one
    # stable sort and one partition instead of a filter and a sort per scenario
    split = proj.sort("quarter_index", maintain_order=True).partition_by(
        "scenario", as_dict=True, maintain_order=True
    )
    parts = {scen: split.get((scen,), proj.clear()) for scen in ctx.scenarios}
    for col, title, kind in QUARTER_METRICS:
        sh.text(row, 0, f"{title} by quarter", "section")
        for j in range(1, len(ctx.quarters) + 1):
            sh.text(row, j, "", "section")
        row += 1
        sh.text(row, 0, "Scenario", "header")
        for j, q in enumerate(ctx.quarters, start=1):
            sh.text(row, j, q, "header_num")
        row += 1
        for scen in ctx.scenarios:
            part = parts[scen]
            sh.text(row, 0, catalog.scenario_name(scen))
            for j, v in enumerate(part[col].to_list() if col in part.columns else [], start=1):
                sh.number(
                    row,
                    j,
                    v,
                    f"{'cover' if kind == 'multiple' and col == 'interest_cover' else kind}/frozen",
                )
            row += 1
        row += 1
    rev = rows_where(r.extras["reverse_stress"], "ticker", ctx.ticker)
    if rev.height:
        sh.text(
            row, 0, "Reverse stress test (permanent export shock from the next quarter)", "section"
        )
        row += 1
        x = rev.row(0, named=True)
        for col, label, kind in REVERSE_ROWS:
            if col not in x:
                continue
            sh.text(row, 0, label)
            sh.text(row, KEY_COL, col, "key")
            v = x[col]
            if kind == "text" or not _is_num(v):
                sh.text(row, 1, "n/a" if v is None else str(v), "status")
            else:
                sh.number(row, 1, v, f"{kind}/frozen")
            row += 1
        for col in rev.columns:  # columns added by other stages, under their code names
            if col not in {c for c, _, _ in REVERSE_ROWS} and col != "ticker":
                v = x[col]
                sh.text(row, 0, col.replace("_", " "))
                sh.text(row, KEY_COL, col, "key")
                if _is_num(v):
                    shown = (
                        "per_share"
                        if ("price" in col or "value" in col)
                        else (
                            "pct"
                            if "shock" in col or "growth" in col or "margin" in col
                            else "number"
                        )
                    )
                    sh.number(row, 1, v, f"{shown}/frozen")
                else:
                    sh.text(row, 1, "n/a" if v is None else str(v), "status")
                row += 1
        row += 1
    mc = r.extras.get("montecarlo")
    if isinstance(mc, pl.DataFrame):
        sh.text(row, 0, "Monte Carlo", "section")
        row += 1
        frame = rows_where(mc, "ticker", ctx.ticker) if "ticker" in mc.columns else mc
        if frame.height == 0:
            sh.text(row, 0, "n/a: no Monte Carlo rows for this firm", "status")
        else:
            row = write_frame(sh, frame, row, role="frozen")
    sh.freeze = (top + 1, 1)
    sh.widths = {0: 44}
    sh.width(1, max(len(RISK_COLUMNS), len(ctx.quarters)), 15)
    return sh
