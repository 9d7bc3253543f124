"""``stressmodel validate`` on a large synthetic register, timed stage by stage.

The universe is the end-to-end one (:func:`stressmodel.bench.write_synthetic_inputs`: a
firms.csv, one statements file per firm and a prices.csv in the documented format), written
to a temporary folder outside the timing. Timed, in this process: reading and validating the
inputs (:func:`stressmodel.inputs.load.load_inputs`) and the coverage table ``validate``
prints (:func:`stressmodel.run.app.coverage`), wall-clock and CPU seconds of the process.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

#: firms of the synthetic register (issue 18: validate on 10,000 firms)
VALIDATE_FIRMS = 10_000


def bench_validate(inputs_dir: Path, templates: list[str], n: int) -> dict[str, Any]:
    """Seconds (wall and CPU) to read and validate an inputs folder of ``n`` synthetic firms,
    and to compute the coverage table, as ``stressmodel validate`` does."""
    from stressmodel.bench import write_synthetic_inputs
    from stressmodel.inputs.load import load_inputs
    from stressmodel.inputs.statement_store import statement_figures
    from stressmodel.run.app import coverage, gc_paused

    with tempfile.TemporaryDirectory(prefix="stressmodel-bench-validate-") as d:
        root = Path(d) / "inputs"
        write_synthetic_inputs(inputs_dir, root, templates, n)
        with gc_paused():  # as stressmodel validate runs them
            w0, c0 = time.perf_counter(), time.process_time()
            inputs = load_inputs(root)
            w1, c1 = time.perf_counter(), time.process_time()
            coverage(inputs)
            w2, c2 = time.perf_counter(), time.process_time()
    return {
        "firms": n,
        "statement_figures": statement_figures(inputs.statements),
        "price_observations": len(inputs.prices),
        "load_seconds": w1 - w0,
        "load_cpu_seconds": c1 - c0,
        "coverage_seconds": w2 - w1,
        "coverage_cpu_seconds": c2 - c1,
        "validate_seconds": w2 - w0,
        "validate_cpu_seconds": c2 - c0,
    }


def firms_for(sizes: tuple[int, ...] | list[int]) -> int:
    """The register size for :func:`bench_validate`: 10,000 firms when the benchmark goes to
    1,000 firms or more (the full benchmark), else its largest size (quick and test runs)."""
    largest = max(sizes, default=2)
    return VALIDATE_FIRMS if largest >= 1000 else largest
