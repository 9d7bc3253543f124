"""Firm workbook layout: a pure function from a run to a :class:`WorkbookSpec`.

Sheets, in order: Summary, Assumptions, one sheet per named scenario, Sensitivity, Risk,
Consolidation, Charts, Provenance (and Tracking when the run has a tracking frame).

The scenario sheets are live: :func:`stressmodel.model.quarter.step` runs once per projected
quarter with the Excel back end (:class:`stressmodel.report.formulas.ExcelOps`), firm and
scenario parameters being defined names of input cells on Assumptions and the previous
quarter being the previous column. The first projected column refers to an opening column
(the as-of quarter) of formulas of :func:`stressmodel.model.quarter.opening_state`. The valuation
mirrors :func:`stressmodel.analysis.valuation.dcf`. Every formula carries the engine's value
(:mod:`stressmodel.report.values`) as its cached result.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import polars as pl

from stressmodel import __version__
from stressmodel.analysis.consolidation import COMPONENTS, DUMMIES, Z_CLIP
from stressmodel.errors import ReportError
from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import quarter_end_date, quarter_label
from stressmodel.model.base import FirmBase
from stressmodel.model.quarter import (
    ALL_FIRM_PARAMS,
    SCENARIO_PARAMS,
    STATE,
    opening_state,
    step,
    terminal,
)
from stressmodel.pipeline.result import RunResult
from stressmodel.report import catalog
from stressmodel.report.formulas import (
    ExcelOps,
    Formula,
    RecordingOps,
    call,
    cell_ref,
    col_letter,
    formula_text,
    intensity_formula,
    name,
    raw_material_formula,
    sheet_ref,
)
from stressmodel.report.frames import write_frame
from stressmodel.report.spec import ChartSpec, CondFormat, Range, Series, SheetSpec, WorkbookSpec
from stressmodel.report.values import CaseValues

# scenario sheet columns
COL_LABEL, COL_UNIT, COL_KEY, COL_OPEN, COL_Q1 = 0, 1, 2, 3, 4
HEADER_ROW, QUARTER_ROW = 2, 3
RESERVED_SHEETS = (
    "Summary",
    "Assumptions",
    "Sensitivity",
    "Risk",
    "Consolidation",
    "Charts",
    "Provenance",
    "Tracking",
)
SCENARIO_COLORS = ("#1F4E79", "#C55A11", "#548235", "#7030A0", "#BF9000", "#2E75B6", "#A5A5A5")

#: traffic-light thresholds on the Summary risk columns: (red if, amber if) as criteria
TRAFFIC_NOTE = (
    "Traffic lights: runway red <= 4 quarters, amber <= horizon; interest cover red < 1x, amber "
    "< 2x; "
    "Altman Z'' zone distress red, grey amber, safe green; Ohlson and default probability red "
    ">= 10%, "
    "amber >= 2%; net debt / EBITDA red > 4x, amber > 2.5x; consolidation score red >= 0.6, "
    "amber >= 0.3."
)


@dataclass
class FirmContext:
    result: RunResult
    inputs: Inputs
    ticker: str
    fb: FirmBase
    company: str
    values: dict[str, CaseValues]
    summary: dict[str, dict[str, Any]]
    discount_rate: float
    growth: float
    # positions filled while laying out
    vps_cells: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    cash_rows: dict[str, int] = field(default_factory=dict)
    summary_rows: tuple[int, int, int] = (0, 0, 0)  # header row, first and last scenario row

    @property
    def scenarios(self) -> list[str]:
        return [s.name for s in self.result.scenarios]

    @property
    def quarters(self) -> list[str]:
        return list(self.result.quarters)

    def figure(self, name: str) -> float | None:
        return self.fb.get(name)


# --- helpers --------------------------------------------------------------------------------


def _is_num(v: Any) -> TypeGuard[float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))


def document_properties(as_of: int, title: str, subject: str) -> dict[str, Any]:
    """Fixed document properties: created/modified at the as-of quarter end (UTC midnight),
    so the same inputs give the same file whatever the clock says."""
    end = quarter_end_date(as_of)
    return {
        "title": title,
        "subject": subject,
        "author": f"stressmodel {__version__}",
        "company": "",
        "comments": f"stressmodel {__version__}; as of {quarter_label(as_of)}",
        "created": dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC),
    }


def scenario_inputs() -> list[str]:
    """Scenario parameters shown (and named) on Assumptions: every parameter the model reads
    (model.SCENARIO_PARAMS) and those of the intensity path."""
    path = (
        "start",
        "duration_quarters",
        "recovery_quarters",
        "permanent_share",
        "raw_material_price_change",
    )
    ordered = [p for p in catalog.SCENARIO_ROWS if p in SCENARIO_PARAMS or p in path]
    return ordered + [p for p in (*SCENARIO_PARAMS, *path) if p not in ordered]


def scenario_prefix(scenario: str) -> str:
    return scenario


def line_item_names() -> tuple[list[str], list[str]]:
    """Names of the line items of model.step and of model.terminal, in model order."""
    rec = RecordingOps()
    z = Formula("0")
    f = dict.fromkeys(ALL_FIRM_PARAMS, z)
    s = dict.fromkeys(SCENARIO_PARAMS, z)
    prev = dict.fromkeys(STATE, z)
    step(rec, f, s, prev, {"intensity": z, "raw_material_change": z})
    steps = list(rec.names)
    rec2 = RecordingOps()
    terminal(rec2, f, s, {n: z for n in steps})
    return steps, list(rec2.names)


# --- Assumptions ----------------------------------------------------------------------------


def assumptions_sheet(ctx: FirmContext, wb: WorkbookSpec) -> SheetSpec:
    sh = SheetSpec("Assumptions")
    r = ctx.result
    sh.text(0, 0, f"Assumptions - {ctx.ticker} as of {r.as_of_label}", "title")
    sh.text(
        1,
        0,
        "Blue cells on a light fill are inputs, each with a defined name (column E); editing "
        "one "
        "recomputes the scenario sheets, the valuation and the consolidation index.",
        "note",
    )
    row = 3

    def header(cols: list[str]) -> None:
        nonlocal row
        for j, c in enumerate(cols):
            sh.text(row, j, c, "header")
        row += 1

    # firm parameters
    sh.text(
        row, 0, "Firm parameters of the projection model (per quarter unless stated)", "section"
    )
    row += 1
    header(["Parameter", "Value", "Unit", "Basis", "Defined name", "Source / derivation"])
    for p in ALL_FIRM_PARAMS:
        label, unit, kind, how = catalog.FIRM_PARAMS.get(p, (p, "", "number", ""))
        v = ctx.fb.params[p]
        sh.text(row, 0, label)
        sh.number(row, 1, v, f"{kind}/input")
        wb.define(f"f_{p}", sh.name, row, 1)
        sh.text(row, 2, unit)
        sh.text(
            row,
            3,
            "assumption (sector.toml)"
            if how.startswith("sector.toml")
            else "derived from base figures",
        )
        sh.text(row, 5, how, "wrap")
        sh.text(row, 4, f"f_{p}", "key")
        row += 1
    row += 1

    # base-period figures
    sh.text(
        row,
        0,
        f"Base-period figures (as of {r.as_of_label}; see Provenance for sources)",
        "section",
    )
    row += 1
    header(["Figure", "Value", "Unit", "Basis", "Defined name", "How obtained"])
    for fig_name, fig in ctx.fb.figures.items():
        if fig_name == "share_price_date":
            continue
        unit, kind = catalog.FIGURE_UNITS.get(fig_name, ("", "number"))
        sh.text(row, 0, fig_name.replace("_", " "))
        if _is_num(fig.value):
            sh.number(row, 1, fig.value, f"{kind}/input")
            wb.define(f"b_{fig_name}", sh.name, row, 1)
            sh.text(row, 4, f"b_{fig_name}", "key")
        else:
            sh.text(row, 1, "n/a", "status")
        sh.text(row, 2, unit)
        sh.text(row, 3, fig.basis)
        sh.text(row, 5, fig.how, "wrap")
        row += 1
    price_date = ctx.fb.figures.get("share_price_date")
    if price_date is not None:
        sh.text(row, 0, "share price date")
        sh.text(row, 1, price_date.how)
        sh.text(row, 3, price_date.basis)
        row += 1
    row += 1

    # valuation inputs
    sector = ctx.inputs.sector
    sh.text(row, 0, "Valuation (stressmodel.analysis.valuation.dcf)", "section")
    row += 1
    header(["Input", "Value", "Unit", "Basis", "Defined name", "Source / derivation"])
    for key, label in (
        ("discount_rate", "Discount rate k"),
        ("terminal_growth", "Terminal growth g"),
    ):
        sp = sector.params[key]
        sh.text(row, 0, label)
        sh.number(row, 1, sector.float(key), "pct2/input")
        wb.define(f"v_{key}", sh.name, row, 1)
        sh.text(row, 2, sp.unit)
        sh.text(row, 3, "source" if sp.source else "assumption")
        sh.text(row, 5, sp.provenance, "wrap")
        sh.text(row, 4, f"v_{key}", "key")
        row += 1
    sh.text(row, 0, "Net debt at the as-of quarter")
    debt, cash = ctx.figure("total_debt"), ctx.figure("cash")
    if _is_num(debt) and _is_num(cash):
        sh.formula(row, 1, "=b_total_debt-b_cash", float(debt) - float(cash), "money")
        wb.define("v_net_debt0", sh.name, row, 1)
        sh.text(row, 4, "v_net_debt0", "key")
    sh.text(row, 2, "CNY mn")
    sh.text(row, 3, "derived")
    sh.text(row, 5, "total debt - cash (base figures)", "wrap")
    row += 1
    sh.text(row, 0, "Projection horizon")
    sh.number(row, 1, r.horizon, "count")
    sh.text(row, 2, "quarters")
    sh.text(row, 5, "sector.toml horizon_quarters or --horizon", "wrap")
    row += 2

    # scenario parameters: one block per scenario, the same columns as above
    names = ctx.scenarios
    scen = {s.name: s for s in r.scenarios}
    sh.text(row, 0, "Scenario parameters (inputs/scenarios.toml)", "section")
    row += 1
    header(["Parameter", "Value", "Unit", "Basis", "Defined name", "Source"])
    for sc in names:
        s = scen[sc]
        sh.text(row, 0, f"Scenario {sc} (intensity path: {s.path})", "label_bold")
        sh.text(row, 5, s.description, "wrap")
        row += 1
        for p in scenario_inputs():
            label, unit, kind = catalog.SCENARIO_ROWS.get(p, (p.replace("_", " "), "", "number"))
            v = s.start_index(r.as_of) - r.as_of if p == "start" else getattr(s, p)
            sh.text(row, 0, f"{sc}: {label}")
            sh.number(row, 1, v, f"{kind}/input")
            n = wb.define(f"{scenario_prefix(sc)}_{p}", sh.name, row, 1)
            sh.text(row, 2, unit)
            unused = s.path == "trade" and p in (
                "start",
                "duration_quarters",
                "recovery_quarters",
                "permanent_share",
            )
            sh.text(
                row, 3, "not used (trade path)" if unused and p != "start" else "scenario input"
            )
            sh.text(row, 4, n, "key")
            if p == "start":
                src = f"scenarios.toml start = {s.start!r}: {quarter_label(s.start_index(r.as_of))}"
            else:
                src = f'scenarios.toml {p} (a value "sector" takes the sector.toml value)'
            sh.text(row, 5, src, "wrap")
            row += 1
    row += 1

    # trade-implied loss path
    sh.text(
        row,
        0,
        "Trade-implied export loss by quarter (intensity of trade-path scenarios)",
        "section",
    )
    row += 1
    header(["Quarter", "Value", "Unit", "Basis", "Defined name", "Source"])
    for j, q in enumerate(ctx.quarters):
        sh.text(row, 0, f"Export loss (1 - export index), {q}")
        sh.number(row, 1, r.trade.loss[r.as_of + 1 + j], "pct/input")
        n = wb.define(f"trade_loss_{q}", sh.name, row, 1)
        sh.text(row, 2, "fraction")
        sh.text(row, 3, "actual" if j == 0 and "not fitted" in r.trade.status else "trade path")
        sh.text(row, 4, n, "key")
        sh.text(row, 5, f"inputs/trade.csv; {r.trade.status}", "wrap")
        row += 1
    row += 1

    # consolidation inputs
    priors = r.extras["priors"]
    stats = {row_["component"]: row_ for row_ in r.extras["peer_stats"].iter_rows(named=True)}
    table = {row_["parameter"]: row_ for row_ in ctx.inputs.priors_table}
    sh.text(
        row,
        0,
        "Consolidation index (uncalibrated index): prior weights, base rate and peer statistics",
        "section",
    )
    row += 1
    header(["Input", "Value", "Unit", "Basis", "Defined name", "Source / rationale"])
    sh.text(row, 0, "Base rate pi0 over the horizon (reference firm)")
    sh.number(row, 1, priors.base_rate, "pct/input")
    wb.define("c_base_rate", sh.name, row, 1)
    sh.text(row, 2, f"probability over {priors.horizon_years:g} years")
    sh.text(row, 3, "prior")
    sh.text(row, 5, table.get("base_rate", {}).get("rationale", ""), "wrap")
    sh.text(row, 4, "c_base_rate", "key")
    row += 1
    for comp in priors.weights:
        sh.text(row, 0, f"Weight: {catalog.CONSOLIDATION_LABELS.get(comp, comp)}")
        sh.number(row, 1, priors.weights[comp], "ratio/input")
        wb.define(f"c_w_{comp}", sh.name, row, 1)
        sh.text(row, 2, "log-odds per peer SD" if comp not in DUMMIES else "log-odds per unit")
        sh.text(row, 3, "prior")
        sh.text(row, 5, table.get(f"w_{comp}", {}).get("rationale", ""), "wrap")
        sh.text(row, 4, f"c_w_{comp}", "key")
        row += 1
    for comp in priors.weights:
        st = stats.get(comp)
        if comp in DUMMIES or st is None:
            continue
        for what in ("median", "scale"):
            sh.text(row, 0, f"Peer {what}: {catalog.CONSOLIDATION_LABELS.get(comp, comp)}")
            v = st[what]
            if _is_num(v):
                sh.number(row, 1, v, "ratio/input")
                wb.define(f"c_{what}_{comp}", sh.name, row, 1)
                sh.text(row, 4, f"c_{what}_{comp}", "key")
            else:
                sh.text(row, 1, "n/a", "status")
            sh.text(row, 3, "peer universe")
            sh.text(
                row,
                5,
                f"{st['n']} runnable firms at the last actual period; scale = 1.4826 x MAD; "
                f"{st['status']}",
                "wrap",
            )
            row += 1
    sh.freeze = (3, 1)
    sh.widths = {0: 56, 1: 14, 2: 22, 3: 22, 4: 30, 5: 90}
    return sh


# --- scenario sheets ------------------------------------------------------------------------


def _allocate_rows(
    steps: list[str], tv_names: list[str]
) -> tuple[dict[str, int], list[tuple[int, str]], int, int]:
    """Row of every line item; (row, title) of section headers; the valuation rows."""
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
    return rows, sections, block, r


def scenario_sheet(ctx: FirmContext, scenario: str) -> SheetSpec:
    r = ctx.result
    sc = next(s for s in r.scenarios if s.name == scenario)
    cv = ctx.values[scenario]
    sh = SheetSpec(scenario)
    steps, tv_names = line_item_names()
    rows, sections, block, _end = _allocate_rows(steps, tv_names)
    last_col = COL_Q1 + r.horizon - 1
    prefix = scenario_prefix(scenario)

    sh.text(
        0, 0, f"{ctx.ticker} - scenario {scenario}: quarterly projection (live formulas)", "title"
    )
    sh.text(1, 0, sc.description, "note")
    for c, t in ((COL_LABEL, "Line item"), (COL_UNIT, "Unit"), (COL_KEY, "Engine column")):
        sh.text(HEADER_ROW, c, t, "header")
    sh.text(HEADER_ROW, COL_OPEN, r.as_of_label, "header_num")
    for k, q in enumerate(ctx.quarters):
        sh.text(HEADER_ROW, COL_Q1 + k, q, "header_num")
    sh.text(
        QUARTER_ROW,
        COL_LABEL,
        f"Quarter number (0 = {r.as_of_label}, the as-of quarter: opening balances)",
        "label",
    )
    sh.text(QUARTER_ROW, COL_KEY, "step", "key")
    for k in range(r.horizon + 1):
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

    def style(n: str) -> str:
        return catalog.item_info(n).kind

    # opening column: formulas of model.opening_state on the named firm parameters
    f = {p: name(f"f_{p}") for p in ALL_FIRM_PARAMS}
    s = {p: name(f"{prefix}_{p}") for p in SCENARIO_PARAMS}
    for n, expr in opening_state(f).items():
        sh.formula(rows[n], COL_OPEN, formula_text(expr), cv.opening[n], style(n))
    prev: dict[str, Any] = {n: Formula(cell_ref(rows[n], COL_OPEN)) for n in STATE}

    # projected quarters: model.step with the Excel back end
    k_disc = name("v_discount_rate")
    for k in range(1, r.horizon + 1):
        col = COL_Q1 + k - 1
        qn = Formula(f"{col_letter(col)}${QUARTER_ROW + 1}")
        if sc.path == "trade":
            inten: Formula = name(f"trade_loss_{ctx.quarters[k - 1]}")
        else:
            inten = intensity_formula(qn, prefix)
        d = {"intensity": inten, "raw_material_change": raw_material_formula(qn, prefix)}
        ops = ExcelOps(sh, rows, col, cv.at(k), style)
        prev = step(ops, f, s, prev, d)
        # valuation per quarter: discount factor (1 + k)^(-step/4) and PV of FCF
        df = Formula(f"((1+{k_disc.text})^((-{qn.text})/4))")
        sh.formula(rows["discount_factor"], col, formula_text(df), cv.discount[k - 1], "factor")
        pv = Formula(cell_ref(rows["fcf"], col)) * Formula(cell_ref(rows["discount_factor"], col))
        sh.formula(
            rows["pv_fcf"],
            col,
            formula_text(pv),
            cv.steps["fcf"][k - 1] * cv.discount[k - 1],
            "money",
        )
    for n, label, unit, key in (
        ("discount_factor", "Discount factor (1 + k)^(-quarter/4)", "factor", "discount_factor"),
        ("pv_fcf", "Present value of free cash flow", "CNY mn", "pv_fcf"),
    ):
        sh.text(rows[n], COL_LABEL, label)
        sh.text(rows[n], COL_UNIT, unit)
        sh.text(rows[n], COL_KEY, key, "key")

    # terminal quarter on the last column (model.terminal), values in the Value column
    last = {n: Formula(cell_ref(rows[n], last_col, absolute=True)) for n in steps}
    ops = ExcelOps(sh, rows, COL_OPEN, cv.terminal, style)
    terminal(ops, f, s, last)

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
    debt, cash = ctx.figure("total_debt"), ctx.figure("cash")
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
    sh.freeze = (QUARTER_ROW + 1, COL_OPEN)
    sh.repeat_rows = (HEADER_ROW, QUARTER_ROW)
    sh.widths = {COL_LABEL: 50, COL_UNIT: 13, COL_KEY: 22}
    sh.width(COL_OPEN, last_col, 12)
    return sh


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


def _traffic(
    sh: SheetSpec, r0: int, r1: int, c: int, rules: list[tuple[str, dict[str, Any]]]
) -> None:
    for style, crit in rules:
        sh.cond_formats.append(CondFormat(r0, c, r1, c, {**crit, "format": style}))


def traffic_rules(horizon: int) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Traffic lights of the risk columns (red, amber, green), one rule set per column."""

    def cell(criteria: str, value: float) -> dict[str, Any]:
        return {"type": "cell", "criteria": criteria, "value": value}

    def text(value: str) -> dict[str, Any]:
        return {"type": "text", "criteria": "containing", "value": value}

    probability = [
        ("cf_red", cell(">=", 0.1)),
        ("cf_amber", cell(">=", 0.02)),
        ("cf_green", cell("<", 0.02)),
    ]
    score = [
        ("cf_red", cell(">=", 0.6)),
        ("cf_amber", cell(">=", 0.3)),
        ("cf_green", cell("<", 0.3)),
    ]
    return {
        "cash_runway_quarters": [
            ("cf_green", text("none")),
            ("cf_red", cell("<=", 4)),
            ("cf_amber", cell("<=", horizon)),
        ],
        "min_interest_cover": [
            ("cf_red", cell("<", 1)),
            ("cf_amber", cell("<", 2)),
            ("cf_green", cell(">=", 2)),
        ],
        "altman_zone": [
            ("cf_red", text("distress")),
            ("cf_amber", text("grey")),
            ("cf_green", text("safe")),
        ],
        "ohlson_probability": probability,
        "default_probability": probability,
        "net_debt_to_ebitda": [
            ("cf_red", cell(">", 4)),
            ("cf_amber", cell(">", 2.5)),
            ("cf_green", cell("<=", 2.5)),
        ],
        "consolidation_score": score,
        "consolidation_low": score,
        "consolidation_high": score,
    }


