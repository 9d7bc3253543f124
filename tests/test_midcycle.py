"""The mid-cycle DCF and the price-implied axes on MagCo (methods.md 9.5), against cash
flows worked out by hand, and the through-the-cycle margin from fiscal-year rows."""

from __future__ import annotations

import polars as pl
import pytest
from test_model import NONE, SEED, magco

from stressmodel.analysis.midcycle import (
    MidCycleDrivers,
    midcycle_dcf,
    post_horizon_value,
    post_horizon_value_scalar,
    price_implied,
    terminal_frame,
)
from stressmodel.analysis.valuation import dcf
from stressmodel.model.engine import project
from stressmodel.model.quarter import ALL_FIRM_PARAMS, SCENARIO_PARAMS
from stressmodel.model.through_cycle import midcycle_margin

K, G, H = 0.09, 0.02, 8
FIRM = pl.DataFrame({"ticker": ["MAG"], "shares": [400.0], "net_debt0": [1000.0]})


def case(f: dict[str, float], s: dict[str, float]) -> tuple[pl.DataFrame, pl.DataFrame]:
    row: dict[str, object] = {"ticker": "MAG", "scenario": "x"}
    row.update({f"f_{k}": f[k] for k in ALL_FIRM_PARAMS})
    row.update({f"s_{k}": s[k] for k in SCENARIO_PARAMS})
    intensity = 0.0 if s is NONE else 1.0
    for k in range(1, H + 1):
        row[f"d_intensity_{k}"] = intensity
        row[f"d_raw_material_change_{k}"] = 0.0
    cases = pl.DataFrame([row])
    return project(cases, H, [f"q{k}" for k in range(1, H + 1)], 1), cases


def d(t: float) -> float:
    return (1 + K) ** (-t / 4)


def test_hand_worked_fade_and_growth() -> None:
    """MagCo without a shock: revenue 2,000 and EBIT 150 a quarter (7.5%), D&A 80 and no
    capex, tax or working capital. Annual R0 = 8,000, m0 = 0.075, o = 320 / 8,000 = 0.04.
    With m* = 10%, N = 2 reversion years, Y = 1 growth year at 5%, then g = 2%:
      y1: R 8,400, m 8.75%, EBIT 735, FCF 735 + 336 = 1,071
      y2: R 8,568, m 10%, EBIT 856.8, FCF 856.8 + 342.72 = 1,199.52
      y3 (terminal): R 8,739.36, EBIT 873.936, FCF 873.936 + 349.5744 = 1,223.5104
    post = 1,071/1.09 + (1,199.52 + 1,223.5104/0.07)/1.09^2."""
    proj, cases = case(magco(), NONE)
    drivers = MidCycleDrivers(
        reversion_years=2, growth_years=1, revenue_growth=0.05, terminal_growth=G
    )
    v = midcycle_dcf(proj, cases, FIRM, {"MAG": 0.10}, K, H, drivers).row(0, named=True)
    post = 1071.0 / 1.09 + (1199.52 + 1223.5104 / 0.07) / 1.09**2
    assert v["post_horizon_value_midcycle"] == pytest.approx(post, rel=1e-12)
    pv = sum(230.0 * d(t) for t in range(1, H + 1))
    ev = pv + d(H) * post
    assert v["enterprise_value_midcycle"] == pytest.approx(ev, rel=1e-12)
    assert v["value_per_share_midcycle"] == pytest.approx((ev - 1000.0) / 400.0, rel=1e-12)
    assert v["value_status_midcycle"] == "ok"


def test_working_capital_is_charged_on_growth() -> None:
    """One growth year at 10%, margin at m* at once (N = 0), w = 0.25, tax 20%:
    y1: R 1,100, EBIT 110, FCF 110 - 22 - 0.25 x 100 = 63; terminal at g = 0:
    R 1,100, FCF 88 (no growth, no working capital), TV 88/0.09."""
    drivers = MidCycleDrivers(
        reversion_years=0, growth_years=1, revenue_growth=0.10, terminal_growth=0.0
    )
    got = post_horizon_value(1000.0, 0.05, 0.0, 0.2, K, 0.10, 0.25, drivers)
    assert float(got) == pytest.approx(63.0 / 1.09 + (88.0 / 0.09) / 1.09, rel=1e-12)


