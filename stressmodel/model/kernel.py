"""Straight-line projection kernels generated from :func:`stressmodel.model.quarter.step`.

A fourth back end of the one model: :class:`CodeOps` evaluates ``step`` on symbols and
records Python source, one assignment per line item, in model order (as
:mod:`stressmodel.report.formulas` writes Excel formulas). The recorded quarter is
wrapped in two kernels over the same arrays:

- :func:`numpy_kernel`: one numpy operation per equation over all cases (a Python loop
  over quarters only) — for small case sets, where polars' fixed cost per call (about
  26 ``with_columns`` per quarter, ~30 ms for a 35-row frame) dominates.

The fused kernel for large case sets is the same recording written as LLVM IR
(:mod:`stressmodel.model.fused`, through its own Ops).

It is generated from whatever ``step`` is at import time, never written by hand, so a
new channel in the model reaches them without an edit here.

Arithmetic is the polars engine's, operation for operation: the same expression tree in
the same order, and a division by a constant ``c`` written as a multiplication by ``1/c``
(polars evaluates ``x / c`` that way on a contiguous column). The kernels therefore give
the polars engine's numbers bit for bit on the shipped firms' case frame. polars
itself divides exactly where it holds a column as one-row chunks or as a broadcast
scalar (the reverse stress test's frames are built row by row), so there the kernels can
differ from it by a few units in the last place: the documented tolerance is 1e-12
relative to a line item's scale (tests: ``tests/test_kernel.py``; measured on the
shipped run: one figure, ``value_no_shock`` of 603072.SH, moves by 2 ulp, 2.3e-16
relative). ``max``/``min`` are ``np.maximum``/``np.minimum`` (NaN propagates; the
model's inputs are validated finite).

Array layout: ``F`` (firm parameters x cases), ``S`` (scenario parameters x cases),
``D`` (drivers x quarters x cases) and the output ``OUT`` (line items x quarters x
cases), so ``OUT[j].reshape(-1)`` is line item j in the engine's quarter-major order.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from stressmodel.model.quarter import (
    ALL_FIRM_PARAMS,
    DRIVERS,
    SCENARIO_PARAMS,
    STATE,
    opening_state,
    step,
)

Number = int | float


class Sym:
    """A symbolic value: the source text of a Python expression."""

    __slots__ = ("code",)

    def __init__(self, code: str) -> None:
        self.code = code

    # arithmetic keeps the operand order of the expression, exactly as polars builds it
    def __add__(self, o: Any) -> Sym:
        return _bin(self, "+", o)

    def __radd__(self, o: Any) -> Sym:
        return _bin(o, "+", self)

    def __sub__(self, o: Any) -> Sym:
        return _bin(self, "-", o)

    def __rsub__(self, o: Any) -> Sym:
        return _bin(o, "-", self)

    def __mul__(self, o: Any) -> Sym:
        return _bin(self, "*", o)

    def __rmul__(self, o: Any) -> Sym:
        return _bin(o, "*", self)

    def __truediv__(self, o: Any) -> Sym:
        if isinstance(o, (int, float)):
            # polars evaluates a division by a literal as a multiplication by its inverse
            return _bin(self, "*", 1.0 / float(o))
        return _bin(self, "/", o)

    def __rtruediv__(self, o: Any) -> Sym:
        return _bin(o, "/", self)

    def __neg__(self) -> Sym:
        return Sym(f"(-{self.code})")

    def __pos__(self) -> Sym:
        return self


def _text(v: Any) -> str:
    if isinstance(v, Sym):
        return v.code
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"the kernel generator cannot use a {type(v).__name__} in the model")
    return repr(float(v))


def _bin(a: Any, op: str, b: Any) -> Sym:
    return Sym(f"({_text(a)} {op} {_text(b)})")


class CodeOps:
    """The :class:`stressmodel.model.quarter.Ops` interface writing Python source."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: list[str] = []

    def let(self, name: str, value: Any) -> Sym:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"line item {name!r} is not a valid identifier")
        if name in self.names:
            raise ValueError(f"line item {name!r} is defined twice")
        self.lines.append(f"v_{name} = {_text(value)}")
        self.names.append(name)
        return Sym(f"v_{name}")

    @staticmethod
    def _fold(fn: str, values: tuple[Any, ...]) -> Sym:
        # polars' max_horizontal folds left to right
        code = _text(values[0])
        for v in values[1:]:
            code = f"{fn}({code}, {_text(v)})"
        return Sym(code)

    def max(self, *values: Any) -> Sym:
        return self._fold("_max", values)

    def min(self, *values: Any) -> Sym:
        return self._fold("_min", values)


