"""Campbell, Hilscher & Szilagyi (2008), 12-month model (methods.md section 4)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from stressmodel.analysis.distress.common import (
    ExprLike,
    Metric,
    _expr,
    _guarded,
    _logistic,
)

CHS_PHI = 2.0 ** (-1.0 / 3.0)


def chs_nimtaavg_weights() -> tuple[float, float, float, float]:
    """Weights of NIMTAAVG on NIMTA_{q-1..q-4} (newest first).

    w_k = (1 - phi^3)/(1 - phi^12) * phi^(3k), phi = 2^(-1/3); because phi^3 = 1/2 they are
    exactly 8/15, 4/15, 2/15, 1/15 and sum to 1.
    """
    phi3 = CHS_PHI**3
    c = (1.0 - phi3) / (1.0 - CHS_PHI**12)
    w = tuple(c * phi3**k for k in range(4))
    return (w[0], w[1], w[2], w[3])


def chs_exretavg_weights() -> tuple[float, ...]:
    """Twelve weights of EXRETAVG on EXRET_{t-1..t-12} (newest first).

    w_j = (1 - phi)/(1 - phi^12) * phi^(j-1), j = 1..12, phi = 2^(-1/3); the first is
    0.220053, each next one is phi times the previous, and they sum to 1.
    """
    c = (1.0 - CHS_PHI) / (1.0 - CHS_PHI**12)
    return tuple(c * CHS_PHI**j for j in range(12))


def _weighted_average(values: Sequence[float], weights: Sequence[float], what: str) -> float:
    if len(values) != len(weights):
        raise ValueError(f"{what} needs exactly {len(weights)} values, newest first")
    return float(sum(w * v for w, v in zip(weights, values, strict=True)))


def chs_nimtaavg(nimta_newest_first: Sequence[float]) -> float:
    """NIMTAAVG = sum_k w_k * NIMTA_{q-1-k} (weights of :func:`chs_nimtaavg_weights`).

    NIMTA = quarterly NI / (market equity + book total liabilities), a quarterly flow, not
    annualised. Exactly four values, newest first; e.g. (0.004, 0.006, 0.008, 0.010) ->
    0.0054667. A missing quarter is the caller's problem (raises ValueError on a wrong
    count; NaN propagates).
    """
    return _weighted_average(nimta_newest_first, chs_nimtaavg_weights(), "NIMTAAVG")


def chs_exretavg(exret_newest_first: Sequence[float]) -> float:
    """EXRETAVG = sum_j w_j * EXRET_{t-j}, j = 1..12 (weights of :func:`chs_exretavg_weights`).

    EXRET = log(1 + R_firm) - log(1 + R_index), monthly. Exactly twelve values, newest first.
    """
    return _weighted_average(exret_newest_first, chs_exretavg_weights(), "EXRETAVG")


def chs_market_to_book(
    market_equity: ExprLike, book_equity: ExprLike, floor: float = 1.0
) -> Metric:
    """CHS MB = ME / BE*, BE* = BE + 0.1*(ME - BE); BE* <= 0 is replaced by ``floor``
    (CNY mn; CHS use "a small positive number", recalled).

    Zero/NaN policy: missing -> ``n/a: missing <input>``; ME <= 0 ->
    ``n/a: non-positive market equity``. Output ``chs_mb`` (+ ``_status``).
    """
    me, be = _expr(market_equity), _expr(book_equity)
    be_star = be + 0.1 * (me - be)
    be_star = pl.when(be_star <= 0).then(pl.lit(float(floor))).otherwise(be_star)
    return _guarded(
        me / be_star,
        {"market equity": me, "book equity": be},
        [(me <= 0, "non-positive market equity")],
        "chs_mb",
    )


def chs_price(price_cny: ExprLike, cny_per_usd: ExprLike, cap_usd: float = 15.0) -> Metric:
    """CHS PRICE = ln(min(price per share in USD, $15)); the cap is a US penny-stock proxy.

    Zero/NaN policy: missing -> ``n/a: missing <input>``; price <= 0 ->
    ``n/a: non-positive price``; FX <= 0 -> ``n/a: non-positive FX rate``.
    Output ``chs_price`` (+ ``_status``).
    """
    p, fx = _expr(price_cny), _expr(cny_per_usd)
    usd = p / fx
    capped = pl.when(usd > cap_usd).then(pl.lit(float(cap_usd))).otherwise(usd)
    return _guarded(
        capped.log(),
        {"price": p, "FX rate": fx},
        [(p <= 0, "non-positive price"), (fx <= 0, "non-positive FX rate")],
        "chs_price",
    )


def chs_lpfd(
    nimtaavg: ExprLike,
    tlmta: ExprLike,
    exretavg: ExprLike,
    sigma: ExprLike,
    rsize: ExprLike,
    cashmta: ExprLike,
    mb: ExprLike,
    price: ExprLike,
) -> Metric:
    """CHS (2008) 12-month failure logit index.

    LPFD = -9.164 - 20.264*NIMTAAVG + 1.416*TLMTA - 7.129*EXRETAVG + 1.411*SIGMA
           - 0.045*RSIZE - 2.132*CASHMTA + 0.075*MB - 0.058*PRICE

    Inputs are the CHS variables, already built (fractions; SIGMA annualised; RSIZE and
    PRICE logs). Winsorising (5/95 pct of the pooled sample) is the caller's job.
    Zero/NaN policy: a missing input -> ``n/a: missing <input>``.
    Output ``chs_lpfd`` (+ ``_status``).
    """
    names = ("NIMTAAVG", "TLMTA", "EXRETAVG", "SIGMA", "RSIZE", "CASHMTA", "MB", "PRICE")
    ex = [_expr(v) for v in (nimtaavg, tlmta, exretavg, sigma, rsize, cashmta, mb, price)]
    n, tl, er, sg, rs, cm, m, pr = ex
    value = (
        -9.164
        - 20.264 * n
        + 1.416 * tl
        - 7.129 * er
        + 1.411 * sg
        - 0.045 * rs
        - 2.132 * cm
        + 0.075 * m
        - 0.058 * pr
    )
    return _guarded(value, dict(zip(names, ex, strict=True)), [], "chs_lpfd")


def chs_pfd(lpfd: ExprLike) -> pl.Expr:
    """PFD = 1/(1 + e^(-LPFD)): the probability of failing in the month 12 months ahead,
    given survival until then (a monthly marginal probability, NOT a cumulative 12-month
    one). Null stays null. Output ``chs_pfd``."""
    return _logistic(_expr(lpfd)).alias("chs_pfd")


def chs_cumulative_12m(pfd: ExprLike) -> pl.Expr:
    """Rough cumulative 12-month probability 1 - (1 - PFD)^12, assuming a flat monthly
    hazard (label it an approximation). Null stays null. Output ``chs_pfd_12m_approx``."""
    return (1.0 - (1.0 - _expr(pfd)).pow(12)).alias("chs_pfd_12m_approx")