@pytest.mark.parametrize("scenario", [NONE, SEED], ids=["none", "seed"])
def test_trailing_is_the_special_case(scenario: dict[str, float]) -> None:
    """m* = today's normalised margin, g_e = g and no working capital on growth: the annual
    fade telescopes to the trailing Gordon term, so both DCFs agree."""
    f = magco()
    proj, cases = case(f, scenario)
    trailing = dcf(proj, cases, FIRM, K, G, H).row(0, named=True)
    drivers = MidCycleDrivers(
        reversion_years=3, growth_years=5, revenue_growth=G, terminal_growth=G
    )
    tf = terminal_frame(proj, cases, H).row(0, named=True)  # today's normalised margin
    mid = midcycle_dcf(proj, cases, FIRM, {"MAG": tf["mc_margin0"]}, K, H, drivers).row(
        0, named=True
    )
    assert mid["value_per_share_midcycle"] == pytest.approx(trailing["value_per_share"], rel=1e-10)


def test_price_implied_margin_round_trip_and_statuses() -> None:
    """The margin the solver finds gives back the price; prices out of reach get a status."""
    proj, cases = case(magco(), NONE)
    drivers = MidCycleDrivers(
        reversion_years=3, growth_years=5, revenue_growth=0.05, terminal_growth=G
    )
    at_12 = midcycle_dcf(proj, cases, FIRM, {"MAG": 0.12}, K, H, drivers)[
        "value_per_share_midcycle"
    ][0]
    out = price_implied(proj, cases, FIRM, {"MAG": 0.075}, {"MAG": at_12}, K, H, drivers).row(
        0, named=True
    )
    assert out["implied_midcycle_margin"] == pytest.approx(0.12, abs=1e-8)
    assert out["implied_midcycle_margin_status"].startswith("solved")
    assert out["implied_revenue_growth_5y"] > 0.05  # the price needs more than the assumed growth
    high = price_implied(proj, cases, FIRM, {"MAG": 0.075}, {"MAG": 1e6}, K, H, drivers).row(
        0, named=True
    )
    assert high["implied_midcycle_margin"] is None
    assert "above the value even at 0.6" in high["implied_midcycle_margin_status"]
    none = price_implied(proj, cases, FIRM, {"MAG": 0.075}, {"MAG": None}, K, H, drivers).row(
        0, named=True
    )
    assert none["implied_perpetual_growth"] is None and none[
        "implied_perpetual_growth_status"
    ].startswith("n/a")


def test_price_implied_perpetual_growth_closed_form() -> None:
    """With N = 0 and Y = 0 the post-horizon value is a Gordon term on FCF = (m* + o) R0:
    EV = PV + d_H 4 F (1 + g)/(k - g), so g* = (B k - 1)/(1 + B), B = A / (4 F d_H),
    A = price x shares + net debt - PV (methods.md 8.3 step 4)."""
    proj, cases = case(magco(), NONE)
    drivers = MidCycleDrivers(
        reversion_years=0, growth_years=0, revenue_growth=0.0, terminal_growth=G
    )
    price = 30.0
    out = price_implied(proj, cases, FIRM, {"MAG": 0.075}, {"MAG": price}, K, H, drivers).row(
        0, named=True
    )
    pv = sum(230.0 * d(t) for t in range(1, H + 1))
    a = price * 400.0 + 1000.0 - pv
    b = a / (4 * 230.0 * d(H))
    assert out["implied_perpetual_growth"] == pytest.approx((b * K - 1) / (1 + b), abs=1e-8)


def fy(year: int, item: str, value: float) -> dict[str, object]:
    q = year * 4 + 3
    return {
        "period": f"FY{year}",
        "end": q,
        "span": 4,
        "kind": "YTD",
        "item": item,
        "value": value,
        "source": f"src{year}",
    }


def test_through_cycle_margin_average_window_and_as_of() -> None:
    rows = [
        fy(2018, "revenue", 100.0),
        fy(2018, "operating_income", 50.0),  # outside the window
        fy(2022, "revenue", 6319.0),
        fy(2022, "operating_income", 405.12),
        fy(2023, "revenue", 5874.0),
        fy(2023, "operating_income", 519.25),
        fy(2024, "revenue", 5539.0),
        fy(2024, "operating_income", 172.38),
        fy(2025, "revenue", 1.0),
        fy(2025, "operating_income", 1.0),  # after the window
    ]
    m = midcycle_margin("Z", rows, 2025 * 4 + 3, 2019, 2024, 2, 0.05)
    assert m.basis == "reported"
    assert m.value == pytest.approx((405.12 / 6319 + 519.25 / 5874 + 172.38 / 5539) / 3, rel=1e-12)
    assert [y for y, _m in m.years] == [2022, 2023, 2024]
    # as of 2024Q3 FY2024 has not ended: two years remain
    early = midcycle_margin("Z", rows, 2024 * 4 + 2, 2019, 2024, 2, 0.05)
    assert [y for y, _m in early.years] == [2022, 2023]
    # with one year the sector figure is used, and labelled
    one = midcycle_margin("Z", rows, 2022 * 4 + 3, 2019, 2024, 2, 0.05)
    assert one.basis == "sector" and one.value == 0.05 and "sector figure" in one.how


