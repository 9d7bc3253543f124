"""Sector summary workbook layout (pure): every firm of the run side by side.

Sheets: Summary (one row per firm, sorted by who breaks first: the export shock at which
interest cover falls below 1, then the shock at which cash needs a revolving draw; with a
who-breaks-first table), Scenarios (one row per firm x named scenario, firms ranked by
consolidation score), Ranking (firms ranked by score under each named scenario), Debt at
risk (per scenario), Charts and Chart data (value / price per firm and scenario as bars,
who-breaks-first shocks as bars, cash by firm over the quarters per scenario), Provenance,
and Changes when the run has one. All numbers are the engine's values.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from stressmodel import __version__
from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import quarter_end_date
from stressmodel.pipeline.result import RunResult
from stressmodel.report.changes import changes_sheet
from stressmodel.report.sheets.common import (
    SCENARIO_COLORS,
    _is_num,
    document_properties,
    input_hashes,
    risk_traffic_lights,
)
from stressmodel.report.spec import ChartSpec, CondFormat, Range, Series, SheetSpec, WorkbookSpec

SECTOR_FILE = "sector_summary.xlsx"

COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("value_per_share", "Value per share (CNY)", "per_share"),
    ("share_price", "Share price (CNY)", "per_share"),
    ("upside", "Value / price - 1", "pct"),
    ("cash_runway_quarters", "First revolving draw (projected quarter)", "count"),
    ("min_cash", "Minimum cash less revolver (CNY mn)", "money"),
    ("min_interest_cover", "Minimum interest cover", "multiple"),
    ("altman_z", "Altman Z''", "ratio"),
    ("altman_zone", "Distress zone", "text"),
    ("ohlson_probability", "Ohlson probability", "pct"),
    ("distance_to_default", "Distance to default", "ratio"),
    ("default_probability", "Default probability", "pct2"),
    ("net_debt_to_ebitda", "Net debt / EBITDA", "multiple"),
    ("consolidation_score", "Consolidation score (uncalibrated index)", "score"),
    ("consolidation_low", "Band low", "score"),
    ("consolidation_high", "Band high", "score"),
    ("rank_point", "Rank under the scenario", "count"),
)


def _ranked_firms(result: RunResult, scenario: str) -> list[tuple[str, Any]]:
    """Tickers by descending consolidation score under ``scenario`` (unscored last)."""
    rows = result.summary.filter(pl.col("scenario") == scenario).select(
        "ticker", "consolidation_score"
    )
    pairs = [(r["ticker"], r["consolidation_score"]) for r in rows.iter_rows(named=True)]
    return sorted(pairs, key=lambda p: (not _is_num(p[1]), -(p[1] if _is_num(p[1]) else 0.0), p[0]))


def scenarios_sheet(result: RunResult, inputs: Inputs) -> SheetSpec:
    sh = SheetSpec("Scenarios")
    names = [s.name for s in result.scenarios]
    rank_by = "baseline" if "baseline" in names else names[0]
    sh.text(
        0,
        0,
        f"Firms x scenarios as of {result.as_of_label}: {len(result.tickers)} firms x {len(names)} "
        f"scenarios",
        "title",
    )
    sh.text(
        1,
        0,
        f"Firms ranked by consolidation score under {rank_by} (uncalibrated index; 1 = most "
        f"likely to be "
        "consolidated). Engine values.",
        "note",
    )
    top = 3
    heads = [
        "Rank",
        "Ticker",
        "Company",
        "Scenario",
        *[h for _, h, _ in COLUMNS],
    ]
    for j, h in enumerate(heads):
        sh.text(top, j, h, "header")
    summary = {
        (r["ticker"], r["scenario"]): r
        for r in result.summary.filter(pl.col("scenario_kind") == "named").iter_rows(named=True)
    }
    row = top + 1
    for rank, (ticker, _score) in enumerate(_ranked_firms(result, rank_by), start=1):
        company = str(inputs.firm(ticker).get("company_name") or "")
        for scen in names:
            x = summary.get((ticker, scen), {})
            sh.number(row, 0, rank, "count")
            sh.text(row, 1, ticker, "label_bold")
            sh.text(row, 2, company)
            sh.text(row, 3, scen)
            for j, (col, _h, kind) in enumerate(COLUMNS, start=4):
                v = x.get(col)
                if col == "cash_runway_quarters" and v is None:
                    sh.text(row, j, "none", "status")
                elif kind == "text" or isinstance(v, str):
                    sh.text(row, j, "n/a" if v is None else str(v), "status")
                else:
                    sh.number(row, j, v, f"{kind}/engine")
            row += 1
    r0, r1 = top + 1, row - 1
    col_of = {c: j for j, (c, _, _) in enumerate(COLUMNS, start=4)}
    if r1 >= r0:
        risk_traffic_lights(sh, r0, r1, col_of, result.horizon)
    sh.freeze = (top + 1, 4)
    sh.heights[top] = 48
    sh.repeat_rows = (top, top)
    sh.widths = {0: 6, 1: 11, 2: 34, 3: 16}
    sh.width(4, 3 + len(COLUMNS), 13)
    return sh


def ranking_sheet(result: RunResult) -> SheetSpec:
    sh = SheetSpec("Ranking")
    names = [s.name for s in result.scenarios]
    sh.text(
        0,
        0,
        "Firms ranked by consolidation score under each named scenario (uncalibrated index)",
        "title",
    )
    top = 2
    sh.text(top, 0, "Rank", "header")
    for i, scen in enumerate(names):
        sh.text(top, 1 + 2 * i, scen, "header")
        sh.text(top, 2 + 2 * i, "Score", "header_num")
        for k, (ticker, score) in enumerate(_ranked_firms(result, scen), start=1):
            if i == 0:
                sh.number(top + k, 0, k, "count")
            sh.text(top + k, 1 + 2 * i, ticker)
            sh.number(top + k, 2 + 2 * i, score, "score/engine")
    sh.freeze = (top + 1, 1)
    sh.widths = {0: 6}
    for i in range(len(names)):
        sh.widths[1 + 2 * i] = 16
        sh.widths[2 + 2 * i] = 9
    return sh


def debt_at_risk_sheet(result: RunResult) -> SheetSpec:
    sh = SheetSpec("Debt at risk")
    names = [s.name for s in result.scenarios]
    dar = result.extras["debt_at_risk"]
    order = {n: i for i, n in enumerate(names)}
    dar = (
        dar.with_columns(
            pl.col("scenario")
            .replace_strict(order, default=len(order), return_dtype=pl.Int32)
            .alias("_o")
        )
        .sort(["_o", "scenario"])
        .drop("_o")
    )
    sh.text(
        0,
        0,
        "Debt at risk by scenario: debt of firms whose interest cover falls below 1 in their "
        "worst quarter",
        "title",
    )
    sh.text(
        1,
        0,
        "Share of the firms' as-of debt (IMF-style debt at risk); named scenarios first, then "
        "the grid.",
        "note",
    )
    heads = (
        ("scenario", "Scenario", "text"),
        ("n_firms", "Firms", "count"),
        ("n_excluded", "Excluded", "count"),
        ("n_at_risk", "Firms at risk", "count"),
        ("debt_total", "Debt (CNY mn)", "money"),
        ("debt_at_risk", "Debt at risk (CNY mn)", "money"),
        ("dar_share", "Share of debt at risk", "pct"),
        ("dar_status", "Status", "text"),
    )
    top = 3
    for j, (_c, h, _k) in enumerate(heads):
        sh.text(top, j, h, "header")
    for i, r in enumerate(dar.iter_rows(named=True), start=1):
        for j, (c, _h, kind) in enumerate(heads):
            v = r.get(c)
            if kind == "text" or isinstance(v, str):
                sh.text(
                    top + i,
                    j,
                    "n/a" if v is None else str(v),
                    "label_bold" if c == "scenario" else "status",
                )
            else:
                sh.number(top + i, j, v, f"{kind}/engine")
    n_named = sum(1 for r in dar.iter_rows(named=True) if r["scenario"] in order)
    if n_named:
        sh.charts.append(
            ChartSpec(
                "column",
                "Share of debt at risk by named scenario",
                (
                    Series(
                        "Debt at risk",
                        Range(sh.name, top + 1, 6, top + n_named, 6),
                        Range(sh.name, top + 1, 0, top + n_named, 0),
                        "#C00000",
                    ),
                ),
                (top, len(heads) + 1),
                x_title="Scenario",
                y_title="share of debt",
                y_format="0%",
                size=(640, 320),
            )
        )
    sh.freeze = (top + 1, 1)
    sh.widths = {0: 20, 7: 40}
    sh.width(1, 6, 14)
    return sh


def chart_sheets(
    result: RunResult, values: dict[tuple[str, str], Any]
) -> tuple[SheetSpec, SheetSpec]:
    data = SheetSpec("Chart data")
    charts = SheetSpec("Charts")
    names = [s.name for s in result.scenarios]
    tickers = list(result.tickers)
    data.text(0, 0, "Data behind the charts (engine values)", "title")
    charts.text(0, 0, f"Charts across firms as of {result.as_of_label}", "title")
    labels = [result.as_of_label, *result.quarters]
    charted = set(_chart_firms(result, MAX_CHART_FIRMS))
    row = 2
    anchor = 2
    for scen in names:
        data.text(row, 0, f"Cash (CNY mn), scenario {scen}", "section")
        row += 1
        data.text(row, 0, "Ticker", "header")
        for j, q in enumerate(labels, start=1):
            data.text(row, j, q, "header_num")
        head = row
        series = []
        for i, t in enumerate(tickers, start=1):
            cv = values[(t, scen)]
            data.text(head + i, 0, t)
            data.number(head + i, 1, cv.opening["cash"], "money/engine")
            for k, v in enumerate(cv.steps["cash"], start=2):
                data.number(head + i, k, v, "money/engine")
            if t not in charted:
                continue
            series.append(
                Series(
                    t,
                    Range(data.name, head + i, 1, head + i, len(labels)),
                    Range(data.name, head, 1, head, len(labels)),
                    SCENARIO_COLORS[(len(series)) % len(SCENARIO_COLORS)],
                    marker=True,
                )
            )
        subset = (
            ""
            if len(charted) == len(tickers)
            else (f"; {len(charted)} of {len(tickers)} firms, highest baseline consolidation score")
        )
        charts.charts.append(
            ChartSpec(
                "line",
                f"Cash by firm, scenario {scen} (CNY mn{subset})",
                tuple(series),
                (anchor, 0),
                x_title="Quarter",
                y_title="CNY mn",
                y_format="#,##0",
                size=(760, 340),
            )
        )
        anchor += 20
        charts.page_breaks.append(anchor - 1)
        row = head + len(tickers) + 2
    data.text(row, 0, "Value per share / share price by scenario (times)", "section")
    row += 1
    data.text(row, 0, "Ticker", "header")
    for j, scen in enumerate(names, start=1):
        data.text(row, j, scen, "header_num")
    head = row
    # value per share of every (ticker, scenario) row (the last row of a pair, as a dict
    # of the rows keeps it), read from those three columns only: the summary has some 70
    # columns and a row per case, and making a dict of every row cost ~0.4 s at 100 firms
    frame = result.summary
    vps_column = (
        frame["value_per_share"]
        if "value_per_share" in frame.columns
        else pl.repeat(None, frame.height, eager=True)
    )
    vps_of = dict(
        zip(zip(frame["ticker"], frame["scenario"], strict=True), vps_column, strict=True)
    )
    for i, t in enumerate(tickers, start=1):
        data.text(head + i, 0, t)
        price = result.bases.firms[t].get("share_price")
        for j, scen in enumerate(names, start=1):
            vps = vps_of.get((t, scen))
            ok = _is_num(vps) and _is_num(price) and float(price) > 0
            data.number(head + i, j, float(vps) / float(price) if ok else None, "multiple2/engine")
    cats = Range(data.name, head + 1, 0, head + len(tickers), 0)
    bars = tuple(
        Series(
            scen,
            Range(data.name, head + 1, j, head + len(tickers), j),
            cats,
            SCENARIO_COLORS[(j - 1) % len(SCENARIO_COLORS)],
        )
        for j, scen in enumerate(names, start=1)
    )
    charts.charts.append(
        ChartSpec(
            "column",
            "Value per share / share price by firm and scenario (1 = the price)",
            bars,
            (anchor, 0),
            x_title="Firm",
            y_title="times",
            y_format="0.00",
            size=(760, 360),
        )
    )
    anchor += 20
    charts.page_breaks.append(anchor - 1)
    row = head + len(tickers) + 2
    data.text(
        row, 0, "Who breaks first: export shock at which (fraction; blank = not reached)", "section"
    )
    row += 1
    data.text(row, 0, "Ticker", "header")
    data.text(row, 1, "Interest cover < 1", "header_num")
    data.text(row, 2, "Cash needs a revolver draw", "header_num")
    head = row
    order = breaks_first_order(result)
    for i, (t, rv) in enumerate(order, start=1):
        data.text(head + i, 0, t)
        for j, key in ((1, "shock_icr_below_1"), (2, "shock_cash_breaks")):
            v = rv.get(key)
            if _is_num(v):  # not reached: left blank, so the bar is absent (not 0)
                data.number(head + i, j, v, "pct/engine")
    cats = Range(data.name, head + 1, 0, head + len(order), 0)
    charts.charts.append(
        ChartSpec(
            "bar",
            "Who breaks first: export shock at which interest cover < 1 and cash breaks",
            (
                Series(
                    "Interest cover < 1",
                    Range(data.name, head + 1, 1, head + len(order), 1),
                    cats,
                    "#C55A11",
                ),
                Series(
                    "Cash needs a revolver draw",
                    Range(data.name, head + 1, 2, head + len(order), 2),
                    cats,
                    "#1F4E79",
                ),
            ),
            (anchor, 0),
            x_title="Export shock (fraction; no bar: 0 or not reached, see Summary)",
            y_title="Firm",
            y_format=None,
            size=(760, 360),
        )
    )
    data.freeze = (2, 1)
    data.widths = {0: 14}
    data.width(1, max(len(labels), len(names) + 1), 12)
    charts.widths = {0: 12}
    return data, charts


def provenance_sheet(result: RunResult, inputs: Inputs) -> SheetSpec:
    sh = SheetSpec("Provenance")
    sh.text(0, 0, "Provenance", "title")
    facts = (
        ("As-of quarter", result.as_of_label),
        ("As-of date (quarter end)", quarter_end_date(result.as_of).isoformat()),
        ("Projected quarters", ", ".join(result.quarters)),
        ("Firms in the run", ", ".join(result.tickers)),
        ("Peer universe", ", ".join(result.extras.get("universe", []))),
        ("Package version", f"stressmodel {__version__}"),
        ("Discount rate", f"{inputs.sector.float('discount_rate'):.4f}"),
        ("Terminal growth", f"{inputs.sector.float('terminal_growth'):.4f}"),
        ("Trade-implied path", result.trade.status),
        ("FX and deflator", str(result.extras.get("fx_note", ""))),
    )
    row = 2
    for label, value in facts:
        sh.text(row, 0, label)
        sh.text(row, 1, value)
        row += 1
    row = input_hashes(sh, row + 1, inputs)
    sh.text(row, 0, "Firm", "header")
    sh.text(row, 1, "Estimated base figures (peer medians or assumptions)", "header")
    row += 1
    for t in result.tickers:
        fb = result.bases.firms[t]
        sh.text(row, 0, t)
        sh.text(
            row,
            1,
            ", ".join(sorted(n for n, f in fb.figures.items() if f.basis == "estimated")) or "none",
        )
        row += 1
    sh.widths = {0: 36, 1: 90}
    return sh


def sector_workbook(
    result: RunResult, inputs: Inputs, values: dict[tuple[str, str], Any]
) -> WorkbookSpec:
    """The sector summary spec (pure); ``values``: engine values per (ticker, scenario) from
    :func:`stressmodel.report.values.case_values`."""
    data, charts = chart_sheets(result, values)
    sheets = [
        firm_summary_sheet(result, inputs),
        scenarios_sheet(result, inputs),
        ranking_sheet(result),
        debt_at_risk_sheet(result),
        charts,
        data,
        provenance_sheet(result, inputs),
    ]
    ch = changes_sheet(result)
    if ch is not None:
        sheets.append(ch)
    sheets[0].tab_color = "#1F4E79"
    return WorkbookSpec(
        SECTOR_FILE,
        sheets,
        properties=document_properties(
            result.as_of, f"Sector summary as of {result.as_of_label}", "stressmodel sector summary"
        ),
    )


#: a line chart with more firms than this is unreadable (and Excel allows 255 series)
MAX_CHART_FIRMS = 20


def _chart_firms(result: RunResult, limit: int) -> list[str]:
    """The firms drawn in the cross-firm line charts: all of them up to ``limit``, else
    those with the highest baseline consolidation score (the data sheet lists every firm)."""
    tickers = list(result.tickers)
    if len(tickers) <= limit:
        return tickers
    return [t for t, _score in _ranked_firms(result, "baseline")][:limit]


# --- the first sheet: one row per firm, sorted by who breaks first ----------------------------

ZONE_ORDER = {"distress": 0, "grey": 1, "safe": 2}
NOT_BREACHED = 2.0  # sort key of a shock that is not reached within [0, 1]


def breaks_first_order(result: RunResult) -> list[tuple[str, dict[str, Any]]]:
    """Tickers with their reverse-stress row, sorted by the shock at which interest cover
    falls below 1, then by the shock at which cash breaks (not reached: last)."""
    rev = {r["ticker"]: r for r in result.extras["reverse_stress"].iter_rows(named=True)}

    def key(t: str) -> tuple[float, float, str]:
        x = rev.get(t, {})
        icr, cash = x.get("shock_icr_below_1"), x.get("shock_cash_breaks")
        return (
            float(icr) if _is_num(icr) else NOT_BREACHED,
            float(cash) if _is_num(cash) else NOT_BREACHED,
            t,
        )

    return [(t, rev.get(t, {})) for t in sorted(result.tickers, key=key)]


def verdict_text(rv: dict[str, Any]) -> str:
    """Who breaks first, in words: the shocks at which interest cover < 1 and cash breaks."""
    icr, cash = rv.get("shock_icr_below_1"), rv.get("shock_cash_breaks")
    reached = [
        str(rv.get(f"{k}_status") or "").startswith("not breached")
        for k in ("shock_icr_below_1", "shock_cash_breaks")
    ]
    if not _is_num(icr) and not _is_num(cash) and all(reached):
        return "holds up to a 100% shock"
    icr_t = _shock_text(icr, rv.get("shock_icr_below_1_status"))
    cash_t = _shock_text(cash, rv.get("shock_cash_breaks_status"))
    cash_part = "cash holds to 100%" if cash_t == "not reached" else f"cash breaks at {cash_t}"
    if icr_t == "not reached":
        icr_part = "ICR holds to 100%"
    elif icr_t == "no material debt":
        icr_part = "no material debt"
    elif _is_num(icr) and float(icr) == 0:
        icr_part = "ICR < 1 with no shock"
    else:
        icr_part = f"ICR < 1 at {icr_t}"
    return f"{icr_part}; {cash_part}"


def _shock_text(v: Any, status: Any = None) -> str:
    if _is_num(v):
        return f"{v:.0%}"
    st = str(status or "")
    if st.startswith("not breached"):
        return "not reached"
    return "no material debt" if "no material debt" in st else "n/a"


#: short scenario names for the sector Summary's narrow columns (the code elsewhere)
SHORT_NAMES: dict[str, str] = {
    "baseline": "No shock",
    "seed": "Seed",
    "deal_normalises": "Deal",
    "structural": "Struct.",
    "trade_implied": "Trade path",
    "retightening": "Retight.",
    "general_licences": "Gen. licences",
}


def firm_summary_sheet(result: RunResult, inputs: Inputs) -> SheetSpec:
    """The sector Summary: one row per firm, sorted by who breaks first, on one landscape page
    (abbreviated headers with units; the long notes are stated once, above the table)."""
    from stressmodel.report.sheets.summary import DISCLAIMER, run_date_text

    sh = SheetSpec("Summary")
    sh.fit_one_page = True
    sh.header = f"&LSector summary&CStress test as of {result.as_of_label}&R{run_date_text(result.run_date)}"
    sh.footer = f"&L{DISCLAIMER.capitalize()}&RPage &P of &N"
    names = [s.name for s in result.scenarios]
    sh.text(0, 0, f"Sector summary as of {result.as_of_label}: who breaks first", "title")
    notes = (
        "One row per firm, sorted by the permanent export shock at which interest cover (ICR) falls below 1, "
        "then the shock at which cash needs a revolving draw (reverse stress test).",
        "V/P: value per share / share price under each named scenario (engine values; the firm workbooks "
        "hold the live formulas). Red < 0.8x, amber < 1x, green >= 1x; ICR red < 1x, amber < 2x.",
        "Price-implied shock 'none': the price is above the value even with no shock. Money CNY mn, "
        f"prices CNY/share. Scenario codes and full names: sheet Scenarios. {DISCLAIMER.capitalize()}.",
    )
    for i, line in enumerate(notes, start=1):
        sh.text(i, 0, line, "note")
    top = len(notes) + 2
    heads = [
        "#",
        "Ticker",
        "Company",
        "Verdict (breaks at export shock)",
        *[f"V/P {SHORT_NAMES.get(n, n)} (x)" for n in names],
        "Price-implied export shock (%)",
        "Price-implied growth (%/yr)",
        "Revolver draw, trade path (quarter)",
        "Min ICR, worst scenario (x)",
        "Worst Z'' zone",
        "Consolidation index [band]",
        "Data quality",
        "Price date",
    ]
    for j, h in enumerate(heads):
        sh.text(top, j, h, "header")
    sh.heights[top] = 78
    summary = {
        (r["ticker"], r["scenario"]): r
        for r in result.summary.filter(pl.col("scenario_kind") == "named").iter_rows(named=True)
    }
    order = breaks_first_order(result)
    row = top + 1
    for rank, (t, rv) in enumerate(order, start=1):
        fb = result.bases.firms[t]
        sh.heights[row] = 45  # up to three lines: company, verdict and data quality wrap
        sh.number(row, 0, rank, "count")
        sh.text(row, 1, t, "label_bold")
        sh.text(row, 2, str(inputs.firm(t).get("company_name") or ""), "wrap_row")
        sh.text(row, 3, verdict_text(rv), "wrap_row")
        price = fb.get("share_price")
        for j, n in enumerate(names, start=4):
            vps = summary.get((t, n), {}).get("value_per_share")
            ok = _is_num(vps) and _is_num(price) and float(price) > 0
            sh.number(row, j, float(vps) / float(price) if ok else None, "multiple2/engine")
        j = 4 + len(names)
        implied = rv.get("implied_export_shock")
        if _is_num(implied):
            sh.number(row, j, implied, "pct/engine")
        else:
            status = str(rv.get("status") or "n/a")
            sh.text(row, j, "none" if status.startswith("no shock in") else "n/a", "status_right")
        growth = rv.get("implied_growth")
        if _is_num(growth):
            sh.number(row, j + 1, growth, "pct2/engine")
        else:
            sh.text(row, j + 1, "n/a", "status_right")
        trade = summary.get((t, "trade_implied"), {})
        if not trade:
            sh.text(row, j + 2, "n/a", "status_right")
        elif trade.get("cash_runway_quarters") is None:
            sh.text(row, j + 2, "none", "status_right")
        else:
            sh.number(row, j + 2, trade["cash_runway_quarters"], "count/engine")
        covers = [
            (summary[(t, n)].get("min_interest_cover"), n) for n in names if (t, n) in summary
        ]
        covers = [(c, n) for c, n in covers if _is_num(c)]
        if covers:
            sh.number(row, j + 3, min(covers)[0], "cover/engine")
        else:
            sh.text(row, j + 3, "no debt", "status_right")
        zones = [summary[(t, n)].get("altman_zone") for n in names if (t, n) in summary]
        zones = [z for z in zones if z in ZONE_ORDER]
        sh.text(row, j + 4, min(zones, key=ZONE_ORDER.__getitem__) if zones else "n/a", "status")
        b = summary.get((t, "baseline")) or summary.get((t, names[0]), {})
        sc, lo, hi = (
            b.get("consolidation_score"),
            b.get("consolidation_low"),
            b.get("consolidation_high"),
        )
        sh.text(
            row,
            j + 5,
            f"{sc:.2f} [{lo:.2f}-{hi:.2f}]" if all(_is_num(v) for v in (sc, lo, hi)) else "n/a",
            "status",
        )
        est = sorted(n for n, f in fb.figures.items() if f.basis == "estimated")
        flags = [f"{len(est)} estimated" if est else "none estimated"]
        if b.get("price_stale"):
            flags.append("stale price")
        if _is_num(b.get("stale_quarters")) and b["stale_quarters"]:
            n_stale = int(b["stale_quarters"])
            flags.append(f"{n_stale} stale qtr" + ("s" if n_stale > 1 else ""))
        sh.text(row, j + 6, "; ".join(flags), "wrap_row")
        pd_fig = fb.figures.get("share_price_date")
        sh.text(row, j + 7, pd_fig.how if pd_fig is not None else "n/a", "status")
        row += 1
    r0, r1 = top + 1, row - 1
    if r1 >= r0:
        for j in range(4, 4 + len(names)):
            for style, crit, v in (
                ("cf_red", "<", 0.8),
                ("cf_amber", "<", 1),
                ("cf_green", ">=", 1),
            ):
                sh.cond_formats.append(
                    CondFormat(
                        r0,
                        j,
                        r1,
                        j,
                        {"type": "cell", "criteria": crit, "value": v, "format": style},
                    )
                )
        c = 4 + len(names) + 3
        for style, crit, v in (("cf_red", "<", 1), ("cf_amber", "<", 2), ("cf_green", ">=", 2)):
            sh.cond_formats.append(
                CondFormat(
                    r0, c, r1, c, {"type": "cell", "criteria": crit, "value": v, "format": style}
                )
            )
    # who breaks first
    row += 1
    sh.text(
        row,
        0,
        "Who breaks first: permanent export shock from the next quarter (reverse stress; "
        "'holds': not reached up to a 100% shock)",
        "section",
    )
    for j in range(1, 6):
        sh.text(row, j, "", "section")
    row += 1
    for j, h in enumerate(
        ("#", "Ticker", "Company", "ICR < 1 at shock (%)", "Cash breaks at shock (%)")
    ):
        sh.text(row, j, h, "header")
    sh.heights[row] = 60
    row += 1
    for rank, (t, rv) in enumerate(order, start=1):
        sh.heights[row] = 45
        sh.number(row, 0, rank, "count")
        sh.text(row, 1, t, "label_bold")
        sh.text(row, 2, str(inputs.firm(t).get("company_name") or ""), "wrap_row")
        for j, key in ((3, "shock_icr_below_1"), (4, "shock_cash_breaks")):
            v = rv.get(key)
            if _is_num(v):
                sh.number(row, j, v, "pct/engine")
            else:
                text = _shock_text(v, rv.get(f"{key}_status"))
                sh.text(row, j, "holds" if text == "not reached" else text, "status_right")
        row += 1
    sh.freeze = (top + 1, 2)
    n = len(names)
    sh.widths = {0: 3, 1: 10, 2: 17, 3: 19}
    sh.width(4, 3 + n, 8)
    sh.width(4 + n, 4 + n + 3, 8.5)
    sh.widths[4 + n + 4] = 7.5  # Z'' zone
    sh.widths[4 + n + 5] = 14  # index [band]
    sh.widths[4 + n + 6] = 13  # data quality
    sh.widths[4 + n + 7] = 10.5  # price date
    return sh
