"""Excel workbooks of a run: one live workbook per firm and a sector summary.

:func:`workbook_specs` is the pure layout step (run -> workbook specs: sheets, typed
cells, styles, names, charts); :func:`write_workbooks` writes them with XlsxWriter.
See :mod:`stressmodel.report.sheets` for the firm workbook and
:mod:`stressmodel.report.sector` for the sector summary.

:func:`write_workbooks` builds and writes one workbook at a time (a spec is dropped once
written, so memory does not grow with the number of firms), with Python's cyclic garbage
collector kept out of the loop (objects that exist before it are frozen, a collection of
the young generations runs between workbooks). The engine values are computed per block
of :data:`BLOCK` firms, and each firm's sheets read the run cut to that firm
(:func:`firm_views`: one partition of the per-firm frames per block instead of a filter
of every firm's rows per firm and sheet, which grew as N^2). The sector summary reads
only the cash of every firm's engine values (:data:`SECTOR_ITEMS`).

Firm workbooks can be written by ``workers`` processes (a pool started once, each task
receiving the run cut to its firms, :func:`firms_run`), or by any
:class:`concurrent.futures.Executor` (a Dask cluster's included): the writer is
deterministic, so the files are byte-identical to the serial run's.
"""

from __future__ import annotations

import gc
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import polars as pl

from stressmodel.inputs.load import Inputs
from stressmodel.names import safe_component
from stressmodel.pipeline.result import RunResult
from stressmodel.report.sector import SECTOR_FILE, sector_workbook
from stressmodel.report.sheets.firm import firm_context, firm_workbook
from stressmodel.report.spec import WorkbookSpec
from stressmodel.report.values import CaseValues, case_values
from stressmodel.report.writer import write_workbook

__all__ = [
    "SECTOR_FILE",
    "default_workers",
    "workbook_inputs",
    "workbook_specs",
    "write_workbooks",
]

#: below this many firms a process pool costs more (start-up, shipping the run) than it saves
MIN_FIRMS_PER_WORKER = 4


def default_workers() -> int:
    """1 on machines with two cores or fewer, else one fewer than the cores (at most 8)."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(cores - 1, 8)


#: RunResult frames and extras that a firm workbook reads only for its own ticker
FIRM_FRAMES = ("projection", "summary", "cases", "valuation")
FIRM_EXTRAS = ("consolidation", "reverse_stress", "actual_metrics", "montecarlo", "tracking")
#: firms whose engine values and frame partitions are held at once (memory stays flat in N)
BLOCK = 32
#: extras only the sector summary reads: a worker's task (written by firm workbooks only)
#: does not receive them
SECTOR_EXTRAS = ("debt_at_risk",)
#: most firms a pool task writes: small tasks keep what the parent has pickled and waiting,
#: and what each worker holds, small at 1,000 firms (a task's fixed cost is a few ms)
TASK_FIRMS = 16
#: fewest firms a pool task writes (each task has a fixed cost of some 30 ms)
MIN_TASK_FIRMS = 2
#: line items of the engine values that the sector summary reads (its cash charts)
SECTOR_ITEMS = ("cash",)


def _values(result: RunResult, inputs: Inputs, tickers: Sequence[str] | None = None) -> Any:
    return case_values(
        result, inputs.sector.float("discount_rate"), None if tickers is None else list(tickers)
    )


def _cut(frame: Any, tickers: Sequence[str]) -> Any:
    if not isinstance(frame, pl.DataFrame) or "ticker" not in frame.columns:
        return frame
    return frame.filter(pl.col("ticker").is_in(list(tickers)))


def firms_run(result: RunResult, tickers: Sequence[str]) -> RunResult:
    """The run cut to ``tickers`` for their firm workbooks: :data:`FIRM_FRAMES` and
    :data:`FIRM_EXTRAS` keep only those tickers' rows (in their order), the bases only
    those firms (a firm workbook reads its own base; the peer medians stay) and the
    :data:`SECTOR_EXTRAS` are left out; the rest (the run's ticker list, scenarios,
    sector-wide extras) is the run's. What a worker process or a cluster task receives,
    instead of every firm's frames."""
    extras = {
        k: _cut(v, tickers) if k in FIRM_EXTRAS else v
        for k, v in result.extras.items()
        if k not in SECTOR_EXTRAS
    }
    cut = {name: _cut(getattr(result, name), tickers) for name in FIRM_FRAMES}
    b = result.bases
    bases = replace(
        b,
        firms={t: b.firms[t] for t in tickers if t in b.firms},
        own_ratios={t: b.own_ratios[t] for t in tickers if t in b.own_ratios},
    )
    # the grid scenarios' quarters go to projections.parquet only: no workbook reads them
    return replace(result, extras=extras, bases=bases, grid_projection=None, **cut)


def workbook_inputs(inputs: Inputs) -> Inputs:
    """The inputs the workbooks read: the register, sector, scenarios, priors and the
    file hashes and names, without the statement rows, prices, trade months and events
    (the sheets read those through the run's bases, summaries and frames; at 1,000
    firms the statements alone are about 200 MB). What the serial writer, each worker
    process and each cluster task hold."""
    return replace(inputs, statements={}, prices=(), trade=(), events=())


