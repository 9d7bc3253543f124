"""Interest cover, debt at risk, leverage (methods.md section 7)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from stressmodel.analysis.distress.common import (
    STATUS_OK,
    ExprLike,
    Metric,
    _expr,
    _guarded,
    _is_missing,
)

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
