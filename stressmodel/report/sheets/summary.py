"""The firm Summary: one landscape page an analyst can send.

From the top: a verdict strip (the price-implied figures, the export shocks at which
interest cover falls below 1 and cash breaks, runway under ``trade_implied``, the master
check), the scenario table under human names (value per share, value / price, minimum
cash, first revolving draw, minimum interest cover: live formulas over the scenario
sheets; Z'' and the consolidation index: engine values on their own fill), the
valuation block, the data-quality block and four small charts by scenario.

Figures the workbook computes are live formulas; what only the engine computes (the
reverse-stress solutions, regression-based scores, the consolidation index) is written on
the purple ``frozen`` fill with the note "engine value: does not move when inputs change".
Columns read from other stages that a run may not have (mid-cycle value, peer range, price
age, stale quarters) show "n/a" with the reason when absent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from stressmodel.inputs.periods import quarter_end_date
from stressmodel.report import catalog
from stressmodel.report.formulas import Formula, sheet_ref
from stressmodel.report.sheets.common import (
    COL_OPEN,
    COL_Q1,
    HEADER_ROW,
    SCENARIO_COLORS,
    FirmContext,
    _is_num,
)
from stressmodel.report.spec import ChartSpec, Range, Series, SheetSpec

ENGINE_NOTE = "engine value: does not move when inputs change"
DISCLAIMER = "model output, not investment advice"

#: scenario table: (key, header, style of a live cell)
TABLE = (
    ("scenario", "Scenario", ""),
    ("value_per_share", "Value per share (CNY/share)", "per_share"),
    ("value_to_price", "Value / price (times)", "multiple2"),
    ("min_cash", "Minimum cash less revolver (CNY mn)", "money"),
    ("first_draw", "First revolver draw (quarter)", "quarter"),
    ("min_interest_cover", "Minimum interest cover (times)", "cover"),
    ("altman_z", "Altman Z'' minimum (engine)", "ratio2"),
    ("altman_zone", "Z'' zone (engine)", ""),
    ("consolidation_score", "Consolidation index (engine; band)", "score"),
    ("code", "Sheet", ""),
)
SUMMARY_COLUMNS = tuple((k, h, s) for k, h, s in TABLE)  # kept for readers of the old name


def run_date_text(run_date: dt.date | None) -> str:
    """The right-hand header: the run's date (UTC, taken once per run; SOURCE_DATE_EPOCH
    when set, so equal runs give equal bytes), or the print date (&D) outside a run."""
    return f"Run date {run_date.isoformat()} (UTC)" if run_date is not None else "Printed &D"


def header_footer(ctx: FirmContext) -> tuple[str, str]:
    """Print header and footer: firm, as-of, run date; the disclaimer and page number."""
    who = f"{ctx.ticker} {ctx.company}".strip().replace("&", "&&")
    head = (
        f"&L{who}&CStress test as of {ctx.result.as_of_label}&R{run_date_text(ctx.result.run_date)}"
    )
    foot = f"&L{DISCLAIMER.capitalize()}&RPage &P of &N"
    return head, foot


def _rev_row(ctx: FirmContext) -> dict[str, Any]:
    rev = ctx.result.extras["reverse_stress"]
    return next((x for x in rev.iter_rows(named=True) if x["ticker"] == ctx.ticker), {})


def _engine(sh: SheetSpec, row: int, col: int, value: Any, kind: str, reason: str) -> None:
    """An engine value on the frozen fill; text (the reason) when it is missing."""
    if _is_num(value):
        sh.number(row, col, float(value), f"{kind}/frozen")
    else:
        sh.text(row, col, str(value) if isinstance(value, str) and value else reason, "frozen_text")


def _optional(x: dict[str, Any], key: str, stage: str) -> tuple[Any, str]:
    """A column another stage adds: its value, or the reason it is missing."""
    if key not in x:
        return None, f"n/a ({stage} stage absent)"
    v = x.get(key)
    status = x.get(f"{key}_status")
    return v, (str(status) if status else "n/a")


def summary_sheet(
    ctx: FirmContext, master: tuple[int, int] | None = None, master_value: float = 0.0
) -> SheetSpec:
    r = ctx.result
    sh = SheetSpec("Summary")
    sh.header, sh.footer = header_footer(ctx)
    sh.fit_one_page = True
    sh.text(0, 0, f"{ctx.ticker} - stress test as of {r.as_of_label}", "title")
    sh.text(1, 0, "Company", "label_bold")
    sh.text(1, 1, ctx.company, "label_bold")  # its own text cell: input text, never a formula
    sh.text(
        2,
        0,
        f"{r.horizon} projected quarters ({r.quarters[0]} to {r.quarters[-1]}); money in CNY mn, "
        "prices in CNY/share; inflows and balances positive, outflows and losses negative. "
        f"{DISCLAIMER.capitalize()}.",
        "note",
    )
    rev = _rev_row(ctx)
    price = ctx.figure("share_price")
    price_ok = _is_num(price) and float(price) > 0

    # --- verdict strip -----------------------------------------------------------------
    row = 4
    sh.text(row, 0, "Verdict", "section")
    for j in range(1, len(TABLE)):
        sh.text(row, j, "", "section")
    row += 1
    for line in verdict_lines(ctx, rev):
        sh.text(row, 0, line, "big")
        row += 1
    strip: list[tuple[str, Any, str, str]] = [
        (
            "Export shock the price implies (permanent)",
            rev.get("implied_export_shock"),
            "pct",
            str(rev.get("status") or "n/a"),
        ),
        (
            "Perpetual growth the price implies (no shock)",
            rev.get("implied_growth"),
            "pct2",
            str(rev.get("implied_growth_status") or "n/a"),
        ),
        (
            "Export shock at which interest cover < 1",
            rev.get("shock_icr_below_1"),
            "pct",
            str(rev.get("shock_icr_below_1_status") or "n/a"),
        ),
        (
            "Shock at which cash needs a revolver draw",
            rev.get("shock_cash_breaks"),
            "pct",
            str(rev.get("shock_cash_breaks_status") or "n/a"),
        ),
    ]
    for key, label, kind in (
        ("implied_midcycle_margin", "Mid-cycle EBIT margin the price implies", "pct"),
        ("implied_revenue_growth_5y", "5-year revenue growth the price implies (per year)", "pct"),
    ):
        v, why = _optional(rev, key, "valuation")
        strip.append((label, v, kind, why))
    for i, (label, value, kind, why) in enumerate(strip):
        rr, cc = row + i // 2, (i % 2) * 5
        sh.text(rr, cc, label, "label")
        _engine(sh, rr, cc + 3, value, kind, _short(why))
    row += (len(strip) + 1) // 2
    sh.text(row, 0, "Runway under trade_implied: first revolving draw (live)", "label")
    trade = ctx.metric_cells.get("trade_implied", {}).get("first_draw")
    if trade is not None:
        sc = "trade_implied"
        sh.formula(row, 3, "=" + sheet_ref(sc, *trade), _cell_value(ctx, sc, trade), "quarter")
    else:
        sh.text(row, 3, "n/a: no trade_implied scenario", "status")
    sh.text(row, 5, "Checks (all identities and input ranges)", "label_bold")
    if master is not None:
        sh.formula(row, 8, "=" + sheet_ref("Checks", *master), master_value, "check")
    row += 2

    # --- scenario table ----------------------------------------------------------------
    top = row
    for j, (_k, head, _s) in enumerate(TABLE):
        sh.text(top, j, head, "header")
    sh.heights[top] = 60
    for i, scen in enumerate(ctx.scenarios, start=1):
        rr = top + i
        srow = ctx.summary[scen]
        cells = ctx.metric_cells.get(scen, {})
        sh.text(rr, 0, catalog.scenario_name(scen), "label_bold")
        vps_cell = ctx.vps_cells.get(scen)
        vps = srow.get("value_per_share")
        if vps_cell is not None and _is_num(vps):
            sh.formula(rr, 1, "=" + sheet_ref(scen, *vps_cell), float(vps), "per_share")
            if price_ok:
                ratio = Formula(f"B{rr + 1}") / Formula("b_share_price")
                sh.formula(rr, 2, "=" + ratio.text, float(vps) / float(price), "multiple2")
            else:
                sh.text(rr, 2, "n/a: no share price", "status")
        else:
            sh.text(rr, 1, str(srow.get("value_status") or "n/a"), "status")
            sh.text(rr, 2, "n/a", "status")
        for j, key in ((3, "min_cash"), (4, "first_draw"), (5, "min_interest_cover")):
            cell = cells.get(key)
            if cell is not None:
                sh.formula(
                    rr, j, "=" + sheet_ref(scen, *cell), _cell_value(ctx, scen, cell), TABLE[j][2]
                )
            else:
                status = srow.get("interest_cover_status") if key == "min_interest_cover" else None
                sh.text(rr, j, str(status or "n/a"), "status_right")
        _engine(sh, rr, 6, srow.get("altman_z"), "ratio2", "n/a")
        _engine(sh, rr, 7, srow.get("altman_zone"), "text", "n/a")
        score = srow.get("consolidation_score")
        band = f" [{_f3(srow.get('consolidation_low'))}-{_f3(srow.get('consolidation_high'))}]"
        _engine(sh, rr, 8, f"{_f3(score)}{band}" if _is_num(score) else score, "score", "n/a")
        sh.text(rr, 9, scen, "key")
    r0, r1 = top + 1, top + len(ctx.scenarios)
    _traffic_lights(sh, r0, r1)
    row = r1 + 1
    for line in (
        "Live: value per share, value / price, minimum cash, first draw and interest cover follow the "
        f"scenario sheets. Purple: {ENGINE_NOTE}.",
        "Interest cover above 50x reads '> 50x'. Lights: value / price < 0.8 red, < 1 amber; interest "
        "cover < 1 red, < 2 amber; cash below the firm's minimum cash red.",
    ):
        sh.text(row, 0, line, "note")
        row += 1
    row += 1

    # --- valuation and data quality, side by side ---------------------------------------
    sh.text(row, 0, "Valuation (CNY/share)", "section")
    for j in range(1, 4):
        sh.text(row, j, "", "section")
    sh.text(row, 5, "Data quality", "section")
    for j in range(6, len(TABLE)):
        sh.text(row, j, "", "section")
    row += 1
    vrow = row
    base = ctx.summary.get("baseline") or next(iter(ctx.summary.values()))
    pd_fig = ctx.fb.figures.get("share_price_date")
    price_date = pd_fig.how if pd_fig is not None else None
    sh.text(vrow, 0, "Share price (latest close on or before the as-of date)")
    if price_ok:
        sh.formula(vrow, 3, "=b_share_price", float(price), "per_share")
    else:
        sh.text(vrow, 3, "n/a: no share price", "status")
    sh.text(vrow + 1, 0, "Price date; days before the as-of quarter end")
    sh.text(vrow + 1, 3, price_age_text(price_date, r.as_of, base), "status_right")
    sh.text(vrow + 2, 0, "Trailing DCF, no shock (baseline sheet, live)")
    bcell = ctx.vps_cells.get("baseline")
    if bcell is not None and _is_num(base.get("value_per_share")):
        sh.formula(
            vrow + 2,
            3,
            "=" + sheet_ref("baseline", *bcell),
            float(base["value_per_share"]),
            "per_share",
        )
    else:
        sh.text(vrow + 2, 3, "n/a", "status")
    sh.text(vrow + 3, 0, "Mid-cycle DCF (valuation stage)")
    v, why = _optional(base, "value_per_share_midcycle", "valuation")
    _engine(sh, vrow + 3, 3, v, "per_share", why)
    sh.text(vrow + 4, 0, "Peer-multiple range low - high (valuation stage)")
    lo, why_lo = _optional(base, "peer_vps_low", "valuation")
    hi, _why_hi = _optional(base, "peer_vps_high", "valuation")
    rng = f"{lo:.2f} - {hi:.2f}" if _is_num(lo) and _is_num(hi) else why_lo
    sh.text(vrow + 4, 3, rng, "frozen_text")

    est = sorted(n for n, f in ctx.fb.figures.items() if f.basis == "estimated")
    xs = ctx.fb.figures.get("export_share")
    latest, why_latest = _optional(base, "latest_actuals", "base figures")
    stale, why_stale = _optional(base, "stale_quarters", "base figures")
    quality = (
        ("Estimated inputs", _short_list([n.replace("_", " ") for n in est])),
        ("Latest actuals", str(latest) if latest is not None else why_latest),
        ("Stale quarters", str(stale) if stale is not None else why_stale),
        (
            "Export share basis",
            f"{xs.basis}: {xs.how}" if xs is not None else "n/a: no export share",
        ),
        ("Firm notes", f"{len(ctx.fb.notes)} on Provenance"),
    )
    for i, (label, text) in enumerate(quality):
        sh.text(vrow + i, 5, label)
        sh.text(vrow + i, 7, text, "text")
    row = vrow + max(5, len(quality)) + 1

    # --- small charts ---------------------------------------------------------------------
    sh.text(row, 0, "By scenario over the quarters (CNY mn; scenario sheets)", "section")
    for j in range(1, len(TABLE)):
        sh.text(row, j, "", "section")
    row += 1
    for i, (item, title) in enumerate(
        (("revenue", "Revenue"), ("ebit", "EBIT"), ("inventory", "Inventory"), ("cash", "Cash"))
    ):
        sh.charts.append(_small_chart(ctx, item, title, (row, (0, 2, 5, 8)[i])))
    ctx.summary_rows = (top, r0, r1)
    sh.widths = {0: 34, 1: 12, 2: 11, 3: 13, 4: 12, 5: 13, 6: 12, 7: 11, 8: 20, 9: 14}
    sh.freeze = None
    return sh


def _short_list(names: list[str], room: int = 44) -> str:
    """Names that fit the Data quality block's width (the page's right edge); the rest as a
    count, all of them on Provenance."""
    if not names:
        return "none"
    text = ", ".join(names)
    if len(text) <= room:
        return text
    shown: list[str] = []
    for n in names:
        more = len(names) - len(shown) - 1
        tail = f" + {more} more (Provenance)" if more else ""
        if len(", ".join([*shown, n])) + len(tail) > room:
            break
        shown.append(n)
    return f"{', '.join(shown)} + {len(names) - len(shown)} more (Provenance)"


def verdict_lines(ctx: FirmContext, rev: dict[str, Any]) -> list[str]:
    """Two lines from the engine's numbers (text: it does not move with inputs)."""
    vps, price = rev.get("value_no_shock"), ctx.figure("share_price")
    first = "No-shock value: n/a"
    if _is_num(vps) and _is_num(price) and float(price) > 0:
        first = (
            f"No-shock value {vps:.2f} CNY/share against a price of {float(price):.2f} "
            f"({vps / price:.2f}x): the price needs more than the run-rate"
            if vps < price
            else f"No-shock value {vps:.2f} CNY/share against a price of {float(price):.2f} ({vps / price:.2f}x)"
        )
    icr, cash = rev.get("shock_icr_below_1"), rev.get("shock_cash_breaks")
    icr_t = (
        f"at a {icr:.1%} export shock"
        if _is_num(icr)
        else _never(rev.get("shock_icr_below_1_status"))
    )
    cash_t = f"at {cash:.1%}" if _is_num(cash) else _never(rev.get("shock_cash_breaks_status"))
    icr_part = (
        "Interest cover: no material debt"
        if "no material debt" in str(rev.get("shock_icr_below_1_status") or "")
        else f"Interest cover falls below 1 {icr_t}"
    )
    if str(rev.get("shock_cash_breaks_status") or "").startswith("not breached") and not _is_num(
        cash
    ):
        cash_part = "cash holds without a revolving draw up to a 100% shock"
    else:
        cash_part = f"cash needs a revolving draw {cash_t}"
    second = f"{icr_part}; {cash_part} ({ENGINE_NOTE})"
    return [first, second]


