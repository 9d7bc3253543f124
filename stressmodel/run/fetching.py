"""``stressmodel fetch``: fetch (network or cache) -> import (pure) -> merge -> validate ->
write atomically. One firm failing does not stop the others; the report lists it."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

from stressmodel.errors import UsageError
from stressmodel.inputs.fetch import importer, sources
from stressmodel.inputs.fetch import mapping as m
from stressmodel.inputs.fetch.merge import (
    DEFAULT_TOLERANCE,
    MergeReport,
    merge_prices,
    merge_statements,
    remove_stale_temps,
    write_atomically,
)
from stressmodel.inputs.fetch.snapshot import Cache
from stressmodel.inputs.fetch.sources import Fetcher, FetchError
from stressmodel.inputs.load import PRICES_FILE, REGISTER_FILE, STATEMENTS_DIR
from stressmodel.inputs.readers import RawTable
from stressmodel.inputs.validation import PRICE_COLUMNS, check_prices, check_statements

WHAT = ("statements", "prices", "regions")
CACHE_DIR_NAME = "fetch_cache"


@dataclass(frozen=True)
class FetchOptions:
    inputs_dir: Path
    tickers: tuple[str, ...] = ()
    all_firms: bool = False
    since: int | None = None
    what: tuple[str, ...] = WHAT
    offline: bool = False
    dry_run: bool = False
    cache_dir: Path | None = None
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def cache(self) -> Path:
        return (
            self.cache_dir
            if self.cache_dir is not None
            else self.inputs_dir.resolve().parent / CACHE_DIR_NAME
        )


def parse_what(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in parts if p not in WHAT]
    if bad or not parts:
        raise UsageError(
            f"--what takes a comma-separated subset of {', '.join(WHAT)}; got {text!r}"
        )
    return parts


def _register_tickers(inputs_dir: Path) -> list[str]:
    path = inputs_dir / REGISTER_FILE
    if not path.is_file():
        raise UsageError(f"{path}: no firm register (firms.csv); is --inputs the inputs folder?")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [r["ticker"].strip() for r in csv.DictReader(fh) if r.get("ticker", "").strip()]


def _table(name: str, text: str) -> RawTable:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = tuple(next(reader))
    rows, lines = [], []
    for row in reader:
        if row:
            rows.append(tuple(c.strip() for c in row))
            lines.append(reader.line_num)
    return RawTable(name, header, tuple(rows), tuple(lines))


def fetch_firm(ticker: str, opts: FetchOptions, fetcher: Fetcher) -> importer.Imported:
    """Fetch and import one firm. Raises FetchError naming the failing endpoint."""
    out = importer.Imported()
    since = opts.since
    if "statements" in opts.what:
        snaps = {}
        for key in m.STATEMENTS:
            fn, args = sources.statement_call(ticker, key)
            snaps[key] = fetcher.get(fn, args)
        got = importer.import_statements(ticker, snaps, since)
        out.statements += got.statements
        out.prices += got.prices
        out.skipped += got.skipped
    if "prices" in opts.what:
        first = since or fetcher.today.year - 5
        try:
            bars = fetcher.get(*sources.hist_call(ticker, first, fetcher.today))
        except FetchError as primary:
            try:
                bars = fetcher.get(*sources.hist_tx_call(ticker, first, fetcher.today))
            except FetchError as fallback:
                raise FetchError(
                    f"{primary.call}, then the fallback {fallback.call}",
                    f"{primary.expected} / {fallback.expected}",
                    f"{primary.found} / {fallback.found}",
                ) from None
            out.skipped.append(f"{primary}; closes taken from the fallback {bars.call}")
        got = importer.import_prices(ticker, bars, since)
        out.prices += got.prices
        out.skipped += got.skipped
    if "regions" in opts.what:
        fn, args = sources.zygc_call(ticker)
        got = importer.import_regions(ticker, fetcher.get(fn, args), since)
        out.statements += got.statements
        out.skipped += got.skipped
    return out


def fetch_inputs(opts: FetchOptions, fetcher: Fetcher | None = None) -> tuple[MergeReport, int]:
    """Run a fetch. Returns the report and the exit code (0, or 1 if any firm failed).
    Raises UsageError (exit 2) for bad options, unknown tickers or an empty offline cache."""
    inputs_dir = Path(opts.inputs_dir)
    known = _register_tickers(inputs_dir)
    if opts.all_firms and opts.tickers:
        raise UsageError("give tickers or --all, not both")
    if not opts.all_firms and not opts.tickers:
        raise UsageError("name the firms to fetch (e.g. 300224.SZ) or give --all")
    for t in opts.tickers:
        sources.split_ticker(t)
        if t not in known:
            raise UsageError(
                f"{t} is not in {inputs_dir / REGISTER_FILE}; add the firm there first (see inputs/README.md)"
            )
    if opts.since is not None and not 1990 <= opts.since <= dt.date.today().year:
        raise UsageError(f"--since takes a year between 1990 and this year; got {opts.since}")
    cache = Cache(opts.cache)
    if opts.offline and cache.is_empty():
        raise UsageError(
            f"--offline: the cache {cache.folder} holds no snapshots; run fetch once without --offline"
        )
    fetcher = fetcher or Fetcher(cache, offline=opts.offline)
    fetcher.offline = fetcher.offline or opts.offline
    tickers = list(opts.tickers) if opts.tickers else known
    report = MergeReport()
    if not opts.dry_run:
        for folder in (inputs_dir, inputs_dir / STATEMENTS_DIR, cache.folder):
            remove_stale_temps(folder)

    files: dict[Path, str] = {}
    prices_path = inputs_dir / PRICES_FILE
    prices_text = (
        prices_path.read_text(encoding="utf-8")
        if prices_path.is_file()
        else ",".join(PRICE_COLUMNS) + "\n"
    )
    new_prices_text = prices_text
    for t in tickers:
        try:
            got = fetch_firm(t, opts, fetcher)
        except FetchError as exc:
            report.failures.append(f"{t}: {exc}")
            continue
        report.skipped += [f"{t}: {s}" for s in got.skipped]
        sdir = inputs_dir / STATEMENTS_DIR
        path = sdir / f"{t}.csv"
        if (sdir / f"{t}.xlsx").exists():
            report.failures.append(
                f"{t}: statements are kept in {t}.xlsx; fetch merges into .csv files only"
            )
            continue
        name = f"{inputs_dir.name}/{STATEMENTS_DIR}/{t}.csv"
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        firm_report = MergeReport()
        merged = merge_statements(name, old, got.statements, opts.tolerance, firm_report)
        problems, _rows = check_statements(_table(name, merged))
        if problems:
            report.failures.append(
                f"{t}: the merged statements would not validate; nothing written for this firm:\n"
                + "\n".join(f"    - {p}" for p in problems)
            )
            continue
        candidate = merge_prices(
            f"{inputs_dir.name}/{PRICES_FILE}",
            new_prices_text,
            got.prices,
            opts.tolerance,
            firm_report,
        )
        if candidate != new_prices_text:
            problems, _rows = check_prices(
                _table(f"{inputs_dir.name}/{PRICES_FILE}", candidate), known
            )
            if problems:
                report.failures.append(
                    f"{t}: the merged prices.csv would not validate; nothing written for this firm:\n"
                    + "\n".join(f"    - {p}" for p in problems)
                )
                continue
        report.changes += firm_report.changes
        if merged != old:
            files[path] = merged
        new_prices_text = candidate
    if new_prices_text != prices_text:
        files[prices_path] = new_prices_text
    report.log = list(fetcher.log)
    if not opts.dry_run and files:
        write_atomically(files)
    return report, (1 if report.failures else 0)


__all__ = ["FetchOptions", "fetch_inputs", "parse_what"]
