"""The collector pause around the base figures: restores the collector's state, nests,
and survives an exception; the bases computed under it are those computed without."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from stressmodel.inputs.load import load_inputs
from stressmodel.model.base import compute
from stressmodel.model.collector import collector_paused

ROOT = Path(__file__).resolve().parents[1]


def test_collector_paused_restores_the_state_it_found() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block leaves the outer pause in place
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # disabled before: stays disabled
    finally:
        gc.enable()


def test_bases_are_the_same_with_the_collector_running(monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = load_inputs(ROOT / "inputs")
    q = 2025 * 4 + 2
    paused = compute.compute_bases(inputs, q)
    assert gc.isenabled()

    class NoPause:
        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(compute, "collector_paused", NoPause)
    running = compute.compute_bases(inputs, q)
    assert (paused.firms, paused.peers, paused.not_runnable) == (
        running.firms,
        running.peers,
        running.not_runnable,
    )
    assert paused.firms


def test_run_model_is_the_same_with_the_collector_running(monkeypatch: pytest.MonkeyPatch) -> None:
    from stressmodel.pipeline import stages
    from stressmodel.pipeline.result import RunOptions

    inputs = load_inputs(ROOT / "inputs")
    paused = stages.run_model(inputs, RunOptions())
    assert gc.isenabled()

    class NoPause:
        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(stages, "collector_paused", NoPause)
    monkeypatch.setattr(compute, "collector_paused", NoPause)
    running = stages.run_model(inputs, RunOptions())
    for name in ("summary", "projection", "valuation"):
        assert getattr(paused, name).equals(getattr(running, name)), name
    for name in ("reverse_stress", "debt_at_risk"):
        assert paused.extras[name].equals(running.extras[name]), name
    # the index frame's row order comes from a group_by (it differs from run to run either
    # way); its content is the same
    keys = ["ticker", "scenario"]
    assert (
        paused.extras["consolidation"].sort(keys).equals(running.extras["consolidation"].sort(keys))
    )
