"""The data tables of the import step: which source column becomes which item.

Nothing here branches on a label: the importer walks these tables. A ``required`` column
that a response lacks is a changed schema (a clear error naming the endpoint and the
column); an optional one is skipped and listed.

Sources (AkShare 1.19.5, read from its source code):

- ``stock_financial_report_sina(stock="sz300224", symbol=...)``: one row per 报告日
  (``YYYYMMDD`` text), one column per statement line (Sina's Chinese titles; values in
  yuan, flows year to date), then 数据源, 是否审计, 公告日期, 币种, 类型, 更新日期. Every
  column has dtype ``object`` (the frame is built by transposing mixed columns).
- ``stock_zh_a_hist(symbol="300224", period="daily", start_date, end_date, adjust="")``:
  日期 (``datetime.date``), 股票代码, 开盘, 收盘, 最高, 最低, 成交量, 成交额, 振幅, 涨跌幅,
  涨跌额, 换手率.
- ``stock_zh_a_hist_tx(symbol="sz300224", start_date, end_date, adjust="")`` (fallback):
  date (``datetime.date``), open, close, high, low, volume, turnover, amount.
- ``stock_zygc_em(symbol="SZ300224")``: 股票代码, 报告日期 (``datetime.date``), 分类类型
  (按行业分类 / 按产品分类 / 按地区分类), 主营构成, 主营收入, 收入比例, 主营成本, 成本比例,
  主营利润, 利润比例, 毛利率 (yuan; ratios as fractions).
"""

from __future__ import annotations

from dataclasses import dataclass

YUAN_TO_CNY_MN = 1e-6
SHARES_TO_MILLION = 1e-6

SINA_FUNCTION = "stock_financial_report_sina"
HIST_FUNCTION = "stock_zh_a_hist"
HIST_TX_FUNCTION = "stock_zh_a_hist_tx"  # Tencent: the fallback when Eastmoney refuses
ZYGC_FUNCTION = "stock_zygc_em"

#: Sina statement names (the ``symbol`` argument) and a short key for each
STATEMENTS: dict[str, str] = {"balance": "资产负债表", "income": "利润表", "cashflow": "现金流量表"}


@dataclass(frozen=True)
class Line:
    """One source column that feeds an item. Several lines with the same item are summed
    (the figure is then marked DERIVED with the formula)."""

    statement: str  # key of STATEMENTS
    label: str  # the column title in the response
    item: str  # item of inputs/vocabulary.py, or "shares" (share count, prices.csv)
    scale: float
    required: bool


#: statement line -> item. Balances are at the report date, flows year to date.
SINA_LINES: tuple[Line, ...] = (
    Line("balance", "货币资金", "cash_and_equivalents", YUAN_TO_CNY_MN, True),
    Line("balance", "交易性金融资产", "short_term_investments", YUAN_TO_CNY_MN, True),
    Line("balance", "应收账款", "receivables", YUAN_TO_CNY_MN, True),
    Line("balance", "存货", "inventory", YUAN_TO_CNY_MN, True),
    Line("balance", "流动资产合计", "current_assets", YUAN_TO_CNY_MN, True),
    Line("balance", "资产总计", "total_assets", YUAN_TO_CNY_MN, True),
    Line("balance", "短期借款", "short_term_debt", YUAN_TO_CNY_MN, True),
    Line("balance", "流动负债合计", "current_liabilities", YUAN_TO_CNY_MN, True),
    Line("balance", "负债合计", "total_liabilities", YUAN_TO_CNY_MN, True),
    Line("balance", "归属于母公司股东权益合计", "shareholders_equity", YUAN_TO_CNY_MN, True),
    Line("balance", "实收资本(或股本)", "shares", SHARES_TO_MILLION, True),
    Line("income", "营业总收入", "revenue", YUAN_TO_CNY_MN, True),
    Line("income", "营业成本", "cost_of_revenue", YUAN_TO_CNY_MN, True),
    Line("income", "销售费用", "sga", YUAN_TO_CNY_MN, True),
    Line("income", "管理费用", "sga", YUAN_TO_CNY_MN, True),
    Line("income", "研发费用", "rnd", YUAN_TO_CNY_MN, False),
    Line("income", "营业利润", "operating_income", YUAN_TO_CNY_MN, True),
    Line("income", "归属于母公司所有者的净利润", "net_income", YUAN_TO_CNY_MN, True),
    Line("cashflow", "经营活动产生的现金流量净额", "operating_cash_flow", YUAN_TO_CNY_MN, True),
    Line(
        "cashflow", "购建固定资产、无形资产和其他长期资产支付的现金", "capex", YUAN_TO_CNY_MN, True
    ),
)

