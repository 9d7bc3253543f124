"""valuation.dcf on MagCo (methods.md 9.5), against cash flows worked out by hand."""

from __future__ import annotations

import polars as pl
import pytest
from test_model import NONE, SEED, magco

from stressmodel.analysis.valuation import dcf
from stressmodel.model.engine import project
from stressmodel.model.quarter import ALL_FIRM_PARAMS, SCENARIO_PARAMS

K, G, H = 0.09, 0.02, 8


def value(f: dict[str, float], s: dict[str, float]) -> dict[str, float]:
    row: dict[str, object] = {"ticker": "MAG", "scenario": "x"}
    row.update({f"f_{k}": f[k] for k in ALL_FIRM_PARAMS})
    row.update({f"s_{k}": s[k] for k in SCENARIO_PARAMS})
    intensity = 0.0 if s is NONE else 1.0
    for k in range(1, H + 1):
        row[f"d_intensity_{k}"] = intensity
        row[f"d_raw_material_change_{k}"] = 0.0
    cases = pl.DataFrame([row])
    proj = project(cases, H, [f"q{k}" for k in range(1, H + 1)], 1)
    firm = pl.DataFrame({"ticker": ["MAG"], "shares": [400.0], "net_debt0": [1000.0]})
    return dcf(proj, cases, firm, K, G, H).row(0, named=True)


def d(t: int) -> float:
    return (1 + K) ** (-t / 4)


def test_steady_baseline() -> None:
    """No shock: FCF = EBIT 150 + D&A 80 (no tax, no capex, no working capital) = 230 a
    quarter; the normalised quarter is the same, nothing to release at the horizon."""
    v = value(magco(), NONE)
    pv = sum(230.0 * d(t) for t in range(1, H + 1))
    tv = 4 * 230.0 * (1 + G) / (K - G)
    assert v["pv_fcf"] == pytest.approx(pv, rel=1e-12)
    assert v["tv_fcf"] == pytest.approx(230.0, rel=1e-12)
    assert v["tv_working_capital_release"] == pytest.approx(0.0, abs=1e-9)
    assert v["terminal_value"] == pytest.approx(tv, rel=1e-12)
    ev = pv + d(H) * tv
    assert v["enterprise_value"] == pytest.approx(ev, rel=1e-12)
    assert v["value_per_share"] == pytest.approx((ev - 1000.0) / 400.0, rel=1e-12)


def test_seed_with_stock_released_at_the_horizon() -> None:
    """Seed at full intensity for 8 quarters: stock builds 500 t a quarter (170 at cost),
    storage 2.125 (2t - 1), so FCF_t = EBIT_t + 80 - 170 with EBIT_t = 45 - 2.125 (2t - 1).
    The normalised quarter sells 3,750 t: revenue 1,500 - (0.30 x 3,750 + 200) - 150 =
    EBIT 25, FCF 105. The 4,000 t of excess stock are worth their variable cost at the
    horizon: 1,200."""
    v = value(magco(), SEED)
    fcf = [45 - 2.125 * (2 * t - 1) + 80 - 170 for t in range(1, H + 1)]
    pv = sum(x * d(t) for t, x in enumerate(fcf, start=1))
    assert v["pv_fcf"] == pytest.approx(pv, rel=1e-12)
    assert v["tv_fcf"] == pytest.approx(105.0, rel=1e-12)
    assert v["tv_working_capital_release"] == pytest.approx(1200.0, rel=1e-12)
    tv = 4 * 105.0 * (1 + G) / (K - G)
    ev = pv + d(H) * (1200.0 + tv)
    assert v["enterprise_value"] == pytest.approx(ev, rel=1e-12)
    assert v["value_status"] == "ok"


def test_negative_normalised_cash_flow_floors_the_terminal_value() -> None:
    """A price far below variable cost makes the normalised FCF negative: the terminal
    value is floored at zero (abandonment) and the status says so."""
    f = magco(price_export0=0.2, price_domestic0=0.2)
    v = value(f, NONE)
    assert v["tv_fcf"] < 0
    assert v["terminal_value"] == 0.0
    assert v["value_status"] != "ok"
    assert v["value_per_share"] >= 0.0
