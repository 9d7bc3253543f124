"""Export-recovery forecasts with exponential smoothing (methods.md section 10).

- :func:`damped_holt_known`, :func:`holt_known`, :func:`ses_known`: deterministic
  smoothing with KNOWN initial states and parameters (``statsmodels`` ``ExponentialSmoothing``,
  ``optimized=False``); used for scenario recovery paths and as test vectors.
- :func:`forecast_export_index`: fits an ETS(A,Ad,N) model (additive error, additive damped
  trend; ``statsmodels`` ``ETSModel``) to the monthly world-export index since the shock and
  returns the mean path and a prediction interval, or a flat path when the series is too
  short.

The damped trend recursion (alpha, beta, phi):
    l_t = alpha*y_t + (1 - alpha)*(l_{t-1} + phi*b_{t-1})
    b_t = beta*(l_t - l_{t-1}) + (1 - beta)*phi*b_{t-1}
    yhat_{T+h} = l_T + (phi + phi^2 + ... + phi^h)*b_T,   plateau l_T + phi/(1 - phi)*b_T.

Pure and deterministic. statsmodels warnings never escape: they are caught and, where they
matter (model fitting), reported in the status.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

if TYPE_CHECKING:  # statsmodels (and pandas with it) cost about a second to import:
    # they are imported in the functions that fit, so a run that needs no fit never pays
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

# --------------------------------------------------------------------------- known-state


def _check_fraction(name: str, v: float, upper_inclusive: bool = True) -> None:
    ok = 0.0 <= v <= 1.0 if upper_inclusive else 0.0 <= v < 1.0
    if not ok:
        raise ValueError(f"{name} must be in [0, 1{']' if upper_inclusive else ')'}")


def _series(y: Sequence[float]) -> np.ndarray:
    arr = np.asarray(y, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("y must be a non-empty one-dimensional sequence")
    if not np.all(np.isfinite(arr)):
        raise ValueError("y must be finite (no NaN or inf)")
    return arr


def _quiet_fit(model: ExponentialSmoothing, h: int = 0, **params: float) -> tuple[Any, np.ndarray]:
    """Fit with fixed parameters and forecast ``h`` steps (none if h = 0).

    The only warnings statsmodels raises here concern the information criteria (e.g.
    log(0) when a series is fitted exactly, recomputed by ``forecast`` too), which this
    module does not use, so numpy RuntimeWarnings are silenced for the call."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        res = model.fit(optimized=False, **params)
        fc = np.asarray(res.forecast(h), dtype=float) if h else np.empty(0)
    return res, fc


def damped_holt_known(
    y: Sequence[float],
    level0: float,
    trend0: float,
    alpha: float,
    beta: float,
    phi: float,
    h: int,
) -> np.ndarray:
    """Damped-trend Holt forecasts for h = 1..``h`` with known initial level/trend and
    fixed parameters.

    Recursion in the module docstring; implemented with
    ``ExponentialSmoothing(trend='add', damped_trend=True, initialization_method='known',
    initial_level=level0, initial_trend=trend0).fit(smoothing_level=alpha,
    smoothing_trend=beta, damping_trend=phi, optimized=False)``.
    Units: those of y (e.g. an export index, 100 = pre-shock). Example (methods.md 10):
    y = [50, 60, 68, 74], l0 = 40, b0 = 10, alpha 0.5, beta 0.2, phi 0.8 ->
    76.429795, 79.756229, 82.417377.
    Raises ValueError for empty or non-finite y, parameters outside [0, 1] or h < 1.
    """
    arr = _series(y)
    _check_fraction("alpha", alpha)
    _check_fraction("beta", beta)
    _check_fraction("phi", phi)
    if h < 1:
        raise ValueError("h must be at least 1")
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    model = ExponentialSmoothing(
        arr,
        trend="add",
        damped_trend=True,
        initialization_method="known",
        initial_level=level0,
        initial_trend=trend0,
    )
    _, fc = _quiet_fit(model, h, smoothing_level=alpha, smoothing_trend=beta, damping_trend=phi)
    return fc


def damped_holt_states(
    y: Sequence[float], level0: float, trend0: float, alpha: float, beta: float, phi: float
) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed levels and trends l_1..l_T, b_1..b_T of :func:`damped_holt_known`'s fit."""
    arr = _series(y)
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    model = ExponentialSmoothing(
        arr,
        trend="add",
        damped_trend=True,
        initialization_method="known",
        initial_level=level0,
        initial_trend=trend0,
    )
    res, _ = _quiet_fit(model, smoothing_level=alpha, smoothing_trend=beta, damping_trend=phi)
    return (np.asarray(res.level, dtype=float), np.asarray(res.trend, dtype=float))


