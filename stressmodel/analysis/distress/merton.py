"""Merton / KMV / Bharath-Shumway (methods.md section 5)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from stressmodel.analysis.distress.common import (
    STATUS_OK,
    ExprLike,
    Metric,
    _expr,
    _guarded,
    norm_cdf,
)


def kmv_default_point(short_term_debt: ExprLike, long_term_debt: ExprLike) -> pl.Expr:
    """KMV default point F = STD + 0.5*LTD (CNY mn). Null propagates.
    Output ``default_point``."""
    return (_expr(short_term_debt) + 0.5 * _expr(long_term_debt)).alias("default_point")


def naive_dd(
    equity: ExprLike,
    face_debt: ExprLike,
    sigma_equity: ExprLike,
    past_return: ExprLike,
    horizon_years: float = 1.0,
) -> Metric:
    """Bharath & Shumway (2008) naive distance to default.

    sigma_D = 0.05 + 0.25*sigma_E;  sigma_V = E/(E+F)*sigma_E + F/(E+F)*sigma_D;
    DD = [ln((E+F)/F) + (r_prev - sigma_V^2/2)*T] / (sigma_V*sqrt(T)).

    E = market cap and F = default point (STD + 0.5*LTD), both CNY mn; sigma_E annualised
    equity volatility (fraction); r_prev the stock's return over the past year (fraction,
    standing in for the expected asset return); T in years (default 1).
    Zero/NaN policy: missing -> ``n/a: missing <input>``; F <= 0 ->
    ``n/a: no debt (default point is zero)``; E <= 0 -> ``n/a: non-positive equity``;
    sigma_E < 0 -> ``n/a: negative equity volatility``. Output ``naive_dd`` (+ ``_status``).
    """
    if not horizon_years > 0:
        raise ValueError("horizon_years must be positive")
    e, f, se, r = map(_expr, (equity, face_debt, sigma_equity, past_return))
    sd = 0.05 + 0.25 * se
    sv = e / (e + f) * se + f / (e + f) * sd
    t = float(horizon_years)
    value = (((e + f) / f).log() + (r - sv.pow(2) / 2.0) * t) / (sv * math.sqrt(t))
    return _guarded(
        value,
        {"equity": e, "default point": f, "equity volatility": se, "past return": r},
        [
            (f <= 0, "no debt (default point is zero)"),
            (e <= 0, "non-positive equity"),
            (se < 0, "negative equity volatility"),
        ],
        "naive_dd",
    )


def naive_pd(dd: ExprLike) -> pl.Expr:
    """Model-implied default probability N(-DD) (not an empirical EDF). Null stays null.
    Output ``naive_pd``."""
    return norm_cdf(-_expr(dd)).alias("naive_pd")


@dataclass(frozen=True)
class MertonSolution:
    """Result of :func:`merton_solve`. Money in CNY mn, volatilities annual fractions.

    ``status`` is ``"ok"`` or ``"n/a: <reason>"``; the numbers are None unless ok.
    ``dd_risk_neutral`` is d2 (DD with mu = r) and ``pd_risk_neutral`` = N(-d2).
    """

    asset_value: float | None
    asset_volatility: float | None
    d1: float | None
    d2: float | None
    dd_risk_neutral: float | None
    pd_risk_neutral: float | None
    status: str


def _bs_d1(v: float, f: float, sigma_v: float, r: float, t: float) -> float:
    return (math.log(v / f) + (r + 0.5 * sigma_v * sigma_v) * t) / (sigma_v * math.sqrt(t))


def _bs_call(v: float, f: float, sigma_v: float, r: float, t: float) -> float:
    from scipy.special import ndtr

    d1 = _bs_d1(v, f, sigma_v, r, t)
    d2 = d1 - sigma_v * math.sqrt(t)
    return float(v * ndtr(d1) - f * math.exp(-r * t) * ndtr(d2))


def merton_solve(
    equity: float,
    face_debt: float,
    sigma_equity: float,
    r: float,
    horizon_years: float = 1.0,
    xtol: float = 1e-12,
) -> MertonSolution:
    """Solve Merton's two equations for asset value V and asset volatility sigma_V.

    E = V*N(d1) - F*e^(-rT)*N(d2)  and  sigma_E*E = N(d1)*sigma_V*V, with
    d1 = [ln(V/F) + (r + sigma_V^2/2)T]/(sigma_V*sqrt T), d2 = d1 - sigma_V*sqrt T.

    Solved as nested bracketed roots (scipy ``brentq``) rather than ``fsolve``: for a given
    sigma_V the call equation has exactly one V in [E, E + F*e^(-rT)]; the volatility
    equation g(sigma_V) = N(d1)*sigma_V*V(sigma_V) - sigma_E*E is negative as
    sigma_V -> 0 and non-negative at sigma_V = sigma_E, so the root is bracketed and the
    solve cannot wander. Same root as the two-equation ``fsolve`` of methods.md 5.1.

    Units: E, F in CNY mn; sigma_E annual fraction; r continuously compounded annual rate;
    T years. Zero/NaN policy (returns a status, never raises for data): F <= 0 ->
    ``n/a: no debt (default point is zero)``; E <= 0 -> ``n/a: non-positive equity``;
    sigma_E <= 0 -> ``n/a: non-positive equity volatility``; non-finite input ->
    ``n/a: missing input``.
    """
    vals = (equity, face_debt, sigma_equity, r, horizon_years)
    none = MertonSolution(None, None, None, None, None, None, "")
    if any(v is None or not math.isfinite(v) for v in vals):
        return _replace_status(none, "n/a: missing input")
    e, f, se, t = float(equity), float(face_debt), float(sigma_equity), float(horizon_years)
    if f <= 0:
        return _replace_status(none, "n/a: no debt (default point is zero)")
    if e <= 0:
        return _replace_status(none, "n/a: non-positive equity")
    if se <= 0:
        return _replace_status(none, "n/a: non-positive equity volatility")
    if t <= 0:
        return _replace_status(none, "n/a: non-positive horizon")
    # scipy is imported here, not with the module: a run that solves no Merton model
    # does not pay for scipy.optimize
    from scipy.optimize import brentq
    from scipy.special import ndtr

    pv_debt = f * math.exp(-r * t)

    def asset_value(sigma_v: float) -> float:
        lo, hi = e, e + pv_debt
        if _bs_call(lo, f, sigma_v, r, t) - e >= 0:
            return lo
        return float(brentq(lambda v: _bs_call(v, f, sigma_v, r, t) - e, lo, hi, xtol=xtol))

    def vol_gap(sigma_v: float) -> float:
        v = asset_value(sigma_v)
        return float(ndtr(_bs_d1(v, f, sigma_v, r, t)) * sigma_v * v - se * e)

    lo_s = se * 1e-6
    if vol_gap(se) <= 0 or vol_gap(lo_s) >= 0:
        return _replace_status(none, "n/a: no asset volatility solves the equations")
    sigma_v = float(brentq(vol_gap, lo_s, se, xtol=1e-15, rtol=1e-14))
    v = asset_value(sigma_v)
    d1 = _bs_d1(v, f, sigma_v, r, t)
    d2 = d1 - sigma_v * math.sqrt(t)
    return MertonSolution(v, sigma_v, d1, d2, d2, float(ndtr(-d2)), STATUS_OK)


def _replace_status(sol: MertonSolution, status: str) -> MertonSolution:
    return MertonSolution(
        sol.asset_value,
        sol.asset_volatility,
        sol.d1,
        sol.d2,
        sol.dd_risk_neutral,
        sol.pd_risk_neutral,
        status,
    )


def merton_distance_to_default(
    asset_value: float,
    asset_volatility: float,
    face_debt: float,
    mu: float,
    horizon_years: float = 1.0,
) -> tuple[float | None, str]:
    """Merton DD under drift mu: DD = [ln(V/F) + (mu - sigma_V^2/2)T]/(sigma_V*sqrt T).

    With mu = r this is d2. Returns ``(DD, "ok")`` or ``(None, "n/a: <reason>")`` when
    V <= 0, F <= 0 (``n/a: no debt (default point is zero)``), sigma_V <= 0 or T <= 0.
    """
    v, s, f, t = asset_value, asset_volatility, face_debt, horizon_years
    if any(x is None or not math.isfinite(x) for x in (v, s, f, mu, t)):
        return None, "n/a: missing input"
    if f <= 0:
        return None, "n/a: no debt (default point is zero)"
    if v <= 0:
        return None, "n/a: non-positive asset value"
    if s <= 0:
        return None, "n/a: non-positive asset volatility"
    if t <= 0:
        return None, "n/a: non-positive horizon"
    return (math.log(v / f) + (mu - 0.5 * s * s) * t) / (s * math.sqrt(t)), STATUS_OK