#: columns every Sina statement response carries besides the statement lines
SINA_META_COLUMNS: tuple[str, ...] = (
    "报告日",
    "数据源",
    "是否审计",
    "公告日期",
    "币种",
    "类型",
    "更新日期",
)
#: 类型 values that are consolidated statements (母公司 statements are skipped)
SINA_CONSOLIDATED_PREFIX = "合并"

#: month-day of a report date -> (quarters covered year to date)
REPORT_QUARTERS: dict[str, int] = {"0331": 1, "0630": 2, "0930": 3, "1231": 4}

HIST_COLUMNS: tuple[str, ...] = (
    "日期",
    "股票代码",
    "开盘",
    "收盘",
    "最高",
    "最低",
    "成交量",
    "成交额",
    "振幅",
    "涨跌幅",
    "涨跌额",
    "换手率",
)
HIST_DATE, HIST_CLOSE = "日期", "收盘"
HIST_TX_COLUMNS: tuple[str, ...] = (
    "date",
    "open",
    "close",
    "high",
    "low",
    "volume",
    "turnover",
    "amount",
)

#: daily-bar function -> (date column, close column)
PRICE_COLUMNS: dict[str, tuple[str, str]] = {
    HIST_FUNCTION: (HIST_DATE, HIST_CLOSE),
    HIST_TX_FUNCTION: ("date", "close"),
}

ZYGC_COLUMNS: tuple[str, ...] = (
    "股票代码",
    "报告日期",
    "分类类型",
    "主营构成",
    "主营收入",
    "收入比例",
    "主营成本",
    "成本比例",
    "主营利润",
    "利润比例",
    "毛利率",
)
ZYGC_REGION_TYPE = "按地区分类"

#: 主营构成 label of a regional row -> side. Labels not listed (其他, 其他业务…) are skipped
#: and named in the report.
REGION_SIDES: dict[str, str] = {
    "境外": "overseas",
    "国外": "overseas",
    "海外": "overseas",
    "境外地区": "overseas",
    "国外地区": "overseas",
    "境内": "domestic",
    "国内": "domestic",
    "境内地区": "domestic",
    "国内地区": "domestic",
}


@dataclass(frozen=True)
class RegionField:
    column: str
    side: str
    item: str
    scale: float


#: regional split: (column, side) -> item. 主营收入 in yuan, 毛利率 and 收入比例 fractions.
REGION_FIELDS: tuple[RegionField, ...] = (
    RegionField("主营收入", "overseas", "revenue_overseas", YUAN_TO_CNY_MN),
    RegionField("主营收入", "domestic", "revenue_domestic", YUAN_TO_CNY_MN),
    RegionField("毛利率", "overseas", "gross_margin_overseas", 1.0),
    RegionField("毛利率", "domestic", "gross_margin_domestic", 1.0),
    RegionField("收入比例", "overseas", "overseas_revenue_share", 1.0),
)


def sina_required(statement: str) -> tuple[str, ...]:
    """Columns a Sina response for ``statement`` must have."""
    lines = tuple(ln.label for ln in SINA_LINES if ln.statement == statement and ln.required)
    return SINA_META_COLUMNS[:1] + lines + ("公告日期", "币种", "类型")


def sina_optional(statement: str) -> tuple[str, ...]:
    return tuple(ln.label for ln in SINA_LINES if ln.statement == statement and not ln.required)
