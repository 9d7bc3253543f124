"""Calibrating the consolidation index on a labelled firm-year sample (methods.md 13.3).

Events frame (one row per firm-year, features as of the fiscal year-end, no look-ahead):

- ``ticker`` (str), ``year`` (int), ``event`` (0/1: consolidated within H years);
- one column per component, already standardised with the same component functions:
  ``z_distress, z_size, z_roa_gap, z_export, private, upstream, z_runway`` (dummies 0/1).
  In general the column of component ``c`` is ``z_<c>`` for a continuous one and ``c`` for
  a dummy (:func:`feature_column`).

Two estimators:

- :func:`fit_logit`: maximum-likelihood ``statsmodels`` Logit with an intercept and
  cluster-robust (by ticker) covariance when there is more than one ticker.
- :func:`fit_shrinkage`: ``GLM(Binomial)`` with offset = the prior linear predictor
  logit(pi0) + Z @ w_prior, fitted by ``fit_regularized(method='elastic_net', L1_wt=0)``
  (ridge). The parameters are the DEVIATIONS from the prior; the penalty shrinks them to
  zero, so a large alpha returns the prior and a tiny one the logit fit.

:func:`calibrate` picks one by the events-per-parameter rule (Peduzzi et al. 1996: at least
10 of the rarer outcome per estimated parameter), falls back to shrinkage when the logit
fails (e.g. perfect separation), and chooses alpha by time-blocked cross-validation.
Every result carries the fitted weights and base rate as a :class:`Priors` (same shape as
the input priors) plus fit statistics. Pure: no files; warnings from statsmodels are caught
and reported in the status, never leaked.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import polars as pl
import statsmodels.api as sm
from scipy.special import expit

from stressmodel.analysis.consolidation import COMPONENTS, Priors, is_dummy
from stressmodel.errors import InputError, ModelError, Problem

ALPHA_GRID: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
DEFAULT_ALPHA = 0.1
MAX_ABS_COEF = 15.0  # log-odds per SD beyond this signal (quasi-)separation
CV_BLOCKS = 4
INTERCEPT = "intercept"
_EVENTS = "events frame"


def feature_column(component: str) -> str:
    """Column of a component in the events frame: ``z_<c>`` (continuous) or ``<c>`` (dummy)."""
    return component if is_dummy(component) else f"z_{component}"


@dataclass(frozen=True)
class CalibrationResult:
    """A fitted consolidation model.

    ``priors``: the fitted weights and base rate, as a :class:`Priors` (horizon and Monte
    Carlo ranges copied from the input priors, or defaults). ``method``: ``"logit"`` or
    ``"shrinkage"``. ``status``: how the fit went, including any fallback and caught
    warnings. ``n`` firm-years, ``events`` count of 1s. ``log_likelihood`` of the fitted
    model on the sample; ``aic`` (logit only, None for penalised fits); ``pseudo_r2``
    McFadden 1 - llf/llnull (None if the sample has one outcome only); ``alpha`` the ridge
    penalty (shrinkage only); ``std_errors`` per ``"intercept"`` and component (logit only;
    None for regularised fits, which have no valid standard errors); ``deviations`` fitted
    minus prior (shrinkage only); ``cov_type``; ``cv_deviance`` held-out deviance per
    alpha when alpha was chosen by cross-validation.
    """

    priors: Priors
    method: str
    status: str
    n: int
    events: int
    log_likelihood: float | None
    aic: float | None
    pseudo_r2: float | None
    alpha: float | None
    std_errors: Mapping[str, float] | None
    deviations: Mapping[str, float] | None
    cov_type: str | None
    cv_deviance: Mapping[float, float] | None = None

    @property
    def weights(self) -> Mapping[str, float]:
        return self.priors.weights

    @property
    def base_rate(self) -> float:
        return self.priors.base_rate


# --------------------------------------------------------------------------- helpers


def _design(
    events: pl.DataFrame, components: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate the events frame; return y, X (with a leading constant), tickers, years."""
    cols = ["ticker", "year", "event", *[feature_column(c) for c in components]]
    problems = [
        Problem(_EVENTS, None, c, "a column", "none") for c in cols if c not in events.columns
    ]
    if problems:
        raise InputError(problems)
    for c in cols:
        nulls = events[c].null_count()
        if nulls:
            problems.append(Problem(_EVENTS, None, c, "no empty values", f"{nulls} empty"))
    if problems:
        raise InputError(problems)
    y = events["event"].cast(pl.Float64).to_numpy()
    if not np.all((y == 0) | (y == 1)):
        raise InputError(Problem(_EVENTS, None, "event", "0 or 1", "other values"))
    if events.height == 0 or y.min() == y.max():
        raise InputError(
            Problem(
                _EVENTS,
                None,
                "event",
                "at least one event and one non-event",
                f"{int(y.sum())} events in {events.height} rows",
            )
        )
    z = events.select([pl.col(feature_column(c)).cast(pl.Float64) for c in components])
    z_np = z.to_numpy().astype(float).reshape(events.height, len(components))
    if not np.all(np.isfinite(z_np)):
        raise InputError(Problem(_EVENTS, None, None, "finite feature values", "NaN or inf"))
    x = np.column_stack([np.ones(events.height), z_np])
    tickers = events["ticker"].cast(pl.String).to_numpy()
    years = events["year"].cast(pl.Int64).to_numpy()
    return y, x, tickers, years


