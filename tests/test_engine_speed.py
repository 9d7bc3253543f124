"""The optimised engine gives the float reference's numbers (to 1e-12 relative, and in
fact bit for bit) on random cases, with the same output frame as before: columns, order,
dtypes; ``outputs=`` subsets; edge cases. No timing is asserted here (see
benchmarks/RESULTS.md)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.scenarios import PARAM_RANGES
from stressmodel.model.base import compute_bases
from stressmodel.model.cases import case_frame, per_firm_case_frame
from stressmodel.model.engine import INDEX_COLUMNS, KEYS, line_items, project
from stressmodel.model.quarter import ALL_FIRM_PARAMS, DRIVERS, SCENARIO_PARAMS
from stressmodel.model.reference import project_case
from stressmodel.pipeline.stages import default_as_of, select_firms

REPO = Path(__file__).resolve().parents[1]
HORIZON = 12
RATIO_PARAMS = {"absorb_ias2", "absorb_full"}


@pytest.fixture(scope="module")
def shipped_firms() -> pl.DataFrame:
    inputs = load_inputs(REPO / "inputs")
    as_of, _ = default_as_of(inputs, select_firms(inputs, None))
    return compute_bases(inputs, as_of).frame()


def random_cases(shipped: pl.DataFrame, n: int, seed: int, horizon: int = HORIZON) -> pl.DataFrame:
    """n cases: each a shipped firm with every parameter x U(0.3, 1.7) (absorption
    convention drawn at random), random shock parameters within their admissible ranges,
    intensities in [0, 1] (some exactly 0 or 1) and raw-material changes in [-0.5, 1]."""
    rng = np.random.default_rng(seed)
    rows = shipped[rng.integers(0, shipped.height, n)]
    firm_cols = {}
    for p in ALL_FIRM_PARAMS:
        base = rows[f"f_{p}"].to_numpy()
        firm_cols[f"f_{p}"] = base * rng.uniform(0.3, 1.7, n) if p not in RATIO_PARAMS else base
    conv = rng.integers(0, 3, n)  # 0 variable costing, 1 IAS 2, 2 full absorption
    firm_cols["f_absorb_ias2"] = (conv == 1).astype(float)
    firm_cols["f_absorb_full"] = (conv == 2).astype(float)
    firm_cols["f_inventory_tonnes0"] = np.where(
        rng.random(n) < 0.1, 0.0, firm_cols["f_inventory_tonnes0"]
    )
    firms = pl.DataFrame({"ticker": [f"{i:06d}.SZ" for i in range(n)], **firm_cols})
    scen: dict[str, object] = {"scenario": [f"s{i}" for i in range(n)]}
    for p in SCENARIO_PARAMS:
        # the opening state of a dated path (intensity, backlog factor) is computed, not an input
        lo, hi, _ = PARAM_RANGES.get(p, (0.0, 1.0, False))
        scen[f"s_{p}"] = rng.uniform(lo, hi, n)
    for k in range(1, horizon + 1):
        u = rng.random(n)
        scen[f"d_intensity_{k}"] = np.where(u < 0.15, 0.0, np.where(u > 0.85, 1.0, u))
        scen[f"d_raw_material_change_{k}"] = rng.uniform(-0.5, 1.0, n)
    return per_firm_case_frame(firms, pl.DataFrame(scen))


def reference(cases: pl.DataFrame, horizon: int = HORIZON) -> list[list[dict[str, float]]]:
    out = []
    for r in cases.iter_rows(named=True):
        firm = {p: r[f"f_{p}"] for p in ALL_FIRM_PARAMS}
        scen = {p: r[f"s_{p}"] for p in SCENARIO_PARAMS}
        drivers = [{p: r[f"d_{p}_{k}"] for p in DRIVERS} for k in range(1, horizon + 1)]
        out.append(project_case(firm, scen, drivers))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_engine_matches_the_float_reference_on_random_cases(
    shipped_firms: pl.DataFrame, seed: int
) -> None:
    cases = random_cases(shipped_firms, 40, seed)
    proj = project(cases, HORIZON, [f"q{k}" for k in range(1, HORIZON + 1)], 100)
    ref = reference(cases)
    n = cases.height
    items = line_items()
    columns = {name: proj[name].to_list() for name in items}
    for i in range(n):
        scale = max(abs(q["total_assets"]) for q in ref[i])  # for items that are ~0 (balance_check)
        for k in range(HORIZON):
            for name in items:
                got, want = columns[name][k * n + i], ref[i][k][name]
                assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12 * scale), (
                    i,
                    k,
                    name,
                    got,
                    want,
                )


def test_engine_equals_the_reference(shipped_firms: pl.DataFrame) -> None:
    """The polars engine and the float reference evaluate the same equations; polars
    computes ``x / c`` as ``x * (1 / c)``, so they agree to a few units in the last place
    (relative 1e-12, absolute 1e-9 CNY mn for values that are zero up to rounding)."""
    cases = random_cases(shipped_firms, 25, seed=11)
    proj = project(cases, HORIZON, [f"q{k}" for k in range(1, HORIZON + 1)], 100)
    ref = reference(cases)
    n = cases.height
    worst = 0.0
    for name in line_items():
        values = proj[name].to_list()
        for k in range(HORIZON):
            for i in range(n):
                a, b = values[k * n + i], ref[i][k][name]
                assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9), (name, k, i, a, b)
                if b != 0:
                    worst = max(worst, abs(a - b) / abs(b))
    assert worst < 1e-12


def test_output_frame_layout(shipped_firms: pl.DataFrame) -> None:
    drawn = random_cases(shipped_firms, 4, seed=5)
    scenarios = drawn.select("scenario", *[c for c in drawn.columns if c.startswith(("s_", "d_"))])
    cases = case_frame(shipped_firms.head(3), scenarios)
    labels = [f"2026Q{k}" for k in range(1, 5)] + [f"2027Q{k}" for k in range(1, 5)]
    proj = project(cases, 8, labels, 77)
    assert proj.columns == [*INDEX_COLUMNS, *line_items()]
    assert proj.schema["quarter"] == pl.String
    assert proj.schema["quarter_index"] == pl.Int32 and proj.schema["step"] == pl.Int32
    assert all(proj.schema[c] == pl.Float64 for c in line_items())
    assert proj.height == cases.height * 8
    # quarter-major: all cases of quarter 1, then quarter 2, ...
    assert proj["step"].to_list() == [k for k in range(1, 9) for _ in range(cases.height)]
    assert proj["quarter"].to_list() == [q for q in labels for _ in range(cases.height)]
    assert proj["quarter_index"].to_list() == [
        77 + k for k in range(8) for _ in range(cases.height)
    ]
    assert proj.select(KEYS).slice(0, cases.height).equals(cases.select(KEYS))
    assert proj.select(KEYS).slice(5 * cases.height, cases.height).equals(cases.select(KEYS))
    assert len(line_items()) == len(set(line_items())) == 70


@pytest.mark.parametrize("n", [3, 600])  # both the copying and the zero-copy column paths
def test_outputs_subset_gives_the_same_values(shipped_firms: pl.DataFrame, n: int) -> None:
    cases = random_cases(shipped_firms, n, seed=7, horizon=4)
    full = project(cases, 4, ["a", "b", "c", "d"], 1)
    sub = project(cases, 4, ["a", "b", "c", "d"], 1, outputs=["revolver", "cash", "fcf"])
    assert sub.columns == [*INDEX_COLUMNS, "revolver", "cash", "fcf"]
    assert sub.equals(full.select(sub.columns))


def test_outputs_are_checked(shipped_firms: pl.DataFrame) -> None:
    cases = random_cases(shipped_firms, 2, seed=1, horizon=2)
    with pytest.raises(ValueError, match="unknown line items"):
        project(cases, 2, ["a", "b"], 1, outputs=["cash", "cashh"])
    with pytest.raises(ValueError, match="once"):
        project(cases, 2, ["a", "b"], 1, outputs=["cash", "cash"])
    with pytest.raises(ValueError, match="one quarter label"):
        project(cases, 2, ["a"], 1)


def test_integer_columns_are_cast_and_inputs_untouched(shipped_firms: pl.DataFrame) -> None:
    cases = random_cases(shipped_firms, 5, seed=3, horizon=3)
    ints = cases.with_columns(
        pl.col("f_dpo_days").round(0).cast(pl.Int64),
        pl.lit(0, dtype=pl.Int64).alias("d_intensity_1"),
    )
    before = ints.clone()
    a = project(ints, 3, ["a", "b", "c"], 1)
    b = project(
        ints.with_columns(pl.col("f_dpo_days", "d_intensity_1").cast(pl.Float64)),
        3,
        ["a", "b", "c"],
        1,
    )
    assert a.equals(b)
    assert ints.equals(before)


def test_empty_case_frame_and_zero_horizon(shipped_firms: pl.DataFrame) -> None:
    cases = random_cases(shipped_firms, 3, seed=2, horizon=2)
    empty = project(cases.clear(), 2, ["a", "b"], 1)
    assert empty.height == 0 and empty.columns == [*INDEX_COLUMNS, *line_items()]
    none = project(cases, 0, [], 1, outputs=["cash"])
    assert none.height == 0 and none.columns == [*INDEX_COLUMNS, "cash"]


def test_numeric_core_imports_neither_click_nor_openpyxl() -> None:
    code = (
        "import sys, stressmodel.model.engine, stressmodel.analysis.montecarlo; "
        "print(sorted(m for m in ('click', 'openpyxl', 'xlsxwriter') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
