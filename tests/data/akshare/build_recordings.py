"""Build the recorded AkShare responses in this folder (run by hand, never by the tests).

Each recording is what the real akshare 1.19.5 function returns when the endpoint sends
the payload written below: the script patches ``requests.get`` inside the akshare module
and calls the function itself, so column names, column order and dtypes are those of the
pinned version by construction. The payloads hold only figures published in the sources
named beside them (README.md lists them); a figure not found is ``None`` (NaN in the
frame), never invented.

    python -m venv /tmp/akvenv && /tmp/akvenv/bin/pip install akshare==1.19.5 -e .
    /tmp/akvenv/bin/python tests/data/akshare/build_recordings.py
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import akshare
from akshare.stock_feature import stock_hist_em
from akshare.stock_fundamental import stock_finance_sina, stock_zygc

from stressmodel.inputs.fetch import sources
from stressmodel.inputs.fetch.snapshot import Cache, make

HERE = Path(__file__).parent
#: the retrieval time written into every recording (they were built, not fetched)
RECORDED_AT = dt.datetime(2026, 2, 14, 0, 0, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 2, 14)

CFI_Q3 = "https://forex.cfi.cn/p20251026001715.html (2025 Q3 report, page time 2025-10-26)"


class Resp:
    def __init__(self, payload: Any):
        self.payload = payload

    def json(self) -> Any:
        return self.payload


def sina_payload(titles: list[str], reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The getFinanceReport2022 JSON: one report per date, the same titles in each."""
    report_list = {}
    for date, r in reports.items():
        report_list[date] = {
            "data": [{"item_title": t, "item_value": r["values"].get(t)} for t in titles],
            "data_source": None,
            "is_audit": None,
            "publish_date": r.get("published"),
            "rCurrency": "CNY",
            "rType": "合并期末",
            # Sina's update time was not recorded; the publication day stands in for it
            "update_time": dt.datetime.strptime(r.get("published") or date, "%Y%m%d")
            .replace(tzinfo=dt.UTC)
            .timestamp(),
        }
    return {
        "result": {
            "data": {
                "report_date": [{"date_value": d} for d in reports],
                "report_list": report_list,
            }
        }
    }


BALANCE_TITLES = [
    "流动资产",
    "货币资金",
    "交易性金融资产",
    "应收账款",
    "存货",
    "流动资产合计",
    "资产总计",
    "流动负债",
    "短期借款",
    "流动负债合计",
    "长期借款",
    "应付债券",
    "负债合计",
    "实收资本(或股本)",
    "归属于母公司股东权益合计",
    "所有者权益(或股东权益)合计",
]
INCOME_TITLES = [
    "营业总收入",
    "营业收入",
    "营业总成本",
    "营业成本",
    "销售费用",
    "管理费用",
    "研发费用",
    "财务费用",
    "营业利润",
    "利润总额",
    "净利润",
    "归属于母公司所有者的净利润",
]
CASHFLOW_TITLES = [
    "经营活动产生的现金流量净额",
    "购建固定资产、无形资产和其他长期资产支付的现金",
    "投资活动产生的现金流量净额",
    "筹资活动产生的现金流量净额",
]

