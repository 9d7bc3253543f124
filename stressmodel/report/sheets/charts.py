"""The Charts sheet of the firm workbook: cash, revolving draws and interest cover by
scenario over the quarters (scenario sheets), and value per share by scenario against the
share price (a small live table on this sheet)."""

from __future__ import annotations

from stressmodel.report import catalog
from stressmodel.report.formulas import sheet_ref
from stressmodel.report.sheets.common import (
    COL_OPEN,
    COL_Q1,
    HEADER_ROW,
    SCENARIO_COLORS,
    FirmContext,
    _is_num,
)
from stressmodel.report.spec import ChartSpec, Range, Series, SheetSpec

CHART_ROWS = 22  # rows per chart block
SENTINEL = 1e8  # interest cover cells at or above this stand for "no interest" (k_none)


def _by_scenario(ctx: FirmContext, item: str, first_col: int) -> tuple[Series, ...]:
    last_col = COL_Q1 + ctx.result.horizon - 1
    out = []
    for i, scen in enumerate(ctx.scenarios):
        row = ctx.item_rows[scen][item]
        out.append(
            Series(
                catalog.scenario_name(scen),
                Range(scen, row, first_col, row, last_col),
                Range(scen, HEADER_ROW, first_col, HEADER_ROW, last_col),
                SCENARIO_COLORS[i % len(SCENARIO_COLORS)],
                marker=True,
            )
        )
    return tuple(out)


def charts_sheet(ctx: FirmContext, summary_rows: tuple[int, int, int]) -> SheetSpec:
    sh = SheetSpec("Charts")
    sh.text(0, 0, f"{ctx.ticker} - charts", "title")
    sh.text(
        1,
        0,
        "By scenario over the quarters (scenario sheets, live): cash, revolving draws "
        "outstanding, interest cover; value per share by scenario against the share price.",
        "note",
    )
    anchor = 3
    sh.charts.append(
        ChartSpec(
            "line",
            f"{ctx.ticker}: cash by scenario (CNY mn)",
            _by_scenario(ctx, "cash", COL_OPEN),
            (anchor, 0),
            x_title="Quarter",
            y_title="CNY mn",
            y_format="#,##0",
        )
    )
    anchor += CHART_ROWS
    # the engine's draws (the chart's cached values); with none, the title says so and the
    # axis keeps a decimal (0, 0.5, 1 would read 0, 1, 1 in whole numbers)
    drawn = any(
        ctx.sheet_specs[s].cells[(ctx.item_rows[s]["revolver"], c)].value > 0
        for s in ctx.scenarios
        for c in range(COL_Q1, COL_Q1 + ctx.result.horizon)
    )
    sh.charts.append(
        ChartSpec(
            "line",
            f"{ctx.ticker}: revolving draws outstanding by scenario (CNY mn)"
            + ("" if drawn else ": none in any scenario of the engine run"),
            _by_scenario(ctx, "revolver", COL_OPEN),
            (anchor, 0),
            x_title="Quarter",
            y_title="CNY mn",
            y_format="#,##0" if drawn else "#,##0.0",
        )
    )
    anchor += CHART_ROWS
    covered = all(
        ctx.sheet_specs[s].cells[(ctx.item_rows[s]["interest_cover_q"], c)].value < SENTINEL
        for s in ctx.scenarios
        for c in range(COL_Q1, COL_Q1 + ctx.result.horizon)
    )
    if covered:
        sh.charts.append(
            ChartSpec(
                "line",
                f"{ctx.ticker}: interest cover EBIT / interest by scenario (times)",
                _by_scenario(ctx, "interest_cover_q", COL_Q1),
                (anchor, 0),
                x_title="Quarter",
                y_title="times",
                y_format="0.0",
            )
        )
    else:
        sh.text(
            anchor, 0, "n/a: interest cover chart (quarters without interest expense)", "status"
        )
    anchor += CHART_ROWS

    # value per share against the price: a live table, then the chart over it
    vps = [s for s in ctx.scenarios if ctx.vps_cells.get(s) is not None]
    price = ctx.figure("share_price")
    price_ok = _is_num(price) and float(price) > 0
    if vps:
        t0 = anchor + CHART_ROWS
        sh.text(t0, 0, "Scenario", "header")
        sh.text(t0, 1, "Value per share (CNY/share)", "header")
        sh.text(t0, 2, "Share price (CNY/share)", "header")
        for i, scen in enumerate(vps, start=1):
            cell = ctx.vps_cells[scen]
            assert cell is not None
            sh.text(t0 + i, 0, catalog.scenario_name(scen))
            v = ctx.summary[scen].get("value_per_share")
            sh.formula(t0 + i, 1, "=" + sheet_ref(scen, *cell), float(v or 0.0), "per_share")
            if price_ok:
                sh.formula(t0 + i, 2, "=b_share_price", float(price), "per_share")
        n = len(vps)
        bar = (
            Series(
                "Value per share",
                Range("Charts", t0 + 1, 1, t0 + n, 1),
                Range("Charts", t0 + 1, 0, t0 + n, 0),
                "#1F4E79",
            ),
        )
        line = (
            (
                Series(
                    "Share price",
                    Range("Charts", t0 + 1, 2, t0 + n, 2),
                    Range("Charts", t0 + 1, 0, t0 + n, 0),
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
                f"{ctx.ticker}: value per share by scenario vs the share price (CNY/share)",
                bar,
                (anchor, 0),
                x_title="Scenario",
                y_title="CNY per share",
                y_format="0.00",
                overlay_line=line,
            )
        )
    else:
        sh.text(
            anchor,
            0,
            "n/a: no value per share (no share count on or before the as-of date)",
            "status",
        )
    sh.widths = {0: 34, 1: 16, 2: 16}
    sh.page_breaks = [3 + CHART_ROWS * k for k in range(1, 4)]
    return sh
