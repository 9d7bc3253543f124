"""The Assumptions sheet: every named input cell of the firm workbook."""

from __future__ import annotations

import functools

from stressmodel.analysis.consolidation import DUMMIES
from stressmodel.inputs.periods import quarter_label
from stressmodel.inputs.scenarios import opening_values
from stressmodel.model.quarter import (
    ALL_FIRM_PARAMS,
)
from stressmodel.model.quarter import (
    CONSTANTS as MODEL_CONSTANTS,
)
from stressmodel.report import catalog
from stressmodel.report.sheets.common import (
    FirmContext,
    _is_num,
    scenario_inputs,
    scenario_prefix,
)
from stressmodel.report.spec import SheetSpec, Validation, WorkbookSpec

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
    sh.text(
        row,
        0,
        "Information: these figures were turned into the firm parameters above when the run was "
        "made; editing them here would drive nothing, so they are not inputs (grey), except the "
        "share count and the share price, which the valuation reads (inputs, named).",
        "note",
    )
    row += 1
    header(["Figure", "Value", "Unit", "Basis", "Defined name", "How obtained"])
    for fig_name, fig in ctx.fb.figures.items():
        if fig_name == "share_price_date":
            continue
        unit, kind = catalog.FIGURE_UNITS.get(fig_name, ("", "number"))
        sh.text(row, 0, fig_name.replace("_", " "))
        if _is_num(fig.value) and fig_name in MARKET_INPUTS:
            sh.number(row, 1, fig.value, f"{kind}/input")
            wb.define(f"b_{fig_name}", sh.name, row, 1)
            sh.text(row, 4, f"b_{fig_name}", "key")
        elif _is_num(fig.value):
            sh.number(row, 1, fig.value, f"{kind}/engine")
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
    # opening cash = liquidity (cash + short-term investments), the model's f_cash0
    debt, cash = ctx.figure("total_debt"), ctx.figure("liquidity")
    if _is_num(debt) and _is_num(cash):
        # one opening cash: the model's f_cash0 (and its opening debt), not a second copy
        sh.formula(row, 1, "=(f_st_debt0+f_lt_debt0)-f_cash0", float(debt) - float(cash), "money")
        wb.define("v_net_debt0", sh.name, row, 1)
        sh.text(row, 4, "v_net_debt0", "key")
    sh.text(row, 2, "CNY mn")
    sh.text(row, 3, "derived")
    sh.text(
        row,
        5,
        "opening debt - opening cash (f_st_debt0 + f_lt_debt0 - f_cash0); opening cash = liquidity "
        "(cash + short-term investments)",
        "wrap",
    )
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
            if p == "start":
                v = s.start_index(r.as_of) - r.as_of
            elif p == "uses_prnd_path":
                v = 1.0 if s.price_path == "prnd" else 0.0
            elif p in ("opening_intensity", "opening_backlog"):
                v = opening_values(s, r.as_of)[0 if p == "opening_intensity" else 1]
            else:
                v = getattr(s, p)
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

    # PrNd oxide path (raw-material driver of scenarios with price_path = "prnd")
    pp = r.extras.get("price_path")
    sh.text(
        row,
        0,
        "PrNd oxide path relative to the as-of quarter (scenarios with price_path = prnd)",
        "section",
    )
    row += 1
    header(["Quarter", "Value", "Unit", "Basis", "Defined name", "Source"])
    for j, q in enumerate(ctx.quarters):
        sh.text(row, 0, f"PrNd oxide price change, {q}")
        sh.number(
            row, 1, pp.change.get(r.as_of + 1 + j, 0.0) if pp is not None else 0.0, "pct/input"
        )
        n = wb.define(f"prnd_change_{q}", sh.name, row, 1)
        sh.text(row, 2, "fraction")
        sh.text(row, 3, "scenario assumption")
        sh.text(row, 4, n, "key")
        sh.text(
            row,
            5,
            f"sector.toml prnd_oxide_price; {pp.status if pp is not None else 'no path'}",
            "wrap",
        )
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
    row += 1

    # constants of the model's equations: the scenario sheets' formulas reference these names
    sh.text(
        row,
        0,
        "Model constants of the projection equations (stressmodel.model.quarter.CONSTANTS)",
        "section",
    )
    row += 1
    header(["Constant", "Value", "Unit", "Basis", "Defined name", "Reasoning"])
    for key, value in MODEL_CONSTANTS.items():
        label, unit, kind, why = catalog.MODEL_CONSTANTS[key]
        sh.text(row, 0, label)
        sh.number(row, 1, value, f"{kind}/input")
        wb.define(f"m_{key}", sh.name, row, 1)
        sh.text(row, 2, unit)
        sh.text(row, 3, "model convention")
        sh.text(row, 4, f"m_{key}", "key")
        sh.text(row, 5, why, "wrap")
        row += 1
    row += 1

    # constants of the workbook's own formulas (checks, runway, interest cover)
    sh.text(
        row, 0, "Workbook constants (checks and summary metrics of the scenario sheets)", "section"
    )
    row += 1
    header(["Constant", "Value", "Unit", "Basis", "Defined name", "Meaning"])
    for key, value, unit, meaning in CONSTANTS:
        sh.text(row, 0, key.removeprefix("k_").replace("_", " "))
        sh.number(row, 1, value, "number/input")
        wb.define(key, sh.name, row, 1)
        sh.text(row, 2, unit)
        sh.text(row, 3, "workbook convention")
        sh.text(row, 4, key, "key")
        sh.text(row, 5, meaning, "wrap")
        row += 1
    for n, (sheet, r_, c_) in wb.names.items():
        if sheet == sh.name and sh.cells[(r_, c_)].style.endswith("/input"):
            lo, hi, integer = input_bounds(n)
            sh.validations.append(
                Validation(
                    r_,
                    c_,
                    {
                        "validate": "integer" if integer else "decimal",
                        "criteria": "between",
                        "minimum": lo,
                        "maximum": hi,
                        "error_title": "Out of range",
                        "error_message": f"{n}: a number between {lo:g} and {hi:g}",
                    },
                )
            )
    sh.freeze = (3, 1)
    sh.widths = {0: 56, 1: 14, 2: 22, 3: 22, 4: 30, 5: 90}
    return sh


