"""Excel workbooks of a run: one live workbook per firm and a sector summary.

:func:`workbook_specs` is the pure layout step (run -> workbook specs: sheets, typed
cells, styles, names, charts); :func:`write_workbooks` writes them with XlsxWriter.
See :mod:`stressmodel.report.sheets` for the firm workbook and
:mod:`stressmodel.report.sector` for the sector summary.

:func:`write_workbooks` builds and writes one workbook at a time (a spec is dropped once
written, so memory does not grow with the number of firms), with Python's cyclic garbage
collector kept out of the loop (objects that exist before it are frozen, a collection
runs between workbooks). Firm workbooks can be written by ``workers`` processes, or by
any :class:`concurrent.futures.Executor` (a Dask cluster's included): the writer is
deterministic, so the files are byte-identical to the serial run's.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from stressmodel.inputs.load import Inputs
from stressmodel.names import safe_component
from stressmodel.pipeline.result import RunResult
from stressmodel.report.sector import SECTOR_FILE, sector_workbook
from stressmodel.report.sheets.firm import firm_context, firm_workbook
from stressmodel.report.spec import WorkbookSpec
from stressmodel.report.values import case_values
from stressmodel.report.writer import write_workbook

__all__ = ["SECTOR_FILE", "default_workers", "workbook_specs", "write_workbooks"]

#: below this many firms a process pool costs more (start-up, shipping the run) than it saves
MIN_FIRMS_PER_WORKER = 4


def default_workers() -> int:
    """1 on machines with two cores or fewer, else one fewer than the cores (at most 8)."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(cores - 1, 8)


def _values(result: RunResult, inputs: Inputs) -> Any:
    return case_values(result, inputs.sector.float("discount_rate"))


def workbook_specs(result: RunResult, inputs: Inputs) -> list[WorkbookSpec]:
    """Every workbook of a run as a spec (pure): firms in run order, then the sector summary."""
    values = _values(result, inputs)
    specs = []
    for ticker in result.tickers:
        safe_component(ticker, "ticker")
        specs.append(firm_workbook(firm_context(result, inputs, ticker, values)))
    specs.append(sector_workbook(result, inputs, values))
    return specs


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector out of a loop that allocates millions of small
    objects: what exists now is frozen (never scanned again), automatic collection is off,
    and :func:`_collect` runs between workbooks over what the last one left."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def _collect() -> None:
    gc.collect()  # scans only objects created since the freeze


def write_firm_workbooks(
    result: RunResult, inputs: Inputs, tickers: Sequence[str], folder: Path, values: Any = None
) -> list[str]:
    """Build and write the workbooks of ``tickers``, one at a time; returns file names."""
    if values is None:
        values = _values(result, inputs)
    names = []
    with _collector_paused():
        for ticker in tickers:
            safe_component(ticker, "ticker")
            spec = firm_workbook(firm_context(result, inputs, ticker, values))
            write_workbook(spec, Path(folder))
            names.append(spec.filename)
            del spec
            _collect()
    return names


# a worker process receives the run once (its initializer) and then lists of tickers
_WORKER: dict[str, Any] = {}


def _init_worker(result: RunResult, inputs: Inputs) -> None:
    _WORKER.update(result=result, inputs=inputs, values=_values(result, inputs))


def _write_in_worker(tickers: Sequence[str], folder: str) -> list[str]:
    return write_firm_workbooks(
        _WORKER["result"], _WORKER["inputs"], tickers, Path(folder), _WORKER["values"]
    )


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


def write_workbooks(
    result: RunResult,
    inputs: Inputs,
    folder: Path,
    *,
    workers: int = 1,
    executor: Executor | None = None,
) -> list[str]:
    """Write ``<TICKER>.xlsx`` for every firm of the run and ``sector_summary.xlsx`` into
    ``folder``; returns the file names written (firms in run order, then the sector).

    ``workers`` > 1: firm workbooks are written by that many spawned processes (each
    receives the run once); ``executor``: any concurrent.futures executor instead (each
    task receives the run and a chunk of firms; e.g. a Dask cluster, whose workers must
    see ``folder``). Either way the bytes are those of the serial run."""
    folder = Path(folder)
    tickers = list(result.tickers)
    for ticker in tickers:
        safe_component(ticker, "ticker")
    values = _values(result, inputs)
    parallel = executor is not None or (workers > 1 and len(tickers) >= 2 * MIN_FIRMS_PER_WORKER)
    if not parallel:
        names = write_firm_workbooks(result, inputs, tickers, folder, values)
    elif executor is not None:
        chunks = _chunks(tickers, max(1, len(tickers) // MIN_FIRMS_PER_WORKER))
        futures = [executor.submit(write_firm_workbooks, result, inputs, c, folder) for c in chunks]
        names = [name for f in futures for name in f.result()]
    else:
        n = min(workers, len(tickers) // MIN_FIRMS_PER_WORKER)
        with ProcessPoolExecutor(
            n, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(result, inputs)
        ) as pool:
            # more chunks than workers, so a slow chunk does not hold the others up
            futures = [
                pool.submit(_write_in_worker, c, str(folder)) for c in _chunks(tickers, 4 * n)
            ]
            sector = sector_workbook(result, inputs, values)  # meanwhile, in this process
            write_workbook(sector, folder)
            names = [name for f in futures for name in f.result()]
        return [*names, sector.filename]
    sector = sector_workbook(result, inputs, values)
    write_workbook(sector, folder)
    return [*names, sector.filename]
