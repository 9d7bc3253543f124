"""The network step: one function per AkShare endpoint, called one at a time.

``akshare`` is imported inside :func:`_akshare` only, when a request is really made; the
offline path and the tests never import it. Every response is stored as a snapshot; a
(function, arguments) already fetched in the current calendar quarter is read from the
cache instead of fetched again, and ``offline`` never touches the network.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from stressmodel.errors import StressModelError, UsageError
from stressmodel.inputs.fetch import mapping as m
from stressmodel.inputs.fetch.snapshot import Cache, Snapshot, SnapshotError, call_text, make

TICKER_RE = re.compile(r"^([0-9]{6})\.(SH|SZ|BJ)$")

#: the akshare versions this adapter was written against (the ``live`` extra pins them)
SUPPORTED = ">=1.19.5,<1.20"
#: arguments that follow the calendar: --offline accepts a snapshot whatever their value
LOOSE_ARGS = ("start_date", "end_date")


class FetchError(StressModelError):
    """A source could not be read (unreachable, refused, or not the expected shape).
    Names the endpoint; the run goes on with the other firms and exits 1."""

    exit_code = 1

    def __init__(self, call: str, expected: str, found: str):
        self.call, self.expected, self.found = call, expected, found
        super().__init__(f"{call}: expected {expected}; found {found}")


def split_ticker(ticker: str) -> tuple[str, str]:
    mt = TICKER_RE.match(ticker)
    if not mt:
        raise UsageError(f"{ticker!r} is not a ticker like 300224.SZ (six digits, .SH, .SZ or .BJ)")
    return mt.group(1), mt.group(2)


def sina_code(ticker: str) -> str:
    code, ex = split_ticker(ticker)
    return f"{ex.lower()}{code}"


def em_code(ticker: str) -> str:
    code, ex = split_ticker(ticker)
    return f"{ex}{code}"


def plain_code(ticker: str) -> str:
    return split_ticker(ticker)[0]


def statement_call(ticker: str, statement: str) -> tuple[str, dict[str, str]]:
    return m.SINA_FUNCTION, {"stock": sina_code(ticker), "symbol": m.STATEMENTS[statement]}


def hist_call(ticker: str, since: int, until: dt.date) -> tuple[str, dict[str, str]]:
    # the end date is the end of the current quarter, so that a rerun within the quarter
    # hits the same snapshot
    q_end = dt.date(until.year, 3 * ((until.month - 1) // 3) + 3, 1) + dt.timedelta(days=31)
    q_end = q_end.replace(day=1) - dt.timedelta(days=1)
    return m.HIST_FUNCTION, {
        "symbol": plain_code(ticker),
        "period": "daily",
        "start_date": f"{since - 1}1201",
        "end_date": q_end.strftime("%Y%m%d"),
        "adjust": "",
    }


def hist_tx_call(ticker: str, since: int, until: dt.date) -> tuple[str, dict[str, str]]:
    _fn, args = hist_call(ticker, since, until)
    return m.HIST_TX_FUNCTION, {
        "symbol": sina_code(ticker),
        "start_date": args["start_date"],
        "end_date": args["end_date"],
        "adjust": "",
    }


def zygc_call(ticker: str) -> tuple[str, dict[str, str]]:
    return m.ZYGC_FUNCTION, {"symbol": em_code(ticker)}


def _akshare() -> Any:
    try:
        import akshare  # lazy on purpose: the core install has no akshare
    except ImportError:
        raise UsageError(
            "fetching needs the optional extra: pip install 'stressmodel[live]' "
            "(or use --offline with a filled cache)"
        ) from None
    return akshare


Caller = Callable[[str, dict[str, str]], tuple[pd.DataFrame, str]]


def akshare_caller(function: str, args: dict[str, str]) -> tuple[pd.DataFrame, str]:
    ak = _akshare()
    fn = getattr(ak, function, None)
    if fn is None:
        raise FetchError(
            call_text(function, args),
            f"akshare {SUPPORTED} to offer {function}",
            "no such function",
        )
    return fn(**args), str(getattr(ak, "__version__", "unknown"))


@dataclass
class Fetcher:
    """Gets responses: from the cache when fresh (or always when ``offline``), else from
    ``caller`` (AkShare by default) with ``delay`` seconds between requests and
    ``retries`` retries with exponential backoff."""

    cache: Cache
    offline: bool = False
    delay: float = 2.0
    retries: int = 3
    backoff: float = 4.0
    caller: Caller = akshare_caller
    today: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    log: list[str] = field(default_factory=list)
    _last: float | None = None

    def get(self, function: str, args: dict[str, str]) -> Snapshot:
        call = call_text(function, args)
        try:
            snap = (
                self.cache.latest_like(function, args, LOOSE_ARGS)
                if self.offline
                else self.cache.fresh(function, args, self.today)
            )
        except SnapshotError as exc:
            raise FetchError(call, "a readable snapshot in the cache", str(exc)) from None
        if snap is not None:
            self.log.append(f"cache  {call} (fetched {snap.fetched_at:%Y-%m-%d})")
            return snap
        if self.offline:
            raise FetchError(call, f"a snapshot in {self.cache.folder} (--offline)", "none")
        last_error = ""
        for attempt in range(self.retries + 1):
            if self._last is not None:
                wait = self.delay if attempt == 0 else self.backoff * 2 ** (attempt - 1)
                self.sleep(wait)
            self._last = time.monotonic()
            try:
                frame, version = self.caller(function, args)
            except StressModelError:
                raise
            except Exception as exc:  # the source's own failure: retry, then name it
                last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
                self.log.append(f"retry  {call} attempt {attempt + 1}: {last_error}")
                continue
            if not isinstance(frame, pd.DataFrame):
                raise FetchError(call, "a pandas DataFrame", type(frame).__name__)
            if frame.empty:
                raise FetchError(
                    call, "at least one row", "an empty response (unknown ticker or no data)"
                )
            snap = make(function, args, frame, version, self.clock())
            self.cache.store(snap)
            self.log.append(f"fetch  {call}")
            return snap
        raise FetchError(
            call, f"a response within {self.retries + 1} attempts", last_error or "no response"
        )
