"""Loading the inputs folder: read every file, validate everything, one error listing all.

:func:`load_inputs` is the single entry point. It returns an immutable :class:`Inputs`;
:meth:`Inputs.as_of` drops every observation dated after a quarter (no look-ahead).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import Any

from stressmodel.errors import InputError, Problem
from stressmodel.inputs.csv_columns import read_csv_many, sha256_bytes
from stressmodel.inputs.events import EVENTS_COLUMNS, EVENTS_FILE, parse_events
from stressmodel.inputs.periods import month_index, quarter_end_date
from stressmodel.inputs.readers import (
    MAX_UNIVERSE_FILE_BYTES,
    RawTable,
    printable,
    read_csv,
    read_toml,
    read_xlsx,
)
from stressmodel.inputs.scenarios import ScenarioSet, parse_scenarios, resolve_events
from stressmodel.inputs.sector import Sector, parse_sector
from stressmodel.inputs.statement_checks import check_statement_frame
from stressmodel.inputs.statement_store import StatementStore
from stressmodel.inputs.validation import (
    EVENT_COLUMNS,
    PRICE_COLUMNS,
    TICKER_RE,
    TRADE_COLUMNS,
    check_events,
    check_prices,
    check_register,
    check_text,
    check_trade,
    parse_number,
)
from stressmodel.inputs.vocabulary import REGISTER_COLUMNS, STATEMENT_COLUMNS

REGISTER_FILE = "firms.csv"
STATEMENTS_DIR = "statements"
PRICES_FILE = "prices.csv"
TRADE_FILE = "trade.csv"
POLICY_EVENTS_FILE = "policy_events.csv"
SECTOR_FILE = "sector.toml"
SCENARIOS_FILE = "scenarios.toml"
PRIORS_FILE = "consolidation_priors.csv"
PRIORS_COLUMNS = ("parameter", "value", "unit", "rationale", "source")
PRIOR_PARAMETERS = (
    "base_rate",
    "base_rate_low",
    "base_rate_high",
    "horizon_years",
    "w_distress",
    "w_size",
    "w_roa_gap",
    "w_export",
    "w_private",
    "w_upstream",
    "w_runway",
)


@dataclass(frozen=True)
class Inputs:
    """Everything the model reads, validated. Rows are plain dicts of typed values."""

    root: Path
    register: tuple[dict[str, Any], ...]
    #: ticker -> the firm's statement rows (a :class:`StatementStore` after load_inputs; any
    #: mapping of row tuples works, as tests and ``dataclasses.replace`` give them)
    statements: Mapping[str, tuple[dict[str, Any], ...]]
    prices: tuple[dict[str, Any], ...]
    trade: tuple[dict[str, Any], ...]
    sector: Sector
    scenarios: ScenarioSet
    priors: dict[str, float]
    priors_table: tuple[dict[str, str], ...]
    file_hashes: dict[str, str] = field(default_factory=dict)
    statement_files: dict[str, str] = field(default_factory=dict)
    as_of_quarter: int | None = None
    events: tuple[dict[str, Any], ...] = ()  # events.csv (optional): IPOs, conversions, issues

    def events_of(self, ticker: str, until: dt.date | None = None) -> list[dict[str, Any]]:
        """The firm's corporate events, oldest first (only those dated on or before ``until``)."""
        return [
            e
            for e in self.events
            if e["ticker"] == ticker and (until is None or e["date"] <= until)
        ]

    #: dated policy events (policy_events.csv); scenarios name them, they are assumptions of a
    #: scenario, so they are not dropped by :meth:`as_of`
    policy_events: tuple[dict[str, Any], ...] = ()

    @property
    def tickers(self) -> list[str]:
        return [r["ticker"] for r in self.register]

    def firm(self, ticker: str) -> dict[str, Any]:
        return self._firms[ticker]

    @cached_property
    def _firms(self) -> dict[str, dict[str, Any]]:
        return {r["ticker"]: r for r in reversed(self.register)}  # the first row wins, as before

    @cached_property
    def prices_by_ticker(self) -> dict[str, tuple[dict[str, Any], ...]]:
        """The price observations of each ticker, in file order (a lookup per firm instead
        of a scan of every price row: 10,000 firms made that scan quadratic)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for p in self.prices:
            out.setdefault(p["ticker"], []).append(p)
        return {t: tuple(v) for t, v in out.items()}

    def as_of(self, quarter: int, published_by: dt.date | None = None) -> Inputs:
        """A copy holding only data dated on or before the end of ``quarter``:
        statement periods ending by then, prices dated by then, trade months by then.

        With ``published_by``, also only the figures known on that day: a row whose note
        carries its publication date (``published YYYY-MM-DD``, as ``stressmodel fetch``
        writes it from 公告日期) is dropped when it was published later. Rows without a
        publication date are kept (hand-curated rows say in their source when they were
        published)."""
        end = quarter_end_date(quarter)
        last_month = month_index(end.year, end.month)

        def known(r: dict[str, Any]) -> bool:
            if published_by is None:
                return True
            day = published_on(str(r.get("note", "")))
            return day is None or day <= published_by

        statements = (
            self.statements.as_of(quarter, published_by)
            if isinstance(self.statements, StatementStore)
            else {
                t: tuple(r for r in rows if r["end"] <= quarter and known(r))
                for t, rows in self.statements.items()
            }
        )
        return replace(
            self,
            statements=statements,
            prices=tuple(r for r in self.prices if r["date"] <= end and known(r)),
            trade=tuple(r for r in self.trade if r["last"] <= last_month),
            as_of_quarter=quarter,
        )


#: the publication-date marker ``stressmodel fetch`` writes into a row's note
PUBLISHED_RE = re.compile(r"\bpublished (\d{4}-\d{2}-\d{2})\b")


def published_on(note: str) -> dt.date | None:
    """The publication date a row's note carries (``published 2025-10-26``), if any."""
    m = PUBLISHED_RE.search(note)
    if not m:
        return None
    try:
        return dt.date.fromisoformat(m.group(1))
    except ValueError:
        return None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _rel(root: Path, path: Path) -> str:
    """The name of an input file in messages: the inputs folder's name and the path in it
    (``inputs/firms.csv``), also when the folder is given as ``.``."""
    return printable(f"{root.name or root.resolve().name}/{path.relative_to(root).as_posix()}")


