"""The vectorised projection engine: every firm x scenario case in one polars frame.

The only Python loop is over quarters. Within a quarter the equations of
:func:`stressmodel.model.quarter.step` are polars expressions over the case frame, grouped by
dependency depth and evaluated with one ``with_columns`` per depth, so a quarter costs
about two dozen vectorised passes whatever the number of cases. The expressions are
built once and reused for every quarter and every call.

polars evaluates ``x / c`` for a constant ``c`` as ``x * (1 / c)``, so the engine can
differ from the float reference (:mod:`stressmodel.model.reference`) by a few units in the last
place (measured: below 3e-13 relative); tests compare at 1e-12.

Case frame columns (one row per case): ``ticker``, ``scenario``, firm parameters
``f_<name>`` (see :data:`stressmodel.model.quarter.ALL_FIRM_PARAMS`), scenario parameters
``s_<name>`` (:data:`stressmodel.model.quarter.SCENARIO_PARAMS`) and the drivers of projected
quarter k = 1..H, ``d_intensity_<k>`` and ``d_raw_material_change_<k>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import polars as pl

from stressmodel.model.quarter import (
    ALL_FIRM_PARAMS,
    DRIVERS,
    SCENARIO_PARAMS,
    STATE,
    opening_state,
    step,
)

KEYS = ("ticker", "scenario")
#: columns of the projection before the line items
INDEX_COLUMNS = (*KEYS, "quarter", "quarter_index", "step")


class PolarsOps:
    """The :class:`stressmodel.model.quarter.Ops` interface over polars expressions."""

    def __init__(self) -> None:
        self.exprs: list[tuple[str, pl.Expr]] = []
        self._names: set[str] = set()

    def let(self, name: str, value: Any) -> pl.Expr:
        expr = value if isinstance(value, pl.Expr) else pl.lit(float(value))
        self.exprs.append((name, expr.alias(name)))
        self._names.add(name)
        return pl.col(name)

    @staticmethod
    def _e(v: Any) -> pl.Expr:
        return v if isinstance(v, pl.Expr) else pl.lit(float(v))

    def max(self, *values: Any) -> pl.Expr:
        return pl.max_horizontal(*[self._e(v) for v in values])

    def min(self, *values: Any) -> pl.Expr:
        return pl.min_horizontal(*[self._e(v) for v in values])

    def levels(self) -> list[list[pl.Expr]]:
        """Group the recorded expressions by dependency depth."""
        depth: dict[str, int] = {}
        groups: list[list[pl.Expr]] = []
        for name, expr in self.exprs:
            deps = [r for r in expr.meta.root_names() if r in depth]
            lvl = 1 + max((depth[r] for r in deps), default=-1)
            depth[name] = lvl
            while len(groups) <= lvl:
                groups.append([])
            groups[lvl].append(expr)
        return groups


class _NameOps:
    """Records the names of the line items, in model order."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def let(self, name: str, value: Any) -> Any:
        self.names.append(name)
        return value

    @staticmethod
    def max(*values: Any) -> Any:
        return values[0]

    @staticmethod
    def min(*values: Any) -> Any:
        return values[0]


@cache
def _line_items() -> tuple[str, ...]:
    ops = _NameOps()
    one = np.ones(1)
    f = {n: one for n in ALL_FIRM_PARAMS}
    s = {n: one for n in SCENARIO_PARAMS}
    step(ops, f, s, opening_state(f, s, ops), {n: one for n in DRIVERS})
    return tuple(ops.names)


def line_items() -> list[str]:
    """Names of every line item a projected quarter produces, in model order."""
    return list(_line_items())


@cache
def _compiled() -> tuple[list[list[pl.Expr]], list[pl.Expr]]:
    """The quarter's expressions grouped by dependency depth, and the opening state."""
    ops = PolarsOps()
    f = {n: pl.col(f"f_{n}") for n in ALL_FIRM_PARAMS}
    step(
        ops,
        f,
        {n: pl.col(f"s_{n}") for n in SCENARIO_PARAMS},
        {n: pl.col(f"p_{n}") for n in STATE},
        {n: pl.col(f"d_{n}") for n in DRIVERS},
    )
    opening = opening_state(f, {n: pl.col(f"s_{n}") for n in SCENARIO_PARAMS}, PolarsOps())
    state0 = [
        (opening[n] if isinstance(opening[n], pl.Expr) else pl.lit(float(opening[n]))).alias(
            f"p_{n}"
        )
        for n in STATE
    ]
    return ops.levels(), state0


def project(
    cases: pl.DataFrame,
    horizon: int,
    quarter_labels: Sequence[str],
    first_index: int,
    *,
    outputs: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Project every case over ``horizon`` quarters.

    Returns one row per case x projected quarter with ``ticker, scenario, quarter,
    quarter_index`` (absolute quarter index), ``step`` (1..H) and every line item, in
    quarter-major order (all cases of quarter 1, then quarter 2, ...); sort small frames
    by (ticker, scenario, quarter_index) where an order matters.

    ``outputs``: only these line items (in this order) instead of every one. The whole
    model is evaluated either way; a subset saves holding the other columns (the Monte
    Carlo and the benchmark need a handful of the 64).
    """
    if len(quarter_labels) != horizon:
        raise ValueError("one quarter label per projected quarter is needed")
    items = line_items() if outputs is None else list(outputs)
    unknown = [c for c in items if c not in _line_items()]
    if unknown:
        raise ValueError(f"unknown line items {unknown}; known: {', '.join(_line_items())}")
    if len(set(items)) != len(items):
        raise ValueError("each line item may be asked for once")
    levels, state0 = _compiled()
    constant = [*(f"f_{p}" for p in ALL_FIRM_PARAMS), *(f"s_{p}" for p in SCENARIO_PARAMS)]
    drivers = [f"d_{p}_{k}" for k in range(1, horizon + 1) for p in DRIVERS]
    numeric = cases.select(pl.col([*constant, *drivers]).cast(pl.Float64))  # cast once
    const = numeric.select(constant)
    state = const.select(state0)
    columns: dict[str, list[pl.Series]] = {name: [] for name in items}
    for k in range(1, horizon + 1):  # the one Python loop
        frame = pl.concat(
            [const, numeric.select([pl.col(f"d_{p}_{k}").alias(f"d_{p}") for p in DRIVERS]), state],
            how="horizontal",
        )
        for group in levels:
            frame = frame.with_columns(group)
        for name in items:
            columns[name].append(frame.get_column(name))
        state = frame.select([pl.col(n).alias(f"p_{n}") for n in STATE])
    n = cases.height
    q = np.repeat(np.arange(horizon, dtype=np.int32), n)
    keys = cases.select(KEYS)
    index = pl.concat([keys] * horizon, how="vertical", rechunk=False) if horizon else keys.clear()
    index = index.with_columns(
        pl.Series("quarter", list(quarter_labels), dtype=pl.String).gather(q),
        pl.Series("quarter_index", q + first_index, dtype=pl.Int32),
        pl.Series("step", q + 1, dtype=pl.Int32),
    )
    return index.hstack(
        [
            pl.concat(columns[name], rechunk=False).alias(name)
            if columns[name]
            else pl.Series(name, [], pl.Float64)
            for name in items
        ]
    )
