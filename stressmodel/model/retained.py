"""Retained earnings at the as-of quarter, for Altman's X2 (RE / total assets).

A reported ``retained_earnings`` balance (statement item, undistributed profit plus
surplus reserve) on or before the as-of quarter is used when the statements give one
within the last four quarters. Otherwise the figure is an *estimate*, labelled as one:
the sum of the firm's own reported net income over the fiscal years and the current
year to date in its statements (no dividends deducted, years before the statements
begin left out), so it is never a silent zero and never another firm's figure. Units:
CNY mn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stressmodel.inputs.periods import quarter_label


@dataclass(frozen=True)
class RetainedEarnings:
    ticker: str
    value: float
    basis: str  # "reported" | "estimated" | "missing"
    how: str


def opening_retained_earnings(
    ticker: str, rows: Iterable[Mapping[str, Any]], as_of: int, lookback: int = 4
) -> RetainedEarnings:
    """The reported balance nearest before the as-of (within ``lookback`` quarters), else
    the cumulative-net-income estimate of the module docstring."""
    rows = [r for r in rows if int(r["end"]) <= as_of]
    reported = [
        r for r in rows if r["item"] == "retained_earnings" and int(r["end"]) > as_of - lookback
    ]
    if reported:
        r = max(reported, key=lambda r: int(r["end"]))
        return RetainedEarnings(
            ticker,
            float(r["value"]),
            "reported",
            f"{r['period']} retained earnings ({r['source']})",
        )
    # full fiscal years, then the year to date of the as-of year (the longest span)
    ni = [r for r in rows if r["item"] == "net_income" and r.get("kind") != "TTM"]
    years = sorted(
        {int(r["end"]) // 4 for r in ni if int(r["span"]) == 4 and int(r["end"]) % 4 == 3}
    )
    total, used = 0.0, []
    for y in years:
        r = next(r for r in ni if int(r["end"]) == y * 4 + 3 and int(r["span"]) == 4)
        total += float(r["value"])
        used.append(f"FY{y}")
    year = as_of // 4
    if year not in years:
        ytd = [
            r for r in ni if int(r["end"]) // 4 == year and int(r["span"]) == int(r["end"]) % 4 + 1
        ]
        if ytd:
            r = max(ytd, key=lambda r: int(r["end"]))
            total += float(r["value"])
            used.append(str(r["period"]))
    if not used:
        return RetainedEarnings(
            ticker,
            0.0,
            "missing",
            "n/a: no retained earnings and no net income in the statements; X2 taken as 0",
        )
    return RetainedEarnings(
        ticker,
        total,
        "estimated",
        f"estimate as of {quarter_label(as_of)}: sum of reported net income {', '.join(used)} "
        "(no dividends deducted; earlier years not in the statements)",
    )
