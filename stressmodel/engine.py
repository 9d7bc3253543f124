"""The vectorised projection engine: every firm x scenario case in one polars frame.

The only Python loop is over quarters. Within a quarter, the equations of
:func:`stressmodel.model.step` become polars expressions; they are grouped by
dependency depth and evaluated with one ``with_columns`` per depth, so each quarter
costs a dozen vectorised passes over the case frame whatever the number of cases.

Case frame columns (one row per case): ``ticker``, ``scenario``, firm parameters
``f_<name>`` (see :data:`stressmodel.model.ALL_FIRM_PARAMS`), scenario parameters
``s_<name>`` (:data:`stressmodel.model.SCENARIO_PARAMS`) and the drivers of projected
quarter k = 1..H, ``d_intensity_<k>`` and ``d_raw_material_change_<k>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from stressmodel.model import ALL_FIRM_PARAMS, DRIVERS, SCENARIO_PARAMS, STATE, opening_state, step

KEYS = ("ticker", "scenario")


class PolarsOps:
    """The :class:`stressmodel.model.Ops` interface over polars expressions."""

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


def _compiled_step(k: int) -> tuple[list[list[pl.Expr]], list[str]]:
    ops = PolarsOps()
    f = {n: pl.col(f"f_{n}") for n in ALL_FIRM_PARAMS}
    s = {n: pl.col(f"s_{n}") for n in SCENARIO_PARAMS}
    prev = {n: pl.col(f"p_{n}") for n in STATE}
    d = {n: pl.col(f"d_{n}_{k}") for n in DRIVERS}
    step(ops, f, s, prev, d)
    return ops.levels(), [name for name, _ in ops.exprs]


def line_items() -> list[str]:
    """Names of every line item a projected quarter produces, in model order."""
    return _compiled_step(1)[1]


def project(cases: pl.DataFrame, horizon: int, quarter_labels: Sequence[str], first_index: int) -> pl.DataFrame:
    """Project every case over ``horizon`` quarters.

    Returns one row per case x projected quarter with ``ticker, scenario, quarter,
    quarter_index`` (absolute quarter index), ``step`` (1..H) and every line item, in
    quarter-major order (all cases of quarter 1, then quarter 2, ...); sort small frames
    by (ticker, scenario, quarter_index) where an order matters.
    """
    if len(quarter_labels) != horizon:
        raise ValueError("one quarter label per projected quarter is needed")
    numeric = [c for c in cases.columns if c not in KEYS]
    cases = cases.with_columns(pl.col(numeric).cast(pl.Float64))
    f = {n: pl.col(f"f_{n}") for n in ALL_FIRM_PARAMS}
    opening = opening_state(f)
    state = cases.select(
        [(opening[n] if isinstance(opening[n], pl.Expr) else pl.lit(float(opening[n]))).alias(f"p_{n}") for n in STATE]
    )
    const_cols = [*KEYS, *(f"f_{n}" for n in ALL_FIRM_PARAMS), *(f"s_{n}" for n in SCENARIO_PARAMS)]
    const = cases.select(const_cols)
    outputs = []
    names: list[str] = []
    for k in range(1, horizon + 1):
        levels, names = _compiled_step(k)
        frame = pl.concat(
            [const, cases.select([f"d_{n}_{k}" for n in DRIVERS]), state], how="horizontal"
        )
        for group in levels:
            frame = frame.with_columns(group)
        out = frame.select(
            *KEYS,
            pl.lit(quarter_labels[k - 1]).alias("quarter"),
            pl.lit(first_index + k - 1, dtype=pl.Int32).alias("quarter_index"),
            pl.lit(k, dtype=pl.Int32).alias("step"),
            *names,
        )
        outputs.append(out)
        state = out.select([pl.col(n).alias(f"p_{n}") for n in STATE])
    return pl.concat(outputs, how="vertical")
