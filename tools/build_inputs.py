#!/usr/bin/env python3
"""Build the shipped input data of stressmodel from the reference CSVs.

Usage, from the repository root::

    python tools/build_inputs.py [REFERENCE_DIR]

``REFERENCE_DIR`` holds ``firm_financials.csv``, ``operations.csv``, ``share_prices.csv``
and ``magnet_exports.csv``; it defaults to ``../shared/reference`` relative to the
repository root. The script writes

* ``inputs/statements/<TICKER>.csv`` - one long-format file per firm,
* ``inputs/prices.csv``              - dated market observations,
* ``inputs/trade.csv``               - China's magnet exports,
* ``inputs/firms.csv``               - the firm register,
* ``tools/BUILD_INPUTS_REPORT.md``   - what was done, every curation decision, data gaps,

and then re-reads what it wrote and checks it against ``inputs/README.md`` (the format
spec), ``stressmodel/inputs/vocabulary.py`` and ``stressmodel/inputs/periods.py``.

Rules it follows:

* No figure is invented. Every row carries the reference row's source and note. The only
  new figure is listed in ``DERIVED_ROWS`` and its note starts with ``DERIVED:``.
* Every curation decision is a table below (mappings, sign flips, dropped items and rows,
  duplicates and how each was resolved). An item or a duplicate that no table covers stops
  the build, so new reference data cannot slip through unreviewed.
* Standard library only; output is deterministic (sorted rows, no timestamps), UTF-8 without
  BOM, ``\\n`` line endings, minimal CSV quoting. Running it twice gives identical files.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.util
import io
import os
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = REPO / ".." / "shared" / "reference"


def _load_module(name: str, path: Path) -> ModuleType:
    """Load one stdlib-only module of the package by file path.

    Done this way (not ``import stressmodel.x``) so that the script never triggers the
    package ``__init__`` and its third-party imports: the script stays stdlib-only.
    """
    sys.dont_write_bytecode = True  # leave no __pycache__ in the package directory
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


vocabulary = _load_module(
    "_stressmodel_vocabulary", REPO / "stressmodel" / "inputs" / "vocabulary.py"
)
periods = _load_module("_stressmodel_periods", REPO / "stressmodel" / "inputs" / "periods.py")

ITEMS = vocabulary.ITEMS
STATEMENT_COLUMNS = list(vocabulary.STATEMENT_COLUMNS)
REGISTER_COLUMNS = list(vocabulary.REGISTER_COLUMNS)
PRICE_COLUMNS = ["ticker", "date", "item", "value", "unit", "source", "note"]
TRADE_COLUMNS = ["period", "destination", "tonnes", "source", "note"]

FF = "firm_financials.csv"
OPS = "operations.csv"
SP = "share_prices.csv"
EXPORTS = "magnet_exports.csv"
# curated tables beyond the reference, committed beside this script
CURATED_STATEMENTS = Path(__file__).resolve().parent / "curated_statements.csv"
CURATED_EVENTS = Path(__file__).resolve().parent / "curated_events.csv"
EVENT_COLUMNS = ["ticker", "date", "event", "shares_after", "source", "note"]
# peer group of every firm (firms.csv peer_group): all shipped firms make rare-earth
# permanent magnets (sintered NdFeB; Galaxy bonded/hot-pressed NdFeB and SmCo), so they
# form one group; a firm of another kind gets its own group and no peer estimates
PEER_GROUPS: dict[str, str] = {}
DEFAULT_PEER_GROUP = "re_magnets"


# =========================================================================================
# Curation tables
# =========================================================================================

# --- units: reference unit -> unit in inputs/ --------------------------------------------
STATEMENT_UNIT_MAP = {
    "million CNY": "CNY mn",
    "fraction": "fraction",
    "x": "x",
    "days": "days",
    "tonnes": "tonnes",
    "tonnes/year": "tonnes/year",
    "CNY/tonne": "CNY/tonne",
}
PRICE_UNIT_MAP = {
    "CNY": "CNY",
    "million CNY": "CNY mn",
    "million shares": "million shares",
    "x": "x",
    "fraction": "fraction",
}
# unit each prices.csv item must have (inputs/README.md, plus shares_outstanding per brief)
PRICE_ITEM_UNITS = {
    "close": "CNY",
    "week52_high": "CNY",
    "week52_low": "CNY",
    "market_cap": "CNY mn",
    "enterprise_value": "CNY mn",
    "beta": "x",
    "volatility": "fraction",
    "avg_weekly_movement": "fraction",
    "shares_outstanding": "million shares",
}

# --- statement items renamed to the vocabulary (reference item -> (item, note added)) ----
ITEM_RENAMES = {
    "short_term_borrowings": (
        "short_term_debt",
        "source item short_term_borrowings (短期借款)",
    ),
    "overseas_revenue": ("revenue_overseas", "source item overseas_revenue"),
    "production_volume_blanks": (
        "production_volume",
        "source item production_volume_blanks: sintered NdFeB blanks (毛坯), not finished magnets",
    ),
}

# --- sign flips: the reference shows these as negative numbers (expense / outflow) -------
SIGN_FLIPPED_ITEMS = ("interest_expense", "capex")
SIGN_FLIP_NOTE = "sign flipped from source (source shows expenses/outflows as negative)"

# --- firm_financials.csv market data: go to prices.csv, never to statements --------------
# reference item -> prices.csv item. `spot` rows always go; `FY` rows go for the three
# valuation items (date = period_end). shares_outstanding see SHARE_COUNT_ROWS below.
MARKET_ITEMS = {
    "share_price": "close",
    "market_cap": "market_cap",
    "enterprise_value": "enterprise_value",
    "shares_outstanding": "shares_outstanding",
}
FY_MARKET_ITEMS = ("share_price", "market_cap", "enterprise_value")

# Non-spot shares_outstanding rows that are period-end TOTAL share counts (总股本), not
# weighted averages: they are dated share counts, so they go to prices.csv
# (date = period_end). Every other non-spot shares_outstanding row must be a
# weighted-average count (its note says so; checked) and is dropped.
SHARE_COUNT_ROWS = {
    # (ticker, period_end, period_type, value) -> what the row is
    ("300224.SZ", "2025-03-31", "Q", "837.7145"): "period-end total shares (总股本), gubit F10",
    ("300224.SZ", "2024-12-31", "FY", "837.7125"): "period-end total shares (总股本, not weighted)",
}
WEIGHTED_SHARES_REASON = (
    "weighted-average basic share count from the income statement: not a statement item; "
    "the register and prices.csv use dated total share counts instead"
)

# --- whole tickers dropped --------------------------------------------------------------
DROPPED_TICKERS = {
    "SECTOR": "sector-level market price (Baichuan N52 blank price), not a firm; belongs in "
    "sector assumptions, not in a statements file",
}

# --- statement items dropped (item -> reason); covers both reference files --------------
DROPPED_ITEMS = {
    "employees": "head count: not a vocabulary item, not used by the model",
    "ipo_net_proceeds": "one-off IPO proceeds (Tianhe, Dec-2024): not a vocabulary item; "
    "its note gives the listing date 2025-01-03 used in firms.csv",
    "ipo_project_capex": "spending on one IPO-funded project in H1-2025: part of capex, "
    "not total capex, so it cannot be the capex item",
    "ipo_project_capex_automation": "spending on one IPO-funded project in H1-2025: part of "
    "capex, not total capex",
    "revenue_yoy_guidance_low": "management guidance range, not a reported figure",
    "revenue_yoy_guidance_high": "management guidance range, not a reported figure",
    "net_income_yoy_guidance_low": "management guidance range, not a reported figure",
    "net_income_yoy_guidance_high": "management guidance range, not a reported figure",
    "net_assets": "Zhenghai 2025-06-30 净资产 3901 (IR record): the same figure is the "
    "2025Q2 shareholders_equity row taken from firm_financials.csv (noted there)",
    "convertible_bond_delisted": "event flag (Zhenghai CB called and delisted Sep-2025): "
    "not a vocabulary item",
    "auto_segment_production_volume": "automotive-segment volume: the vocabulary has firm "
    "totals only",
    "auto_segment_sales_volume": "automotive-segment volume: the vocabulary has firm totals only",
    "magnet_gross_margin": "magnet-segment gross margin: the vocabulary has gross margins "
    "by region (domestic/overseas) only",
    "ndfeb_gross_margin": "NdFeB-segment gross margin: the vocabulary has gross margins by "
    "region (domestic/overseas) only",
    "ndfeb_revenue": "NdFeB-segment revenue (~99% of revenue): the vocabulary has total "
    "and regional revenue only",
    "unit_gross_profit": "gross profit per tonne: not a vocabulary item",
    "capacity_nantong": "plant-level capacity: the vocabulary has firm capacity only (the "
    "firm total 30,000 t/yr is in the 2024Q1 and 2025H1 capacity rows)",
    "capacity_yantai": "plant-level capacity: the vocabulary has firm capacity only (the "
    "firm total 30,000 t/yr is in the 2024Q1 and 2025H1 capacity rows)",
    "capacity_utilisation_nantong": "plant utilisation: not a vocabulary item",
    "capacity_utilisation_yantai": "plant utilisation: not a vocabulary item",
    "inventory_volume_change": "DERIVED indicative inventory build (production minus sales "
    "from two different sources): not a vocabulary item",
    "revenue_share_appliances": "end-market revenue share: not a vocabulary item",
    "revenue_share_auto": "end-market revenue share: not a vocabulary item",
    "revenue_share_consumer_electronics": "end-market revenue share: not a vocabulary item",
    "motor_sets_supplied": "count of motor sets supplied: not a vocabulary item",
    "sales_volume_check": "DERIVED cross-check of the reported FY2024 sales_volume (20165 vs "
    "20166): mentioned in the kept row's note",
}

# --- individual rows dropped: (ticker, statements period, item, value) -> reason --------
DROPPED_ROWS = {
    ("300224.SZ", "FY2022", "shareholders_equity", "3849.2466"): (
        "contradicts two confirmed figures: total assets 8879.5 (matches the rating report "
        "and annual report) minus total liabilities 5208.0 (matches etnet's 0.5866 ratio) "
        "is 3671.5, so this equity would imply minorities of -177.7 (2.0% of assets, beyond "
        "stressmodel validate's 2% balance tolerance). It is Sina's 2023 opening balance "
        "(2023 期初), possibly restated, not the FY2022 closing figure"
    ),
}

# --- operations.csv period -> statements period label -----------------------------------
# Only periods of rows that are kept need an entry (dropped items never reach this table).
OPS_PERIODS = {
    "FY2022": "FY2022",
    "FY2023": "FY2023",
    "FY2024": "FY2024",
    "H1-2025": "2025H1",
    "9M-2024": "2024-9M",
    # Zhenghai capacity from a broker report dated ~end-Mar 2024: a balance at 2024Q1
    "2024-03": "2024Q1",
    # Tianhe capacity '截至2025年' (as of 2025): read as the FY2025 (year-end 2025) stock
    "2025": "FY2025",
    # Zhenghai total assets at 2025-06-30 (IR record): a balance at 2025Q2
    "2025-06-30": "2025Q2",
}

# --- extra text appended to a kept statements row's note -------------------------------
NOTE_ADDITIONS = {
    ("300224.SZ", "FY2024", "sales_volume"): "cross-check in operations.csv "
    "(sales_volume_check): DERIVED 17178 x 1.1739 = 20165",
    ("300224.SZ", "2025Q2", "shareholders_equity"): "operations.csv has the same 净资产 "
    "3901 as net_assets (IR record 2025-09-05, https://reportify.cn/tags/product?tagValue="
    "%E6%97%A0%E9%87%8D%E7%A8%80%E5%9C%9F%E7%A3%81%E4%BD%93, 'likely attributable equity')",
}

# --- duplicates in statements: (ticker, period, item) -> (file kept, reason) ------------
# Every (ticker, period, item) that occurs more than once must be listed here, and every
# entry must occur. The kept row's note names the other value ("alternative: ...").
DUPLICATE_RESOLUTIONS = {
    ("603072.SH", "2024-9M", "revenue"): (FF, "same value and source in both files"),
    ("603072.SH", "2024-9M", "net_income"): (FF, "same value and source in both files"),
    ("603072.SH", "2025H1", "revenue"): (FF, "same value and source in both files"),
    ("300224.SZ", "FY2024", "revenue_overseas"): (FF, "same value and source in both files"),
    ("300224.SZ", "2025H1", "revenue"): (
        FF,
        "firm_financials.csv has the exact figure (305,743.74万 = 3057.4374); operations.csv "
        "rounds it to 3057.44; both are secondary sites",
    ),
    ("300224.SZ", "2025Q2", "total_assets"): (
        FF,
        "same value (86.64亿, IR answer) in both files, quoted by different secondary sites",
    ),
}


# --- the only new figures: computed from reported ones ----------------------------------
@dataclass(frozen=True)
class DerivedRow:
    ticker: str
    period: str
    item: str
    base_period: str  # the reported row the formula starts from
    base_value: str  # its value, checked against the reference
    base_note_contains: str  # text its note must contain (the y/y change used)
    yoy_change: float  # reported year-on-year change of base vs this period
    rounding: str  # how the inputs are rounded in the source
    decimals: int
    reason: str


DERIVED_ROWS = (
    DerivedRow(
        ticker="603072.SH",
        period="2024H1",
        item="revenue",
        base_period="2025H1",
        base_value="940",
        base_note_contains="-25.8% y/y",
        yoy_change=-0.258,
        rounding="940 is 9.4亿, i.e. 935-945, and -25.8% has one decimal, so the result is "
        "good to about +-7",
        decimals=1,
        reason="lets the loader compute trailing-twelve-month revenue at 2025Q2 "
        "(FY2024 + 2025H1 - 2024H1); Tianhe has no other 2024H1 figure",
    ),
)

# --- figures from public pages that the reference lacks (issue 14: the through-the-cycle
# EBIT margin averages FY2019-FY2024 where available). Same source and definitions as the
# reference rows of these firms (stockanalysis income statement: 'Revenue' = operating +
# other revenue, 'Operating Income' = gross profit less SG&A, R&D and other operating
# expenses); FY2019 is not on the free page. (ticker, period, item, value, source, note)
_SA = "https://stockanalysis.com/quote/"


def _sa(date: str, price: str) -> str:
    return f"stockanalysis income statement (snapshot price {price} at {date})"


SA_ZH = "https://stockanalysis.com/quote/she/300224/financials"
SA_TH = "https://stockanalysis.com/quote/sha/603072/financials"
_SA_NOTE_ZH = (
    "stockanalysis income statement (snapshot price 17.53 at close Feb 13, 2026; "
    "same figures in the Jun 6, 2025 snapshot)"
)
_SA_NOTE_TH = "stockanalysis income statement (snapshot price 48.08 at close Apr 29, 2025)"
PAGE_ROWS = (
    (
        "300224.SZ",
        "FY2020",
        "revenue",
        "1954",
        SA_ZH,
        _SA_NOTE_ZH + "; 'Revenue' row = Operating Revenue 1,947 + Other Revenue 7.26",
    ),
    ("300224.SZ", "FY2020", "operating_income", "98.85", SA_ZH, _SA_NOTE_ZH),
    (
        "300224.SZ",
        "FY2021",
        "revenue",
        "3370",
        SA_ZH,
        _SA_NOTE_ZH + "; 'Revenue' row = Operating Revenue 3,355 + Other Revenue 14.82",
    ),
    ("300224.SZ", "FY2021", "operating_income", "295.25", SA_ZH, _SA_NOTE_ZH),
    (
        "603072.SH",
        "FY2020",
        "revenue",
        "1137",
        SA_TH,
        _SA_NOTE_TH + "; 'Revenue' row (no Other Revenue in FY2020)",
    ),
    ("603072.SH", "FY2020", "operating_income", "113.74", SA_TH, _SA_NOTE_TH),
    (
        "603072.SH",
        "FY2021",
        "revenue",
        "1825",
        SA_TH,
        _SA_NOTE_TH + "; 'Revenue' row = Operating Revenue 1,720 + Other Revenue 105.78",
    ),
    ("603072.SH", "FY2021", "operating_income", "166.9", SA_TH, _SA_NOTE_TH),
    (
        "300127.SZ",
        "FY2020",
        "revenue",
        "604.25",
        _SA + "she/300127/financials",
        _sa("Feb 13, 2026", "36.64")
        + "; 'Revenue' row = Operating Revenue 604.2 + Other Revenue 0.05",
    ),
    (
        "300127.SZ",
        "FY2020",
        "operating_income",
        "153.19",
        _SA + "she/300127/financials",
        _sa("Feb 13, 2026", "36.64"),
    ),
    (
        "300127.SZ",
        "FY2021",
        "revenue",
        "861.14",
        _SA + "she/300127/financials",
        _sa("Feb 13, 2026", "36.64")
        + "; 'Revenue' row = Operating Revenue 858.09 + Other Revenue 3.05",
    ),
    (
        "300127.SZ",
        "FY2021",
        "operating_income",
        "207.65",
        _SA + "she/300127/financials",
        _sa("Feb 13, 2026", "36.64"),
    ),
    (
        "000970.SZ",
        "FY2019",
        "revenue",
        "4035",
        _SA + "she/000970/financials",
        _sa("Nov 13, 2024", "11.61")
        + "; 'Revenue' row = Operating Revenue 3,967 + Other Revenue 67.53",
    ),
    (
        "000970.SZ",
        "FY2019",
        "operating_income",
        "290.51",
        _SA + "she/000970/financials",
        _sa("Nov 13, 2024", "11.61"),
    ),
    (
        "000970.SZ",
        "FY2020",
        "revenue",
        "4652",
        _SA + "she/000970/financials",
        _sa("Feb 13, 2026", "14.18")
        + "; 'Revenue' row = Operating Revenue 4,428 + Other Revenue 223.67",
    ),
    (
        "000970.SZ",
        "FY2020",
        "operating_income",
        "259.72",
        _SA + "she/000970/financials",
        _sa("Feb 13, 2026", "14.18"),
    ),
    (
        "000970.SZ",
        "FY2021",
        "revenue",
        "7146",
        _SA + "she/000970/financials",
        _sa("Feb 13, 2026", "14.18") + "; 'Revenue' row (no Other Revenue in FY2021)",
    ),
    (
        "000970.SZ",
        "FY2021",
        "operating_income",
        "639.35",
        _SA + "she/000970/financials",
        _sa("Feb 13, 2026", "14.18"),
    ),
    (
        "000795.SZ",
        "FY2021",
        "revenue",
        "3760",
        _SA + "she/000795/financials",
        _sa("Mar 27, 2026", "8.76")
        + "; 'Revenue' row = Operating Revenue 3,634 + Other Revenue 125.84",
    ),
    (
        "000795.SZ",
        "FY2021",
        "operating_income",
        "95.95",
        _SA + "she/000795/financials",
        _sa("Mar 27, 2026", "8.76"),
    ),
    (
        "600366.SH",
        "FY2020",
        "revenue",
        "2399",
        _SA + "sha/600366/financials",
        _sa("Feb 6, 2026", "13.29")
        + "; 'Revenue' row = Operating Revenue 2,124 + Other Revenue 275.18",
    ),
    (
        "600366.SH",
        "FY2020",
        "operating_income",
        "46.01",
        _SA + "sha/600366/financials",
        _sa("Feb 6, 2026", "13.29"),
    ),
    (
        "600366.SH",
        "FY2021",
        "revenue",
        "3754",
        _SA + "sha/600366/financials",
        _sa("Feb 6, 2026", "13.29") + "; 'Revenue' row (no Other Revenue in FY2021)",
    ),
    (
        "600366.SH",
        "FY2021",
        "operating_income",
        "401.06",
        _SA + "sha/600366/financials",
        _sa("Feb 6, 2026", "13.29"),
    ),
    (
        "688077.SH",
        "FY2020",
        "revenue",
        "782.16",
        _SA + "sha/688077/financials",
        _sa("Feb 13, 2026", "35.04")
        + "; 'Revenue' row = Operating Revenue 708.85 + Other Revenue 73.31",
    ),
    (
        "688077.SH",
        "FY2020",
        "operating_income",
        "40.89",
        _SA + "sha/688077/financials",
        _sa("Feb 13, 2026", "35.04"),
    ),
    (
        "688077.SH",
        "FY2021",
        "revenue",
        "1655",
        _SA + "sha/688077/financials",
        _sa("Feb 13, 2026", "35.04")
        + "; 'Revenue' row = Operating Revenue 1,416 + Other Revenue 238.71",
    ),
    (
        "688077.SH",
        "FY2021",
        "operating_income",
        "138.48",
        _SA + "sha/688077/financials",
        _sa("Feb 13, 2026", "35.04"),
    ),
)

# --- prices.csv duplicates whose values differ: (ticker, date, item) -> (file kept, why) -
# Identical-value duplicates follow the default rule in `resolve_price_duplicates`:
# keep the non-CARRIED row; between two non-CARRIED rows keep the share_prices.csv one.
PRICE_DUPLICATE_OVERRIDES = {
    ("600366.SH", "2025-10-10", "market_cap"): (
        FF,
        "ratios-page figure 16477 is more precise than the statistics page's 16.48B and "
        "comes from the same page as that day's enterprise value 15699",
    ),
}

# --- firm register ----------------------------------------------------------------------
_BOARD_INFERRED = (
    "exchange/board inferred from the ticker code range (000 = SZSE main, 300/301 = SZSE "
    "ChiNext, 600/603 = SSE main, 688 = SSE STAR); not stated in the reference material"
)
EXCHANGE_BOARD = {
    "603072.SH": (
        "SSE",
        "main",
        "exchange/board stated in the reference (NOTES.md: IPO on the SSE main board, 3 Jan 2025)",
    ),
    "300224.SZ": ("SZSE", "ChiNext", _BOARD_INFERRED),
    "300127.SZ": ("SZSE", "ChiNext", _BOARD_INFERRED),
    "301622.SZ": ("SZSE", "ChiNext", _BOARD_INFERRED),
    "000795.SZ": ("SZSE", "main", _BOARD_INFERRED),
    "000970.SZ": ("SZSE", "main", _BOARD_INFERRED),
    "600366.SH": ("SSE", "main", _BOARD_INFERRED),
    "688077.SH": ("SSE", "STAR", _BOARD_INFERRED),
}
CURRENCY = "CNY"
# Ownership, listing dates and upstream ties: researched separately from public pages
# (stored copies searched on 2026-11-22); every value carries its source. "unknown" where
# no source was found. No upstream tie (JV / supply deal with a state rare-earth group) was
# confirmed for any firm, so upstream_tie is empty (unknown) for all.
# ticker -> (ownership, ownership source)
OWNERSHIP_RESEARCH = {
    "603072.SH": (
        "private",
        "http://ddx.gubit.cn/mango/zhongda/603072.html (related-party table, 2025-01-25: "
        "'公司实际控制人之一控制...的企业' - natural-person joint controllers; names not retrieved)",
    ),
    "300224.SZ": (
        "private",
        "http://money.finance.sina.com.cn/corp/view/vISSUE_RaiseExplanationDetail.php?"
        "stockid=300224&id=724264 (2011 prospectus: '控股股东正海集团有限公司及实际控制人秘波海'); "
        "controlling shareholder confirmed 2022: http://stock.stockstar.com/notice/"
        "SN2022112000000404.shtml",
    ),
    "000970.SZ": (
        "state",
        "inferred: controlling shareholder 北京三环控股 acting with its parent 中科实业集团 "
        "(http://wap.stockstar.com/detail/SN2025081500042806), whose actual controller is "
        "中国科学院控股有限公司 (https://jixuncaiwu.com/qy/show/3250); the company's own "
        "declared controller was not retrieved",
    ),
    "300127.SZ": (
        "private",
        "https://q.stock.sohu.com/cn,gg,300127,1309724917.shtml (2012 supervision report: "
        "'银河磁体无控股股东及实际控制人'; largest holder the chairman 戴炎, 33.58%); "
        "current status not re-checked",
    ),
}
OWNERSHIP_UNKNOWN = ("unknown", "not found in public pages searched (2026-11-22)")
UPSTREAM_TIE = ("", "no tie confirmed in public pages searched (2026-11-22)")
# listing dates: YYYY-MM-DD where the day is sourced, YYYY-MM or YYYY where only that is
LISTING_DATES = {
    "603072.SH": (
        "2025-01-03",
        "listing_date 2025-01-03: https://stock.stockstar.com/notice/SN2025010100006839.shtml "
        "('股票将于 2025 年 1 月 3 日在上海证券交易所主板上市')",
    ),
    "300224.SZ": (
        "2011-05",
        "listing_date May 2011 (day not found): https://www.magnet9.com/news/show.php?itemid=1487",
    ),
    "000970.SZ": (
        "2000-04-20",
        "listing_date 2000-04-20: https://longbridge.com/quote/000970.SZ/llms.txt",
    ),
    "300127.SZ": (
        "2010",
        "listing_date 2010 (day not found; expected issue date 2010-09-20): "
        "http://stock.cfi.cn/p20100910000682.html",
    ),
    "301622.SZ": (
        "2024-12-04",
        "listing_date 2024-12-04: https://00qq.net/xiaoxi/AN202412031641150982",
    ),
    "688077.SH": (
        "2020-07",
        "listing_date July 2020 (day not found; offering results 2020-07-17): "
        "http://act.ql18.com.cn/ipo/topic/1_8735092.html",
    ),
    "600366.SH": (
        "2000",
        "listing_date 2000 (IPO issue began 2000-10-12; day not found): "
        "http://ddx.gubit.cn/mango/zhongda/600366.html",
    ),
}
LISTING_DATE_PENDING = "listing_date not found in the public pages searched"
# export share used by the model: ticker -> (statements period of overseas_revenue_share,
# note); value and source are taken from that statements row
EXPORT_SHARES = {
    "300224.SZ": ("FY2024", "export_share FY2024 reported (主营构成: 国外 13.13亿 = 23.71%)"),
    "603072.SH": (
        "FY2022",
        "export_share 0.35 is DERIVED: midpoint of a 30-40% range (内销 60-70% of main-business "
        "revenue in 2020-2022), not a point estimate; dated FY2022, the last year of the range",
    ),
}
# annualised equity volatility per firm: none in the reference is usable (see report)
EQUITY_VOLATILITY: dict[str, tuple[str, str]] = {}
DEFAULT_RUN_NO = {
    "301622.SZ": "default_run no: its latest statements are FY2024 (no 2025 interim figures "
    "in the reference): it would run 4 quarters stale at the default as-of, on a balance sheet "
    "and run-rate built almost entirely from estimates",
}


# =========================================================================================
# Row types and helpers
# =========================================================================================


@dataclass
class StatementRow:
    ticker: str
    period: str
    item: str
    value: str
    unit: str
    source: str
    note: str
    origin: str  # "<file>:<line>" of the reference row, or "derived"

    @property
    def file(self) -> str:
        return self.origin.split(":")[0]


@dataclass
class PriceRow:
    ticker: str
    date: str
    item: str
    value: str
    unit: str
    source: str
    note: str
    origin: str

    @property
    def file(self) -> str:
        return self.origin.split(":")[0]

    @property
    def carried(self) -> bool:
        return self.note.startswith("CARRIED")


@dataclass
class Log:
    """What the build did, for the report."""

    reference_rows: dict[str, int] = field(default_factory=dict)
    dropped_items: Counter = field(default_factory=Counter)  # (file, item) -> rows
    dropped_tickers: Counter = field(default_factory=Counter)  # (file, ticker) -> rows
    to_prices: Counter = field(default_factory=Counter)  # (ff item, period_type) -> rows
    weighted_shares: list[str] = field(default_factory=list)
    renamed: Counter = field(default_factory=Counter)  # (from, to) -> rows
    sign_flips: list[StatementRow] = field(default_factory=list)
    stmt_duplicates: list[tuple[StatementRow, StatementRow, str]] = field(default_factory=list)
    derived: list[StatementRow] = field(default_factory=list)
    price_duplicates: list[tuple[PriceRow, list[PriceRow], str]] = field(default_factory=list)
    undated: list[dict[str, str]] = field(default_factory=list)
    dropped_rows: list[tuple[str, tuple[str, str, str, str]]] = field(default_factory=list)
    curated: list[StatementRow] = field(default_factory=list)


def join_notes(*parts: str) -> str:
    return "; ".join(p.strip() for p in parts if p and p.strip())


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows, start=2):
        row["_line"] = str(i)
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def flip_sign(value: str) -> str:
    """'-33.38' -> '33.38' keeping the reported digits exactly."""
    if value.startswith("-"):
        return value[1:]
    if float(value) == 0:
        return value
    raise ValueError(f"expected a negative (or zero) value to flip, got {value!r}")


_QUARTER_ENDS = {"03-31": 1, "06-30": 2, "09-30": 3, "12-31": 4}


def ff_period(period_end: str, period_type: str) -> str:
    """firm_financials.csv period_end + period_type -> statements period label."""
    year, mmdd = period_end[:4], period_end[5:]
    quarter = _QUARTER_ENDS.get(mmdd)
    if quarter is None:
        raise ValueError(f"{period_type} period ending {period_end} is not at a quarter end")
    expected_quarter = {"FY": 4, "H1": 2, "9M": 3}.get(period_type, quarter)
    if quarter != expected_quarter:
        raise ValueError(f"{period_type} period ending {period_end}")
    return {
        "FY": f"FY{year}",
        "Q": f"{year}Q{quarter}",
        "H1": f"{year}H1",
        "9M": f"{year}-9M",
        "TTM": f"{year}Q{quarter}-TTM",
    }[period_type]


def period_sort_key(row: StatementRow) -> tuple[int, str, str]:
    return (periods.parse_period(row.period).end, row.period, row.item)


# =========================================================================================
# Statements
# =========================================================================================


def statement_row(
    ticker: str, period: str, item: str, ref: dict[str, str], file: str, log: Log
) -> StatementRow:
    """One reference row mapped to a statements row (rename, unit, sign flip, notes)."""
    notes = [ref["note"]]
    if item in ITEM_RENAMES:
        new_item, rename_note = ITEM_RENAMES[item]
        log.renamed[(item, new_item)] += 1
        notes.append(rename_note)
        item = new_item
    if item not in ITEMS:
        raise SystemExit(f"{file}:{ref['_line']}: item {item!r} is neither mapped nor dropped")
    unit = STATEMENT_UNIT_MAP[ref["unit"]]
    if unit != ITEMS[item].unit:
        raise SystemExit(f"{file}:{ref['_line']}: unit {unit!r} != vocabulary {ITEMS[item].unit}")
    value = ref["value"]
    row = StatementRow(ticker, period, item, value, unit, ref["source_url"], "", "")
    if item in SIGN_FLIPPED_ITEMS:
        row.value = flip_sign(value)
        notes.append(SIGN_FLIP_NOTE)
        log.sign_flips.append(row)
    row.note = join_notes(*notes)
    row.origin = f"{file}:{ref['_line']}"
    if ref["note"].startswith("DERIVED") and not row.note.startswith("DERIVED:"):
        raise SystemExit(f"{row.origin}: DERIVED prefix lost")
    return row


def build_statements(
    ff_rows: list[dict[str, str]], ops_rows: list[dict[str, str]], log: Log
) -> tuple[dict[str, list[StatementRow]], list[PriceRow]]:
    candidates: list[StatementRow] = []
    market: list[PriceRow] = []

    for ref in ff_rows:
        ticker, item, ptype = ref["ticker"], ref["item"], ref["period_type"]
        where = f"{FF}:{ref['_line']}"
        if item in MARKET_ITEMS:
            if item == "shares_outstanding" and "weighted-average" in ref["note"]:
                log.dropped_items[(FF, "shares_outstanding (weighted-average)")] += 1
                log.weighted_shares.append(f"{ticker} {ff_period(ref['period_end'], ptype)}")
                continue
            count_key = (ticker, ref["period_end"], ptype, ref["value"])
            is_share_count = item == "shares_outstanding" and count_key in SHARE_COUNT_ROWS
            is_market = ptype == "spot" or (ptype == "FY" and item in FY_MARKET_ITEMS)
            if not (is_market or is_share_count):
                raise SystemExit(f"{where}: unclassified market row {item} {ptype}")
            note = ref["note"]
            if is_share_count:
                note = join_notes(note, f"{ptype} row of {FF}: {SHARE_COUNT_ROWS[count_key]}")
            market.append(
                PriceRow(
                    ticker,
                    ref["period_end"],
                    MARKET_ITEMS[item],
                    ref["value"],
                    PRICE_UNIT_MAP[ref["unit"]],
                    ref["source_url"],
                    note,
                    where,
                )
            )
            log.to_prices[(item, ptype)] += 1
            continue
        if item in DROPPED_ITEMS:
            log.dropped_items[(FF, item)] += 1
            continue
        period = ff_period(ref["period_end"], ptype)
        if (ticker, period, item, ref["value"]) in DROPPED_ROWS:
            log.dropped_rows.append((f"{FF}:{ref['_line']}", (ticker, period, item, ref["value"])))
            continue
        candidates.append(statement_row(ticker, period, item, ref, FF, log))

    for ref in ops_rows:
        ticker, item = ref["ticker"], ref["item"]
        if ticker in DROPPED_TICKERS:
            log.dropped_tickers[(OPS, ticker)] += 1
            continue
        if item in DROPPED_ITEMS:
            log.dropped_items[(OPS, item)] += 1
            continue
        if ref["period"] not in OPS_PERIODS:
            raise SystemExit(f"{OPS}:{ref['_line']}: period {ref['period']!r} not in OPS_PERIODS")
        period = OPS_PERIODS[ref["period"]]
        candidates.append(statement_row(ticker, period, item, ref, OPS, log))

    # rows from public pages beyond the reference (tools/curated_statements.csv), each sourced
    for line, ref in enumerate(read_csv(CURATED_STATEMENTS), start=2):
        item = ref["item"]
        if item not in ITEMS or ref["unit"] != ITEMS[item].unit:
            raise SystemExit(
                f"{CURATED_STATEMENTS.name}:{line}: item/unit {item!r} {ref['unit']!r}"
            )
        if not ref["source"].strip():
            raise SystemExit(f"{CURATED_STATEMENTS.name}:{line}: no source")
        key = (ref["ticker"], ref["period"], item)
        if any((c.ticker, c.period, c.item) == key for c in candidates):
            raise SystemExit(f"{CURATED_STATEMENTS.name}:{line}: {key} is already in the reference")
        candidates.append(
            StatementRow(
                ref["ticker"],
                ref["period"],
                item,
                ref["value"],
                ref["unit"],
                ref["source"],
                ref["note"],
                f"{CURATED_STATEMENTS.name}:{line}",
            )
        )
        log.curated.append(candidates[-1])
    for i, (ticker, period, item, value, source, note) in enumerate(PAGE_ROWS, start=1):
        if ITEMS[item].unit != "CNY mn":
            raise SystemExit(f"PAGE_ROWS[{i}]: {item} is not in CNY mn")
        candidates.append(
            StatementRow(ticker, period, item, value, "CNY mn", source, note, f"page:{i}")
        )

    unused = set(DROPPED_ROWS) - {key for _, key in log.dropped_rows}
    if unused:
        raise SystemExit(f"DROPPED_ROWS entries that match no reference row: {unused}")

    # resolve duplicates (ticker, period, item)
    groups: dict[tuple[str, str, str], list[StatementRow]] = defaultdict(list)
    for row in candidates:
        groups[(row.ticker, row.period, row.item)].append(row)
    duplicate_keys = {k for k, rows in groups.items() if len(rows) > 1}
    if duplicate_keys != set(DUPLICATE_RESOLUTIONS):
        raise SystemExit(
            "DUPLICATE_RESOLUTIONS out of date: unresolved "
            f"{sorted(duplicate_keys - set(DUPLICATE_RESOLUTIONS))}, stale "
            f"{sorted(set(DUPLICATE_RESOLUTIONS) - duplicate_keys)}"
        )
    by_ticker: dict[str, list[StatementRow]] = defaultdict(list)
    for key, rows in groups.items():
        kept = rows[0]
        if key in DUPLICATE_RESOLUTIONS:
            keep_file, reason = DUPLICATE_RESOLUTIONS[key]
            (kept,) = [r for r in rows if r.file == keep_file]
            for other in rows:
                if other is kept:
                    continue
                same = float(other.value) == float(kept.value)
                label = f"same value {other.value}" if same else other.value
                kept.note = join_notes(
                    kept.note, f"alternative: {label} from {other.file} ({other.source})"
                )
                log.stmt_duplicates.append((kept, other, reason))
        if key in NOTE_ADDITIONS:
            kept.note = join_notes(kept.note, NOTE_ADDITIONS[key])
        by_ticker[kept.ticker].append(kept)
    missing_additions = set(NOTE_ADDITIONS) - set(groups)
    if missing_additions:
        raise SystemExit(f"NOTE_ADDITIONS for rows that do not exist: {missing_additions}")

    for spec in DERIVED_ROWS:
        row = derive(spec, by_ticker[spec.ticker])
        by_ticker[spec.ticker].append(row)
        log.derived.append(row)

    for rows in by_ticker.values():
        rows.sort(key=period_sort_key)
    return dict(by_ticker), market


def derive(spec: DerivedRow, rows: list[StatementRow]) -> StatementRow:
    """Compute one DERIVED_ROWS entry from the reported base row (checked)."""
    (base,) = [r for r in rows if r.period == spec.base_period and r.item == spec.item]
    if base.value != spec.base_value or spec.base_note_contains not in base.note:
        raise SystemExit(f"base row for {spec} changed: {base}")
    if any(r.period == spec.period and r.item == spec.item for r in rows):
        raise SystemExit(f"{spec.ticker} {spec.period} {spec.item} is already reported")
    value = round(float(spec.base_value) / (1 + spec.yoy_change), spec.decimals)
    op = "-" if spec.yoy_change < 0 else "+"
    note = (
        f"DERIVED: {spec.base_period} {spec.item} {spec.base_value} / (1 {op} "
        f"{abs(spec.yoy_change):g}) = {value:.{spec.decimals}f}, using the "
        f"{spec.yoy_change:+.1%} y/y change reported with the {spec.base_period} figure "
        f"({base.source}); the inputs are rounded in the source ({spec.rounding}); "
        f"rounded to {spec.decimals} decimal; added because it {spec.reason}"
    )
    return StatementRow(
        spec.ticker,
        spec.period,
        spec.item,
        f"{value:.{spec.decimals}f}",
        ITEMS[spec.item].unit,
        base.source,
        note,
        "derived",
    )


# =========================================================================================
# Prices
# =========================================================================================


def build_prices(sp_rows: list[dict[str, str]], market: list[PriceRow], log: Log) -> list[PriceRow]:
    candidates = list(market)
    for ref in sp_rows:
        if not ref["date"]:
            log.undated.append(ref)
            continue
        candidates.append(
            PriceRow(
                ref["ticker"],
                ref["date"],
                ref["item"],
                ref["value"],
                PRICE_UNIT_MAP[ref["unit"]],
                ref["source_url"],
                ref["note"],
                f"{SP}:{ref['_line']}",
            )
        )
    groups: dict[tuple[str, str, str], list[PriceRow]] = defaultdict(list)
    for row in candidates:
        if PRICE_ITEM_UNITS.get(row.item) != row.unit:
            raise SystemExit(f"{row.origin}: item {row.item} unit {row.unit}")
        groups[(row.ticker, row.date, row.item)].append(row)
    stale = set(PRICE_DUPLICATE_OVERRIDES) - {k for k, v in groups.items() if len(v) > 1}
    if stale:
        raise SystemExit(f"stale PRICE_DUPLICATE_OVERRIDES: {stale}")
    out = [resolve_price_duplicates(key, rows, log) for key, rows in groups.items()]
    out.sort(key=lambda r: (r.ticker, r.date, r.item))
    return out


def resolve_price_duplicates(key: tuple[str, str, str], rows: list[PriceRow], log: Log) -> PriceRow:
    if len(rows) == 1:
        return rows[0]
    if key in PRICE_DUPLICATE_OVERRIDES:
        keep_file, reason = PRICE_DUPLICATE_OVERRIDES[key]
        (kept,) = [r for r in rows if r.file == keep_file]
    else:
        if len({float(r.value) for r in rows}) != 1:
            raise SystemExit(f"prices duplicate {key} with different values: add an override")
        # default rule: non-CARRIED first, then share_prices.csv before firm_financials.csv
        kept = min(rows, key=lambda r: (r.carried, r.file != SP))
        reason = (
            "identical value; kept the non-CARRIED row"
            if any(r.carried for r in rows)
            else "identical value; kept the share_prices.csv row"
        )
    others = [r for r in rows if r is not kept]
    for other in others:
        if other.carried:
            text = f"duplicate CARRIED copy in {other.file} not kept (same value)"
        elif float(other.value) == float(kept.value):
            text = f"duplicate in {other.file} has the same value"
        else:
            text = f"alternative: {other.value} in {other.file} ({other.source})"
        if other.source != kept.source and "alternative" not in text:
            text += f" ({other.source})"
        kept.note = join_notes(kept.note, text)
    log.price_duplicates.append((kept, others, reason))
    return kept


# =========================================================================================
# Trade
# =========================================================================================


def build_trade(export_rows: list[dict[str, str]]) -> list[list[str]]:
    rows = []
    for ref in export_rows:
        span = periods.parse_month_span(ref["month"])
        rows.append(
            (
                (span.last, span.months, ref["destination"] != "world", ref["destination"]),
                [ref["month"], ref["destination"], ref["tonnes"], ref["source_url"], ref["note"]],
            )
        )
    rows.sort(key=lambda r: r[0])
    return [r[1] for r in rows]


# =========================================================================================
# Firm register
# =========================================================================================


def build_firms(
    ff_rows: list[dict[str, str]],
    statements: dict[str, list[StatementRow]],
    prices: list[PriceRow],
) -> list[dict[str, str]]:
    names = {}
    for ref in ff_rows:
        names.setdefault(ref["ticker"], ref["company"])
    firms = []
    for ticker in sorted(statements):
        exchange, board, board_note = EXCHANGE_BOARD[ticker]
        own = prices_of(prices, ticker)
        close = max((r for r in own if r.item == "close"), key=lambda r: r.date)
        shares = max((r for r in own if r.item == "shares_outstanding"), key=lambda r: r.date)
        notes = [board_note]
        listing_date, listing_note = LISTING_DATES.get(ticker, ("", LISTING_DATE_PENDING))
        notes.append(listing_note)
        notes.append(shares_flag(shares))
        notes.append(price_flag(close, own))
        export = {"export_share": "", "export_share_period": "", "export_share_source": ""}
        if ticker in EXPORT_SHARES:
            period, export_note = EXPORT_SHARES[ticker]
            (row,) = [
                r
                for r in statements[ticker]
                if r.item == "overseas_revenue_share" and r.period == period
            ]
            export = {
                "export_share": row.value,
                "export_share_period": period,
                "export_share_source": row.source,
            }
            notes.append(export_note)
        else:
            notes.append(
                "export_share not reported (the model uses the sector-level export share of sector.toml, marked estimated)"
            )
        vol, vol_source = EQUITY_VOLATILITY.get(ticker, ("", ""))
        notes.append(DEFAULT_RUN_NO.get(ticker, ""))
        firms.append(
            {
                "ticker": ticker,
                "company_name": names[ticker],
                "exchange": exchange,
                "board": board,
                "currency": CURRENCY,
                "ownership": OWNERSHIP_RESEARCH.get(ticker, OWNERSHIP_UNKNOWN)[0],
                "ownership_source": OWNERSHIP_RESEARCH.get(ticker, OWNERSHIP_UNKNOWN)[1],
                "upstream_tie": UPSTREAM_TIE[0],
                "upstream_tie_source": UPSTREAM_TIE[1],
                "listing_date": listing_date,
                "shares_outstanding": shares.value,
                "shares_date": shares.date,
                "shares_source": shares.source,
                "share_price": close.value,
                "price_date": close.date,
                "price_source": close.source,
                **export,
                "equity_volatility": vol,
                "equity_volatility_source": vol_source,
                "peer_group": PEER_GROUPS.get(ticker, DEFAULT_PEER_GROUP),
                "default_run": "no" if ticker in DEFAULT_RUN_NO else "yes",
                "note": join_notes(*notes),
            }
        )
    return firms


def prices_of(prices: list[PriceRow], ticker: str) -> list[PriceRow]:
    return [r for r in prices if r.ticker == ticker]


def price_flag(close: PriceRow, own: list[PriceRow]) -> str:
    """What the register note must say about its price observation, if anything."""
    if close.note.startswith("DERIVED"):
        observed = [r for r in own if r.item == "close" and not r.note.startswith("DERIVED")]
        last = max(observed, key=lambda r: r.date)
        return (
            "share_price is an implied price (DERIVED in prices.csv: market cap / shares), "
            f"not an observed close; last observed close {last.value} on {last.date}"
        )
    if "INTRADAY" in close.note.upper():
        return "share_price is an intraday price (see prices.csv note)"
    return ""


def shares_flag(shares: PriceRow) -> str:
    """Flag share counts the source prints rounded (e.g. '1.10B')."""
    if re.fullmatch(r"\d+\.\d+B", shares.note.strip()):
        return f"share count rounded in the source ({shares.note.strip()})"
    return f"shares: {shares.note}" if shares.note else ""


# =========================================================================================
# Consistency checks (reported, never "fixed")
# =========================================================================================


def _near(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol * max(abs(a), abs(b), 1.0)


def consistency_checks(statements: dict[str, list[StatementRow]]) -> list[tuple[str, str, str]]:
    """Arithmetic identities between reported figures: (ticker, check, result) rows.

    Listed only where they fail, except the equity bridge, the YTD bridges and the TTM
    bridges, which are always listed (they show minorities and differencing quality).
    """
    out: list[tuple[str, str, str]] = []
    for ticker, rows in sorted(statements.items()):
        v = {(r.period, r.item): float(r.value) for r in rows}
        labels = sorted({r.period for r in rows}, key=lambda p: (periods.parse_period(p).end, p))
        for p in labels:
            g = {item: v.get((p, item)) for item in ITEMS}
            rev, cost, gp = g["revenue"], g["cost_of_revenue"], g["gross_profit"]
            if None not in (rev, cost, gp) and not _near(rev - cost, gp, 0.005):
                out.append(
                    (
                        ticker,
                        f"{p}: revenue - cost_of_revenue vs gross_profit",
                        f"{rev - cost:.2f} vs {gp:g}",
                    )
                )
            ta, tl, la = g["total_assets"], g["total_liabilities"], g["liabilities_to_assets"]
            if None not in (ta, tl, la) and not _near(tl / ta, la, 0.01):
                out.append(
                    (
                        ticker,
                        f"{p}: total_liabilities / total_assets vs liabilities_to_assets",
                        f"{tl / ta:.4f} vs {la:g}",
                    )
                )
            eq = g["shareholders_equity"]
            if None not in (ta, tl, eq):
                diff = ta - tl - eq
                out.append(
                    (
                        ticker,
                        f"{p}: total_assets - total_liabilities - shareholders_equity "
                        "(minorities if > 0)",
                        f"{diff:.1f} ({diff / ta:.1%} of assets)",
                    )
                )
            debt, cash, nd = g["total_debt"], g["cash_and_equivalents"], g["net_debt"]
            if None not in (debt, cash, nd) and not _near(debt - cash, nd, 0.02):
                out.append(
                    (
                        ticker,
                        f"{p}: total_debt - cash_and_equivalents vs net_debt",
                        f"{debt - cash:.1f} vs {nd:g}",
                    )
                )
            ca, cl, cr = g["current_assets"], g["current_liabilities"], g["current_ratio"]
            if None not in (ca, cl, cr) and not _near(ca / cl, cr, 0.01):
                out.append(
                    (
                        ticker,
                        f"{p}: current_assets / current_liabilities vs current_ratio",
                        f"{ca / cl:.3f} vs {cr:g}",
                    )
                )
        years = sorted({periods.parse_period(p).year for p in labels})
        for item in ("revenue", "net_income"):
            # single quarters vs year-to-date: Q1 + Q2 = H1, H1 + Q3 = 9M, 9M + Q4 = FY
            for y in years:
                for n in (2, 3, 4):
                    before = v.get((periods.ytd_label(y, n - 1), item))
                    ytd = v.get((periods.ytd_label(y, n), item))
                    single = v.get((f"{y}Q{n}", item))
                    if None in (before, ytd, single):
                        continue
                    ok = "ok" if _near(ytd - before, single, 0.002) else "DIFFERS"
                    out.append(
                        (
                            ticker,
                            f"{item}: {periods.ytd_label(y, n)} - "
                            f"{periods.ytd_label(y, n - 1)} vs {y}Q{n}",
                            f"{ytd - before:.2f} vs {single:g} ({ok})",
                        )
                    )
            # reported TTM vs FY(prior) + YTD(quarter) - YTD(same quarter, prior year)
            for p in labels:
                per = periods.parse_period(p)
                if per.kind != periods.PeriodKind.TTM or (p, item) not in v:
                    continue
                y, n = per.year, per.end % 4 + 1
                fy = v.get((f"FY{y - 1}", item))
                cur = v.get((periods.ytd_label(y, n), item))
                prev = v.get((periods.ytd_label(y - 1, n), item))
                if None in (fy, cur, prev):
                    continue
                calc = fy + cur - prev
                ok = "ok" if _near(calc, v[(p, item)], 0.01) else "DIFFERS"
                out.append(
                    (
                        ticker,
                        f"{item}: {p} reported vs FY{y - 1} + YTD - prior YTD",
                        f"{v[(p, item)]:g} vs {calc:.1f} ({ok})",
                    )
                )
    return out


def trade_checks(trade: list[list[str]]) -> list[tuple[str, str]]:
    world: dict[str, float] = {r[0]: float(r[2]) for r in trade if r[1] == "world"}
    out = []
    for label, tonnes in sorted(world.items()):
        span = periods.parse_month_span(label)
        if span.is_single_month:
            continue
        months = [periods.month_label(i) for i in range(span.first, span.last + 1)]
        if all(m in world for m in months):
            total = sum(world[m] for m in months)
            out.append(
                (label, f"months sum {total:g} vs reported {tonnes:g} ({total - tonnes:+g} t)")
            )
        else:
            missing = [m for m in months if m not in world]
            out.append((label, f"not checkable: months missing {', '.join(missing)}"))
    return out


# =========================================================================================
# Self-check of the written files
# =========================================================================================


def read_back(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf"), f"{path}: BOM"
    assert b"\r" not in data, f"{path}: CR line ending"
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader)
    return header, [dict(zip(header, r, strict=True)) for r in reader]


def is_date(text: str) -> bool:
    try:
        return dt.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def self_check(inputs: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    fraction_items = set(vocabulary.FRACTION_ITEMS)
    stmt_tickers = []
    for path in sorted((inputs / "statements").glob("*.csv")):
        ticker = path.stem
        stmt_tickers.append(ticker)
        header, rows = read_back(path)
        assert header == STATEMENT_COLUMNS, (path, header)
        seen = set()
        keys = []
        for n, r in enumerate(rows, start=2):
            where = f"{path.name}:{n}"
            item = ITEMS.get(r["item"])
            assert item is not None, f"{where}: unknown item {r['item']}"
            assert r["unit"] == item.unit, f"{where}: unit {r['unit']} for {item.name}"
            per = periods.parse_period(r["period"])
            assert (r["period"], r["item"]) not in seen, f"{where}: duplicate"
            seen.add((r["period"], r["item"]))
            keys.append((per.end, r["period"], r["item"]))
            if r["value"] == "":
                continue
            assert r["source"].strip(), f"{where}: value without source"
            x = float(r["value"])
            if item.sign == "nonneg":
                assert x >= 0, f"{where}: {item.name} must be >= 0"
            if item.sign == "pos":
                assert x > 0, f"{where}: {item.name} must be > 0"
            if r["item"] in fraction_items:
                assert 0 <= x <= 1, f"{where}: fraction out of [0, 1]"
            if r["item"] in SIGN_FLIPPED_ITEMS:
                assert x >= 0 and SIGN_FLIP_NOTE in r["note"], where
        assert keys == sorted(keys), f"{path.name}: rows not sorted"
        counts[f"statements/{path.name}"] = len(rows)

    header, prices = read_back(inputs / "prices.csv")
    assert header == PRICE_COLUMNS, header
    seen_p = set()
    for n, r in enumerate(prices, start=2):
        where = f"prices.csv:{n}"
        key = (r["ticker"], r["date"], r["item"])
        assert key not in seen_p, f"{where}: duplicate {key}"
        seen_p.add(key)
        assert is_date(r["date"]), f"{where}: date {r['date']!r}"
        assert PRICE_ITEM_UNITS[r["item"]] == r["unit"], where
        float(r["value"])
        assert r["source"].strip(), where
        if r["unit"] == "fraction":
            assert 0 <= float(r["value"]) <= 1, where
    counts["prices.csv"] = len(prices)

    header, trade = read_back(inputs / "trade.csv")
    assert header == TRADE_COLUMNS, header
    for n, r in enumerate(trade, start=2):
        periods.parse_month_span(r["period"])
        assert float(r["tonnes"]) >= 0 and r["source"].strip(), f"trade.csv:{n}"
    counts["trade.csv"] = len(trade)

    header, firms = read_back(inputs / "firms.csv")
    assert header == REGISTER_COLUMNS, header
    assert sorted(f["ticker"] for f in firms) == stmt_tickers, "register vs statements files"
    pending = {"listing_date", "upstream_tie"}  # may be empty: not found in public sources
    for f in firms:
        t = f["ticker"]
        assert re.match(vocabulary.TICKER_PATTERN, t), t
        for col in vocabulary.REGISTER_REQUIRED:
            assert f[col] or col in pending, f"firms.csv {t}: {col} empty"
        assert f["exchange"] in ("SSE", "SZSE", "BSE") and f["board"] in (
            "main",
            "ChiNext",
            "STAR",
        ), t
        assert f["ownership"] in ("state", "private", "unknown"), t
        assert f["default_run"] in ("yes", "no"), t
        assert float(f["shares_outstanding"]) > 0 and is_date(f["shares_date"]), t
        own = [p for p in prices if p["ticker"] == t]
        latest_close = max((p for p in own if p["item"] == "close"), key=lambda p: p["date"])
        assert (f["share_price"], f["price_date"], f["price_source"]) == (
            latest_close["value"],
            latest_close["date"],
            latest_close["source"],
        ), f"firms.csv {t}: price differs from the latest close in prices.csv"
        latest_shares = max(
            (p for p in own if p["item"] == "shares_outstanding"), key=lambda p: p["date"]
        )
        assert (f["shares_outstanding"], f["shares_date"]) == (
            latest_shares["value"],
            latest_shares["date"],
        ), t
        if f["export_share"]:
            assert 0 <= float(f["export_share"]) <= 1 and f["export_share_period"], t
            periods.parse_period(f["export_share_period"])
        if f["listing_date"]:
            assert re.match(r"^\d{4}(-\d{2}(-\d{2})?)?$", f["listing_date"]), t
    counts["firms.csv"] = len(firms)
    return counts


# =========================================================================================
# Report
# =========================================================================================

STATEMENT_GROUPS = {
    "income statement": (
        "revenue",
        "cost_of_revenue",
        "gross_profit",
        "sga",
        "rnd",
        "operating_income",
        "interest_expense",
        "net_income",
        "ebitda",
        "depreciation_amortization",
    ),
    "cash flow": ("operating_cash_flow", "capex"),
    "balance sheet": (
        "cash_and_equivalents",
        "receivables",
        "inventory",
        "payables",
        "current_assets",
        "current_liabilities",
        "total_assets",
        "total_liabilities",
        "shareholders_equity",
        "total_debt",
        "short_term_debt",
        "net_debt",
    ),
    "ratios": (
        "liabilities_to_assets",
        "current_ratio",
        "inventory_days",
        "receivable_days",
        "inventory_turnover",
    ),
    "export / operations": (
        "overseas_revenue_share",
        "revenue_overseas",
        "revenue_domestic",
        "gross_margin_overseas",
        "gross_margin_domestic",
        "sales_volume",
        "production_volume",
        "capacity",
        "avg_selling_price",
    ),
}

# Hand-written interpretation of the gaps (the tables above it are generated).
GAP_NOTES = {
    "603072.SH": [
        "No reported balance sheet for any 2024 or 2025 date. The 2025 balance-sheet rows "
        "are all DERIVED from stockanalysis valuation ratios (2025Q1 cash, total debt, net "
        "debt, equity; 2025Q3 equity from Longbridge P/B). Reported balance items are FY2022 "
        "cash and short-term borrowings (prospectus excerpt) and FY2023 inventory and "
        "receivables whose date the source does not state (could be 2024-06-30).",
        "No total assets or liabilities in any period: leverage only as "
        "liabilities_to_assets (FY2022, FY2023, 2024-9M).",
        "2025 flows: only 2025H1 revenue (rounded, secondary site). No 2025 net income, "
        "costs or cash flow; the latest full income statement is 2025Q1-TTM.",
        "FY2024 interest expense is missing ('-' in the source).",
        "Cash flow: OCF FY2020-FY2022 (prospectus) and 2025Q1-TTM (DERIVED); capex and D&A "
        "only 2025Q1-TTM (DERIVED).",
        "Export share only the DERIVED FY2022 midpoint of a 30-40% range; no overseas "
        "revenue, no regional margins, no sales volume or selling price.",
    ],
    "300224.SZ": [
        "Cash, receivables, inventory and current assets are missing for FY2022-FY2023; for "
        "FY2024 cash, inventory and current assets are DERIVED from ratios (cash flagged "
        "CONFLICT in its note).",
        "Capex (FY2023-FY2024), D&A (FY2022-FY2024) and EBITDA (FY2022-FY2024, "
        "2025Q3-TTM) are DERIVED only; no reported capex or D&A, none at all for 2025.",
        "Overseas share: FY2019-FY2021, 2022H1 and FY2024 only; none for FY2022, FY2023 or "
        "2025. Regional margins FY2024 only.",
        "Interest expense only for FY and TTM periods (no quarterly split).",
        "No FY2022 shareholders_equity (the reference figure was dropped, see DROPPED_ROWS).",
    ],
    "000970.SZ": [
        "Balance sheet only at 2025Q3 (total assets, liabilities, equity - the equity "
        "figure likely includes minorities) plus the 2025Q1 liabilities_to_assets ratio; "
        "no cash, debt, inventory or receivables in any period.",
        "2025 flows: 2025Q1 revenue and net income, 2025H1 revenue, 2025Q3-TTM income "
        "statement; FY2025 has revenue only (preliminary earnings flash).",
        "OCF FY2023-FY2024 and EBITDA are DERIVED; no capex, no D&A; no export share.",
    ],
    "600366.SH": [
        "No balance-sheet amounts at all; leverage only as liabilities_to_assets (FY2022, "
        "FY2023, 2024-9M).",
        "2025 flows only as 2025Q3-TTM (no 2025 YTD figures). OCF and EBITDA DERIVED; no "
        "capex, D&A or export share.",
    ],
    "301622.SZ": [
        "Revenue and net income only (FY2022-FY2024, 2024Q3-TTM) plus a DERIVED FY2024 "
        "EBITDA; no costs, no balance sheet, no cash flow, no 2025 figures. default_run = "
        "no.",
    ],
    "688077.SH": [
        "No balance-sheet amounts or ratios in any period.",
        "FY2025 income statement lacks net income and interest expense; OCF and capex only "
        "FY2024 (secondary site); EBITDA DERIVED; no export share.",
    ],
    "000795.SZ": [
        "Net income is DERIVED for FY2022-FY2024 (row cut off in the source) and missing "
        "for FY2025.",
        "No balance sheet, no 2025 interim figures, no TTM rows; OCF and EBITDA DERIVED; no "
        "capex, D&A or export share.",
    ],
    "300127.SZ": [
        "The most complete balance sheet (FY2022-FY2025, 2025Q3) but no shareholders_equity "
        "row, and FY2025 total liabilities are missing. cash_and_equivalents includes "
        "short-term investments (trading securities).",
        "FY2025 income statement lacks interest expense; OCF only 2025-9M; no capex, D&A or "
        "EBITDA; no export share.",
    ],
}

UNSURE = [
    "Dropped Zhenghai FY2022 shareholders_equity 3849.2466 (reported by Sina as the 2023 "
    "opening balance): it breaks the balance identity against two confirmed figures and made "
    "stressmodel validate fail (gap 2.001% vs 2% tolerance). To keep it instead, delete its "
    "DROPPED_ROWS entry; validation will then flag that row.",
    "Tianhe's register price is the latest close in prices.csv, which is the DERIVED "
    "implied price 44.69 on 2026-03-02 (Longbridge market cap 11,810 / 264.28M shares, "
    "share count assumed unchanged). The last observed close is 48.08 on 2025-04-29. The "
    "brief's rule (latest dated close) was followed and the firm note says so.",
    "prices.csv carries shares_outstanding rows (as the brief asks); inputs/README.md's "
    "prices item list does not name shares_outstanding, so the loader must accept it.",
    "Two Zhenghai period-end total share counts (2024-12-31 837.7125M, 2025-03-31 "
    "837.7145M; 总股本, not weighted) went to prices.csv as shares_outstanding, although "
    "they are not spot rows. They are dated counts and not weighted averages; they do not "
    "affect the register (latest count is 925.31M on 2026-01-23).",
    "Tianhe FY2023 inventory (1340) and receivables (648): the source does not state the "
    "period; the reference put them at 2023-12-31 ('could be 2024-06-30'). Kept at FY2023 "
    "with that note.",
    "Boards of the seven peers are inferred from ticker code ranges, not from the "
    "reference (only Tianhe's SSE main board is stated). The firm notes say so.",
    "Yunsheng 2025-10-10 market cap: 16477 (ratios page) kept over 16480 (statistics "
    "page); the other value is in the note.",
    "Capacity periods: Tianhe '截至2025年 12,300 t/yr' mapped to FY2025 (a year-end 2025 "
    "stock, though the source may mean a date during 2025); Zhenghai 30,000 t/yr from a "
    "report of ~end-Mar 2024 mapped to 2024Q1.",
    "ZKSH 2025Q3 shareholders_equity 7440 equals total assets minus total liabilities, "
    "so it likely includes minorities, while the item means attributable equity. Kept with "
    "its note ('likely incl. minorities').",
    "Zhenghai 2025Q1 net_income 69.4868 is labelled 净利润 (not explicitly attributable); "
    "it is consistent with the attributable 2025H1 figure and the DERIVED 2025Q2 figure.",
    "Zhenghai FY2022 production (16034) and sales (15316) volumes are DERIVED in the "
    "reference from FY2023 figures and rounded growth rates; kept as DERIVED rows.",
    "Undated volatilities (Galaxy 0.2477, Earth-Panda 0.6116) and Galaxy's undated beta "
    "1.47 were dropped, so equity_volatility is empty for every firm (sector default).",
]


# Hand-written reading of the consistency table and other oddities seen while curating.
ODDITIES = [
    "Zhenghai FY2022: the reference's attributable equity 3849.2 (Sina DuPont page, "
    "'2023 期初') exceeds total assets minus total liabilities 3671.5 by 177.7 (2.0% of "
    "assets), impossible with non-negative minorities; assets and liabilities are confirmed "
    "by other sources, so the equity row was dropped (see DROPPED_ROWS) - with it, "
    "stressmodel validate failed its balance identity.",
    "Zhenghai net_debt (EV minus market cap, DERIVED) disagrees with total_debt minus "
    "cash: FY2024 -640 vs 976.0 - 2547.4 = -1571 (both debt and cash DERIVED, cash flagged "
    "CONFLICT); 2025Q3 -1690 vs 4.8 - 712 = -707 (712 is 货币资金 only, excluding trading "
    "financial assets). EV-based net debt also absorbs minorities and short-term "
    "investments, so the items measure different things.",
    "Zhenghai 2025Q1 total assets 9207 (rating-report summary) sit 5% above both FY2024 "
    "(8775.3) and 2025Q2 (8664); single source.",
    "Zhenghai leverage drops from 0.545 (2025Q2) to 0.416 (2025-9M) and equity rises "
    "3901 -> 5062 with the convertible-bond conversion; debt falls to 4.8. Any model "
    "reading leverage must take the latest balance, not an average.",
    "ZKSH 2025Q3 equity 7440 = total assets 10530 - total liabilities 3090 exactly, so it "
    "includes minorities; its 2025Q1 liabilities_to_assets 0.257 vs 0.293 implied at "
    "2025Q3.",
    "Tianhe FY2022 operating cash flow -526.8 against net income +222.8 (prospectus); its "
    "current ratio jumps from 1.73 (2024-9M) to 2.74 (2025Q1) with the IPO cash.",
    "Zhenghai FY2024 weighted shares (839M, dropped) exceed the period-end count "
    "(837.7M, kept in prices.csv); the 2025Q1 count 837.7145M vs 833.8M on 2025-04-25 "
    "(stockanalysis) also disagree slightly (different sources).",
    "Dates printed on a Saturday are kept as printed: INST close 71.08 on 2025-03-29 "
    "(likely the 28 Mar close), Zhenghai simplywall.st snapshot 2024-04-27.",
    "Innuovo's beta is negative (-0.03 on 2025-07-18, -0.18 on 2025-10-13). The reference "
    "notes of Innuovo's FY2022 and FY2023 share prices repeat the FY2024 '9.73' remark "
    "(copied in the reference; kept as is).",
    "Trade: NOTES.md says the 2025 world months sum exactly to the cumulatives; they "
    "exceed them by 3-5 t (Feb-2025 and Mar-2025 are DERIVED from y/y changes). The 2024 "
    "monthly series has only Apr-Oct (five of the seven months DERIVED), so 2024-FY "
    "cannot be checked against months.",
]


def md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(x: str) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def build_report(
    reference: Path,
    log: Log,
    statements: dict[str, list[StatementRow]],
    prices: list[PriceRow],
    trade: list[list[str]],
    firms: list[dict[str, str]],
    counts: dict[str, int],
) -> str:
    try:
        ref_label = os.path.relpath(reference.resolve(), REPO.resolve())
    except ValueError:
        ref_label = str(reference)
    names = {f["ticker"]: f["company_name"] for f in firms}
    out: list[str] = []
    w = out.append

    w("# BUILD_INPUTS_REPORT - how `inputs/` was built from the reference\n")
    w(
        "Generated by `tools/build_inputs.py` (do not edit by hand; change the tables in the "
        "script and re-run). Reference directory: `" + ref_label + "`.\n"
    )
    w("## What the script does\n")
    w(
        "1. Reads the four reference CSVs (rows read: "
        + ", ".join(f"`{k}` {v}" for k, v in sorted(log.reference_rows.items()))
        + ").\n"
        "2. **Statements**: maps every `firm_financials.csv` and `operations.csv` row whose "
        "item is in the vocabulary (after the renames below) to `inputs/statements/<TICKER>"
        ".csv`: period label per `stressmodel/inputs/periods.py` (FY -> `FY2024`, Q -> `2025Q1`, "
        "H1 -> `2025H1`, 9M -> `2025-9M`, TTM -> `2025Q1-TTM`; operations periods through "
        "the `OPS_PERIODS` table), unit per the vocabulary (`million CNY` -> `CNY mn`), "
        "value exactly as reported (except the sign flips below), `source` = the reference "
        "`source_url`, `note` = the reference note (a `DERIVED:` prefix stays first) plus "
        "what the build did to the row. Duplicates are resolved by an explicit table; one "
        "new DERIVED row is added.\n"
        "3. **Prices**: every dated row of `share_prices.csv`, plus the `spot` market rows "
        "and the FY-end share price / market cap / EV rows of `firm_financials.csv` "
        "(date = period end), deduplicated on (ticker, date, item).\n"
        "4. **Trade**: every row of `magnet_exports.csv` (month -> period unchanged, it "
        "already follows the grammar).\n"
        "5. **Register**: one row per firm; share count and price are the latest dated "
        "`shares_outstanding` and `close` rows of `prices.csv`.\n"
        "6. Re-reads every written file and asserts the format rules (items, units, "
        "periods, signs, fractions in [0, 1], no duplicates, sort order, sources present, "
        "register price = latest close, UTF-8 without BOM, `\\n` endings).\n"
    )

    w("## Files and row counts\n")
    w(md_table(["file", "rows"], [[k, str(v)] for k, v in sorted(counts.items())]) + "\n")
    per_firm = []
    for t in sorted(statements):
        rows = statements[t]
        derived = sum(r.note.startswith("DERIVED") for r in rows)
        per_firm.append(
            [
                t,
                names[t],
                str(len(rows)),
                str(derived),
                str(sum(r.file == OPS for r in rows)),
                str(len(prices_of(prices, t))),
            ]
        )
    w(
        md_table(
            [
                "ticker",
                "company",
                "statements rows",
                "of which DERIVED",
                "of which from operations.csv",
                "prices rows",
            ],
            per_firm,
        )
        + "\n"
    )

    w("## Curation decisions\n")
    w("### Item renames\n")
    w(
        md_table(
            ["reference item", "statements item", "rows"],
            [[a, b, str(n)] for (a, b), n in sorted(log.renamed.items())],
        )
        + "\n"
    )
    w("### Sign flips\n")
    w(
        "`interest_expense` and `capex` are negative in the reference (negative = expense / "
        "outflow); they are written as positive numbers and the note says "
        f'"{SIGN_FLIP_NOTE}". {len(log.sign_flips)} rows:\n'
    )
    flips: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in sorted(log.sign_flips, key=lambda r: (r.ticker, r.item, period_sort_key(r))):
        flips[(r.ticker, r.item)].append(r.period)
    w(
        md_table(
            ["ticker", "item", "periods"],
            [[t, i, ", ".join(p)] for (t, i), p in sorted(flips.items())],
        )
        + "\n"
    )
    w("### Rows from public pages beyond the reference\n")
    w(
        "`tools/curated_statements.csv` adds figures found on public pages (search of stored "
        "interim/quarterly reports and broker notes) where a gap blocked a shipped firm's TTM or "
        "left its balance sheet to peer estimates; each row keeps its URL, and `DERIVED:` rows "
        "give the formula. `tools/curated_events.csv` is copied to `inputs/events.csv` "
        "(corporate events with their sources). Nothing is interpolated.\n"
    )
    w("| ticker | period | item | value | source |")
    w("|---|---|---|---|---|")
    for r in log.curated:
        w(f"| {r.ticker} | {r.period} | {r.item} | {r.value} | {r.source} |")
    w("")
    w("### Rows not carried into statements\n")
    w(
        "Market data of `firm_financials.csv` moved to `prices.csv` (not dropped):\n\n"
        + md_table(
            ["reference item", "period_type", "rows"],
            [[i, p, str(n)] for (i, p), n in sorted(log.to_prices.items())],
        )
        + "\n"
    )
    reasons = dict(DROPPED_ITEMS)
    reasons["shares_outstanding (weighted-average)"] = WEIGHTED_SHARES_REASON
    dropped = [
        [item, file, str(n), reasons[item]] for (file, item), n in sorted(log.dropped_items.items())
    ]
    dropped += [
        [f"(ticker {t})", file, str(n), DROPPED_TICKERS[t]]
        for (file, t), n in sorted(log.dropped_tickers.items())
    ]
    w("Dropped, with the reason:\n\n" + md_table(["item", "file", "rows", "reason"], dropped))
    w("\nIndividual rows dropped (`DROPPED_ROWS`):\n")
    for origin, key in log.dropped_rows:
        w(f"- {origin} {' '.join(key)}: {DROPPED_ROWS[key]}.")
    w(
        f"\nTotal dropped: {sum(log.dropped_items.values()) + sum(log.dropped_tickers.values())}"
        " rows. Weighted-average share counts dropped: " + ", ".join(log.weighted_shares) + ".\n"
    )
    w("### Duplicates resolved in statements\n")
    w(
        md_table(
            ["ticker", "period", "item", "kept", "other", "reason"],
            [
                [
                    k.ticker,
                    k.period,
                    k.item,
                    f"{k.value} ({k.origin})",
                    f"{o.value} ({o.origin})",
                    reason,
                ]
                for k, o, reason in sorted(
                    log.stmt_duplicates, key=lambda x: (x[0].ticker, period_sort_key(x[0]))
                )
            ],
        )
        + "\n"
    )
    w("Notes appended to kept rows from other rows:\n")
    for (t, p, i), text in sorted(NOTE_ADDITIONS.items()):
        w(f"- {t} {p} {i}: {text}")
    w("")
    w("### Rows from public pages that the reference lacks (`PAGE_ROWS`)\n")
    w(
        "FY2019-FY2021 revenue and operating income for the through-the-cycle EBIT margin "
        "(issue 14), from the same stockanalysis income statements as the reference rows:\n"
    )
    for ticker, period, item, value, source, _note in PAGE_ROWS:
        w(f"- {ticker} `{period}` `{item}` = {value} CNY mn ({source})")
    w("")
    w("### Derived rows added (the only computed figures)\n")
    for r in log.derived:
        w(f"- {r.ticker} `{r.period}` `{r.item}` = {r.value} {r.unit}. Note: {r.note}")
    w(
        "\nNo other derived row is needed by the format: every other TTM the loader needs "
        "is either reported or computable from reported FY/YTD rows, and the register "
        "takes dated figures as they are.\n"
    )
    w("### Period-kind check of single-quarter flows\n")
    q_flows = [
        [r.ticker, r.period, r.item, r.value, r.note[:110]]
        for t in sorted(statements)
        for r in statements[t]
        if periods.parse_period(r.period).kind == periods.PeriodKind.QUARTER
        and ITEMS[r.item].kind == "flow"
    ]
    w(
        "Every `Q` flow row was read as a single quarter (the reference says so, or it is Q1, "
        "or it is DERIVED as a difference of YTD figures):\n\n"
        + md_table(["ticker", "period", "item", "value", "note (start)"], q_flows)
        + "\n"
    )

    w("### prices.csv\n")
    by_rule = Counter(reason for _, _, reason in log.price_duplicates)
    w(
        f"{len(prices)} rows: {sum(1 for r in prices if r.file == SP)} kept from "
        f"`share_prices.csv`, {sum(1 for r in prices if r.file == FF)} from "
        f"`firm_financials.csv`. {len(log.price_duplicates)} (ticker, date, item) keys had "
        "more than one row; one was kept and the note names the other:\n"
    )
    w(md_table(["rule", "keys"], [[k, str(v)] for k, v in sorted(by_rule.items())]) + "\n")
    w(
        md_table(
            ["ticker", "date", "item", "value", "kept", "dropped"],
            [
                [
                    k.ticker,
                    k.date,
                    k.item,
                    k.value,
                    k.origin,
                    ", ".join(o.origin + (" (CARRIED)" if o.carried else "") for o in others),
                ]
                for k, others, _ in sorted(
                    log.price_duplicates, key=lambda x: (x[0].ticker, x[0].date, x[0].item)
                )
            ],
        )
        + "\n"
    )
    w("Undated rows of `share_prices.csv` dropped (cannot be placed in time):\n")
    w(
        md_table(
            ["line", "ticker", "item", "value", "source", "note"],
            [
                [r["_line"], r["ticker"], r["item"], r["value"], r["source_url"], r["note"]]
                for r in log.undated
            ],
        )
        + "\n"
    )
    w("### trade.csv\n")
    w(
        f"{len(trade)} rows, all rows of `magnet_exports.csv`; periods already in the "
        "grammar (`2025-05`, `2025-01/2025-05`, `2024-FY`); text sources kept as they are "
        f"({sum(1 for r in trade if not r[3].startswith('http'))} rows without a URL). "
        "Sorted by last month, span length, `world` first, destination.\n"
    )
    w("Consistency of monthly world figures with cumulative and full-year rows:\n")
    w(md_table(["period", "check"], [list(x) for x in trade_checks(trade)]) + "\n")

    w("### firms.csv\n")
    w(
        "- `ownership`, `listing_date` and `upstream_tie` come from public pages searched on "
        "2026-11-22 (the `OWNERSHIP_RESEARCH` and `LISTING_DATES` tables of this script, each "
        "with its source): ownership is "
        + ", ".join(
            f"{t} {OWNERSHIP_RESEARCH.get(t, OWNERSHIP_UNKNOWN)[0]}" for t in sorted(statements)
        )
        + ". No tie to a state rare-earth group was confirmed for any firm, so `upstream_tie` "
        "is empty (unknown; the model uses the sector assumption). Listing dates are given to "
        "the day where a source gives the day, else to the month or year; missing for: "
        + (", ".join(t for t in sorted(statements) if t not in LISTING_DATES) or "none")
        + ".\n"
        "- `shares_outstanding`/`shares_date`/`shares_source` and `share_price`/"
        "`price_date`/`price_source` are the latest dated `shares_outstanding` and `close` "
        "rows of `prices.csv` (checked equal).\n"
        "- `export_share`: Zhenghai 0.2371 (FY2024, reported); Tianhe 0.35 (FY2022, DERIVED "
        "midpoint of 30-40%); others empty.\n"
        "- `equity_volatility`: empty for all (sector default). The only volatilities in the "
        "reference are undated (Galaxy 0.2477 from gurufocus, year and basis unknown; "
        "Earth-Panda 0.6116 from marketsmojo) and were dropped with the undated rows.\n"
        "- `default_run`: `yes` except Baotou INST 301622.SZ (`no`: latest statements "
        "FY2024).\n"
    )
    w(
        md_table(
            ["ticker", "exchange/board", "shares (date)", "price (date)", "export share"],
            [
                [
                    f["ticker"],
                    f"{f['exchange']} {f['board']}",
                    f"{f['shares_outstanding']} ({f['shares_date']})",
                    f"{f['share_price']} ({f['price_date']})",
                    f"{f['export_share']} {f['export_share_period']}".strip(),
                ]
                for f in firms
            ],
        )
        + "\n"
    )

    w("## Known data gaps per firm\n")
    w(
        "Coverage of the statements files: for each group of items, the periods with at "
        "least one row (D = only DERIVED rows in that period for that group). Items the "
        "model needs but a firm lacks must come from the documented fallbacks (own ratio "
        "from another period, else the peer median) and be marked as estimates.\n"
    )
    cov_rows = []
    for t in sorted(statements):
        rows = statements[t]
        cells = [t]
        for items in STATEMENT_GROUPS.values():
            per: dict[str, bool] = {}
            for r in rows:
                if r.item in items:
                    per[r.period] = per.get(r.period, True) and r.note.startswith("DERIVED")
            labels = sorted(per, key=lambda p: (periods.parse_period(p).end, p))
            cells.append(", ".join(p + (" D" if per[p] else "") for p in labels) or "none")
        cov_rows.append(cells)
    w(md_table(["ticker", *STATEMENT_GROUPS], cov_rows) + "\n")
    never = []
    for t in sorted(statements):
        have = {r.item for r in statements[t]}
        missing = [i for i in ITEMS if i not in have]
        never.append([t, ", ".join(missing)])
    w("Vocabulary items with no row at all:\n")
    w(md_table(["ticker", "items never reported"], never) + "\n")
    w("What this means, firm by firm:\n")
    for t in sorted(GAP_NOTES):
        w(f"- **{t} {names[t]}**")
        for line in GAP_NOTES[t]:
            w(f"  - {line}")
    w("- **All firms**: retained earnings and payables are missing everywhere.\n")

    w("## Consistency checks on the statements (reported, not corrected)\n")
    w(
        "Arithmetic identities between rows of the same firm and period. Differences come "
        "from the sources (rounding, different definitions, derived figures); nothing was "
        "changed to make them agree.\n"
    )
    w(md_table(["ticker", "check", "result"], [list(c) for c in consistency_checks(statements)]))
    w("")
    w("Reading of the flagged rows and other oddities:\n")
    for line in ODDITIES:
        w(f"- {line}")
    w("")
    w("## Decisions I was unsure about\n")
    for line in UNSURE:
        w(f"- {line}")
    w("")
    return "\n".join(out)


# =========================================================================================
# Main
# =========================================================================================


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "reference",
        nargs="?",
        type=Path,
        default=DEFAULT_REFERENCE,
        help="directory of the reference CSVs (default: ../shared/reference from the repo root)",
    )
    args = parser.parse_args(argv)
    ref: Path = args.reference
    if not ref.is_absolute():
        ref = Path.cwd() / ref
    inputs = REPO / "inputs"
    log = Log()

    data = {name: read_csv(ref / name) for name in (FF, OPS, SP, EXPORTS)}
    log.reference_rows = {name: len(rows) for name, rows in data.items()}

    statements, market = build_statements(data[FF], data[OPS], log)
    prices = build_prices(data[SP], market, log)
    trade = build_trade(data[EXPORTS])
    firms = build_firms(data[FF], statements, prices)

    for ticker, rows in sorted(statements.items()):
        write_csv(
            inputs / "statements" / f"{ticker}.csv",
            STATEMENT_COLUMNS,
            [[r.period, r.item, r.value, r.unit, r.source, r.note] for r in rows],
        )
    extra = sorted(
        p.name for p in (inputs / "statements").glob("*.csv") if p.stem not in statements
    )
    if extra:
        print(f"note: statements files not produced by this script (left alone): {extra}")
    write_csv(
        inputs / "prices.csv",
        PRICE_COLUMNS,
        [[r.ticker, r.date, r.item, r.value, r.unit, r.source, r.note] for r in prices],
    )
    write_csv(inputs / "trade.csv", TRADE_COLUMNS, trade)
    events = read_csv(CURATED_EVENTS)
    write_csv(inputs / "events.csv", EVENT_COLUMNS, [[e[c] for c in EVENT_COLUMNS] for e in events])
    write_csv(
        inputs / "firms.csv", REGISTER_COLUMNS, [[f[c] for c in REGISTER_COLUMNS] for f in firms]
    )

    counts = self_check(inputs)
    write_text(
        REPO / "tools" / "BUILD_INPUTS_REPORT.md",
        build_report(ref, log, statements, prices, trade, firms, counts),
    )

    print("self-check passed")
    for name, n in sorted(counts.items()):
        print(f"  {name:34s} {n:4d} rows")
    print(
        f"  sign flips {len(log.sign_flips)}, derived rows added {len(log.derived)}, "
        f"statement duplicates resolved {len(log.stmt_duplicates)}, price duplicate keys "
        f"{len(log.price_duplicates)}, undated price rows dropped {len(log.undated)}, "
        f"rows dropped {sum(log.dropped_items.values()) + sum(log.dropped_tickers.values())} "
        f"by item + {len(log.dropped_rows)} individual"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
