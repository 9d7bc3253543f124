"""Quarter labels and reporting periods.

A quarter is a label like ``2025Q3`` plus an integer index (``year * 4 + quarter - 1``),
so that quarter arithmetic is integer arithmetic.

Reporting periods in statements files (Chinese A-share reports are year to date):

============  ===================================  =====================
label         meaning                              kind
============  ===================================  =====================
``FY2024``    fiscal (calendar) year 2024          ``YTD`` of 4 quarters
``2025Q1``    single quarter (flow) or its end     ``Q``
``2025H1``    first half, year to date             ``YTD`` of 2 quarters
``2025-9M``   nine months, year to date            ``YTD`` of 3 quarters
``2025Q1-TTM`` trailing twelve months to 2025Q1    ``TTM``
============  ===================================  =====================

A balance-sheet (stock) item reported for any of these periods is the balance at the
period's last day. ``2025Q1`` as a flow is the single quarter; Q1 year-to-date is the
same thing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum

QUARTER_RE = re.compile(r"^(\d{4})Q([1-4])$")
_FY_RE = re.compile(r"^FY(\d{4})$")
_H1_RE = re.compile(r"^(\d{4})H1$")
_9M_RE = re.compile(r"^(\d{4})-9M$")
_TTM_RE = re.compile(r"^(\d{4})Q([1-4])-TTM$")

MIN_YEAR = 1990
MAX_YEAR = 2100


class PeriodKind(Enum):
    QUARTER = "Q"
    YTD = "YTD"
    TTM = "TTM"


def quarter_index(year: int, quarter: int) -> int:
    return year * 4 + quarter - 1


def quarter_label(index: int) -> str:
    return f"{index // 4}Q{index % 4 + 1}"


def parse_quarter(label: str) -> int:
    """``'2025Q3'`` -> quarter index. Raises ValueError on anything else."""
    m = QUARTER_RE.match(label.strip()) if isinstance(label, str) else None
    if not m:
        raise ValueError(f"not a quarter label like 2025Q3: {label!r}")
    year = int(m.group(1))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year out of range {MIN_YEAR}-{MAX_YEAR}: {label!r}")
    return quarter_index(year, int(m.group(2)))


def is_quarter_label(label: str) -> bool:
    try:
        parse_quarter(label)
    except ValueError:
        return False
    return True


def quarter_end_date(index: int) -> dt.date:
    year, q = index // 4, index % 4 + 1
    month = 3 * q
    day = 31 if month in (3, 12) else 30
    return dt.date(year, month, day)


def quarter_of_date(d: dt.date) -> int:
    return quarter_index(d.year, (d.month - 1) // 3 + 1)


@dataclass(frozen=True)
class Period:
    """A parsed reporting period.

    ``end`` is the index of the period's last quarter. ``span`` is the number of quarters a
    flow for this period covers (1 for a quarter, 2 for H1, 3 for 9M, 4 for FY and TTM).
    """

    label: str
    kind: PeriodKind
    end: int
    span: int

    @property
    def year(self) -> int:
        return self.end // 4

    @property
    def start(self) -> int:
        return self.end - self.span + 1


def parse_period(label: str) -> Period:
    """Parse a statements period label. Raises ValueError naming the accepted forms."""
    if not isinstance(label, str):
        raise ValueError(f"period must be text, got {label!r}")
    s = label.strip()
    for rx, kind, quarter, span in (
        (_FY_RE, PeriodKind.YTD, 4, 4),
        (_H1_RE, PeriodKind.YTD, 2, 2),
        (_9M_RE, PeriodKind.YTD, 3, 3),
    ):
        m = rx.match(s)
        if m:
            year = int(m.group(1))
            _check_year(year, label)
            return Period(s, kind, quarter_index(year, quarter), span)
    m = QUARTER_RE.match(s)
    if m:
        year = int(m.group(1))
        _check_year(year, label)
        return Period(s, PeriodKind.QUARTER, quarter_index(year, int(m.group(2))), 1)
    m = _TTM_RE.match(s)
    if m:
        year = int(m.group(1))
        _check_year(year, label)
        return Period(s, PeriodKind.TTM, quarter_index(year, int(m.group(2))), 4)
    raise ValueError(
        f"{label!r} is not a period (use FY2024, 2025Q1, 2025H1, 2025-9M or 2025Q1-TTM)"
    )


def _check_year(year: int, label: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year out of range {MIN_YEAR}-{MAX_YEAR}: {label!r}")


def ytd_label(year: int, quarters: int) -> str:
    """Label of the year-to-date period covering ``quarters`` quarters of ``year``."""
    return {1: f"{year}Q1", 2: f"{year}H1", 3: f"{year}-9M", 4: f"FY{year}"}[quarters]


# --- months (trade data) -----------------------------------------------------------------

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_MONTH_RANGE_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])/(\d{4})-(0[1-9]|1[0-2])$")
_YEAR_TOTAL_RE = re.compile(r"^(\d{4})-FY$")


@dataclass(frozen=True)
class MonthSpan:
    """A trade-data period: a month, a cumulative range of months, or a full year.

    Months are indexed as ``year * 12 + month - 1``.
    """

    label: str
    first: int
    last: int

    @property
    def months(self) -> int:
        return self.last - self.first + 1

    @property
    def is_single_month(self) -> bool:
        return self.first == self.last


def month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def month_label(index: int) -> str:
    return f"{index // 12}-{index % 12 + 1:02d}"


def quarter_of_month(index: int) -> int:
    return quarter_index(index // 12, (index % 12) // 3 + 1)


def parse_month_span(label: str) -> MonthSpan:
    if not isinstance(label, str):
        raise ValueError(f"month must be text, got {label!r}")
    s = label.strip()
    m = _MONTH_RE.match(s)
    if m:
        i = month_index(int(m.group(1)), int(m.group(2)))
        _check_year(int(m.group(1)), label)
        return MonthSpan(s, i, i)
    m = _MONTH_RANGE_RE.match(s)
    if m:
        a = month_index(int(m.group(1)), int(m.group(2)))
        b = month_index(int(m.group(3)), int(m.group(4)))
        _check_year(int(m.group(1)), label)
        _check_year(int(m.group(3)), label)
        if b < a:
            raise ValueError(f"month range ends before it starts: {label!r}")
        return MonthSpan(s, a, b)
    m = _YEAR_TOTAL_RE.match(s)
    if m:
        y = int(m.group(1))
        _check_year(y, label)
        return MonthSpan(s, month_index(y, 1), month_index(y, 12))
    raise ValueError(f"{label!r} is not a month (use 2025-05, 2025-01/2025-05 or 2024-FY)")
