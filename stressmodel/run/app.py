"""Library entry points behind the CLI commands. The CLI only parses options, calls one
of these, prints and maps errors to exit codes; these never call ``sys.exit``."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from stressmodel.errors import (
    InputError,
    MemoryLimitError,
    OutputExistsError,
    Problem,
    ReportError,
    UsageError,
)
from stressmodel.inputs.load import Inputs, load_inputs
from stressmodel.inputs.periods import parse_quarter, quarter_label
from stressmodel.inputs.vocabulary import ITEMS, STATEMENT_COLUMNS, TICKER_PATTERN
from stressmodel.model import fused
from stressmodel.model.base import compute_bases, latest_actuals
from stressmodel.model.collector import collector_paused
from stressmodel.model.forecast import forecast_bounded_index
from stressmodel.pipeline import memory
from stressmodel.pipeline.backtest import run_backtests
from stressmodel.pipeline.result import for_workbooks
from stressmodel.pipeline.stages import (
    RunOptions,
    RunResult,
    default_as_of,
    run_model,
    select_firms,
)
from stressmodel.run import asof, drivers, history, outputs
from stressmodel.run import tables as results
from stressmodel.run.cache import cached_forecaster, default_cache_dir, fused_object_cache
from stressmodel.run.outputs import (
    AtomicFolder,
    as_of_folder,
    cleanup_stale,
    write_csv,
    write_manifest,
)

Progress = Callable[[str], None]
ExtraWriter = Callable[[RunResult, Inputs, Path], list[str]]

CHANGES_FILE = "changes.csv"
TRACKING_FILE = "tracking.csv"
DRIVERS_FILE = "change_drivers.csv"
CHANGE_INPUTS_FILE = "change_inputs.csv"


@dataclass(frozen=True)
class RunReport:
    """What :func:`run_and_write` did: the result (with ``extras["changes"]`` and
    ``extras["tracking"]`` when an earlier as-of folder exists), the folder written, its
    files, and what was compared with which earlier run."""

    result: RunResult
    folder: Path
    files: tuple[str, ...]
    started: dt.datetime
    history: dict[str, Any] = field(default_factory=dict)
    stale_firms: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    #: each selected firm's latest quarter with actuals ("none" when it has none)
    latest_actuals: dict[str, str] = field(default_factory=dict)
    #: the as-of quarter is after every selected firm's actuals (--allow-projection-only)
    projection_only: bool = False


def parse_as_of(text: str | None, option: str = "--as-of") -> int | None:
    if text is None:
        return None
    try:
        return parse_quarter(text)
    except ValueError:
        raise UsageError(f"{option} must be a quarter like 2025Q3, got {text!r}") from None


def parse_price_date(text: str | None, option: str = "--price-date") -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} must be a date like 2026-03-27, got {text!r}") from None


def parse_firms(text: str | None) -> tuple[str, ...] | None:
    if not text:
        return None
    firms = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in firms if not re.match(TICKER_PATTERN, t)]
    if bad:
        raise UsageError(
            f"--firms takes tickers like 603072.SH,300224.SZ; not valid: {', '.join(map(repr, bad))}"
        )
    return firms


def _workers(workers: int | None) -> int:
    if workers is None:
        from stressmodel.report import default_workers

        return default_workers()
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    return workers


def early_pool(
    inputs: Inputs,
    firms: Sequence[str],
    workers: int | None,
    executor: Executor | None,
    chunk: int | None,
) -> Any:
    """The workbook processes of a ``--workers`` run, started before the model stages so
    that their start-up (spawn, imports, the inputs) overlaps them; None when the writer
    is serial, when an executor writes the workbooks, or for a chunked run (whose idle
    workers would add their memory to the model stages' peak)."""
    if executor is not None or chunk is not None:
        return None
    from stressmodel.report import pool_size, start_pool

    n = pool_size(_workers(workers), len(firms))
    return start_pool(inputs, n) if n > 1 else None


def workbook_writer() -> Callable[..., list[str]]:
    """The workbook writer of :mod:`stressmodel.report`, looked up before any computation
    so that a build without it fails at once with a clear message."""
    try:
        from stressmodel.report import write_workbooks
    except ImportError as e:
        raise ReportError(f"workbooks cannot be written ({e}); rerun with --no-workbooks") from None
    return write_workbooks  # type: ignore[no-any-return]


def actuals_status(
    inputs: Inputs, firms: list[str], as_of: int
) -> tuple[dict[str, str], dict[str, str]]:
    """Firms with actuals after ``as_of`` (ticker -> latest quarter), and firms whose
    latest actual quarter is before ``as_of`` (their figures are carried forward)."""
    latest = latest_actuals(inputs)
    later = {t: quarter_label(q) for t in firms if (q := latest.get(t)) is not None and q > as_of}
    stale = {
        t: quarter_label(q) if q is not None else "none"
        for t in firms
        if (q := latest.get(t)) is None or q < as_of
    }
    return later, stale


def peer_estimate_changes(previous_base: Path, current: pl.DataFrame) -> dict[str, str]:
    """Per firm, a note naming the estimated figures whose peers (or peer median) differ
    from the earlier run's ``base_figures.csv``: adding a firm moves only such estimates."""
    if not previous_base.is_file():
        return {}
    try:
        prev = pl.read_csv(previous_base, infer_schema_length=0)
    except (pl.exceptions.PolarsError, OSError):
        return {}
    old = {
        (r["ticker"], r["figure"]): r["how"]
        for r in prev.iter_rows(named=True)
        if r.get("basis") == "estimated" and "peer median" in (r.get("how") or "")
    }
    out: dict[str, list[str]] = {}
    for r in current.iter_rows(named=True):
        how = r["how"] or ""
        key = (r["ticker"], r["figure"])
        if r["basis"] == "estimated" and "peer median" in how and key in old and old[key] != how:
            out.setdefault(r["ticker"], []).append(
                f"{r['figure']}: {how.split(' (')[0]} now from {_peer_source(how)} (was {_peer_source(old[key])})"
            )
    return {t: "peer estimates moved: " + "; ".join(v) for t, v in out.items()}


#: a peer median's how text (model/base/figures.py PeerStat.median_how), possibly inside an
#: outer text's parentheses: count, group and, for a group of at most MAX_LISTED_PEERS, the tickers
_PEER_HOW_RE = re.compile(
    r"peer median \S+ of (\d+) reporting peers in group (.+?)(?: \(([^()]*)\))?\)*$"
)


def _peer_source(how: str) -> str:
    """The peers a how text names: the listed tickers, else "N reporting peers in group G"
    (a group too large to list), else (another wording) the text's last parenthesis."""
    m = _PEER_HOW_RE.search(how)
    if m is None:
        return how.rsplit("(", 1)[-1].rstrip(")")
    if m.group(3) is not None:
        return m.group(3)
    return f"{m.group(1)} reporting peers in group {m.group(2)}"


FORECAST_SOURCE_BACKTEST = "back-test"
FORECAST_SOURCE_EARLIER = "earlier run"


def compare_with_earlier(
    result: RunResult,
    inputs: Inputs,
    earlier: list[outputs.EarlierRun],
    options: RunOptions | None = None,
    forecaster: Callable[..., Any] | None = None,
) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """The change report against the latest earlier run and scenario tracking against every
    earlier run (frames for ``result.extras``), and a record of what was compared. With
    ``options`` (those of the current run) also the drivers of each change
    (:mod:`stressmodel.run.drivers`: the model rerun with one group of inputs reverted at a
    time). ``forecaster``: the run's cached trade forecast, for the back-test and the
    drivers' reruns (None: fitted)."""
    info: dict[str, Any] = {"previous_as_of": None, "tracking_against": [], "skipped": []}
    frames: dict[str, pl.DataFrame] = {}
    order = [s.name for s in result.scenarios]
    previous = next((r for r in earlier if r.summary is not None), None)
    for r in earlier:
        if r.summary is None and r is not previous:
            info["skipped"].append(f"{r.label}: no readable summary.csv")
    if previous is not None:
        current = history.run_metrics(result.summary, result.extras["reverse_stress"])
        prev = history.run_metrics(previous.summary, previous.reverse_stress)  # type: ignore[arg-type]
        frames["changes"] = history.change_report(
            prev,
            current,
            previous_as_of=previous.label,
            as_of=result.as_of_label,
            scenario_order=order,
        )
        moved = peer_estimate_changes(
            previous.folder / "base_figures.csv", result.bases.provenance()
        )
        if moved:
            frames["changes"] = frames["changes"].with_columns(
                pl.concat_str(
                    [
                        pl.col("notes"),
                        pl.col("ticker").replace_strict(moved, default="", return_dtype=pl.String),
                    ],
                    separator="; ",
                )
                .str.strip_chars("; ")
                .alias("notes")
            )
            info["peer_estimates_changed"] = moved
        info["previous_as_of"] = previous.label
        if options is not None:
            frames["change_drivers"], frames["change_inputs"] = drivers.change_drivers(
                inputs,
                result,
                frames["changes"],
                prev,
                previous.as_of,
                options,
                previous.manifest.get("inputs") if isinstance(previous.manifest, dict) else None,
                forecaster,
            )
    projections = {r.as_of: r.projections for r in earlier if r.projections is not None}
    for r in earlier:
        if r.projections is None:
            info["skipped"].append(f"{r.label}: no readable projections.parquet")
    # the back-test: the named scenarios re-projected as of every earlier quarter since the
    # controls, on data dated by then (pipeline/backtest.py), in every run
    bt = run_backtests(inputs, result.tickers, result.as_of, result.horizon, forecaster)
    info["backtest_as_of"] = [quarter_label(q) for q in sorted(bt.projections)]
    info["skipped"] += [f"back-test as of {q}: {why}" for q, why in bt.skipped.items()]
    sources = [(FORECAST_SOURCE_BACKTEST, bt.projections), (FORECAST_SOURCE_EARLIER, projections)]
    if projections or bt.projections:
        first = min([*projections, *bt.projections])
        quarters = range(first + 1, result.as_of + 1)
        actuals = history.actuals_frame(inputs.statements, result.tickers, quarters, result.as_of)
        blocks = []
        for source, projs in sources:
            if not projs:
                continue
            block = history.tracking_table(
                actuals, projs, as_of=result.as_of, tickers=result.tickers, scenario_order=order
            )
            if not block.is_empty():
                blocks.append(block.with_columns(pl.lit(source).alias("forecast_source")))
        tracking = pl.concat(blocks, how="vertical") if blocks else pl.DataFrame()
        if not tracking.is_empty():
            frames["tracking"] = tracking
            info["tracking_against"] = sorted(set(tracking["forecast_as_of"].to_list()))
            info["actuals_unavailable"] = history.unavailable_actuals(tracking)
            info["closest_scenario"] = (
                tracking.filter(pl.col("scenario_rank") == 1)
                .select(
                    "ticker",
                    "forecast_source",
                    "forecast_as_of",
                    "scenario",
                    "scenario_mape",
                    "scenario_n",
                )
                .unique(["ticker", "forecast_source", "forecast_as_of"], maintain_order=True)
                .to_dicts()
            )
    return frames, info


def _write_history(result: RunResult, _inputs: Inputs, folder: Path) -> list[str]:
    names = []
    for key, name in (
        ("changes", CHANGES_FILE),
        ("change_drivers", DRIVERS_FILE),
        ("change_inputs", CHANGE_INPUTS_FILE),
        ("tracking", TRACKING_FILE),
    ):
        if key in result.extras:
            write_csv(result.extras[key], folder / name)
            names.append(name)
    return names


#: the reproducible-builds convention: a fixed time (whole seconds since 1970-01-01 UTC)
SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


def run_date(started: dt.datetime, environ: Any = None) -> dt.date:
    """The run date the workbooks print in their headers: the UTC date of ``SOURCE_DATE_EPOCH``
    when set (so two runs with the same value give the same bytes on any day), else the UTC
    date the run started. A value that is not whole seconds is a usage error (exit 2)."""
    env = os.environ if environ is None else environ
    raw = env.get(SOURCE_DATE_EPOCH)
    if raw is None or raw == "":
        return started.astimezone(dt.UTC).date()
    text = str(raw).strip()
    if not re.fullmatch(r"[0-9]{1,12}", text):
        raise UsageError(
            f"environment variable {SOURCE_DATE_EPOCH}: expected whole seconds since "
            f"1970-01-01 UTC (e.g. 1764633600); found {text[:40]!r}"
        )
    try:
        return dt.datetime.fromtimestamp(int(text), dt.UTC).date()
    except (OverflowError, OSError, ValueError):
        raise UsageError(
            f"environment variable {SOURCE_DATE_EPOCH}: {text} seconds is not a date"
        ) from None


def run_and_write(
    inputs_dir: Path,
    outputs_dir: Path,
    options: RunOptions,
    *,
    force: bool = False,
    workbooks: bool = True,
    progress: Progress | None = None,
    inputs: Inputs | None = None,
    extra_writers: list[ExtraWriter] | None = None,
    allow_projection_only: bool = False,
    workers: int | None = None,
    executor: Executor | None = None,
) -> RunReport:
    """Load inputs, run the model as of one quarter, compare with earlier as-of folders and
    write ``outputs/<as_of>/`` atomically (see :mod:`stressmodel.run.outputs`).

    The model sees only data dated on or before the as-of quarter (``Inputs.as_of``).
    Raises :class:`OutputExistsError` before any computation when the folder exists and
    ``force`` is not given, and :class:`UsageError` for an as-of quarter after every
    selected firm's actuals unless ``allow_projection_only`` (:mod:`stressmodel.run.asof`).

    ``workers``: processes writing the firm workbooks (None: 1 on two cores or fewer);
    ``executor``: a concurrent.futures executor for them instead (e.g. a Dask cluster's),
    which also runs the Monte Carlo's firm chunks.
    The files are the same bytes whichever writes them."""
    started = dt.datetime.now(dt.UTC)
    printed_date = run_date(started)  # once per run, before anything is computed
    t_start = time.perf_counter()
    say = progress or (lambda _m: None)
    stages: dict[str, float] = {}
    t = time.perf_counter()
    if inputs is None:
        say("reading inputs")
        inputs = load_inputs(inputs_dir)
    stages["read_inputs"] = time.perf_counter() - t
    outputs_dir = Path(outputs_dir)
    firms = select_firms(inputs, options.firms)
    as_of = options.as_of if options.as_of is not None else default_as_of(inputs, firms)[0]
    latest = asof.latest_by_firm(inputs, firms)
    projection_only = asof.check_as_of(latest, as_of, allow_projection_only=allow_projection_only)
    target = as_of_folder(outputs_dir, quarter_label(as_of))
    # fail fast on an existing folder or a missing workbook writer, before any computation
    outputs.check_outputs_root(outputs_dir)
    cleanup_stale(outputs_dir)
    if target.exists() and not force:
        raise OutputExistsError(outputs.exists_message(target))
    estimate, chunk = check_memory(inputs, options)
    write_workbooks = workbook_writer() if workbooks else None
    later, stale = actuals_status(inputs, firms, as_of)
    fused.set_object_cache(fused_object_cache(default_cache_dir()))
    # belt and braces: the pipeline filters by date as well; --published-by also drops
    # figures published after that day (the publication date fetch keeps in the note)
    model_inputs = inputs.as_of(as_of, published_by=options.published_by)
    if options.price_date is not None:
        # closes up to the price date may lie after the as-of; statements never do
        model_inputs = replace(
            model_inputs, prices=tuple(p for p in inputs.prices if p["date"] <= options.price_date)
        )
    # a chunked run's grid quarters wait in parquet parts beside the as-of folder (owned,
    # removed when the run ends or by the next run's cleanup after a kill)
    spill = None
    if chunk is not None:
        kinds = {
            sc.name: sc.kind
            for sc in (*inputs.scenarios.named.values(), *inputs.scenarios.grid_scenarios())
        }
        spill = outputs.SpillParts(
            outputs_dir, target.name, lambda f: results.projection_rows(f, kinds)
        )
    chunk_note = {"chunk_firms": chunk, "estimate": memory.human(estimate.bytes)}
    pool = early_pool(inputs, firms, workers, executor, chunk) if workbooks else None
    try:
        forecaster = cached_forecaster(default_cache_dir(), forecast_bounded_index)
        result = run_model(
            model_inputs,
            RunOptions(
                as_of=as_of,
                firms=options.firms,
                horizon=options.horizon,
                paths=options.paths,
                price_date=options.price_date,
                chunk_firms=chunk,
            ),
            say,
            forecaster=forecaster,
            executor=executor,
            spill=spill,
        )
        del model_inputs  # the as-of copy of the statements: nothing after the model reads it
        result = replace(
            result,
            later_data={t: q for t, q in later.items() if t in result.tickers},
            run_date=printed_date,
        )
        stages.update(result.timings)
        say("comparing with earlier runs")
        t = time.perf_counter()
        frames, info = compare_with_earlier(
            result,
            inputs,
            outputs.earlier_runs(outputs_dir, as_of),
            RunOptions(
                as_of=as_of, firms=options.firms, horizon=options.horizon, chunk_firms=chunk
            ),
            forecaster,
        )
        if frames:
            result = replace(result, extras={**result.extras, **frames})
        stages["history"] = time.perf_counter() - t
        with AtomicFolder(target, force) as tmp:
            say("writing tables")
            t = time.perf_counter()
            names = results.write_result_files(result, inputs, tmp)
            names += _write_history(result, inputs, tmp)
            for writer in extra_writers or []:
                names += writer(result, inputs, tmp)
            stages["write_tables"] = time.perf_counter() - t
            outputs.pause_for_test("tables")
            if write_workbooks is not None:
                say("writing workbooks")
                t = time.perf_counter()
                # nothing after this point reads the grid cases or the grid quarters (the
                # report's result keeps the named cases): release them and hand the freed
                # heap back before the writer and its workers start
                result = for_workbooks(result)
                # nor the statement rows, prices and trade months: the workbooks read the
                # register, sector and scenarios
                from stressmodel.report import workbook_inputs

                inputs = workbook_inputs(inputs)
                release_memory()
                # the writer's contract is (result, inputs, folder); parallel options only when asked
                parallel: dict[str, Any] = {}
                if _workers(workers) > 1:
                    parallel["workers"] = _workers(workers)
                if executor is not None:
                    parallel["executor"] = executor
                if pool is not None:
                    parallel["pool"] = pool
                names += write_workbooks(result, inputs, tmp, **parallel)
                stages["workbooks"] = time.perf_counter() - t
            write_manifest(
                tmp,
                as_of=result.as_of_label,
                options={
                    "inputs": str(inputs_dir),
                    "outputs": str(outputs_dir),
                    "as_of": result.as_of_label,
                    "as_of_default": options.as_of is None,
                    "firms": list(result.tickers),
                    "horizon": result.horizon,
                    "paths": options.paths,
                    "price_date": options.price_date.isoformat() if options.price_date else None,
                    "published_by": options.published_by.isoformat()
                    if options.published_by
                    else None,
                    "force": force,
                    "workbooks": workbooks,
                    "allow_projection_only": allow_projection_only,
                },
                input_hashes=inputs.file_hashes,
                outputs=names,
                started=started,
                stages=stages,
                extra={
                    "firms_with_later_data": result.later_data,
                    "firms_without_actuals_for_as_of": stale,
                    "latest_actuals": asof.labels(latest),
                    "projection_only": projection_only,
                    "history": info,
                    **({"chunked": chunk_note} if chunk is not None else {}),
                },
            )
    finally:
        if spill is not None:
            spill.close()
        if pool is not None:
            pool.executor.shutdown(wait=True, cancel_futures=True)
    if spill is not None:  # its parts are gone; the file holds them
        result = replace(result, grid_projection=None)
    return RunReport(
        result,
        target,
        tuple(sorted(names)),
        started,
        info,
        stale,
        time.perf_counter() - t_start,
        asof.labels(latest),
        projection_only,
    )


# --- memory ------------------------------------------------------------------------------

#: a memory limit in bytes for tests and shared machines (``500M``, ``2G`` or plain bytes);
#: without it the limit is the memory the system reports available, lowered by an
#: address-space limit (``ulimit -v``) when one is set
MEMORY_LIMIT_ENV = "STRESSMODEL_MEMORY_LIMIT"
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)B?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int | None:
    m = _SIZE_RE.match(text)
    if not m:
        return None
    factor = 1024 ** " KMGT".index((m.group(2) or " ").upper())
    return int(float(m.group(1)) * factor)


