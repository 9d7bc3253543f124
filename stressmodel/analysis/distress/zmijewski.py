"""Zmijewski (1984) probit (methods.md section 3)."""

from __future__ import annotations

import polars as pl

from stressmodel.analysis.distress.common import (
    ExprLike,
    Metric,
    _expr,
    _guarded,
    norm_cdf,
)


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