def _never(status: Any) -> str:
    """A threshold the reverse stress did not reach, in words (other statuses as given)."""
    text = str(status or "n/a")
    return "at no shock up to 100%" if text.startswith("not breached") else f"({_short(text)})"


def _short(status: Any) -> str:
    """A reverse-stress status in a few words (the full text is on Risk)."""
    text = str(status or "n/a")
    if text.startswith("no shock in"):
        return "none: price > value"
    if text.startswith("not breached"):
        return "not reached up to 100%"
    return text if len(text) <= 40 else text[:37] + "..."


def price_age_text(price_date: str | None, as_of: int, base: dict[str, Any]) -> str:
    if not price_date:
        return "n/a: no price"
    age = base.get("price_age_days")
    if not _is_num(age):
        try:
            age = (quarter_end_date(as_of) - dt.date.fromisoformat(price_date)).days
        except ValueError:
            return price_date
    stale = " (stale)" if base.get("price_stale") else ""
    return f"{price_date}; {int(age)} days{stale}"


def _f3(v: Any) -> str:
    return f"{v:.2f}" if _is_num(v) else "n/a"


def _cell_value(ctx: FirmContext, sheet: str, cell: tuple[int, int]) -> float:
    return float(ctx.sheet_specs[sheet].cells[cell].value)


