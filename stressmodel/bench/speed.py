"""Speed figures of issue 17: the engines side by side, the store-bandwidth bound, the
shipped ``stressmodel run`` as a user starts it, and the Monte Carlo fanned out by firm.

- :func:`bench_engines`: the polars engine (the reference), the generated numpy kernel
  and the numba-fused kernel on the same case frame, timed in the same process one after
  another (so machine load hits them alike), with the largest difference to polars;
- :func:`store_bandwidth`: how fast one core stores float64 into memory it has touched
  (``ndarray.fill``), and the rows/s bound that puts on a kernel that stores every line
  item once (rows/s = bytes/s / (8 x line items));
- :func:`bench_shipped_run`: ``stressmodel run`` on the shipped inputs in a fresh process,
  wall clock, with an empty trade-forecast cache and with a warm one;
- :func:`bench_montecarlo_fanout`: Monte Carlo paths for N firms serially and in firm
  chunks on an executor (a Dask ``LocalCluster`` when dask is installed), with the
  results compared (the paths are common to every firm, so any chunking draws the same).
"""

from __future__ import annotations

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

from stressmodel.model import engine, kernel

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


def bench_engines(
    cases: pl.DataFrame, horizon: int, labels: Any, first: int, repeats: int
) -> dict[str, Any]:
    """Rows/s of each engine on ``cases`` (median of ``repeats`` after a cold call)."""
    rows = cases.height * horizon
    out: dict[str, Any] = {
        "cases": cases.height,
        "rows": rows,
        "line_items": len(engine.line_items()),
    }
    fused_ok = kernel.numba_available()
    if fused_ok:  # compile (or load from numba's cache) outside the timings
        small = cases.head(2)
        out["fused_compile_or_load_seconds"], _ = _timed(
            lambda: engine.project(small, horizon, labels, first, backend="fused")
        )
    results: dict[str, pl.DataFrame] = {}
    for backend in ("polars", "numpy", "fused"):
        if backend == "fused" and not fused_ok:
            out["fused_status"] = "numba not installed"
            continue
        cold, proj = _timed(
            lambda b=backend: engine.project(cases, horizon, labels, first, backend=b)
        )
        warm = [
            _timed(lambda b=backend: engine.project(cases, horizon, labels, first, backend=b))[0]
            for _ in range(repeats)
        ]
        seconds = statistics.median(warm) if warm else cold
        out[backend] = {
            "cold_seconds": cold,
            "seconds": seconds,
            "rows_per_second": rows / seconds,
            "cold_rows_per_second": rows / cold,
        }
        results[backend] = proj
    for backend in ("numpy", "fused"):
        if backend in results:
            worst, different = _max_relative(results["polars"], results[backend])
            out[backend]["max_relative_difference_to_polars"] = worst
            out[backend]["values_different_from_polars"] = different
    if "fused" in results:
        out["fused_vs_polars"] = out["polars"]["seconds"] / out["fused"]["seconds"]
        try:
            import numba

            out["fused_threads"] = int(numba.get_num_threads())
        except ImportError:  # pragma: no cover
            pass
    return out


def store_bandwidth(megabytes: int = 256, repeats: int = 5) -> dict[str, Any]:
    """Bytes per second one core stores into touched memory (median of ``fill``)."""
    a = np.empty(int(megabytes * MB) // 8)
    a.fill(0.0)  # first touch outside the timing
    times = [_timed(lambda v=float(i): a.fill(v))[0] for i in range(1, repeats + 1)]
    seconds = statistics.median(times)
    bytes_per_second = a.nbytes / seconds
    items = len(engine.line_items())
    return {
        "megabytes": megabytes,
        "seconds": seconds,
        "bytes_per_second_per_core": bytes_per_second,
        "line_items": items,
        "bound_rows_per_second_per_core": bytes_per_second / (8.0 * items),
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
