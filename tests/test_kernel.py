"""The generated kernels (numpy and the fused LLVM kernel) against the polars reference engine:
bit for bit on the shipped firms, and on hypothesis-drawn parameters; the reverse stress
test's statuses and shocks with the kernels as with the polars engine."""

from __future__ import annotations

from functools import cache, partial
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stressmodel.inputs.load import load_inputs
from stressmodel.model import engine, kernel
from stressmodel.model.cases import case_frame, scenario_frame
from stressmodel.model.quarter import ALL_FIRM_PARAMS, DRIVERS, SCENARIO_PARAMS
from stressmodel.pipeline import stages
from stressmodel.pipeline.result import RunOptions

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ["numpy", "fused"]


@cache
def shipped() -> tuple[stages.Selection, stages.Scenarios, object, object, object]:
    inputs = load_inputs(ROOT / "inputs")
    firms = stages.select_firms(inputs, None)
    as_of = stages.default_as_of(inputs, firms)[0]
    sel = stages.select(inputs, RunOptions(as_of=as_of))
    bases = stages.stage_bases(inputs, sel)
    scen = stages.stage_scenarios(inputs, sel, bases)
    return sel, scen, inputs, bases, as_of


def _bits(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    return {n: frame[n].to_numpy().view(np.int64) for n in engine.line_items()}


def _assert_identical(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.columns == b.columns
    assert a.select(engine.INDEX_COLUMNS).equals(b.select(engine.INDEX_COLUMNS))
    ba, bb = _bits(a), _bits(b)
    different = [n for n in ba if not np.array_equal(ba[n], bb[n])]
    assert not different, f"line items not bit-identical to the polars engine: {different}"


def test_kernel_source_is_generated_from_step_with_every_line_item() -> None:
    src = kernel.source("numpy")
    assert kernel.item_names() == tuple(engine.line_items())
    for name in engine.line_items():
        assert f"v_{name} = " in src
    # divisions by a constant are multiplications by its inverse, as polars does them
    assert "/ 91.0" not in src and repr(1.0 / 91.0) in src


@pytest.mark.parametrize("backend", KERNELS)
def test_kernels_equal_polars_bit_for_bit_on_the_shipped_firms(backend: str) -> None:
    sel, scen, *_ = shipped()
    ref = engine.project(scen.cases, sel.horizon, sel.quarters, sel.as_of + 1, backend="polars")
    got = engine.project(scen.cases, sel.horizon, sel.quarters, sel.as_of + 1, backend=backend)
    _assert_identical(ref, got)
    # and the auto choice (numpy at this size) is what the run uses
    assert engine.choose_backend("auto", scen.cases.height) == "numpy"
    assert engine.choose_backend("auto", engine.NUMPY_MAX_CASES) == "fused"


@pytest.mark.parametrize("backend", KERNELS)
def test_kernels_keep_the_output_subset_and_order(backend: str) -> None:
    sel, scen, *_ = shipped()
    items = ["cash", "revenue", "balance_check"]
    ref = engine.project(
        scen.cases, sel.horizon, sel.quarters, sel.as_of + 1, outputs=items, backend="polars"
    )
    got = engine.project(
        scen.cases, sel.horizon, sel.quarters, sel.as_of + 1, outputs=items, backend=backend
    )
    assert got.columns == ref.columns
    assert got.equals(ref)


def _firm_frame() -> pl.DataFrame:
    _sel, scen, *_ = shipped()
    return scen.firms_frame


FIRM_COLS = [f"f_{p}" for p in ALL_FIRM_PARAMS]


@st.composite
def drawn_cases(draw: st.DrawFn) -> tuple[pl.DataFrame, int]:
    """Shipped firms with every parameter scaled by a drawn factor, under drawn shocks."""
    firms = _firm_frame()
    n_firms = draw(st.integers(1, firms.height))
    firms = firms.head(n_firms)
    factor = st.floats(0.25, 4.0, allow_nan=False)
    scaled = firms.with_columns(
        [
            (pl.col(c) * draw(factor)).alias(c)
            for c in FIRM_COLS
            if c not in ("f_absorb_ias2", "f_absorb_full")
        ]
    )
    horizon = draw(st.integers(1, 12))
    n_scen = draw(st.integers(1, 6))
    rows = []
    for j in range(n_scen):
        row: dict[str, object] = {"scenario": f"h{j}"}
        for p in SCENARIO_PARAMS:
            hi = 120.0 if p == "licence_delay_days" else (0.5 if p == "storage_cost_rate" else 1.0)
            row[f"s_{p}"] = draw(st.floats(0.0, hi, allow_nan=False))
        for k in range(1, horizon + 1):
            row[f"d_intensity_{k}"] = draw(st.floats(0.0, 1.0, allow_nan=False))
            row[f"d_raw_material_change_{k}"] = draw(st.floats(-0.5, 1.0, allow_nan=False))
        rows.append(row)
    cases = case_frame(scaled, pl.DataFrame(rows)).rechunk()
    return cases, horizon


@pytest.mark.parametrize("backend", KERNELS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=drawn_cases())
def test_kernels_equal_polars_on_drawn_parameters(
    backend: str, drawn: tuple[pl.DataFrame, int]
) -> None:
    cases, horizon = drawn
    quarters = [f"q{k}" for k in range(1, horizon + 1)]
    ref = engine.project(cases, horizon, quarters, 1, backend="polars")
    got = engine.project(cases, horizon, quarters, 1, backend=backend)
    # polars itself divides by a constant exactly or by its inverse depending on how it
    # holds a column (one-row chunks and broadcast columns: exactly), so drawn frames are
    # compared at the documented 1e-12 relative (of the line item's scale)
    assert ref.select(engine.INDEX_COLUMNS).equals(got.select(engine.INDEX_COLUMNS))
    for name in engine.line_items():
        x, y = ref[name].to_numpy(), got[name].to_numpy()
        scale = max(1.0, float(np.max(np.abs(x))))
        np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-12 * scale, err_msg=name)


def test_unknown_backend_is_refused() -> None:
    sel, scen, *_ = shipped()
    with pytest.raises(ValueError, match="unknown engine"):
        engine.project(scen.cases, sel.horizon, sel.quarters, sel.as_of + 1, backend="gpu")


def test_reverse_stress_with_the_kernels_matches_the_polars_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Statuses identical and shocks within 1e-8 (the documented tolerance; measured equal
    to the last bit on the shipped firms except value_no_shock, within 1e-15 relative)."""
    import stressmodel.analysis.reverse as reverse

    sel, scen, inputs, bases, _ = shipped()
    proj = stages.stage_projection(scen, sel)
    val = stages.stage_valuation(inputs, bases, scen, proj, sel)
    original = engine.project
    out = {}
    for backend in ("polars", "auto"):
        monkeypatch.setattr(reverse, "project", partial(original, backend=backend))
        out[backend] = stages.stage_reverse_stress(inputs, bases, scen, val, sel)
    a, b = out["polars"], out["auto"]
    assert a.columns == b.columns
    for c in a.columns:
        if a[c].dtype == pl.Float64:
            x = np.array(a[c].to_list(), dtype=float)
            y = np.array(b[c].to_list(), dtype=float)
            assert np.array_equal(np.isnan(x), np.isnan(y)), c
            np.testing.assert_allclose(y, x, rtol=1e-8, atol=1e-8, equal_nan=True, err_msg=c)
        else:
            assert a[c].to_list() == b[c].to_list(), c


def test_scenario_frame_layout_reaches_the_kernel_drivers() -> None:
    """Drivers are read per quarter: a shock only in quarter 2 moves quarter 2, not 1."""
    sel, _scen, inputs, *_ = shipped()
    firms = _firm_frame().head(1)
    base = inputs.scenarios.reverse_scenario(0.0, 3, name="flat")
    frame = scenario_frame([base], sel.as_of, 3, None).with_columns(
        pl.lit(1.0).alias("s_export_shock")
    )
    frame = frame.with_columns(
        pl.lit(0.0).alias("d_intensity_1"), pl.lit(1.0).alias("d_intensity_2")
    )
    cases = case_frame(firms, frame)
    got = engine.project(cases, 3, ["a", "b", "c"], 1, backend="numpy")
    assert got["export_loss"].to_list()[:2] == [0.0, 1.0]
    assert len(DRIVERS) == 2