def risk_traffic_lights(
    sh: SheetSpec, r0: int, r1: int, col_of: dict[str, int], horizon: int
) -> None:
    """Apply :func:`traffic_rules` to every risk column the sheet has (rows r0..r1)."""
    for column, rules in traffic_rules(horizon).items():
        if column in col_of:
            _traffic(sh, r0, r1, col_of[column], rules)


def input_hashes(sh: SheetSpec, row: int, inputs: Inputs) -> int:
    """A File / SHA-256 table of every input file from ``row``; returns the row after it
    (one blank row left)."""
    sh.text(row, 0, "File", "header")
    sh.text(row, 1, "SHA-256", "header")
    row += 1
    for path, digest in sorted(inputs.file_hashes.items()):
        sh.text(row, 0, path)
        sh.text(row, 1, digest, "key")
        row += 1
    return row + 1


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


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if _is_num(v) else "n/a"


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


# --- Consolidation --------------------------------------------------------------------------


def consolidation_sheet(ctx: FirmContext, wb: WorkbookSpec) -> SheetSpec:
    r = ctx.result
    sh = SheetSpec("Consolidation")
    priors = r.extras["priors"]
    scored = {
        x["scenario"]: x
        for x in r.extras["consolidation"]
        .filter(pl.col("ticker") == ctx.ticker)
        .iter_rows(named=True)
    }
    sh.text(0, 0, f"{ctx.ticker} - consolidation likelihood: uncalibrated index", "title")
    sh.text(1, 0, "uncalibrated index", "label_bold")
    sh.text(
        2,
        0,
        "eta = logit(base rate) + sum of weight x z; score = 1 / (1 + exp(-eta)); z = clip((x - "
        "peer median) "
        "/ peer scale, -3, 3) for continuous components, the value itself for dummies. Weights, "
        "base rate and "
        "peer statistics are inputs on Assumptions; raw component values are the engine's "
        "(grey); the band is "
        "the engine's Monte Carlo over weights and base rate.",
        "note",
    )
    row = 4
    comps = [c for c in COMPONENTS if c in priors.weights]
    for scen in ctx.scenarios:
        x = scored.get(scen)
        sh.text(row, 0, f"Scenario {scen}", "section")
        for j in range(1, 7):
            sh.text(row, j, "", "section")
        row += 1
        for j, head in enumerate(
            ("Component", "Raw value", "Peer median", "Peer scale", "z", "Weight", "Contribution")
        ):
            sh.text(row, j, head, "header")
        row += 1
        if x is None:
            sh.text(row, 0, "n/a: not scored", "status")
            row += 2
            continue
        live = x.get("score_status") == "ok" and all(_is_num(x.get(f"z_{c}")) for c in comps)
        contrib_cells = []
        for c in comps:
            sh.text(row, 0, catalog.CONSOLIDATION_LABELS.get(c, c))
            sh.number(row, 1, x.get(c), "ratio/engine")
            raw = Formula(cell_ref(row, 1))
            if c in DUMMIES:
                sh.text(row, 2, "dummy", "status")
                sh.text(row, 3, "dummy", "status")
                z: Formula = raw
            else:
                for j, what in ((2, "median"), (3, "scale")):
                    n = f"c_{what}_{c}"
                    if n in wb.names:
                        sh.formula(row, j, f"={n}", _name_value(wb, n), "ratio")
                    else:
                        sh.text(row, j, "n/a", "status")
                stats_ok = (
                    f"c_median_{c}" in wb.names
                    and f"c_scale_{c}" in wb.names
                    and _name_value(wb, f"c_scale_{c}") > 0
                )
                # no peer dispersion: z = 0, as stressmodel.analysis.consolidation does
                z = (
                    call(
                        "MAX",
                        -Z_CLIP,
                        call("MIN", Z_CLIP, (raw - name(f"c_median_{c}")) / name(f"c_scale_{c}")),
                    )
                    if stats_ok
                    else Formula("0")
                )
            if live:
                sh.formula(row, 4, formula_text(z), x[f"z_{c}"], "ratio")
                sh.formula(row, 5, f"=c_w_{c}", priors.weights[c], "ratio")
                sh.formula(
                    row,
                    6,
                    formula_text(name(f"c_w_{c}") * Formula(cell_ref(row, 4))),
                    x[f"contrib_{c}"],
                    "ratio",
                )
            else:
                sh.number(row, 4, x.get(f"z_{c}"), "ratio/engine")
                sh.number(row, 5, priors.weights[c], "ratio/engine")
                sh.number(row, 6, x.get(f"contrib_{c}"), "ratio/engine")
            contrib_cells.append(cell_ref(row, 6))
            row += 1
        first, lastc = contrib_cells[0], contrib_cells[-1]
        rows_out = (
            ("Base rate pi0 (reference firm)", "=c_base_rate", priors.base_rate, "pct"),
            ("Intercept logit(pi0)", "=LN(c_base_rate/(1-c_base_rate))", priors.intercept, "ratio"),
            (
                "eta = intercept + sum of contributions",
                f"={cell_ref(row + 1, 6)}+SUM({first}:{lastc})",
                x.get("eta"),
                "ratio",
            ),
            (
                "Consolidation score 1/(1+exp(-eta))",
                f"=1/(1+EXP(-{cell_ref(row + 2, 6)}))",
                x.get("consolidation_score"),
                "score",
            ),
        )
        for i, (label, formula, value, kind) in enumerate(rows_out):
            sh.text(row + i, 0, label, "label_bold" if i == 3 else "label")
            if live and _is_num(value):
                sh.formula(row + i, 6, formula, float(value), kind)
            else:
                sh.value(
                    row + i,
                    6,
                    value if value is not None else x.get("score_status"),
                    f"{kind}/engine",
                )
        row += len(rows_out)
        for label, key in (
            ("Band low (Monte Carlo)", "consolidation_low"),
            ("Band median", "consolidation_median"),
            ("Band high", "consolidation_high"),
            ("Rank among the firms of the run (1 = most likely)", "rank_point"),
            ("Rank stability (share of draws)", "rank_stability"),
        ):
            sh.text(row, 0, label)
            sh.number(row, 6, x.get(key), ("count" if key == "rank_point" else "score") + "/engine")
            row += 1
        sh.text(row, 0, "Status")
        sh.text(row, 6, str(x.get("score_status")), "status")
        row += 2
    sh.freeze = (4, 1)
    sh.widths = {0: 52, 1: 12, 2: 12, 3: 12, 4: 12, 5: 12, 6: 14}
    return sh


