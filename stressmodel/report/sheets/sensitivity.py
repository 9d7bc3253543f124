"""The Sensitivity sheet: the grid scenarios."""

from __future__ import annotations

import polars as pl

from stressmodel.report.sheets.common import (
    FirmContext,
)
from stressmodel.report.spec import CondFormat, SheetSpec

# --- Sensitivity ----------------------------------------------------------------------------


def sensitivity_sheet(ctx: FirmContext) -> SheetSpec:
    r = ctx.result
    sh = SheetSpec("Sensitivity")
    grid = r.grid_summary.filter(pl.col("ticker") == ctx.ticker)
    cells = {
        (round(x["export_shock"], 10), round(x["output_cut"], 10)): x
        for x in grid.iter_rows(named=True)
    }
    shocks = sorted({round(s.export_shock, 10) for s in r.grid})
    cuts = sorted({round(s.output_cut, 10) for s in r.grid})
    base = r.grid[0].description.split("as in ")[-1] if r.grid else ""
    sh.text(
        0,
        0,
        f"{ctx.ticker} - sensitivity: export shock (rows) x output cut (columns), other "
        f"parameters as in {base}",
        "title",
    )
    sh.text(1, 0, "Engine values of the grid scenarios (not live formulas).", "note")
    row = 3
    blocks = (
        ("Value per share (CNY)", "value_per_share", "per_share"),
        (
            "Cash runway: projected quarter of the first revolving draw ('none' = no draw "
            "within the horizon)",
            "cash_runway_quarters",
            "count",
        ),
        ("Minimum net cash over the horizon (CNY mn)", "min_cash", "money"),
    )
    for title, col, kind in blocks:
        sh.text(row, 0, title, "section")
        for j in range(1, len(cuts) + 1):
            sh.text(row, j, "", "section")
        row += 1
        sh.text(row, 0, "Export shock \\ output cut", "header")
        for j, c in enumerate(cuts, start=1):
            sh.number(row, j, c, "pct/head")
        head = row
        for i, e in enumerate(shocks, start=1):
            sh.number(head + i, 0, e, "pct/head")
            for j, c in enumerate(cuts, start=1):
                x = cells.get((e, c))
                v = None if x is None else x.get(col)
                if col == "cash_runway_quarters" and x is not None and v is None:
                    sh.text(head + i, j, "none", "status_right")
                else:
                    sh.number(head + i, j, v, f"{kind}/engine")
        sh.cond_formats.append(
            CondFormat(
                head + 1,
                1,
                head + len(shocks),
                len(cuts),
                {
                    "type": "3_color_scale",
                    "min_color": "#F8696B",
                    "mid_color": "#FFEB84",
                    "max_color": "#63BE7B",
                },
            )
        )
        row = head + len(shocks) + 2
    sh.freeze = (5, 1)
    sh.widths = {0: 28}
    sh.width(1, len(cuts), 11)
    return sh
