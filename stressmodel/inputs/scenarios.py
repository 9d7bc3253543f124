"""Scenarios: definitions from scenarios.toml, the sensitivity grid, and intensity paths.

A scenario is a set of shock parameters plus a path. Every shock is scaled by an
intensity i(t) in [0, 1] for projected quarter t (see :func:`intensity`), except the
storage cost rate (a rate on inventory built above the as-of level) and the raw-material
price change (a level from the start quarter on).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from stressmodel.errors import Problem
from stressmodel.inputs.periods import is_quarter_label, parse_quarter, quarter_label
from stressmodel.inputs.readers import printable, shown, shown_typed
from stressmodel.inputs.sector import Sector
from stressmodel.inputs.validation import text_problems

NAMED_SCENARIOS: tuple[str, ...] = (
    "baseline",
    "seed",
    "deal_normalises",
    "structural",
    "trade_implied",
    "retightening",
    "general_licences",
)

#: parameter -> (low, high, integer?) admissible range
PARAM_RANGES: dict[str, tuple[float, float, bool]] = {
    "export_shock": (0.0, 1.0, False),
    "duration_quarters": (0, 40, True),
    "recovery_quarters": (0, 40, True),
    "permanent_share": (0.0, 1.0, False),
    "output_cut": (0.0, 0.95, False),
    "domestic_shock": (0.0, 1.0, False),
    "storage_cost_rate": (0.0, 1.0, False),
    "licence_delay_days": (0.0, 125.0, False),
    "raw_material_price_change": (-0.9, 5.0, False),
    "price_pass_through": (0.0, 1.0, False),
    "st_debt_not_rolled": (0.0, 1.0, False),
    "deferred_share": (0.0, 1.0, False),
    "output_cut_forced": (0, 1, True),
}
#: parameters that may be left out of [defaults] (added after the first release), with
#: the value that keeps the earlier behaviour off
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "deferred_share": 0.0,
    "output_cut_forced": 0,
    "price_path": "none",
    "events": [],
}
PRICE_PATHS = ("none", "prnd")
TEXT_PARAMS = ("start", "path", "description", "price_path", "events")
#: a scenario parameter given as "sector" takes this sector.toml parameter
SECTOR_LINKS = {
    "export_shock": "export_shock_ceiling",
    "output_cut": "output_cut",
    "storage_cost_rate": "storage_cost_rate",
    "licence_delay_days": "licence_review_business_days",
}
_START_RE = re.compile(r"^(next|\+[0-9]{1,2}|[0-9]{4}Q[1-4]|event:[a-z][a-z0-9_]{0,40})\Z")
_EVENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}\Z")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}\Z")
#: the most values one axis of the sensitivity grid may take (a grid is axis x axis cases)
MAX_GRID_POINTS = 101


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    export_shock: float
    start: str
    duration_quarters: int
    recovery_quarters: int
    permanent_share: float
    output_cut: float
    domestic_shock: float
    storage_cost_rate: float
    licence_delay_days: float
    raw_material_price_change: float
    price_pass_through: float
    st_debt_not_rolled: float
    path: str
    kind: str = "named"  # named | grid | reverse | montecarlo
    deferred_share: float = 0.0
    output_cut_forced: int = 0
    price_path: str = "none"  # none | prnd (the PrNd oxide path of sector.toml)
    events: tuple[str, ...] = ()  # keys of inputs/policy_events.csv the scenario assumes

    def params(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("description")
        d["events"] = " ".join(self.events)
        return d

    @property
    def dated(self) -> bool:
        """Fixed in calendar time (a quarter label), not relative to the as-of."""
        return self.start[:1].isdigit()

    def start_index(self, as_of: int) -> int:
        """Absolute quarter index where the shock starts, for a run as of ``as_of``."""
        if self.start.startswith("event:"):
            raise ValueError(
                f"scenario {self.name}: start {self.start} not resolved against policy_events.csv"
            )
        if self.start == "next":
            return as_of + 1
        if self.start.startswith("+"):
            return as_of + 1 + int(self.start[1:])
        return parse_quarter(self.start)


@dataclass(frozen=True)
class GridSpec:
    base: str
    export_shocks: tuple[float, ...]
    output_cuts: tuple[float, ...]
    #: second grid: export shock x share of the shock never recovered (empty: none)
    permanent_shares: tuple[float, ...] = ()


@dataclass(frozen=True)
class ScenarioSet:
    named: dict[str, Scenario]
    grid: GridSpec
    reverse_base: str

    def grid_scenarios(self) -> list[Scenario]:
        base = self.named[self.grid.base]
        out = []
        for e in self.grid.export_shocks:
            for c in self.grid.output_cuts:
                out.append(
                    replace(
                        base,
                        name=grid_name(e, c),
                        start="next",
                        export_shock=e,
                        output_cut=c,
                        kind="grid",
                        description=f"grid: export shock {e:.2f}, output cut {c:.2f}, other parameters as in {base.name}",
                    )
                )
        for e in self.grid.export_shocks:
            for ps in self.grid.permanent_shares:
                out.append(
                    replace(
                        base,
                        name=permanent_grid_name(e, ps),
                        start="next",
                        export_shock=e,
                        permanent_share=ps,
                        kind=PERMANENT_GRID_KIND,
                        description=f"grid: export shock {e:.2f}, permanent share {ps:.2f}, other parameters as in {base.name}",
                    )
                )
        return out

    def reverse_scenario(self, shock: float, horizon: int, name: str = "reverse") -> Scenario:
        """A permanent export shock from the next quarter, other parameters as the base."""
        base = self.named[self.reverse_base]
        return replace(
            base,
            name=name,
            export_shock=shock,
            start="next",
            duration_quarters=horizon + 1,
            recovery_quarters=0,
            permanent_share=1.0,
            path="parametric",
            kind="reverse",
            description=f"permanent export shock {shock:.4f} from the next quarter, otherwise {base.name}",
        )


def grid_name(export_shock: float, output_cut: float) -> str:
    return f"grid_e{export_shock:.2f}_c{output_cut:.2f}"


#: scenario kind of the export shock x permanent share grid (the first grid's kind is "grid")
PERMANENT_GRID_KIND = "grid_permanent"
#: scenario kinds of the sensitivity grids
GRID_KINDS = ("grid", PERMANENT_GRID_KIND)


def permanent_grid_name(export_shock: float, permanent_share: float) -> str:
    return f"grid_e{export_shock:.2f}_p{permanent_share:.2f}"


def _frange(spec: Any, field: str, file: str, problems: list[Problem]) -> tuple[float, ...]:
    if not (
        isinstance(spec, dict)
        and set(spec) == {"from", "to", "step"}
        and all(_is_num(spec[k]) for k in spec)
    ):
        problems.append(
            Problem(
                file,
                None,
                f"grid.{field}",
                "{ from = number, to = number, step = number }",
                shown(spec),
            )
        )
        return ()
    a, b, s = float(spec["from"]), float(spec["to"]), float(spec["step"])
    lo, hi, _ = PARAM_RANGES[field]
    if s <= 0 or b < a or a < lo or b > hi:
        problems.append(
            Problem(
                file,
                None,
                f"grid.{field}",
                f"from <= to within [{lo:g}, {hi:g}], step > 0",
                shown(spec),
            )
        )
        return ()
    if (b - a) / s + 1 > MAX_GRID_POINTS + 1e-9:
        problems.append(
            Problem(
                file,
                None,
                f"grid.{field}",
                f"at most {MAX_GRID_POINTS} values (a larger step)",
                f"{math.floor((b - a) / s + 1e-9) + 1:.0f} values from {spec!r}",
            )
        )
        return ()
    n = math.floor((b - a) / s + 1e-9) + 1
    return tuple(round(a + i * s, 10) for i in range(n))


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))


def parse_scenarios(
    doc: dict[str, Any], file: str, sector: Sector | None
) -> tuple[ScenarioSet | None, list[Problem]]:
    """Validate scenarios.toml (parsed) and resolve "sector" references."""
    p: list[Problem] = []
    for key in doc:
        if key not in ("defaults", "scenarios", "grid", "reverse_stress"):
            p.append(
                Problem(
                    file,
                    None,
                    printable(key),
                    "only [defaults], [scenarios.*], [grid], [reverse_stress]",
                    f"unknown table {shown(key)}",
                )
            )
    defaults = doc.get("defaults")
    if not isinstance(defaults, dict):
        p.append(
            Problem(file, None, "defaults", "a [defaults] table with every parameter", "nothing")
        )
        defaults = {}
    required = (*(k for k in PARAM_RANGES if k not in OPTIONAL_DEFAULTS), "start", "path")
    defaults = {**OPTIONAL_DEFAULTS, **defaults}
    for k in required:
        if k not in defaults:
            p.append(Problem(file, None, f"defaults.{k}", "a default value", "nothing"))
    scen_tables = doc.get("scenarios")
    if not isinstance(scen_tables, dict) or not scen_tables:
        p.append(Problem(file, None, "scenarios", "[scenarios.<name>] tables", "nothing"))
        scen_tables = {}
    named: dict[str, Scenario] = {}
    for name in NAMED_SCENARIOS:
        if name not in scen_tables:
            p.append(
                Problem(file, None, f"scenarios.{name}", f"the named scenario {name}", "nothing")
            )
    for name, table in scen_tables.items():
        if not _NAME_RE.match(name):
            p.append(
                Problem(
                    file,
                    None,
                    f"scenarios.{printable(name)}",
                    "a name of lower-case letters, digits and _ (max 31)",
                    shown(name),
                )
            )
            continue
        if not isinstance(table, dict):
            p.append(Problem(file, None, f"scenarios.{name}", "a table", shown(table)))
            continue
        merged = {**defaults, **table}
        values: dict[str, Any] = {}
        for k, v in merged.items():
            where = f"scenarios.{name}.{printable(k)}" if k in table else f"defaults.{printable(k)}"
            if k in PARAM_RANGES:
                lo, hi, integer = PARAM_RANGES[k]
                if v == "sector" and k in SECTOR_LINKS:
                    if sector is None:
                        continue
                    v = sector[SECTOR_LINKS[k]]
                if not _is_num(v) or (integer and not isinstance(v, int)):
                    what = "a whole number" if integer else "a number"
                    hint = ' or "sector"' if k in SECTOR_LINKS else ""
                    wrong_type = (
                        not isinstance(v, int | float)
                        or isinstance(v, bool)
                        or (integer and isinstance(v, float))
                    )
                    p.append(
                        Problem(
                            file,
                            None,
                            where,
                            f"{what}{hint}",
                            shown_typed(v) if wrong_type else shown(v),
                        )
                    )
                    continue
                if not lo <= float(v) <= hi:
                    p.append(Problem(file, None, where, f"a value in [{lo:g}, {hi:g}]", shown(v)))
                    continue
                values[k] = int(v) if integer else float(v)
            elif k == "start":
                if (
                    not isinstance(v, str)
                    or not _START_RE.match(v)
                    or (v[0].isdigit() and not is_quarter_label(v))
                ):
                    p.append(
                        Problem(
                            file,
                            None,
                            where,
                            '"next", "+N", a quarter like "2025Q2" or "event:<key of policy_events.csv>"',
                            shown(v),
                        )
                    )
                    continue
                values[k] = v
            elif k == "price_path":
                if v not in PRICE_PATHS:
                    p.append(Problem(file, None, where, '"none" or "prnd"', shown(v)))
                    continue
                values[k] = v
            elif k == "events":
                if not isinstance(v, list) or not all(
                    isinstance(e, str) and _EVENT_RE.match(e) for e in v
                ):
                    p.append(
                        Problem(
                            file, None, where, "a list of event keys of policy_events.csv", shown(v)
                        )
                    )
                    continue
                values[k] = tuple(v)
            elif k == "path":
                if v not in ("parametric", "trade"):
                    p.append(Problem(file, None, where, '"parametric" or "trade"', shown(v)))
                    continue
                values[k] = v
            elif k == "description":
                if not isinstance(v, str):
                    p.append(Problem(file, None, where, "text", shown(v)))
                    continue
                text = text_problems(file, None, where, v)
                if text:
                    p.extend(text)
                    continue
                values[k] = v
            else:
                p.append(
                    Problem(
                        file,
                        None,
                        where,
                        "a known scenario parameter (see scenarios.toml)",
                        f"unknown parameter {shown(k)}",
                    )
                )
        if all(k in values for k in required):
            named[name] = Scenario(
                name=name,
                description=values.get("description", ""),
                **{k: values[k] for k in required},
                **{k: values[k] for k in OPTIONAL_DEFAULTS if k in values},
            )
    grid_doc = doc.get("grid")
    grid = GridSpec("seed", (), ())
    if not isinstance(grid_doc, dict):
        p.append(Problem(file, None, "grid", "a [grid] table", "nothing"))
    else:
        for k in grid_doc:
            if k not in ("base", "export_shock", "output_cut", "permanent_share"):
                p.append(
                    Problem(
                        file,
                        None,
                        f"grid.{printable(k)}",
                        "only base, export_shock, output_cut, permanent_share",
                        f"unknown key {shown(k)}",
                    )
                )
        base = grid_doc.get("base")
        if base not in scen_tables:
            p.append(Problem(file, None, "grid.base", "the name of a scenario", shown(base)))
        grid = GridSpec(
            str(base),
            _frange(grid_doc.get("export_shock"), "export_shock", file, p),
            _frange(grid_doc.get("output_cut"), "output_cut", file, p),
            # optional: the export shock x permanent share grid (absent: not run)
            _frange(grid_doc["permanent_share"], "permanent_share", file, p)
            if "permanent_share" in grid_doc
            else (),
        )
    rs = doc.get("reverse_stress")
    reverse_base = "baseline"
    if not isinstance(rs, dict) or set(rs) != {"base"} or rs.get("base") not in scen_tables:
        p.append(
            Problem(
                file, None, "reverse_stress", '[reverse_stress] with base = "<scenario>"', shown(rs)
            )
        )
    else:
        reverse_base = rs["base"]
    if p:
        return None, p
    return ScenarioSet(named, grid, reverse_base), p


def resolve_events(
    scenarios: ScenarioSet, events: list[dict[str, Any]], file: str, events_file: str
) -> tuple[ScenarioSet, list[Problem]]:
    """Check that every event a scenario names is in policy_events.csv, and turn a start
    ``"event:<key>"`` into the calendar quarter of that event's date."""
    p: list[Problem] = []
    by_key = {str(e["event"]): e for e in events}
    named = {}
    for name, sc in scenarios.named.items():
        for key in sc.events:
            if key not in by_key:
                p.append(
                    Problem(
                        file,
                        None,
                        f"scenarios.{name}.events",
                        f"keys of {events_file}",
                        f"unknown event {shown(key)}",
                    )
                )
        if sc.start.startswith("event:"):
            key = sc.start[len("event:") :]
            if key not in by_key:
                p.append(
                    Problem(
                        file,
                        None,
                        f"scenarios.{name}.start",
                        f"an event of {events_file}",
                        shown(key),
                    )
                )
                named[name] = sc
                continue
            if key not in sc.events:
                p.append(
                    Problem(
                        file,
                        None,
                        f"scenarios.{name}.events",
                        f"the start event {key} among the events",
                        shown(list(sc.events)),
                    )
                )
            sc = replace(sc, start=quarter_label(int(by_key[key]["quarter"])))
        named[name] = sc
    return replace(scenarios, named=named), p


