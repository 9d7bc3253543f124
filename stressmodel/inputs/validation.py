"""Validation of input tables: pure functions that collect every problem.

Each ``check_*`` function takes raw text tables (from :mod:`stressmodel.inputs.readers`) and
returns a list of :class:`~stressmodel.errors.Problem`; nothing is raised here, so that
``stressmodel validate`` can report all problems of all files in one pass. Parsed,
typed values are produced alongside by the ``parse_*`` helpers.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from itertools import chain

from stressmodel.errors import Problem
from stressmodel.inputs.periods import (
    parse_month_span,
    parse_period,
    quarter_index,
)
from stressmodel.inputs.readers import RawTable
from stressmodel.inputs.vocabulary import TICKER_PATTERN

#: a ticker, matched in full (``$`` would also accept a trailing newline): tickers become
#: file and folder names, so nothing else may pass
TICKER_RE = re.compile(TICKER_PATTERN.removesuffix("$") + r"\Z", re.ASCII)
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
PARTIAL_DATE_RE = re.compile(r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?\Z")
#: dates outside these years are typing errors
MIN_DATE_YEAR, MAX_DATE_YEAR = 1990, 2100

#: characters never allowed in a text cell: C0 controls other than tab, line feed and
#: carriage return (a spreadsheet cell cannot hold them), DEL, and Unicode bidirectional
#: overrides and isolates (they make a cell display differently from what it holds)
CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
#: the longest text a spreadsheet cell holds
MAX_TEXT = 32767

#: tolerance of the balance-sheet identity: attributable equity excludes minority
#: interests, so TA - TL - equity is the minority interest; allowed up to 2% of assets
BALANCE_TOLERANCE = 0.02
#: tolerance when four quarters (or YTD parts) must add up: source figures are rounded
SUM_TOLERANCE_REL = 0.005
SUM_TOLERANCE_ABS = 1.0
#: tolerance of monthly trade figures against cumulative totals
TRADE_TOLERANCE_REL = 0.005
TRADE_TOLERANCE_ABS = 2.0

#: the largest magnitude accepted per unit; anything above is an absurd value
MAGNITUDE_LIMITS = {
    "CNY mn": 1e7,
    "fraction": 1e3,
    "x": 1e4,
    "days": 3650,
    "tonnes": 1e7,
    "tonnes/year": 1e7,
    "CNY/tonne": 1e8,
}

EXCHANGES = ("SSE", "SZSE", "BSE")
BOARDS = ("main", "ChiNext", "STAR")
OWNERSHIPS = ("state", "private", "unknown")

PRICE_ITEMS: dict[str, str] = {
    "close": "CNY",
    "market_cap": "CNY mn",
    "enterprise_value": "CNY mn",
    "shares_outstanding": "million shares",
    "beta": "x",
    "volatility": "fraction",
    "avg_weekly_movement": "fraction",
    "week52_high": "CNY",
    "week52_low": "CNY",
}
PRICE_COLUMNS = ("ticker", "date", "item", "value", "unit", "source", "note")
TRADE_COLUMNS = ("period", "destination", "tonnes", "source", "note")
EVENT_COLUMNS = ("date", "event", "description", "source")
EVENT_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}\Z")
EVENT_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}(-[0-9]{2})?\Z")


def parse_number(text: str) -> float | None:
    """A finite float, or None if the text is not one (NaN and inf are not numbers here;
    neither are digit grouping like ``1_000`` or ``1,000`` nor non-ASCII digits)."""
    if not isinstance(text, str) or not text.isascii() or "_" in text:
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    if not math.isfinite(v):
        return None
    return v


def parse_date(text: str) -> dt.date | None:
    """A date written YYYY-MM-DD between MIN_DATE_YEAR and MAX_DATE_YEAR, else None."""
    if not DATE_RE.match(text):
        return None
    try:
        d = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return d if MIN_DATE_YEAR <= d.year <= MAX_DATE_YEAR else None


def is_partial_date(text: str) -> bool:
    """YYYY, YYYY-MM or YYYY-MM-DD, each part a valid year, month or day."""
    if not PARTIAL_DATE_RE.match(text):
        return False
    parts = text.split("-")
    if not MIN_DATE_YEAR <= int(parts[0]) <= MAX_DATE_YEAR:
        return False
    if len(parts) == 2:
        return 1 <= int(parts[1]) <= 12
    return len(parts) == 1 or parse_date(text) is not None


def check_text(table: RawTable) -> list[Problem]:
    """Every cell of a table: no control characters, at most MAX_TEXT characters."""
    cells = list(chain.from_iterable(table.rows))
    if not cells or (max(map(len, cells)) <= MAX_TEXT and not CONTROL_RE.search("".join(cells))):
        return []  # the usual case, settled for the whole table at once
    p: list[Problem] = []
    for line, row in zip(table.lines, table.rows, strict=True):
        for field, cell in zip(table.header, row, strict=False):
            p.extend(text_problems(table.file, line, field, cell))
    return p


def text_problems(file: str, line: int | None, field: str, text: str) -> list[Problem]:
    """Problems of one text value (a cell, or a string in a TOML file)."""
    p = []
    m = CONTROL_RE.search(text)
    if m:
        p.append(
            Problem(
                file,
                line,
                field,
                "text without control characters",
                f"character U+{ord(m.group()):04X} at position {m.start() + 1}",
            )
        )
    if len(text) > MAX_TEXT:
        p.append(
            Problem(file, line, field, f"at most {MAX_TEXT} characters", f"{len(text)} characters")
        )
    return p


#: the longest cell text quoted in full in a message
SHOW_MAX = 60


def _show(text: str) -> str:
    """A cell as a message shows it: quoted (a long one cut short), or 'an empty cell'."""
    if not text:
        return "an empty cell"
    if len(text) > SHOW_MAX:
        return f"{text[:SHOW_MAX]!r}... ({len(text)} characters)"
    return repr(text)


def _number(
    problems: list[Problem], file: str, line: int, field: str, text: str, *, what: str = "a number"
) -> float | None:
    v = parse_number(text)
    if v is None:
        found = _show(text)
        if text.strip().lower() in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity"):
            found = f"{text!r} (not a finite number)"
        problems.append(Problem(file, line, field, what, found))
    return v


# --- register --------------------------------------------------------------------------------


def check_register(table: RawTable) -> list[Problem]:
    """Rules for firms.csv (the header was checked by the reader)."""
    p: list[Problem] = check_text(table)
    f = table.file
    seen: dict[str, int] = {}
    if not table.rows:
        p.append(Problem(f, None, None, "at least one firm", "no rows"))
    elif not table.unread and not any(r["default_run"] == "yes" for _line, r in table.records()):
        p.append(
            Problem(f, None, "default_run", "at least one firm with default_run = yes", "none")
        )
    for line, r in table.records():
        t = r["ticker"]
        if not TICKER_RE.match(t):
            p.append(
                Problem(
                    f, line, "ticker", "six digits, a dot and SH/SZ/BJ (e.g. 603072.SH)", _show(t)
                )
            )
        elif t in seen:
            p.append(
                Problem(
                    f, line, "ticker", "each ticker once", f"{t} again (first on row {seen[t]})"
                )
            )
        else:
            seen[t] = line
        if not r["company_name"]:
            p.append(Problem(f, line, "company_name", "a company name", "an empty cell"))
        if r["exchange"] not in EXCHANGES:
            p.append(
                Problem(f, line, "exchange", "one of " + ", ".join(EXCHANGES), _show(r["exchange"]))
            )
        if r["board"] not in BOARDS:
            p.append(Problem(f, line, "board", "one of " + ", ".join(BOARDS), _show(r["board"])))
        if r["currency"] != "CNY":
            p.append(Problem(f, line, "currency", "CNY", _show(r["currency"])))
        if r["ownership"] not in OWNERSHIPS:
            p.append(
                Problem(
                    f, line, "ownership", "one of " + ", ".join(OWNERSHIPS), _show(r["ownership"])
                )
            )
        if r["ownership"] in ("state", "private") and not r["ownership_source"]:
            p.append(
                Problem(f, line, "ownership_source", "a source for the ownership", "an empty cell")
            )
        if r["upstream_tie"] not in ("0", "1", ""):
            p.append(
                Problem(
                    f, line, "upstream_tie", "0, 1 or empty (unknown)", _show(r["upstream_tie"])
                )
            )
        if r["upstream_tie"] in ("0", "1") and not r["upstream_tie_source"]:
            p.append(
                Problem(
                    f, line, "upstream_tie_source", "a source for the upstream tie", "an empty cell"
                )
            )
        if r["listing_date"] and not is_partial_date(r["listing_date"]):
            p.append(
                Problem(
                    f,
                    line,
                    "listing_date",
                    "YYYY-MM-DD (or YYYY-MM, YYYY when the day is not known)",
                    _show(r["listing_date"]),
                )
            )
        v = _number(
            p,
            f,
            line,
            "shares_outstanding",
            r["shares_outstanding"],
            what="a number of million shares",
        )
        if v is not None and v <= 0:
            p.append(
                Problem(f, line, "shares_outstanding", "a number > 0", r["shares_outstanding"])
            )
        elif v is not None and v > 1e6:
            p.append(
                Problem(
                    f,
                    line,
                    "shares_outstanding",
                    "million shares (at most 1,000,000)",
                    r["shares_outstanding"],
                )
            )
        if parse_date(r["shares_date"]) is None:
            p.append(Problem(f, line, "shares_date", "a date YYYY-MM-DD", _show(r["shares_date"])))
        if not r["shares_source"]:
            p.append(
                Problem(f, line, "shares_source", "a source for the share count", "an empty cell")
            )
        if r["share_price"]:
            v = _number(p, f, line, "share_price", r["share_price"], what="a price in CNY")
            if v is not None and not 0 < v < 1e5:
                p.append(
                    Problem(
                        f, line, "share_price", "a price > 0 and < 100,000 CNY", r["share_price"]
                    )
                )
            if parse_date(r["price_date"]) is None:
                p.append(
                    Problem(f, line, "price_date", "a date YYYY-MM-DD", _show(r["price_date"]))
                )
            if not r["price_source"]:
                p.append(
                    Problem(f, line, "price_source", "a source for the price", "an empty cell")
                )
        if r["export_share"]:
            v = _number(p, f, line, "export_share", r["export_share"], what="a fraction")
            if v is not None and not 0 <= v <= 1:
                p.append(
                    Problem(f, line, "export_share", "a fraction in [0, 1]", r["export_share"])
                )
            try:
                parse_period(r["export_share_period"])
            except ValueError:
                p.append(
                    Problem(
                        f,
                        line,
                        "export_share_period",
                        "a period like FY2024",
                        _show(r["export_share_period"]),
                    )
                )
            if not r["export_share_source"]:
                p.append(
                    Problem(
                        f,
                        line,
                        "export_share_source",
                        "a source for the export share",
                        "an empty cell",
                    )
                )
        if r["equity_volatility"]:
            v = _number(
                p, f, line, "equity_volatility", r["equity_volatility"], what="a fraction per year"
            )
            if v is not None and not 0 < v <= 3:
                p.append(
                    Problem(
                        f,
                        line,
                        "equity_volatility",
                        "a volatility in (0, 3]",
                        r["equity_volatility"],
                    )
                )
            if not r["equity_volatility_source"]:
                p.append(
                    Problem(
                        f,
                        line,
                        "equity_volatility_source",
                        "a source for the volatility",
                        "an empty cell",
                    )
                )
        if r["default_run"] not in ("yes", "no"):
            p.append(Problem(f, line, "default_run", "yes or no", _show(r["default_run"])))
        if not re.fullmatch(r"[A-Za-z0-9_]{1,40}", r.get("peer_group", "")):
            p.append(
                Problem(
                    f,
                    line,
                    "peer_group",
                    "a peer group name (letters, digits, _)",
                    _show(r.get("peer_group", "")),
                )
            )
    return p


# --- statements ------------------------------------------------------------------------------


def check_statements(table: RawTable) -> tuple[list[Problem], list[dict[str, object]]]:
    """Rules for one firm's statements file. Returns (problems, parsed rows).

    Per row: a known period (FY2024, 2025Q1, 2025H1, 2025-9M, 2025Q1-TTM), an item of the
    vocabulary in its unit, a finite number with a source, within the unit's magnitude,
    the item's sign and (for fractions) at most 1, no TTM figure of a balance or ratio; a
    row that breaks one of these takes no part in the checks after them. Then one figure
    per period and item, and per item and period end for balances and ratios (the first
    is kept); then the balance-sheet identity and year-to-date additivity.

    Parsed rows hold: period (label), end, span, kind, item, value, unit, source, note, line.
    Rows with an empty value are skipped (not reported); a row with neither period nor
    value is a template row (only its item is checked). The rules run over whole columns
    (:mod:`stressmodel.inputs.statement_checks`); :func:`check_statements_many` checks
    many files in one pass.
    """
    problems, parsed = check_statements_many([table])
    return problems, parsed[0]


def check_statements_many(
    tables: Sequence[RawTable],
) -> tuple[list[Problem], list[list[dict[str, object]]]]:
    """:func:`check_statements` of several files in one pass: the problems of all, and the
    parsed rows of each (in the order of ``tables``)."""
    from stressmodel.inputs.statement_checks import check_statement_tables

    return check_statement_tables(tables)


# --- prices ----------------------------------------------------------------------------------


def check_prices(
    table: RawTable, tickers: Iterable[str]
) -> tuple[list[Problem], list[dict[str, object]]]:
    """Rules for prices.csv. Returns (problems, parsed rows).

    Per row: a ticker (then one of ``tickers``), a date, an item of PRICE_ITEMS in its unit,
    a finite value (> 0 for prices, counts and volatility, >= 0 for the weekly movement, at
    most 100,000 CNY or 10,000,000 otherwise), a source; one observation per ticker, date and
    item (the first is kept). Parsed rows hold ticker, date, item, value, source, note, line.
    The rules run over whole columns (:mod:`stressmodel.inputs.price_checks`)."""
    from stressmodel.inputs.price_checks import check_price_table

    return check_price_table(table, tickers)


# --- trade -----------------------------------------------------------------------------------


def check_trade(table: RawTable) -> tuple[list[Problem], list[dict[str, object]]]:
    p: list[Problem] = check_text(table)
    f = table.file
    parsed: list[dict[str, object]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, r in table.records():
        try:
            if not r["period"].isascii():
                raise ValueError(r["period"])
            span = parse_month_span(r["period"])
        except ValueError:
            p.append(
                Problem(
                    f,
                    line,
                    "period",
                    "a month 2025-05, a range 2025-01/2025-05 or a year 2024-FY",
                    _show(r["period"]),
                )
            )
            span = None
        if not r["destination"]:
            p.append(Problem(f, line, "destination", "world or a country/region", "an empty cell"))
        v = _number(p, f, line, "tonnes", r["tonnes"], what="tonnes")
        if v is not None and v < 0:
            p.append(Problem(f, line, "tonnes", "tonnes >= 0", r["tonnes"]))
        elif v is not None and v > 1e7:
            p.append(Problem(f, line, "tonnes", "a plausible tonnage (< 10,000,000)", r["tonnes"]))
        if not r["source"]:
            p.append(Problem(f, line, "source", "a source", "an empty cell"))
        if span is None or v is None:
            continue
        key = (span.label, r["destination"])
        if key in seen:
            p.append(
                Problem(
                    f,
                    line,
                    "period",
                    "one figure per period and destination",
                    f"{span.label} {r['destination']} again (first on row {seen[key]})",
                )
            )
            continue
        seen[key] = line
        parsed.append(
            {
                "first": span.first,
                "last": span.last,
                "period": span.label,
                "destination": r["destination"],
                "tonnes": v,
                "source": r["source"],
                "note": r["note"],
                "line": line,
            }
        )
    # cumulative and annual rows must agree with the months where all months are present
    months: dict[tuple[str, int], float] = {
        (str(r["destination"]), int(r["first"])): float(r["tonnes"])
        for r in parsed
        if r["first"] == r["last"]
    }  # type: ignore[arg-type]
    for r in parsed:
        first, last = int(r["first"]), int(r["last"])  # type: ignore[arg-type]
        if first == last:
            continue
        vals = [months.get((str(r["destination"]), m)) for m in range(first, last + 1)]
        if any(v is None for v in vals):
            continue
        total = sum(v for v in vals if v is not None)
        tol = max(TRADE_TOLERANCE_ABS, TRADE_TOLERANCE_REL * float(r["tonnes"]))  # type: ignore[arg-type]
        if abs(total - float(r["tonnes"])) > tol:  # type: ignore[arg-type]
            p.append(
                Problem(
                    f,
                    int(r["line"]),
                    "tonnes",
                    f"the sum of the months ({total:g}) within {tol:g}",
                    f"{r['tonnes']:g}",
                )
            )  # type: ignore[str-format]
    return p, parsed


def check_events(table: RawTable) -> tuple[list[Problem], list[dict[str, object]]]:
    """policy_events.csv: one dated policy event a row (date YYYY-MM-DD, or YYYY-MM when the
    source gives only the month), a unique key, a description and a source."""
    p: list[Problem] = check_text(table)
    f = table.file
    parsed: list[dict[str, object]] = []
    seen: dict[str, int] = {}
    for line, r in table.records():
        ok = True
        text = r["date"]
        if not (EVENT_DATE_RE.match(text) and is_partial_date(text)):
            p.append(
                Problem(
                    f,
                    line,
                    "date",
                    "a date YYYY-MM-DD (or YYYY-MM if the day is not known)",
                    _show(text),
                )
            )
            ok = False
        key = r["event"]
        if not EVENT_KEY_RE.match(key):
            p.append(
                Problem(
                    f,
                    line,
                    "event",
                    "a key of lower-case letters, digits and _ (max 41)",
                    _show(key),
                )
            )
            ok = False
        elif key in seen:
            p.append(
                Problem(
                    f, line, "event", "each event once", f"{key} again (first on row {seen[key]})"
                )
            )
            ok = False
        if not r["description"]:
            p.append(Problem(f, line, "description", "what happened", "an empty cell"))
            ok = False
        if not r["source"]:
            p.append(Problem(f, line, "source", "a source", "an empty cell"))
            ok = False
        if not ok:
            continue
        seen[key] = line
        y, m = int(text[:4]), int(text[5:7])
        parsed.append(
            {
                "date": text,
                "event": key,
                "description": r["description"],
                "source": r["source"],
                "quarter": quarter_index(y, (m - 1) // 3 + 1),
                "line": line,
            }
        )
    return p, parsed