def _record() -> tuple[list[str], list[str], list[str], list[str]]:
    """The quarter's source lines, line-item names, the opening state and the carry."""
    f = {n: Sym(f"f_{n}") for n in ALL_FIRM_PARAMS}
    s = {n: Sym(f"s_{n}") for n in SCENARIO_PARAMS}
    ops = CodeOps()
    new_state = step(
        ops,
        f,
        s,
        {n: Sym(f"p_{n}") for n in STATE},
        {n: Sym(f"d_{n}") for n in DRIVERS},
    )
    # the opening state reads the scenario too (a dated path already running at the as-of)
    opening = opening_state(f, s, CodeOps())
    state0 = [f"p_{n} = {_text(opening[n])}" for n in STATE]
    carry = [f"p_{n} = {_text(new_state[n])}" for n in STATE]
    return ops.lines, ops.names, state0, carry


@cache
def source(kind: str) -> str:
    """The generated kernel's source (``kind``: ``"numpy"``)."""
    lines, names, state0, carry = _record()
    out: list[str] = []
    if kind == "numpy":
        out.append("def kernel(F, S, D, OUT):")
        out.append("    H = D.shape[1]")
        ind = "    "
        out += [f"{ind}f_{n} = F[{j}]" for j, n in enumerate(ALL_FIRM_PARAMS)]
        out += [f"{ind}s_{n} = S[{j}]" for j, n in enumerate(SCENARIO_PARAMS)]
        out += [ind + s for s in state0]
        out.append(f"{ind}for k in range(H):")
        ind2 = ind * 2
        out += [f"{ind2}d_{n} = D[{j}, k]" for j, n in enumerate(DRIVERS)]
        for j, line in enumerate(lines):
            out.append(ind2 + line)
            out.append(f"{ind2}OUT[{j}, k] = v_{names[j]}")
        out += [ind2 + s for s in carry]
    else:
        raise ValueError(f"unknown kernel kind {kind!r}")
    return "\n".join(out) + "\n"


@cache
def item_names() -> tuple[str, ...]:
    """Line items in the order of the kernels' output rows (model order)."""
    return tuple(_record()[1])


def _build(kind: str, namespace: dict[str, Any]) -> Callable[..., None]:
    code = compile(source(kind), f"<stressmodel generated {kind} kernel>", "exec")
    exec(code, namespace)  # the source is generated from step(), never from input text
    return namespace["kernel"]


@cache
def numpy_kernel() -> Callable[..., None]:
    """The kernel over numpy vectors (all cases at once, a loop over quarters)."""
    return _build("numpy", {"_max": np.maximum, "_min": np.minimum, "_range": range})


def run(
    kind: str, F: np.ndarray, S: np.ndarray, D: np.ndarray
) -> np.ndarray:  # pragma: no cover - thin
    """Evaluate a kernel: returns OUT (line items x quarters x cases)."""
    n_items = len(item_names())
    out = np.empty((n_items, D.shape[1], F.shape[1]), dtype=np.float64)
    if kind != "numpy":
        raise ValueError(f"unknown kernel kind {kind!r}")
    kernel = numpy_kernel()
    with np.errstate(all="ignore"):  # as polars: inf/NaN flow through, no warnings
        kernel(F, S, D, out)
    return out