def firm_views(result: RunResult, tickers: Sequence[str]) -> Iterator[tuple[str, RunResult]]:
    """Each ticker with the run cut to that ticker alone (:func:`firms_run`), the frames
    partitioned once per :data:`BLOCK` of tickers: filtering every firm's rows once per
    firm and sheet would cost N^2 at N firms."""
    for start in range(0, len(tickers), BLOCK):
        block = list(tickers[start : start + BLOCK])
        parts: dict[tuple[str, bool], dict[str, Any]] = {}
        for key, frame in (
            *(((n, False), getattr(result, n)) for n in FIRM_FRAMES),
            *(((n, True), result.extras[n]) for n in FIRM_EXTRAS if n in result.extras),
        ):
            if isinstance(frame, pl.DataFrame) and "ticker" in frame.columns:
                split = _cut(frame, block).partition_by("ticker", as_dict=True, maintain_order=True)
                empty = frame.clear()
                parts[key] = {t: split.get((t,), empty) for t in block}
        for t in block:
            extras = dict(result.extras)
            fields = {}
            for (n, extra), by_ticker in parts.items():
                if extra:
                    extras[n] = by_ticker[t]
                else:
                    fields[n] = by_ticker[t]
            yield t, replace(result, extras=extras, **fields)


def workbook_specs(result: RunResult, inputs: Inputs) -> list[WorkbookSpec]:
    """Every workbook of a run as a spec (pure): firms in run order, then the sector summary."""
    values = _values(result, inputs)
    specs = []
    for ticker in result.tickers:
        safe_component(ticker, "ticker")
        specs.append(firm_workbook(firm_context(result, inputs, ticker, values)))
    specs.append(sector_workbook(result, inputs, values))
    return specs