def _loglik(y: np.ndarray, eta: np.ndarray) -> float:
    """Bernoulli log-likelihood sum y*eta - ln(1 + e^eta), computed stably."""
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def _null_loglik(y: np.ndarray) -> float | None:
    ybar = float(y.mean())
    if ybar in (0.0, 1.0):
        return None
    return float(y.size * (ybar * math.log(ybar) + (1 - ybar) * math.log(1 - ybar)))


def _warning_note(records: list[warnings.WarningMessage]) -> str:
    names = sorted({r.category.__name__ for r in records})
    return f" (caught warnings: {', '.join(names)})" if names else ""


def _as_priors(params: np.ndarray, components: Sequence[str], template: Priors) -> Priors:
    weights = {c: float(params[k + 1]) for k, c in enumerate(components)}
    return dataclasses.replace(template, weights=weights, base_rate=float(expit(params[0])))


def _named(values: np.ndarray, components: Sequence[str]) -> Mapping[str, float]:
    names = [INTERCEPT, *components]
    return MappingProxyType({k: float(v) for k, v in zip(names, values, strict=True)})


def king_zeng_intercept(
    intercept: float, sample_event_rate: float, population_event_rate: float
) -> float:
    """King & Zeng (2001) prior correction of a logit intercept for choice-based sampling.

    beta0 = beta0_hat - ln[((1 - tau)/tau) * (ybar/(1 - ybar))], where ybar is the share of
    events in the (subsampled) estimation sample and tau the population event rate
    (fractions). Example: -0.3, ybar 0.5, tau 0.02 -> -0.3 - ln 49 = -4.191820. Slopes are
    unchanged. Raises ValueError unless both rates are in (0, 1).
    """
    for name, v in (
        ("sample_event_rate", sample_event_rate),
        ("population_event_rate", population_event_rate),
    ):
        if not 0.0 < v < 1.0:
            raise ValueError(f"{name} must be in (0, 1)")
    tau, ybar = population_event_rate, sample_event_rate
    return intercept - math.log(((1.0 - tau) / tau) * (ybar / (1.0 - ybar)))


# --------------------------------------------------------------------------- logit


def _try_logit(
    y: np.ndarray, x: np.ndarray, tickers: np.ndarray, cluster_by_ticker: bool
) -> tuple[Any, str, str]:
    """Fit the logit; return (results or None, failure reason or "", note on warnings)."""
    groups = np.unique(tickers, return_inverse=True)[1]
    use_cluster = cluster_by_ticker and np.unique(groups).size > 1
    kwargs: dict[str, object] = {"disp": 0, "maxiter": 100, "method": "newton"}
    if use_cluster:
        kwargs |= {"cov_type": "cluster", "cov_kwds": {"groups": groups}}
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            res = sm.Logit(y, x).fit(**kwargs)
        except (np.linalg.LinAlgError, ValueError) as exc:
            return None, f"logit failed: {type(exc).__name__}: {exc}", _warning_note(rec)
    note = _warning_note(rec)
    params = np.asarray(res.params, dtype=float)
    bse = np.asarray(res.bse, dtype=float)
    separation = any("separation" in r.category.__name__.lower() for r in rec)
    if (
        separation
        or not bool(res.mle_retvals.get("converged", False))
        or not np.all(np.isfinite(params))
        or np.max(np.abs(params)) > MAX_ABS_COEF
        or not np.all(np.isfinite(bse))
    ):
        return None, "logit failed: perfect or quasi-complete separation suspected", note
    return res, "", note


