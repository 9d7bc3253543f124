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
from functools import cache, partial
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


#: engines :func:`project` can use
BACKENDS = ("auto", "polars", "numpy", "fused")
#: ``auto`` thresholds, measured on the 2-core development machine (docs/model.md,
#: "Engines"): below :data:`NUMPY_MAX_CASES` cases the generated numpy kernel (no
#: compilation; ~5 ms per call, against polars' ~30 ms fixed cost), from there the fused
#: LLVM kernel (:mod:`stressmodel.model.fused`: ~0.3 s to compile once per process, or a
#: load from the on-disk object cache, then 2-3x the polars engine at 14,700 cases and
#: more above); the polars engine is the reference the others are tested against and
#: what ``auto`` uses when llvmlite is missing
NUMPY_MAX_CASES = 5_000


def choose_backend(backend: str, n_cases: int) -> str:
    """The engine ``project`` uses for ``n_cases`` cases: ``auto`` picks the generated
    numpy kernel below :data:`NUMPY_MAX_CASES` cases and the fused kernel from there
    (the polars engine if llvmlite is not installed)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown engine {backend!r}; known: {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    if n_cases < NUMPY_MAX_CASES:
        return "numpy"
    from stressmodel.model import fused

    return "fused" if fused.available() else "polars"


def project(
    cases: pl.DataFrame,
    horizon: int,
    quarter_labels: Sequence[str],
    first_index: int,
    *,
    outputs: Sequence[str] | None = None,
    backend: str = "auto",
) -> pl.DataFrame:
    """Project every case over ``horizon`` quarters.

    Returns one row per case x projected quarter with ``ticker, scenario, quarter,
    quarter_index`` (absolute quarter index), ``step`` (1..H) and every line item, in
    quarter-major order (all cases of quarter 1, then quarter 2, ...); sort small frames
    by (ticker, scenario, quarter_index) where an order matters.

    ``outputs``: only these line items (in this order) instead of every one. The whole
    model is evaluated either way; a subset saves holding the other columns (the Monte
    Carlo and the benchmark need a handful of the 64).

    ``backend``: ``polars`` (the reference: one ``with_columns`` per dependency level),
    ``numpy`` or ``fused`` (kernels generated from the same ``step``, see
    :mod:`stressmodel.model.kernel`; equal to the polars engine bit for bit on the
    shipped inputs and within 1e-12 relative in general, tests/test_kernel.py), or
    ``auto`` (see :func:`choose_backend`: numpy for small case sets, else fused).
    """
    if len(quarter_labels) != horizon:
        raise ValueError("one quarter label per projected quarter is needed")
    items = line_items() if outputs is None else list(outputs)
    unknown = [c for c in items if c not in _line_items()]
    if unknown:
        raise ValueError(f"unknown line items {unknown}; known: {', '.join(_line_items())}")
    if len(set(items)) != len(items):
        raise ValueError("each line item may be asked for once")
    engine = choose_backend(backend, cases.height)
    project_columns = {
        "polars": _project_polars,
        "numpy": partial(_project_kernel, "numpy"),
        "fused": _project_fused,
    }[engine]
    columns = project_columns(cases, horizon, items)
    n = cases.height
    q = np.repeat(np.arange(horizon, dtype=np.int32), n)
    keys = cases.select(KEYS)
    index = pl.concat([keys] * horizon, how="vertical", rechunk=False) if horizon else keys.clear()
    index = index.with_columns(
        pl.Series("quarter", list(quarter_labels), dtype=pl.String).gather(q),
        pl.Series("quarter_index", q + first_index, dtype=pl.Int32),
        pl.Series("step", q + 1, dtype=pl.Int32),
    )
    return index.hstack(columns)


def _project_kernel(
    engine: str, cases: pl.DataFrame, horizon: int, items: list[str]
) -> list[pl.Series]:
    from stressmodel.model import kernel

    n = cases.height
    f = cases.select(pl.col([f"f_{p}" for p in ALL_FIRM_PARAMS]).cast(pl.Float64)).to_numpy()
    s = cases.select(pl.col([f"s_{p}" for p in SCENARIO_PARAMS]).cast(pl.Float64)).to_numpy()
    drivers = [f"d_{p}_{k}" for p in DRIVERS for k in range(1, horizon + 1)]
    d = cases.select(pl.col(drivers).cast(pl.Float64)).to_numpy() if horizon else np.empty((n, 0))
    out = kernel.run(
        engine,
        np.ascontiguousarray(f.T),
        np.ascontiguousarray(s.T),
        np.ascontiguousarray(d.T).reshape(len(DRIVERS), horizon, n),
    )
    row = {name: j for j, name in enumerate(kernel.item_names())}
    if not horizon:
        return [pl.Series(name, [], pl.Float64) for name in items]
    columns = []
    for name in items:
        whole = pl.Series(name, out[row[name]].reshape(-1), dtype=pl.Float64)
        # one chunk per quarter (zero-copy slices), as the polars engine builds them
        columns.append(pl.concat([whole.slice(k * n, n) for k in range(horizon)], rechunk=False))
    return columns


def _float_column(cases: pl.DataFrame, name: str) -> np.ndarray:
    """A column as a contiguous float64 array: polars' own buffer where it is one
    chunk of float64 without nulls (no copy), else a copy."""
    col = cases.get_column(name)
    if col.dtype != pl.Float64:
        col = col.cast(pl.Float64)
    return np.ascontiguousarray(col.to_numpy(), dtype=np.float64)


def _project_fused(cases: pl.DataFrame, horizon: int, items: list[str]) -> list[pl.Series]:
    from stressmodel.model import fused

    n = cases.height
    if not horizon or not n:
        return [pl.Series(name, [], pl.Float64) for name in items]
    firm = [_float_column(cases, f"f_{p}") for p in ALL_FIRM_PARAMS]
    scen = [_float_column(cases, f"s_{p}") for p in SCENARIO_PARAMS]
    drivers = [_float_column(cases, f"d_{p}_{k}") for p in DRIVERS for k in range(1, horizon + 1)]
    out = fused.run(firm, scen, drivers, horizon, items=items)
    ldo = out.shape[2]
    columns = []
    for j, name in enumerate(items):
        # a view of the output block (polars keeps the block alive and copies nothing),
        # cut into one chunk per quarter as the polars engine builds them (the slices
        # skip the padding of each quarter's row)
        whole = pl.Series(name, out[j].reshape(-1))
        columns.append(pl.concat([whole.slice(k * ldo, n) for k in range(horizon)], rechunk=False))
    return columns


def _project_polars(cases: pl.DataFrame, horizon: int, items: list[str]) -> list[pl.Series]:
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
    return [
        pl.concat(columns[name], rechunk=False).alias(name)
        if columns[name]
        else pl.Series(name, [], pl.Float64)
        for name in items
    ]
