"""Ohlson (1980) O-score (methods.md section 2)."""

from __future__ import annotations

import polars as pl

from stressmodel.analysis.distress.common import (
    ExprLike,
    Metric,
    _expr,
    _guarded,
    _logistic,
)

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