def fit_logit(
    events: pl.DataFrame,
    cluster_by_ticker: bool = True,
    components: Sequence[str] = COMPONENTS,
    template: Priors | None = None,
) -> CalibrationResult:
    """Maximum-likelihood logit of ``event`` on an intercept and the component features.

    P(event) = 1/(1 + e^-(b0 + sum_k w_k z_k)); base rate = 1/(1 + e^-b0) (reference firm,
    over the horizon the events were counted for). Covariance cluster-robust by ticker
    (statsmodels ``cov_type='cluster'``) when ``cluster_by_ticker`` and more than one
    ticker; otherwise the usual ML covariance. ``template`` supplies horizon and Monte Carlo
    ranges of the returned :class:`Priors` (defaults if None).
    Failure policy: non-convergence, non-finite or implausibly large (|b| > 15) coefficients
    are treated as (quasi-)separation and raise :class:`ModelError`; :func:`calibrate`
    catches this case and falls back to shrinkage. Invalid events frames raise InputError.
    """
    y, x, tickers, _ = _design(events, components)
    res, reason, note = _try_logit(y, x, tickers, cluster_by_ticker)
    if res is None:
        raise ModelError(reason + note)
    return _logit_result(res, y, components, template or Priors(), note)


def _logit_result(
    res: Any, y: np.ndarray, components: Sequence[str], template: Priors, note: str
) -> CalibrationResult:
    params = np.asarray(res.params, dtype=float)
    return CalibrationResult(
        priors=_as_priors(params, components, template),
        method="logit",
        status="logit: maximum likelihood" + note,
        n=int(y.size),
        events=int(y.sum()),
        log_likelihood=float(res.llf),
        aic=float(res.aic),
        pseudo_r2=float(res.prsquared),
        alpha=None,
        std_errors=_named(np.asarray(res.bse, dtype=float), components),
        deviations=None,
        cov_type=str(res.cov_type),
    )


# --------------------------------------------------------------------------- shrinkage


def _prior_vector(priors: Priors, components: Sequence[str]) -> np.ndarray:
    return np.array([priors.intercept, *[priors.weights[c] for c in components]], dtype=float)


