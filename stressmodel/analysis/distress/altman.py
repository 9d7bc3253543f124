"""Altman family (methods.md section 1)."""

from __future__ import annotations

import polars as pl

from stressmodel.analysis.distress.common import (
    ExprLike,
    Metric,
    _expr,
    _guarded,
    _zone,
)

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