def damped_plateau(level: float, trend: float, phi: float) -> float:
    """Long-run limit of damped-trend forecasts: l + phi/(1 - phi)*b (0 <= phi < 1).
    Example: l = 72.271752, b = 5.1975536, phi = 0.8 -> 93.061966."""
    _check_fraction("phi", phi, upper_inclusive=False)
    return level + phi / (1.0 - phi) * trend


def holt_known(
    y: Sequence[float], level0: float, trend0: float, alpha: float, beta: float, h: int
) -> np.ndarray:
    """Holt's linear (undamped) trend forecasts with known initial states and fixed
    parameters (``ExponentialSmoothing(trend='add', initialization_method='known')``).
    Example: y = [10, 12, 14, 16], l0 = 8, b0 = 2, alpha = beta = 0.5 -> 18, 20."""
    arr = _series(y)
    _check_fraction("alpha", alpha)
    _check_fraction("beta", beta)
    if h < 1:
        raise ValueError("h must be at least 1")
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    model = ExponentialSmoothing(
        arr,
        trend="add",
        initialization_method="known",
        initial_level=level0,
        initial_trend=trend0,
    )
    _, fc = _quiet_fit(model, h, smoothing_level=alpha, smoothing_trend=beta)
    return fc


def ses_known(y: Sequence[float], level0: float, alpha: float, h: int) -> np.ndarray:
    """Simple exponential smoothing forecasts (flat) with a known initial level and fixed
    alpha (``ExponentialSmoothing(trend=None, initialization_method='known')``).
    Example: y = [10, 8], l0 = 10, alpha = 0.5 -> 9."""
    arr = _series(y)
    _check_fraction("alpha", alpha)
    if h < 1:
        raise ValueError("h must be at least 1")
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    model = ExponentialSmoothing(arr, initialization_method="known", initial_level=level0)
    _, fc = _quiet_fit(model, h, smoothing_level=alpha)
    return fc


# --------------------------------------------------------------------------- ETS fit

MODEL_LABEL = "ETS(A,Ad,N)"


@dataclass(frozen=True)
class ExportForecast:
    """Forecast of the monthly world-export index (1.0 = the 2024 monthly average).

    ``months``: the future month indices (last observed + 1 ... + horizon); ``mean``: the
    point path; ``lower``/``upper``: the (1 - alpha) prediction interval (None when not
    fitted); ``status``: ``"fitted: ETS(A,Ad,N)"`` (plus any caught warnings or
    non-convergence), ``"not fitted: only N months since the shock"``, ``"not fitted:
    constant series"``, ``"not fitted: model failed (...)"`` (all three with a flat path
    at the last value), or ``"error: ..."`` (invalid series; empty path).
    ``plateau``: the fitted long-run level l_T + phi/(1 - phi)*b_T (None unless fitted).
    ``params``: fitted ETS parameters.
    """

    months: tuple[int, ...]
    mean: tuple[float, ...]
    lower: tuple[float, ...] | None
    upper: tuple[float, ...] | None
    status: str
    fitted: bool
    alpha: float
    last_observed: float | None = None
    plateau: float | None = None
    params: Mapping[str, float] | None = None

    def to_frame(self) -> pl.DataFrame:
        """Columns month (Int64), mean, pi_lower, pi_upper (Float64; nulls if no interval)."""
        n = len(self.months)
        return pl.DataFrame(
            {
                "month": list(self.months),
                "mean": list(self.mean),
                "pi_lower": list(self.lower) if self.lower is not None else [None] * n,
                "pi_upper": list(self.upper) if self.upper is not None else [None] * n,
            },
            schema={
                "month": pl.Int64,
                "mean": pl.Float64,
                "pi_lower": pl.Float64,
                "pi_upper": pl.Float64,
            },
        )


def _error(status: str, alpha: float) -> ExportForecast:
    return ExportForecast((), (), None, None, f"error: {status}", False, alpha)


def _flat(
    months: np.ndarray, y: np.ndarray, horizon: int, status: str, alpha: float
) -> ExportForecast:
    last = float(y[-1])
    future = tuple(int(months[-1]) + k for k in range(1, horizon + 1))
    return ExportForecast(future, (last,) * horizon, None, None, status, False, alpha, last)