# --- intensity paths ---------------------------------------------------------------------------


def intensity(quarter: int, start: int, duration: int, recovery: int, permanent: float) -> float:
    """Shock intensity in absolute quarter ``quarter`` for a shock starting in ``start``.

    0 before the start; 1 for ``duration`` quarters; then a linear fall over ``recovery``
    quarters to ``permanent`` (reached in the last recovery quarter), kept thereafter.
    """
    k = quarter - start
    if k < 0:
        return 0.0
    if k < duration:
        return 1.0
    if recovery <= 0:
        return permanent
    j = k - duration
    if j < recovery:
        return 1.0 - (1.0 - permanent) * (j + 1) / recovery
    return permanent


def scenario_paths(
    scenario: Scenario,
    as_of: int,
    horizon: int,
    trade_loss: dict[int, float] | None = None,
    price_change: dict[int, float] | None = None,
) -> tuple[list[float], list[float]]:
    """(intensity, raw-material level) for projected quarters as_of+1 .. as_of+horizon.

    The raw-material level is the price shock ``raw_material_price_change`` from the start
    quarter on, on top of the PrNd path (``price_change``, relative to the as-of quarter)
    when the scenario assumes it: (1 + path) (1 + shock) - 1."""
    start = scenario.start_index(as_of)
    quarters = range(as_of + 1, as_of + horizon + 1)
    if scenario.path == "trade":
        if trade_loss is None:
            raise ValueError("the trade path needs the trade-implied export loss by quarter")
        inten = [float(trade_loss[q]) for q in quarters]
    else:
        inten = [
            intensity(
                q,
                start,
                scenario.duration_quarters,
                scenario.recovery_quarters,
                scenario.permanent_share,
            )
            for q in quarters
        ]
    if scenario.price_path == "prnd" and price_change is None:
        raise ValueError(f"scenario {scenario.name} assumes the PrNd path: pass price_change")
    rm = []
    for q in quarters:
        shock = scenario.raw_material_price_change if q >= start else 0.0
        path = price_change.get(q, 0.0) if scenario.price_path == "prnd" and price_change else 0.0
        rm.append((1.0 + path) * (1.0 + shock) - 1.0 if path else shock)
    return inten, rm


