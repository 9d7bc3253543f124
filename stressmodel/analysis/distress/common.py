"""Shared pieces of the distress metrics: the :class:`Metric` pair, expression helpers and the
normal CDF (see the package docstring for the conventions)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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
