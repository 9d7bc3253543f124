"""The Risk sheet: distress metrics by scenario and by quarter."""

from __future__ import annotations

from typing import Any

import polars as pl

from stressmodel.report.frames import write_frame
from stressmodel.report.sheets.common import (
    FirmContext,
)
from stressmodel.report.spec import SheetSpec

# --- Risk -----------------------------------------------------------------------------------

RISK_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("min_interest_cover", "Minimum interest cover", "multiple"),
    ("interest_cover_status", "Interest cover status", "text"),
    ("altman_z", "Altman Z''", "ratio"),
    ("altman_zone", "Zone", "text"),
    ("ohlson_probability", "Ohlson probability", "pct"),
    ("distance_to_default", "Distance to default", "ratio"),
    ("default_probability", "Default probability", "pct2"),
    ("dd_status", "DD status", "text"),
    ("net_debt_to_ebitda", "Net debt / EBITDA", "multiple"),
    ("net_debt_to_ebitda_status", "Net debt / EBITDA status", "text"),
    ("min_cash", "Minimum net cash (CNY mn)", "money"),
    ("cash_runway_quarters", "First revolving draw (quarter)", "count"),
    ("runway_status", "Runway", "text"),
    ("default_point", "Default point (CNY mn)", "money"),
)
QUARTER_METRICS = (
    ("interest_cover", "Interest cover (EBIT / interest)", "multiple"),
    ("altman_z", "Altman Z''", "ratio"),
    ("ohlson_probability", "Ohlson probability", "pct"),
    ("net_debt_to_ebitda", "Net debt / TTM EBITDA", "multiple"),
)


def risk_sheet(ctx: FirmContext) -> SheetSpec:
    r = ctx.result
    sh = SheetSpec("Risk")
    sh.text(0, 0, f"{ctx.ticker} - distress metrics by scenario (engine values)", "title")
    sh.text(
        1,
        0,
        f"Worst value over the {r.horizon} projected quarters per scenario; the first row is "
        f"the last actual "
        f"period ({r.as_of_label}). {r.extras.get('fx_note', '')}",
        "note",
    )
    top = 3
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
        sh.text(top + i, 0, label, "label_bold")
        for j, (c, _h, kind) in enumerate(RISK_COLUMNS, start=1):
            v = x.get(c)
            if kind == "text" or isinstance(v, str):
                sh.text(top + i, j, "n/a" if v is None else str(v), "status")
            elif c == "cash_runway_quarters" and v is None:
                sh.text(top + i, j, "none", "status")
            else:
                sh.number(top + i, j, v, f"{kind}/engine")
    row = top + len(rows) + 2
    proj = r.projection.filter(pl.col("ticker") == ctx.ticker)
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
            part = proj.filter(pl.col("scenario") == scen).sort("quarter_index")
            sh.text(row, 0, scen)
            for j, v in enumerate(part[col].to_list() if col in part.columns else [], start=1):
                sh.number(row, j, v, f"{kind}/engine")
            row += 1
        row += 1
    rev = r.extras["reverse_stress"].filter(pl.col("ticker") == ctx.ticker)
    if rev.height:
        sh.text(
            row, 0, "Reverse stress test (permanent export shock from the next quarter)", "section"
        )
        row += 1
        row = write_frame(sh, rev, row)
    sh.freeze = (top + 1, 1)
    sh.widths = {0: 26}
    sh.width(1, max(len(RISK_COLUMNS), len(ctx.quarters)), 15)
    return sh