def opening_values(scenario: Scenario, as_of: int) -> tuple[float, float]:
    """(intensity in the as-of quarter, backlog factor) of a dated parametric path; (0, 0)
    for an undated or trade path. The deferred exports carried out of the actual quarters
    are ``deferred_share x export_shock x factor`` reference export demand, with the
    factor from the model's recursion B = B i + i over the quarters from the start to the
    as-of (release B (1 - i), docs/model.md, deferred exports): a path-only number, so the
    workbook's shock and deferred share stay live inputs."""
    if scenario.path == "trade" or not scenario.dated:
        return 0.0, 0.0
    start = scenario.start_index(as_of)
    factor = 0.0
    i = 0.0
    for q in range(start, as_of + 1):
        i = intensity(
            q,
            start,
            scenario.duration_quarters,
            scenario.recovery_quarters,
            scenario.permanent_share,
        )
        factor = factor * i + i
    return i, factor


def calendar_path(
    scenario: Scenario, as_of: int, horizon: int, trade_loss: dict[int, float] | None = None
) -> str:
    """The intensity path in calendar quarters, e.g. "2025Q2 1.00, 2025Q3 0.50, ...", with
    the quarters before the as-of that a dated path covers (already in the actuals)."""
    if scenario.path == "trade":
        loss = trade_loss or {}
        return ", ".join(
            f"{quarter_label(q)} {loss.get(q, 0.0):.2f}"
            for q in range(as_of + 1, as_of + horizon + 1)
        )
    start = scenario.start_index(as_of)
    first = min(start, as_of + 1)
    parts = []
    for q in range(first, as_of + horizon + 1):
        v = intensity(
            q,
            start,
            scenario.duration_quarters,
            scenario.recovery_quarters,
            scenario.permanent_share,
        )
        tag = " (actual)" if q <= as_of else ""
        parts.append(f"{quarter_label(q)} {v:.2f}{tag}")
    return ", ".join(parts)
