"""Closed vocabularies: statement items, their units and kinds.

A statements file may only use items listed here, each with its own unit. ``kind`` says how
the loader treats a figure:

- ``flow``: an amount over the period (year-to-date in Chinese reports); single quarters
  are derived by differencing (Q2 = H1 - Q1, Q3 = 9M - H1, Q4 = FY - 9M).
- ``stock``: a balance at the period's last day.
- ``ratio``: a ratio or rate observed for the period (not differenced, not summed).

``sign`` is the allowed sign: ``nonneg`` (>= 0), ``pos`` (> 0) or ``any``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["flow", "stock", "ratio"]
Sign = Literal["nonneg", "pos", "any"]

CNY_MN = "CNY mn"
FRACTION = "fraction"
TIMES = "x"
DAYS = "days"
TONNES = "tonnes"
TONNES_PER_YEAR = "tonnes/year"
CNY_PER_TONNE = "CNY/tonne"

UNITS: tuple[str, ...] = (CNY_MN, FRACTION, TIMES, DAYS, TONNES, TONNES_PER_YEAR, CNY_PER_TONNE)


@dataclass(frozen=True)
class Item:
    name: str
    kind: Kind
    unit: str
    sign: Sign
    description: str


_ITEMS: tuple[Item, ...] = (
    # income statement (flows, CNY mn)
    Item("revenue", "flow", CNY_MN, "nonneg", "total operating revenue (营业总收入)"),
    Item("cost_of_revenue", "flow", CNY_MN, "nonneg", "cost of revenue (营业成本)"),
    Item("gross_profit", "flow", CNY_MN, "any", "revenue minus cost of revenue"),
    Item("sga", "flow", CNY_MN, "nonneg", "selling, general and administrative expenses"),
    Item("rnd", "flow", CNY_MN, "nonneg", "research and development expenses"),
    Item("operating_income", "flow", CNY_MN, "any", "operating income, used as EBIT"),
    Item(
        "interest_expense",
        "flow",
        CNY_MN,
        "nonneg",
        "gross interest expense, POSITIVE number (source sign flipped where the source "
        "shows expenses as negative)",
    ),
    Item("net_income", "flow", CNY_MN, "any", "net income attributable to the parent"),
    Item("operating_cash_flow", "flow", CNY_MN, "any", "net cash from operating activities"),
    Item("capex", "flow", CNY_MN, "nonneg", "capital expenditure, POSITIVE number (outflow)"),
    Item("depreciation_amortization", "flow", CNY_MN, "nonneg", "depreciation and amortisation"),
    Item("ebitda", "flow", CNY_MN, "any", "EBITDA"),
    Item("revenue_overseas", "flow", CNY_MN, "nonneg", "overseas (export) revenue (国外)"),
    Item("revenue_domestic", "flow", CNY_MN, "nonneg", "domestic revenue (国内)"),
    # operations (flows in tonnes)
    Item("sales_volume", "flow", TONNES, "nonneg", "magnet sales volume"),
    Item("production_volume", "flow", TONNES, "nonneg", "magnet (or blank) production volume"),
    # balance sheet (stocks, CNY mn)
    Item("cash_and_equivalents", "stock", CNY_MN, "nonneg", "cash (货币资金), as the note says"),
    Item(
        "short_term_investments",
        "stock",
        CNY_MN,
        "nonneg",
        "trading financial assets (交易性金融资产) and bank wealth products / structured deposits held as cash",
    ),
    Item("receivables", "stock", CNY_MN, "nonneg", "accounts receivable (应收账款)"),
    Item("inventory", "stock", CNY_MN, "nonneg", "inventory net of provisions (存货)"),
    Item("payables", "stock", CNY_MN, "nonneg", "accounts and notes payable"),
    Item("current_assets", "stock", CNY_MN, "nonneg", "total current assets"),
    Item("current_liabilities", "stock", CNY_MN, "nonneg", "total current liabilities"),
    Item("total_assets", "stock", CNY_MN, "pos", "total assets (资产总计)"),
    Item("total_liabilities", "stock", CNY_MN, "nonneg", "total liabilities (负债合计)"),
    Item("shareholders_equity", "stock", CNY_MN, "any", "equity attributable to the parent"),
    Item(
        "retained_earnings",
        "stock",
        CNY_MN,
        "any",
        "retained earnings: undistributed profit (未分配利润) plus surplus reserve (盈余公积), for Altman X2",
    ),
    Item("total_debt", "stock", CNY_MN, "nonneg", "interest-bearing debt"),
    Item("short_term_debt", "stock", CNY_MN, "nonneg", "short-term borrowings (短期借款)"),
    Item("net_debt", "stock", CNY_MN, "any", "debt minus cash (negative = net cash)"),
    Item("capacity", "stock", TONNES_PER_YEAR, "nonneg", "magnet production capacity"),
    # ratios
    Item("liabilities_to_assets", "ratio", FRACTION, "nonneg", "total liabilities / assets"),
    Item("current_ratio", "ratio", TIMES, "nonneg", "current assets / current liabilities"),
    Item("inventory_days", "ratio", DAYS, "nonneg", "inventory days (存货周转天数)"),
    Item("receivable_days", "ratio", DAYS, "nonneg", "receivable days (应收账款周转天数)"),
    Item("inventory_turnover", "ratio", TIMES, "nonneg", "cost of revenue / average inventory"),
    Item("overseas_revenue_share", "ratio", FRACTION, "nonneg", "overseas revenue / revenue"),
    Item("gross_margin_overseas", "ratio", FRACTION, "any", "gross margin on overseas sales"),
    Item("gross_margin_domestic", "ratio", FRACTION, "any", "gross margin on domestic sales"),
    Item("avg_selling_price", "ratio", CNY_PER_TONNE, "pos", "average magnet selling price"),
)

ITEMS: dict[str, Item] = {i.name: i for i in _ITEMS}

FLOW_ITEMS = tuple(i.name for i in _ITEMS if i.kind == "flow")
STOCK_ITEMS = tuple(i.name for i in _ITEMS if i.kind == "stock")
RATIO_ITEMS = tuple(i.name for i in _ITEMS if i.kind == "ratio")

#: items whose values are fractions and must lie in [0, 1]
FRACTION_ITEMS = tuple(i.name for i in _ITEMS if i.unit == FRACTION and i.sign == "nonneg")

#: the columns of a statements file, in order
STATEMENT_COLUMNS: tuple[str, ...] = ("period", "item", "value", "unit", "source", "note")

#: the columns of the firm register, in order, with their meaning
REGISTER_COLUMNS: dict[str, str] = {
    "ticker": "exchange ticker, e.g. 603072.SH (6 digits, dot, SH/SZ/BJ)",
    "company_name": "company name in English",
    "exchange": "SSE, SZSE or BSE",
    "board": "main, ChiNext or STAR",
    "currency": "reporting currency (CNY)",
    "ownership": "state or private (actual controller)",
    "ownership_source": "source URL or citation for ownership",
    "upstream_tie": "1 if controlled by / in a JV or long-term supply deal with a state rare-earth "
    "group, else 0",
    "upstream_tie_source": "source or 'assumption: <reasoning>'",
    "listing_date": "first trading day, YYYY-MM-DD",
    "shares_outstanding": "total shares outstanding, million shares",
    "shares_date": "date of the share count, YYYY-MM-DD",
    "shares_source": "source of the share count",
    "share_price": "latest close, CNY (also in prices.csv)",
    "price_date": "date of that close, YYYY-MM-DD",
    "price_source": "source of that close",
    "export_share": "overseas (export) revenue share used by the model, fraction; empty = "
    "not reported (the model uses the sector-level share of sector.toml, marked as an estimate)",
    "export_share_period": "period the export share refers to, e.g. FY2024",
    "export_share_source": "source of the export share (history by year: the "
    "overseas_revenue_share rows of the statements file)",
    "equity_volatility": "annualised equity volatility, fraction; empty = sector default",
    "equity_volatility_source": "source or 'assumption: <reasoning>'",
    "peer_group": "name of the firm's peer group (letters, digits, _): estimates for a firm use only "
    "the reported or derived figures of at least 3 other firms of the same group",
    "default_run": "yes/no: included when `stressmodel run` is given no --firms",
    "note": "free text",
}

REGISTER_REQUIRED = (
    "ticker",
    "company_name",
    "exchange",
    "currency",
    "ownership",
    "upstream_tie",
    "listing_date",
    "shares_outstanding",
    "shares_date",
    "shares_source",
    "default_run",
)

TICKER_PATTERN = r"^[0-9]{6}\.(SH|SZ|BJ)$"
