"""Sector assumptions (sector.toml): every parameter with value, unit and provenance.

A parameter is either a scalar (``value``) or a dated series (``points``: a list of
``{period, value, source}``, e.g. exchange rates by quarter end). Each has a ``unit`` and
exactly one of ``source`` (a reported fact) or ``assumption`` (a modelling choice with its
reasoning). The set of parameters is closed: an unknown name is an error (a typo would
otherwise silently fall back to nothing).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from stressmodel.errors import Problem
from stressmodel.inputs.readers import printable, shown, shown_typed
from stressmodel.inputs.validation import text_problems


@dataclass(frozen=True)
class ParamSpec:
    kind: str  # "float", "int", "str", "points"
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


F = ParamSpec
#: every parameter the model reads, with its admissible range
SECTOR_SPECS: dict[str, ParamSpec] = {
    "licence_review_business_days": F("float", 0, 250),
    "output_cut": F("float", 0, 0.95),
    "export_shock_ceiling": F("float", 0, 1),
    "storage_cost_rate": F("float", 0, 1),
    "business_days_per_quarter": F("float", 40, 80),
    "licence_dso_share": F("float", 0, 1),
    "variable_cost_share_of_cogs": F("float", 0, 1),
    "da_share_in_cogs": F("float", 0, 1),
    "raw_material_share_of_variable_cost": F("float", 0, 1),
    "absorption_convention": F("str", choices=("ias2", "full")),
    "inventory_workoff_rate": F("float", 0, 1),
    "dpo_days": F("float", 0, 182),
    "max_dso_days": F("float", 30, 182),
    "min_cash_months_of_revenue": F("float", 0, 12),
    "short_term_debt_share": F("float", 0, 1),
    "st_debt_maturing_per_quarter": F("float", 0, 1),
    "default_interest_rate": F("float", 0, 0.5),
    "revolver_rate": F("float", 0, 0.5),
    "tax_rate": F("float", 0, 0.6),
    "maintenance_capex_to_da": F("float", 0, 5),
    "horizon_quarters": F("int", 1, 40),
    "discount_rate": F("float", 0.01, 0.5),
    "terminal_growth": F("float", -0.1, 0.2),
    "wacc_sensitivity": F("float", 0, 0.1),
    "risk_free_rate": F("float", -0.05, 0.3),
    "equity_risk_premium": F("float", 0, 0.3),
    "size_and_cycle_premium": F("float", 0, 0.3),
    "midcycle_margin_first_year": F("int", 1990, 2100),
    "midcycle_margin_last_year": F("int", 1990, 2100),
    "midcycle_margin_min_years": F("int", 1, 20),
    "midcycle_ebit_margin_sector": F("float", -0.5, 0.6),
    "midcycle_reversion_years": F("int", 0, 30),
    "midcycle_growth_years": F("int", 0, 30),
    "midcycle_revenue_growth": F("float", -0.5, 1.0),
    "cny_per_usd": F("points", 1, 20),
    "us_gdp_deflator": F("points", 1, 10000),
    "default_equity_volatility": F("float", 0.01, 3),
    "ownership_unknown_private": F("float", 0, 1),
    "upstream_unknown_tie": F("float", 0, 1),
    "mc_export_shock_low": F("float", 0, 1),
    "mc_export_shock_high": F("float", 0, 1),
    "mc_duration_min": F("int", 0, 40),
    "mc_duration_max": F("int", 0, 40),
    "mc_seed": F("int", 0, 2**32 - 1),
    "prnd_oxide_price": F("points", 1, 1e8),
    "export_controls_start": F("str"),
    "trade_reference_year": F("str"),
    "trade_forecast_interval": F("float", 0.001, 0.5),
    "sector_export_share": F("float", 0, 1),
    "sector_export_share_low": F("float", 0, 1),
    "sector_export_share_high": F("float", 0, 1),
    "sector_asp": F("float", 0.001, 10),
    "sector_price_ratio": F("float", 0.2, 5),
    "sector_debt_to_assets": F("float", 0, 1),
    "sector_asset_turnover": F("float", 0.05, 10),
    "sector_cash_to_revenue": F("float", 0, 5),
    "sector_dso": F("float", 0, 365),
    "sector_dio": F("float", 0, 730),
    "sector_liabilities_to_assets": F("float", 0, 1),
    "material_debt_share_of_assets": F("float", 0, 0.5),
    "material_interest_floor": F("float", 0, 1000),
    "price_stale_days": F("int", 1, 3650),
    "export_reference": F("str"),
    "minimum_inventory_days": F("float", 0, 365),
    "trade_index_floor": F("float", 0.001, 1),
    "trade_index_ceiling": F("float", 1, 10),
    "trade_fallback_half_life_months": F("float", 0.5, 60),
    "trade_min_months_for_fit": F("int", 2, 24),
}


@dataclass(frozen=True)
class Param:
    name: str
    value: Any
    unit: str
    source: str | None
    assumption: str | None
    points: tuple[tuple[str, float, str], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def provenance(self) -> str:
        return self.source if self.source else f"assumption: {self.assumption}"


@dataclass(frozen=True)
class Sector:
    params: dict[str, Param]

    def __getitem__(self, name: str) -> Any:
        return self.params[name].value

    def float(self, name: str) -> float:
        return float(self.params[name].value)

    def int(self, name: str) -> int:
        return int(self.params[name].value)

    def point_on_or_before(self, name: str, date: dt.date) -> tuple[str, float, str] | None:
        """Latest dated point on or before ``date`` (points are dated YYYY-MM-DD)."""
        best = None
        for period, value, source in self.params[name].points:
            try:
                d = dt.date.fromisoformat(period)
            except ValueError:
                continue
            if d <= date and (best is None or d >= dt.date.fromisoformat(best[0])):
                best = (period, value, source)
        return best

    def deflator_index_1968(self, year: int) -> tuple[float, str]:
        """US GDP deflator for ``year`` rebased to 1968 = 100, with a note on which year was
        used (the latest year at or before ``year``; else the earliest available)."""
        p = self.params["us_gdp_deflator"]
        base = float(p.extra["base_1968"])
        years = sorted((int(per), v) for per, v, _ in p.points)
        usable = [(y, v) for y, v in years if y <= year]
        if usable:
            y, v = usable[-1]
            note = f"deflator {y}"
        else:
            y, v = years[0]
            note = f"deflator {y} (no value for {year} or earlier)"
        return 100.0 * v / base, note


def parse_sector(doc: dict[str, Any], file: str) -> tuple[Sector | None, list[Problem]]:
    """Validate the parsed TOML of sector.toml; collect every problem."""
    problems: list[Problem] = []
    params: dict[str, Param] = {}
    for name in SECTOR_SPECS:
        if name not in doc:
            problems.append(Problem(file, None, name, f"a parameter [{name}]", "nothing"))
    for name, table in doc.items():
        spec = SECTOR_SPECS.get(name)
        if spec is None:
            problems.append(
                Problem(
                    file,
                    None,
                    printable(name),
                    "a known parameter (see inputs/README.md)",
                    f"unknown parameter {shown(name)}",
                )
            )
            continue
        if not isinstance(table, dict):
            problems.append(
                Problem(
                    file,
                    None,
                    name,
                    "a table with value, unit and source or assumption",
                    shown(table),
                )
            )
            continue
        source = table.get("source")
        assumption = table.get("assumption")
        if (source is None) == (assumption is None):
            problems.append(
                Problem(
                    file,
                    None,
                    name,
                    "exactly one of source or assumption",
                    "both" if source else "neither",
                )
            )
        for key in ("source", "assumption", "unit"):
            if key in table and (not isinstance(table[key], str) or not table[key].strip()):
                problems.append(
                    Problem(
                        file, None, f"{name}.{printable(key)}", "non-empty text", shown(table[key])
                    )
                )
            elif key in table:
                problems.extend(text_problems(file, None, f"{name}.{printable(key)}", table[key]))
        if "unit" not in table:
            problems.append(Problem(file, None, f"{name}.unit", "a unit", "nothing"))
        allowed = {"value", "unit", "source", "assumption"} | (
            {"points", "base_1968"} if spec.kind == "points" else set()
        )
        for key in table:
            if key not in allowed:
                problems.append(
                    Problem(
                        file,
                        None,
                        f"{name}.{printable(key)}",
                        "only " + ", ".join(sorted(allowed)),
                        f"unexpected key {shown(key)}",
                    )
                )
        value: Any = None
        points: list[tuple[str, float, str]] = []
        extra: dict[str, Any] = {}
        if spec.kind == "points":
            raw = table.get("points")
            if not isinstance(raw, list) or not raw:
                problems.append(
                    Problem(
                        file,
                        None,
                        f"{name}.points",
                        "a non-empty list of {period, value, source}",
                        shown(raw),
                    )
                )
            else:
                for i, pt in enumerate(raw):
                    if not (
                        isinstance(pt, dict)
                        and isinstance(pt.get("period"), str)
                        and isinstance(pt.get("source"), str)
                        and _is_num(pt.get("value"))
                    ):
                        problems.append(
                            Problem(
                                file,
                                None,
                                f"{name}.points[{i}]",
                                "{period = text, value = number, source = text}",
                                shown(pt),
                            )
                        )
                        continue
                    v = float(pt["value"])
                    for key in ("period", "source"):
                        problems.extend(
                            text_problems(file, None, f"{name}.points[{i}].{key}", pt[key])
                        )
                    if not _in_range(v, spec):
                        problems.append(
                            Problem(
                                file,
                                None,
                                f"{name}.points[{i}].value",
                                f"a number in [{spec.low:g}, {spec.high:g}]",
                                shown(v),
                            )
                        )
                    points.append((pt["period"], v, pt["source"]))
            if "base_1968" in table:
                if not _is_num(table["base_1968"]) or float(table["base_1968"]) <= 0:
                    problems.append(
                        Problem(
                            file,
                            None,
                            f"{name}.base_1968",
                            "a positive number",
                            shown(table["base_1968"]),
                        )
                    )
                else:
                    extra["base_1968"] = float(table["base_1968"])
            elif name == "us_gdp_deflator":
                problems.append(
                    Problem(file, None, f"{name}.base_1968", "the 1968 index value", "nothing")
                )
            if name == "us_gdp_deflator":
                for per, _v, _s in points:
                    if not (per.isdigit() and len(per) == 4):
                        problems.append(
                            Problem(file, None, f"{name}.points", "years like 2024", shown(per))
                        )
            if name == "cny_per_usd":
                for per, _v, _s in points:
                    try:
                        dt.date.fromisoformat(per)
                    except ValueError:
                        problems.append(
                            Problem(file, None, f"{name}.points", "dates YYYY-MM-DD", shown(per))
                        )
        else:
            if "value" not in table:
                problems.append(Problem(file, None, f"{name}.value", "a value", "nothing"))
                continue
            value = table["value"]
            if spec.kind == "str":
                if isinstance(value, str):
                    problems.extend(text_problems(file, None, f"{name}.value", value))
                if spec.choices and value not in spec.choices:
                    problems.append(
                        Problem(
                            file,
                            None,
                            f"{name}.value",
                            "one of " + ", ".join(spec.choices),
                            shown(value),
                        )
                    )
                elif not isinstance(value, str) or not value:
                    problems.append(Problem(file, None, f"{name}.value", "text", shown(value)))
                elif name == "export_controls_start" and not re.match(
                    r"^\d{4}-(0[1-9]|1[0-2])$", value
                ):
                    problems.append(
                        Problem(file, None, f"{name}.value", "a month YYYY-MM", shown(value))
                    )
                elif name == "export_reference" and not re.match(
                    r"^(run_rate|\d{4}Q[1-4])$", value
                ):
                    problems.append(
                        Problem(
                            file,
                            None,
                            f"{name}.value",
                            'a quarter like "2025Q1" or "run_rate"',
                            shown(value),
                        )
                    )
                elif name == "trade_reference_year" and not re.match(r"^\d{4}$", value):
                    problems.append(
                        Problem(file, None, f"{name}.value", "a year YYYY", shown(value))
                    )
            elif spec.kind == "int":
                if (
                    not isinstance(value, int)
                    or isinstance(value, bool)
                    or not _in_range(value, spec)
                ):
                    wrong_type = not isinstance(value, int) or isinstance(value, bool)
                    problems.append(
                        Problem(
                            file,
                            None,
                            f"{name}.value",
                            f"a whole number in [{spec.low:g}, {spec.high:g}]",
                            shown_typed(value) if wrong_type else shown(value),
                        )
                    )
            else:
                if not _is_num(value) or not _in_range(float(value), spec):
                    problems.append(
                        Problem(
                            file,
                            None,
                            f"{name}.value",
                            f"a number in [{spec.low:g}, {spec.high:g}]",
                            shown_typed(value) if _wrong_type(value) else shown(value),
                        )
                    )
                else:
                    value = float(value)
        params[name] = Param(
            name, value, str(table.get("unit", "")), source, assumption, tuple(points), extra
        )
    if not problems:
        lo, hi = params["mc_export_shock_low"].value, params["mc_export_shock_high"].value
        if lo > hi:
            problems.append(
                Problem(
                    file,
                    None,
                    "mc_export_shock_low",
                    f"at most mc_export_shock_high ({hi})",
                    shown(lo),
                )
            )
        if params["mc_duration_min"].value > params["mc_duration_max"].value:
            problems.append(
                Problem(
                    file,
                    None,
                    "mc_duration_min",
                    "at most mc_duration_max",
                    shown(params["mc_duration_min"].value),
                )
            )
        parts = ("risk_free_rate", "equity_risk_premium", "size_and_cycle_premium")
        total = sum(float(params[n].value) for n in parts)
        if abs(total - float(params["discount_rate"].value)) > 1e-9:
            problems.append(
                Problem(
                    file,
                    None,
                    "discount_rate",
                    f"risk_free_rate + equity_risk_premium + size_and_cycle_premium ({total:g})",
                    shown(params["discount_rate"].value),
                )
            )
        first, last = (
            params["midcycle_margin_first_year"].value,
            params["midcycle_margin_last_year"].value,
        )
        if first > last:
            problems.append(
                Problem(
                    file,
                    None,
                    "midcycle_margin_first_year",
                    f"at most midcycle_margin_last_year ({last})",
                    shown(first),
                )
            )
        if params["terminal_growth"].value >= params["discount_rate"].value:
            problems.append(
                Problem(
                    file,
                    None,
                    "terminal_growth",
                    "below discount_rate",
                    shown(params["terminal_growth"].value),
                )
            )
    if problems:
        return None, problems
    return Sector(params), problems


def _wrong_type(v: Any) -> bool:
    """Not a number at all (text, true/false, an array...): the message names the type."""
    return not isinstance(v, int | float) or isinstance(v, bool)


def _is_num(v: Any) -> bool:
    import math

    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))


def _in_range(v: float, spec: ParamSpec) -> bool:
    return (spec.low is None or v >= spec.low) and (spec.high is None or v <= spec.high)
