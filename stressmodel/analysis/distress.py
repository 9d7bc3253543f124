"""Distress and solvency metrics as polars expressions (methods.md sections 1-5 and 7).

Every metric that can be undefined is returned as a :class:`Metric`, a named pair
``(value, status)`` of polars expressions. ``status`` is a Utf8 expression that reads
``"ok"`` or ``"n/a: <reason>"``; ``value`` is a Float64 expression that is null whenever the
status is not ``"ok"``. Neither ever holds ``inf`` or ``NaN``. Both carry a default output
name (``<metric>`` and ``<metric>_status``), so ``frame.with_columns(*altman_z(...))`` adds
two columns; re-alias them when a frame holds several copies.

Inputs are "expression-like" (:data:`ExprLike`): a ``pl.Expr``, a column name (``str``) or a
number (a literal). All inputs are cast to Float64. A null or NaN input gives the status
``"n/a: missing <input name>"``; the first failing check (in the order documented per
function) names the status.

Conventions (methods.md section 0): money in CNY millions; ratios as fractions; flows
(EBIT, sales, net income, funds from operations) are **annual** in the annual models
(Altman, Ohlson, Zmijewski, interest cover): the caller annualises (TTM or x4) and records
the choice. The CHS model takes its own, already-built inputs (quarterly NIMTA, monthly
excess returns). Only the Merton solve (:func:`merton_solve`) and the debt-at-risk helpers
work on scalars or frames rather than expressions.

This module is pure: it opens no files and imports no I/O or CLI libraries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import polars as pl

ExprLike = pl.Expr | str | float | int
"""A polars expression, a column name, or a number (used as a literal)."""

STATUS_OK = "ok"


class Metric(NamedTuple):
    """A metric value expression (Float64, null unless ok) and its status (Utf8)."""

    value: pl.Expr
    status: pl.Expr


# --------------------------------------------------------------------------------------
# helpers


def _expr(x: ExprLike) -> pl.Expr:
    """Turn an expression-like input into a Float64 expression."""
    if isinstance(x, pl.Expr):
        e = x
    elif isinstance(x, str):
        e = pl.col(x)
    elif isinstance(x, bool):
        raise TypeError("a boolean is not a numeric input")
    elif isinstance(x, int | float):
        e = pl.lit(float(x))
    else:
        raise TypeError(f"expected a polars expression, column name or number; got {x!r}")
    return e.cast(pl.Float64)


def _is_missing(e: pl.Expr) -> pl.Expr:
    return e.is_null() | e.is_nan()


def _guarded(
    value: pl.Expr,
    inputs: Mapping[str, pl.Expr],
    guards: Sequence[tuple[pl.Expr, str]],
    name: str,
) -> Metric:
    """Attach a status to ``value``.

    Checks run in order: each input missing (null or NaN) -> ``"n/a: missing <input>"``;
    then each ``(condition, reason)`` guard -> ``"n/a: <reason>"``; finally a non-finite
    value -> ``"n/a: non-finite result"``. The value is nulled unless the status is ok.
    """
    checks: list[tuple[pl.Expr, str]] = [
        (_is_missing(e), f"n/a: missing {label}") for label, e in inputs.items()
    ]
    checks += [(cond, f"n/a: {reason}") for cond, reason in guards]
    checks.append((~value.is_finite(), "n/a: non-finite result"))
    status = pl.lit(STATUS_OK, dtype=pl.String)
    for cond, reason in reversed(checks):  # nested when/otherwise: the first check wins
        status = pl.when(cond).then(pl.lit(reason, dtype=pl.String)).otherwise(status)
    out = pl.when(status == STATUS_OK).then(value).otherwise(pl.lit(None, dtype=pl.Float64))
    return Metric(out.alias(name), status.alias(f"{name}_status"))


def _zone(z: ExprLike, low: float, high: float, name: str) -> pl.Expr:
    """``"distress"`` if z < low, ``"grey"`` if low <= z <= high, ``"safe"`` if z > high;
    null when z is null or NaN."""
    e = _expr(z)
    return (
        pl.when(_is_missing(e))
        .then(pl.lit(None, dtype=pl.String))
        .when(e < low)
        .then(pl.lit("distress"))
        .when(e <= high)
        .then(pl.lit("grey"))
        .otherwise(pl.lit("safe"))
        .alias(name)
    )


def _logistic(x: pl.Expr) -> pl.Expr:
    """1 / (1 + e^(-x)); exp overflow gives 1/(1 + inf) = 0, never NaN."""
    return 1.0 / (1.0 + (-x).exp())


def norm_cdf(x: ExprLike) -> pl.Expr:
    """Standard normal CDF as an expression: Phi(x) = erfc(-x / sqrt 2) / 2.

    Uses ``erfc`` (not ``1 + erf``) so that the lower tail keeps its relative precision.
    Null stays null.
    """
    return 0.5 * (-_expr(x) / math.sqrt(2.0)).erfc()


# --------------------------------------------------------------------------------------
# Altman family (methods.md section 1)

Z_ZONES = (1.81, 2.99)
Z_PRIME_ZONES = (1.23, 2.90)
Z_DOUBLE_PRIME_ZONES = (1.10, 2.60)
EMS_CONSTANT = 3.25
EMS_ZONES = (1.10 + EMS_CONSTANT, 2.60 + EMS_CONSTANT)


def altman_z(
    working_capital: ExprLike,
    retained_earnings: ExprLike,
    ebit: ExprLike,
    market_equity: ExprLike,
    total_liabilities: ExprLike,
    sales: ExprLike,
    total_assets: ExprLike,
) -> Metric:
    """Altman (1968) original Z for public manufacturers.

    Z = 1.2*X1 + 1.4*X2 + 3.3*X3 + 0.6*X4 + 1.0*X5 with X1 = WC/TA, X2 = RE/TA,
    X3 = EBIT/TA, X4 = market equity / total liabilities, X5 = sales/TA.

    Units: CNY mn; EBIT and sales annual. Ratios as fractions (not percent; the 1968
    paper's 0.012 ... 0.999 coefficients were for percents).
    Zero/NaN policy: missing input -> ``n/a: missing <input>``; TA <= 0 ->
    ``n/a: non-positive total assets``; TL <= 0 -> ``n/a: non-positive total liabilities``
    (X4 undefined). Output names ``altman_z`` / ``altman_z_status``.
    """
    wc, re_, eb, me, tl, s, ta = map(
        _expr,
        (
            working_capital,
            retained_earnings,
            ebit,
            market_equity,
            total_liabilities,
            sales,
            total_assets,
        ),
    )
    value = 1.2 * wc / ta + 1.4 * re_ / ta + 3.3 * eb / ta + 0.6 * me / tl + 1.0 * s / ta
    return _guarded(
        value,
        {
            "working capital": wc,
            "retained earnings": re_,
            "EBIT": eb,
            "market equity": me,
            "total liabilities": tl,
            "sales": s,
            "total assets": ta,
        },
        [(ta <= 0, "non-positive total assets"), (tl <= 0, "non-positive total liabilities")],
        "altman_z",
    )


def altman_z_prime(
    working_capital: ExprLike,
    retained_earnings: ExprLike,
    ebit: ExprLike,
    book_equity: ExprLike,
    total_liabilities: ExprLike,
    sales: ExprLike,
    total_assets: ExprLike,
) -> Metric:
    """Altman (1983) Z' for private firms (book equity).

    Z' = 0.717*X1 + 0.847*X2 + 3.107*X3 + 0.420*X4' + 0.998*X5 with X4' = book equity / TL
    and X1, X2, X3, X5 as in :func:`altman_z`.

    Units: CNY mn; EBIT and sales annual. Zero/NaN policy as :func:`altman_z`.
    Output names ``altman_z_prime`` / ``altman_z_prime_status``.
    """
    wc, re_, eb, be, tl, s, ta = map(
        _expr,
        (
            working_capital,
            retained_earnings,
            ebit,
            book_equity,
            total_liabilities,
            sales,
            total_assets,
        ),
    )
    value = 0.717 * wc / ta + 0.847 * re_ / ta + 3.107 * eb / ta + 0.420 * be / tl + 0.998 * s / ta
    return _guarded(
        value,
        {
            "working capital": wc,
            "retained earnings": re_,
            "EBIT": eb,
            "book equity": be,
            "total liabilities": tl,
            "sales": s,
            "total assets": ta,
        },
        [(ta <= 0, "non-positive total assets"), (tl <= 0, "non-positive total liabilities")],
        "altman_z_prime",
    )


def altman_z_double_prime(
    working_capital: ExprLike,
    retained_earnings: ExprLike,
    ebit: ExprLike,
    book_equity: ExprLike,
    total_liabilities: ExprLike,
    total_assets: ExprLike,
) -> Metric:
    """Altman, Hartzell & Peck (1995) Z'' for non-manufacturers / emerging markets.

    Z'' = 6.56*X1 + 3.26*X2 + 6.72*X3 + 1.05*X4' (no sales term), X4' = book equity / TL.
    The project's primary Altman measure (methods.md 1.3).

    Units: CNY mn; EBIT annual. Zero/NaN policy as :func:`altman_z`.
    Output names ``altman_z_double_prime`` / ``altman_z_double_prime_status``.
    """
    wc, re_, eb, be, tl, ta = map(
        _expr,
        (working_capital, retained_earnings, ebit, book_equity, total_liabilities, total_assets),
    )
    value = 6.56 * wc / ta + 3.26 * re_ / ta + 6.72 * eb / ta + 1.05 * be / tl
    return _guarded(
        value,
        {
            "working capital": wc,
            "retained earnings": re_,
            "EBIT": eb,
            "book equity": be,
            "total liabilities": tl,
            "total assets": ta,
        },
        [(ta <= 0, "non-positive total assets"), (tl <= 0, "non-positive total liabilities")],
        "altman_z_double_prime",
    )


def altman_ems(z_double_prime: ExprLike) -> pl.Expr:
    """Emerging-market score EMS = 3.25 + Z'' (Altman 2005).

    Takes the Z'' value expression; null stays null (the Z'' status applies). Do not map
    EMS to bond ratings here: the rating table was not verified (methods.md 1.3).
    Output name ``altman_ems``.
    """
    return (_expr(z_double_prime) + EMS_CONSTANT).alias("altman_ems")


def altman_zone(z: ExprLike) -> pl.Expr:
    """Zone of the original Z: ``distress`` Z < 1.81, ``grey`` 1.81 <= Z <= 2.99,
    ``safe`` Z > 2.99. Null for a null Z. Output name ``altman_z_zone``."""
    return _zone(z, *Z_ZONES, "altman_z_zone")


def altman_zone_prime(z: ExprLike) -> pl.Expr:
    """Zone of Z': ``distress`` < 1.23, ``grey`` 1.23-2.90 (inclusive), ``safe`` > 2.90.
    Null for a null Z'. Output name ``altman_z_prime_zone``."""
    return _zone(z, *Z_PRIME_ZONES, "altman_z_prime_zone")


def altman_zone_double_prime(z: ExprLike) -> pl.Expr:
    """Zone of Z'': ``distress`` < 1.10, ``grey`` 1.10-2.60 (inclusive), ``safe`` > 2.60.
    Null for a null Z''. Output name ``altman_z_double_prime_zone``."""
    return _zone(z, *Z_DOUBLE_PRIME_ZONES, "altman_z_double_prime_zone")


def altman_zone_ems(ems: ExprLike) -> pl.Expr:
    """Zone of EMS (the Z'' cut-offs + 3.25): ``distress`` < 4.35, ``grey`` 4.35-5.85,
    ``safe`` > 5.85. Null for a null EMS. Output name ``altman_ems_zone``."""
    return _zone(ems, *EMS_ZONES, "altman_ems_zone")


# --------------------------------------------------------------------------------------
# Ohlson (1980) O-score (methods.md section 2)

CNY_MN = 1.0e6  # CNY per CNY million


def ohlson_size(
    total_assets_cny_mn: ExprLike, cny_per_usd: ExprLike, deflator_index: ExprLike
) -> Metric:
    """Ohlson's SIZE on his own scale: SIZE = ln(TA_USD / P).

    TA_USD = total_assets_cny_mn * 1e6 / cny_per_usd is total assets in US **dollars**
    (not millions). P is the US GNP/GDP implicit price deflator **rebased so that
    1968 = 100, passed as the index level itself** (e.g. 650, not 6.5): for FRED ``GDPDEF``,
    P = 100 * GDPDEF(t) / GDPDEF(1968), taken for the year before the balance-sheet date.
    This is Ohlson's convention (assets deflated by an index with base value 100) and the
    one of the worked example in methods.md 2: TA 10,000 CNY mn, 7.2 CNY/USD, P = 650 ->
    SIZE = ln(1.388889e9 / 650) = 14.574798.

    Zero/NaN policy: missing input -> ``n/a: missing <input>``; TA <= 0 ->
    ``n/a: non-positive total assets``; FX <= 0 -> ``n/a: non-positive FX rate``;
    P <= 0 -> ``n/a: non-positive deflator index``. Output ``ohlson_size`` (+ ``_status``).
    """
    ta, fx, p = _expr(total_assets_cny_mn), _expr(cny_per_usd), _expr(deflator_index)
    value = (ta * CNY_MN / fx / p).log()
    return _guarded(
        value,
        {"total assets": ta, "FX rate": fx, "deflator index": p},
        [
            (ta <= 0, "non-positive total assets"),
            (fx <= 0, "non-positive FX rate"),
            (p <= 0, "non-positive deflator index"),
        ],
        "ohlson_size",
    )


def ohlson_size_cny_mn(total_assets_cny_mn: ExprLike) -> Metric:
    """The practitioners' shortcut SIZE = ln(TA in CNY millions), no FX, no deflator.

    Fine for ranking firms at one date (it shifts every O by the same constant), wrong for
    probability levels: the shift is 0.407 * ln(unit factor) (methods.md 2, "pitfall
    demo": O = -2.660061, P = 0.065372 instead of -4.843395, 0.0078186 for MagCo).
    Zero/NaN policy: missing -> ``n/a: missing total assets``; TA <= 0 ->
    ``n/a: non-positive total assets``. Output ``ohlson_size`` (+ ``_status``).
    """
    ta = _expr(total_assets_cny_mn)
    return _guarded(
        ta.log(), {"total assets": ta}, [(ta <= 0, "non-positive total assets")], "ohlson_size"
    )


def ohlson_o_score(
    size: ExprLike,
    total_liabilities: ExprLike,
    total_assets: ExprLike,
    working_capital: ExprLike,
    current_liabilities: ExprLike,
    current_assets: ExprLike,
    net_income: ExprLike,
    net_income_prev: ExprLike,
    funds_from_operations: ExprLike,
) -> Metric:
    """Ohlson (1980) model 1 O-score (bankruptcy within one year).

    O = -1.32 - 0.407*SIZE + 6.03*TLTA - 1.43*WCTA + 0.0757*CLCA - 1.72*OENEG
        - 2.37*NITA - 1.83*FUTL + 0.285*INTWO - 0.521*CHIN
    with TLTA = TL/TA, WCTA = WC/TA (note the NEGATIVE sign), CLCA = CL/CA,
    OENEG = 1 if TL > TA, NITA = NI/TA, FUTL = FFO/TL (CFO as the FFO proxy),
    INTWO = 1 if NI < 0 and NI_prev < 0, CHIN = (NI - NI_prev)/(|NI| + |NI_prev|), 0 if both 0.

    ``size`` is the value of :func:`ohlson_size` (or :func:`ohlson_size_cny_mn` for the
    ranking-only shortcut). Units: CNY mn; NI, NI_prev and FFO annual.
    Zero/NaN policy: missing input (including a null size) -> ``n/a: missing <input>``;
    TA <= 0 -> ``n/a: non-positive total assets``; CA <= 0 ->
    ``n/a: non-positive current assets``; TL <= 0 -> ``n/a: non-positive total
    liabilities`` (FUTL undefined). Output ``ohlson_o`` (+ ``_status``).
    """
    sz, tl, ta, wc, cl, ca, ni, ni0, ffo = map(
        _expr,
        (
            size,
            total_liabilities,
            total_assets,
            working_capital,
            current_liabilities,
            current_assets,
            net_income,
            net_income_prev,
            funds_from_operations,
        ),
    )
    oeneg = (tl > ta).cast(pl.Float64)
    intwo = ((ni < 0) & (ni0 < 0)).cast(pl.Float64)
    denom = ni.abs() + ni0.abs()
    chin = pl.when(denom == 0).then(0.0).otherwise((ni - ni0) / denom)
    value = (
        -1.32
        - 0.407 * sz
        + 6.03 * tl / ta
        - 1.43 * wc / ta
        + 0.0757 * cl / ca
        - 1.72 * oeneg
        - 2.37 * ni / ta
        - 1.83 * ffo / tl
        + 0.285 * intwo
        - 0.521 * chin
    )
    return _guarded(
        value,
        {
            "size": sz,
            "total liabilities": tl,
            "total assets": ta,
            "working capital": wc,
            "current liabilities": cl,
            "current assets": ca,
            "net income": ni,
            "prior-year net income": ni0,
            "funds from operations": ffo,
        },
        [
            (ta <= 0, "non-positive total assets"),
            (ca <= 0, "non-positive current assets"),
            (tl <= 0, "non-positive total liabilities"),
        ],
        "ohlson_o",
    )


def ohlson_probability(o_score: ExprLike) -> pl.Expr:
    """P = 1 / (1 + e^(-O)), a fraction in [0, 1]. Null stays null.

    P > 0.5 is a convention, not Ohlson's cut-off (about 0.038 in his sample, recalled).
    Output name ``ohlson_p``.
    """
    return _logistic(_expr(o_score)).alias("ohlson_p")


# --------------------------------------------------------------------------------------
# Zmijewski (1984) probit (methods.md section 3)


def zmijewski_x(
    net_income: ExprLike,
    total_liabilities: ExprLike,
    total_assets: ExprLike,
    current_assets: ExprLike,
    current_liabilities: ExprLike,
) -> Metric:
    """Zmijewski (1984) probit index.

    X = -4.336 - 4.513*(NI/TA) + 5.679*(TL/TA) + 0.004*(CA/CL). The +0.004 sign is the
    widely used one; the primary paper's sign is unverified (methods.md 3). Higher X means
    higher risk; X > 0 means P > 0.5.

    Units: CNY mn; NI annual. Zero/NaN policy: missing -> ``n/a: missing <input>``;
    TA <= 0 -> ``n/a: non-positive total assets``; CL <= 0 ->
    ``n/a: non-positive current liabilities``. Output ``zmijewski_x`` (+ ``_status``).
    """
    ni, tl, ta, ca, cl = map(
        _expr, (net_income, total_liabilities, total_assets, current_assets, current_liabilities)
    )
    value = -4.336 - 4.513 * ni / ta + 5.679 * tl / ta + 0.004 * ca / cl
    return _guarded(
        value,
        {
            "net income": ni,
            "total liabilities": tl,
            "total assets": ta,
            "current assets": ca,
            "current liabilities": cl,
        },
        [(ta <= 0, "non-positive total assets"), (cl <= 0, "non-positive current liabilities")],
        "zmijewski_x",
    )


def zmijewski_probability(x: ExprLike) -> pl.Expr:
    """P = Phi(X), the standard normal CDF of the probit index. Null stays null.
    Output name ``zmijewski_p``."""
    return norm_cdf(x).alias("zmijewski_p")


# --------------------------------------------------------------------------------------
# Campbell, Hilscher & Szilagyi (2008), 12-month model (methods.md section 4)

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


# --------------------------------------------------------------------------------------
# Merton / KMV / Bharath-Shumway (methods.md section 5)


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


# --------------------------------------------------------------------------------------
# Interest cover, debt at risk, leverage (methods.md section 7)

ICR_AT_RISK = 1.0
ICR_WEAK = 2.0


def interest_cover(ebit: ExprLike, interest_expense: ExprLike) -> Metric:
    """Interest cover ICR = EBIT / interest expense (times).

    EBIT and interest over the same period (annual in the IMF/ECB recipe; a quarterly pair
    gives the same ratio). Interest is gross, positive. Negative EBIT gives a negative ICR
    (at risk). Zero/NaN policy: missing -> ``n/a: missing <input>``; interest == 0 ->
    ``n/a: zero interest expense``; interest < 0 -> ``n/a: negative interest expense``.
    Output ``icr`` (+ ``_status``).
    """
    eb, i = _expr(ebit), _expr(interest_expense)
    return _guarded(
        eb / i,
        {"EBIT": eb, "interest expense": i},
        [(i == 0, "zero interest expense"), (i < 0, "negative interest expense")],
        "icr",
    )


def icr_band(icr: ExprLike) -> pl.Expr:
    """ICR band: ``"at risk"`` ICR < 1; ``"weak"`` 1 <= ICR < 2; ``"adequate"`` ICR >= 2.
    Null for a null ICR. Output ``icr_band``."""
    e = _expr(icr)
    return (
        pl.when(_is_missing(e))
        .then(pl.lit(None, dtype=pl.String))
        .when(e < ICR_AT_RISK)
        .then(pl.lit("at risk"))
        .when(e < ICR_WEAK)
        .then(pl.lit("weak"))
        .otherwise(pl.lit("adequate"))
        .alias("icr_band")
    )


def debt_at_risk_flag(ebit: ExprLike, interest_expense: ExprLike, debt: ExprLike) -> pl.Expr:
    """Whether a firm's debt counts as "at risk" (ICR < 1), as a Boolean expression.

    True if interest > 0 and EBIT/interest < 1 (negative EBIT included); also true if
    interest == 0 and EBIT < 0 while debt > 0 (ICR -> -inf). False otherwise.
    **Null** (excluded from the DaR share) when an input is missing, debt < 0, or the firm
    has zero debt and zero interest (it adds nothing to DaR; methods.md 7 step 5).
    Interest < 0 is also excluded (meaningless). Output ``at_risk``.
    """
    eb, i, d = _expr(ebit), _expr(interest_expense), _expr(debt)
    excluded = (
        _is_missing(eb)
        | _is_missing(i)
        | _is_missing(d)
        | (d < 0)
        | (i < 0)
        | ((d == 0) & (i == 0))
    )
    flag = pl.when(i > 0).then(eb < ICR_AT_RISK * i).otherwise(eb < 0)
    return pl.when(excluded).then(pl.lit(None, dtype=pl.Boolean)).otherwise(flag).alias("at_risk")


def debt_at_risk(
    frame: pl.DataFrame,
    by: str | Sequence[str] = "scenario",
    ebit: str = "ebit",
    interest_expense: str = "interest_expense",
    debt: str = "debt",
) -> pl.DataFrame:
    """Debt-at-risk share per group (e.g. per scenario, or scenario x quarter).

    DaR share = sum_i D_i * 1[ICR_i < 1] / sum_i D_i over the firms of a group that are not
    excluded (see :func:`debt_at_risk_flag`). Measured by debt, not by number of firms.

    Returns one row per group, sorted by the keys, with columns: the keys, ``n_firms``
    (rows in the group), ``n_excluded``, ``n_at_risk``, ``debt_total`` and
    ``debt_at_risk`` (CNY mn, over included firms), ``dar_share`` (fraction, null unless
    ok) and ``dar_status`` (``"ok"`` or ``"n/a: zero total debt"``).
    """
    keys = [by] if isinstance(by, str) else list(by)
    flagged = frame.with_columns(debt_at_risk_flag(ebit, interest_expense, debt))
    d = pl.col(debt).cast(pl.Float64)
    included = pl.col("at_risk").is_not_null()
    out = (
        flagged.group_by(keys)
        .agg(
            pl.len().alias("n_firms"),
            (~included).sum().cast(pl.Int64).alias("n_excluded"),
            pl.col("at_risk").fill_null(False).sum().cast(pl.Int64).alias("n_at_risk"),
            d.filter(included).sum().alias("debt_total"),
            d.filter(pl.col("at_risk").fill_null(False)).sum().alias("debt_at_risk"),
        )
        .sort(keys)
    )
    ok = pl.col("debt_total") > 0
    return out.with_columns(
        pl.when(ok)
        .then(pl.col("debt_at_risk") / pl.col("debt_total"))
        .otherwise(pl.lit(None, dtype=pl.Float64))
        .alias("dar_share"),
        pl.when(ok)
        .then(pl.lit(STATUS_OK))
        .otherwise(pl.lit("n/a: zero total debt"))
        .alias("dar_status"),
    )


def debt_at_risk_share(
    ebit: Sequence[float | None],
    interest_expense: Sequence[float | None],
    debt: Sequence[float | None],
) -> tuple[float | None, str]:
    """Scalar-friendly DaR share for one group of firms (same rules as :func:`debt_at_risk`).

    Example (methods.md 7): EBIT (600, 90, 300, -50), interest (100, 120, 200, 40), debt
    (2500, 1800, 3000, 700) -> (0.3125, "ok"). Returns (None, "n/a: zero total debt") when
    no included firm has debt.
    """
    if not len(ebit) == len(interest_expense) == len(debt):
        raise ValueError("ebit, interest_expense and debt must have the same length")
    frame = pl.DataFrame(
        {
            "g": [0] * len(ebit),
            "ebit": list(ebit),
            "interest_expense": list(interest_expense),
            "debt": list(debt),
        },
        schema={
            "g": pl.Int64,
            "ebit": pl.Float64,
            "interest_expense": pl.Float64,
            "debt": pl.Float64,
        },
    )
    row = debt_at_risk(frame, by="g").row(0, named=True)
    return row["dar_share"], row["dar_status"]


def net_debt_to_ebitda(net_debt: ExprLike, ebitda: ExprLike) -> Metric:
    """Net debt / EBITDA (times). Net debt = debt - cash, CNY mn (negative = net cash, which
    gives a negative ratio); EBITDA annual.

    Zero/NaN policy: missing -> ``n/a: missing <input>``; EBITDA <= 0 ->
    ``n/a: non-positive EBITDA`` (the ratio would be meaningless or flip sign).
    Output ``net_debt_to_ebitda`` (+ ``_status``).
    """
    nd, eb = _expr(net_debt), _expr(ebitda)
    return _guarded(
        nd / eb,
        {"net debt": nd, "EBITDA": eb},
        [(eb <= 0, "non-positive EBITDA")],
        "net_debt_to_ebitda",
    )
