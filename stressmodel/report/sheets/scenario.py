"""Scenario sheets: live quarterly projections.

:func:`stressmodel.model.quarter.step` runs once per projected quarter with the Excel back end
(:class:`stressmodel.report.formulas.ExcelOps`), firm and scenario parameters being defined names
of input cells on Assumptions and the previous quarter being the previous column. The first
projected column refers to an opening column (the as-of quarter) of formulas of
:func:`stressmodel.model.quarter.opening_state`. The valuation mirrors
:func:`stressmodel.analysis.valuation.dcf`. Every formula carries the engine's value
(:mod:`stressmodel.report.values`) as its cached result.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from stressmodel.errors import ReportError
from stressmodel.model.quarter import (
    ALL_FIRM_PARAMS,
    CONSTANT_PARAMS,
    SCENARIO_PARAMS,
    STATE,
    opening_state,
    step,
    terminal,
)
from stressmodel.report import catalog
from stressmodel.report.formulas import (
    Formula,
    TemplateOps,
    call,
    cell_ref,
    col_letter,
    fill_column,
    formula_text,
    intensity_formula,
    name,
    raw_material_formula,
)
from stressmodel.report.sheets.common import (
    COL_KEY,
    COL_LABEL,
    COL_OPEN,
    COL_Q1,
    COL_UNIT,
    HEADER_ROW,
    QUARTER_ROW,
    FirmContext,
    _is_num,
    line_item_names,
    scenario_prefix,
)
from stressmodel.report.spec import Cell, SheetSpec

# --- scenario sheets ------------------------------------------------------------------------


def _allocate_rows(
    steps: list[str], tv_names: list[str]
) -> tuple[dict[str, int], list[tuple[int, str]], int, int]:
    """Row of every line item; (row, title) of section headers; the valuation rows."""
    rows, sections, block, end = _rows_of(tuple(steps), tuple(tv_names))
    return dict(rows), list(sections), block, end


@functools.cache
def _rows_of(
    steps: tuple[str, ...], tv_names: tuple[str, ...]
) -> tuple[dict[str, int], tuple[tuple[int, str], ...], int, int]:
    # the layout of the line items (memoised; _allocate_rows hands out copies)
    rows: dict[str, int] = {}
    sections: list[tuple[int, str]] = []
    r = QUARTER_ROW + 2
    listed = {n for _, items in catalog.SECTIONS for n in items}
    extra = [n for n in steps if n not in listed]
    for title, items in (*catalog.SECTIONS, ("Other line items", tuple(extra))):
        present = [n for n in items if n in steps]
        if not present:
            continue
        sections.append((r, title))
        r += 1
        for n in present:
            rows[n] = r
            r += 1
    rows["discount_factor"] = r
    rows["pv_fcf"] = r + 1
    r += 3
    sections.append((r, "Terminal quarter and valuation at the as-of date"))
    block = r
    r += 1
    for n in tv_names:
        rows[n] = r
        r += 1
    for n in (
        "terminal_value",
        "pv_fcf_sum",
        "discount_factor_horizon",
        "enterprise_value",
        "net_debt0",
        "equity_value",
        "shares",
        "value_per_share",
        "share_price",
        "upside",
    ):
        rows[n] = r
        r += 1
    return rows, tuple(sections), block, r


@functools.cache
def _item_style(n: str) -> str:
    """Cell style of a line item (its kind in the catalog)."""
    return catalog.item_info(n).kind


@dataclass(frozen=True)
class ScenarioFormulas:
    """The formula text of a scenario sheet's projection block: ``(line item, row,
    "=...")`` of the opening column, of each projected quarter and of the terminal quarter
    (Value column), and the discount-factor and PV-of-FCF formulas of each quarter."""

    opening: tuple[tuple[str, int, str], ...]
    quarters: tuple[tuple[tuple[str, int, str], ...], ...]
    discount: tuple[str, ...]
    pv: tuple[str, ...]
    terminal: tuple[tuple[str, int, str], ...]


@functools.lru_cache(maxsize=256)
def scenario_formulas(
    prefix: str, trade_path: bool, horizon: int, quarters: tuple[str, ...]
) -> ScenarioFormulas:
    """The projection block's formulas of a scenario sheet, built once per run and shared
    by every firm: they are :func:`stressmodel.model.quarter.step` (and ``opening_state``,
    ``terminal``) over defined names and cell references only, so they are determined by
    the arguments (the scenario's name prefix, whether it follows the trade-implied path,
    the horizon and quarter labels naming the dated inputs) and the layout (rows from the
    model's line items and the catalog); firm values enter only as cached results."""
    steps, tv_names = line_item_names()
    rows, _sections, _block, _end = _allocate_rows(steps, tv_names)
    last_col = COL_Q1 + horizon - 1
    f = {p: name(f"f_{p}") for p in ALL_FIRM_PARAMS}
    s = {p: name(f"{prefix}_{p}") for p in SCENARIO_PARAMS}
    # constants of the equations: named inputs on Assumptions (m_days_per_quarter, ...)
    consts = {p: name(f"m_{p}") for p in CONSTANT_PARAMS}
    # a dated path's intensity in the as-of quarter (quarter number 0), live on its inputs
    s_open = (
        dict(s)
        if trade_path
        else {**s, "opening_intensity": intensity_formula(Formula("0"), prefix)}
    )
    opening = tuple(
        (n, rows[n], formula_text(expr))
        for n, expr in opening_state(f, s_open, TemplateOps).items()
    )
    prev: dict[str, Any] = {n: Formula(cell_ref(rows[n], COL_OPEN)) for n in STATE}

    # projected quarters: model.step with the Excel back end
    k_disc = name("v_discount_rate")
    columns, discount, pv = [], [], []
    for k in range(1, horizon + 1):
        col = COL_Q1 + k - 1
        qn = Formula(f"{col_letter(col)}${QUARTER_ROW + 1}")
        if trade_path:
            inten: Formula = name(f"trade_loss_{quarters[k - 1]}")
        else:
            inten = intensity_formula(qn, prefix)
        d = {
            "intensity": inten,
            "raw_material_change": raw_material_formula(
                qn, prefix, name(f"prnd_change_{quarters[k - 1]}")
            ),
        }
        ops = TemplateOps(rows, col, prefix)
        prev = step(ops, f, s, prev, d, consts)
        columns.append(tuple(ops.cells))
        discount.append(formula_text(Formula(f"((1+{k_disc.text})^((-{qn.text})/4))")))
        fcf, factor = (
            Formula(cell_ref(rows["fcf"], col)),
            Formula(cell_ref(rows["discount_factor"], col)),
        )
        pv.append(formula_text(fcf * factor))

    # terminal quarter on the last column (model.terminal), values in the Value column
    last = {n: Formula(cell_ref(rows[n], last_col, absolute=True)) for n in steps}
    ops = TemplateOps(rows, COL_OPEN, prefix)
    terminal(ops, f, s, last, consts)
    return ScenarioFormulas(opening, tuple(columns), tuple(discount), tuple(pv), tuple(ops.cells))


#: the labels of the valuation rows of each projected quarter: (line item, label, unit, key)
VALUATION_ROWS = (
    ("discount_factor", "Discount factor (1 + k)^(-quarter/4)", "factor", "discount_factor"),
    ("pv_fcf", "Present value of free cash flow", "CNY mn", "pv_fcf"),
)


@functools.lru_cache(maxsize=32)
def _layout_cells(
    as_of_label: str, quarters: tuple[str, ...], horizon: int
) -> dict[tuple[int, int], Cell]:
    """The cells of a scenario sheet that do not depend on the firm or the scenario:
    column headers, the quarter-number row, section rows, the line items' label, unit and
    engine-column cells, and the static cells of the metric block (memoised per run;
    each sheet copies them)."""
    steps, tv_names = line_item_names()
    rows, sections, block, end = _allocate_rows(steps, tv_names)
    last_col = COL_Q1 + horizon - 1
    sh = SheetSpec("layout")
    for c, t in ((COL_LABEL, "Line item"), (COL_UNIT, "Unit"), (COL_KEY, "Engine column")):
        sh.text(HEADER_ROW, c, t, "header")
    sh.text(HEADER_ROW, COL_OPEN, as_of_label, "header_num")
    for k, q in enumerate(quarters):
        sh.text(HEADER_ROW, COL_Q1 + k, q, "header_num")
    sh.text(
        QUARTER_ROW,
        COL_LABEL,
        f"Quarter number (0 = {as_of_label}, the as-of quarter: opening balances)",
        "label",
    )
    sh.text(QUARTER_ROW, COL_KEY, "step", "key")
    for k in range(horizon + 1):
        sh.number(QUARTER_ROW, COL_OPEN + k, k, "count")
    for row, title in sections:
        sh.text(row, COL_LABEL, title, "section")
        for c in range(COL_UNIT, last_col + 1):
            sh.text(row, c, "Value" if (row, c) == (block, COL_OPEN) else "", "section")
    for n in (*steps, *tv_names):
        info = catalog.item_info(n)
        sh.text(rows[n], COL_LABEL, info.label)
        sh.text(rows[n], COL_UNIT, info.unit)
        sh.text(rows[n], COL_KEY, n, "key")
    for n, label, unit, key in VALUATION_ROWS:
        sh.text(rows[n], COL_LABEL, label)
        sh.text(rows[n], COL_UNIT, unit)
        sh.text(rows[n], COL_KEY, key, "key")
    _metric_layout(sh, end + 4, last_col)
    return sh.cells


def scenario_sheet(ctx: FirmContext, scenario: str) -> SheetSpec:
    r = ctx.result
    sc = next(s for s in r.scenarios if s.name == scenario)
    cv = ctx.values[scenario]
    sh = SheetSpec(scenario)
    steps, tv_names = line_item_names()
    rows, _sections, _block, _end = _allocate_rows(steps, tv_names)
    last_col = COL_Q1 + r.horizon - 1
    prefix = scenario_prefix(scenario)

    # headers, quarter numbers, sections and line-item labels: the same on every scenario
    # sheet of the run (memoised); the cells written below may not fall on them
    sh.cells.update(_layout_cells(r.as_of_label, tuple(ctx.quarters), r.horizon))
    sh.text(
        0, 0, f"{ctx.ticker} - scenario {scenario}: quarterly projection (live formulas)", "title"
    )
    sh.text(1, 0, sc.description, "note")

    style = _item_style

    # the formula text (memoised: the same for every firm), with this firm's values
    formulas = scenario_formulas(prefix, sc.path == "trade", r.horizon, tuple(ctx.quarters))
    fill_column(sh, COL_OPEN, formulas.opening, cv.opening, style)
    for k in range(1, r.horizon + 1):
        col = COL_Q1 + k - 1
        fill_column(sh, col, formulas.quarters[k - 1], cv.at(k), style)
        # valuation per quarter: discount factor (1 + k)^(-step/4) and PV of FCF
        sh.formula(
            rows["discount_factor"], col, formulas.discount[k - 1], cv.discount[k - 1], "factor"
        )
        sh.formula(
            rows["pv_fcf"],
            col,
            formulas.pv[k - 1],
            cv.steps["fcf"][k - 1] * cv.discount[k - 1],
            "money",
        )

    # terminal quarter on the last column (model.terminal), values in the Value column
    fill_column(sh, COL_OPEN, formulas.terminal, cv.terminal, style)
    k_disc = name("v_discount_rate")

    v = cv.valuation
    g = name("v_terminal_growth")

    def at(n: str) -> Formula:
        return Formula(cell_ref(rows[n], COL_OPEN))

    def scalar(n: str, label: str, unit: str, key: str, expr: Any, value: Any, kind: str) -> None:
        sh.text(rows[n], COL_LABEL, label)
        sh.text(rows[n], COL_UNIT, unit)
        sh.text(rows[n], COL_KEY, key, "key")
        if expr is None or not _is_num(value):
            sh.text(rows[n], COL_OPEN, value if isinstance(value, str) else "n/a", "status")
        else:
            sh.formula(rows[n], COL_OPEN, formula_text(expr), float(value), kind)

    tv = call("MAX", 4 * at("tv_fcf") * (1 + g) / (k_disc - g), 0)
    scalar(
        "terminal_value",
        "Terminal value: max(0, 4 FCF (1 + g) / (k - g))",
        "CNY mn",
        "terminal_value",
        tv,
        v["terminal_value"],
        "money",
    )
    pv_range = f"{cell_ref(rows['pv_fcf'], COL_Q1)}:{cell_ref(rows['pv_fcf'], last_col)}"
    scalar(
        "pv_fcf_sum",
        "Sum of present values of free cash flow",
        "CNY mn",
        "pv_fcf",
        Formula(f"SUM({pv_range})"),
        v["pv_fcf"],
        "money",
    )
    qn_last = cell_ref(QUARTER_ROW, last_col)
    scalar(
        "discount_factor_horizon",
        "Discount factor at the horizon",
        "factor",
        "",
        Formula(f"((1+{k_disc.text})^((-{qn_last})/4))"),
        cv.discount[-1],
        "factor",
    )
    ev = at("pv_fcf_sum") + at("discount_factor_horizon") * (
        at("tv_working_capital_release") + at("terminal_value")
    )
    scalar(
        "enterprise_value",
        "Enterprise value",
        "CNY mn",
        "enterprise_value",
        ev,
        v["enterprise_value"],
        "money",
    )
    # opening cash = liquidity (cash + short-term investments), the model's f_cash0
    debt, cash = ctx.figure("total_debt"), ctx.figure("liquidity")
    net_debt = debt - cash if _is_num(debt) and _is_num(cash) else None
    scalar(
        "net_debt0",
        "Net debt at the as-of quarter",
        "CNY mn",
        "net_debt0",
        name("v_net_debt0") if net_debt is not None else None,
        net_debt,
        "money",
    )
    scalar(
        "equity_value",
        "Equity value",
        "CNY mn",
        "equity_value",
        at("enterprise_value") - at("net_debt0"),
        v["equity_value"],
        "money",
    )
    shares, price = ctx.figure("shares"), ctx.figure("share_price")
    shares_ok = _is_num(shares) and float(shares) > 0
    scalar(
        "shares",
        "Shares outstanding",
        "mn shares",
        "shares",
        name("b_shares") if shares_ok else None,
        shares if shares_ok else "n/a: no share count on or before the as-of date",
        "shares",
    )
    vps = call("MAX", at("equity_value"), 0) / at("shares")
    scalar(
        "value_per_share",
        "Value per share: max(0, equity) / shares",
        "CNY/share",
        "value_per_share",
        vps if shares_ok else None,
        v["value_per_share"] if shares_ok else v["value_status"],
        "per_share",
    )
    price_ok = _is_num(price) and float(price) > 0
    scalar(
        "share_price",
        "Share price (latest close on or before the as-of date)",
        "CNY/share",
        "share_price",
        name("b_share_price") if price_ok else None,
        price if price_ok else "n/a: no share price",
        "per_share",
    )
    up = at("value_per_share") / at("share_price") - 1
    upside = ctx.summary[scenario].get("upside")
    scalar(
        "upside",
        "Value per share / price - 1",
        "fraction",
        "upside",
        up if (price_ok and shares_ok) else None,
        upside if (price_ok and shares_ok) else "n/a",
        "pct",
    )
    sh.text(rows["upside"] + 2, COL_LABEL, f"Value status: {v['value_status']}", "note")
    sh.text(
        rows["upside"] + 3,
        COL_LABEL,
        "Every cell from the opening column on is a live formula of the Assumptions inputs and "
        "the previous "
        "quarter (model.step, written once for the engine and this sheet).",
        "note",
    )

    ctx.vps_cells[scenario] = (rows["value_per_share"], COL_OPEN) if shares_ok else None
    ctx.cash_rows[scenario] = rows["cash"]
    ctx.item_rows[scenario] = dict(rows)
    ctx.sheet_specs[scenario] = sh
    ctx.metric_cells[scenario] = metric_block(sh, ctx, scenario, rows, _end + 4, last_col)
    sh.freeze = (QUARTER_ROW + 1, COL_OPEN)
    sh.repeat_rows = (HEADER_ROW, QUARTER_ROW)
    sh.widths = {COL_LABEL: 50, COL_UNIT: 13, COL_KEY: 22}
    sh.width(COL_OPEN, last_col, 12)
    return sh


#: per-quarter rows of the metric block: (key, label, unit, style)
METRIC_ROWS = (
    ("cash_less_revolver", "Cash less revolving draws outstanding", "CNY mn", "money"),
    ("interest_cover_q", "Interest cover EBIT / interest (k_none: no interest)", "times", "cover"),
    ("draw_quarter", "Quarter number if a revolving draw (else k_none)", "quarter", "quarter"),
    (
        "cash_reconciliation",
        "Cash reconciliation: cash - (previous cash + CFO + CFI + CFF)",
        "CNY mn",
        "money",
    ),
    ("price_export_kg", "Export magnet price (CNY/kg)", "CNY/kg", "per_share"),
    ("price_domestic_kg", "Domestic magnet price (CNY/kg)", "CNY/kg", "per_share"),
)


#: scalar rows of the metric block, in order: (key, label, unit)
METRIC_SCALARS = (
    ("min_cash", "Minimum cash less revolver over the horizon", "CNY mn"),
    ("min_interest_cover", "Minimum interest cover over the horizon", "times"),
    ("first_draw", "First revolving draw (projected quarter; none = no draw)", "quarter"),
    ("balance_failures", "Quarters whose balance check exceeds k_check_tol", "count"),
    ("cash_failures", "Quarters whose cash reconciliation exceeds k_check_tol", "count"),
)


def _metric_rows(top: int) -> dict[str, int]:
    return {key: top + 1 + i for i, (key, *_rest) in enumerate(METRIC_ROWS)}


def _metric_scalars_top(top: int) -> int:
    return top + len(METRIC_ROWS) + 2


def _metric_layout(sh: SheetSpec, top: int, last_col: int) -> None:
    """The metric block's cells that are the same on every sheet: its section row and
    the labels of its rows."""
    sh.text(
        top, COL_LABEL, "Checks and summary metrics (live; read by Summary and Checks)", "section"
    )
    for c in range(COL_UNIT, last_col + 1):
        sh.text(top, c, "", "section")
    mrow = _metric_rows(top)
    for key, label, unit, _style in METRIC_ROWS:
        sh.text(mrow[key], COL_LABEL, label)
        sh.text(mrow[key], COL_UNIT, unit)
        sh.text(mrow[key], COL_KEY, key, "key")
    for i, (key, label, unit) in enumerate(METRIC_SCALARS):
        r = _metric_scalars_top(top) + i
        sh.text(r, COL_LABEL, label, "label_bold")
        sh.text(r, COL_UNIT, unit)
        sh.text(r, COL_KEY, key, "key")


@functools.lru_cache(maxsize=64)
def _metric_formulas(
    rows_items: tuple[tuple[str, int], ...], top: int, horizon: int
) -> tuple[dict[str, str], ...]:
    """The formula text of the metric block's per-quarter rows (:data:`METRIC_ROWS`),
    one dict per projected quarter: cell references only, so the same for every firm
    (memoised on the layout)."""
    rows = dict(rows_items)

    def ref(item: str, col: int) -> Formula:
        return Formula(cell_ref(rows[item], col))

    out = []
    for k in range(1, horizon + 1):
        col = COL_Q1 + k - 1
        recon = ref("cash", col) - (
            ref("cash", col - 1) + ref("cfo", col) + ref("cfi", col) + ref("cff", col)
        )
        out.append(
            {
                "cash_less_revolver": formula_text(ref("cash", col) - ref("revolver", col)),
                "interest_cover_q": f"=IF({cell_ref(rows['interest_expense'], col)}>0,"
                f"{(ref('ebit', col) / ref('interest_expense', col)).text},k_none)",
                "draw_quarter": f"=IF({cell_ref(rows['revolver_draw'], col)}>k_draw_eps,"
                f"{cell_ref(QUARTER_ROW, col)},k_none)",
                "cash_reconciliation": formula_text(recon),
                "price_export_kg": formula_text(ref("price_export", col) * Formula("k_cny_per_kg")),
                "price_domestic_kg": formula_text(
                    ref("price_domestic", col) * Formula("k_cny_per_kg")
                ),
            }
        )
    return tuple(out)


def metric_block(
    sh: SheetSpec, ctx: FirmContext, scenario: str, rows: dict[str, int], top: int, last_col: int
) -> dict[str, tuple[int, int]]:
    """Checks and the Summary's risk metrics as live formulas over this sheet's rows:
    per quarter (cash less revolver, interest cover, draw quarter, cash reconciliation),
    then the worst values and the check counts in the Value column. Returns their cells.

    The definitions are those of :func:`stressmodel.analysis.risk.case_metrics`: minimum
    over the projected quarters of cash - revolver; minimum of EBIT / interest over the
    quarters with interest; the first quarter with a revolving draw above k_draw_eps."""
    cv = ctx.values[scenario]
    srow = ctx.summary[scenario]
    h = ctx.result.horizon
    # the section row and the labels are on the sheet already (_layout_cells)
    mrow = _metric_rows(top)
    ctx.item_rows.setdefault(scenario, {}).update(mrow)
    big = 1e9
    steps = cv.steps
    values: dict[str, list[float]] = {k: [] for k, *_ in METRIC_ROWS}
    texts = _metric_formulas(tuple(rows.items()), top, h)  # the same for every firm
    entries = []
    for k in range(1, h + 1):
        col = COL_Q1 + k - 1
        text = texts[k - 1]
        cash, rev = steps["cash"][k - 1], steps["revolver"][k - 1]
        ebit, intr = steps["ebit"][k - 1], steps["interest_expense"][k - 1]
        prev_cash = cv.opening["cash"] if k == 1 else steps["cash"][k - 2]
        quarter = {
            "cash_less_revolver": cash - rev,
            "interest_cover_q": ebit / intr if intr > 0 else big,
            "draw_quarter": float(k) if steps["revolver_draw"][k - 1] > 1e-9 else big,
            "cash_reconciliation": cash
            - (prev_cash + steps["cfo"][k - 1] + steps["cfi"][k - 1] + steps["cff"][k - 1]),
            "price_export_kg": steps["price_export"][k - 1] * 1000.0,
            "price_domestic_kg": steps["price_domestic"][k - 1] * 1000.0,
        }
        for key, _label, _unit, style in METRIC_ROWS:
            v = quarter[key]
            entries.append((mrow[key], col, text[key], v, style))
            values[key].append(v)
    sh.formulas(entries)

    def span(row: int) -> str:
        return f"{cell_ref(row, COL_Q1)}:{cell_ref(row, last_col)}"

    out: dict[str, tuple[int, int]] = {}
    r = _metric_scalars_top(top)
    tol = 1e-6
    icr_engine = srow.get("min_interest_cover")
    scalars = (
        (
            "min_cash",
            "Minimum cash less revolver over the horizon",
            "CNY mn",
            f"=MIN({span(mrow['cash_less_revolver'])})",
            min(values["cash_less_revolver"]),
            "money",
        ),
        (
            "min_interest_cover",
            "Minimum interest cover over the horizon",
            "times",
            f"=MIN({span(mrow['interest_cover_q'])})" if _is_num(icr_engine) else None,
            min(values["interest_cover_q"]),
            "cover",
        ),
        (
            "first_draw",
            "First revolving draw (projected quarter; none = no draw)",
            "quarter",
            f"=MIN({span(mrow['draw_quarter'])})",
            min(values["draw_quarter"]),
            "quarter",
        ),
        (
            "balance_failures",
            "Quarters whose balance check exceeds k_check_tol",
            "count",
            f"=SUMPRODUCT((ABS({span(rows['balance_check'])})>k_check_tol)*1)",
            float(sum(abs(x) > tol for x in steps["balance_check"])),
            "count",
        ),
        (
            "cash_failures",
            "Quarters whose cash reconciliation exceeds k_check_tol",
            "count",
            f"=SUMPRODUCT((ABS({span(mrow['cash_reconciliation'])})>k_check_tol)*1)",
            float(sum(abs(x) > tol for x in values["cash_reconciliation"])),
            "count",
        ),
    )
    if [(key, label, unit) for key, label, unit, *_rest in scalars] != list(METRIC_SCALARS):
        raise ReportError("workbook layout: the metric block's scalars and METRIC_SCALARS differ")
    for key, _label, _unit, f, v, style in scalars:
        if f is None:
            sh.text(r, COL_OPEN, str(srow.get("interest_cover_status") or "n/a"), "status")
        else:
            sh.formula(r, COL_OPEN, f, v, style)
            out[key] = (r, COL_OPEN)
        r += 1
    return out
