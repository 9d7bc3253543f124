"""Speed figures of issue 17: the engines side by side, the store-bandwidth bound, the
shipped ``stressmodel run`` as a user starts it, and the Monte Carlo fanned out by firm.

- :func:`bench_engines`: the polars engine (the reference), the generated numpy kernel
  and the fused LLVM kernel (one thread, then every CPU) on the same case frame, timed
  in the same process one after another (so machine load hits them alike), wall clock
  and CPU time, with the largest difference to polars;
- :func:`store_bandwidth`: how fast one core, and every core, stores float64 into memory
  it has touched (``ndarray.fill``), and the rows/s bound that puts on a kernel that
  stores every line item once (rows/s = bytes/s / (8 x line items));
- :func:`bench_shipped_run`: ``stressmodel run`` on the shipped inputs in a fresh process,
  wall clock, with an empty trade-forecast cache and with a warm one;
- :func:`bench_montecarlo_fanout`: Monte Carlo paths for N firms serially and in firm
  chunks on an executor (a Dask ``LocalCluster`` when dask is installed), with the
  results compared (the paths are common to every firm, so any chunking draws the same).
"""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from stressmodel.model import engine, fused

MB = 1024.0 * 1024.0


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _max_relative(a: pl.DataFrame, b: pl.DataFrame) -> tuple[float, int]:
    worst, different = 0.0, 0
    for name in engine.line_items():
        x, y = a[name].to_numpy(), b[name].to_numpy()
        d = np.abs(x - y)
        different += int(np.count_nonzero(x != y))
        scale = max(1.0, float(np.max(np.abs(x))) if x.size else 1.0)
        worst = max(worst, float(np.max(d)) / scale if d.size else 0.0)
    return worst, different


