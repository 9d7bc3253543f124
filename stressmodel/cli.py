"""Command-line interface. It only translates: parse options, call one library function
in :mod:`stressmodel.run.app`, print, and map errors to exit codes (0 ok, 2 bad input or
usage, 1 unexpected)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from stressmodel import __version__
from stressmodel.errors import ENVIRONMENT_ERRNOS, StressModelError


class SafePath(click.Path):
    """click.Path that refuses a NUL character with a usage error (exit 2); click.Path
    itself calls os.stat on it, which raises ValueError: a traceback and exit 1."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and "\x00" in value:
            self.fail(f"{value!r} contains a NUL character", param, ctx)
        return super().convert(value, param, ctx)


DEFAULT_INPUTS = Path("inputs")
DEFAULT_OUTPUTS = Path("outputs")


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map the package's errors to a clean message and exit code; anything else is an
    internal error (exit 1), with a traceback only under --debug."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug"))
        try:
            return fn(*args, **kwargs)
        except StressModelError as exc:
            if debug:
                traceback.print_exc()
            _fail(str(exc), exc.exit_code)
        except BrokenPipeError:
            # the reader of our output went away (``stressmodel validate | head``): not an
            # error of ours; silence the flush at exit and stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)
        except KeyboardInterrupt:
            _fail("interrupted; no partial outputs were left", 130)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except OSError as exc:
            if exc.errno not in ENVIRONMENT_ERRNOS:
                if debug:
                    traceback.print_exc()
                _fail(
                    f"internal error ({type(exc).__name__}: {exc}); rerun with --debug for the traceback",
                    1,
                )
            # the machine, not a bug: a read-only or full disk, a permission, a folder for a file
            if debug:
                traceback.print_exc()
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(
                f"{where}{exc.strerror or exc} (a file or folder cannot be written or read here)", 2
            )
        except Exception as exc:  # an internal error: no traceback unless asked
            if debug:
                traceback.print_exc()
            _fail(
                f"internal error ({type(exc).__name__}: {exc}); rerun with --debug for the traceback",
                1,
            )

    return wrapper


class Progress:
    """A one-line stage indicator on stderr: only on a terminal, not with --quiet or
    --json, and only once the run has taken longer than ``delay`` seconds (then it also
    ticks the elapsed time while a long stage runs). Use as a context manager so that the
    line is cleared however the run ends."""

    def __init__(self, enabled: bool, total: int = 8, delay: float = 1.0):
        self.enabled = enabled and sys.stderr.isatty()
        self.total, self.n, self.t0, self.delay = total, 0, time.perf_counter(), delay
        self.message = ""
        self.shown = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, message: str) -> None:
        logging.getLogger("stressmodel").info(message)
        if not self.enabled:
            return
        with self._lock:
            self.n = min(self.n + 1, self.total)
            self.message = message
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._tick, name="stressmodel-progress", daemon=True
            )
            self._thread.start()
        elif self.shown:
            self._draw()

    def _tick(self) -> None:
        if self._stop.wait(max(self.delay - (time.perf_counter() - self.t0), 0.0)):
            return
        while True:
            self._draw()
            if self._stop.wait(0.25):
                return

    def _draw(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self.shown = True
            width = 24
            filled = int(width * self.n / self.total)
            bar = "#" * filled + "-" * (width - filled)
            line = f"\r[{bar}] {time.perf_counter() - self.t0:5.1f}s {self.message[:60]:60}"
            click.echo(line, err=True, nl=False)

    def done(self) -> None:
        with self._lock:
            self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.shown:
            click.echo("\r" + " " * 100 + "\r", err=True, nl=False)
            self.shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.done()


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        stream=sys.stderr,
    )
    # third-party warnings (XlsxWriter, polars, statsmodels) go to the log: only --verbose shows them
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbose else logging.CRITICAL)


def _quiet_third_party_warnings() -> None:
    """Python warnings from libraries never reach the terminal as such: they are routed to
    the ``py.warnings`` logger, which only ``--verbose`` lets through. Limits the tool
    enforces itself (chart series, Excel's text and row limits) are stated in its own
    messages and sheets instead."""
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.CRITICAL)