def _name_value(wb: WorkbookSpec, n: str) -> float:
    sheet, row, col = wb.names[n]
    for s in wb.sheets:
        if s.name == sheet:
            return float(s.cells[(row, col)].value)
    raise ReportError(f"workbook layout: defined name {n} points to a missing sheet")


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


# --- Provenance -----------------------------------------------------------------------------


def provenance_sheet(ctx: FirmContext) -> SheetSpec:
    r = ctx.result
    inputs = ctx.inputs
    sh = SheetSpec("Provenance")
    sh.text(0, 0, f"{ctx.ticker} - provenance", "title")
    row = 2
    sh.text(row, 0, "Run", "section")
    sh.text(row, 1, "", "section")
    row += 1
    run_facts: list[tuple[str, Any]] = [
        ("As-of quarter", r.as_of_label),
        ("As-of date (quarter end)", quarter_end_date(r.as_of).isoformat()),
        ("Projected quarters", ", ".join(r.quarters)),
        ("Horizon (quarters)", r.horizon),
        ("Firms in the run", ", ".join(r.tickers)),
        ("Peer universe (runnable firms)", ", ".join(r.extras.get("universe", []))),
        ("Package version", f"stressmodel {__version__}"),
        ("Discount rate", inputs.sector.float("discount_rate")),
        ("Terminal growth", inputs.sector.float("terminal_growth")),
        ("Named scenarios", ", ".join(ctx.scenarios)),
        ("Sensitivity grid", f"{len(r.grid)} scenarios"),
        ("Trade-implied path", r.trade.status),
        ("FX and deflator", r.extras.get("fx_note", "")),
        (
            "Firms with data later than the as-of quarter",
            ", ".join(f"{t} ({q})" for t, q in sorted(r.later_data.items())) or "none",
        ),
    ]
    for label, value in run_facts:
        sh.text(row, 0, label)
        if isinstance(value, str):
            sh.text(row, 1, value)
        else:
            sh.number(row, 1, value, "pct2" if isinstance(value, float) else "count")
        row += 1
    row += 1
    sh.text(row, 0, "Input files", "section")
    sh.text(row, 1, "", "section")
    row += 1
    row = input_hashes(sh, row, inputs)
    sh.text(
        row,
        0,
        "Base figures used: value, basis (reported / derived / estimated), how, sources",
        "section",
    )
    for j in range(1, 5):
        sh.text(row, j, "", "section")
    row += 1
    for j, h in enumerate(("Figure", "Value", "Basis", "How obtained", "Sources")):
        sh.text(row, j, h, "header")
    row += 1
    for fig_name, fig in ctx.fb.figures.items():
        kind = catalog.FIGURE_UNITS.get(fig_name, ("", "number"))[1]
        sh.text(row, 0, fig_name)
        if fig_name == "share_price_date":
            sh.text(row, 1, fig.how)
        else:
            sh.number(row, 1, fig.value, f"{kind}/engine")
        sh.text(row, 2, fig.basis)
        sh.text(row, 3, fig.how, "text")
        sh.text(row, 4, "; ".join(fig.sources) if fig.sources else "-", "text")
        row += 1
    row += 1
    est = sorted(n for n, f in ctx.fb.figures.items() if f.basis == "estimated")
    der = sorted(n for n, f in ctx.fb.figures.items() if f.basis == "derived")
    sh.text(row, 0, "Estimated figures (peer medians or assumptions)")
    sh.text(row, 1, ", ".join(est) or "none")
    row += 1
    sh.text(row, 0, "Derived figures (computed from reported figures)")
    sh.text(row, 1, ", ".join(der) or "none")
    row += 1
    for note in ctx.fb.notes:
        sh.text(row, 0, "Note")
        sh.text(row, 1, note)
        row += 1
    reg = inputs.firm(ctx.ticker)
    for key in ("ownership", "ownership_source", "upstream_tie_source", "note"):
        sh.text(row, 0, f"firms.csv {key}")
        sh.text(row, 1, "" if reg.get(key) is None else str(reg.get(key)))
        row += 1
    stmt = inputs.statement_files.get(ctx.ticker)
    sh.text(row, 0, "Statements file")
    sh.text(row, 1, stmt or "n/a")
    row += 2
    sh.text(row, 0, "Sector assumptions (sector.toml)", "section")
    for j in range(1, 4):
        sh.text(row, j, "", "section")
    row += 1
    for j, h in enumerate(("Parameter", "Value", "Unit", "Source or assumption")):
        sh.text(row, j, h, "header")
    row += 1
    for pname, p in inputs.sector.params.items():
        sh.text(row, 0, pname)
        if _is_num(p.value):
            sh.number(row, 1, p.value, "number")
        elif p.points:
            sh.text(row, 1, f"{len(p.points)} dated points")
        else:
            sh.text(row, 1, str(p.value))
        sh.text(row, 2, p.unit)
        sh.text(row, 3, p.provenance)
        row += 1
    row += 1
    sh.text(row, 0, "Scenario descriptions (scenarios.toml)", "section")
    sh.text(row, 1, "", "section")
    row += 1
    for s in r.scenarios:
        sh.text(row, 0, s.name)
        sh.text(row, 1, s.description)
        row += 1
    sh.freeze = (1, 0)
    sh.widths = {0: 48, 1: 70, 2: 16, 3: 60, 4: 60}
    return sh


