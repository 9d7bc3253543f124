"""The shortcuts that make ``stressmodel validate`` fast on a large register change no result:
the garbage collector pause restores its state, and FirmStatements' memoised TTM figures
are the ones computed afresh."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.statements import build
from stressmodel.run.app import gc_paused

INPUTS = Path(__file__).resolve().parents[1] / "inputs"


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_paused_restores_the_collector_state_also_after_an_error(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with pytest.raises(RuntimeError), gc_paused():
            assert not gc.isenabled()
            raise RuntimeError("boom")
        assert gc.isenabled() is enabled
        with gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_memoised_ttm_equals_a_fresh_computation_for_every_item_and_quarter() -> None:
    inputs = load_inputs(INPUTS)
    checked = 0
    for ticker, rows in inputs.statements.items():
        items = {str(r["item"]) for r in rows}
        quarters = range(min(int(r["end"]) for r in rows) - 4, max(int(r["end"]) for r in rows) + 2)
        warm = build(ticker, rows)
        for item in sorted(items):
            for q in quarters:
                first = warm.ttm(item, q)
                assert warm.ttm(item, q) is first  # the second answer is the memoised one
                fresh = build(ticker, rows)._compute_ttm(item, q)
                assert first == fresh, (ticker, item, q)
                checked += first is not None
    assert checked > 100  # the shipped statements do give TTM figures


@pytest.mark.parametrize(
    "text",
    [
        "inputs/statements/603072.SH.csv",
        "",
        "日本/テスト.csv",
        "a\x0cb",
        "\u202eab",
        "a\nb",
        "tab\there",
        "\x7f",
    ],
)
def test_printable_fast_path_equals_the_character_by_character_escape(text: str) -> None:
    from stressmodel.inputs.readers import printable

    assert printable(text) == "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
