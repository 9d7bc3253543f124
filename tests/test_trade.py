"""The trade-implied export path from China's monthly magnet exports."""

from __future__ import annotations

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
    # April-June 2025 are the only months since the controls: too few to fit, June held flat
    june = 3188 / (58152 / 12)
    assert tp.loss[q + 1] == pytest.approx(1 - june)
    assert "not fitted" in tp.status
    assert max(m for m, _v, _b in tp.history) == month_index(2025, 6)


def test_fitted_forecast_after_six_months(rows: tuple) -> None:
    q = parse_quarter("2025Q3")
    tp = trade_path(rows, month_index(2025, 9), [q + k for k in range(1, 5)], "2025-04", 2024, 0.1)
    assert tp.forecast, tp.status
    for _m, mean, lo, hi in tp.forecast:
        assert lo is None or lo <= mean <= hi
    assert all(0.0 <= v <= 1.0 for v in tp.loss.values())


def test_no_loss_before_the_controls(rows: tuple) -> None:
    q = parse_quarter("2025Q1")
    tp = trade_path(rows, month_index(2025, 3), [q + 1], "2025-04", 2024, 0.1)
    assert tp.loss == {q + 1: 0.0}
    assert "after the as-of date" in tp.status
