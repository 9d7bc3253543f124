"""Value per share and the reverse stress test (methods.md section 8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import scenario

from stressmodel.analysis.reverse import pair_rows, plug_back, reverse_stress
from stressmodel.analysis.valuation import (
    annuity_factor,
    dcf,
    implied_growth,
    implied_shock_closed_form,
    shocked_ev_sum,
    solve_bracketed,
)
from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import parse_quarter
from stressmodel.inputs.scenarios import Scenario
from stressmodel.model.base import compute_bases
from stressmodel.model.cases import case_frame, scenario_frame
from stressmodel.model.engine import project

ROOT = Path(__file__).resolve().parents[1]
AS_OF = parse_quarter("2025Q2")
H = 8


def test_reverse_dcf_of_methods_8_3() -> None:
    """FCF1 = 1,000, k = 9%, g = 2%, loss 1,600 x s in years 1-3, market EV 13,000:
    s* = 0.317455 in closed form; brentq on the 400-year sum agrees to 1e-9; the implied
    perpetual growth at zero shock is 0.013077."""
    assert annuity_factor(0.09, 3) == pytest.approx(2.531295, abs=5e-7)
    s = implied_shock_closed_form(1000, 0.09, 0.02, 1600, 3, 13000)
    assert round(s, 6) == 0.317455
    s_num = solve_bracketed(
        lambda x: shocked_ev_sum(1000, 0.09, 0.02, 1600, x, 3) - 13000, 0.0, 1.0
    )
    assert abs(s_num - s) < 1e-9
    assert round(implied_growth(1000, 0.09, 13000), 6) == 0.013077


@pytest.fixture(scope="module")
def setting() -> tuple[pl.DataFrame, pl.DataFrame, object]:
    inputs = load_inputs(ROOT / "inputs")
    bases = compute_bases(inputs, AS_OF)
    firms = bases.frame()
    values = pl.DataFrame(
        {
            "ticker": list(bases.firms),
            "shares": [bases.firms[t].get("shares") for t in bases.firms],
            "net_debt0": [
                bases.firms[t].value("total_debt") - bases.firms[t].value("cash")
                for t in bases.firms
            ],
        }
    )
    return firms, values, inputs


def _scenario(name: str, **kw: object) -> Scenario:
    """The seed family: a 15% cut, storage costs and 45-day licence delays by default."""
    seed = {"output_cut": 0.15, "storage_cost_rate": 0.1, "licence_delay_days": 45.0}
    return scenario(name, **{**seed, **kw})


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    shocks=st.lists(st.floats(0, 1), min_size=2, max_size=6),
    duration=st.integers(0, 8),
    recovery=st.integers(0, 6),
    permanent=st.floats(0, 1),
    cut=st.floats(0, 0.3),
    delay=st.floats(0, 45),
)
def test_value_per_share_never_rises_with_the_export_shock(
    setting, shocks, duration, recovery, permanent, cut, delay
) -> None:  # type: ignore[no-untyped-def]
    firms, values, _inputs = setting
    shocks = sorted(shocks)
    sc = [
        _scenario(
            f"s{i}",
            export_shock=s,
            duration_quarters=duration,
            recovery_quarters=recovery,
            permanent_share=permanent,
            output_cut=cut,
            licence_delay_days=delay,
        )
        for i, s in enumerate(shocks)
    ]
    cases = case_frame(firms, scenario_frame(sc, AS_OF, H, None))
    proj = project(cases, H, [f"q{k}" for k in range(1, H + 1)], AS_OF + 1)
    val = dcf(proj, cases, values, 0.09, 0.02, H)
    piv = val.pivot(on="scenario", index="ticker", values="equity_value").sort("ticker")
    m = piv.select([f"s{i}" for i in range(len(shocks))]).to_numpy()
    rises = np.diff(m, axis=1) - 1e-9 * np.maximum(1.0, np.abs(m[:, :-1]))
    assert (rises <= 0).all(), f"equity value rose with the shock: {np.max(rises)}"


def test_plugging_the_solved_shock_back_reproduces_the_price(setting) -> None:  # type: ignore[no-untyped-def]
    """Give each firm a price equal to its modelled value at a known permanent shock, solve
    for the shock with the reverse stress test, and plug it back: the modelled value is
    the price within 0.1% (and the shock is the known one)."""
    firms, values, inputs = setting
    known = {
        t: s
        for t, s in zip(firms["ticker"].to_list(), np.linspace(0.1, 0.6, firms.height), strict=True)
    }
    at_known = plug_back(firms, values, inputs.scenarios, AS_OF, H, 0.09, 0.02, known)
    prices = {t: v for t, v in at_known.items() if v is not None and v > 0}
    rev = reverse_stress(
        firms.filter(pl.col("ticker").is_in(list(prices))),
        values,
        prices,
        {t: "2025-06-30" for t in prices},
        inputs.scenarios,
        AS_OF,
        H,
        0.09,
        0.01,
        0.02,
    )
    solved = {r["ticker"]: r["implied_export_shock"] for r in rev.iter_rows(named=True)}
    assert all(v is not None for v in solved.values()), rev.select("ticker", "status")
    back = plug_back(firms, values, inputs.scenarios, AS_OF, H, 0.09, 0.02, solved)  # type: ignore[arg-type]
    for t, price in prices.items():
        assert back[t] == pytest.approx(price, rel=1e-3)
        assert solved[t] == pytest.approx(known[t], abs=1e-6)


def test_a_price_above_the_no_shock_value_is_a_status_not_an_error(setting) -> None:  # type: ignore[no-untyped-def]
    firms, values, inputs = setting
    one = firms.head(1)
    t = one["ticker"][0]
    rev = reverse_stress(
        one, values, {t: 1e4}, {t: "2025-06-30"}, inputs.scenarios, AS_OF, H, 0.09, 0.01, 0.02
    )
    row = rev.row(0, named=True)
    assert row["implied_export_shock"] is None
    assert row["status"].startswith(
        "no shock in [0, 1] explains the price: it is above even the no-shock value by "
    )
    assert row["status"].endswith("%")
    assert row["implied_growth"] is not None and 0.02 < row["implied_growth"] < 0.09


def _frame_metrics(firms, values, prices, shocks, metric, scenarios, rate, width, growth):  # type: ignore[no-untyped-def]
    """The reverse stress test's metrics the way it computed them before the array
    evaluator: one polars case frame, projection and DCF per evaluation (the reference)."""
    from stressmodel.model.cases import per_firm_case_frame
    from stressmodel.model.engine import KEYS

    sc = [scenarios.reverse_scenario(float(s), H, name=f"r{i}") for i, s in enumerate(shocks)]
    scen = scenario_frame(sc, AS_OF, H, None)
    cases = per_firm_case_frame(firms, scen)
    proj = project(cases, H, [f"q{k}" for k in range(1, H + 1)], AS_OF + 1, backend="polars")
    out = np.full(firms.height, np.nan)
    idx = {
        (t, s): i for i, (t, s) in enumerate(zip(firms["ticker"], scen["scenario"], strict=True))
    }
    for m, r in (
        ("value", rate),
        ("value_low_rate", rate - width),
        ("value_high_rate", rate + width),
    ):
        for row in dcf(proj, cases, values, r, growth, H).iter_rows(named=True):
            i = idx[(row["ticker"], row["scenario"])]
            price, vps = prices.get(row["ticker"]), row["value_per_share"]
            if metric[i] == m:
                out[i] = np.nan if price is None or vps is None else vps - price
    agg = proj.group_by(KEYS).agg(
        (pl.col("cash") - pl.col("revolver")).min().alias("net"),
        (pl.col("ebit") / pl.col("interest_expense"))
        .filter(pl.col("interest_expense") > 1e-9)
        .min()
        .alias("icr"),
        pl.col("interest_expense").min().alias("interest"),
    )
    min_cash = dict(zip(firms["ticker"], firms["f_min_cash"], strict=True))
    for row in agg.iter_rows(named=True):
        i = idx[(row["ticker"], row["scenario"])]
        if metric[i] == "cash":
            out[i] = row["net"] - min_cash[row["ticker"]]
        elif metric[i] == "icr":
            out[i] = np.nan if row["icr"] is None or row["interest"] <= 1e-9 else row["icr"] - 1.0
    return out


def test_the_array_evaluator_equals_the_frame_evaluation(setting) -> None:  # type: ignore[no-untyped-def]
    """The reverse stress test's numpy evaluator (kernel + array DCF) gives the metrics of
    the polars engine and polars DCF, at shocks across [0, 1], to 1e-12 of their scale."""
    from stressmodel.analysis.reverse import METRICS, _Metrics

    firms, values, inputs = setting
    tick = firms["ticker"].to_list()
    pairs = [(t, m) for t in tick for m in METRICS]
    rows = pl.concat([firms.filter(pl.col("ticker") == t) for t, _m in pairs])
    metric = [m for _t, m in pairs]
    prices = {t: 5.0 + i for i, t in enumerate(tick)}
    g = _Metrics(rows, values, prices, metric, inputs.scenarios, AS_OF, H, 0.09, 0.01, 0.02)
    rng = np.random.default_rng(7)
    for shocks in (np.zeros(len(pairs)), np.ones(len(pairs)), rng.uniform(0, 1, len(pairs))):
        got = g(shocks)
        want = _frame_metrics(
            rows, values, prices, shocks, metric, inputs.scenarios, 0.09, 0.01, 0.02
        )
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
        ok = np.isfinite(want)
        assert ok.sum() >= len(tick) * 3
        scale = np.maximum(1.0, np.abs(want[ok]))
        assert np.max(np.abs(got[ok] - want[ok]) / scale) < 1e-12


def test_dcf_arrays_equals_the_frame_dcf(setting) -> None:  # type: ignore[no-untyped-def]
    from stressmodel.analysis.valuation import dcf_arrays, terminal_quarter

    firms, values, _inputs = setting
    sc = [_scenario(f"s{i}", export_shock=s) for i, s in enumerate((0.0, 0.3, 0.9))]
    cases = case_frame(firms, scenario_frame(sc, AS_OF, H, None))
    proj = project(cases, H, [f"q{k}" for k in range(1, H + 1)], AS_OF + 1)
    want = dcf(proj, cases, values, 0.09, 0.02, H).sort("ticker", "scenario")
    tq = (
        terminal_quarter(proj, cases, H)
        .join(values, on="ticker", how="left")
        .sort("ticker", "scenario")
    )
    fcf = np.stack(
        [
            proj.filter(pl.col("step") == k).sort("ticker", "scenario")["fcf"].to_numpy()
            for k in range(1, H + 1)
        ]
    )
    got = dcf_arrays(
        fcf,
        tq["tv_fcf"].to_numpy(),
        tq["tv_working_capital_release"].to_numpy(),
        tq["net_debt0"].to_numpy(),
        tq["shares"].fill_null(np.nan).to_numpy(),
        0.09,
        0.02,
    )
    ref = want["value_per_share"].fill_null(np.nan).to_numpy()
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(ref))
    ok = np.isfinite(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-12, atol=1e-12)


def test_scenario_arrays_hold_the_scenario_frames_numbers(setting) -> None:  # type: ignore[no-untyped-def]
    from stressmodel.model.cases import scenario_arrays
    from stressmodel.model.quarter import DRIVERS, SCENARIO_PARAMS

    _firms, _values, inputs = setting
    sc = [
        *(
            inputs.scenarios.reverse_scenario(s, H, name=f"r{i}")
            for i, s in enumerate((0.0, 0.37, 1.0))
        ),
        *(
            _scenario(f"s{i}", export_shock=s, duration_quarters=3)
            for i, s in enumerate((0.2, 0.6))
        ),
    ]
    frame = scenario_frame(sc, AS_OF, H, None)
    S, D = scenario_arrays(sc, AS_OF, H, None)
    np.testing.assert_array_equal(S, frame.select([f"s_{p}" for p in SCENARIO_PARAMS]).to_numpy().T)
    for j, p in enumerate(DRIVERS):
        np.testing.assert_array_equal(
            D[j], frame.select([f"d_{p}_{k}" for k in range(1, H + 1)]).to_numpy().T
        )


def test_the_shock_template_equals_building_every_scenario(setting) -> None:  # type: ignore[no-untyped-def]
    """The evaluator reuses the reverse scenario's arrays with only the export shock set
    (checked at construction); building every scenario gives the same metrics to the bit,
    also for repeated pairs (several candidate shocks per pair)."""
    from stressmodel.analysis.reverse import METRICS, _Metrics

    firms, values, inputs = setting
    tick = firms["ticker"].to_list()
    pairs = [(t, m) for t in tick for m in METRICS]
    rows = pl.concat([firms.filter(pl.col("ticker") == t) for t, _m in pairs])
    prices = {t: 4.0 + i for i, t in enumerate(tick)}
    g = _Metrics(
        rows, values, prices, [m for _t, m in pairs], inputs.scenarios, AS_OF, H, 0.09, 0.01, 0.02
    )
    assert g.template is not None
    rng = np.random.default_rng(11)
    owner = rng.integers(0, len(pairs), 3 * len(pairs))
    shocks = rng.uniform(0, 1, owner.size)
    fast = g(shocks, owner)
    g.template = None
    np.testing.assert_array_equal(fast, g(shocks, owner))
    np.testing.assert_array_equal(
        g(shocks[: len(pairs)]), g(shocks[: len(pairs)], np.arange(len(pairs)))
    )


def test_pair_rows_equal_one_filter_per_pair() -> None:
    firms = pl.DataFrame({"ticker": ["A", "B", "A", None, "C"], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    for tickers in (["A", "A", "B", "C", "C"], ["C", "Z", "A"], [None, "B"], []):
        want = (
            pl.concat(
                [
                    firms.filter(pl.col("ticker").eq_missing(t) & pl.lit(t is not None))
                    for t in tickers
                ]
            )
            if tickers
            else firms.clear()
        )
        got = pair_rows(firms, tickers)  # type: ignore[arg-type]
        assert got.equals(want), tickers
    assert pair_rows(firms, ["A", "B"])["x"].to_list() == [1.0, 3.0, 2.0]


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_reverse_stress_is_the_same_whatever_the_levels_per_evaluation(
    setting, monkeypatch: pytest.MonkeyPatch, levels: int
) -> None:  # type: ignore[no-untyped-def]
    """levels_for picks the bisection levels per projection by the number of pairs; the
    solved shocks and statuses are those of LEVELS per projection to the bit."""
    import stressmodel.analysis.reverse as rv

    firms, values, inputs = setting
    prices = {t: 3.0 + i for i, t in enumerate(firms["ticker"].to_list())}
    args = (
        firms,
        values,
        prices,
        {t: "2025-06-30" for t in prices},
        inputs.scenarios,
        AS_OF,
        H,
        0.09,
        0.01,
        0.02,
    )
    monkeypatch.setattr(rv, "levels_for", lambda _n, xtol=rv.XTOL: rv.LEVELS)
    want = reverse_stress(*args)
    monkeypatch.setattr(rv, "levels_for", lambda _n, xtol=rv.XTOL: levels)
    got = reverse_stress(*args)
    assert got.equals(want)
    assert want["implied_export_shock"].drop_nulls().len() > 0


def test_levels_for_takes_several_levels_on_few_pairs_and_one_on_many() -> None:
    from stressmodel.analysis.reverse import LEVELS, levels_for

    assert levels_for(5) == LEVELS
    assert 1 < levels_for(35) <= LEVELS
    assert levels_for(5000) == 1
    assert all(1 <= levels_for(n) <= LEVELS for n in range(0, 3000, 7))
