"""The trade-implied export path: China's monthly magnet exports against the 2024 level.

World exports by month (tonnes) are turned into an index (1.0 = the reference year's
monthly average). Months missing from the monthly rows are filled from cumulative rows
where exactly one month of a range is missing. For projected quarters the index comes
from a damped-trend forecast fitted on the months since the export controls began
(:mod:`stressmodel.model.forecast`); the export loss of a quarter is
``clip(1 - mean index of its three months, 0, 1)`` (export gains are not modelled).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stressmodel.inputs.periods import month_index, month_label, parse_month_span, quarter_of_month

if TYPE_CHECKING:
    from stressmodel.model.forecast import ExportForecast


@dataclass(frozen=True)
class TradePath:
    """Export loss per projected quarter plus everything behind it, for the report."""

    loss: dict[int, float]  # absolute quarter index -> export loss in [0, 1]
    reference_monthly: float  # tonnes per month in the reference year
    history: tuple[tuple[int, float, str], ...]  # (month index, index value, basis)
    forecast: tuple[
        tuple[int, float, float | None, float | None], ...
    ]  # (month, mean, lower, upper)
    status: str


def monthly_world(rows: Iterable[Mapping[str, Any]]) -> dict[int, tuple[float, str]]:
    """World exports by month index: reported months, plus months derived from cumulative
    ranges in which exactly one month is missing."""
    rows = [r for r in rows if r["destination"] == "world"]
    months: dict[int, tuple[float, str]] = {}
    for r in rows:
        if r["first"] == r["last"]:
            basis = "derived" if str(r["note"]).upper().startswith("DERIVED") else "reported"
            months[int(r["first"])] = (float(r["tonnes"]), basis)
    changed = True
    while changed:
        changed = False
        for r in rows:
            first, last = int(r["first"]), int(r["last"])
            if first == last:
                continue
            missing = [m for m in range(first, last + 1) if m not in months]
            if len(missing) == 1:
                known = sum(months[m][0] for m in range(first, last + 1) if m in months)
                value = float(r["tonnes"]) - known
                if value >= 0:
                    months[missing[0]] = (
                        value,
                        f"derived: {r['period']} total minus the other months",
                    )
                    changed = True
    return months


def reference_level(rows: Iterable[Mapping[str, Any]], year: int) -> float | None:
    """Average monthly world exports in ``year``: the full-year row / 12, else the mean of
    twelve monthly figures."""
    rows = list(rows)
    for r in rows:
        if r["destination"] == "world" and r["period"] == f"{year}-FY":
            return float(r["tonnes"]) / 12.0
    months = monthly_world(rows)
    vals = [months[month_index(year, m)][0] for m in range(1, 13) if month_index(year, m) in months]
    return sum(vals) / 12.0 if len(vals) == 12 else None


def trade_path(
    rows: Iterable[Mapping[str, Any]],
    as_of_month: int,
    projected_quarters: list[int],
    controls_start: str,
    reference_year: int,
    alpha: float,
    forecaster: Callable[..., ExportForecast] | None = None,
    *,
    floor: float = 0.05,
    ceiling: float = 2.0,
    min_months: int = 4,
    half_life: float = 3.0,
) -> TradePath:
    """Export loss per projected quarter from trade data dated on or before ``as_of_month``.

    The keyword bounds are sector.toml trade_index_floor, trade_index_ceiling,
    trade_min_months_for_fit and trade_fallback_half_life_months (the run passes them).
    ``forecaster``: a stand-in for :func:`stressmodel.model.forecast.forecast_bounded_index`
    with the same signature and results (the run passes a cached one, see
    :mod:`stressmodel.run.cache`)."""
    from stressmodel.model.forecast import forecast_bounded_index

    if forecaster is None:
        forecaster = forecast_bounded_index

    rows = [r for r in rows if int(r["last"]) <= as_of_month]
    ref = reference_level(rows, reference_year)
    months = {m: v for m, v in monthly_world(rows).items() if m <= as_of_month}
    start = parse_month_span(controls_start).first
    if ref is None or ref <= 0:
        return TradePath(
            {q: 0.0 for q in projected_quarters},
            0.0,
            (),
            (),
            f"no {reference_year} reference level in the trade data: no trade-implied loss",
        )
    history = tuple((m, v / ref, basis) for m, (v, basis) in sorted(months.items()))
    if as_of_month < start:
        return TradePath(
            {q: 0.0 for q in projected_quarters},
            ref,
            history,
            (),
            f"the export controls began in {controls_start}, after the as-of date: no loss",
        )
    since = [(m, v / ref) for m, (v, _b) in sorted(months.items()) if m >= start]
    # only a consecutive run of months can be fitted
    run: list[tuple[int, float]] = []
    for m, v in since:
        if run and m != run[-1][0] + 1:
            run = []
        run.append((m, v))
    if not run:
        return TradePath(
            {q: 0.0 for q in projected_quarters},
            ref,
            history,
            (),
            "no monthly trade data since the controls began: no loss",
        )
    last_needed = max(projected_quarters)
    horizon = 0
    m = run[-1][0]
    while quarter_of_month(m + horizon + 1) <= last_needed:
        horizon += 1
    before = [v / ref for m, (v, _b) in sorted(months.items()) if m < start]
    fc = forecaster(
        [m for m, _ in run],
        [v for _, v in run],
        horizon,
        alpha,
        floor,
        ceiling,
        min_months,
        half_life,
        before,
    )
    first_month = run[-1][0] + 1
    if len(fc.mean) < horizon:  # the forecast failed: hold the last observed month flat
        path = {first_month + j: run[-1][1] for j in range(horizon)}
        loss = {
            q: min(max(1.0 - run[-1][1], 1.0 - ceiling), 1.0 - floor) for q in projected_quarters
        }
        return TradePath(loss, ref, history, (), f"{fc.status}; last observed month held flat")
    path: dict[int, float] = {first_month + j: float(fc.mean[j]) for j in range(horizon)}
    for m_obs, v in run:
        path.setdefault(m_obs, v)
    loss = {}
    for q in projected_quarters:
        vals = [
            path[m]
            for m in range(q // 4 * 12 + (q % 4) * 3, q // 4 * 12 + (q % 4) * 3 + 3)
            if m in path
        ]
        mean = sum(vals) / len(vals) if vals else run[-1][1]
        loss[q] = min(max(1.0 - mean, 1.0 - ceiling), 1.0 - floor)
    forecast = tuple(
        (
            first_month + j,
            float(fc.mean[j]),
            None if fc.lower is None else float(fc.lower[j]),
            None if fc.upper is None else float(fc.upper[j]),
        )
        for j in range(horizon)
    )
    status = f"{fc.status}; fitted on {len(run)} months {month_label(run[0][0])}..{month_label(run[-1][0])}"
    return TradePath(loss, ref, history, forecast, status)
