"""The firm Summary sheet."""

from __future__ import annotations

from typing import Any

import polars as pl

from stressmodel.report.formulas import (
    Formula,
    cell_ref,
    formula_text,
    name,
    sheet_ref,
)
from stressmodel.report.frames import write_frame
from stressmodel.report.sheets.common import (
    TRAFFIC_NOTE,
    FirmContext,
    _fmt,
    _is_num,
    risk_traffic_lights,
)
from stressmodel.report.spec import SheetSpec

# --- Summary --------------------------------------------------------------------------------

SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (summary column, header, number kind)
    ("value_per_share", "Value per share (CNY)", "per_share"),
    ("share_price", "Share price (CNY)", "per_share"),
    ("upside", "Value / price - 1", "pct"),
    ("value_status", "Value status", "text"),
    ("cash_runway_quarters", "Cash runway: first revolving draw (projected quarter)", "count"),
    ("min_cash", "Minimum net cash (CNY mn)", "money"),
    ("min_interest_cover", "Minimum interest cover", "multiple"),
    ("altman_z", "Altman Z'' (minimum)", "ratio"),
    ("altman_zone", "Distress zone", "text"),
    ("ohlson_probability", "Ohlson probability (maximum)", "pct"),
    ("distance_to_default", "Distance to default", "ratio"),
    ("default_probability", "Default probability", "pct2"),
    ("net_debt_to_ebitda", "Net debt / EBITDA at the horizon", "multiple"),
    ("consolidation_score", "Consolidation score (uncalibrated index)", "score"),
    ("consolidation_low", "Score band low", "score"),
    ("consolidation_high", "Score band high", "score"),
    ("rank_point", "Rank among the firms of the run", "count"),
)


