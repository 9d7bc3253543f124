"""Tests of stressmodel.model.forecast against methods.md section 10 (damped-trend test vector and
the smaller Holt/SES checks) and the behaviour of the ETS export-index forecast."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from stressmodel.model import forecast as fc

Y = [50.0, 60.0, 68.0, 74.0]


def test_damped_holt_vector() -> None:
    got = fc.damped_holt_known(Y, level0=40, trend0=10, alpha=0.5, beta=0.2, phi=0.8, h=3)
    np.testing.assert_allclose(got, [76.429795, 79.756229, 82.417377], atol=5e-7)


def test_damped_holt_states_match_hand_recursion() -> None:
    levels, trends = fc.damped_holt_states(Y, 40, 10, 0.5, 0.2, 0.8)
    # the recursion of methods.md 10, by hand
    lv, tr, hand_l, hand_b = 40.0, 10.0, [], []
    for y in Y:
        new_l = 0.5 * y + 0.5 * (lv + 0.8 * tr)
        tr = 0.2 * (new_l - lv) + 0.8 * 0.8 * tr
        lv = new_l
        hand_l.append(lv)
        hand_b.append(tr)
    np.testing.assert_allclose(levels, [49, 57.78, 65.6916, 72.271752], atol=1e-9)
    np.testing.assert_allclose(trends, [8.2, 7.004, 6.06488, 5.1975536], atol=1e-9)
    np.testing.assert_allclose(levels, hand_l, atol=1e-12)
    np.testing.assert_allclose(trends, hand_b, atol=1e-12)
    plateau = fc.damped_plateau(levels[-1], trends[-1], 0.8)
    assert plateau == pytest.approx(93.061966, abs=5e-7)
    # forecasts approach the plateau from below
    far = fc.damped_holt_known(Y, 40, 10, 0.5, 0.2, 0.8, h=200)
    assert far[-1] == pytest.approx(plateau, abs=1e-9)
    assert np.all(np.diff(far) >= 0)


def test_holt_and_ses_small_checks() -> None:
    np.testing.assert_allclose(fc.holt_known([10, 12, 14, 16], 8, 2, 0.5, 0.5, 2), [18, 20])
    np.testing.assert_allclose(fc.ses_known([10, 8], 10, 0.5, 1), [9])


def test_known_state_argument_checks() -> None:
    with pytest.raises(ValueError):
        fc.damped_holt_known(Y, 40, 10, 1.5, 0.2, 0.8, 3)
    with pytest.raises(ValueError):
        fc.damped_holt_known([], 40, 10, 0.5, 0.2, 0.8, 3)
    with pytest.raises(ValueError):
        fc.ses_known([1.0, float("nan")], 1.0, 0.5, 1)
    with pytest.raises(ValueError):
        fc.damped_plateau(1.0, 1.0, 1.0)


def recovery_series(n: int = 15, seed: int = 0) -> np.ndarray:
    """Index recovering from 0.3 toward 1.0 with a little deterministic noise."""
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 1.0 - 0.7 * 0.8**t + rng.normal(scale=0.01, size=n)


def test_recovery_forecast_between_last_value_and_plateau() -> None:
    y = recovery_series()
    months = list(range(4, 4 + y.size))  # e.g. months since a base date
    res = fc.forecast_export_index(months, y, horizon=12, alpha=0.1)
    assert res.fitted
    assert res.status == "fitted: ETS(A,Ad,N)"
    assert res.months == tuple(range(19, 31))
    assert res.last_observed == pytest.approx(y[-1])
    assert res.plateau is not None and y[-1] < res.plateau < 1.05
    mean = np.array(res.mean)
    assert np.all(np.diff(mean) >= -1e-12)  # still recovering, never falling
    assert np.all(mean >= y[-1] - 1e-9)
    assert np.all(mean <= res.plateau + 1e-9)
    assert res.lower is not None and res.upper is not None
    lower, upper = np.array(res.lower), np.array(res.upper)
    assert np.all(lower <= mean) and np.all(mean <= upper)
    assert np.all(upper - lower > 0)
    frame = res.to_frame()
    assert frame.columns == ["month", "mean", "pi_lower", "pi_upper"]
    assert frame.height == 12
    assert res.params is not None and 0.0 < res.params["damping_trend"] < 1.0


def test_interval_matches_statsmodels_and_widens_with_smaller_alpha() -> None:
    import pandas as pd

    y = recovery_series(n=18, seed=3)
    res90 = fc.forecast_export_index(range(y.size), y, horizon=6, alpha=0.1)
    res50 = fc.forecast_export_index(range(y.size), y, horizon=6, alpha=0.5)
    ref = ETSModel(pd.Series(y), error="add", trend="add", damped_trend=True).fit(disp=False)
    frame = ref.get_prediction(start=y.size, end=y.size + 5).summary_frame(alpha=0.1)
    np.testing.assert_allclose(res90.mean, frame["mean"], rtol=1e-10)
    np.testing.assert_allclose(res90.upper, frame["pi_upper"], rtol=1e-10)
    np.testing.assert_array_less(np.array(res90.lower), np.array(res50.lower))
    np.testing.assert_array_less(np.array(res50.upper), np.array(res90.upper))


def test_deterministic() -> None:
    y = recovery_series()
    a = fc.forecast_export_index(range(y.size), y, horizon=6)
    b = fc.forecast_export_index(range(y.size), y, horizon=6)
    assert a == b


def test_short_series_is_not_fitted() -> None:
    res = fc.forecast_export_index([7, 8, 9, 10], [0.3, 0.35, 0.45, 0.5], horizon=3)
    assert not res.fitted
    assert res.status == "not fitted: only 4 months since the shock"
    assert res.months == (11, 12, 13)
    assert res.mean == (0.5, 0.5, 0.5)
    assert res.lower is None and res.upper is None
    assert res.to_frame()["pi_lower"].null_count() == 3
    five = fc.forecast_export_index(range(5), [0.3, 0.4, 0.5, 0.6, 0.7], horizon=2)
    assert five.status == "not fitted: only 5 months since the shock"
    six = fc.forecast_export_index(range(6), [0.3, 0.4, 0.5, 0.55, 0.62, 0.7], horizon=2)
    assert six.fitted


def test_invalid_series_give_error_status() -> None:
    gap = fc.forecast_export_index([1, 2, 4, 5, 6, 7], [0.3] * 6, horizon=3)
    assert gap.status == "error: months not consecutive (after month 2 comes 4)"
    assert gap.mean == () and gap.months == () and not gap.fitted
    missing = fc.forecast_export_index(range(7), [0.3, 0.4, None, 0.5, 1, 1, 1], 3)
    assert missing.status == "error: missing or non-finite index value at month 2"
    assert fc.forecast_export_index([], [], 3).status == "error: no observations"
    assert fc.forecast_export_index([1, 2], [0.1], 3).status.startswith("error: months and")
    const = fc.forecast_export_index(range(8), [0.5] * 8, 3)
    assert const.status == "not fitted: constant series"
    assert const.mean == (0.5, 0.5, 0.5)
    nothing = fc.forecast_export_index(range(8), [0.4, 0.5] * 4, 0)
    assert nothing.status == "not fitted: nothing to forecast (horizon 0)"
    assert nothing.mean == () and nothing.to_frame().height == 0
    with pytest.raises(ValueError):
        fc.forecast_export_index(range(8), [0.5] * 8, -1)
    with pytest.raises(ValueError):
        fc.forecast_export_index(range(8), [0.5] * 8, 3, alpha=1.5)


def test_no_warning_escapes_even_from_awkward_series() -> None:
    awkward = [
        [1e-9 * i for i in range(7)],  # near-zero scale: the optimiser struggles
        [0.3, 0.3, 5.0, 0.3, 0.3, 0.3, 0.31],
        [0.0, 1.0] * 5,
        [-1.0, -2.0, -3.0, -4.0, -5.0, -6.5],
    ]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        results = [fc.forecast_export_index(range(len(y)), y, 4) for y in awkward]
        fc.damped_holt_known([10.0, 12.0, 14.0, 16.0], 8, 2, 0.5, 0.5, 0.8, 2)
        fc.holt_known([10, 12, 14, 16], 8, 2, 0.5, 0.5, 2)  # exact fit: log(0) in the AIC
    assert rec == []
    for r in results:
        assert r.status.startswith(("fitted", "not fitted"))
        if r.fitted:
            assert r.lower is not None and r.upper is not None
            assert all(lo <= m <= hi for lo, m, hi in zip(r.lower, r.mean, r.upper, strict=True))
            assert min(r.lower) >= 0.0


def test_caught_warning_is_named_in_status(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ETSModel.fit

    def noisy_fit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        warnings.warn("optimizer did not converge", ConvergenceWarning, stacklevel=2)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ETSModel, "fit", noisy_fit)
    y = recovery_series()
    res = fc.forecast_export_index(range(y.size), y, horizon=3)
    assert res.fitted
    assert res.status == "fitted: ETS(A,Ad,N) (caught warnings: ConvergenceWarning)"


def test_model_failure_falls_back_to_flat_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_fit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(ETSModel, "fit", broken_fit)
    y = recovery_series()
    res = fc.forecast_export_index(range(y.size), y, horizon=2)
    assert not res.fitted
    assert res.status == "not fitted: model failed (LinAlgError: singular matrix)"
    assert res.mean == (pytest.approx(y[-1]),) * 2


def test_numeric_core_imports_no_io_libraries() -> None:
    code = (
        "import sys, stressmodel.model.forecast;"
        "bad = {'click', 'openpyxl', 'xlsxwriter'} & set(sys.modules);"
        "print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr
