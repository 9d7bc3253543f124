"""Corporate events (events.csv): IPOs, convertible conversions and new share issues.

An event splits a firm's history: balances and capital-structure ratios dated before it
never describe the firm after it, and the share count must come from the same side of
the event as the balance sheet. Each row is dated and sourced.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from stressmodel.errors import Problem
from stressmodel.inputs.readers import RawTable
from stressmodel.inputs.validation import parse_number

EVENTS_FILE = "events.csv"
EVENTS_COLUMNS = ("ticker", "date", "event", "shares_after", "source", "note")
EVENT_KINDS = ("ipo", "convertible_conversion", "share_issue")


def parse_events(table: RawTable, tickers: list[str]) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Typed event rows and every problem (file, row, field)."""
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for line, r in table.records():
        bad = False

        def fail(field: str, expected: str, found: str, line: int = line) -> None:
            nonlocal bad
            bad = True
            problems.append(Problem(table.file, line, field, expected, found))

        if (
            tickers and r["ticker"] not in tickers
        ):  # (an unreadable register is reported on its own)
            fail("ticker", "a ticker of firms.csv", repr(r["ticker"]))
        try:
            date = dt.date.fromisoformat(r["date"])
        except ValueError:
            date = None
            fail("date", "a date YYYY-MM-DD", repr(r["date"]))
        if r["event"] not in EVENT_KINDS:
            fail("event", "one of " + ", ".join(EVENT_KINDS), repr(r["event"]))
        shares = None
        if r["shares_after"].strip():
            shares = parse_number(r["shares_after"])
            if shares is None or not shares > 0:
                fail("shares_after", "million shares > 0, or empty", repr(r["shares_after"]))
        if not r["source"].strip():
            fail("source", "a URL or citation", "an empty cell")
        if not bad:
            rows.append(
                {
                    "ticker": r["ticker"],
                    "date": date,
                    "event": r["event"],
                    "shares_after": shares,
                    "source": r["source"],
                    "note": r["note"],
                    "line": line,
                }
            )
    rows.sort(key=lambda e: (e["ticker"], e["date"]))
    return rows, problems