def summary_sheet(ctx: FirmContext) -> SheetSpec:
    r = ctx.result
    sh = SheetSpec("Summary")
    sh.text(
        0, 0, f"{ctx.ticker} - stress test as of {r.as_of_label} ({r.horizon} quarters)", "title"
    )
    sh.text(1, 0, "Company", "label_bold")
    sh.text(1, 1, ctx.company, "text")
    rev = next(
        (x for x in r.extras["reverse_stress"].iter_rows(named=True) if x["ticker"] == ctx.ticker),
        None,
    )
    price = ctx.figure("share_price")
    price_ok = _is_num(price) and float(price) > 0
    facts: list[tuple[str, Any, str, Any]] = []  # label, value, kind, formula
    facts.append(
        (
            "Share price (CNY, latest close on or before the as-of date)",
            price,
            "per_share",
            name("b_share_price") if price_ok else None,
        )
    )
    pd_fig = ctx.fb.figures.get("share_price_date")
    facts.append(
        ("Price date", pd_fig.how if pd_fig is not None else "n/a: no price", "text", None)
    )
    if rev is not None:
        implied = rev["implied_export_shock"]
        facts.append(
            (
                "Implied export shock (permanent, from the next quarter)",
                implied if _is_num(implied) else rev["status"],
                "pct",
                None,
            )
        )
        facts.append(
            ("Value per share with no shock (CNY)", rev["value_no_shock"], "per_share", None)
        )
        facts.append(
            (
                "Implied perpetual growth at the price (no shock)",
                rev["implied_growth"]
                if _is_num(rev["implied_growth"])
                else rev["implied_growth_status"],
                "pct2",
                None,
            )
        )
        facts.append(
            (
                "Export shock at which cash first needs a revolving draw",
                rev["shock_cash_breaks"]
                if _is_num(rev["shock_cash_breaks"])
                else rev["shock_cash_breaks_status"],
                "pct",
                None,
            )
        )
        facts.append(
            (
                "Export shock at which interest cover falls below 1",
                rev["shock_icr_below_1"]
                if _is_num(rev["shock_icr_below_1"])
                else rev["shock_icr_below_1_status"],
                "pct",
                None,
            )
        )
    base = ctx.summary.get("baseline") or next(iter(ctx.summary.values()))
    facts.append(
        (
            "Consolidation score, baseline (uncalibrated index)",
            base.get("consolidation_score"),
            "score",
            None,
        )
    )
    facts.append(
        (
            "Consolidation score band (Monte Carlo over weights and base rate)",
            f"{_fmt(base.get('consolidation_low'))} - {_fmt(base.get('consolidation_high'))}",
            "text",
            None,
        )
    )
    row = 3
    for label, value, kind, expr in facts:
        sh.text(row, 0, label)
        if expr is not None and _is_num(value):
            sh.formula(row, 1, formula_text(expr), float(value), kind)
        elif kind == "text" or isinstance(value, str) or value is None:
            sh.text(
                row,
                1,
                "n/a" if value is None else str(value),
                "status" if not _is_num(value) else "text",
            )
        else:
            sh.number(row, 1, value, f"{kind}/engine")
        row += 1
    row += 1
    top = row
    sh.text(top, 0, "Scenario", "header")
    for j, (_col, head, _kind) in enumerate(SUMMARY_COLUMNS, start=1):
        sh.text(top, j, head, "header")
    for i, scen in enumerate(ctx.scenarios, start=1):
        rr = top + i
        srow = ctx.summary[scen]
        sh.text(rr, 0, scen, "label_bold")
        for j, (col, _head, kind) in enumerate(SUMMARY_COLUMNS, start=1):
            value = srow.get(col)
            vps_cell = ctx.vps_cells.get(scen)
            if col == "value_per_share" and vps_cell is not None and _is_num(value):
                sh.formula(rr, j, "=" + sheet_ref(scen, *vps_cell), float(value), kind)
            elif col == "share_price" and price_ok and price is not None:
                sh.formula(rr, j, "=b_share_price", price, kind)
            elif col == "upside" and price_ok and vps_cell is not None and _is_num(value):
                expr = Formula(cell_ref(rr, 1)) / Formula(cell_ref(rr, 2)) - 1
                sh.formula(rr, j, formula_text(expr), float(value), kind)
            elif col == "cash_runway_quarters" and value is None:
                sh.text(rr, j, "none", "status")
            elif kind == "text":
                sh.text(rr, j, "n/a" if value is None else str(value), "status")
            elif value is None:
                status = {
                    "distance_to_default": srow.get("dd_status"),
                    "min_interest_cover": srow.get("interest_cover_status"),
                    "net_debt_to_ebitda": srow.get("net_debt_to_ebitda_status"),
                }.get(col)
                sh.text(rr, j, status or "n/a", "status")
            else:
                sh.number(rr, j, value, f"{kind}/engine")
    r0, r1 = top + 1, top + len(ctx.scenarios)
    col_of = {c: j for j, (c, _, _) in enumerate(SUMMARY_COLUMNS, start=1)}
    risk_traffic_lights(sh, r0, r1, col_of, r.horizon)
    row = r1 + 2
    sh.text(
        row,
        0,
        "Value per share, price and value / price are live formulas (scenario sheets, "
        "Assumptions); the "
        "risk metrics are the engine's values (grey cells) and do not move when an input is "
        "edited.",
        "note",
    )
    sh.text(row + 1, 0, TRAFFIC_NOTE, "note")
    sh.text(
        row + 2,
        0,
        "The consolidation score is an uncalibrated index: its level rests on the assumed base "
        "rate; "
        "read the band, not just the point.",
        "note",
    )
    row += 4
    mc = r.extras.get("montecarlo")
    if isinstance(mc, pl.DataFrame):
        sh.text(row, 0, "Monte Carlo", "section")
        row += 1
        frame = mc.filter(pl.col("ticker") == ctx.ticker) if "ticker" in mc.columns else mc
        if frame.height == 0:
            sh.text(row, 0, "n/a: no Monte Carlo rows for this firm", "status")
            row += 2
        else:
            row = write_frame(sh, frame, row)
    ctx.summary_rows = (top, r0, r1)
    sh.heights[top] = 48
    sh.freeze = (top + 1, 1)
    sh.repeat_rows = (top, top)
    sh.widths = {0: 58, 1: 16}
    for j in range(2, len(SUMMARY_COLUMNS) + 1):
        sh.widths[j] = 14
    return sh
