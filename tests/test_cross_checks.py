"""Peer-multiple cross-checks of value per share, against hand-worked numbers."""

from __future__ import annotations

import pytest

from stressmodel.analysis.valuation import cross_checks


def firm(
    t: str,
    mc: float,
    nd: float,
    ebitda: float,
    ni: float,
    be: float,
    shares: float,
    est: bool = False,
) -> dict:
    return {
        "ticker": t,
        "market_cap": mc,
        "net_debt": nd,
        "ebitda": ebitda,
        "net_income": ni,
        "book_equity": be,
        "shares": shares,
        "book_equity_estimated": est,
    }


def test_multiples_leave_one_out_medians_and_implied_values() -> None:
    rows = [
        firm("A", 1000, 100, 110, 50, 500, 100),  # EV/EBITDA 10, P/E 20, P/B 2, ROE 0.10
        firm("B", 2000, 0, 100, 80, 800, 100),  # 20, 25, 2.5, 0.10
        firm("C", 1500, -500, 50, 30, 1000, 100),  # 20, 50, 1.5, 0.03
        firm("D", 900, 300, 120, -10, 600, 100),  # 10, n/a, 1.5, -0.0167
        firm("E", 3000, 0, 200, 100, 1000, 50, est=True),  # 15, 30, 3, 0.1 (estimated equity)
    ]
    df, note = cross_checks(rows)
    a = df.filter(df["ticker"] == "A").row(0, named=True)
    assert (
        a["ev_ebitda"] == pytest.approx(10.0)
        and a["pe"] == pytest.approx(20.0)
        and a["pb"] == pytest.approx(2.0)
    )
    # medians over B, C, D, E: EV/EBITDA (20, 20, 10, 15) -> 17.5; P/E (25, 50, 30) -> 30; P/B (2.5, 1.5, 1.5, 3) -> 2.0
    assert a["peer_median_ev_ebitda"] == pytest.approx(17.5)
    assert a["peer_median_pe"] == pytest.approx(30.0)
    assert a["peer_median_pb"] == pytest.approx(2.0)
    assert a["implied_vps_ev_ebitda"] == pytest.approx((17.5 * 110 - 100) / 100)
    assert a["implied_vps_pe"] == pytest.approx(30 * 50 / 100)
    d = df.filter(df["ticker"] == "D").row(0, named=True)
    assert (
        d["pe"] is None
        and d["pe_status"] == "n/a: non-positive net income"
        and d["implied_vps_pe"] is None
    )
    # the regression leaves out E (estimated equity): fitted on 4 firms; E gets no warranted P/B
    assert "n = 4" in note
    e = df.filter(df["ticker"] == "E").row(0, named=True)
    assert e["pb_warranted"] is None and e["pb_regression_status"].startswith(
        "n/a: book equity is an estimate"
    )
    assert (
        a["pb_residual"] == pytest.approx(a["pb"] - a["pb_warranted"])
        and a["pb_regression_status"] == "ok"
    )
    # OLS by hand on (ROE, P/B) = (0.10, 2), (0.10, 2.5), (0.03, 1.5), (-1/60, 1.5)
    import numpy as np

    x = np.array([0.10, 0.10, 0.03, -10 / 600])
    y = np.array([2.0, 2.5, 1.5, 1.5])
    slope, intercept = np.polyfit(x, y, 1)
    assert a["pb_warranted"] == pytest.approx(intercept + slope * 0.10)


def test_regression_needs_four_firms() -> None:
    rows = [
        firm("A", 1000, 0, 100, 50, 500, 10),
        firm("B", 800, 0, 100, 40, 500, 10),
        firm("C", 900, 0, 90, 45, 400, 10, est=True),
    ]
    df, note = cross_checks(rows)
    assert note.startswith("n/a: P/B on ROE needs at least 4 firms")
    assert df["pb_warranted"].is_null().all()