def _timed_cpu(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds of the whole process (every thread) and the result."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


#: the engines of :func:`bench_engines`: (label, backend, fused threads or None)
ENGINES: tuple[tuple[str, str, int | None], ...] = (
    ("polars", "polars", None),
    ("numpy", "numpy", None),
    ("fused_1_thread", "fused", 1),
    ("fused", "fused", 0),  # 0: every CPU the process may use
)


def bench_engines(
    cases: pl.DataFrame, horizon: int, labels: Any, first: int, repeats: int
) -> dict[str, Any]:
    """Rows/s of each engine on ``cases``: one cold call (fresh output memory), then the
    median of ``repeats`` (wall clock and process CPU time), one engine after another in
    this process so that machine load hits them alike; values compared with polars.

    Warm calls of the fused kernel reuse the output block of the previous call (dropped
    before the next call, as the polars engine's allocator reuses its memory); the cold
    call pays the first-touch page faults of a fresh block."""
    rows = cases.height * horizon
    out: dict[str, Any] = {
        "cases": cases.height,
        "rows": rows,
        "line_items": len(engine.line_items()),
    }
    fused_ok = fused.available()
    if fused_ok:  # compile (or load from the object cache) outside the timings
        out["fused_compile_or_load_seconds"], _ = _timed(fused.compiled)
        out["fused_compiled_from"] = fused.compile_source()
        out["fused_threads"] = fused.threads()
    else:
        out["fused_status"] = "llvmlite not installed"
    polars_frame: pl.DataFrame | None = None
    worst, different = 0.0, 0
    for label, backend, threads in ENGINES:
        if backend == "fused" and not fused_ok:
            continue
        fused.set_threads(threads or None)
        fused.release()  # the cold call gets fresh memory
        gc.collect()
        try:
            cold, cold_cpu, proj = _timed_cpu(
                lambda b=backend: engine.project(cases, horizon, labels, first, backend=b)
            )
            if backend == "polars":
                polars_frame = proj
            elif polars_frame is not None:
                worst, different = _max_relative(polars_frame, proj)
            del proj
            walls, cpus = [], []
            for _ in range(repeats):
                gc.collect()
                w, c, p = _timed_cpu(
                    lambda b=backend: engine.project(cases, horizon, labels, first, backend=b)
                )
                del p
                walls.append(w)
                cpus.append(c)
        finally:
            fused.set_threads(None)
        seconds = statistics.median(walls) if walls else cold
        cpu = statistics.median(cpus) if cpus else cold_cpu
        out[label] = {
            "threads": (threads or fused.threads()) if backend == "fused" else None,
            "cold_seconds": cold,
            "cold_cpu_seconds": cold_cpu,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "rows_per_second": rows / seconds,
            "cold_rows_per_second": rows / cold,
            "rows_per_cpu_second": rows / cpu if cpu > 0 else None,
        }
        if backend != "polars" and polars_frame is not None:
            out[label]["max_relative_difference_to_polars"] = worst
            out[label]["values_different_from_polars"] = different
    del polars_frame
    fused.release()
    if "fused" in out and "polars" in out:
        out["fused_vs_polars"] = out["polars"]["seconds"] / out["fused"]["seconds"]
        out["fused_threads_speedup"] = out["fused_1_thread"]["seconds"] / out["fused"]["seconds"]
    return out


def store_bandwidth(megabytes: int = 256, repeats: int = 5) -> dict[str, Any]:
    """Bytes per second stored into touched memory by ``ndarray.fill``: one core, and
    every CPU the process may use (one thread per CPU filling its own part: ``fill``
    releases the GIL); median of ``repeats``. The bound on a kernel that stores every
    line item once is bytes/s / (8 x line items) rows/s. (The fused kernel's
    non-temporal stores skip the read-for-ownership that ``fill`` pays, so it can beat
    this bound.)"""
    from concurrent.futures import ThreadPoolExecutor

    a = np.empty(int(megabytes * MB) // 8)
    a.fill(0.0)  # first touch outside the timing
    times = [_timed(lambda v=float(i): a.fill(v))[0] for i in range(1, repeats + 1)]
    seconds = statistics.median(times)
    n_threads = fused.threads()
    parts = np.array_split(a, n_threads)
    with ThreadPoolExecutor(n_threads) as ex:
        all_times = [
            _timed(lambda v=float(i): list(ex.map(lambda p: p.fill(v), parts)))[0]
            for i in range(1, repeats + 1)
        ]
    all_seconds = statistics.median(all_times)
    items = len(engine.line_items())
    per_core = a.nbytes / seconds
    every = a.nbytes / all_seconds
    return {
        "megabytes": megabytes,
        "seconds": seconds,
        "bytes_per_second_per_core": per_core,
        "line_items": items,
        "bound_rows_per_second_per_core": per_core / (8.0 * items),
        "threads": n_threads,
        "seconds_all_cores": all_seconds,
        "bytes_per_second_all_cores": every,
        "bound_rows_per_second_all_cores": every / (8.0 * items),
    }


def bench_shipped_run(inputs_dir: Path, repeats: int = 2) -> dict[str, Any]:
    """Wall clock of ``stressmodel run`` on the shipped inputs in a fresh process: the first
    with an empty forecast and kernel cache, then ``repeats`` with the cache warm."""
    out: dict[str, Any] = {"command": "stressmodel run --inputs INPUTS --outputs TMP --quiet"}
    with tempfile.TemporaryDirectory(prefix="stressmodel-bench-run-") as tmp:
        env = {**os.environ, "STRESSMODEL_CACHE": str(Path(tmp) / "cache")}
        cmd = [sys.executable, "-m", "stressmodel", "run", "--inputs", str(inputs_dir), "--quiet"]

        def once(k: int) -> float:
            t = time.perf_counter()
            subprocess.run([*cmd, "--outputs", str(Path(tmp) / f"out{k}")], env=env, check=True)
            return time.perf_counter() - t

        out["cold_cache_seconds"] = once(0)
        warm = [once(k) for k in range(1, repeats + 1)]
        out["warm_cache_seconds"] = warm
        out["seconds"] = statistics.median(warm)
    return out


def bench_montecarlo_fanout(
    firms: pl.DataFrame, spec: Any, as_of: int, workers: int = 2
) -> dict[str, Any]:
    """Monte Carlo for every firm of ``firms``: serial, then on a LocalCluster of
    ``workers`` (firm chunks); results compared."""
    from stressmodel.analysis.montecarlo import simulate

    out: dict[str, Any] = {
        "firms": firms.height,
        "paths": spec.paths,
        "cases": firms.height * spec.paths,
    }
    out["serial_seconds"], serial = _timed(lambda: simulate(firms, spec, as_of))
    try:
        from stressmodel.pipeline.stages import monte_carlo_in_chunks
        from stressmodel.run.cluster import cluster_executor

        with cluster_executor(None, f"local:{workers}") as ex:
            warmup = monte_carlo_in_chunks(firms.head(workers), spec, as_of, ex, workers)
            del warmup
            out["cluster_seconds"], fanned = _timed(
                lambda: monte_carlo_in_chunks(firms, spec, as_of, ex, 4 * workers)
            )
        out["cluster"] = f"dask LocalCluster, {workers} workers (started outside the timing)"
        out["identical_to_serial"] = bool(fanned.equals(serial))
        out["speedup"] = out["serial_seconds"] / out["cluster_seconds"]
    except Exception as exc:  # dask missing or the cluster failed: say so
        out["cluster_status"] = f"not run: {type(exc).__name__}: {exc}"
    return out