def entry() -> None:
    """The ``stressmodel`` console script and ``python -m stressmodel``: :func:`main`, then
    the process ends without Python's finalisation. By then every command has written and
    committed its files, shut its worker pools and clusters down and joined its threads;
    stdout, stderr and the log handlers are flushed here. What finalisation would do
    after that (free every object of the run one by one, unload the modules) took
    0.17-0.19 s of a 2.3 s shipped run. Tests call :func:`main` itself (click's
    CliRunner), which returns or raises as usual."""
    try:
        main()  # standalone mode: click ends with SystemExit
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    _end(code)


def _end(code: object) -> None:
    """Exit with ``code`` as SystemExit would (None: 0; a message: printed, 1) after
    flushing the output streams and log handlers, skipping the interpreter's teardown."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream
            stream.flush()
    os._exit(status & 0xFF)  # what the system keeps of an exit status, as for SystemExit


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stressmodel")
def main() -> None:
    """Stress tests for China's listed rare-earth magnet producers under export controls.

    Projects each firm quarter by quarter under export, output, storage, licence and price
    shocks; computes distress metrics, a consolidation index and value per share against
    the market price; writes scenario workbooks with live formulas.
    """
    _quiet_third_party_warnings()


def run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option(
            "--inputs",
            "inputs_dir",
            type=SafePath(path_type=Path),
            default=DEFAULT_INPUTS,
            show_default=True,
            help="Folder with firms.csv, statements/, prices.csv, trade.csv, sector.toml, scenarios.toml.",
        ),
        click.option(
            "--outputs",
            "outputs_dir",
            type=SafePath(path_type=Path),
            default=DEFAULT_OUTPUTS,
            show_default=True,
            help="Folder that receives <as_of>/ with tables and workbooks.",
        ),
        click.option(
            "--firms",
            default=None,
            help="Comma-separated tickers (default: every firm with default_run = yes).",
        ),
        click.option("--force", is_flag=True, help="Replace an existing outputs/<as_of>/ folder."),
        click.option("--quiet", is_flag=True, help="No progress indicator and no summary table."),
        click.option(
            "--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout."
        ),
        click.option(
            "--horizon",
            type=click.IntRange(1, 40),
            default=None,
            help="Projected quarters (default: sector.toml).",
        ),
        click.option("--no-workbooks", is_flag=True, help="Write only the tables (parquet/CSV)."),
        click.option(
            "--allow-projection-only",
            is_flag=True,
            help="Accept an as-of quarter after every selected firm's latest actuals (refused "
            "otherwise): project from figures carried forward, every firm marked stale.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(1, 64),
            default=None,
            help="Processes writing the firm workbooks (default: 1 on two cores or fewer).",
        ),
        click.option(
            "--scheduler",
            default=None,
            help="Address of a running Dask scheduler the firm workbooks go to (needs stressmodel[cluster]).",
        ),
        click.option(
            "--cluster",
            default=None,
            help="local:N starts a Dask LocalCluster of N workers for the run (needs stressmodel[cluster]).",
        ),
        click.option("--verbose", is_flag=True, help="Log each stage to stderr."),
        click.option("--debug", is_flag=True, help="Show tracebacks of internal errors."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


@main.command()
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="Quarter like 2025Q3 (default: the latest quarter for which most selected firms have "
    "income-statement actuals; firms with older actuals run from their latest figures, marked stale).",
)
@click.option(
    "--price-date",
    "price_date",
    default=None,
    metavar="YYYY-MM-DD",
    help="Value firms at the latest close on or before this date instead of the as-of quarter end "
    "(e.g. today's price against the latest fundamentals; statements still stop at the as-of).",
)
@click.option(
    "--published-by",
    "published_by",
    default=None,
    metavar="YYYY-MM-DD",
    help="Use only figures published on or before this date (the publication date that "
    "`stressmodel fetch` keeps in each row's note; rows without one are kept).",
)
@click.option(
    "--paths",
    type=click.IntRange(0, 1_000_000),
    default=0,
    show_default=True,
    help="Monte Carlo paths of export shock size and duration (0 = none).",
)
@run_options
@handle_errors
def run(
    as_of: str | None,
    price_date: str | None,
    published_by: str | None,
    paths: int,
    inputs_dir: Path,
    outputs_dir: Path,
    firms: str | None,
    force: bool,
    quiet: bool,
    as_json: bool,
    horizon: int | None,
    no_workbooks: bool,
    allow_projection_only: bool,
    workers: int | None,
    scheduler: str | None,
    cluster: str | None,
    verbose: bool,
    debug: bool,
) -> None:
    """Run every scenario as of one quarter and write outputs/<as_of>/."""
    from stressmodel.pipeline.result import RunOptions
    from stressmodel.run.app import parse_as_of, parse_firms, parse_price_date, run_and_write
    from stressmodel.run.cluster import cluster_executor
    from stressmodel.run.tables import summary_text

    _logging(verbose)
    with (
        cluster_executor(scheduler, cluster) as executor,
        Progress(not quiet and not as_json) as progress,
    ):
        report = run_and_write(
            inputs_dir,
            outputs_dir,
            RunOptions(
                as_of=parse_as_of(as_of),
                firms=parse_firms(firms),
                horizon=horizon,
                paths=paths,
                price_date=parse_price_date(price_date),
                published_by=parse_price_date(published_by, "--published-by"),
            ),
            force=force,
            workbooks=not no_workbooks,
            progress=progress,
            allow_projection_only=allow_projection_only,
            workers=workers,
            executor=executor,
        )
    if as_json:
        click.echo(json.dumps(_json_summary(report), indent=2, default=str))
    elif not quiet:
        from stressmodel.run.asof import actuals_line
        from stressmodel.run.batch import history_lines

        click.echo(summary_text(report.result))
        click.echo(
            actuals_line(report.latest_actuals, report.result.as_of_label, report.projection_only)
        )
        for line in history_lines(report):
            click.echo(line)
        click.echo(f"\nwrote {len(report.files)} files to {report.folder}")


def _json_summary(report: Any) -> dict[str, Any]:
    r = report.result
    named = r.summary.filter(r.summary["scenario_kind"] == "named")
    return {
        "as_of": r.as_of_label,
        "folder": str(report.folder),
        "files": list(report.files),
        "firms": list(r.tickers),
        "firms_with_later_data": r.later_data,
        "summary": named.to_dicts(),
        "reverse_stress": r.extras["reverse_stress"].to_dicts(),
        "timings": r.timings,
        "firms_without_actuals_for_as_of": report.stale_firms,
        "latest_actuals": report.latest_actuals,
        "projection_only": report.projection_only,
        "history": report.history,
    }


@main.command()
@click.option(
    "--inputs",
    "inputs_dir",
    type=SafePath(path_type=Path),
    default=DEFAULT_INPUTS,
    show_default=True,
)
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@handle_errors
def validate(inputs_dir: Path, debug: bool) -> None:
    """Check every input file and report ALL problems (file, row, field); exit 2 if any.

    When the inputs are valid, print per firm how the figures the model needs are
    obtained: reported, derived, estimated (peer median or another period) or missing.
    """
    from stressmodel.inputs.load import load_inputs
    from stressmodel.inputs.statement_store import statement_figures
    from stressmodel.run.app import coverage, gc_paused

    with gc_paused():
        inputs = load_inputs(inputs_dir)
        as_of, table = coverage(inputs)
    click.echo(
        f"inputs valid: {len(inputs.tickers)} firms, {statement_figures(inputs.statements)} statement figures, "
        f"{len(inputs.prices)} price observations, {len(inputs.trade)} trade rows, {len(inputs.scenarios.named)} scenarios"
    )
    lines = [
        f"coverage of the figures the model needs at the default as-of quarter {as_of}:",
        f"{'ticker':10} {'reported':>8} {'derived':>8} {'estimated':>9} {'missing':>8}  missing figures",
    ]
    rows = list(table.iter_rows(named=True))
    for r in rows:
        note = f"  {r['note']}" if r["note"] else ""
        lines.append(
            f"{r['ticker']:10} {r['reported']:>8} {r['derived']:>8} {r['estimated']:>9} "
            f"{r['missing']:>8}  {r['missing_figures']}{note}"
        )
    lines.append("estimated figures per firm (base_figures.csv says how and from which peers):")
    lines.extend(f"  {r['ticker']:10} {r['estimated_figures'] or 'none'}" for r in rows)
    click.echo("\n".join(lines))  # one write for 20,000 lines


@main.command()
@click.argument("ticker")
@click.option(
    "--xlsx",
    "xlsx_path",
    type=SafePath(path_type=Path),
    default=None,
    help="Write an .xlsx template here instead of CSV on stdout.",
)
@click.option("--debug", is_flag=True)
@handle_errors
def template(ticker: str, xlsx_path: Path | None, debug: bool) -> None:
    """Print a statements file for TICKER with every item, its unit and empty values."""
    from stressmodel.run.app import template_csv, write_template_xlsx

    if xlsx_path is None:
        click.echo(template_csv(ticker), nl=False)
    else:
        write_template_xlsx(ticker, xlsx_path)
        click.echo(f"wrote {xlsx_path}", err=True)


@main.command()
@click.option(
    "--events",
    "events_path",
    type=SafePath(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="Labelled firm-year events CSV (format: inputs/README.md).",
)
@click.option(
    "--inputs",
    "inputs_dir",
    type=SafePath(path_type=Path),
    default=DEFAULT_INPUTS,
    show_default=True,
)
@click.option(
    "--out",
    "out_path",
    type=SafePath(path_type=Path),
    default=Path("outputs/calibrated_priors.csv"),
    show_default=True,
    help="Fitted weights in the priors format (fit statistics in a .json beside it).",
)
@click.option("--debug", is_flag=True)
@handle_errors
def calibrate(events_path: Path, inputs_dir: Path, out_path: Path, debug: bool) -> None:
    """Fit the consolidation index on labelled events with statsmodels."""
    from stressmodel.run.app import calibrate_file, stats_path

    stats = calibrate_file(events_path, inputs_dir, out_path)
    click.echo(
        f"{stats['method']} fit on {stats['n']} firm-years ({stats['events']} events): {stats['status']}"
    )
    click.echo(f"wrote {out_path} (weights) and {stats_path(out_path)} (fit statistics)")


@main.command()
@click.option(
    "--from", "first", required=True, metavar="QUARTER", help="First as-of quarter, like 2025Q1."
)
@click.option(
    "--to",
    "last",
    default=None,
    metavar="QUARTER",
    help="Last as-of quarter (default: the latest quarter for which most selected firms "
    "have income-statement actuals).",
)
@click.option(
    "--paths",
    type=click.IntRange(0, 1_000_000),
    default=0,
    show_default=True,
    help="Monte Carlo paths of export shock size and duration (0 = none).",
)
@click.option(
    "--skip-existing",
    is_flag=True,
    help="Keep as-of folders that exist (they still serve as earlier runs).",
)
@run_options
@handle_errors
def batch(
    first: str,
    last: str | None,
    paths: int,
    skip_existing: bool,
    inputs_dir: Path,
    outputs_dir: Path,
    firms: str | None,
    force: bool,
    quiet: bool,
    as_json: bool,
    horizon: int | None,
    no_workbooks: bool,
    allow_projection_only: bool,
    workers: int | None,
    scheduler: str | None,
    cluster: str | None,
    verbose: bool,
    debug: bool,
) -> None:
    """Run every as-of quarter from --from to --to in turn, each into outputs/<as_of>/.

    Each quarter sees only data dated on or before it. From the second quarter on, each
    folder also holds changes.csv (against the quarter before) and tracking.csv (actual
    quarters since each earlier run against that run's scenario projections).
    """
    from stressmodel.pipeline.result import RunOptions
    from stressmodel.run.app import parse_firms
    from stressmodel.run.batch import STAGES_PER_RUN, batch_json, batch_text, parse_range, run_batch
    from stressmodel.run.cluster import cluster_executor

    _logging(verbose)
    start, end = parse_range(first, last)
    n = (end - start + 1) if end is not None else 8
    stages = STAGES_PER_RUN - (1 if no_workbooks else 0)
    with (
        cluster_executor(scheduler, cluster) as executor,
        Progress(not quiet and not as_json, total=max(n, 1) * stages + 1) as progress,
    ):
        report = run_batch(
            inputs_dir,
            outputs_dir,
            start,
            end,
            RunOptions(firms=parse_firms(firms), horizon=horizon, paths=paths),
            force=force,
            skip_existing=skip_existing,
            workbooks=not no_workbooks,
            progress=progress,
            allow_projection_only=allow_projection_only,
            workers=workers,
            executor=executor,
        )
    if as_json:
        click.echo(json.dumps(batch_json(report), indent=2, default=str))
    elif not quiet:
        click.echo(batch_text(report))
        click.echo(
            f"\nwrote {len(report.runs)} as-of folder{'s' if len(report.runs) != 1 else ''} to {outputs_dir}"
        )


@main.command()
@click.option(
    "--quick",
    is_flag=True,
    help="Universes of 2 and 100 firms (default 2, 100 and 1,000), fewer repeats.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object with every figure on stdout."
)
@click.option("--sizes", default=None, help="Comma-separated universe sizes instead, e.g. 2,10.")
@click.option(
    "--inputs",
    "inputs_dir",
    type=SafePath(path_type=Path),
    default=DEFAULT_INPUTS,
    show_default=True,
    help="The shipped inputs the synthetic universe is built from.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Processes writing workbooks in the parallel end-to-end runs (100 firms and more).",
)
@click.option(
    "--cluster",
    default="local:2",
    show_default=True,
    help="local:N: the Dask LocalCluster of the Monte Carlo fan-out (needs stressmodel[cluster]).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@handle_errors
def bench(
    quick: bool,
    as_json: bool,
    sizes: str | None,
    inputs_dir: Path,
    workers: int,
    cluster: str,
    debug: bool,
) -> None:
    """Benchmark the engine, risk and valuation, workbooks and the whole run on a seeded
    synthetic universe; compare with the naive float loops; time the Monte Carlo.

    See benchmarks/README.md for what is measured and benchmarks/RESULTS.md for figures.
    """
    from stressmodel.bench import format_report, parse_sizes, run_benchmark

    def say(message: str) -> None:
        if not as_json:
            click.echo(f"bench: {message}", err=True)

    from stressmodel.run.cluster import parse_cluster

    report = run_benchmark(
        inputs_dir,
        quick=quick,
        sizes=parse_sizes(sizes),
        progress=say,
        parallel_workers=workers,
        cluster_workers=parse_cluster(cluster),
    )
    click.echo(json.dumps(report, indent=2, default=str) if as_json else format_report(report))


@main.command()
@click.argument("tickers", nargs=-1)
@click.option("--all", "all_firms", is_flag=True, help="Every firm in firms.csv.")
@click.option(
    "--inputs",
    "inputs_dir",
    type=SafePath(path_type=Path),
    default=DEFAULT_INPUTS,
    show_default=True,
    help="The inputs folder to merge into (firms.csv, statements/, prices.csv).",
)
@click.option(
    "--since",
    type=int,
    default=None,
    help="First fiscal year to import (default: all the source gives; prices: the last five years).",
)
@click.option(
    "--what",
    default="statements,prices,regions",
    show_default=True,
    help="Comma-separated subset of statements, prices, regions.",
)
@click.option("--offline", is_flag=True, help="Use cached snapshots only; never touch the network.")
@click.option(
    "--dry-run", is_flag=True, help="Print the merge report; write nothing into the inputs folder."
)
@click.option(
    "--cache",
    "cache_dir",
    type=SafePath(path_type=Path),
    default=None,
    help="Snapshot folder (default: fetch_cache/ beside the inputs folder).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 1),
    default=0.01,
    show_default=True,
    help="Relative difference up to which a fetched figure replaces a hand-curated one (reported); "
    "beyond it the existing row is kept and listed as a conflict.",
)
@click.option(
    "--report",
    "report_path",
    type=SafePath(path_type=Path),
    default=None,
    help="Also write the merge report to this file.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@handle_errors
def fetch(
    tickers: tuple[str, ...],
    all_firms: bool,
    inputs_dir: Path,
    since: int | None,
    what: str,
    offline: bool,
    dry_run: bool,
    cache_dir: Path | None,
    tolerance: float,
    report_path: Path | None,
    debug: bool,
) -> None:
    """Bring statements, prices, share counts and the regional split from public A-share
    sources (AkShare; needs the ``live`` extra unless --offline) into the inputs folder.

    Hand-curated rows are never overwritten silently: the merge report lists new, changed
    (old -> new, both sources) and conflicting figures. Exit 1 if any firm failed.
    """
    from stressmodel.run.fetching import FetchOptions, fetch_inputs, parse_what

    opts = FetchOptions(
        inputs_dir=inputs_dir,
        tickers=tuple(tickers),
        all_firms=all_firms,
        since=since,
        what=parse_what(what),
        offline=offline,
        dry_run=dry_run,
        cache_dir=cache_dir,
        tolerance=tolerance,
    )
    report, code = fetch_inputs(opts)
    text = report.text(dry_run)
    click.echo(text, nl=False)
    if report_path is not None and not dry_run:
        from stressmodel.inputs.fetch.merge import write_atomically

        write_atomically({report_path: text})
    if code:
        sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
