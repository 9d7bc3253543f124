"""How far the actuals reach: each selected firm's latest quarter with actual figures,
the latest as-of quarter the tool can honestly run, and the refusal of an as-of quarter
after every selected firm's actuals (a projection with no actual quarter behind it)
unless ``--allow-projection-only`` is given.

"Actuals" are a firm's reported revenue for the quarter (year-to-date reports give the
single quarters; :func:`stressmodel.model.base.latest_actuals`). The latest usable as-of
quarter is the latest quarter for which at least one selected firm has actuals; a firm
whose actuals end earlier runs on figures carried forward and is marked stale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from stressmodel.errors import UsageError
from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import quarter_label
from stressmodel.model.base import latest_actuals

PROJECTION_ONLY_FLAG = "--allow-projection-only"


def latest_by_firm(inputs: Inputs, firms: Sequence[str]) -> dict[str, int | None]:
    """Each selected firm's latest quarter with actuals (None: no actual quarter at all)."""
    latest = latest_actuals(inputs)
    return {t: latest.get(t) for t in firms}


def latest_usable(latest: Mapping[str, int | None]) -> int | None:
    """The latest quarter for which at least one of the firms has actuals."""
    known = [q for q in latest.values() if q is not None]
    return max(known) if known else None


def labels(latest: Mapping[str, int | None]) -> dict[str, str]:
    return {t: "none" if q is None else quarter_label(q) for t, q in latest.items()}


def check_as_of(
    latest: Mapping[str, int | None],
    as_of: int,
    *,
    allow_projection_only: bool = False,
    option: str = "--as-of",
) -> bool:
    """Refuse (exit 2) an as-of quarter after every selected firm's latest actuals, naming
    the latest usable quarter; with ``allow_projection_only`` accept it and return True
    (the run is projection only: every firm is stale). False when some firm has actuals
    for ``as_of`` or later."""
    usable = latest_usable(latest)
    if usable is not None and as_of <= usable:
        return False
    if allow_projection_only:
        return True
    per_firm = ", ".join(f"{t} {q}" for t, q in labels(latest).items())
    if usable is None:
        raise UsageError(
            f"{option} {quarter_label(as_of)}: no selected firm has any quarter with actual revenue "
            f"(latest actuals: {per_firm}); add statements, or give {PROJECTION_ONLY_FLAG}"
        )
    raise UsageError(
        f"{option} {quarter_label(as_of)} is after the latest actuals of every selected firm "
        f"({per_firm}); the latest usable quarter is {quarter_label(usable)}. "
        f"Give {option} {quarter_label(usable)} or earlier, or {PROJECTION_ONLY_FLAG} to project "
        "from figures carried forward with every firm marked stale."
    )


def actuals_line(
    latest_labels: Mapping[str, str], as_of: str, projection_only: bool = False
) -> str:
    """One line stating each firm's latest quarter with actuals, for the run's summary."""
    text = "latest quarter with actuals: " + ", ".join(f"{t} {q}" for t, q in latest_labels.items())
    known = [q for q in latest_labels.values() if q != "none"]
    if known:
        text += f" (latest usable as-of quarter: {max(known)})"
    if projection_only:
        text += (
            f"; as of {as_of} the run is projection only ({PROJECTION_ONLY_FLAG}): "
            "no firm has actuals for it, every firm is stale"
        )
    return text
