"""The naive reference: the projection over plain Python floats, one firm, one scenario,
one quarter at a time — the way an analyst would write it in a notebook.

It evaluates the same equations as the vectorised engine (:func:`stressmodel.model.quarter.step`)
and serves two purposes: a readable cross-check of the engine in tests, and the
baseline of the benchmark's speed-up ratio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stressmodel.model.quarter import opening_state, step, terminal


class FloatOps:
    """The :class:`stressmodel.model.quarter.Ops` interface over floats; records every line item."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def let(self, name: str, value: Any) -> Any:
        self.values[name] = float(value)
        return value

    @staticmethod
    def max(*values: float) -> float:
        return max(values)

    @staticmethod
    def min(*values: float) -> float:
        return min(values)


def project_case(
    firm: Mapping[str, float],
    scenario: Mapping[str, float],
    drivers: Sequence[Mapping[str, float]],
) -> list[dict[str, float]]:
    """Project one firm under one scenario; one dict of line items per quarter."""
    prev = opening_state(dict(firm), dict(scenario), FloatOps)
    rows = []
    for d in drivers:
        ops = FloatOps()
        prev = step(ops, dict(firm), dict(scenario), prev, dict(d))
        rows.append(ops.values)
    return rows


def terminal_case(
    firm: Mapping[str, float], scenario: Mapping[str, float], last: Mapping[str, float]
) -> dict[str, float]:
    ops = FloatOps()
    terminal(ops, dict(firm), dict(scenario), dict(last))
    return ops.values


def project_naive(
    firms: Sequence[Mapping[str, float]],
    scenarios: Sequence[Mapping[str, float]],
    drivers: Sequence[Sequence[Mapping[str, float]]],
) -> list[list[list[dict[str, float]]]]:
    """Every firm under every scenario: ``result[firm][scenario][quarter]``.

    ``drivers[j]`` is the per-quarter driver list of scenario ``j``.
    """
    out = []
    for f in firms:
        per_firm = []
        for j, s in enumerate(scenarios):
            per_firm.append(project_case(f, s, drivers[j]))
        out.append(per_firm)
    return out
