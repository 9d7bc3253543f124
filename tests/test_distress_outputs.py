"""Distress outputs that move (issue 14, item 8): debt at risk on trailing-four-quarter
interest cover, retained earnings for Altman X2, distance to default on the stressed
asset value."""

from __future__ import annotations

import polars as pl
import pytest

from stressmodel.analysis import risk
from stressmodel.model.retained import opening_retained_earnings


def qm_frame(rows: list[tuple[str, str, int, float, float, float, float]]) -> pl.DataFrame:
    """(ticker, scenario, step, ebit, interest, ebit_ttm, interest_ttm) per quarter."""
    return pl.DataFrame(
        [
            {
                "ticker": t,
                "scenario": s,
                "step": k,
                "quarter": f"2025Q{k}",
                "ebit": e,
                "interest_expense": i,
                "interest_cover": e / i,
                "ebit_ttm": et,
                "interest_expense_ttm": it,
            }
            for t, s, k, e, i, et, it in rows
        ]
    )


def test_debt_at_risk_on_trailing_four_quarters() -> None:
    """A's TTM cover falls to 35/40 < 1 in quarter 2: at risk from 2025Q2. B dips below 1
    in one quarter only (5 on 10) while its TTM cover stays at 95/40. C never dips. Debt
    600 / 300 / 100: DaR = 600 / 1,000 = 0.6; on single quarters B would count too (0.9)."""
    rows = [
        ("A", "x", 1, 10.0, 10.0, 40.0, 40.0),
        ("A", "x", 2, 5.0, 10.0, 35.0, 40.0),
        ("B", "x", 1, 30.0, 10.0, 100.0, 40.0),
        ("B", "x", 2, 5.0, 10.0, 95.0, 40.0),
        ("C", "x", 1, 50.0, 10.0, 200.0, 40.0),
        ("C", "x", 2, 50.0, 10.0, 200.0, 40.0),
    ]
    debt = pl.DataFrame({"ticker": ["A", "B", "C"], "debt": [600.0, 300.0, 100.0]})
    out = risk.debt_at_risk_by_scenario(qm_frame(rows), debt).row(0, named=True)
    assert out["dar_share"] == pytest.approx(0.6, rel=1e-12)
    assert out["n_at_risk"] == 1
    assert out["first_quarter_at_risk"] == "2025Q2"
    assert out["firms_at_risk"] == "A (2025Q2)"
    assert out["icr_basis"] == "trailing four quarters"
    assert out["dar_share_single_quarter"] == pytest.approx(0.9, rel=1e-12)


def test_debt_at_risk_none_at_risk() -> None:
    rows = [("A", "x", 1, 50.0, 10.0, 200.0, 40.0), ("B", "x", 1, 50.0, 10.0, 200.0, 40.0)]
    debt = pl.DataFrame({"ticker": ["A", "B"], "debt": [600.0, 300.0]})
    out = risk.debt_at_risk_by_scenario(qm_frame(rows), debt).row(0, named=True)
    assert (
        out["dar_share"] == 0.0
        and out["first_quarter_at_risk"] is None
        and out["firms_at_risk"] == ""
    )


def row(period: str, end: int, span: int, item: str, value: float) -> dict[str, object]:
    return {
        "period": period,
        "end": end,
        "span": span,
        "kind": "YTD",
        "item": item,
        "value": value,
        "source": "s",
    }


Q = 2025 * 4  # 2025Q1


def test_retained_earnings_reported_estimated_missing() -> None:
    ni = [
        row("FY2023", Q - 5, 4, "net_income", 100.0),
        row("FY2024", Q - 1, 4, "net_income", 50.0),
        row("2025Q1", Q, 1, "net_income", 10.0),
        row("2025H1", Q + 1, 2, "net_income", 25.0),
        row("2025-9M", Q + 2, 3, "net_income", 999.0),  # after the as-of: never used
    ]
    est = opening_retained_earnings("T", ni, Q + 1)
    assert est.basis == "estimated" and est.value == pytest.approx(175.0)
    assert "FY2023, FY2024, 2025H1" in est.how and "estimate" in est.how
    rep = opening_retained_earnings(
        "T", [*ni, row("2024Q4", Q - 1, 1, "retained_earnings", 1234.0)], Q + 1
    )
    assert rep.basis == "reported" and rep.value == 1234.0
    stale = opening_retained_earnings(
        "T", [*ni, row("2023Q4", Q - 5, 1, "retained_earnings", 1.0)], Q + 1
    )
    assert stale.basis == "estimated"  # a balance older than four quarters is not used
    none = opening_retained_earnings("T", [], Q)
    assert none.basis == "missing" and none.how.startswith("n/a")


def test_distance_to_default_moves_with_the_stressed_asset_value() -> None:
    """Market cap 1,000, default point 500: assets 1,500. A scenario whose enterprise value
    is 60% of the baseline's puts assets at 900 and equity at 900 - 500 = 400."""
    cases = pl.DataFrame(
        {
            "ticker": ["T", "T"],
            "scenario": ["baseline", "stress"],
            "market_cap": [1000.0, 1000.0],
            "default_point": [500.0, 500.0],
            "equity_volatility": [0.4, 0.4],
            "past_year_return": [0.0, 0.0],
            "shares": [100.0, 100.0],
            "value_per_share": [5.0, 4.9],
            "enterprise_value": [1000.0, 600.0],
        }
    )
    out = risk.distance_to_default(cases).sort("scenario")
    base, stress = out.row(0, named=True), out.row(1, named=True)
    assert base["stressed_equity"] == pytest.approx(1000.0)
    assert stress["asset_value_ratio"] == pytest.approx(0.6)
    assert stress["stressed_equity"] == pytest.approx(400.0)
    assert stress["distance_to_default"] < base["distance_to_default"] - 1.0


def test_distance_to_default_prefers_the_midcycle_enterprise_value() -> None:
    cases = pl.DataFrame(
        {
            "ticker": ["T", "T"],
            "scenario": ["baseline", "stress"],
            "market_cap": [1000.0, 1000.0],
            "default_point": [500.0, 500.0],
            "equity_volatility": [0.4, 0.4],
            "past_year_return": [0.0, 0.0],
            "shares": [100.0, 100.0],
            "value_per_share": [5.0, 0.0],
            "enterprise_value": [1000.0, 0.0],
            "enterprise_value_midcycle": [2000.0, 1600.0],
        }
    )
    stress = (
        risk.distance_to_default(cases).filter(pl.col("scenario") == "stress").row(0, named=True)
    )
    assert stress["asset_value_ratio"] == pytest.approx(0.8)
    assert stress["stressed_equity"] == pytest.approx(1500.0 * 0.8 - 500.0)
    assert "enterprise_value_midcycle" in stress["asset_value_basis"]