def _sector_values(values: Any) -> dict[tuple[str, str], CaseValues]:
    """The part of the engine values the sector summary reads (:data:`SECTOR_ITEMS`)."""
    return {
        key: replace(
            cv,
            steps={n: cv.steps[n] for n in SECTOR_ITEMS},
            opening={n: cv.opening[n] for n in SECTOR_ITEMS},
            terminal={},
        )
        for key, cv in values.items()
    }


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector out of a loop that allocates millions of small
    objects: what exists now is frozen (never scanned again; not collected first, which
    would trace everything the run built, about 0.2 s on the shipped run), automatic
    collection is off, and :func:`_collect` runs between workbooks over what the last one
    left. Afterwards the frozen objects are back in the oldest generation."""
    was_enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def _collect() -> None:
    # the young generations hold what the last workbook left (XlsxWriter's objects refer
    # to each other); what survives moves to the old generation, which is not scanned
    # again, so the cost does not grow with the firms already written
    gc.collect(1)


def write_firm_workbooks(
    result: RunResult, inputs: Inputs, tickers: Sequence[str], folder: Path
) -> tuple[list[str], dict[tuple[str, str], CaseValues]]:
    """Build and write the workbooks of ``tickers``, one at a time (engine values computed
    per :data:`BLOCK` of firms); returns the file names and the sector summary's part of
    the engine values of those firms."""
    names: list[str] = []
    sector: dict[tuple[str, str], CaseValues] = {}
    with _collector_paused():
        for start in range(0, len(tickers), BLOCK):
            block = list(tickers[start : start + BLOCK])
            values = _values(result, inputs, block)
            sector.update(_sector_values(values))
            for ticker, view in firm_views(result, block):
                safe_component(ticker, "ticker")
                spec = firm_workbook(firm_context(view, inputs, ticker, values))
                write_workbook(spec, Path(folder))
                names.append(spec.filename)
                del spec, view
                _collect()
            del values
    return names, sector


# a worker process receives the inputs once (its initializer) and then runs cut to chunks
_WORKER: dict[str, Any] = {}


def _init_worker(inputs: Inputs) -> None:
    _WORKER.update(inputs=inputs)


def _write_in_worker(
    result: RunResult, tickers: Sequence[str], folder: str
) -> tuple[list[str], dict[tuple[str, str], CaseValues]]:
    return write_firm_workbooks(result, _WORKER["inputs"], tickers, Path(folder))


def _chunks(items: Sequence[str], n: int) -> list[list[str]]:
    """``items`` in ``n`` contiguous, near-equal chunks (order kept)."""
    n = max(1, min(n, len(items)))
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return [c for c in out if c]


def task_chunks(tickers: Sequence[str], workers: int) -> list[list[str]]:
    """The pool tasks of ``workers`` processes: contiguous chunks of ``tickers`` (order
    kept) that shrink as the run nears its end (guided self-scheduling: each chunk is the
    firms left over twice the workers, between :data:`MIN_TASK_FIRMS` and
    :data:`TASK_FIRMS`), so the workers finish within a small chunk of each other: with
    equal chunks one worker idles for up to a whole chunk at the end (about 2 s of 13
    firms at 100 firms)."""
    out: list[list[str]] = []
    start, n = 0, len(tickers)
    while start < n:
        size = min(TASK_FIRMS, max(MIN_TASK_FIRMS, -(-(n - start) // (2 * max(1, workers)))))
        out.append(list(tickers[start : start + size]))
        start += size
    return out


def pool_size(workers: int, firms: int) -> int:
    """Processes a ``workers`` run of ``firms`` firm workbooks uses: at most one per
    :data:`MIN_FIRMS_PER_WORKER` firms; 1 means the serial writer."""
    return max(1, min(workers, firms // MIN_FIRMS_PER_WORKER))


@dataclass
class WorkbookPool:
    """A pool of ``size`` workbook processes, each holding the run's inputs
    (:func:`start_pool`); ``with`` shuts it down."""

    executor: ProcessPoolExecutor
    size: int

    def __enter__(self) -> WorkbookPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def start_pool(inputs: Inputs, n: int) -> WorkbookPool:
    """A pool of ``n`` workbook processes, started now: each is spawned, imports the
    package and receives the inputs while the caller goes on (the run starts it before the
    model stages, so the workers' start-up of about half a second each overlaps them)."""
    executor = ProcessPoolExecutor(
        n,
        mp_context=get_context("spawn"),
        initializer=_init_worker,
        initargs=(workbook_inputs(inputs),),
    )
    # with spawn the executor starts a process per submitted task while none is idle
    for _ in range(n):
        executor.submit(_ready)
    return WorkbookPool(executor, n)


def _ready() -> bool:
    return "inputs" in _WORKER


def write_workbooks(
    result: RunResult,
    inputs: Inputs,
    folder: Path,
    *,
    workers: int = 1,
    executor: Executor | None = None,
    pool: WorkbookPool | None = None,
) -> list[str]:
    """Write ``<TICKER>.xlsx`` for every firm of the run and ``sector_summary.xlsx`` into
    ``folder``; returns the file names written (firms in run order, then the sector).

    ``workers`` > 1: firm workbooks are written by a pool of that many processes, started
    once (each imports the package and receives the inputs once, then chunks of firms with
    the run cut to them, :func:`firms_run`). The start method is ``spawn``, not ``fork``:
    the sheets use polars, whose thread pool does not survive a fork (a forked child can
    deadlock on its first parallel operation). ``executor``: any concurrent.futures
    executor instead (each task receives the run cut to a chunk of firms; e.g. a Dask
    cluster, whose workers must see ``folder``). ``pool``: a pool from :func:`start_pool`
    (started with these ``inputs``) used instead of starting one; the caller shuts it down.
    The sector summary is written here, from the cash of every firm's engine values the
    tasks return. Either way the bytes are those of the serial run."""
    folder = Path(folder)
    tickers = list(result.tickers)
    for ticker in tickers:
        safe_component(ticker, "ticker")
    parallel = (
        executor is not None
        or pool is not None
        or (workers > 1 and len(tickers) >= 2 * MIN_FIRMS_PER_WORKER)
    )
    if not parallel:
        names, values = write_firm_workbooks(result, inputs, tickers, folder)
    elif executor is not None:
        chunks = _chunks(tickers, max(1, len(tickers) // MIN_FIRMS_PER_WORKER))
        lean = workbook_inputs(inputs)
        futures = [
            executor.submit(write_firm_workbooks, firms_run(result, c), lean, c, folder)
            for c in chunks
        ]
        names, values = _gather(futures)
    elif pool is not None:
        names, values = _write_in_pool(pool, result, tickers, folder)
    else:
        n = pool_size(workers, len(tickers))
        with start_pool(inputs, n) as own:
            names, values = _write_in_pool(own, result, tickers, folder)
    sector = sector_workbook(result, inputs, values)
    write_workbook(sector, folder)
    return [*names, sector.filename]


def _write_in_pool(
    pool: WorkbookPool, result: RunResult, tickers: Sequence[str], folder: Path
) -> tuple[list[str], dict[tuple[str, str], CaseValues]]:
    n = pool.size
    # chunks shrinking towards the end (task_chunks), at most TASK_FIRMS firms each; a task
    # receives only its firms' rows of the run's per-firm frames, and at most 2 n tasks
    # wait at a time (each holds its copy until it is done)
    pending: deque[Any] = deque()
    done: list[Any] = []
    for c in task_chunks(tickers, n):
        pending.append(pool.executor.submit(_write_in_worker, firms_run(result, c), c, str(folder)))
        if len(pending) >= 2 * n:
            done.append(_result(pending.popleft()))
    done += [_result(f) for f in pending]
    return _merge(done)


def _result(future: Any) -> tuple[list[str], dict[tuple[str, str], CaseValues]]:
    names, values = future.result()
    return names, values


def _merge(
    parts: Sequence[tuple[list[str], dict[tuple[str, str], CaseValues]]],
) -> tuple[list[str], dict[tuple[str, str], CaseValues]]:
    names: list[str] = []
    values: dict[tuple[str, str], CaseValues] = {}
    for n, v in parts:
        names += n
        values.update(v)
    return names, values


def _gather(futures: Sequence[Any]) -> tuple[list[str], dict[tuple[str, str], CaseValues]]:
    return _merge([_result(f) for f in futures])
