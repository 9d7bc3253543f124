"""Tests of stressmodel.analysis.rootfind (methods.md 8.2), with the ICR vector of methods.md 7 and the
reverse-stress vector of methods.md 9.5 (section 12 table)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from stressmodel.analysis.rootfind import (
    STATUS_BREACHED,
    STATUS_BREACHED_AT_ZERO,
    STATUS_NOT_BREACHED_PREFIX,
    Crossing,
    bisect_vectorised,
    first_crossing,
    shock_grid,
)


def icr(s: float, interest: float) -> float:
    """MagCo ICR under export shock s: EBIT(s) = 600 - 0.5*8000*0.25*s (methods.md 7)."""
    return (600.0 - 1000.0 * s) / interest


def test_icr_reverse_stress_without_rate_shock() -> None:
    c = first_crossing(lambda s: icr(s, 100.0), threshold=1.0)
    assert c.status == STATUS_BREACHED
    assert c.shock == pytest.approx(0.50, abs=1e-9)
    assert c.headroom is None
    assert c.monotone is True
    assert c.breached


def test_icr_reverse_stress_with_200bp() -> None:
    # +200 bp on 2,500 floating debt: interest 100 -> 150
    c = first_crossing(lambda s: icr(s, 100.0 + 0.02 * 2500.0), threshold=1.0)
    assert c.status == STATUS_BREACHED
    assert c.shock == pytest.approx(0.45, abs=1e-9)


def test_reverse_stress_operating_leverage_vector() -> None:
    # methods.md 9.5 with production fixed at 4,250 t: cash flow, EBIT_var, EBIT_abs vs s.
    # Quarterly, p = 0.40, v = 0.30, F_m = 200 (D_m = 80), F_o = 150, interest 25,
    # carrying 0.025 per quarter on half of the inventory build u*(Q_p - Q_s), u = 0.34.
    def volumes(s: float) -> tuple[float, float]:
        return 5000.0 * (1 - 0.5 * s), 4250.0

    def carrying(s: float) -> float:
        qs, qp = volumes(s)
        return 0.025 * 0.34 * (qp - qs) / 2

    def cash(s: float) -> float:
        qs, qp = volumes(s)
        return 0.40 * qs - 0.30 * qp - (200 - 80) - 150 - carrying(s) - 25

    def ebit_var(s: float) -> float:
        qs, _ = volumes(s)
        return (0.40 - 0.30) * qs - 200 - 150 - carrying(s)

    def ebit_abs(s: float) -> float:
        qs, qp = volumes(s)
        return 0.40 * qs - (0.34 * qs + (200 - 0.04 * qp)) - 150 - carrying(s)

    assert cash(0.5) == pytest.approx(-72.125)
    assert ebit_abs(0.5) == pytest.approx(42.875)
    assert ebit_var(0.5) == pytest.approx(22.875)
    got = [first_crossing(m, 0.0).shock for m in (cash, ebit_var, ebit_abs)]
    assert got == pytest.approx([0.428633, 0.587770, 0.766926], abs=5e-7)


def test_reverse_dcf_price_implied_shock() -> None:
    # methods.md 8.3: FCF1 = 1,000, k = 9%, g = 2%; the shock removes 1,600*s of FCF in
    # years 1-3; market EV = 12,000 + 2,500 - 1,500 = 13,000. Value from the full 400-year
    # discounted sum, as in the methods note.
    years = np.arange(1, 401)
    discount = 1.09 ** -years.astype(float)
    fcf0 = 1000.0 * 1.02 ** (years - 1)

    def ev(s: float) -> float:
        loss = np.where(years <= 3, 1600.0 * s, 0.0)
        return float(np.sum((fcf0 - loss) * discount))

    c = first_crossing(ev, threshold=13000.0)
    assert c.status == STATUS_BREACHED
    assert c.shock == pytest.approx(0.317455, abs=5e-7)
    closed_form = (1000.0 / 0.07 - 13000.0) / (1600.0 * 2.531295)
    assert c.shock == pytest.approx(closed_form, abs=1e-6)


def test_already_breached_at_zero() -> None:
    c = first_crossing(lambda s: 0.8 - s, threshold=1.0)
    assert c == Crossing(0.0, STATUS_BREACHED_AT_ZERO, None, True)


def test_not_breached_reports_headroom() -> None:
    c = first_crossing(lambda s: 6.0 - 2.0 * s, threshold=1.0, s_max=1.0)
    assert c.shock is None
    assert c.status == "not breached within [0, 1]"
    assert c.status.startswith(STATUS_NOT_BREACHED_PREFIX)
    assert c.headroom == pytest.approx(3.0)
    c2 = first_crossing(lambda s: 6.0 - 2.0 * s, threshold=1.0, s_max=0.5)
    assert c2.status == "not breached within [0, 0.5]"
    assert c2.headroom == pytest.approx(4.0)


def test_exactly_at_threshold_at_zero_is_not_breached_yet() -> None:
    # f(0) = threshold: the crossing is where f - tau turns negative, i.e. right after 0
    c = first_crossing(lambda s: 1.0 - s, threshold=1.0)
    assert c.status == STATUS_BREACHED
    assert c.shock == pytest.approx(0.0, abs=1e-9)


def test_first_of_several_crossings_and_monotone_flag() -> None:
    # dips below 0 on (0.2, 0.4), recovers, dips again after 0.8: the first one is found
    def f(s: float) -> float:
        return (s - 0.2) * (s - 0.4) * (s - 0.8) * -1.0 + 0.0

    c = first_crossing(f, threshold=0.0, grid_step=0.05)
    assert c.shock == pytest.approx(0.2, abs=1e-9)
    assert c.monotone is False


def test_non_finite_metric_gives_status() -> None:
    c = first_crossing(lambda s: math.inf if s > 0.32 else 1.0 - s, threshold=0.0)
    assert c.shock is None
    assert c.status == "n/a: metric not finite at s = 0.35"


def test_grid_always_ends_at_s_max() -> None:
    g = shock_grid(1.0, 0.05)
    assert len(g) == 21
    assert g[0] == 0.0
    assert g[-1] == 1.0
    assert g[10] == 0.5
    g2 = shock_grid(0.33, 0.1)
    assert g2 == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.33])
    with pytest.raises(ValueError):
        shock_grid(0.0, 0.05)


def test_bisect_vectorised_matches_brentq() -> None:
    rng = np.random.default_rng(7)
    n = 500
    a = rng.uniform(0.5, 5.0, n)
    b = rng.uniform(1.0, 10.0, n)
    c = rng.uniform(0.0, 3.0, n)
    thr = rng.uniform(0.0, 0.4, n)

    calls = []

    def metric(s: np.ndarray) -> np.ndarray:  # decreasing in s for s >= 0
        calls.append(s.shape)
        return a - b * s - c * s**2 - thr

    hi = np.full(n, 1.0)
    # keep only firms whose bracket is valid on [0, 1]
    valid = (metric(np.zeros(n)) >= 0) & (metric(hi) < 0)
    calls.clear()
    roots = bisect_vectorised(metric, np.zeros(n), hi, xtol=1e-10)
    expected = np.array(
        [
            brentq(lambda s, k=k: a[k] - b[k] * s - c[k] * s**2 - thr[k], 0.0, 1.0, xtol=1e-12)
            for k in np.flatnonzero(valid)
        ]
    )
    assert valid.sum() > 100
    np.testing.assert_allclose(roots[valid], expected, atol=1e-9, rtol=0)
    # one vectorised evaluation per iteration: ceil(log2(1 / 1e-10)) = 34
    assert len(calls) == 34
    assert all(shape == (n,) for shape in calls)


def test_bisect_vectorised_icr_two_firms() -> None:
    interest = np.array([100.0, 150.0])
    roots = bisect_vectorised(
        lambda s: (600.0 - 1000.0 * s) / interest - 1.0, np.zeros(2), np.ones(2)
    )
    np.testing.assert_allclose(roots, [0.50, 0.45], atol=1e-9)


def test_bisect_vectorised_nan_handling() -> None:
    roots = bisect_vectorised(
        lambda s: np.where(s > 0.6, np.nan, 0.5 - s),
        np.array([0.0, 0.0, np.nan]),
        np.array([1.0, 0.55, 1.0]),
    )
    assert math.isnan(roots[0])  # g(0.75) is NaN on the first step
    assert roots[1] == pytest.approx(0.5, abs=1e-9)
    assert math.isnan(roots[2])
    with pytest.raises(ValueError):
        bisect_vectorised(lambda s: -s, np.array([1.0]), np.array([0.0]))


@settings(max_examples=50, deadline=None)
@given(
    st.floats(min_value=0.01, max_value=0.99),
    st.floats(min_value=0.1, max_value=50.0),
    st.floats(min_value=-5.0, max_value=5.0),
)
def test_linear_metric_crossing_property(root: float, slope: float, thr: float) -> None:
    # M(s) = thr + slope*(root - s) crosses thr at s = root
    c = first_crossing(lambda s: thr + slope * (root - s), thr)
    assert c.status == STATUS_BREACHED
    assert c.shock == pytest.approx(root, abs=1e-8)
    assert c.monotone


# --- the pure-Python brentq is scipy's, bit for bit ------------------------------------------


def _outcome(solve: object, *args: object, **kwargs: object) -> tuple[str, object]:
    """The root, or the class of the error raised."""
    try:
        return "root", solve(*args, **kwargs)  # type: ignore[operator]
    except (ValueError, RuntimeError) as exc:
        return "error", type(exc)


def _cases() -> list[tuple[object, float, float]]:
    """Smooth, kinked, flat, steep, jumping and tiny functions with a bracketed root."""
    return [
        (lambda x: x * x - 2.0, 0.0, 2.0),
        (lambda x: math.cos(x) - x, 0.0, 1.0),
        (lambda x: x**3 - 2 * x - 5, 2.0, 3.0),
        (lambda x: math.exp(x) - 1e6, 0.0, 20.0),
        (lambda x: max(0.0, 1.0 - 3 * x) - 0.4, 0.0, 1.0),  # a kink (a floor at zero)
        (lambda x: math.tanh(50 * (x - 0.3)), -1.0, 1.0),  # steep
        (lambda x: (x - 0.7) ** 5, 0.0, 1.0),  # flat at the root
        (lambda x: 1.0 if x < 0.25 else -1.0, 0.0, 1.0),  # a jump
        (lambda x: x, -1.0, 0.0),  # root at an end
        (lambda x: 1e-200 * (x - 0.4), 0.0, 1.0),  # f(a) f(b) underflows to zero
        (lambda x: 1e-200, 0.0, 1.0),  # no sign change, product underflows
        (lambda x: x * x + 1.0, -1.0, 1.0),  # no sign change
    ]


@pytest.mark.parametrize("xtol", [1e-10, 2e-12, 1e-4, 1e-15])
def test_brentq_equals_scipy_to_the_bit(xtol: float) -> None:
    from stressmodel.analysis.rootfind import brentq as ours

    for f, a, b in _cases():
        for lo, hi in ((a, b), (b, a)):
            assert _outcome(ours, f, lo, hi, xtol=xtol) == _outcome(brentq, f, lo, hi, xtol=xtol)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(-50, 50, allow_nan=False), min_size=2, max_size=6),
    st.floats(-2, 2),
    st.floats(1e-14, 1e-3),
)
def test_brentq_equals_scipy_on_random_polynomials(
    coef: list[float], shift: float, xtol: float
) -> None:
    from stressmodel.analysis.rootfind import brentq as ours

    def f(x: float) -> float:
        return sum(c * (x - shift) ** k for k, c in enumerate(coef))

    assert _outcome(ours, f, -3.0, 3.0, xtol=xtol) == _outcome(brentq, f, -3.0, 3.0, xtol=xtol)


def test_brentq_rejects_what_scipy_rejects() -> None:
    from stressmodel.analysis.rootfind import BRENTQ_RTOL
    from stressmodel.analysis.rootfind import brentq as ours

    with pytest.raises(ValueError):
        ours(lambda x: x * x + 1, -1.0, 1.0)
    with pytest.raises(ValueError):
        ours(lambda x: x, -1.0, 1.0, xtol=0.0)
    with pytest.raises(ValueError):
        ours(lambda x: x, -1.0, 1.0, rtol=1e-17)
    with pytest.raises(ValueError, match="NaN"):
        ours(lambda x: math.nan if x > -1 else -1.0, -1.0, 1.0)
    with pytest.raises(RuntimeError):
        ours(lambda x: math.tanh(x - 0.3), -1.0, 1.0, xtol=1e-300, rtol=BRENTQ_RTOL, maxiter=3)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 40),
    st.sampled_from([1e-10, 1e-6, 0.3, 1e-15]),
    st.integers(0, 2**32 - 1),
    st.integers(5, 100),
)
def test_bisection_several_levels_per_call_is_one_level_at_a_time(
    levels: int, n: int, xtol: float, seed: int, max_iter: int
) -> None:
    """Evaluating 2**levels - 1 candidate midpoints per call walks to exactly the same
    brackets (the same result to the bit, NaN where a visited midpoint was not finite)
    with about 1/levels of the calls; widths differ across elements (some zero, some not
    finite)."""
    rng = np.random.default_rng(seed)
    root = rng.uniform(-1, 2, n)
    lo = rng.uniform(-2, 0, n)
    hi = lo + rng.choice([0.0, 0.5, 1.0, 3.0], n)
    hi[rng.random(n) < 0.1] = np.inf
    hole = rng.uniform(-2, 3, n)  # g is NaN near here

    def g(s: np.ndarray, owner: np.ndarray | None = None) -> np.ndarray:
        k = np.arange(n) if owner is None else owner
        out = np.tanh(3 * (root[k] - s)) + 0.01 * np.sin(40 * s)
        return np.where(np.abs(s - hole[k]) < 0.01, np.nan, out)

    calls: list[int] = []

    def counted(s: np.ndarray, owner: np.ndarray) -> np.ndarray:
        calls.append(s.size)
        return g(s, owner)

    one = bisect_vectorised(g, lo, hi, xtol=xtol, max_iter=max_iter)
    many = bisect_vectorised(g, lo, hi, xtol=xtol, max_iter=max_iter, levels=levels, g_at=counted)
    np.testing.assert_array_equal(one, many)
    if levels > 1 and calls:
        finite = np.isfinite(hi - lo)
        width = float(np.max((hi - lo)[finite])) if finite.any() else 0.0
        steps = min(max_iter, max(1, math.ceil(math.log2(width / xtol)))) if width > xtol else 0
        assert len(calls) <= math.ceil(steps / levels) + 1