def load_inputs(root: Path) -> Inputs:
    """Read and validate the inputs folder. Raises :class:`InputError` with every problem."""
    root = Path(root)
    problems: list[Problem] = []
    if not root.is_dir():
        raise InputError(Problem(str(root), None, None, "an inputs folder", "no such folder"))

    roots: list[Problem] = []  # unreadable rows and files that other checks depend on

    def attempt(fn: Any, *args: Any, root: bool = False) -> Any:
        try:
            out = fn(*args)
        except InputError as exc:
            problems.extend(exc.problems)
            if root:
                roots.extend(exc.problems)
            return None
        if isinstance(out, RawTable) and out.problems:
            problems.extend(out.problems)
            if root:
                roots.extend(out.problems)
        return out

    def need(name: str) -> Path | None:
        path = root / name
        if not path.is_file():
            found = (
                "no such file"
                if not path.exists()
                else "a folder"
                if path.is_dir()
                else "not a regular file"
            )
            problems.append(Problem(_rel(root, path), None, None, "the file to exist", found))
            return None
        return path

    file_hashes: dict[str, str] = {}

    # register
    register: list[dict[str, Any]] = []
    reg_path = need(REGISTER_FILE)
    reg_table: RawTable | None = None
    if reg_path:
        reg_table = attempt(
            read_csv,
            reg_path,
            _rel(root, reg_path),
            tuple(REGISTER_COLUMNS),
            MAX_UNIVERSE_FILE_BYTES,
            root=True,
        )
        file_hashes[_rel(root, reg_path)] = sha256_file(reg_path)
    #: why the list of firms is incomplete, if it is: checks against it are then skipped
    register_gap: str | None = None
    if reg_path and reg_table is None:
        register_gap = f"{REGISTER_FILE} unreadable"
    elif reg_table is not None and reg_table.incomplete:
        register_gap = reg_table.incomplete
    if reg_table is not None:
        problems.extend(check_register(reg_table))
        for line, r in reg_table.records():
            rec: dict[str, Any] = dict(r)
            rec["line"] = line
            rec["shares_outstanding"] = parse_number(r["shares_outstanding"])
            rec["share_price"] = parse_number(r["share_price"]) if r["share_price"] else None
            rec["export_share"] = parse_number(r["export_share"]) if r["export_share"] else None
            rec["equity_volatility"] = (
                parse_number(r["equity_volatility"]) if r["equity_volatility"] else None
            )
            rec["upstream_tie"] = (
                int(r["upstream_tie"]) if r["upstream_tie"] in ("0", "1") else None
            )
            for k in ("shares_date", "price_date"):
                try:
                    rec[k] = dt.date.fromisoformat(r[k]) if r[k] else None
                except ValueError:
                    rec[k] = None
            register.append(rec)
    tickers = [r["ticker"] for r in register]
    known = set(tickers)

    # statements: one file per firm, csv or xlsx
    statements: StatementStore | None = None
    statement_files: dict[str, str] = {}
    sdir = root / STATEMENTS_DIR
    if not sdir.is_dir():
        problems.append(
            Problem(_rel(root, sdir), None, None, "a statements folder", "no such folder")
        )
    else:
        found: dict[str, Path] = {}
        # the name of a statements file in messages: _rel(root, path), without a relative_to
        # per file (10,000 files); sorted by name, as paths of one folder sort
        prefix = _rel(root, sdir) + "/"
        # os.scandir: whether an entry is a folder comes with the listing (no stat per file)
        with os.scandir(sdir) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        for entry in entries:
            path = sdir / entry.name
            stem, suffix = path.stem, path.suffix.lower()
            try:
                is_dir = entry.is_dir()  # follows a symbolic link, as Path.is_dir
            except OSError:  # e.g. a link loop: Path.is_dir says False or raises as before
                is_dir = path.is_dir()
            if path.name.startswith(".") or (is_dir and suffix not in (".csv", ".xlsx")):
                continue  # hidden files (editor lock files) and sub-folders are not inputs
            name = prefix + printable(path.name)
            if is_dir:
                problems.append(Problem(name, None, None, "a regular file", "a folder"))
                continue
            if suffix not in (".csv", ".xlsx"):
                problems.append(
                    Problem(
                        name,
                        None,
                        None,
                        "a .csv or .xlsx statements file",
                        f"a {suffix or 'file without extension'}",
                    )
                )
                continue
            if not TICKER_RE.match(stem):
                problems.append(
                    Problem(
                        name,
                        None,
                        None,
                        "a file named after a ticker, e.g. 603072.SH.csv",
                        repr(path.name),
                    )
                )
                continue
            if stem in found:
                problems.append(
                    Problem(
                        name, None, None, "one statements file per firm", f"also {found[stem].name}"
                    )
                )
                continue
            found[stem] = path
        for t in tickers:
            if t not in found and TICKER_RE.match(t):
                problems.append(
                    Problem(
                        _rel(root, sdir / f"{t}.csv"),
                        None,
                        None,
                        f"a statements file for {t} (firms.csv)",
                        "no such file",
                    )
                )
        unmatched: list[str] = []
        # which files are read, in order (problems keep the order of the files)
        plan: list[tuple[str, Path, str] | Problem] = []
        for stem, path in found.items():
            name = prefix + printable(path.name)
            if stem not in known and register_gap is not None:
                unmatched.append(path.name)  # checked on its own; its firm cannot be looked up
            elif stem not in known:
                plan.append(
                    Problem(
                        name,
                        None,
                        None,
                        "a ticker listed in firms.csv",
                        f"{stem} is not in firms.csv",
                    )
                )
                continue
            plan.append((stem, path, name))
        # every CSV file read in one pass; an xlsx file on its own
        csv_items = [
            (e[1], e[2])
            for e in plan
            if not isinstance(e, Problem) and e[1].suffix.lower() != ".xlsx"
        ]
        csv_results = iter(read_csv_many(csv_items, STATEMENT_COLUMNS))
        read: list[tuple[str, Any]] = []
        for e in plan:
            if isinstance(e, Problem):
                problems.append(e)
                continue
            stem, path, name = e
            if path.suffix.lower() == ".xlsx":
                table = attempt(read_xlsx, path, name, STATEMENT_COLUMNS)
                if table is None:
                    continue  # not hashed either: it may not be a regular file
                file_hashes[name] = sha256_file(path)
            else:
                table, probs, data = next(csv_results)
                problems.extend(probs)
                if table is None:
                    continue
                problems.extend(table.problems)
                assert data is not None
                file_hashes[name] = sha256_bytes(data)  # the bytes read, not a second read
            read.append((stem, table))
        # every statements file's rows checked in one pass over whole columns
        probs, kept = check_statement_frame([table for _stem, table in read])
        problems.extend(probs)
        statements = StatementStore(kept, [stem for stem, _table in read])
        statement_files = {stem: table.file for stem, table in read}
        if unmatched:
            n = len(unmatched)
            problems.append(
                Problem(
                    _rel(root, sdir),
                    None,
                    None,
                    f"statements files matched to firms in {REGISTER_FILE}",
                    f"{n} file{'s' if n != 1 else ''} not matched ({', '.join(unmatched[:3])}"
                    f"{' ...' if n > 3 else ''}): {register_gap}",
                )
            )

    # a firm in the default run needs revenue, or no run can choose its as-of quarter
    with_revenue = statements.tickers_with("revenue") if statements is not None else set()
    for r in register:
        t = r["ticker"]
        if r["default_run"] == "yes" and t in statement_files and t not in with_revenue:
            problems.append(
                Problem(
                    statement_files[t],
                    None,
                    "revenue",
                    f"at least one revenue figure ({t} has default_run = yes in {REGISTER_FILE})",
                    "none",
                )
            )

    # register export shares must agree with the statements history
    shares = statements.rows_of_item("overseas_revenue_share") if statements is not None else {}
    for r in register:
        t = r["ticker"]
        if r["export_share"] is None or t not in statement_files:
            continue
        for row in shares.get(t, ()):
            if (
                row["period"] == r["export_share_period"]
                and abs(row["value"] - r["export_share"]) > 1e-9
            ):
                problems.append(
                    Problem(
                        _rel(root, root / REGISTER_FILE),
                        r["line"],
                        "export_share",
                        f"{row['value']} as in {statement_files[t]} row {row['line']}",
                        str(r["export_share"]),
                    )
                )

    # prices
    prices: list[dict[str, Any]] = []
    ppath = need(PRICES_FILE)
    if ppath:
        ptable, probs, data = read_csv_many(
            [(ppath, _rel(root, ppath))], PRICE_COLUMNS, MAX_UNIVERSE_FILE_BYTES
        )[0]
        problems.extend(probs)
        if ptable is not None:
            problems.extend(ptable.problems)
        file_hashes[_rel(root, ppath)] = (
            sha256_bytes(data) if data is not None else sha256_file(ppath)
        )
        if ptable is not None:
            probs, prices = check_prices(ptable, tickers)
            if register_gap is not None:
                probs = _skip_dependent(
                    probs,
                    "a ticker in firms.csv",
                    "price rows",
                    f"tickers listed in {REGISTER_FILE}",
                    register_gap,
                )
            problems.extend(probs)
            closes = {(p["ticker"], p["date"]): p["value"] for p in prices if p["item"] == "close"}
            for r in register:
                if r["share_price"] is None or r["price_date"] is None:
                    continue
                v = closes.get((r["ticker"], r["price_date"]))
                if v is None or abs(v - r["share_price"]) > 1e-9:
                    problems.append(
                        Problem(
                            _rel(root, root / REGISTER_FILE),
                            r["line"],
                            "share_price",
                            f"the close of {r['price_date']} in {PRICES_FILE}",
                            f"{r['share_price']} (prices.csv: {v})",
                        )
                    )

    # trade
    trade: list[dict[str, Any]] = []
    tpath = need(TRADE_FILE)
    if tpath:
        ttable = attempt(read_csv, tpath, _rel(root, tpath), TRADE_COLUMNS)
        file_hashes[_rel(root, tpath)] = sha256_file(tpath)
        if ttable is not None:
            probs, trade = check_trade(ttable)
            problems.extend(probs)

    # policy events
    policy_events: list[dict[str, Any]] = []
    ppath = need(POLICY_EVENTS_FILE)
    if ppath:
        ptable = attempt(read_csv, ppath, _rel(root, ppath), EVENT_COLUMNS)
        file_hashes[_rel(root, ppath)] = sha256_file(ppath)
        if ptable is not None:
            probs, policy_events = check_events(ptable)
            problems.extend(probs)

    # sector and scenarios
    sector: Sector | None = None
    spath = need(SECTOR_FILE)
    if spath:
        doc = attempt(read_toml, spath, _rel(root, spath))
        file_hashes[_rel(root, spath)] = sha256_file(spath)
        if doc is not None:
            sector, probs = parse_sector(doc, _rel(root, spath))
            problems.extend(with_toml_lines(probs, doc))
    scenarios: ScenarioSet | None = None
    cpath = need(SCENARIOS_FILE)
    if cpath:
        doc = attempt(read_toml, cpath, _rel(root, cpath))
        file_hashes[_rel(root, cpath)] = sha256_file(cpath)
        if doc is not None:
            scenarios, probs = parse_scenarios(doc, _rel(root, cpath), sector)
            problems.extend(with_toml_lines(probs, doc))
            if scenarios is not None and ppath:
                scenarios, probs = resolve_events(
                    scenarios, policy_events, _rel(root, cpath), _rel(root, ppath)
                )
                problems.extend(with_toml_lines(probs, doc))

    # consolidation priors
    priors: dict[str, float] = {}
    priors_table: list[dict[str, str]] = []
    qpath = need(PRIORS_FILE)
    if qpath:
        name = _rel(root, qpath)
        qtable = attempt(read_csv, qpath, name, PRIORS_COLUMNS)
        file_hashes[name] = sha256_file(qpath)
        if qtable is not None:
            priors, priors_table, probs = _check_priors(qtable)
            problems.extend(probs)

    # corporate events (optional file)
    events: list[dict[str, Any]] = []
    epath = root / EVENTS_FILE
    if epath.exists():
        name = _rel(root, epath)
        etable = attempt(read_csv, epath, name, EVENTS_COLUMNS) if epath.is_file() else None
        if not epath.is_file():
            problems.append(Problem(name, None, None, "a regular file", "a folder"))
        file_hashes[name] = sha256_file(epath) if epath.is_file() else ""
        if etable is not None:
            # tickers are checked only against a register that read cleanly (an unreadable
            # row is reported on its own, not again as unknown tickers here)
            reg_name = _rel(root, root / REGISTER_FILE)
            known = tickers if not any(p.file == reg_name for p in problems) else []
            events, probs = parse_events(etable, known)
            problems.extend(probs)

    if problems:
        raise InputError(problems, first=roots)
    assert sector is not None and scenarios is not None
    return Inputs(
        root=root,
        register=tuple(register),
        statements=statements if statements is not None else StatementStore.empty(),
        prices=tuple(sorted(prices, key=itemgetter("ticker", "date", "item"))),
        trade=tuple(trade),
        sector=sector,
        scenarios=scenarios,
        priors=priors,
        priors_table=tuple(priors_table),
        file_hashes=dict(sorted(file_hashes.items())),
        statement_files=statement_files,
        events=tuple(events),
        policy_events=tuple(policy_events),
    )


