"""The benchmark's validate stage (stressmodel/bench/validate.py): figures present and
finite on a tiny register; the register size it picks. No timing is asserted."""

from __future__ import annotations

import json
import math
from pathlib import Path

from stressmodel.bench import setting
from stressmodel.bench.validate import VALIDATE_FIRMS, bench_validate, firms_for

INPUTS = Path(__file__).resolve().parents[1] / "inputs"


def test_validate_stage_on_three_firms() -> None:
    s = setting(INPUTS)
    out = bench_validate(INPUTS, list(s.templates), 3)
    json.dumps(out)
    assert out["firms"] == 3
    assert out["statement_figures"] > 0 and out["price_observations"] > 0
    for key in ("load", "coverage", "validate"):
        for suffix in ("_seconds", "_cpu_seconds"):
            v = out[key + suffix]
            assert math.isfinite(v) and v >= 0, (key + suffix, v)
    assert out["validate_seconds"] >= out["load_seconds"]


def test_register_size_follows_the_benchmark_sizes() -> None:
    assert firms_for((2, 100, 1000)) == VALIDATE_FIRMS == 10_000
    assert firms_for((2, 100)) == 100
    assert firms_for((2, 3)) == 3