def forecast_export_index(
    months: Sequence[int],
    index: Sequence[float],
    horizon: int,
    alpha: float = 0.1,
    min_points: int = 6,
) -> ExportForecast:
    """Forecast the export index ``horizon`` months ahead with a damped-trend ETS model.

    ``index``: monthly world export tonnes divided by the 2024 monthly average (1.0 =
    normal), for the months since the shock began; ``months``: their integer indices, which
    must be consecutive. Fits ``ETSModel(error='add', trend='add', damped_trend=True)``
    (``fit(disp=False)``) and returns ``get_prediction(...).summary_frame(alpha=alpha)``:
    mean, pi_lower, pi_upper, each floored at 0 (exports cannot be negative).

    Policies: fewer than ``min_points`` observations -> no fit, a flat path at the last
    value, no interval, status ``"not fitted: only N months since the shock"``; a constant
    series -> the same with ``"not fitted: constant series"``; a fit that raises -> the
    same flat path with ``"not fitted: model failed (...)"``; a gap in
    ``months``, a missing/non-finite value, mismatched lengths or no data ->
    ``"error: ..."`` and an empty path. statsmodels warnings (e.g. ConvergenceWarning) are
    caught and named in the status; none escapes. Deterministic (no simulation: additive
    errors have analytic intervals). ``horizon = 0`` returns an empty path (status
    ``"not fitted: nothing to forecast (horizon 0)"``). Raises ValueError only for bad
    arguments (horizon < 0, alpha outside (0, 1), min_points < 1).
    """
    if horizon < 0:
        raise ValueError("horizon must be non-negative")
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    if min_points < 1:
        raise ValueError("min_points must be at least 1")
    if len(months) != len(index):
        return _error("months and index differ in length", alpha)
    if len(months) == 0:
        return _error("no observations", alpha)
    m = np.asarray([int(v) for v in months], dtype=np.int64)
    steps = np.diff(m)
    if np.any(steps != 1):
        k = int(np.flatnonzero(steps != 1)[0])
        return _error(f"months not consecutive (after month {m[k]} comes {m[k + 1]})", alpha)
    y = np.asarray([np.nan if v is None else float(v) for v in index], dtype=float)
    if not np.all(np.isfinite(y)):
        k = int(np.flatnonzero(~np.isfinite(y))[0])
        return _error(f"missing or non-finite index value at month {m[k]}", alpha)
    n = int(y.size)
    if horizon == 0:
        return ExportForecast(
            (),
            (),
            (),
            (),
            "not fitted: nothing to forecast (horizon 0)",
            False,
            alpha,
            float(y[-1]),
        )
    if n < min_points:
        unit = "month" if n == 1 else "months"
        return _flat(m, y, horizon, f"not fitted: only {n} {unit} since the shock", alpha)
    if np.ptp(y) == 0:
        # no variation: neither a trend nor an error variance can be estimated
        return _flat(m, y, horizon, "not fitted: constant series", alpha)

    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    endog = pd.Series(y, index=pd.RangeIndex(n))
    with warnings.catch_warnings(record=True) as rec, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            res = ETSModel(endog, error="add", trend="add", damped_trend=True).fit(disp=False)
            frame = res.get_prediction(start=n, end=n + horizon - 1).summary_frame(alpha=alpha)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
            return _flat(
                m, y, horizon, f"not fitted: model failed ({type(exc).__name__}: {exc})", alpha
            )
    # exports cannot be negative: floor the path and both bounds at 0 (a monotone
    # transform, so lower <= mean <= upper still holds)
    mean = np.maximum(frame["mean"].to_numpy(dtype=float), 0.0)
    lower = np.maximum(frame["pi_lower"].to_numpy(dtype=float), 0.0)
    upper = np.maximum(frame["pi_upper"].to_numpy(dtype=float), 0.0)
    if not (
        np.all(np.isfinite(mean)) and np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))
    ):
        return _flat(m, y, horizon, "not fitted: model failed (non-finite forecast)", alpha)
    params = {str(k): float(v) for k, v in zip(res.param_names, res.params, strict=True)}
    phi = params.get("damping_trend", math.nan)
    level = float(np.asarray(res.level)[-1])
    trend = float(np.asarray(res.slope)[-1])
    plateau = level + phi / (1.0 - phi) * trend if 0.0 <= phi < 1.0 else None
    status = f"fitted: {MODEL_LABEL}"
    if not bool((getattr(res, "mle_retvals", None) or {}).get("converged", True)):
        status += ", optimiser did not converge"
    names = sorted({r.category.__name__ for r in rec})
    if names:
        status += f" (caught warnings: {', '.join(names)})"
    future = tuple(int(m[-1]) + k for k in range(1, horizon + 1))
    return ExportForecast(
        future,
        tuple(mean.tolist()),
        tuple(lower.tolist()),
        tuple(upper.tolist()),
        status,
        True,
        alpha,
        float(y[-1]),
        plateau,
        MappingProxyType(params),
    )