def test_post_horizon_value_over_growth_arrays_equals_one_call_per_value() -> None:
    """The grid scan of the price-implied growth axes evaluates many growth rates in one
    call: each element is bit for bit the scalar call with that growth in the drivers."""
    import numpy as np

    base = MidCycleDrivers(5, 5, 0.03, 0.02)
    args = (4000.0, 0.08, 0.01, 0.25, K, 0.12, 0.2)
    ge = np.linspace(-0.3, 0.6, 91)
    g = np.linspace(-0.1, K - 0.0025, 77)
    many_ge = post_horizon_value(*args, base, revenue_growth=ge)
    many_g = post_horizon_value(*args, base, terminal_growth=g)
    for x, v in zip(ge, many_ge, strict=True):
        assert v == float(post_horizon_value(*args, MidCycleDrivers(5, 5, float(x), 0.02)))
    for x, v in zip(g, many_g, strict=True):
        assert v == float(post_horizon_value(*args, MidCycleDrivers(5, 5, 0.03, float(x))))
    with pytest.raises(ValueError, match="discount rate"):
        post_horizon_value(*args, base, terminal_growth=np.array([0.0, K]))


def test_the_grid_scan_in_one_call_gives_the_same_crossing() -> None:
    import math

    import numpy as np

    from stressmodel.analysis.rootfind import first_crossing

    def kinked(s: float) -> float:
        return max(0.0, 2.0 - 3.0 * s) + 0.1 * math.sin(7 * s)

    cases = [
        (kinked, lambda a: np.maximum(0.0, 2.0 - 3.0 * a) + 0.1 * np.sin(7 * a), 0.5),
        (lambda s: 1.0 - s, lambda a: 1.0 - a, 2.0),  # not breached
        (lambda s: 1.0 - s, lambda a: 1.0 - a, 1.5),  # breached at 0
        (lambda s: math.inf if s > 0.3 else 1.0, lambda a: np.where(a > 0.3, np.inf, 1.0), 0.0),
    ]
    for f, f_grid, thr in cases:
        want = first_crossing(f, thr, s_max=1.0, grid_step=0.01)
        assert first_crossing(f, thr, s_max=1.0, grid_step=0.01, f_grid=f_grid) == want


def test_post_horizon_value_scalar_equals_the_array_version_to_the_bit() -> None:
    """The price-implied solves' scalar path (Python floats) against the array path on
    drawn inputs: negative and zero EBIT, abandonment (floored at 0), no reversion years,
    NaN and None inputs."""
    import math

    import numpy as np

    rng = np.random.default_rng(17)
    specials = [0.0, -0.0, math.nan, None]
    for i in range(3000):
        drivers = MidCycleDrivers(
            int(rng.integers(0, 8)),
            int(rng.integers(0, 8)),
            float(rng.uniform(-0.3, 0.6)),
            float(rng.uniform(-0.1, 0.08)),
        )
        rate = float(rng.uniform(0.085, 0.2))
        args = [
            float(rng.uniform(-100, 20000)),
            float(rng.uniform(-0.5, 0.5)),
            float(rng.uniform(-0.2, 0.2)),
            float(rng.uniform(0, 0.4)),
            rate,
            float(rng.uniform(-0.5, 0.6)),
            float(rng.uniform(-0.5, 0.5)),
        ]
        if i % 50 == 0:  # a special value in one input other than the rate
            args[int(rng.choice([0, 1, 2, 3, 5, 6]))] = specials[(i // 50) % 4]
        want = float(post_horizon_value(*args, drivers))
        got = post_horizon_value_scalar(*args, drivers)
        assert type(got) is float
        assert (math.isnan(got) and math.isnan(want)) or (
            got == want and math.copysign(1, got) == math.copysign(1, want)
        ), (
            args,
            drivers,
        )
    with pytest.raises(ValueError, match="discount rate"):
        post_horizon_value_scalar(
            1.0, 0.1, 0.0, 0.2, 0.02, 0.1, 0.1, MidCycleDrivers(5, 5, 0.03, 0.02)
        )
