"""The memory-saving paths of a large run give the same numbers as the direct ones: the
consolidation band's chunked quantiles, the tables stage's one-gather split of the quarter
rows, and the back-tests' named-only case frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stressmodel.analysis import consolidation as c
from stressmodel.inputs.load import load_inputs
from stressmodel.model.engine import KEYS
from stressmodel.pipeline import stages
from stressmodel.pipeline.result import RunOptions

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("d", [1, 2, 3, 10, 999, 1000])
def test_row_quantiles_of_expit_equal_numpy_to_the_bit(d: int) -> None:
    rng = np.random.default_rng(d)
    eta = rng.normal(size=(57, d)) * 8.0
    eta[::3] = np.round(eta[::3], 1)  # ties
    eta[5] = 0.0  # a row of equal draws
    for qs in ((0.1, 0.5, 0.9), (0.0, 0.25, 1.0), (0.05, 0.5, 0.95)):
        want = np.quantile(c.expit(eta), list(qs), axis=1)
        got = c.row_quantiles_of_expit(eta, qs)
        assert np.array_equal(want.view(np.int64), got.view(np.int64))


def test_band_does_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    rows = [
        {"ticker": f"F{i}", "scenario": s, **{k: float(rng.normal()) for k in c.CONTINUOUS}}
        | {"private": float(i % 2), "upstream": 0.0}
        for s in ("a", "b", "c")
        for i in range(23)
    ]
    comp = pl.DataFrame(rows)
    stats = c.PeerStats(
        tuple(c.ComponentStats(k, 9, 0.0, 1.0 / c.MAD_TO_SD, 1.0, "ok") for k in c.CONTINUOUS)
    )
    whole = c.uncertainty_band(comp, stats, c.Priors(), n_draws=300, seed=7)
    monkeypatch.setattr(c, "BAND_CHUNK_ROWS", 10)
    chunked = c.uncertainty_band(comp, stats, c.Priors(), n_draws=300, seed=7)
    assert whole.equals(chunked)
    # the blocks and the ranked scenarios on one thread and on two: the same frame
    for threads in (1, 2):
        monkeypatch.setattr(c, "BAND_THREADS", threads)
        assert whole.equals(c.uncertainty_band(comp, stats, c.Priors(), n_draws=300, seed=7))
    assert whole["consolidation_low"].null_count() == 0
    assert (whole["consolidation_low"] < whole["consolidation_high"]).all()


@pytest.mark.parametrize("batch_bytes", [1, 2 * 8 * 400, 32 * 1024**2])
def test_sorted_rows_equal_filter_then_sort(
    monkeypatch: pytest.MonkeyPatch, batch_bytes: int
) -> None:
    # one column per gather, two columns, and the whole frame at once
    monkeypatch.setattr(stages, "SORTED_ROWS_BATCH_BYTES", batch_bytes)
    rng = np.random.default_rng(2)
    n = 400
    frame = pl.DataFrame(
        {
            "ticker": [f"T{i % 7}" for i in range(n)],
            "scenario": [f"s{(i // 7) % 9}" for i in range(n)],
            "quarter_index": [i // 63 for i in range(n)],
            "x": rng.normal(size=n),
            "label": [str(i) for i in range(n)],
        }
    ).sample(fraction=1.0, shuffle=True, seed=1)
    masks = [pl.col("scenario").is_in(["s1", "s4"]), pl.col("ticker") != "T3"]
    want = [frame.filter(m).sort([*KEYS, "quarter_index"]) for m in masks]
    held = [frame]
    got = stages._sorted_rows(held, masks)
    assert held == []
    for a, b in zip(want, got, strict=True):
        assert a.equals(b)
        assert a.height > 0


def test_backtest_cases_are_the_named_cases_of_the_full_frame() -> None:
    inputs = load_inputs(ROOT / "inputs")
    sel = stages.select(inputs, RunOptions())
    bases = stages.stage_bases(inputs, sel)
    full = stages.stage_scenarios(inputs, sel, bases)
    named = stages.stage_scenarios(inputs, sel, bases, with_grid=False)
    names = [s.name for s in full.named]
    assert named.grid == () and full.grid
    assert named.cases.equals(full.cases.filter(pl.col("scenario").is_in(names)))


def test_value_cases_reuses_one_terminal_quarter_with_the_same_values() -> None:
    # value_cases computes the terminal quarter and the explicit PV once for both DCFs;
    # each DCF computing its own (as before) gives the same frames
    from stressmodel.analysis.midcycle import midcycle_dcf
    from stressmodel.analysis.valuation import dcf

    inputs = load_inputs(ROOT / "inputs")
    sel = stages.select(inputs, RunOptions())
    bases = stages.stage_bases(inputs, sel)
    scen = stages.stage_scenarios(inputs, sel, bases)
    proj = stages.stage_projection(scen, sel)
    ctx = stages.valuation_context(inputs, bases, sel)
    got = stages.value_cases(ctx, proj, scen.cases, sel)
    val = dcf(proj, scen.cases, ctx.firm_values, ctx.rate, ctx.growth, sel.horizon).sort(KEYS)
    margins = {t: m.value for t, m in ctx.margins.items()}
    mid = midcycle_dcf(
        proj, scen.cases, ctx.firm_values, margins, ctx.rate, sel.horizon, ctx.drivers
    )
    want = val.join(mid, on=list(KEYS), how="left").sort(KEYS)
    assert got.height == scen.cases.height > 0
    assert got.equals(want)


def test_case_rows_of_a_chunk_equal_the_filter() -> None:
    cases = pl.DataFrame(
        {
            "ticker": ["B", "A", "C", None, "A", "B", "D"],
            "scenario": ["x", "x", "x", "x", "y", "y", "x"],
            "v": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        }
    )
    rows = stages.CaseRows(cases)
    for firms in (["A", "B"], ["B", "A"], ["C"], ["Z"], [], ["A", "A"], ["D", "C", "B", "A"]):
        want = cases.filter(pl.col("ticker").is_in(firms))
        assert rows.of(firms).equals(want), firms
    # on the shipped cases, chunk by chunk
    inputs = load_inputs(ROOT / "inputs")
    sel = stages.select(inputs, RunOptions())
    bases = stages.stage_bases(inputs, sel)
    scen = stages.stage_scenarios(inputs, sel, bases)
    rows = stages.CaseRows(scen.cases)
    for firms in stages.firm_chunks(bases.runnable, bases.universe, 2):
        assert rows.of(firms).equals(scen.cases.filter(pl.col("ticker").is_in(firms)))
