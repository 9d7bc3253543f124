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
from collections import defaultdict
from collections.abc import Iterable

from stressmodel.errors import Problem
from stressmodel.inputs.periods import (
    Period,
    PeriodKind,
    parse_month_span,
    parse_period,
    quarter_index,
)
from stressmodel.inputs.readers import RawTable
from stressmodel.inputs.vocabulary import FRACTION, ITEMS, TICKER_PATTERN

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

    Parsed rows hold: period (label), end, span, kind, item, value, unit, source, note, line.
    Rows with an empty value are skipped (not reported).
    """
    p: list[Problem] = check_text(table)
    f = table.file
    parsed: list[dict[str, object]] = []
    seen: dict[tuple[str, str], int] = {}
    seen_end: dict[tuple[int, str], tuple[str, int]] = {}
    for line, r in table.records():
        item_name = r["item"]
        if not r["value"] and not r["period"]:
            if item_name and item_name not in ITEMS:
                p.append(
                    Problem(
                        f,
                        line,
                        "item",
                        "an item from the vocabulary (inputs/README.md)",
                        _show(item_name),
                    )
                )
            continue  # a template row
        try:
            if not r["period"].isascii():
                raise ValueError(r["period"])
            period: Period | None = parse_period(r["period"])
        except ValueError:
            p.append(
                Problem(
                    f,
                    line,
                    "period",
                    "FY2024, 2025Q1, 2025H1, 2025-9M or 2025Q1-TTM",
                    _show(r["period"]),
                )
            )
            period = None
        item = ITEMS.get(item_name)
        if item is None:
            p.append(
                Problem(
                    f,
                    line,
                    "item",
                    "an item from the vocabulary (inputs/README.md)",
                    _show(item_name),
                )
            )
        elif r["unit"] != item.unit:
            p.append(Problem(f, line, "unit", f"{item.unit!r} for {item_name}", _show(r["unit"])))
        if not r["value"]:
            continue
        value = _number(p, f, line, "value", r["value"])
        if not r["source"]:
            p.append(
                Problem(
                    f, line, "source", "a source (URL or citation) for the figure", "an empty cell"
                )
            )
        if value is None or item is None or period is None:
            continue
        limit = MAGNITUDE_LIMITS.get(item.unit, 1e9)
        if abs(value) > limit:
            p.append(
                Problem(f, line, "value", f"a magnitude at most {limit:g} {item.unit}", r["value"])
            )
            continue
        n_before = len(p)
        if item.sign == "nonneg" and value < 0:
            p.append(Problem(f, line, "value", f"{item_name} >= 0", r["value"]))
        elif item.sign == "pos" and value <= 0:
            p.append(Problem(f, line, "value", f"{item_name} > 0", r["value"]))
        if item.unit == FRACTION and item.sign == "nonneg" and value > 1:
            p.append(Problem(f, line, "value", f"{item_name} as a fraction in [0, 1]", r["value"]))
        elif item.unit == FRACTION and value > 1:
            p.append(Problem(f, line, "value", f"{item_name} as a fraction at most 1", r["value"]))
        if period.kind == PeriodKind.TTM and (
            item.kind == "stock" or (item.kind == "flow" and item.unit != "CNY mn")
        ):
            p.append(Problem(f, line, "period", f"no TTM figures for {item_name}", r["period"]))
        if len(p) > n_before:
            continue  # a figure that breaks a rule takes no part in the cross-checks below
        key = (period.label, item_name)
        if key in seen:
            p.append(
                Problem(
                    f,
                    line,
                    "item",
                    "one figure per period and item",
                    f"{item_name} for {period.label} again (first on row {seen[key]})",
                )
            )
            continue
        seen[key] = line
        if item.kind != "flow":
            # a balance or ratio is a point in time: FY2024 and 2024Q4 (or 2025H1 and 2025Q2)
            # name the same day, and the model cannot tell two figures for it apart
            end_key = (period.end, item_name)
            if end_key in seen_end:
                first_label, first_line = seen_end[end_key]
                p.append(
                    Problem(
                        f,
                        line,
                        "item",
                        "one figure per item and period end",
                        f"{item_name} for {period.label}, which ends on the same day as {first_label} "
                        f"(row {first_line})",
                    )
                )
                continue
            seen_end[end_key] = (period.label, line)
        parsed.append(
            {
                "period": period.label,
                "end": period.end,
                "span": period.span,
                "kind": period.kind.value,
                "item": item_name,
                "value": value,
                "unit": item.unit,
                "source": r["source"],
                "note": r["note"],
                "line": line,
            }
        )
    p.extend(_check_identities(f, parsed))
    return p, parsed


def _check_identities(file: str, rows: list[dict[str, object]]) -> list[Problem]:
    """Balance-sheet identity and year-to-date additivity."""
    p: list[Problem] = []
    stock: dict[tuple[int, str], tuple[float, int]] = {}
    flows: dict[tuple[str, int, int, str], tuple[float, int]] = {}
    for r in rows:
        item = ITEMS[str(r["item"])]
        if item.kind == "stock":
            stock[(int(r["end"]), item.name)] = (float(r["value"]), int(r["line"]))  # type: ignore[arg-type]
        elif item.kind == "flow" and r["kind"] != "TTM":
            flows[(item.name, int(r["end"]), int(r["span"]), str(r["kind"]))] = (
                float(r["value"]),
                int(r["line"]),
            )  # type: ignore[arg-type]
    for (end, name), (ta, line) in stock.items():
        if name != "total_assets":
            continue
        tl = stock.get((end, "total_liabilities"))
        eq = stock.get((end, "shareholders_equity"))
        if tl is None or eq is None:
            continue
        gap = ta - tl[0] - eq[0]
        if abs(gap) > BALANCE_TOLERANCE * abs(ta):
            p.append(
                Problem(
                    file,
                    line,
                    "total_assets",
                    f"total assets = liabilities + equity within {BALANCE_TOLERANCE:.0%} of assets (minority interests)",
                    f"{ta:g} vs {tl[0]:g} + {eq[0]:g} (gap {gap:g})",
                )
            )
    # year-to-date additivity where every part is reported independently
    by_item: dict[str, dict[tuple[int, int], tuple[float, int]]] = defaultdict(dict)
    for (name, end, span, _kind), v in flows.items():
        by_item[name][(end, span)] = v
    for name, vals in by_item.items():
        for (end, span), (total, line) in vals.items():
            if span < 2:
                continue
            # the parts: the YTD of span-1 (or span-2) plus single quarters, all reported
            for split in range(1, span):
                head = vals.get((end - span + split, split))
                tail_parts = [vals.get((end - k, 1)) for k in range(span - split)]
                if head is None or any(t is None for t in tail_parts):
                    continue
                parts_sum = head[0] + sum(t[0] for t in tail_parts if t is not None)
                tol = max(SUM_TOLERANCE_ABS, SUM_TOLERANCE_REL * abs(total))
                if abs(parts_sum - total) > tol:
                    p.append(
                        Problem(
                            file,
                            line,
                            name,
                            f"the year-to-date figure to equal its reported parts within {tol:g}",
                            f"{total:g} vs parts summing to {parts_sum:g}",
                        )
                    )
                break
    return p


# --- prices ----------------------------------------------------------------------------------


def check_prices(
    table: RawTable, tickers: Iterable[str]
) -> tuple[list[Problem], list[dict[str, object]]]:
    p: list[Problem] = check_text(table)
    f = table.file
    known = set(tickers)
    parsed: list[dict[str, object]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for line, r in table.records():
        t = r["ticker"]
        if not TICKER_RE.match(t):
            p.append(Problem(f, line, "ticker", "a ticker like 603072.SH", _show(t)))
            continue
        if t not in known:
            p.append(Problem(f, line, "ticker", "a ticker in firms.csv", _show(t)))
        d = parse_date(r["date"])
        if d is None:
            p.append(Problem(f, line, "date", "a date YYYY-MM-DD", _show(r["date"])))
        unit = PRICE_ITEMS.get(r["item"])
        if unit is None:
            p.append(Problem(f, line, "item", "one of " + ", ".join(PRICE_ITEMS), _show(r["item"])))
        elif r["unit"] != unit:
            p.append(Problem(f, line, "unit", f"{unit!r} for {r['item']}", _show(r["unit"])))
        v = _number(p, f, line, "value", r["value"])
        if v is not None and unit is not None:
            if (
                r["item"]
                in (
                    "close",
                    "market_cap",
                    "enterprise_value",
                    "shares_outstanding",
                    "week52_high",
                    "week52_low",
                    "volatility",
                )
                and v <= 0
                and r["item"] != "enterprise_value"
            ):
                p.append(Problem(f, line, "value", f"{r['item']} > 0", r["value"]))
            if r["item"] == "avg_weekly_movement" and v < 0:
                p.append(Problem(f, line, "value", f"{r['item']} >= 0", r["value"]))
            if abs(v) > (1e5 if unit == "CNY" else 1e7):
                p.append(Problem(f, line, "value", f"a plausible {r['item']}", r["value"]))
        if not r["source"]:
            p.append(Problem(f, line, "source", "a source", "an empty cell"))
        if d is None or v is None or unit is None:
            continue
        key = (t, r["date"], r["item"])
        if key in seen:
            p.append(
                Problem(
                    f,
                    line,
                    "item",
                    "one observation per ticker, date and item",
                    f"{r['item']} on {r['date']} again (first on row {seen[key]})",
                )
            )
            continue
        seen[key] = line
        parsed.append(
            {
                "ticker": t,
                "date": d,
                "item": r["item"],
                "value": v,
                "source": r["source"],
                "note": r["note"],
                "line": line,
            }
        )
    return p, parsed


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
