"""The reverse stress test: which permanent export shock breaks each firm, and which one
today's share price implies (methods.md section 8).

For every firm, with a permanent export shock s from the next quarter (the
``[reverse_stress]`` template of scenarios.toml), three metrics are solved for the s at
which they cross their threshold:

- value per share = the market price (the price-implied shock), also at the discount
  rate +/- the sensitivity width;
- minimum net cash (cash less revolving draws) = minimum operating cash (the first
  revolving draw within the horizon);
- minimum quarterly interest cover = 1.

Each metric falls as s rises. The solver evaluates s = 0 and s = 1 for every firm, then
bisects all (firm, metric) pairs, one vectorised projection covering up to :data:`LEVELS`
iterations (every midpoint either branch can reach; the same midpoints and signs as one
iteration at a time, so the same roots to the bit; :func:`levels_for`: several on a few
pairs, one on many). An evaluation works on numpy arrays
(:class:`_Metrics`: the generated numpy kernel and
:func:`~stressmodel.analysis.valuation.dcf_arrays`), not on polars frames, whose fixed
cost per call dominated on 35 pairs; bisection depends only on the signs of the metrics,
so the solved shocks are those of the frame evaluation (tests/test_valuation.py compares
the two). The reported no-shock value is the polars DCF's.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl

from stressmodel.analysis.rootfind import bisect_vectorised
from stressmodel.analysis.valuation import TERMINAL_INPUTS, dcf, dcf_arrays
from stressmodel.inputs.scenarios import ScenarioSet
from stressmodel.model import kernel
from stressmodel.model.cases import per_firm_case_frame, scenario_arrays, scenario_frame
from stressmodel.model.engine import project
from stressmodel.model.quarter import ALL_FIRM_PARAMS, SCENARIO_PARAMS, terminal

XTOL = 1e-10
#: the most bisection levels evaluated per projection (2**LEVELS - 1 candidate shocks per
#: pair): the same midpoints and signs as one level at a time, a quarter of the projections
LEVELS = 4
#: an evaluation's fixed cost in candidate shocks: measured ~1.4 ms per call against ~3 us
#: per (pair, shock) on 35 and 500 pairs (the numpy kernel and the DCF arrays)
EVALUATION_OVERHEAD_POINTS = 500


def levels_for(pairs: int, xtol: float = XTOL) -> int:
    """The bisection levels per evaluation (1..:data:`LEVELS`) that minimise the modelled
    cost of the whole bisection, ceil(iterations / L) x (overhead + pairs x (2**L - 1)):
    several levels per call pay on a few pairs, whose evaluation is mostly fixed cost; on
    many pairs each level more multiplies the work (1,000 firms: 15 shocks per pair per
    call where one level at a time evaluates 1). The roots do not depend on it."""
    iterations = max(1, math.ceil(math.log2(1.0 / xtol)))

    def cost(levels: int) -> int:
        calls = math.ceil(iterations / levels)
        return calls * (EVALUATION_OVERHEAD_POINTS + pairs * (2**levels - 1))

    return min(range(1, LEVELS + 1), key=cost)


METRICS = ("value", "value_low_rate", "value_high_rate", "cash", "icr")


class _ArrayOps:
    """The :class:`stressmodel.model.quarter.Ops` interface over numpy vectors (the
    terminal quarter of every case at once); ``values`` keeps every line item."""

    def __init__(self) -> None:
        self.values: dict[str, np.ndarray] = {}

    def let(self, name: str, value: Any) -> Any:
        self.values[name] = value
        return value

    @staticmethod
    def max(*values: Any) -> Any:
        out = values[0]
        for v in values[1:]:  # folded left to right, as polars' max_horizontal
            out = np.maximum(out, v)
        return out

    @staticmethod
    def min(*values: Any) -> Any:
        out = values[0]
        for v in values[1:]:
            out = np.minimum(out, v)
        return out


class _Metrics:
    """The metric-minus-threshold function of the reverse stress test for a fixed set of
    (firm row, metric) pairs, on numpy arrays.

    Every evaluation projects all pairs at their shocks with the generated numpy kernel
    (:func:`stressmodel.model.kernel.run`, the ``numpy`` back end of
    :func:`~stressmodel.model.engine.project`), then reads the metrics off the arrays: the
    quarterly DCF of :func:`~stressmodel.analysis.valuation.dcf` at the three discount
    rates (:func:`~stressmodel.analysis.valuation.dcf_arrays`), the minimum net cash and
    the minimum interest cover. No polars frame is built per evaluation: on 35 pairs
    polars' fixed cost per call was ~30 ms of the ~33 ms an evaluation took."""

    def __init__(
        self,
        firms: pl.DataFrame,
        firm_values: pl.DataFrame,
        prices: dict[str, float | None],
        metric: list[str],
        scenarios: ScenarioSet,
        as_of: int,
        horizon: int,
        rate: float,
        width: float,
        growth: float,
    ) -> None:
        self.tickers = firms["ticker"].to_list()
        self.metric = np.array(metric, dtype=object)
        self.scenarios, self.as_of, self.horizon = scenarios, as_of, horizon
        self.rates = {
            "value": rate,
            "value_low_rate": rate - width,
            "value_high_rate": rate + width,
        }
        self.growth = growth
        self.F = np.ascontiguousarray(
            firms.select(pl.col([f"f_{p}" for p in ALL_FIRM_PARAMS]).cast(pl.Float64)).to_numpy().T
        )
        fv = {r["ticker"]: r for r in firm_values.iter_rows(named=True)}

        def per_row(key: str) -> np.ndarray:
            vals = [fv.get(t, {}).get(key) for t in self.tickers]
            return np.array([np.nan if v is None else float(v) for v in vals], dtype=float)

        self.shares, self.net_debt0 = per_row("shares"), per_row("net_debt0")
        self.price = np.array(
            [np.nan if prices.get(t) is None else float(prices[t]) for t in self.tickers],  # type: ignore[arg-type]
            dtype=float,
        )
        self.min_cash = firms["f_min_cash"].cast(pl.Float64).to_numpy()
        self.row = {name: j for j, name in enumerate(kernel.item_names())}

        self.template = self._shock_template()

    def _scenarios(self, shocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """S and D of the reverse scenario at each shock, built scenario by scenario."""
        sc = [
            self.scenarios.reverse_scenario(float(x), self.horizon, name=f"r{i}")
            for i, x in enumerate(shocks)
        ]
        return scenario_arrays(sc, self.as_of, self.horizon, None)

    def _shock_template(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The reverse scenario's S and D at s = 0 when the shock enters them only as the
        ``export_shock`` parameter (the paths are shapes; the shock scales them inside the
        model), checked at s = 0, 1 and an interior shock; None otherwise (then every
        evaluation builds its scenarios)."""
        probe = np.array([0.0, 1.0, 0.3719])
        S, D = self._scenarios(probe)
        k = SCENARIO_PARAMS.index("export_shock")
        others = np.delete(S, k, axis=0)
        same = bool(
            np.array_equal(S[k], probe)
            and np.array_equal(others, others[:, :1].repeat(3, axis=1))
            and np.array_equal(D, D[:, :, :1].repeat(3, axis=2))
        )
        return (S[:, :1], D[:, :, :1]) if same else None

    def project(
        self, shocks: np.ndarray, owner: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The scenario parameters (parameters x cases) and OUT (line items x quarters x
        cases) of case j = pair ``owner[j]`` (default: pair j) at shock ``shocks[j]``."""
        idx = np.arange(len(self.tickers)) if owner is None else owner
        if self.template is not None:
            S0, D0 = self.template
            S = np.repeat(S0, len(shocks), axis=1)
            S[SCENARIO_PARAMS.index("export_shock")] = shocks
            D = np.ascontiguousarray(np.broadcast_to(D0, (D0.shape[0], D0.shape[1], len(shocks))))
        else:
            S, D = self._scenarios(shocks)
        F = self.F if owner is None else np.ascontiguousarray(self.F[:, idx])
        return S, kernel.run("numpy", F, S, D)

    def __call__(self, shocks: np.ndarray, owner: np.ndarray | None = None) -> np.ndarray:
        """Metric minus threshold of case j = pair ``owner[j]`` (default: pair j) at shock
        ``shocks[j]``."""
        shocks = np.asarray(shocks, dtype=float)
        idx = np.arange(len(self.tickers)) if owner is None else np.asarray(owner)
        S, out = self.project(shocks, None if owner is None else idx)
        item = lambda name: out[self.row[name]]  # noqa: E731
        H = self.horizon
        F = self.F[:, idx]
        metric, price = self.metric[idx], self.price[idx]
        ops = _ArrayOps()
        terminal(
            ops,
            {p: F[j] for j, p in enumerate(ALL_FIRM_PARAMS)},
            {p: S[j] for j, p in enumerate(SCENARIO_PARAMS)},
            {c: item(c)[H - 1] for c in TERMINAL_INPUTS},
        )
        result = np.full(len(idx), np.nan)
        fcf = item("fcf")
        with np.errstate(all="ignore"):
            for m, k in self.rates.items():
                sel = metric == m
                if not sel.any():
                    continue
                vps = dcf_arrays(
                    fcf,
                    ops.values["tv_fcf"],
                    ops.values["tv_working_capital_release"],
                    self.net_debt0[idx],
                    self.shares[idx],
                    k,
                    self.growth,
                )
                result[sel] = (vps - price)[sel]
            net_cash = (item("cash") - item("revolver")).min(axis=0)
            sel = metric == "cash"
            result[sel] = (net_cash - self.min_cash[idx])[sel]
            interest, ebit = item("interest_expense"), item("ebit")
            paid = interest > 1e-9
            icr = np.where(paid, ebit / np.where(paid, interest, 1.0), np.inf).min(axis=0)
            defined = paid.any(axis=0) & (interest.min(axis=0) > 1e-9)
            sel = metric == "icr"
            result[sel] = np.where(defined, icr - 1.0, np.nan)[sel]
        return result


def pair_rows(firms: pl.DataFrame, tickers: list[str]) -> pl.DataFrame:
    """``pl.concat([firms.filter(pl.col("ticker") == t) for t in tickers])`` in one gather:
    for each ticker in turn, its rows of ``firms`` in their order (a null ticker or one not
    in ``firms`` has none). 5,000 filters, one per firm and metric at 1,000 firms, took
    ~1 s."""
    positions: dict[str, list[int]] = {}
    for i, t in enumerate(firms["ticker"].to_list()):
        if t is not None:  # a null ticker matches no filter
            positions.setdefault(t, []).append(i)
    return firms[[i for t in tickers for i in positions.get(t, [])]]


def reverse_stress(
    firms: pl.DataFrame,
    firm_values: pl.DataFrame,
    prices: dict[str, float | None],
    price_dates: dict[str, str | None],
    scenarios: ScenarioSet,
    as_of: int,
    horizon: int,
    rate: float,
    width: float,
    growth: float,
) -> pl.DataFrame:
    """One row per firm: value without a shock, the shocks at which each metric crosses
    its threshold, and a status per metric."""
    tickers = firms["ticker"].to_list()
    pairs = [(t, m) for t in tickers for m in METRICS]
    rows = pair_rows(firms, [t for t, _m in pairs]) if pairs else firms
    metric = [m for _t, m in pairs]

    g = _Metrics(rows, firm_values, prices, metric, scenarios, as_of, horizon, rate, width, growth)

    at0 = g(np.zeros(len(pairs)))
    at1 = g(np.ones(len(pairs)))
    solvable = np.isfinite(at0) & np.isfinite(at1) & (at0 >= 0) & (at1 < 0)
    lo, hi = np.zeros(len(pairs)), np.where(solvable, 1.0, 0.0)
    roots = (
        bisect_vectorised(g, lo, hi, xtol=XTOL, levels=levels_for(len(pairs)), g_at=g)
        if solvable.any()
        else np.full(len(pairs), np.nan)
    )
    # the value at zero shock, for the report: the polars DCF of the valuation stage, so
    # that it is the same figure to the last digit wherever it is shown
    no_shock = no_shock_values(firms, firm_values, scenarios, as_of, horizon, rate, growth)
    vps0 = {r["ticker"]: r["value_per_share"] for r in no_shock.iter_rows(named=True)}
    base_vals = np.array(
        [np.nan if vps0.get(t) is None else vps0[t] for t, _m in pairs], dtype=float
    )
    result: dict[str, dict[str, object]] = {t: {"ticker": t} for t in tickers}
    for i, (t, m) in enumerate(pairs):
        r = result[t]
        if m == "value":
            r["value_no_shock"] = float(base_vals[i]) if np.isfinite(base_vals[i]) else None
        shock, status = _classify(
            m, at0[i], at1[i], roots[i], solvable[i], prices.get(t), base_vals[i]
        )
        r[_column(m)] = shock
        r[_column(m) + "_status"] = status
    growth_at_price = implied_growth(
        firms, firm_values, prices, scenarios, as_of, horizon, rate, growth, no_shock
    )
    out = []
    for t in tickers:
        r = result[t]
        r["implied_growth"], r["implied_growth_status"] = growth_at_price.get(t, (None, "n/a"))
        r["share_price"] = prices.get(t)
        r["price_date"] = price_dates.get(t)
        r["status"] = r.pop("implied_export_shock_status")
        out.append(r)
    schema = {
        "ticker": pl.String,
        "share_price": pl.Float64,
        "price_date": pl.String,
        "value_no_shock": pl.Float64,
        "implied_export_shock": pl.Float64,
        "shock_cash_breaks": pl.Float64,
        "shock_icr_below_1": pl.Float64,
        "status": pl.String,
        "shock_cash_breaks_status": pl.String,
        "shock_icr_below_1_status": pl.String,
        "implied_shock_low_rate": pl.Float64,
        "implied_shock_low_rate_status": pl.String,
        "implied_shock_high_rate": pl.Float64,
        "implied_shock_high_rate_status": pl.String,
        "implied_growth": pl.Float64,
        "implied_growth_status": pl.String,
    }
    return pl.DataFrame(out, schema=schema).select(list(schema))


def _column(metric: str) -> str:
    return {
        "value": "implied_export_shock",
        "value_low_rate": "implied_shock_low_rate",
        "value_high_rate": "implied_shock_high_rate",
        "cash": "shock_cash_breaks",
        "icr": "shock_icr_below_1",
    }[metric]


def _classify(
    metric: str, f0: float, f1: float, root: float, solvable: bool, price: float | None, v0: float
) -> tuple[float | None, str]:
    if metric.startswith("value"):
        if price is None:
            return None, "n/a: no share price on or before the as-of date"
        if not np.isfinite(f0):
            return None, "n/a: no value per share (no share count)"
        if solvable and np.isfinite(root):
            return float(root), "solved: value per share equals the price"
        if f0 < 0:
            gap = (price / v0 - 1) if v0 > 0 else float("inf")
            gap_text = f"{gap:.1%}" if np.isfinite(gap) else "infinitely (value is zero)"
            return (
                None,
                f"no shock in [0, 1] explains the price: it is above even the no-shock value by {gap_text}",
            )
        return (
            None,
            "no shock in [0, 1] explains the price: it is below the value even with all exports lost for good",
        )
    if metric == "cash":
        if not np.isfinite(f0):
            return None, "n/a"
        if f0 < 0:
            return 0.0, "breached at s = 0: a revolving draw is needed even without a shock"
        if solvable and np.isfinite(root):
            return float(root), "solved: first revolving draw within the horizon"
        return None, "not breached: no revolving draw within the horizon even with all exports lost"
    if not np.isfinite(f0):
        return None, "n/a: no interest expense (no debt)"
    if f0 < 0:
        return 0.0, "breached at s = 0: interest cover below 1 even without a shock"
    if solvable and np.isfinite(root):
        return float(root), "solved: interest cover first falls below 1"
    if not np.isfinite(f1):
        return None, "n/a: interest cover undefined under the full shock"
    return None, "not breached: interest cover stays at or above 1 even with all exports lost"


def plug_back(
    firms: pl.DataFrame,
    firm_values: pl.DataFrame,
    scenarios: ScenarioSet,
    as_of: int,
    horizon: int,
    rate: float,
    growth: float,
    shocks: dict[str, float],
) -> dict[str, float]:
    """Value per share of each firm at its solved shock (the plug-back check)."""
    tick = [t for t in firms["ticker"].to_list() if t in shocks]
    rows = firms.filter(pl.col("ticker").is_in(tick))
    sc = [
        replace(scenarios.reverse_scenario(shocks[t], horizon), name=f"r{i}")
        for i, t in enumerate(rows["ticker"].to_list())
    ]
    cases = per_firm_case_frame(rows, scenario_frame(sc, as_of, horizon, None))
    proj = project(cases, horizon, [f"q{k}" for k in range(1, horizon + 1)], as_of + 1)
    val = dcf(proj, cases, firm_values, rate, growth, horizon)
    return {r["ticker"]: r["value_per_share"] for r in val.iter_rows(named=True)}


def no_shock_values(
    firms: pl.DataFrame,
    firm_values: pl.DataFrame,
    scenarios: ScenarioSet,
    as_of: int,
    horizon: int,
    rate: float,
    growth: float,
) -> pl.DataFrame:
    """:func:`~stressmodel.analysis.valuation.dcf` of each firm's no-shock reverse-stress
    case (one case per firm), joined with ``firm_values``."""
    tick = firms["ticker"].to_list()
    sc = [replace(scenarios.reverse_scenario(0.0, horizon), name=f"g{i}") for i in range(len(tick))]
    cases = per_firm_case_frame(firms, scenario_frame(sc, as_of, horizon, None))
    proj = project(cases, horizon, [f"q{k}" for k in range(1, horizon + 1)], as_of + 1)
    return dcf(proj, cases, firm_values, rate, growth, horizon).join(
        firm_values, on="ticker", how="left"
    )


def implied_growth(
    firms: pl.DataFrame,
    firm_values: pl.DataFrame,
    prices: dict[str, float | None],
    scenarios: ScenarioSet,
    as_of: int,
    horizon: int,
    rate: float,
    growth: float,
    values: pl.DataFrame | None = None,
) -> dict[str, tuple[float | None, str]]:
    """Perpetual growth of normalised free cash flow after the horizon at which the
    no-shock value equals the price (methods.md 8.3 step 4), in closed form:
    with A = price x shares + net debt - PV(FCF) - d_H WC_release and
    B = A / (4 FCF_norm d_H), the Gordon term 4 FCF_norm (1+g)/(k-g) = A/d_H gives
    g* = (B k - 1) / (1 + B).

    ``values``: :func:`no_shock_values` of these firms when the caller has it already."""
    val = (
        values
        if values is not None
        else no_shock_values(firms, firm_values, scenarios, as_of, horizon, rate, growth)
    )
    d_h = (1 + rate) ** (-horizon / 4)
    out: dict[str, tuple[float | None, str]] = {}
    for r in val.iter_rows(named=True):
        t, price, shares = r["ticker"], prices.get(r["ticker"]), r["shares"]
        if price is None or shares is None:
            out[t] = (None, "n/a: no price or share count")
            continue
        if r["tv_fcf"] <= 0:
            out[t] = (
                None,
                "n/a: normalised free cash flow is not positive, no growth rate reproduces the price",
            )
            continue
        a = price * shares + r["net_debt0"] - r["pv_fcf"] - d_h * r["tv_working_capital_release"]
        if a <= 0:
            out[t] = (None, "n/a: the price is below the value of the horizon cash flows alone")
            continue
        b = a / (4 * r["tv_fcf"] * d_h)
        out[t] = ((b * rate - 1) / (1 + b), "solved: no-shock value equals the price")
    return out
