"""Back-test in every run (issue 14, item 9): earlier as-of quarters, data discipline
(nothing dated after the back-test as-of enters it) and the tracking table."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stressmodel.inputs.load import Inputs, load_inputs
from stressmodel.inputs.periods import month_index, parse_quarter, quarter_end_date
from stressmodel.pipeline.backtest import backtest_as_ofs, backtest_projection
from stressmodel.pipeline.stages import RunOptions, run_model
from stressmodel.run.app import compare_with_earlier
from stressmodel.run.tables import backtest_table, summary_text

ROOT = Path(__file__).resolve().parents[1]
NAMED = ("603072.SH", "300224.SZ", "300127.SZ")
Q1, Q2, Q3 = (parse_quarter(f"2025Q{k}") for k in (1, 2, 3))


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return load_inputs(ROOT / "inputs")


def poisoned(inputs: Inputs, after: int) -> Inputs:
    """Every statement figure, price and trade month dated after quarter ``after``
    multiplied by 7 (a back-test that read any of them would change)."""
    end = quarter_end_date(after)
    last_month = month_index(end.year, end.month)
    return replace(
        inputs,
        statements={
            t: tuple({**r, "value": r["value"] * 7} if r["end"] > after else r for r in rows)
            for t, rows in inputs.statements.items()
        },
        prices=tuple(
            {**r, "value": r["value"] * 7} if r["date"] > end else r for r in inputs.prices
        ),
        trade=tuple(
            {**r, "tonnes": r["tonnes"] * 7} if r["last"] > last_month else r for r in inputs.trade
        ),
    )


def test_earlier_as_ofs_start_before_the_controls(inputs: Inputs) -> None:
    assert backtest_as_ofs(inputs, Q3) == [Q1, Q2]
    assert backtest_as_ofs(inputs, Q2) == [Q1]
    assert backtest_as_ofs(inputs, Q1) == []


def test_nothing_dated_after_the_as_of_enters_a_back_test(inputs: Inputs) -> None:
    clean = backtest_projection(inputs, NAMED, Q1, 8)
    dirty = backtest_projection(poisoned(inputs, Q1), NAMED, Q1, 8)
    assert clean.height > 0
    assert_frame_equal(clean, dirty)
    # and the poison is real: a run as of a later quarter does see it
    later = backtest_projection(inputs, NAMED, Q3, 8)
    later_dirty = backtest_projection(poisoned(inputs, Q1), NAMED, Q3, 8)
    assert not later.equals(later_dirty)


def test_tracking_from_the_back_test_in_a_run_without_earlier_folders(inputs: Inputs) -> None:
    """As of 2025Q3 with no earlier output folders, tracking still compares the 2025Q1 and
    2025Q2 back-tests with the actuals; Zhenghai's revenue error as of 2025Q1 is the
    baseline projection against the reported 2025Q2 and 2025Q3 quarters."""
    result = run_model(inputs.as_of(Q3), RunOptions(as_of=Q3, firms=NAMED))
    frames, info = compare_with_earlier(result, inputs, [])
    tracking = frames["tracking"]
    assert set(tracking["forecast_source"]) == {"back-test"}
    assert info["backtest_as_of"] == ["2025Q1", "2025Q2"]
    z = tracking.filter(
        (pl.col("ticker") == "300224.SZ")
        & (pl.col("forecast_as_of") == "2025Q1")
        & (pl.col("scenario") == "baseline")
        & (pl.col("item") == "revenue")
    ).sort("quarter")
    assert z["quarter"].to_list() == ["2025Q2", "2025Q3"]
    assert z["actual"].to_list() == pytest.approx([1598.61, 1915.712])
    proj = backtest_projection(inputs, NAMED, Q1, 8).filter(
        (pl.col("ticker") == "300224.SZ")
        & (pl.col("scenario") == "baseline")
        & (pl.col("quarter_index") <= Q3)
    )
    assert z["projected"].to_list() == pytest.approx(
        proj.sort("quarter_index")["revenue"].to_list()
    )
    mape = z["abs_pct_error"].mean()
    assert z["item_mape"][0] == pytest.approx(mape)
    table = backtest_table(tracking)
    best = table.filter(pl.col("scenario_rank") == 1)
    assert best.select("ticker", "forecast_as_of").is_unique().all()
    text = summary_text(replace(result, extras={**result.extras, **frames}))
    assert "back-test" in text and "tracked best" in text