def memory_limit() -> tuple[int, str]:
    """The memory a run may use, bytes, and where that figure comes from."""
    text = os.environ.get(MEMORY_LIMIT_ENV)
    if text is not None:
        n = parse_size(text)
        if n is None or n <= 0:
            raise UsageError(f"{MEMORY_LIMIT_ENV} must be a size like 500M or 2G, got {text!r}")
        return n, f"{MEMORY_LIMIT_ENV}={text}"
    import psutil

    limit, source = int(psutil.virtual_memory().available), "memory available on this machine"
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        unlimited = soft in (-1, resource.RLIM_INFINITY)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not on Linux
        unlimited = True
    if not unlimited:
        room = soft - psutil.Process().memory_info().vms
        if room < limit:
            limit, source = max(room, 0), "the address-space limit (ulimit -v)"
    return limit, source


def check_memory(inputs: Inputs, options: RunOptions) -> tuple[memory.MemoryEstimate, int | None]:
    """The run's memory estimate and how many reported firms it processes at a time (None:
    all at once; see :func:`stressmodel.pipeline.memory.plan`). Refuse, before anything is
    allocated, a run that does not fit its limit even one firm at a time: exit 2 naming the
    estimate, the limit and what to change."""
    n_cases = len(inputs.scenarios.named) + len(inputs.scenarios.grid_scenarios())
    horizon = options.horizon or inputs.sector.int("horizon_quarters")
    # the reported firms under every case; every other firm of firms.csv is projected as a
    # peer under the baseline case (its baseline cash runway feeds the index's peer stats)
    firms = len(select_firms(inputs, options.firms))
    peers = max(0, len(inputs.register) - firms)
    est = memory.estimate(firms, n_cases, horizon, options.paths > 0, peers)
    limit, source = memory_limit()
    chunk = memory.plan(est, limit)
    if chunk == 0:
        one = memory.estimate(firms, n_cases, horizon, options.paths > 0, peers, chunk_firms=1)
        raise MemoryLimitError(
            f"this run needs about {memory.human(est.bytes)} of memory ({est.describe()}), more than the "
            f"{memory.human(limit)} it may use ({source}), and about {memory.human(one.bytes)} even one firm "
            f"at a time; nothing was computed or written. Make it smaller: fewer firms (--firms, or fewer "
            f"firms in firms.csv: every firm there is still projected as a peer in its baseline case), fewer "
            f"grid points ([grid] in scenarios.toml), a shorter --horizon, or run it on a cluster in parts"
        )
    return (
        est
        if chunk is None
        else memory.estimate(firms, n_cases, horizon, options.paths > 0, peers, chunk)
    ), chunk


