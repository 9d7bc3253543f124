"""The trade-implied export path from China's monthly magnet exports."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import month_index, parse_quarter
from stressmodel.model.trade import monthly_world, reference_level, trade_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rows() -> tuple:
    return load_inputs(ROOT / "inputs").trade


def test_reference_level_is_the_2024_total_over_twelve(rows: tuple) -> None:
    assert reference_level(rows, 2024) == pytest.approx(58152 / 12)


def test_missing_month_is_derived_from_a_cumulative_row(rows: tuple) -> None:
    months = monthly_world(rows)
    jan26 = months[month_index(2026, 1)]
    # Jan-Feb 2026 cumulative 10,763 t minus February 4,740 t (itself DERIVED from March's m/m)
    assert jan26[0] == pytest.approx(10763 - 4740)
    assert jan26[1].startswith("derived")
    assert months[month_index(2025, 5)] == (1238.0, "reported")


def test_quarterly_loss_uses_only_data_up_to_the_as_of_month(rows: tuple) -> None:
    q = parse_quarter("2025Q2")
    tp = trade_path(rows, month_index(2025, 6), [q + 1, q + 2], "2025-04", 2024, 0.1)
    # April-June 2025 are the only months since the controls: too few to fit (fewer than
    # 4), so the fallback rule closes the gap to the reference level with a 3-month
    # half-life in logs instead of holding June flat for ever
    june = 3188 / (58152 / 12)
    path = [math.exp(math.log(june) * 0.5 ** (h / 3)) for h in range(1, 7)]
    assert tp.loss[q + 1] == pytest.approx(1 - sum(path[:3]) / 3, rel=1e-12)
    assert tp.loss[q + 2] == pytest.approx(1 - sum(path[3:]) / 3, rel=1e-12)
    assert tp.loss[q + 2] < tp.loss[q + 1] < 1 - june  # not a flat permanent loss
    assert "fallback" in tp.status
    assert max(m for m, _v, _b in tp.history) == month_index(2025, 6)


def test_fitted_forecast_after_six_months(rows: tuple) -> None:
    q = parse_quarter("2025Q3")
    tp = trade_path(rows, month_index(2025, 9), [q + k for k in range(1, 5)], "2025-04", 2024, 0.1)
    assert tp.forecast, tp.status
    for _m, mean, lo, hi in tp.forecast:
        assert lo is None or lo <= mean <= hi
    # a loss below 0 is exports above the reference level; the index is bounded to [0.05, 2]
    assert all(1.0 - 2.0 <= v <= 1.0 - 0.05 for v in tp.loss.values())


def test_forecast_as_of_2025q3_covers_the_following_months_and_stays_bounded(rows: tuple) -> None:
    """Issue 14 item 6: fitted as of 2025Q3 (April-September 2025), the 90% interval holds
    at least 4 of the 6 following actual months of trade.csv and never exceeds 2x the
    reference level, however far it runs."""
    ref = 58152 / 12
    q = parse_quarter("2025Q3")
    visible = [r for r in rows if r["last"] <= month_index(2025, 9)]
    tp = trade_path(
        visible, month_index(2025, 9), [q + k for k in range(1, 13)], "2025-04", 2024, 0.1
    )
    assert "fitted" in tp.status and "fallback" not in tp.status, tp.status
    actual = {m: v / ref for m, (v, _b) in monthly_world(rows).items()}
    following = [month_index(2025, 10) + k for k in range(6)]
    assert all(m in actual for m in following)  # Oct-2025 .. Mar-2026 are in trade.csv
    band = {m: (lo, hi) for m, _mean, lo, hi in tp.forecast}
    inside = [m for m in following if band[m][0] <= actual[m] <= band[m][1]]
    assert len(inside) >= 4, (inside, [(actual[m], band[m]) for m in following])
    assert len(tp.forecast) >= 36  # three years of months
    assert all(hi <= 2.0 + 1e-12 and mean <= 2.0 + 1e-12 for _m, mean, _lo, hi in tp.forecast)
    assert all(lo >= 0.05 - 1e-12 for _m, _mean, lo, _hi in tp.forecast)


def test_no_loss_before_the_controls(rows: tuple) -> None:
    q = parse_quarter("2025Q1")
    tp = trade_path(rows, month_index(2025, 3), [q + 1], "2025-04", 2024, 0.1)
    assert tp.loss == {q + 1: 0.0}
    assert "after the as-of date" in tp.status
