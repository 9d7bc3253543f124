"""The Charts sheet of the firm workbook."""

from __future__ import annotations

from stressmodel.report.sheets.common import (
    COL_OPEN,
    COL_Q1,
    HEADER_ROW,
    SCENARIO_COLORS,
    FirmContext,
    _is_num,
)
from stressmodel.report.spec import ChartSpec, Range, Series, SheetSpec

# --- Charts ---------------------------------------------------------------------------------


def charts_sheet(ctx: FirmContext, summary_rows: tuple[int, int, int]) -> SheetSpec:
    r = ctx.result
    sh = SheetSpec("Charts")
    sh.text(0, 0, f"{ctx.ticker} - charts", "title")
    sh.text(
        1,
        0,
        "Cash by scenario over the quarters (scenario sheets) and value per share by scenario "
        "against the "
        "share price (Summary).",
        "note",
    )
    last_col = COL_Q1 + r.horizon - 1
    series = []
    for i, scen in enumerate(ctx.scenarios):
        row = ctx.cash_rows[scen]
        series.append(
            Series(
                scen,
                Range(scen, row, COL_OPEN, row, last_col),
                Range(scen, HEADER_ROW, COL_OPEN, HEADER_ROW, last_col),
                SCENARIO_COLORS[i % len(SCENARIO_COLORS)],
                marker=True,
            )
        )
    sh.charts.append(
        ChartSpec(
            "line",
            f"{ctx.ticker}: cash by scenario (CNY mn)",
            tuple(series),
            (3, 0),
            x_title="Quarter",
            y_title="CNY mn",
            y_format="#,##0",
        )
    )
    _top, r0, r1 = summary_rows
    vps = [s for s in ctx.scenarios if ctx.vps_cells.get(s) is not None]
    if vps:
        bar = (
            Series(
                "Value per share",
                Range("Summary", r0, 1, r1, 1),
                Range("Summary", r0, 0, r1, 0),
                "#1F4E79",
            ),
        )
        price_ok = _is_num(ctx.figure("share_price"))
        line = (
            (
                Series(
                    "Share price",
                    Range("Summary", r0, 2, r1, 2),
                    Range("Summary", r0, 0, r1, 0),
                    "#C00000",
                    marker=True,
                ),
            )
            if price_ok
            else ()
        )
        sh.charts.append(
            ChartSpec(
                "column",
                f"{ctx.ticker}: value per share by scenario vs the share price (CNY)",
                bar,
                (25, 0),
                x_title="Scenario",
                y_title="CNY per share",
                y_format="0.00",
                overlay_line=line,
            )
        )
    else:
        sh.text(
            25, 0, "n/a: no value per share (no share count on or before the as-of date)", "status"
        )
    sh.widths = {0: 14}
    sh.page_breaks = [24]
    return sh