# --- validate: coverage table --------------------------------------------------------------

COVERAGE_FIGURES = (
    "revenue_ttm",
    "cogs_ttm",
    "ebit_ttm",
    "da_ttm",
    "net_income_ttm",
    "cfo_ttm",
    "interest_ttm",
    "net_income_ttm_prev",
    "cash",
    "short_term_investments",
    "receivables",
    "inventory",
    "total_assets",
    "total_liabilities",
    "equity_attributable",
    "total_debt",
    "st_debt",
    "export_share",
    "price_ratio",
    "asp",
    "share_price",
    "shares",
    "equity_volatility",
    "past_year_return",
)


def release_memory() -> None:
    """Collect garbage and return the C heap's free pages to the system (glibc's
    ``malloc_trim``; a no-op elsewhere): numpy's and Python's freed blocks otherwise stay
    in the process's resident set for the rest of the run."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


#: Python's cyclic garbage collector off for a block, back to its previous state after
#: (:func:`stressmodel.model.collector.collector_paused`). Loading a 10,000-firm register and
#: computing its bases allocate millions of small objects (row dicts, figures) that stay
#: alive: each young-generation collection then scans them again for nothing (about a third
#: of validate's CPU time on 10,000 firms). Nothing in the block relies on cycles being freed
#: early; reference counting still frees everything else at once.
gc_paused = collector_paused


def coverage(inputs: Inputs, columnar: bool = True) -> tuple[str, pl.DataFrame]:
    """Per firm, how the figures the model needs at the default as-of quarter were
    obtained: reported, derived, estimated or missing.

    ``columnar``: from the statements of all firms at once
    (:mod:`stressmodel.model.base.coverage`); else firm by firm from :func:`compute_bases`
    (the reference the columnar path is tested against)."""
    firms = select_firms(inputs, None)
    if columnar:
        from stressmodel.model.base.coverage import coverage_columns, latest_actuals_columns

        as_of = as_of_from_latest(latest_actuals_columns(inputs.statements), firms)
        bases, not_runnable = coverage_columns(inputs, as_of, COVERAGE_FIGURES)
    else:
        as_of, _later = default_as_of(inputs, firms)
        base_set = compute_bases(inputs, as_of)
        bases = {
            t: {name: fig.basis for name, fig in fb.figures.items()}
            for t, fb in base_set.firms.items()
        }
        not_runnable = base_set.not_runnable
    rows = []
    for t in inputs.tickers:
        counts = {"reported": 0, "derived": 0, "estimated": 0, "missing": 0}
        fb = bases.get(t)
        missing = []
        estimated = []
        for name in COVERAGE_FIGURES:
            basis = None if fb is None else fb.get(name)
            if basis is None:
                counts["missing"] += 1
                missing.append(name)
            else:
                counts[basis] += 1
                if basis == "estimated":
                    estimated.append(name)
        rows.append(
            {
                "ticker": t,
                **counts,
                "missing_figures": ", ".join(missing),
                "estimated_figures": ", ".join(estimated),
                "note": not_runnable.get(t, ""),
            }
        )
    return quarter_label(as_of), pl.DataFrame(rows)


def as_of_from_latest(latest: dict[str, int | None], firms: list[str]) -> int:
    """The quarter :func:`default_as_of` chooses, from each firm's latest actual quarter
    (the same rule: the latest quarter that more than half of ``firms`` reach)."""
    missing = [t for t in firms if latest.get(t) is None]
    if missing:
        raise UsageError(
            f"no actual revenue for {', '.join(missing)}: cannot choose an as-of quarter"
        )
    known = [latest[t] for t in firms]
    return next(
        c
        for c in sorted(set(known), reverse=True)  # type: ignore[type-var]
        if sum(1 for k in known if k >= c) * 2 > len(known)  # type: ignore[operator]
    )


# --- template ------------------------------------------------------------------------------


def template_csv(ticker: str) -> str:
    import re

    if not re.fullmatch(TICKER_PATTERN, ticker):
        raise UsageError(f"a ticker like 603072.SH is needed, got {ticker!r}")
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(STATEMENT_COLUMNS)
    for item in ITEMS.values():
        w.writerow(["", item.name, "", item.unit, "", item.description])
    return out.getvalue()


def write_template_xlsx(ticker: str, path: Path) -> None:
    import xlsxwriter

    text = template_csv(ticker)
    rows = list(csv.reader(io.StringIO(text)))

    def write(payload: Path) -> None:
        wb = xlsxwriter.Workbook(
            str(payload), {"strings_to_formulas": False, "strings_to_numbers": False}
        )
        ws = wb.add_worksheet("statements")
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                ws.write_string(r, c, v)
        wb.close()

    outputs.write_file_atomic(path, write, "--xlsx")


# --- calibrate -----------------------------------------------------------------------------

EVENT_COLUMNS = (
    "ticker",
    "year",
    "event",
    "z_distress",
    "z_size",
    "z_roa_gap",
    "z_export",
    "private",
    "upstream",
    "z_runway",
)


def read_events(path: Path) -> pl.DataFrame:
    from stressmodel.inputs.readers import read_csv
    from stressmodel.inputs.validation import parse_number

    name = str(path)
    table = read_csv(path, name, EVENT_COLUMNS)
    problems: list[Problem] = list(table.problems)
    data: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS}
    for line, r in table.records():
        data["ticker"].append(r["ticker"])
        try:
            data["year"].append(int(r["year"]))
        except ValueError:
            problems.append(Problem(name, line, "year", "a year", repr(r["year"])))
            data["year"].append(None)
        if r["event"] not in ("0", "1"):
            problems.append(Problem(name, line, "event", "0 or 1", repr(r["event"])))
        data["event"].append(1 if r["event"] == "1" else 0)
        for c in EVENT_COLUMNS[3:]:
            v = parse_number(r[c])
            if v is None:
                problems.append(Problem(name, line, c, "a number", repr(r[c])))
            elif c in ("private", "upstream") and not 0 <= v <= 1:
                problems.append(Problem(name, line, c, "a value in [0, 1]", r[c]))
            data[c].append(v)
    if not table.rows:
        problems.append(Problem(name, None, None, "at least one firm-year", "no rows"))
    if problems:
        raise InputError(problems)
    return pl.DataFrame(data)


def calibrate_file(events_path: Path, inputs_dir: Path, out_path: Path) -> dict[str, Any]:
    """Fit the consolidation model on a labelled events file; write the fitted weights in
    the priors format (CSV) and the fit statistics (JSON beside it)."""
    from stressmodel.analysis.calibration import calibrate
    from stressmodel.analysis.consolidation import Priors

    if out_path.is_dir():
        raise UsageError(f"--out {out_path} is a folder; give a file name for the weights")
    inputs = load_inputs(inputs_dir)
    priors = Priors.from_parameters(inputs.priors)
    events = read_events(events_path)
    res = calibrate(events, priors)
    units = {r["parameter"]: r["unit"] for r in inputs.priors_table}
    rows = [("base_rate", res.priors.base_rate)]
    rows += [
        ("base_rate_low", res.priors.base_rate_low),
        ("base_rate_high", res.priors.base_rate_high),
        ("horizon_years", res.priors.horizon_years),
    ]
    rows += [(f"w_{k}", v) for k, v in res.priors.weights.items()]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["parameter", "value", "unit", "rationale", "source"])
    for name, value in rows:
        se = (res.std_errors or {}).get(name[2:] if name.startswith("w_") else "intercept")
        note = f"fitted by {res.method} on {res.n} firm-years with {res.events} events"
        if se is not None and name.startswith("w_"):
            note += f"; standard error {se:.4f}"
        if name in ("base_rate_low", "base_rate_high", "horizon_years"):
            note = "copied from the priors"
        w.writerow(
            [
                name,
                repr(float(value)),
                units.get(name, ""),
                note,
                f"stressmodel calibrate --events {events_path.name}",
            ]
        )
    stats = {
        "method": res.method,
        "status": res.status,
        "n": res.n,
        "events": res.events,
        "log_likelihood": res.log_likelihood,
        "aic": res.aic,
        "pseudo_r2": res.pseudo_r2,
        "alpha": res.alpha,
        "std_errors": dict(res.std_errors) if res.std_errors else None,
        "deviations_from_prior": dict(res.deviations) if res.deviations else None,
        "cov_type": res.cov_type,
        "cv_deviance": {str(k): v for k, v in res.cv_deviance.items()} if res.cv_deviance else None,
    }
    weights_text, stats_text = buf.getvalue(), json.dumps(stats, indent=2) + "\n"
    outputs.write_file_atomic(
        out_path, lambda p: p.write_text(weights_text, encoding="utf-8"), "--out"
    )
    outputs.write_file_atomic(
        stats_path(out_path), lambda p: p.write_text(stats_text, encoding="utf-8"), "--out"
    )
    return stats


def stats_path(out_path: Path) -> Path:
    """Where calibrate writes its fit statistics: ``<out>.json`` beside the weights, or
    ``<out stem>.stats.json`` when ``--out`` itself ends in .json (never the same file)."""
    path = out_path.with_suffix(".json")
    return path if path != out_path else out_path.with_name(out_path.stem + ".stats.json")