#: base figures that stay inputs: the valuation reads them
MARKET_INPUTS = ("shares", "share_price")

#: named constants of the workbook's formulas: (name, value, unit, meaning)
CONSTANTS: tuple[tuple[str, float, str, str], ...] = (
    (
        "k_none",
        1e9,
        "sentinel",
        "stands for 'no value within the horizon' (no revolving draw; no interest expense in a "
        "quarter); shown as 'none' / '> 50x' and ignored by MIN",
    ),
    (
        "k_draw_eps",
        1e-9,
        "CNY mn",
        "a revolving draw larger than this counts as a draw (as stressmodel.analysis.risk)",
    ),
    (
        "k_cny_per_kg",
        1000.0,
        "CNY/kg per CNY mn/tonne",
        "unit conversion of magnet prices: 1 CNY mn per tonne = 1,000 CNY per kg (display rows)",
    ),
    (
        "k_check_tol",
        1e-6,
        "CNY mn",
        "tolerance of the balance and cash checks (LibreOffice snaps ~1e-12 residuals to 0)",
    ),
)

#: (suffix, low, high, integer) bounds of named inputs; checked by data validation and on Checks
BOUNDS: tuple[tuple[str, float, float, bool], ...] = (
    ("_export_shock", 0.0, 1.0, False),
    ("_domestic_shock", 0.0, 1.0, False),
    ("_output_cut", 0.0, 1.0, False),
    ("_permanent_share", 0.0, 1.0, False),
    ("_st_debt_not_rolled", 0.0, 1.0, False),
    ("_price_pass_through", 0.0, 1.0, False),
    ("_storage_cost_rate", 0.0, 1.0, False),
    ("_licence_delay_days", 0.0, 366.0, False),
    ("_duration_quarters", 0.0, 400.0, True),
    ("_recovery_quarters", 0.0, 400.0, True),
    ("_start", -400.0, 400.0, True),
    ("_raw_material_price_change", -1.0, 10.0, False),
    ("f_absorb_ias2", 0.0, 1.0, True),
    ("f_absorb_full", 0.0, 1.0, True),
    ("f_tax_rate", 0.0, 1.0, False),
    ("f_interest_rate", 0.0, 1.0, False),
    ("f_revolver_rate", 0.0, 1.0, False),
    ("v_discount_rate", 0.0, 1.0, False),
    ("v_terminal_growth", -0.5, 0.5, False),
    ("c_base_rate", 0.0, 1.0, False),
    ("trade_loss_", -1.0, 1.0, False),
    ("_deferred_share", 0.0, 1.0, False),
    ("_output_cut_forced", 0.0, 1.0, True),
    ("_uses_prnd_path", 0.0, 1.0, True),
    ("_opening_intensity", 0.0, 1.0, False),
    ("_opening_backlog", 0.0, 400.0, False),
    ("prnd_change_", -1.0, 10.0, False),
    ("m_days_per_quarter", 89.0, 93.0, False),
    ("m_calendar_days_per_business_day", 1.0, 2.0, False),
    ("m_eps_tonnes", 1e-12, 1e-3, False),
)


@functools.lru_cache(maxsize=65_536)  # the same names on every firm's sheets
def input_bounds(name: str) -> tuple[float, float, bool]:
    """(low, high, integer) of a named input: the rate, share and switch bounds, else any
    number (a wide range, so the validation still refuses text)."""
    for key, lo, hi, integer in BOUNDS:
        if name.endswith(key) or (key.endswith("_") and name.startswith(key)) or name == key:
            return lo, hi, integer
    return -1e15, 1e15, False