def _traffic_lights(sh: SheetSpec, r0: int, r1: int) -> None:
    """Fixed thresholds: value / price (col C), minimum cash (D, against min_cash),
    interest cover (F)."""
    from stressmodel.report.spec import CondFormat

    def rule(c: int, crit: str, value: Any, style: str) -> None:
        sh.cond_formats.append(
            CondFormat(
                r0, c, r1, c, {"type": "cell", "criteria": crit, "value": value, "format": style}
            )
        )

    rule(2, "<", 0.8, "cf_red")
    rule(2, "<", 1, "cf_amber")
    rule(2, ">=", 1, "cf_green")
    rule(3, "<", "f_min_cash", "cf_red")
    rule(5, "<", 1, "cf_red")
    rule(5, "<", 2, "cf_amber")
    rule(5, ">=", 2, "cf_green")


def _small_chart(ctx: FirmContext, item: str, title: str, anchor: tuple[int, int]) -> ChartSpec:
    last_col = COL_Q1 + ctx.result.horizon - 1
    series = []
    for i, scen in enumerate(ctx.scenarios):
        row = ctx.item_rows[scen][item]
        series.append(
            Series(
                catalog.scenario_name(scen),
                Range(scen, row, COL_OPEN, row, last_col),
                Range(scen, HEADER_ROW, COL_OPEN, HEADER_ROW, last_col),
                SCENARIO_COLORS[i % len(SCENARIO_COLORS)],
            )
        )
    return ChartSpec(
        "line", f"{title} (CNY mn)", tuple(series), anchor, y_format="#,##0", size=(265, 330)
    )
