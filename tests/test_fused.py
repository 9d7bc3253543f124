"""The fused LLVM kernel's machinery: the IR is generated from ``step``, cases split over
threads and the last ``n mod 8`` cases give the same numbers as one thread and as the
numpy kernel, a kept output block is never handed out while a frame uses it, ``auto``
picks what :func:`engine.choose_backend` says, and the on-disk object cache loads in a
fresh process, survives a damaged entry and an unwritable folder. (Values against the
polars engine: tests/test_kernel.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stressmodel.model import engine, fused, kernel
from stressmodel.model.quarter import ALL_FIRM_PARAMS, DRIVERS, SCENARIO_PARAMS
from stressmodel.run.cache import fused_object_cache

REPO = Path(__file__).resolve().parents[1]


def _columns(
    n: int, horizon: int, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Random but admissible-looking parameters (positive sizes, shocks in [0, 1])."""
    rng = np.random.default_rng(seed)
    firm = [rng.uniform(0.5, 50.0, n) for _ in ALL_FIRM_PARAMS]
    names = list(ALL_FIRM_PARAMS)
    firm[names.index("absorb_ias2")] = (rng.random(n) < 0.5).astype(float)
    firm[names.index("absorb_full")] = np.zeros(n)
    firm[names.index("business_days_per_quarter")] = np.full(n, 63.0)
    scen = [rng.uniform(0.0, 1.0, n) for _ in SCENARIO_PARAMS]
    drivers = [rng.uniform(-0.5, 1.0, n) for _ in range(len(DRIVERS) * horizon)]
    return firm, scen, drivers


def _numpy(
    firm: list[np.ndarray], scen: list[np.ndarray], drivers: list[np.ndarray], horizon: int
) -> np.ndarray:
    n = firm[0].shape[0]
    return kernel.run(
        "numpy", np.stack(firm), np.stack(scen), np.stack(drivers).reshape(len(DRIVERS), horizon, n)
    )


def test_ir_is_generated_from_step_with_every_line_item() -> None:
    text, names = fused.ir()
    assert names == tuple(engine.line_items()) == kernel.item_names()
    assert text.count("!nontemporal") == len(names)  # each line item stored once per quarter
    # no fast-math flags anywhere (no reassociation, no contraction)
    assert " fast " not in text and "contract" not in text and "reassoc" not in text


@pytest.mark.parametrize("n", [1, 7, 8, 9, 61, 200])
def test_fused_equals_the_numpy_kernel_bit_for_bit_with_any_tail(n: int) -> None:
    horizon = 5
    firm, scen, drivers = _columns(n, horizon, seed=n)
    out = fused.run(firm, scen, drivers, horizon)
    ref = _numpy(firm, scen, drivers, horizon)
    assert out.shape[2] % fused.WIDTH == 0 and out.shape[2] >= n
    assert out.ctypes.data % 64 == 0
    assert np.array_equal(out[:, :, :n].view(np.int64), ref.view(np.int64))


def test_threads_split_the_cases_without_changing_a_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fused, "PARALLEL_MIN_CASES", 8)
    n, horizon = 203, 4
    firm, scen, drivers = _columns(n, horizon, seed=3)
    one = fused.run(firm, scen, drivers, horizon, n_threads=1)
    for t in (2, 3, 5):
        many = fused.run(firm, scen, drivers, horizon, n_threads=t)
        assert np.array_equal(one[:, :, :n].view(np.int64), many[:, :, :n].view(np.int64)), t


def test_a_kept_block_is_reused_only_once_its_frame_is_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fused, "REUSE_MIN_BYTES", 0)
    fused.release()
    n, horizon = 40, 3
    a_cols = _columns(n, horizon, seed=1)
    b_cols = _columns(n, horizon, seed=2)
    a = fused.run(*a_cols, horizon)
    kept = a.copy()
    b = fused.run(*b_cols, horizon)  # `a` is alive: a new block
    assert not np.shares_memory(a, b)
    assert np.array_equal(a, kept)
    address = b.ctypes.data
    del b
    c = fused.run(*b_cols, horizon)  # b's block is free again
    assert c.ctypes.data == address
    assert np.array_equal(a, kept)
    fused.release()