def with_toml_lines(probs: list[Problem], doc: Any) -> list[Problem]:
    """TOML problems given the line of their key (``horizon_quarters.value`` -> the line of
    ``value =`` under ``[horizon_quarters]``; else the nearest enclosing key or table)."""
    lines: dict[str, int] = getattr(doc, "lines", {})
    out = []
    for p in probs:
        if p.row is None and p.field:
            parts = p.field.split(".")
            for k in range(len(parts), 0, -1):
                line = lines.get(".".join(parts[:k]))
                if line is not None:
                    p = replace(p, row=line)
                    break
        out.append(p)
    return out


def _skip_dependent(
    probs: list[Problem], expected: str, what: str, against: str, gap: str
) -> list[Problem]:
    """Problems that only say a row's key is missing from an incomplete table replaced by
    one line: ``12 price rows not checked: firms.csv row 5 unreadable``."""
    dependent = [p for p in probs if p.expected == expected]
    if not dependent:
        return probs
    rest = [p for p in probs if p.expected != expected]
    n = len(dependent)
    file, field = dependent[0].file, dependent[0].field
    return [*rest, Problem(file, None, field, against, f"{n} {what} not checked: {gap}")]


def _check_priors(table: RawTable) -> tuple[dict[str, float], list[dict[str, str]], list[Problem]]:
    p: list[Problem] = check_text(table)
    f = table.file
    values: dict[str, float] = {}
    rows: list[dict[str, str]] = []
    given: dict[str, int] = {}
    for line, r in table.records():
        name = r["parameter"]
        if name not in PRIOR_PARAMETERS:
            p.append(
                Problem(f, line, "parameter", "one of " + ", ".join(PRIOR_PARAMETERS), repr(name))
            )
            continue
        if name in given:
            p.append(
                Problem(
                    f,
                    line,
                    "parameter",
                    "each parameter once",
                    f"{name} again (first on row {given[name]})",
                )
            )
            continue
        given[name] = line
        v = parse_number(r["value"])
        if v is None:
            p.append(Problem(f, line, "value", "a number", repr(r["value"])))
            continue
        if name.startswith("base_rate") and not 0 < v < 1:
            p.append(Problem(f, line, "value", "a probability in (0, 1)", r["value"]))
            continue
        if name == "horizon_years" and not 0 < v <= 30:
            p.append(Problem(f, line, "value", "a horizon in (0, 30] years", r["value"]))
            continue
        if name.startswith("w_") and abs(v) > 10:
            p.append(Problem(f, line, "value", "a weight within [-10, 10] log-odds", r["value"]))
            continue
        if not r["rationale"]:
            p.append(
                Problem(f, line, "rationale", "the reasoning behind the value", "an empty cell")
            )
        values[name] = v
        rows.append(dict(r))
    for name in PRIOR_PARAMETERS:
        if name not in given:
            p.append(Problem(f, None, "parameter", f"a row for {name}", "nothing"))
    if not p and not values["base_rate_low"] <= values["base_rate"] <= values["base_rate_high"]:
        p.append(
            Problem(
                f,
                None,
                "base_rate",
                "base_rate_low <= base_rate <= base_rate_high",
                str(values["base_rate"]),
            )
        )
    return values, rows, p
