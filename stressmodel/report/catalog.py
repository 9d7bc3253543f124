"""Presentation vocabulary: labels, units and number formats of line items, parameters
and figures, and the order of the sections of a scenario sheet. Mapping tables only.

A line item the engine adds later and that is not listed here still appears, in an
"Other line items" section with a label made from its name (never silently dropped).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ItemInfo:
    label: str
    unit: str  # shown in the unit column
    kind: str  # number-format kind (stressmodel.report.spec.NUMBER_FORMATS)


MN = ("CNY mn", "money")
T = ("tonnes", "tonnes")
UP = ("CNY mn/tonne", "unit_price")
FR = ("fraction", "pct")
DAYS = ("days", "days")


def _i(label: str, unit: tuple[str, str]) -> ItemInfo:
    return ItemInfo(label, unit[0], unit[1])


#: every line item of model.step and model.terminal; the analyst-facing labels required by
#: the report (Revenue, Export revenue, ..., CFF) are exactly these
ITEMS: dict[str, ItemInfo] = {
    "intensity": _i("Shock intensity", FR),
    "raw_material_change": _i("Raw-material price change", FR),
    "export_loss": _i("Export demand loss", FR),
    "domestic_loss": _i("Domestic demand loss", FR),
    "output_cut": _i("Output cut", FR),
    "licence_delay": _i("Licence delay (business days)", ("business days", "days")),
    "unit_variable_cost": _i("Unit variable cost", UP),
    "price_export": _i("Export price", UP),
    "price_domestic": _i("Domestic price", UP),
    "demand_export": _i("Export demand", T),
    "demand_domestic": _i("Domestic demand", T),
    "held_fraction": _i("Share of export demand held for licences", FR),
    "held_goods": _i("Goods held for licences", T),
    "export_reference_demand": _i("Export demand at the reference level", T),
    "export_demand_lost": _i("Export demand lost to the shock", T),
    "deferred_exports_released": _i("Deferred exports released (catch-up)", T),
    "export_backlog": _i("Backlog of deferred exports", T),
    "planned_production": _i("Planned production", T),
    "minimum_stock": _i("Minimum stock (minimum days of sales)", T),
    "sales_volume_export": _i("Export sales volume", T),
    "sales_volume_domestic": _i("Domestic sales volume", T),
    "sales_volume": _i("Sales volume", T),
    "excess_stock": _i("Excess stock", T),
    "production_volume": _i("Production volume", T),
    "inventory_tonnes": _i("Inventory (tonnes)", T),
    "absorbed_overhead": _i("Absorbed fixed overhead", MN),
    "unabsorbed_overhead": _i("Unabsorbed overhead", MN),
    "production_cost": _i("Production cost", MN),
    "average_unit_cost": _i("Average unit cost of stock", UP),
    "cost_of_goods_sold": _i("Cost of goods sold (before unabsorbed overhead)", MN),
    "inventory": _i("Inventory", MN),
    "cogs": _i("COGS", MN),
    "export_revenue": _i("Export revenue", MN),
    "domestic_revenue": _i("Domestic revenue", MN),
    "revenue": _i("Revenue", MN),
    "gross_profit": _i("Gross profit", MN),
    "storage_cost": _i("Storage cost", MN),
    "opex": _i("Operating expenses (SG&A, R&D, other)", MN),
    "ebit": _i("EBIT", MN),
    "depreciation": _i("Depreciation and amortisation", MN),
    "ebitda": _i("EBITDA", MN),
    "interest_expense": _i("Interest expense", MN),
    "ebt": _i("Profit before tax", MN),
    "tax": _i("Income tax", MN),
    "net_income": _i("Net income", MN),
    "dso_export": _i("Export receivable days", DAYS),
    "receivables": _i("Receivables", MN),
    "purchases": _i("Purchases (variable cost of production)", MN),
    "payables": _i("Payables", MN),
    "tax_payable": _i("Tax payable", MN),
    "cfo": _i("CFO", MN),
    "capex": _i("Capex", MN),
    "cfi": _i("CFI", MN),
    "st_repayment": _i("Short-term debt not rolled over", MN),
    "cash_before_financing": _i("Cash before financing", MN),
    "revolver": _i("Revolving facility drawn", MN),
    "revolver_draw": _i("Revolver draw (+) / repayment (-)", MN),
    "cff": _i("CFF", MN),
    "cash": _i("Cash", MN),
    "st_debt": _i("Short-term debt", MN),
    "lt_debt": _i("Long-term debt", MN),
    "total_debt": _i("Total debt", MN),
    "other_noncurrent_assets": _i("Other non-current assets", MN),
    "current_assets": _i("Current assets", MN),
    "total_assets": _i("Total assets", MN),
    "current_liabilities": _i("Current liabilities", MN),
    "total_liabilities": _i("Total liabilities", MN),
    "equity": _i("Equity", MN),
    "balance_check": _i("Balance check (assets - liabilities - equity)", MN),
    "fcf": _i("Unlevered free cash flow", MN),
    # terminal quarter (model.terminal)
    "tv_demand_export": _i("Terminal quarter: export demand", T),
    "tv_demand_domestic": _i("Terminal quarter: domestic demand", T),
    "tv_sales_volume": _i("Terminal quarter: sales volume", T),
    "tv_export_revenue": _i("Terminal quarter: export revenue", MN),
    "tv_domestic_revenue": _i("Terminal quarter: domestic revenue", MN),
    "tv_revenue": _i("Terminal quarter: revenue", MN),
    "tv_cost": _i("Terminal quarter: variable cost of sales + fixed overhead", MN),
    "tv_ebit": _i("Terminal quarter: EBIT", MN),
    "tv_fcf": _i("Terminal quarter: free cash flow", MN),
    "tv_excess_stock": _i("Excess stock released at the horizon", T),
    "tv_working_capital_release": _i("Working capital released at the horizon", MN),
}

#: sections of a scenario sheet, in order; together they hold every line item of model.step
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Drivers and shocks",
        (
            "intensity",
            "raw_material_change",
            "export_loss",
            "domestic_loss",
            "output_cut",
            "licence_delay",
        ),
    ),
    ("Prices (CNY mn per tonne)", ("unit_variable_cost", "price_export", "price_domestic")),
    (
        "Volumes (tonnes per quarter)",
        (
            "export_reference_demand",
            "export_demand_lost",
            "deferred_exports_released",
            "export_backlog",
            "demand_export",
            "demand_domestic",
            "held_fraction",
            "held_goods",
            "sales_volume_export",
            "sales_volume_domestic",
            "sales_volume",
            "excess_stock",
            "planned_production",
            "minimum_stock",
            "production_volume",
            "inventory_tonnes",
        ),
    ),
    (
        "Income statement (CNY mn per quarter)",
        (
            "revenue",
            "export_revenue",
            "domestic_revenue",
            "cogs",
            "gross_profit",
            "storage_cost",
            "opex",
            "ebitda",
            "depreciation",
            "ebit",
            "interest_expense",
            "ebt",
            "tax",
            "net_income",
        ),
    ),
    (
        "Production costs (CNY mn per quarter)",
        (
            "absorbed_overhead",
            "unabsorbed_overhead",
            "production_cost",
            "average_unit_cost",
            "cost_of_goods_sold",
        ),
    ),
    (
        "Balance sheet (CNY mn, end of quarter)",
        (
            "cash",
            "receivables",
            "inventory",
            "current_assets",
            "other_noncurrent_assets",
            "total_assets",
            "payables",
            "tax_payable",
            "st_debt",
            "revolver",
            "current_liabilities",
            "lt_debt",
            "total_debt",
            "total_liabilities",
            "equity",
            "balance_check",
        ),
    ),
    (
        "Cash flow (CNY mn per quarter)",
        (
            "cfo",
            "capex",
            "cfi",
            "st_repayment",
            "cash_before_financing",
            "revolver_draw",
            "cff",
        ),
    ),
    ("Working capital", ("dso_export", "purchases")),
    ("Valuation (CNY mn)", ("fcf",)),
)


def item_info(name: str) -> ItemInfo:
    return ITEMS.get(name) or ItemInfo(name.replace("_", " ").capitalize(), "", "number")


#: firm parameters (model.ALL_FIRM_PARAMS): label, unit, number kind, how base.py derives it
FIRM_PARAMS: dict[str, tuple[str, str, str, str]] = {
    "q_export0": (
        "Normal export sales volume",
        "tonnes/quarter",
        "tonnes",
        "base revenue/4 / average selling price, split by the export share at the "
        "export/domestic price ratio",
    ),
    "q_domestic0": (
        "Normal domestic sales volume",
        "tonnes/quarter",
        "tonnes",
        "as above, domestic part",
    ),
    "price_export0": (
        "Export price",
        "CNY mn/tonne",
        "unit_price",
        "export revenue / export volume of the base quarter",
    ),
    "price_domestic0": (
        "Domestic price",
        "CNY mn/tonne",
        "unit_price",
        "domestic revenue / domestic volume of the base quarter",
    ),
    "unit_variable_cost0": (
        "Unit variable cost",
        "CNY mn/tonne",
        "unit_price",
        "TTM cost of revenue/4 / volume x variable-cost share of COGS (sector.toml)",
    ),
    "unit_fixed_cost": (
        "Fixed overhead per tonne at normal capacity",
        "CNY mn/tonne",
        "unit_price",
        "unit cost x (1 - variable-cost share of COGS)",
    ),
    "normal_production": (
        "Normal production (capacity N)",
        "tonnes/quarter",
        "tonnes",
        "base-quarter sales volume",
    ),
    "fixed_overhead": (
        "Fixed manufacturing overhead",
        "CNY mn/quarter",
        "money",
        "fixed cost per tonne x normal production",
    ),
    "opex": (
        "Operating expenses (SG&A, R&D, other, net)",
        "CNY mn/quarter",
        "money",
        "(TTM revenue - TTM COGS - TTM EBIT)/4",
    ),
    "depreciation": ("Depreciation and amortisation", "CNY mn/quarter", "money", "TTM D&A / 4"),
    "inventory_tonnes0": ("Opening inventory", "tonnes", "tonnes", "inventory / unit cost"),
    "inventory0": ("Opening inventory", "CNY mn", "money", "base figure inventory"),
    "dso_days": (
        "Receivable days",
        "days",
        "days",
        "91 x receivables / base-quarter revenue, capped at max_dso_days",
    ),
    "dpo_days": ("Payable days of variable purchases", "days", "days", "sector.toml dpo_days"),
    "interest_rate": (
        "Interest rate on bank debt",
        "per year",
        "pct2",
        "TTM interest / debt if within 1%-12%, else sector default",
    ),
    "revolver_rate": ("Revolving facility rate", "per year", "pct2", "sector.toml revolver_rate"),
    "tax_rate": ("Tax rate", "fraction", "pct", "sector.toml tax_rate"),
    "min_cash": (
        "Minimum cash",
        "CNY mn",
        "money",
        "min_cash_months_of_revenue/3 x base-quarter revenue",
    ),
    "capex_to_da": ("Capex / D&A", "x", "multiple", "sector.toml maintenance_capex_to_da"),
    "st_maturing_per_quarter": (
        "Short-term debt maturing per quarter",
        "fraction",
        "pct",
        "sector.toml st_debt_maturing_per_quarter",
    ),
    "business_days_per_quarter": (
        "Business days per quarter",
        "days",
        "days",
        "sector.toml business_days_per_quarter (65 weekdays of a 91-day quarter less about 3 public "
        "holidays); a licence delay / this = share of a quarter's exports held; the same delay in "
        "receivable days is x m_calendar_days_per_business_day (1.4, weekends only)",
    ),
    "licence_dso_share": (
        "Share of licence delay added to receivable days",
        "fraction",
        "pct",
        "sector.toml licence_dso_share",
    ),
    "workoff_rate": (
        "Excess stock worked off per quarter",
        "fraction",
        "pct",
        "sector.toml inventory_workoff_rate",
    ),
    "raw_material_share": (
        "Raw-material share of variable cost",
        "fraction",
        "pct",
        "sector.toml raw_material_share_of_variable_cost",
    ),
    "absorb_ias2": (
        "Absorption on normal capacity (IAS 2): 1 = yes",
        "0/1",
        "count",
        "sector.toml absorption_convention",
    ),
    "absorb_full": (
        "Full absorption: 1 = yes",
        "0/1",
        "count",
        "sector.toml absorption_convention",
    ),
    "max_dso_days": ("Maximum receivable days", "days", "days", "sector.toml max_dso_days"),
    "other_current_assets": (
        "Other current assets",
        "CNY mn",
        "money",
        "current assets - cash - receivables - inventory (>= 0)",
    ),
    "other_current_liabilities": (
        "Other current liabilities",
        "CNY mn",
        "money",
        "current liabilities - short-term debt - payables - tax payable (>= 0)",
    ),
    "other_noncurrent_liabilities": (
        "Other non-current liabilities",
        "CNY mn",
        "money",
        "total liabilities - debt - payables - tax payable - other current liabilities",
    ),
    "export_reference_ratio": (
        "Reference export level / run-rate export level",
        "x",
        "multiple",
        "max(TTM revenue at sector.toml export_reference / run-rate TTM revenue, 1); 1 if the reference is not before the as-of",
    ),
    "min_inventory_days": (
        "Minimum days of sales held as free stock",
        "days",
        "days",
        "min(sector.toml minimum_inventory_days, the firm's as-of inventory days)",
    ),
    "revenue_export_q0": (
        "Export revenue, as-of quarter run-rate",
        "CNY mn",
        "money",
        "TTM revenue/4 x export share",
    ),
    "revenue_domestic_q0": (
        "Domestic revenue, as-of quarter run-rate",
        "CNY mn",
        "money",
        "TTM revenue/4 x (1 - export share)",
    ),
    "receivables0": ("Opening receivables", "CNY mn", "money", "base figure receivables"),
    "payables0": ("Opening payables", "CNY mn", "money", "variable cost x N x dpo/91"),
    "tax_payable0": (
        "Opening tax payable",
        "CNY mn",
        "money",
        "tax rate x max(EBIT/4 - interest, 0)",
    ),
    "cash0": ("Opening cash", "CNY mn", "money", "base figure cash"),
    "st_debt0": ("Opening short-term debt", "CNY mn", "money", "base figure st_debt"),
    "lt_debt0": ("Opening long-term debt", "CNY mn", "money", "total debt - short-term debt"),
    "equity0": (
        "Opening equity (incl. minorities)",
        "CNY mn",
        "money",
        "total assets - total liabilities",
    ),
    "other_noncurrent_assets0": (
        "Opening other non-current assets",
        "CNY mn",
        "money",
        "total assets - cash - receivables - inventory - other current assets",
    ),
}

#: base figures: unit and number kind
#: constants of the model's equations (stressmodel.model.quarter.CONSTANTS), named inputs
#: ``m_<name>`` on Assumptions: (label, unit, style kind, reasoning)
MODEL_CONSTANTS: dict[str, tuple[str, str, str, str]] = {
    "days_per_quarter": (
        "Calendar days per quarter",
        "days",
        "days",
        "365 / 4 = 91.25, taken as 91 whole days: the day base of receivable, payable and stock days "
        "(a = min(D, 91) / 91 of this quarter's flow outstanding)",
    ),
    "calendar_days_per_business_day": (
        "Calendar days per business day",
        "days per business day",
        "ratio2",
        "7 calendar days per 5-day working week: converts the licence delay (counted in business "
        "days) into receivable days (calendar). Not 91 / business days per quarter (91 / 62 = 1.47): "
        "the 62 business days are the 65 weekdays of a quarter (91 x 5 / 7) less about 3 public "
        "holidays, and a delay of a few weeks seldom spans a holiday, so only weekends are converted "
        "(62 x 1.4 = 86.8 calendar days; the 4.2 short of 91 are the holidays' 3 x 1.4)",
    ),
    "eps_tonnes": (
        "Floor of the average-cost denominator",
        "tonnes",
        "sci",
        "average unit cost = (opening stock + production cost) / max(opening tonnes + production, "
        "this floor): avoids a division by zero when stock and production are both nil; far below "
        "any real volume, so it never binds on a producing firm",
    ),
}

FIGURE_UNITS: dict[str, tuple[str, str]] = {
    "revenue_ttm": MN,
    "cogs_ttm": MN,
    "ebit_ttm": MN,
    "da_ttm": MN,
    "net_income_ttm": MN,
    "cfo_ttm": MN,
    "net_income_ttm_prev": MN,
    "interest_ttm": MN,
    "cash": MN,
    "short_term_investments": MN,
    "liquidity": MN,
    "receivables": MN,
    "inventory": MN,
    "total_assets": MN,
    "total_liabilities": MN,
    "equity_total": MN,
    "equity_attributable": MN,
    "total_debt": MN,
    "st_debt": MN,
    "export_share": FR,
    "price_ratio": ("x", "multiple"),
    "asp": UP,
    "interest_rate": ("per year", "pct2"),
    "share_price": ("CNY/share", "per_share"),
    "price_age_days": ("days", "count"),
    "shares": ("mn shares", "shares"),
    "market_cap": MN,
    "equity_volatility": ("per year", "pct"),
    "past_year_return": FR,
}

#: scenario parameters shown in Assumptions: (label, unit, number kind)
SCENARIO_ROWS: dict[str, tuple[str, str, str]] = {
    "export_shock": ("Export shock (loss of export demand at full intensity)", "fraction", "pct"),
    "domestic_shock": ("Domestic shock", "fraction", "pct"),
    "output_cut": ("Output cut at full intensity", "fraction", "pct"),
    "storage_cost_rate": ("Storage cost on inventory above the as-of level", "per year", "pct"),
    "licence_delay_days": ("Licence delay at full intensity", "business days", "days"),
    "price_pass_through": ("Pass-through of raw-material cost to prices", "fraction", "pct"),
    "st_debt_not_rolled": ("Share of maturing short-term debt not rolled over", "fraction", "pct"),
    "start": (
        "Start (quarter number: 0 = as-of quarter, 1 = first projected)",
        "quarter number",
        "count",
    ),
    "duration_quarters": ("Quarters at full intensity", "quarters", "count"),
    "recovery_quarters": ("Quarters of linear recovery", "quarters", "count"),
    "permanent_share": ("Share of the shock that never recovers", "fraction", "pct"),
    "raw_material_price_change": (
        "Raw-material price shock from the start (on top of any PrNd path)",
        "fraction",
        "pct",
    ),
    "deferred_share": ("Share of lost export demand shipped later", "fraction", "pct"),
    "output_cut_forced": ("Output cut forced (1) or following demand (0)", "0/1", "count"),
    "opening_intensity": (
        "Intensity of the dated path in the as-of quarter (computed)",
        "fraction",
        "pct",
    ),
    "opening_backlog": (
        "Deferred-export factor carried from the actual quarters (computed from the path)",
        "factor",
        "number",
    ),
    "uses_prnd_path": ("Raw-material cost follows the PrNd path (1) or not (0)", "0/1", "count"),
}

CONSOLIDATION_LABELS: dict[str, str] = {
    "distress": "Distress: logit of the highest Ohlson probability",
    "size": "Size: ln revenue of the first projected year",
    "roa_gap": "ROA minus peer median ROA",
    "export": "Export revenue share",
    "private": "Private ownership (dummy)",
    "upstream": "Tie to a state rare-earth group (dummy)",
    "runway": "Quarters of cash runway (capped at 12)",
}

#: human names of the shipped scenarios (the code stays on the sheet tab and in a note);
#: a scenario not listed here is shown under its code
SCENARIO_NAMES: dict[str, str] = {
    "baseline": "No shock (run-rate continues)",
    "seed": "Seed: exports halve for a year",
    "deal_normalises": "Deal: shock fades by 2025Q4",
    "structural": "Structural: 40% of the shock stays",
    "trade_implied": "Trade-implied: follows export data",
    "retightening": "Retightening: rules back in 2026Q4",
    "general_licences": "General licences: gone by 2026Q1",
}


def scenario_name(code: str) -> str:
    return SCENARIO_NAMES.get(code, code)
