"""Issue 14 Must-shows on the shipped inputs (default run): every firm has a solved
price-implied axis and the end-of-run summary prints them; debt at risk differs between
baseline and the harshest grid cell; Altman X2 never rests on a silent zero."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from stressmodel.inputs.load import load_inputs
from stressmodel.pipeline.stages import RunOptions, RunResult, run_model
from stressmodel.run.tables import summary_table, summary_text

ROOT = Path(__file__).resolve().parents[1]
AXES = (
    "implied_midcycle_margin",
    "implied_revenue_growth_5y",
    "implied_perpetual_growth",
    "implied_export_shock",
)


@pytest.fixture(scope="module")
def result() -> RunResult:
    return run_model(load_inputs(ROOT / "inputs"), RunOptions())


def test_every_firm_has_a_solved_price_implied_axis(result: RunResult) -> None:
    rev = result.extras["reverse_stress"]
    assert rev.columns[:9] == [
        "ticker",
        "share_price",
        "price_date",
        "implied_midcycle_margin",
        "implied_midcycle_margin_status",
        "implied_revenue_growth_5y",
        "implied_revenue_growth_5y_status",
        "implied_perpetual_growth",
        "implied_perpetual_growth_status",
    ]
    assert {"implied_growth", "implied_growth_status", "implied_export_shock"} <= set(rev.columns)
    assert rev.height == len(result.tickers)
    for r in rev.iter_rows(named=True):
        solved = [a for a in AXES if r[a] is not None]
        assert solved, f"{r['ticker']}: no price-implied axis solved"
        for a in AXES[:3]:
            assert (r[a] is not None) == r[f"{a}_status"].startswith("solved"), (r["ticker"], a)


def test_summary_text_leads_with_the_price_implied_axes(result: RunResult) -> None:
    text = summary_text(result)
    block = text.index("what today's price implies")
    assert block < text.index("value/sh")  # before the scenario table
    rev = result.extras["reverse_stress"]
    for r in rev.iter_rows(named=True):
        line = next(
            ln for ln in text.splitlines() if ln.strip().startswith(r["ticker"]) and "%" in ln
        )
        for a in AXES[:3]:
            if r[a] is not None:
                assert f"{r[a]:.1%}" in line


def test_summary_has_both_dcfs_and_the_peer_range(result: RunResult) -> None:
    s = summary_table(result)
    cols = s.columns
    for c in ("value_per_share", "value_per_share_midcycle", "peer_vps_low", "peer_vps_high"):
        assert c in cols
    assert cols.index("value_per_share_midcycle") == cols.index("value_per_share") + 2
    named = s.filter(pl.col("scenario_kind") == "named")
    assert named["value_per_share_midcycle"].null_count() == 0
    ok = named.filter(pl.col("peer_vps_low").is_not_null())
    assert (ok["peer_vps_low"] <= ok["peer_vps_high"]).all()


def test_debt_at_risk_differs_between_baseline_and_the_harshest_grid_cell(
    result: RunResult,
) -> None:
    dar = result.extras["debt_at_risk"]
    grid = result.summary.filter(pl.col("scenario_kind") == "grid")
    harsh = grid.sort(["export_shock", "output_cut"]).tail(1)["scenario"][0]
    base = dar.filter(pl.col("scenario") == "baseline")["dar_share"][0]
    worst = dar.filter(pl.col("scenario") == harsh)["dar_share"][0]
    assert worst > base + 0.1
    assert set(dar["icr_basis"]) == {"trailing four quarters"}


def test_retained_earnings_are_reported_or_labelled(result: RunResult) -> None:
    act = result.extras["actual_metrics"]
    assert set(act["retained_earnings_basis"]) <= {"reported", "estimated"}
    assert (act["retained_earnings"] != 0).all()