# --- Yantai Zhenghai 300224.SZ: published figures, yuan --------------------------------
ZH_BALANCE = {
    "20250930": {
        "published": "20251026",  # CFI page time of the Q3 report
        "values": {
            "货币资金": "712000000",  # 7.12亿 (rounded): stock.stockstar.com/RB2025102800007646.shtml
            "应收账款": "1340000000",  # 13.4亿 (rounded): same page
            "资产总计": "8742763115.77",  # CFI_Q3
            "负债合计": "3640000000",  # CN¥3.64B (rounded): marketcap.company net-assets page
            "归属于母公司股东权益合计": "5061551764.73",  # CFI_Q3
        },
    },
    "20250630": {
        "published": None,
        "values": {
            "资产总计": "8664000000",  # 86.64亿: tool.stockstar.com stockanalyse/300224 (IR answer)
        },
    },
    "20250331": {
        "published": None,
        "values": {
            "货币资金": "984000000",  # 9.84亿: stock.stockstar.com/RB2025042400006409.shtml
            "应收账款": "1538000000",  # 15.38亿: same page
            "资产总计": "9207000000",  # 92.07亿: CSCI Pengyuan rating summary (reportify)
            "实收资本(或股本)": "837714500",  # 83,771.45万股: ddx.gubit.cn/mango/zxtishi/300224.html
        },
    },
    "20241231": {
        "published": None,
        "values": {
            "资产总计": "8775300025.03",  # CFI_Q3, comparative column
            "归属于母公司股东权益合计": "3951225733.96",  # CFI_Q3, comparative column
            "实收资本(或股本)": "837712500",  # 83,771.25万股: ddx.gubit.cn/mango/zxtishi/300224.html
        },
    },
}
ZH_INCOME = {
    "20250930": {
        "published": "20251026",
        "values": {
            "营业总收入": "4973149234.13",  # CFI_Q3, 年初至报告期末
            "归属于母公司所有者的净利润": "227953480.63",  # CFI_Q3
        },
    },
    "20250630": {
        "published": None,
        "values": {
            "营业总收入": "3057437400",  # 305,743.74万: ddx.gubit.cn/mango/caiwu/300224.html
            "归属于母公司所有者的净利润": "113102600",  # 11,310.26万: same page
        },
    },
    "20250331": {
        "published": None,
        "values": {
            "营业总收入": "1458823900",  # 145,882.39万: ddx.gubit.cn/mango/zxtishi/300224.html
            "归属于母公司所有者的净利润": "69486800",  # 6,948.68万: same page
        },
    },
}
ZH_CASHFLOW = {
    "20250930": {
        "published": "20251026",
        "values": {"经营活动产生的现金流量净额": "-227492921.28"},  # CFI_Q3
    },
}
# 主营构成, FY2024 by region: ddx.gubit.cn/mango/jingying/300224.html
ZH_ZYGC = [
    {
        "SECUCODE": "300224.SZ",
        "SECURITY_CODE": "300224",
        "REPORT_DATE": "2024-12-31 00:00:00",
        "MAINOP_TYPE": "3",
        "ITEM_NAME": "国外",
        "MAIN_BUSINESS_INCOME": 1313000000.0,  # 13.13亿
        "MBI_RATIO": 0.2371,  # 23.71%
        "MAIN_BUSINESS_COST": None,
        "MBC_RATIO": None,
        "MAIN_BUSINESS_RPOFIT": None,
        "MBR_RATIO": 0.5095,  # 50.95% of gross profit
        "GROSS_RPOFIT_RATIO": 0.2911,  # 29.11%
        "RANK": 1,
    },
    {
        "SECUCODE": "300224.SZ",
        "SECURITY_CODE": "300224",
        "REPORT_DATE": "2024-12-31 00:00:00",
        "MAINOP_TYPE": "3",
        "ITEM_NAME": "国内",
        "MAIN_BUSINESS_INCOME": 4226000000.0,  # 42.26亿
        "MBI_RATIO": 0.7629,  # 76.29%
        "MAIN_BUSINESS_COST": None,
        "MBC_RATIO": None,
        "MAIN_BUSINESS_RPOFIT": 368000000.0,  # gross profit 3.68亿
        "MBR_RATIO": None,
        "GROSS_RPOFIT_RATIO": 0.0871,  # 8.71%
        "RANK": 2,
    },
]
# daily bars: only the closes found (inputs/prices.csv sources); other fields unknown
ZH_KLINES = [
    "2024-12-31,,12.11,,,,,,,,",  # stockanalysis FY2024 last close
    "2025-01-10,,12.65,,,,,,,,",  # simplywall.st, page updated 10 Jan 2025
    "2026-01-23,,17.77,,,,,,,,",  # stockanalysis 'At close: Jan 23, 2026'
    "2026-02-13,,17.53,,,,,,,,",  # stockanalysis 'At close: Feb 13, 2026'
]

# --- Baotou INST 301622.SZ (a 301xxx ChiNext ticker): FY2024, shidaotec 2024-12-31 page --
INST_INCOME = {
    "20241231": {
        "published": None,
        "values": {
            "营业总收入": "1185000000",
            "归属于母公司所有者的净利润": "177000000",
        },  # 11.85亿, 1.77亿
    },
}
EMPTY_FY2024 = {"20241231": {"published": None, "values": {}}}


def record(cache: Cache, function: str, args: dict[str, str], module: Any, payload: Any) -> None:
    with mock.patch.object(module.requests, "get", return_value=Resp(payload)):
        frame = getattr(akshare, function)(**args)
    cache.store(make(function, args, frame, akshare.__version__, RECORDED_AT))
    print(function, args, frame.shape, file=sys.stderr)


def main() -> None:
    assert akshare.__version__ == "1.19.5", akshare.__version__
    cache = Cache(HERE)
    for ticker, statements in (
        (
            "300224.SZ",
            {
                "balance": (BALANCE_TITLES, ZH_BALANCE),
                "income": (INCOME_TITLES, ZH_INCOME),
                "cashflow": (CASHFLOW_TITLES, ZH_CASHFLOW),
            },
        ),
        (
            "301622.SZ",
            {
                "balance": (BALANCE_TITLES, EMPTY_FY2024),
                "income": (INCOME_TITLES, INST_INCOME),
                "cashflow": (CASHFLOW_TITLES, EMPTY_FY2024),
            },
        ),
    ):
        for key, (titles, reports) in statements.items():
            fn, args = sources.statement_call(ticker, key)
            record(cache, fn, args, stock_finance_sina, sina_payload(titles, reports))
    fn, args = sources.hist_call("300224.SZ", 2024, TODAY)
    record(cache, fn, args, stock_hist_em, {"data": {"klines": ZH_KLINES}})
    fn, args = sources.zygc_call("300224.SZ")
    record(cache, fn, args, stock_zygc, {"zygcfx": ZH_ZYGC})


if __name__ == "__main__":
    main()