def test_project_frames_outlive_later_projections(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame's columns are views of a block; a later call must not write into it."""
    monkeypatch.setattr(fused, "REUSE_MIN_BYTES", 0)
    inputs_firms = _shipped_cases()
    first = engine.project(inputs_firms, 3, ["a", "b", "c"], 1, backend="fused")
    snapshot = first.clone()
    shocked = inputs_firms.with_columns(pl.lit(1.0).alias("s_export_shock"))
    second = engine.project(shocked, 3, ["a", "b", "c"], 1, backend="fused")
    assert not second.equals(first)
    assert first.equals(snapshot)
    fused.release()


def _shipped_cases() -> pl.DataFrame:
    from stressmodel.inputs.load import load_inputs
    from stressmodel.model.base import compute_bases
    from stressmodel.model.cases import case_frame, scenario_frame
    from stressmodel.pipeline.stages import default_as_of, select_firms

    inputs = load_inputs(REPO / "inputs")
    as_of, _ = default_as_of(inputs, select_firms(inputs, None))
    firms = compute_bases(inputs, as_of).frame()
    grid = list(inputs.scenarios.grid_scenarios())[:5]
    return case_frame(firms, scenario_frame(grid, as_of, 3, None))


def test_auto_picks_numpy_below_the_threshold_then_fused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert engine.choose_backend("auto", 0) == "numpy"
    assert engine.choose_backend("auto", engine.NUMPY_MAX_CASES - 1) == "numpy"
    assert engine.choose_backend("auto", engine.NUMPY_MAX_CASES) == "fused"
    assert engine.choose_backend("auto", 10_000_000) == "fused"
    for name in ("polars", "numpy", "fused"):
        assert engine.choose_backend(name, 10) == name
    monkeypatch.setattr(fused, "available", lambda: False)
    assert engine.choose_backend("auto", engine.NUMPY_MAX_CASES) == "polars"


def test_auto_runs_the_backend_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = _shipped_cases()
    used = []
    for name in ("numpy", "fused"):
        real = {"numpy": engine._project_kernel, "fused": engine._project_fused}[name]

        def spy(*args: object, _real=real, _name=name) -> object:  # type: ignore[no-untyped-def]
            used.append(_name)
            return _real(*args)

        monkeypatch.setattr(
            engine, {"numpy": "_project_kernel", "fused": "_project_fused"}[name], spy
        )
    monkeypatch.setattr(engine, "NUMPY_MAX_CASES", cases.height)
    engine.project(cases, 3, ["a", "b", "c"], 1)
    engine.project(cases.head(cases.height - 1), 3, ["a", "b", "c"], 1)
    assert used == ["fused", "numpy"]


def test_object_cache_round_trip_damage_and_unwritable_folder(tmp_path: Path) -> None:
    get, put = fused_object_cache(tmp_path / "cache") or (None, None)
    assert get is not None and put is not None
    assert get("k") is None
    put("k", b"machine code")
    assert get("k") == b"machine code"
    path = next((tmp_path / "cache" / "kernels").glob("fused-k.o"))
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert get("k") is None  # damaged: never handed to the linker
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    get2, put2 = fused_object_cache(blocker) or (None, None)
    assert get2 is not None and put2 is not None
    put2("k", b"x")  # silently not written
    assert get2("k") is None
    assert fused_object_cache(None) is None


def test_a_fresh_process_loads_the_kernel_from_the_object_cache(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from stressmodel.model import fused\n"
        "from stressmodel.run.cache import fused_object_cache\n"
        "fused.set_object_cache(fused_object_cache(Path(sys.argv[1])))\n"
        "fused.compiled(); print(fused.compile_source())\n"
    )
    run = [sys.executable, "-c", code, str(tmp_path)]
    first = subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()
    second = subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()
    assert (first, second) == ("compiled", "object cache")
    # a damaged entry is recompiled and rewritten
    (entry,) = (tmp_path / "kernels").glob("fused-*.o")
    entry.write_bytes(entry.read_bytes()[:100])
    third = subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()
    fourth = subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()
    assert (third, fourth) == ("compiled", "object cache")
    # an unwritable cache (a file where the folder should be): compiled, no error
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    out = subprocess.run(
        [sys.executable, "-c", code, str(blocker)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "compiled" and not out.stderr


def test_an_item_subset_stores_only_those_items_in_their_order() -> None:
    """The Monte Carlo asks for 5 of 70 line items: the block holds only those (memory),
    in the order asked, with the values of the full run."""
    n, horizon = 29, 4
    firm, scen, drivers = _columns(n, horizon, seed=5)
    full = fused.run(firm, scen, drivers, horizon)
    names = list(fused.item_names())
    subset = ["cash", "revenue", "revolver_draw"]
    part = fused.run(firm, scen, drivers, horizon, items=subset)
    assert part.shape == (3, horizon, full.shape[2])
    for i, name in enumerate(subset):
        assert np.array_equal(
            part[i, :, :n].view(np.int64), full[names.index(name), :, :n].view(np.int64)
        )
    with pytest.raises(ValueError, match="unknown or repeated"):
        fused.run(firm, scen, drivers, horizon, items=["cash", "cash"])