def _ridge_deviations(
    y: np.ndarray, x: np.ndarray, prior: np.ndarray, alpha: float
) -> tuple[np.ndarray, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        model = sm.GLM(y, x, family=sm.families.Binomial(), offset=x @ prior)
        res = model.fit_regularized(method="elastic_net", alpha=alpha, L1_wt=0.0)
    return np.asarray(res.params, dtype=float), list(rec)


def fit_shrinkage(events: pl.DataFrame, priors: Priors, alpha: float) -> CalibrationResult:
    """Ridge shrinkage toward the prior weights and base rate.

    GLM Binomial (logit link) with offset eta_prior = logit(pi0) + Z @ w_prior and
    parameters delta (intercept and one per component of ``priors``), fitted by
    ``fit_regularized(method='elastic_net', L1_wt=0.0, alpha=alpha)``, i.e. minimising
    -loglik/n + alpha * |delta|^2 / 2. Fitted = prior + delta (the base-rate intercept is
    shrunk too). alpha -> infinity returns the prior; alpha -> 0 the logit MLE. Note that
    the penalty is per observation, so a given alpha shrinks equally hard at any sample
    size: choose it by :func:`choose_alpha`.
    No standard errors (None) and no AIC (the effective degrees of freedom of a penalised
    fit are not the parameter count); log-likelihood and McFadden R^2 are computed from
    the fitted probabilities.
    """
    if not alpha >= 0:
        raise ValueError("alpha must be non-negative")
    components = list(priors.weights)
    y, x, _, _ = _design(events, components)
    prior = _prior_vector(priors, components)
    delta, rec = _ridge_deviations(y, x, prior, alpha)
    return _shrinkage_result(
        y,
        x,
        prior,
        delta,
        priors,
        components,
        alpha,
        f"shrinkage: ridge toward the priors, alpha = {alpha:g}" + _warning_note(rec),
    )


def _shrinkage_result(
    y: np.ndarray,
    x: np.ndarray,
    prior: np.ndarray,
    delta: np.ndarray,
    priors: Priors,
    components: Sequence[str],
    alpha: float,
    status: str,
    cv: Mapping[float, float] | None = None,
) -> CalibrationResult:
    fitted = prior + delta
    llf = _loglik(y, x @ fitted)
    ll0 = _null_loglik(y)
    return CalibrationResult(
        priors=_as_priors(fitted, components, priors),
        method="shrinkage",
        status=status,
        n=int(y.size),
        events=int(y.sum()),
        log_likelihood=llf,
        aic=None,
        pseudo_r2=None if ll0 is None else 1.0 - llf / ll0,
        alpha=float(alpha),
        std_errors=None,
        deviations=_named(delta, components),
        cov_type=None,
        cv_deviance=None if cv is None else MappingProxyType(dict(cv)),
    )


def choose_alpha(
    events: pl.DataFrame,
    priors: Priors,
    grid: Sequence[float] = ALPHA_GRID,
    n_blocks: int = CV_BLOCKS,
) -> tuple[float | None, Mapping[float, float]]:
    """Time-blocked cross-validation of the ridge penalty.

    The sorted distinct years are split into up to ``n_blocks`` contiguous blocks. Fold k
    trains on all years before block k and evaluates the held-out deviance
    -2 * sum[y ln p + (1 - y) ln(1 - p)] on block k (rolling origin; never trains on the
    future). A fold whose training part lacks an event or a non-event is skipped. Returns
    the alpha with the smallest total held-out deviance (ties -> the larger alpha, i.e.
    more shrinkage) and the deviance per alpha; (None, {}) when no fold is usable.
    """
    components = list(priors.weights)
    y, x, _, years = _design(events, components)
    prior = _prior_vector(priors, components)
    uniq = np.unique(years)
    if uniq.size < 2 or not grid:
        return None, MappingProxyType({})
    blocks = np.array_split(uniq, min(n_blocks, uniq.size))
    totals = dict.fromkeys(grid, 0.0)
    used = 0
    for k in range(1, len(blocks)):
        train = years < blocks[k][0]
        test = np.isin(years, blocks[k])
        yt = y[train]
        if yt.size == 0 or yt.min() == yt.max() or not test.any():
            continue
        used += 1
        for a in grid:
            delta, _ = _ridge_deviations(yt, x[train], prior, a)
            totals[a] += -2.0 * _loglik(y[test], x[test] @ (prior + delta))
    if used == 0:
        return None, MappingProxyType({})
    best = min(sorted(grid, reverse=True), key=lambda a: totals[a])
    return float(best), MappingProxyType(totals)


# --------------------------------------------------------------------------- calibrate


def calibrate(
    events: pl.DataFrame,
    priors: Priors,
    min_events_per_parameter: float = 10.0,
    alpha: float | None = None,
    cluster_by_ticker: bool = True,
) -> CalibrationResult:
    """Fit the consolidation model, choosing the method by events per parameter.

    Parameters = intercept + one weight per component of ``priors``. Events per parameter
    = (count of the rarer outcome) / parameters. At least ``min_events_per_parameter``
    (default 10, Peduzzi et al. 1996) -> :func:`fit_logit`; if the logit fails
    (separation, non-convergence) -> shrinkage, and the status says so. Fewer -> shrinkage
    (:func:`fit_shrinkage`) with ``alpha`` as given, else chosen by :func:`choose_alpha`
    (falling back to ``DEFAULT_ALPHA`` = 0.1, stated in the status, when the years do not
    allow a time-blocked fold).
    """
    components = list(priors.weights)
    y, x, tickers, _ = _design(events, components)
    n_params = len(components) + 1
    rarer = int(min(y.sum(), y.size - y.sum()))
    epp = rarer / n_params
    if epp >= min_events_per_parameter:
        res, reason, note = _try_logit(y, x, tickers, cluster_by_ticker)
        if res is not None:
            return _logit_result(res, y, components, priors, note)
        why = f"fallback from logit ({reason}{note})"
    else:
        why = f"{epp:.1f} events per parameter < {min_events_per_parameter:g}"
    cv: Mapping[float, float] | None = None
    if alpha is None:
        chosen, cv = choose_alpha(events, priors)
        if chosen is None:
            alpha_used, how = DEFAULT_ALPHA, f"default alpha {DEFAULT_ALPHA:g} (no usable CV fold)"
            cv = None
        else:
            alpha_used, how = chosen, f"alpha {chosen:g} by time-blocked CV"
    else:
        alpha_used, how = float(alpha), f"alpha {alpha:g} given"
    prior = _prior_vector(priors, components)
    delta, rec = _ridge_deviations(y, x, prior, alpha_used)
    status = f"shrinkage: {why}; {how}" + _warning_note(rec)
    return _shrinkage_result(y, x, prior, delta, priors, components, alpha_used, status, cv)
