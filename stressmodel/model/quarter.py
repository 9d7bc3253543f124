"""The quarterly projection model, written once for three back ends.

:func:`step` holds every equation of one projected quarter. It is written against a
small interface (:class:`Ops`): ``let`` names an intermediate line item, ``max``/``min``
are the only branches (they are continuous, so a spreadsheet's approximate arithmetic
near zero cannot flip a result). Three back ends evaluate it:

- :mod:`stressmodel.model.engine` with polars expressions: all firms x scenarios at once, a
  Python loop over quarters only;
- :mod:`stressmodel.model.reference` with plain floats: loops over firms, scenarios, quarters
  (the naive reference of the benchmark, and a cross-check);
- :mod:`stressmodel.report.formulas` with Excel formula text: the live scenario sheets.

Units: money in CNY mn per quarter, volumes in tonnes per quarter, prices in CNY mn per
tonne, rates per year unless the name says otherwise. See docs/model.md for the
economics of every equation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

#: constants of the equations, passed to :func:`step` and :func:`terminal` as ``c`` (the engine,
#: the kernels and the float reference read these values; the workbook makes each a named
#: input on Assumptions, ``m_<name>``, that its formulas reference). Values are Python floats, so
#: the engine's expressions (and its numbers) are those of literal constants.
CONSTANTS: dict[str, float] = {
    # calendar days in a quarter (365 / 4 = 91.25 rounded to whole days): the day base of
    # receivable, payable and stock days
    "days_per_quarter": 91.0,
    # calendar days per business day: 7 per 5-day working week. It converts the licence delay
    # (business days, as the licence rules count it) into receivable days (calendar). It is
    # not 91 / business_days_per_quarter (91 / 62 = 1.47): the 62 business days of a quarter
    # (sector.toml) are the 65 weekdays of 91 days (91 x 5 / 7) less about 3 public holidays,
    # and a delay of a few weeks seldom spans a holiday, so weekends alone are converted
    # (62 x 1.4 = 86.8 calendar days; the 4.2 short of 91 are the holidays' 3 x 1.4)
    "calendar_days_per_business_day": 7.0 / 5.0,
    # floor of the tonnes in the average-cost denominator (no division by zero when stock
    # and production are both nil); far below any real volume
    "eps_tonnes": 1e-9,
}
CONSTANT_PARAMS: tuple[str, ...] = tuple(CONSTANTS)
DAYS_PER_QUARTER = CONSTANTS["days_per_quarter"]
CALENDAR_PER_BUSINESS_DAY = CONSTANTS["calendar_days_per_business_day"]
EPS_TONNES = CONSTANTS["eps_tonnes"]

#: per-firm structural parameters (one value per firm), as the engine needs them
FIRM_PARAMS: tuple[str, ...] = (
    "q_export0",  # normal export sales volume, tonnes/quarter
    "q_domestic0",  # normal domestic sales volume, tonnes/quarter
    "price_export0",  # export price, CNY mn/tonne
    "price_domestic0",  # domestic price, CNY mn/tonne
    "unit_variable_cost0",  # variable cost, CNY mn/tonne
    "unit_fixed_cost",  # fixed manufacturing overhead per tonne at normal capacity
    "normal_production",  # normal capacity N, tonnes/quarter
    "fixed_overhead",  # fixed manufacturing overhead F_m, CNY mn/quarter
    "opex",  # SG&A, R&D and other operating costs net (incl. their D&A), CNY mn/quarter
    "depreciation",  # D&A, CNY mn/quarter
    "inventory_tonnes0",  # opening inventory, tonne-equivalents at unit cost
    "inventory0",  # opening inventory, CNY mn
    "dso_days",  # receivable days (capped)
    "dpo_days",  # payable days of variable purchases
    "interest_rate",  # on bank debt, per year
    "revolver_rate",  # on revolving draws, per year
    "tax_rate",
    "min_cash",  # CNY mn
    "capex_to_da",
    "st_maturing_per_quarter",
    "business_days_per_quarter",
    "licence_dso_share",
    "workoff_rate",
    "raw_material_share",
    "absorb_ias2",  # 1 under IAS 2 normal capacity, else 0
    "absorb_full",  # 1 under full absorption, else 0 (both 0: variable costing)
    "max_dso_days",
    "other_current_assets",
    "other_current_liabilities",
    "other_noncurrent_liabilities",
    "export_reference_ratio",  # reference export level / run-rate export level (>= 1), see docs/model.md
    "min_inventory_days",  # free stock never below these days of sales (0: no floor)
)

#: per-case (firm x scenario) shock parameters
SCENARIO_PARAMS: tuple[str, ...] = (
    "export_shock",
    "domestic_shock",
    "output_cut",
    "storage_cost_rate",
    "licence_delay_days",
    "price_pass_through",
    "st_debt_not_rolled",
    "deferred_share",  # share of lost export demand that ships later (catch-up)
    "output_cut_forced",  # 1: production is cut by output_cut whatever demand; 0: production follows demand
    "opening_intensity",  # intensity of a dated path in the as-of quarter (its goods held for licences are in the actual stock)
    "opening_backlog",  # path factor of the deferred exports carried from the actual quarters (x deferred share x shock)
)

#: state carried from one quarter to the next, with the firm parameter (or expression
#: in :func:`opening_state`) that gives its opening value
STATE: tuple[str, ...] = (
    "held_goods",
    "excess_stock",
    "export_backlog",
    "inventory_tonnes",
    "inventory",
    "export_revenue",
    "domestic_revenue",
    "purchases",
    "receivables",
    "payables",
    "tax_payable",
    "cash",
    "st_debt",
    "lt_debt",
    "revolver",
    "equity",
    "other_noncurrent_assets",
)

#: per-quarter drivers
DRIVERS: tuple[str, ...] = ("intensity", "raw_material_change")


class Ops(Protocol):
    def let(self, name: str, value: Any) -> Any: ...
    def max(self, *values: Any) -> Any: ...
    def min(self, *values: Any) -> Any: ...


def lag_weights(ops: Ops, days: Any, c: Mapping[str, Any] = CONSTANTS) -> tuple[Any, Any]:
    """Share of this quarter's and last quarter's flow still outstanding for ``days`` of
    outstanding days (<= 182): a = min(D, 91)/91, b = min(max(D - 91, 0), 91)/91.

    With these weights collections depend only on past revenue with non-negative weights,
    so a revenue fall never raises cash collected (docs/model.md, working capital).
    """
    dq = c["days_per_quarter"]
    a = ops.min(days, dq) / dq
    b = ops.min(ops.max(days - dq, 0.0), dq) / dq
    return a, b


def step(
    ops: Ops,
    f: dict[str, Any],
    s: dict[str, Any],
    prev: dict[str, Any],
    d: dict[str, Any],
    c: Mapping[str, Any] = CONSTANTS,
) -> dict[str, Any]:
    """One projected quarter. ``f`` firm parameters, ``s`` scenario parameters, ``prev``
    the state at the end of the previous quarter, ``d`` this quarter's drivers, ``c`` the
    constants of the equations (:data:`CONSTANTS`, or their names in the workbook).

    Returns every line item (the state at the end of the quarter included).
    """
    L = ops.let
    i = L("intensity", d["intensity"])
    # channels other than export demand take the intensity bounded to [0, 1] (the trade
    # path can exceed the reference level, a negative export loss)
    ic = ops.min(ops.max(i, 0.0), 1.0)
    export_loss = L("export_loss", s["export_shock"] * i)
    domestic_loss = L("domestic_loss", s["domestic_shock"] * ic)
    cut = L("output_cut", s["output_cut"] * ic)
    delay = L("licence_delay", s["licence_delay_days"] * ic)
    rm = L("raw_material_change", d["raw_material_change"])

    # prices: raw-material cost change, passed through to magnet prices in CNY per tonne
    uvc = L("unit_variable_cost", f["unit_variable_cost0"] * (1 + f["raw_material_share"] * rm))
    pass_through = s["price_pass_through"] * (uvc - f["unit_variable_cost0"])
    p_x = L("price_export", f["price_export0"] + pass_through)
    p_d = L("price_domestic", f["price_domestic0"] + pass_through)

    # volumes (tonnes): export demand measured from the reference level (not the run-rate,
    # which may already hold part of the shock), plus deferred orders released as licences
    # arrive; goods held for licences (Little's law), shipments
    ref_x = L("export_reference_demand", f["q_export0"] * f["export_reference_ratio"])
    lost_x = L("export_demand_lost", ref_x * ops.max(export_loss, 0.0))
    released = L("deferred_exports_released", prev["export_backlog"] * (1 - ic))
    backlog = L("export_backlog", prev["export_backlog"] - released + s["deferred_share"] * lost_x)
    dem_x = L("demand_export", ref_x * (1 - export_loss) + released)
    dem_d = L("demand_domestic", f["q_domestic0"] * (1 - domestic_loss))
    held_frac = L("held_fraction", ops.min(delay / f["business_days_per_quarter"], 1.0))
    held = L("held_goods", dem_x * held_frac)
    sales_x = L("sales_volume_export", dem_x - held + prev["held_goods"])
    sales_d = L("sales_volume_domestic", dem_d)
    sales = L("sales_volume", sales_x + sales_d)
    # free stock above the as-of level at the end of last quarter (goods held for licences
    # excluded); production plans react to it one planning cycle later: the work-off in
    # quarter t is set on the excess measured at the end of quarter t-2
    excess = L(
        "excess_stock",
        ops.max(prev["inventory_tonnes"] - prev["held_goods"] - f["inventory_tonnes0"], 0.0),
    )
    workoff = f["workoff_rate"] * prev["excess_stock"]
    # a forced cut fixes production at N (1 - cut); otherwise production follows orders
    # (goods held for licences included), less the stock worked off: the cut is the demand loss
    forced = s["output_cut_forced"]
    planned = L(
        "planned_production",
        forced * (f["normal_production"] * (1 - cut) - workoff)
        + (1 - forced) * (dem_x + dem_d - workoff),
    )
    # free stock never falls below the minimum days of sales
    min_stock = L("minimum_stock", f["min_inventory_days"] / c["days_per_quarter"] * sales)
    production = L(
        "production_volume",
        ops.max(planned, sales + held + min_stock - prev["inventory_tonnes"], 0.0),
    )
    inv_t = L("inventory_tonnes", prev["inventory_tonnes"] + production - sales)

    # costs: absorption of fixed overhead, weighted-average inventory
    absorbed = L(
        "absorbed_overhead",
        f["absorb_ias2"] * ops.min(f["unit_fixed_cost"] * production, f["fixed_overhead"])
        + f["absorb_full"] * f["fixed_overhead"],
    )
    unabsorbed = L("unabsorbed_overhead", f["fixed_overhead"] - absorbed)
    prod_cost = L("production_cost", uvc * production + absorbed)
    avg_cost = L(
        "average_unit_cost",
        (prev["inventory"] + prod_cost)
        / ops.max(prev["inventory_tonnes"] + production, c["eps_tonnes"]),
    )
    cogs_goods = L("cost_of_goods_sold", avg_cost * sales)
    inventory = L("inventory", prev["inventory"] + prod_cost - cogs_goods)
    cogs = L("cogs", cogs_goods + unabsorbed)

    # income statement
    rev_x = L("export_revenue", p_x * sales_x)
    rev_d = L("domestic_revenue", p_d * sales_d)
    revenue = L("revenue", rev_x + rev_d)
    gross = L("gross_profit", revenue - cogs)
    # storage, insurance and obsolescence on the stock built above the as-of level,
    # average of opening and closing, valued at the normal unit cost (a physical measure,
    # the same whatever the absorption convention)
    storage = L(
        "storage_cost",
        s["storage_cost_rate"]
        / 4
        * (f["unit_variable_cost0"] + f["unit_fixed_cost"])
        * (
            ops.max(prev["inventory_tonnes"] - f["inventory_tonnes0"], 0.0)
            + ops.max(inv_t - f["inventory_tonnes0"], 0.0)
        )
        / 2,
    )
    opex = L("opex", f["opex"])
    ebit = L("ebit", gross - opex - storage)
    da = L("depreciation", f["depreciation"])
    L("ebitda", ebit + da)
    interest = L(
        "interest_expense",
        f["interest_rate"] / 4 * (prev["st_debt"] + prev["lt_debt"])
        + f["revolver_rate"] / 4 * prev["revolver"],
    )
    ebt = L("ebt", ebit - interest)
    tax = L("tax", f["tax_rate"] * ops.max(ebt, 0.0))
    ni = L("net_income", ebt - tax)

    # working capital
    dso_x = L(
        "dso_export",
        ops.min(
            f["dso_days"] + f["licence_dso_share"] * delay * c["calendar_days_per_business_day"],
            f["max_dso_days"],
        ),
    )
    ax, bx = lag_weights(ops, dso_x, c)
    ad, bd = lag_weights(ops, f["dso_days"], c)
    ar = L(
        "receivables",
        rev_x * ax + prev["export_revenue"] * bx + rev_d * ad + prev["domestic_revenue"] * bd,
    )
    purchases = L("purchases", uvc * production)
    ap_a, ap_b = lag_weights(ops, f["dpo_days"], c)
    ap = L("payables", purchases * ap_a + prev["purchases"] * ap_b)
    tax_payable = L("tax_payable", tax)

    # cash flow, financing and the revolving facility
    cfo = L(
        "cfo",
        ni
        + da
        - (ar - prev["receivables"])
        - (inventory - prev["inventory"])
        + (ap - prev["payables"])
        + (tax_payable - prev["tax_payable"]),
    )
    capex = L("capex", f["capex_to_da"] * da)
    cfi = L("cfi", -capex)
    repay = L(
        "st_repayment",
        s["st_debt_not_rolled"] * ic * f["st_maturing_per_quarter"] * prev["st_debt"],
    )
    before = L("cash_before_financing", prev["cash"] + cfo + cfi - repay)
    revolver = L("revolver", ops.max(prev["revolver"] + f["min_cash"] - before, 0.0))
    draw = L("revolver_draw", revolver - prev["revolver"])
    cff = L("cff", draw - repay)
    cash = L("cash", prev["cash"] + cfo + cfi + cff)
    st_debt = L("st_debt", prev["st_debt"] - repay)
    lt_debt = L("lt_debt", prev["lt_debt"])
    L("total_debt", st_debt + lt_debt + revolver)

    # balance sheet
    ona = L("other_noncurrent_assets", prev["other_noncurrent_assets"] + capex - da)
    ca = L("current_assets", cash + ar + inventory + f["other_current_assets"])
    ta = L("total_assets", ca + ona)
    cl = L(
        "current_liabilities",
        st_debt + revolver + ap + tax_payable + f["other_current_liabilities"],
    )
    tl = L("total_liabilities", cl + lt_debt + f["other_noncurrent_liabilities"])
    equity = L("equity", prev["equity"] + ni)
    L("balance_check", ta - tl - equity)

    # unlevered free cash flow for the valuation
    L(
        "fcf",
        ebit
        - f["tax_rate"] * ops.max(ebit, 0.0)
        + da
        - capex
        - (ar - prev["receivables"])
        - (inventory - prev["inventory"])
        + (ap - prev["payables"]),
    )
    return {
        "held_goods": held,
        "excess_stock": excess,
        "export_backlog": backlog,
        "inventory_tonnes": inv_t,
        "inventory": inventory,
        "export_revenue": rev_x,
        "domestic_revenue": rev_d,
        "purchases": purchases,
        "receivables": ar,
        "payables": ap,
        "tax_payable": tax_payable,
        "cash": cash,
        "st_debt": st_debt,
        "lt_debt": lt_debt,
        "revolver": revolver,
        "equity": equity,
        "other_noncurrent_assets": ona,
    }


#: opening-state parameters per firm (besides those already in FIRM_PARAMS)
OPENING_PARAMS: tuple[str, ...] = (
    "revenue_export_q0",  # last-quarter export revenue at the run-rate
    "revenue_domestic_q0",
    "receivables0",
    "payables0",
    "tax_payable0",
    "cash0",
    "st_debt0",
    "lt_debt0",
    "equity0",
    "other_noncurrent_assets0",
)


def opening_state(
    f: dict[str, Any], s: dict[str, Any] | None = None, ops: Any = None
) -> dict[str, Any]:
    """State at the end of the as-of quarter, from firm parameters.

    With the scenario ``s`` (and an Ops for ``min``): a dated path already running in the
    as-of quarter holds goods for licences inside the reported stock (Little's law at the
    as-of intensity) and carries the deferred exports of its actual quarters, so neither
    the first-quarter licence hold nor the lost shipments are applied again."""
    held: Any = 0.0
    backlog: Any = 0.0
    if s is not None:
        ref = f["q_export0"] * f["export_reference_ratio"]
        i0 = s["opening_intensity"]
        share = ops.min(s["licence_delay_days"] * i0 / f["business_days_per_quarter"], 1.0)
        held = ref * (1 - s["export_shock"] * i0) * share
        backlog = ref * s["deferred_share"] * s["export_shock"] * s["opening_backlog"]
    return {
        "held_goods": held,
        "excess_stock": 0.0,
        "export_backlog": backlog,
        "inventory_tonnes": f["inventory_tonnes0"],
        "inventory": f["inventory0"],
        "export_revenue": f["revenue_export_q0"],
        "domestic_revenue": f["revenue_domestic_q0"],
        "purchases": f["unit_variable_cost0"] * f["normal_production"],
        "receivables": f["receivables0"],
        "payables": f["payables0"],
        "tax_payable": f["tax_payable0"],
        "cash": f["cash0"],
        "st_debt": f["st_debt0"],
        "lt_debt": f["lt_debt0"],
        "revolver": 0.0,
        "equity": f["equity0"],
        "other_noncurrent_assets": f["other_noncurrent_assets0"],
    }


ALL_FIRM_PARAMS: tuple[str, ...] = FIRM_PARAMS + OPENING_PARAMS


def terminal(
    ops: Ops,
    f: dict[str, Any],
    s: dict[str, Any],
    last: dict[str, Any],
    c: Mapping[str, Any] = CONSTANTS,
) -> dict[str, Any]:
    """Normalised post-recovery quarter for the terminal value (methods.md section 8).

    Demand, prices and intensity as in the last projected quarter; inventory back to its
    normal level (no storage cost, no build), production equal to sales, so total cost
    is variable cost of sales plus all fixed overhead whatever the absorption convention.
    Also the cash released (or needed) when working capital returns to that normal level:
    excess stock valued at its variable cost (the purchases it saves), receivables and
    payables at their normal-state days.
    """
    L = ops.let
    # export demand at its level after the horizon: deferred orders still in the backlog
    # are not counted (conservative)
    dem_x = L("tv_demand_export", last["export_reference_demand"] * (1 - last["export_loss"]))
    dem_d = L("tv_demand_domestic", last["demand_domestic"])
    sales = L("tv_sales_volume", dem_x + dem_d)
    rev_x = L("tv_export_revenue", last["price_export"] * dem_x)
    rev_d = L("tv_domestic_revenue", last["price_domestic"] * dem_d)
    revenue = L("tv_revenue", rev_x + rev_d)
    cost = L("tv_cost", last["unit_variable_cost"] * sales + f["fixed_overhead"])
    ebit = L("tv_ebit", revenue - cost - f["opex"])
    da = f["depreciation"]
    fcf = L("tv_fcf", ebit - f["tax_rate"] * ops.max(ebit, 0.0) + da - f["capex_to_da"] * da)
    held_normal = dem_x * last["held_fraction"]
    excess = L(
        "tv_excess_stock",
        last["inventory_tonnes"] - f["inventory_tonnes0"] - held_normal,
    )
    delay = last["licence_delay"]
    dso_x = ops.min(
        f["dso_days"] + f["licence_dso_share"] * delay * c["calendar_days_per_business_day"],
        f["max_dso_days"],
    )
    ar_normal = (rev_x * dso_x + rev_d * f["dso_days"]) / c["days_per_quarter"]
    ap_normal = last["unit_variable_cost"] * sales * f["dpo_days"] / c["days_per_quarter"]
    L(
        "tv_working_capital_release",
        excess * last["unit_variable_cost"]
        + (last["receivables"] - ar_normal)
        - (last["payables"] - ap_normal),
    )
    return {"tv_fcf": fcf}
