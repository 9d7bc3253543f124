"""The engine's values that the workbooks carry as cached formula results.

Every number here comes from the run's frames (``result.projection``,
``result.valuation``, ``result.cases``) or from the engine's own code evaluated with the
polars back end (:class:`stressmodel.model.engine.PolarsOps`) on those frames — the opening
state of :func:`stressmodel.model.quarter.opening_state` and the terminal quarter of
:func:`stressmodel.model.quarter.terminal`, exactly as :func:`stressmodel.model.engine.project` and
:func:`stressmodel.analysis.valuation.dcf` evaluate them. Nothing is computed by evaluating the
workbook's formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from stressmodel.analysis.valuation import TERMINAL_INPUTS, discount_factor
from stressmodel.errors import ReportError
from stressmodel.model.engine import KEYS, PolarsOps
from stressmodel.model.quarter import (
    ALL_FIRM_PARAMS,
    SCENARIO_PARAMS,
    STATE,
    opening_state,
    terminal,
)
from stressmodel.pipeline.result import RunResult

#: valuation columns that must agree between result.valuation and the terminal evaluated here
CHECKED_TERMINAL = ("tv_fcf", "tv_working_capital_release")


@dataclass(frozen=True)
class CaseValues:
    """Engine values of one firm under one scenario."""

    ticker: str
    scenario: str
    steps: dict[str, list[float]]  # line item -> value per projected quarter (step 1..H)
    opening: dict[str, float]  # state at the end of the as-of quarter
    terminal: dict[str, float]  # tv_* line items
    valuation: dict[str, Any]  # the row of result.valuation
    discount: list[float]  # discount factor of step 1..H

    def at(self, step: int) -> dict[str, float]:
        return {k: v[step - 1] for k, v in self.steps.items()}


def _eval_levels(frame: pl.DataFrame, ops: PolarsOps) -> pl.DataFrame:
    for group in ops.levels():
        frame = frame.with_columns(group)
    return frame


def case_values(
    result: RunResult, discount_rate: float, tickers: list[str] | None = None
) -> dict[tuple[str, str], CaseValues]:
    """Engine values of every (ticker, named scenario) case of the run (``discount_rate``:
    the rate the run valued with, sector.toml ``discount_rate``)."""
    tickers = list(result.tickers if tickers is None else tickers)
    names = [s.name for s in result.scenarios]
    horizon = result.horizon
    proj = result.projection.filter(
        pl.col("ticker").is_in(tickers) & pl.col("scenario").is_in(names)
    ).sort([*KEYS, "quarter_index"])
    cases = result.cases.filter(pl.col("ticker").is_in(tickers) & pl.col("scenario").is_in(names))
    numeric = [c for c in cases.columns if c not in KEYS]
    cases = cases.with_columns(pl.col(numeric).cast(pl.Float64))

    # opening state: the engine's expression on the engine's firm parameters
    f = {p: pl.col(f"f_{p}") for p in ALL_FIRM_PARAMS}
    opening_exprs = opening_state(f, {p: pl.col(f"s_{p}") for p in SCENARIO_PARAMS}, PolarsOps())
    opening = cases.select(
        *KEYS,
        *[
            (e if isinstance(e, pl.Expr) else pl.lit(float(e))).alias(n)
            for n, e in opening_exprs.items()
        ],
    )

    # terminal quarter: model.terminal with the polars back end, as valuation.dcf does
    last = proj.filter(pl.col("step") == horizon).select(
        *KEYS, *[pl.col(c).alias(f"last_{c}") for c in TERMINAL_INPUTS]
    )
    params = cases.select(
        *KEYS, *[f"f_{p}" for p in ALL_FIRM_PARAMS], *[f"s_{p}" for p in SCENARIO_PARAMS]
    )
    ops = PolarsOps()
    terminal(
        ops,
        {p: pl.col(f"f_{p}") for p in ALL_FIRM_PARAMS},
        {p: pl.col(f"s_{p}") for p in SCENARIO_PARAMS},
        {c: pl.col(f"last_{c}") for c in TERMINAL_INPUTS},
    )
    tv_names = [n for n, _ in ops.exprs]
    term = _eval_levels(last.join(params, on=list(KEYS), how="left"), ops).select(*KEYS, *tv_names)

    val = result.valuation.filter(pl.col("ticker").is_in(tickers) & pl.col("scenario").is_in(names))
    val_rows = {(r["ticker"], r["scenario"]): r for r in val.iter_rows(named=True)}
    open_rows = {(r["ticker"], r["scenario"]): r for r in opening.iter_rows(named=True)}
    term_rows = {(r["ticker"], r["scenario"]): r for r in term.iter_rows(named=True)}
    discount = [float(discount_factor(discount_rate, s)) for s in range(1, horizon + 1)]  # type: ignore[arg-type]

    items = [c for c in proj.columns if c not in (*KEYS, "quarter", "quarter_index", "step")]
    out: dict[tuple[str, str], CaseValues] = {}
    # every column as a list at once, each case's quarters a slice of them (proj is sorted
    # by case, so a case's rows are contiguous, cases in the order group_by keeps)
    columns = proj.select(*KEYS, "step", *items).to_dict(as_series=False)
    ticker_col, scenario_col, step_col = (columns[k] for k in (*KEYS, "step"))
    quarters = list(range(1, horizon + 1))
    start, height = 0, proj.height
    while start < height:
        t, s = ticker_col[start], scenario_col[start]
        end = start + 1
        while end < height and ticker_col[end] == t and scenario_col[end] == s:
            end += 1
        key = (str(t), str(s))
        if end - start != horizon or step_col[start:end] != quarters:
            raise ReportError(
                f"workbook layout: projection of {key} does not have {horizon} quarters in order"
            )
        steps = {c: columns[c][start:end] for c in items}
        start = end
        tv = {n: float(term_rows[key][n]) for n in tv_names}
        v = val_rows.get(key)
        if v is None:
            raise ReportError(f"workbook layout: no valuation for {key}")
        for c in CHECKED_TERMINAL:
            if not math.isclose(tv[c], v[c], rel_tol=1e-12, abs_tol=1e-9):
                raise ReportError(
                    f"workbook layout: terminal {c} of {key} differs from result.valuation "
                    f"({tv[c]} vs {v[c]})"
                )
        out[key] = CaseValues(
            ticker=key[0],
            scenario=key[1],
            steps=steps,
            opening={n: float(open_rows[key][n]) for n in STATE},
            terminal=tv,
            valuation=v,
            discount=discount,
        )
    missing = [(t, s) for t in tickers for s in names if (t, s) not in out]
    if missing:
        raise ReportError(f"workbook layout: no projection for {missing}")
    return out