# --- the firm workbook ----------------------------------------------------------------------


def firm_workbook(ctx: FirmContext) -> WorkbookSpec:
    """The workbook spec of one firm (pure)."""
    r = ctx.result
    clash = [s for s in ctx.scenarios if s.lower() in {x.lower() for x in RESERVED_SHEETS}]
    if clash:
        raise ReportError(
            f"workbook layout: scenario names {clash} collide with sheet names {RESERVED_SHEETS}"
        )
    wb = WorkbookSpec(
        f"{ctx.ticker}.xlsx",
        [],
        properties=document_properties(
            r.as_of, f"{ctx.ticker} stress test as of {r.as_of_label}", "stressmodel firm workbook"
        ),
    )
    assumptions = assumptions_sheet(ctx, wb)
    wb.sheets.append(assumptions)
    scen_sheets = [scenario_sheet(ctx, s) for s in ctx.scenarios]
    summary = summary_sheet(ctx)
    sensitivity = sensitivity_sheet(ctx)
    risk = risk_sheet(ctx)
    consolidation = consolidation_sheet(ctx, wb)
    charts = charts_sheet(ctx, ctx.summary_rows)
    provenance = provenance_sheet(ctx)
    sheets = [
        summary,
        assumptions,
        *scen_sheets,
        sensitivity,
        risk,
        consolidation,
        charts,
        provenance,
    ]
    tracking = r.extras.get("tracking")
    if isinstance(tracking, pl.DataFrame):
        tr = SheetSpec("Tracking")
        tr.text(0, 0, f"{ctx.ticker} - tracking", "title")
        frame = (
            tracking.filter(pl.col("ticker") == ctx.ticker)
            if "ticker" in tracking.columns
            else tracking
        )
        if frame.height:
            write_frame(tr, frame, 2)
        else:
            tr.text(2, 0, "n/a: no tracking rows for this firm", "status")
        tr.freeze = (3, 0)
        sheets.append(tr)
    summary.tab_color = "#1F4E79"
    assumptions.tab_color = "#FFC000"
    wb.sheets = sheets
    return wb


def firm_context(
    result: RunResult, inputs: Inputs, ticker: str, values: Mapping[tuple[str, str], CaseValues]
) -> FirmContext:
    fb = result.bases.firms[ticker]
    summary = {
        x["scenario"]: x
        for x in result.summary.filter(
            (pl.col("ticker") == ticker) & (pl.col("scenario_kind") == "named")
        ).iter_rows(named=True)
    }
    names = [s.name for s in result.scenarios]
    missing = [s for s in names if s not in summary]
    if missing:
        raise ReportError(f"workbook layout: no summary row for {ticker} under {missing}")
    return FirmContext(
        result=result,
        inputs=inputs,
        ticker=ticker,
        fb=fb,
        company=str(inputs.firm(ticker).get("company_name") or ""),
        values={s: values[(ticker, s)] for s in names},
        summary=summary,
        discount_rate=inputs.sector.float("discount_rate"),
        growth=inputs.sector.float("terminal_growth"),
    )