def forecast_bounded_index(
    months: Sequence[int],
    index: Sequence[float],
    horizon: int,
    alpha: float,
    floor: float,
    ceiling: float,
    min_months: int,
    half_life: float,
    history: Sequence[float] = (),
) -> ExportForecast:
    """A forecast of the export index (1.0 = the reference level) that cannot run away.

    With at least ``min_months`` months since the controls: ETS(A,N,N), a local level with
    additive errors (``ETSModel(error='add', trend=None)``), fitted on ``log(index)``; mean
    and interval are transformed back with ``exp`` (the mean is then the median) and
    clipped to ``[floor, ceiling]``. The level-only model is the damped trend with the
    damping at 0: fitted on the months after the V-shaped 2025 shock, a damped trend
    (damping bounded to 0.5-0.8) carries the rebound forward to about 2x within six months,
    so no trend is extrapolated.

    With fewer months (the fallback rule): the gap between the last month and the
    reference level closes with a half-life of ``half_life`` months, in logs:
    ``log m(h) = log(last) * 0.5 ** (h / half_life)``; the interval is that path times
    ``exp(+-z sigma sqrt(h))`` with sigma the standard deviation of the monthly log
    changes of ``history`` and the months since the controls, also clipped. Not a flat
    permanent loss.
    """
    y = [min(max(float(v), floor), ceiling) for v in index]
    if not y or horizon <= 0:
        return forecast_export_index(months, y, horizon, alpha)
    last_m = int(months[-1])
    future = tuple(last_m + k for k in range(1, horizon + 1))
    if len(y) >= min_months:
        fc = _local_level_log(y, horizon, alpha)
        if isinstance(fc, tuple):
            mean, lower, upper, params, note = fc

            def back(vals: Sequence[float]) -> tuple[float, ...]:
                return tuple(min(max(math.exp(v), floor), ceiling) for v in vals)

            return ExportForecast(
                future,
                back(mean),
                back(lower),
                back(upper),
                f"fitted: ETS(A,N,N) on log(index){note}, clipped to [{floor:g}, {ceiling:g}]",
                True,
                alpha,
                y[-1],
                back([mean[-1]])[0],
                MappingProxyType(params),
            )
        reason = f"not fitted: {fc}"
    else:
        reason = (
            f"only {len(y)} month{'s' if len(y) != 1 else ''} since the controls (< {min_months})"
        )
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - alpha / 2)
    hist = [math.log(min(max(float(v), floor), ceiling)) for v in (*history, *y)]
    changes = [b - a for a, b in itertools.pairwise(hist)]
    sigma = float(np.std(changes, ddof=1)) if len(changes) >= 2 else 0.0
    mean, lower, upper = [], [], []
    for h in range(1, horizon + 1):
        lm = math.log(y[-1]) * 0.5 ** (h / half_life)
        w = z * sigma * math.sqrt(h)
        mean.append(min(max(math.exp(lm), floor), ceiling))
        lower.append(min(max(math.exp(lm - w), floor), ceiling))
        upper.append(min(max(math.exp(lm + w), floor), ceiling))
    return ExportForecast(
        future,
        tuple(mean),
        tuple(lower),
        tuple(upper),
        f"fallback: {reason}; gap to the reference level closes with a half-life of {half_life:g} months",
        False,
        alpha,
        y[-1],
    )


def _local_level_log(
    y: Sequence[float], horizon: int, alpha: float
) -> tuple[list[float], list[float], list[float], dict[str, float], str] | str:
    """ETS(A,N,N) on log(y): (mean, lower, upper, params, note) in logs, or the reason it failed."""
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    logs = np.log(np.asarray(y, dtype=float))
    if np.ptp(logs) == 0:
        return "constant series"
    n = int(logs.size)
    with warnings.catch_warnings(record=True) as rec, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            res = ETSModel(pd.Series(logs, index=pd.RangeIndex(n)), error="add", trend=None).fit(
                disp=False
            )
            frame = res.get_prediction(start=n, end=n + horizon - 1).summary_frame(alpha=alpha)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
            return f"model failed ({type(exc).__name__}: {exc})"
    cols = [frame[c].to_numpy(dtype=float) for c in ("mean", "pi_lower", "pi_upper")]
    if not all(np.all(np.isfinite(c)) for c in cols):
        return "model failed (non-finite forecast)"
    params = {str(k): float(v) for k, v in zip(res.param_names, res.params, strict=True)}
    names = sorted({r.category.__name__ for r in rec})
    note = f" (caught warnings: {', '.join(names)})" if names else ""
    return cols[0].tolist(), cols[1].tolist(), cols[2].tolist(), params, note
