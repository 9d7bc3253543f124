"""Prior-weighted consolidation-likelihood index (methods.md section 13).

The index is a logit aggregation of documented risk factors:

    eta = logit(pi0) + sum_k w_k * z_k,      p = 1 / (1 + e^(-eta)),

where pi0 is the base rate of consolidation (absorption, merger or exit) over the horizon
H (default 3 years) for the **reference firm** (every continuous component at the peer
median, state-controlled, no upstream tie), z_k are the standardised components and w_k
the prior weights (log-odds per 1 peer SD, or per unit for the dummies). Without a labelled
sample this is an **uncalibrated index**: its level rests on the assumed pi0, so report the
band of :func:`uncertainty_band`, not just the point.

Components (raw value -> z):

========== ==================================== ====== ===============================
name       raw value                            kind   default prior weight (sign)
========== ==================================== ====== ===============================
distress   logit of a stressed default prob.    cont.  +0.8
size       ln(annual revenue, CNY mn)           cont.  -0.6
roa_gap    ROA - peer median ROA (fraction)     cont.  -0.4
export     overseas revenue share (fraction)    cont.  +0.5
private    1 = private, 0 = state (dummy)       dummy  +0.4
upstream   1 = tie to a state RE group (dummy)  dummy  -0.7
runway     quarters of cash runway, capped 12   cont.  -0.5
========== ==================================== ====== ===============================

Continuous components are standardised within the peer universe as
z = clip((x - median) / (1.4826 * MAD), -3, 3); dummies enter as they are (0/1, or an
explicit fraction for an unknown value).

Statuses: a component function returns ``(value, status)``. ``value`` is None exactly when
``status`` starts with ``"n/a: "``; otherwise the status is ``"ok"`` or explains an
adjustment that kept a value (``"clipped: ..."``, ``"capped: ..."``, ``"assumed: ..."``).

Pure: no files, no I/O or CLI libraries.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import polars as pl

# ------------------------------------------------------------------------------ registry

CONTINUOUS: tuple[str, ...] = ("distress", "size", "roa_gap", "export", "runway")
DUMMIES: tuple[str, ...] = ("private", "upstream")
COMPONENTS: tuple[str, ...] = (
    "distress",
    "size",
    "roa_gap",
    "export",
    "private",
    "upstream",
    "runway",
)
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "distress": 0.8,
        "size": -0.6,
        "roa_gap": -0.4,
        "export": 0.5,
        "private": 0.4,
        "upstream": -0.7,
        "runway": -0.5,
    }
)
PROB_CLIP = 1e-6
MAD_TO_SD = 1.4826
Z_CLIP = 3.0
RUNWAY_CAP = 12.0

Ownership = Literal["state", "private", "unknown"]
ComponentValue = tuple[float | None, str]


def is_dummy(component: str) -> bool:
    """True for the components that enter unstandardised (0/1 dummies)."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; expected one of {COMPONENTS}")
    return component in DUMMIES


# ------------------------------------------------------------------------------ components


def distress_component(prob: float | None) -> ComponentValue:
    """Stressed distress: logit(p) = ln(p / (1 - p)).  Sign **+** (prior +0.8).

    Reason: distressed and zombie firms exit or are rescued by a stronger owner
    (methods.md 2-5, 7). Use ONE distress probability (e.g. the stressed naive-DD PD or
    the Ohlson P under the scenario), never a sum of collinear scores.
    p is clipped to [1e-6, 1 - 1e-6] before the logit so that a PD of exactly 0 or 1 gives
    a finite +/-13.8 (status ``"clipped: ..."``).
    Zero/NaN policy: None/NaN -> ``(None, "n/a: missing distress probability")``; p outside
    [0, 1] -> ``(None, "n/a: probability outside [0, 1]")``.
    """
    if prob is None or math.isnan(prob):
        return None, "n/a: missing distress probability"
    p = float(prob)
    if not 0.0 <= p <= 1.0:
        return None, "n/a: probability outside [0, 1]"
    status = "ok"
    if p < PROB_CLIP or p > 1.0 - PROB_CLIP:
        p = min(max(p, PROB_CLIP), 1.0 - PROB_CLIP)
        status = f"clipped: probability clipped to [{PROB_CLIP:g}, 1 - {PROB_CLIP:g}]"
    return math.log(p / (1.0 - p)), status


def size_component(revenue_annual: float | None) -> ComponentValue:
    """Size: ln(annual revenue in CNY mn).  Sign **-** (prior -0.6).

    Reason: larger firms are less likely targets and policy favours scale (Palepu 1986;
    Ambrose & Megginson 1992). Revenue is annual (TTM); the unit only shifts every firm by
    the same constant, which the peer standardisation removes.
    Zero/NaN policy: None/NaN -> ``n/a: missing revenue``; revenue <= 0 ->
    ``(None, "n/a: non-positive revenue")``.
    """
    if revenue_annual is None or math.isnan(revenue_annual):
        return None, "n/a: missing revenue"
    r = float(revenue_annual)
    if r <= 0:
        return None, "n/a: non-positive revenue"
    return math.log(r), "ok"


def profitability_gap(roa: float | None, peer_median_roa: float | None) -> ComponentValue:
    """Profitability gap: ROA - peer median ROA (fractions, pre-shock TTM).  Sign **-**
    (prior -0.4).

    Reason: inefficiency hypothesis; loss-makers exit, efficient firms consolidate others
    (Palepu 1986; Trimbath et al. 2001).
    Zero/NaN policy: a missing ROA or peer median -> ``(None, "n/a: missing ROA")`` /
    ``(None, "n/a: missing peer median ROA")``.
    """
    if roa is None or math.isnan(roa):
        return None, "n/a: missing ROA"
    if peer_median_roa is None or math.isnan(peer_median_roa):
        return None, "n/a: missing peer median ROA"
    return float(roa) - float(peer_median_roa), "ok"


def export_dependence(share: float | None) -> ComponentValue:
    """Export dependence: overseas revenue share (fraction in [0, 1]).  Sign **+**
    (prior +0.5).

    Reason: the licence regime hits exports first; customised export magnets cannot be
    resold at home, so customers and volume are lost (sector brief; methods.md 11.2).
    Zero/NaN policy: None/NaN -> ``n/a: missing export share``; outside [0, 1] ->
    ``(None, "n/a: export share outside [0, 1]")``.
    """
    if share is None or math.isnan(share):
        return None, "n/a: missing export share"
    s = float(share)
    if not 0.0 <= s <= 1.0:
        return None, "n/a: export share outside [0, 1]"
    return s, "ok"


def _check_unknown_value(unknown_value: float) -> None:
    if not 0.0 <= unknown_value <= 1.0:
        raise ValueError("unknown_value must be in [0, 1] (a dummy or a probability)")


def private_dummy(ownership: Ownership | str | None, unknown_value: float) -> ComponentValue:
    """Private ownership: 1 if no state or state-group control, 0 if state-controlled.
    Sign **+** (prior +0.4). Not standardised.

    Reason: consolidation in the sector runs through SOE groups, so private firms are the
    ones absorbed (methods.md 11.2).
    ``"unknown"`` (or None) -> ``(unknown_value, "assumed: ownership unknown, private =
    <v>")``; the caller chooses ``unknown_value`` in [0, 1] (e.g. the peer share of private
    firms) and records it. Any other label -> ``(None, "n/a: unknown ownership label")``.
    """
    _check_unknown_value(unknown_value)
    if ownership == "private":
        return 1.0, "ok"
    if ownership == "state":
        return 0.0, "ok"
    if ownership is None or ownership == "unknown":
        return float(unknown_value), f"assumed: ownership unknown, private = {unknown_value:g}"
    return None, f"n/a: unknown ownership label {ownership!r}"


def upstream_dummy(tie: int | None, unknown_value: float) -> ComponentValue:
    """Upstream tie: 1 if controlled by, in a JV with, or in a long-term supply deal with a
    state rare-earth group.  Sign **-** (prior -0.7). Not standardised.

    Reason: feedstock (Dy/Tb) security and licence access make such firms consolidators
    rather than targets (methods.md 11.2).
    None -> ``(unknown_value, "assumed: upstream tie unknown, upstream = <v>")``; a value
    other than 0/1 -> ``(None, "n/a: upstream tie must be 0 or 1")``.
    """
    _check_unknown_value(unknown_value)
    if tie is None or (isinstance(tie, float) and math.isnan(tie)):
        return float(unknown_value), f"assumed: upstream tie unknown, upstream = {unknown_value:g}"
    if isinstance(tie, bool) or tie not in (0, 1):
        return None, "n/a: upstream tie must be 0 or 1"
    return float(tie), "ok"


def runway_component(quarters: float | None, cap: float = RUNWAY_CAP) -> ComponentValue:
    """Liquidity runway: quarters until cash falls below the operating minimum under the
    scenario, capped at ``cap`` (12).  Sign **-** (prior -0.5).

    Reason: firms that run out of cash are sold or exit; a long runway buys time
    (methods.md 8, 9.4). None means "not breached within the projection" -> ``cap``
    (status ``"capped: not breached"``); a value above the cap -> cap (``"capped: ..."``).
    Zero/NaN policy: NaN -> ``(None, "n/a: missing runway")``; negative ->
    ``(None, "n/a: negative runway")``.
    """
    if not cap > 0:
        raise ValueError("cap must be positive")
    if quarters is None:
        return float(cap), "capped: not breached"
    q = float(quarters)
    if math.isnan(q):
        return None, "n/a: missing runway"
    if q < 0:
        return None, "n/a: negative runway"
    if q > cap:
        return float(cap), f"capped: runway above {cap:g} quarters"
    return q, "ok"


# ------------------------------------------------------------------------------ peer stats


@dataclass(frozen=True)
class ComponentStats:
    """Standardisation constants of one continuous component, stored for reproducibility.

    ``scale`` = 1.4826*MAD, or the sample SD when MAD = 0, or None when both are 0 (or
    fewer than two peer values) -> every z of this component is 0.
    ``status``: ``"ok"``, ``"fallback: MAD = 0, scale = SD"``,
    ``"n/a: no dispersion among peers (z = 0)"`` or ``"n/a: no peer values (z = 0)"``.
    """

    name: str
    n: int
    median: float | None
    mad: float | None
    scale: float | None
    status: str


@dataclass(frozen=True)
class PeerStats:
    """Median and scale per continuous component (see :func:`peer_stats`)."""

    components: tuple[ComponentStats, ...]

    def __getitem__(self, name: str) -> ComponentStats:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.components)

    def median(self, name: str) -> float | None:
        return self[name].median

    def scale(self, name: str) -> float | None:
        return self[name].scale

    def to_frame(self) -> pl.DataFrame:
        """One row per component: component, n, median, mad, scale, status."""
        return pl.DataFrame(
            {
                "component": [c.name for c in self.components],
                "n": [c.n for c in self.components],
                "median": [c.median for c in self.components],
                "mad": [c.mad for c in self.components],
                "scale": [c.scale for c in self.components],
                "status": [c.status for c in self.components],
            },
            schema={
                "component": pl.String,
                "n": pl.Int64,
                "median": pl.Float64,
                "mad": pl.Float64,
                "scale": pl.Float64,
                "status": pl.String,
            },
        )


def component_stats(name: str, values: Sequence[float | None]) -> ComponentStats:
    """Robust location and scale of one component over the peer universe.

    median = median(x); MAD = median(|x - median|); scale = 1.4826*MAD (consistent with
    the SD under normality; robust with about 9 firms). If MAD = 0 (most peers share a
    value) the scale falls back to the sample SD (ddof = 1); if that is 0 too, or fewer than
    two values exist, scale is None and z = 0 for everyone (status says so).
    None/NaN values are ignored (the count ``n`` is of the values used).
    """
    kept = [float(v) for v in values if v is not None]
    x = np.asarray(kept, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return ComponentStats(name, 0, None, None, None, "n/a: no peer values (z = 0)")
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med)))
    if mad > 0:
        return ComponentStats(name, int(x.size), med, mad, MAD_TO_SD * mad, "ok")
    sd = float(np.std(x, ddof=1)) if x.size >= 2 else 0.0
    if sd > 0:
        return ComponentStats(name, int(x.size), med, mad, sd, "fallback: MAD = 0, scale = SD")
    return ComponentStats(
        name, int(x.size), med, mad, None, "n/a: no dispersion among peers (z = 0)"
    )


def peer_stats(values: Mapping[str, Sequence[float | None]]) -> PeerStats:
    """:func:`component_stats` for each named component (keys kept in the order given).

    Pass the continuous components only (dummies are not standardised); a dummy name
    raises ValueError.
    """
    for name in values:
        if name in DUMMIES:
            raise ValueError(f"{name!r} is a dummy and is not standardised")
    return PeerStats(tuple(component_stats(k, v) for k, v in values.items()))


def standardise(
    x: float | None, median: float | None, scale: float | None, clip: float = Z_CLIP
) -> ComponentValue:
    """z = clip((x - median) / scale, -clip, clip), winsorised at +/-3 by default.

    Zero/NaN policy: x None/NaN -> ``(None, "n/a: missing value")``; median or scale None
    (no peer values / no dispersion) -> ``(0.0, "assumed: no peer dispersion (z = 0)")``;
    scale <= 0 is treated like None. A clipped z has status ``"clipped: |z| > <clip>"``.
    """
    if x is None or math.isnan(x):
        return None, "n/a: missing value"
    if median is None or scale is None or not scale > 0:
        return 0.0, "assumed: no peer dispersion (z = 0)"
    z = (float(x) - median) / scale
    if abs(z) > clip:
        return math.copysign(clip, z), f"clipped: |z| > {clip:g}"
    return z, "ok"


# ------------------------------------------------------------------------------ priors


def logit(p: float) -> float:
    """ln(p / (1 - p)) for 0 < p < 1 (raises ValueError otherwise)."""
    if not 0.0 < p < 1.0:
        raise ValueError("logit needs 0 < p < 1")
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class Priors:
    """Prior weights and base rate of the index, plus the Monte Carlo ranges of the band.

    ``weights``: log-odds per 1 peer SD (continuous) or per unit (dummies), keyed by
    component name (any subset of :data:`COMPONENTS`; stored read-only in registry order).
    ``base_rate``: pi0, probability of consolidation within ``horizon_years`` for the
    reference firm (fraction in (0, 1)). ``base_rate_low``/``base_rate_high``: the range
    of pi0 drawn in the band (default 5%-20%). ``weight_low_factor``/``weight_high_factor``:
    each weight is drawn as U[low*w, high*w] (default 0.5-1.5, so signs never flip).
    A calibrated fit (:mod:`stressmodel.analysis.calibration`) returns the same shape.
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    base_rate: float = 0.10
    horizon_years: float = 3.0
    base_rate_low: float = 0.05
    base_rate_high: float = 0.20
    weight_low_factor: float = 0.5
    weight_high_factor: float = 1.5

    def __post_init__(self) -> None:
        unknown = [k for k in self.weights if k not in COMPONENTS]
        if unknown:
            raise ValueError(f"unknown components in weights: {unknown}; expected {COMPONENTS}")
        if not self.weights:
            raise ValueError("weights must name at least one component")
        for k, w in self.weights.items():
            if not math.isfinite(float(w)):
                raise ValueError(f"weight of {k!r} must be finite")
        ordered = {k: float(self.weights[k]) for k in COMPONENTS if k in self.weights}
        object.__setattr__(self, "weights", MappingProxyType(ordered))
        if not 0.0 < self.base_rate < 1.0:
            raise ValueError("base_rate must be in (0, 1)")
        if not 0.0 < self.base_rate_low <= self.base_rate_high < 1.0:
            raise ValueError("need 0 < base_rate_low <= base_rate_high < 1")
        if not 0.0 <= self.weight_low_factor <= self.weight_high_factor:
            raise ValueError("need 0 <= weight_low_factor <= weight_high_factor")
        if not self.horizon_years > 0:
            raise ValueError("horizon_years must be positive")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # picklable (the read-only weights view is not): workbooks are written in worker
        # processes that receive the run's inputs
        return (
            type(self),
            (
                dict(self.weights),
                self.base_rate,
                self.horizon_years,
                self.base_rate_low,
                self.base_rate_high,
                self.weight_low_factor,
                self.weight_high_factor,
            ),
        )

    @property
    def intercept(self) -> float:
        """beta0 = logit(base_rate)."""
        return logit(self.base_rate)

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(self.weights)

    @classmethod
    def from_parameters(cls, params: Mapping[str, float]) -> Priors:
        """Build from a flat parameter table such as ``inputs/consolidation_priors.csv``:
        ``base_rate``, ``base_rate_low``, ``base_rate_high``, ``horizon_years``,
        ``weight_low_factor``, ``weight_high_factor`` (all optional) and ``w_<component>``
        (at least one). Unknown keys raise ValueError."""
        scalars = {
            "base_rate",
            "base_rate_low",
            "base_rate_high",
            "horizon_years",
            "weight_low_factor",
            "weight_high_factor",
        }
        weights: dict[str, float] = {}
        kwargs: dict[str, float] = {}
        for key, value in params.items():
            if key in scalars:
                kwargs[key] = float(value)
            elif key.startswith("w_"):
                weights[key[2:]] = float(value)
            else:
                raise ValueError(f"unknown consolidation parameter {key!r}")
        return cls(weights=weights, **kwargs)


def horizon_probability(p_one_year: float, horizon_years: float) -> float:
    """p_H = 1 - (1 - p_1)^H under a constant annual hazard (fractions; H in years).

    Raises ValueError for p outside [0, 1] or H <= 0.
    """
    if not 0.0 <= p_one_year <= 1.0:
        raise ValueError("p_one_year must be in [0, 1]")
    if not horizon_years > 0:
        raise ValueError("horizon_years must be positive")
    return float(1.0 - (1.0 - p_one_year) ** horizon_years)


def annual_probability(p_horizon: float, horizon_years: float) -> float:
    """Inverse of :func:`horizon_probability`: p_1 = 1 - (1 - p_H)^(1/H)."""
    if not 0.0 <= p_horizon <= 1.0:
        raise ValueError("p_horizon must be in [0, 1]")
    if not horizon_years > 0:
        raise ValueError("horizon_years must be positive")
    return float(1.0 - (1.0 - p_horizon) ** (1.0 / horizon_years))


# ------------------------------------------------------------------------------ scoring

STATUS_OK = "ok"


def _z_expr(name: str, stats: PeerStats, clip: float) -> pl.Expr:
    x = pl.col(name).cast(pl.Float64)
    if is_dummy(name):
        return x
    if name not in stats:
        raise ValueError(f"no peer statistics for continuous component {name!r}")
    med, sc = stats.median(name), stats.scale(name)
    if med is None or sc is None or not sc > 0:
        return pl.when(x.is_null() | x.is_nan()).then(None).otherwise(pl.lit(0.0))
    return ((x - med) / sc).clip(-clip, clip)


def score(
    components: pl.DataFrame,
    stats: PeerStats,
    priors: Priors,
    clip: float = Z_CLIP,
) -> pl.DataFrame:
    """Point consolidation index per row.

    Input: one row per (ticker, scenario) (any key columns are passed through) with one
    raw column per component of ``priors.weights`` (``distress``, ``size``, ...; raw
    values as returned by the component functions; dummies in [0, 1]).
    Output, added in this order: ``z_<c>`` (standardised with ``stats``; dummies as given),
    ``contrib_<c>`` = w_c * z_c (log-odds), ``eta`` = logit(base_rate) + sum of contribs,
    ``consolidation_score`` = 1/(1 + e^(-eta)) (fraction in [0, 1], the probability-like
    index over ``priors.horizon_years``) and ``score_status``.
    Zero/NaN policy: a null/NaN raw component (or a dummy outside [0, 1]) gives null z,
    contrib, eta and score, with ``score_status = "n/a: missing <c>, ..."``; a component
    without peer dispersion gets z = 0 (see :class:`ComponentStats`). Row order is kept.
    """
    names = list(priors.weights)
    missing_cols = [c for c in names if c not in components.columns]
    if missing_cols:
        raise ValueError(f"components frame lacks columns {missing_cols}")
    z_exprs = []
    bad_exprs = []
    for c in names:
        x = pl.col(c).cast(pl.Float64)
        bad = x.is_null() | x.is_nan()
        if is_dummy(c):
            bad = bad | (x < 0) | (x > 1)
        bad_exprs.append(bad.alias(f"__bad_{c}"))
        z_exprs.append(
            pl.when(bad)
            .then(pl.lit(None, dtype=pl.Float64))
            .otherwise(_z_expr(c, stats, clip))
            .alias(f"z_{c}")
        )
    out = components.with_columns(*z_exprs, *bad_exprs)
    out = out.with_columns(
        [(priors.weights[c] * pl.col(f"z_{c}")).alias(f"contrib_{c}") for c in names]
    )
    eta = pl.lit(priors.intercept) + pl.sum_horizontal(
        [pl.col(f"contrib_{c}") for c in names], ignore_nulls=False
    )
    reasons = pl.concat_str(
        [pl.when(pl.col(f"__bad_{c}")).then(pl.lit(c)) for c in names],
        separator=", ",
        ignore_nulls=True,
    )
    any_bad = pl.any_horizontal([pl.col(f"__bad_{c}") for c in names])
    out = out.with_columns(
        pl.when(any_bad).then(pl.lit(None, dtype=pl.Float64)).otherwise(eta).alias("eta"),
        pl.when(any_bad)
        .then(pl.lit("n/a: missing ") + reasons)
        .otherwise(pl.lit(STATUS_OK))
        .alias("score_status"),
    )
    out = out.with_columns((1.0 / (1.0 + (-pl.col("eta")).exp())).alias("consolidation_score"))
    ordered = [c for c in out.columns if not c.startswith("__bad_") and c != "score_status"]
    return out.select(*ordered, "score_status")


# ------------------------------------------------------------------------------ band


#: up to this many firms, Kendall's tau is finished with the pairwise formula
#: (``num / sqrt(nx * ny)``, :func:`_kendall_tau_b_pairwise`), above it with scipy's
#: (``num / sqrt(nx) / sqrt(ny)``, clipped); both from exact pair counts in O(n log n) per
#: draw, so the two formulas' last bits stay those of the runs before the pair counts
#: replaced the pairwise path (whose memory grew as n^2 x draws)
PAIRWISE_MAX_FIRMS = 200

#: rows of the band's draws matrix (cases x draws) evaluated at a time: 4,096 rows x 1,000
#: draws is 33 MB, and the shipped run (7 firms) fits in one chunk
BAND_CHUNK_ROWS = 4096

#: threads the band's row-quantile blocks run on: numpy's matrix product and sort release
#: the GIL. At most 2 (the machine this is tuned on has 2 cores) and no more than the
#: process may use
BAND_THREADS = max(
    1,
    min(
        2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    ),
)


def rank_min(a: np.ndarray) -> np.ndarray:
    """Ranks along axis 0, 1 = smallest, ties sharing the lowest rank (``rankdata(a,
    method="min", axis=0)`` of scipy.stats, as float64, without importing scipy.stats,
    which costs about 0.4 s). Finite input only (the band's values are finite).

    A rank is one more than the number of strictly smaller values, so the order the sort
    leaves ties in does not matter: numpy's default (unstable, vectorised) sort serves, on
    a copy with the ranked axis last (contiguous): 1,000 x 1,000 draws in ~0.07 s against
    ~0.15 s for a stable sort down the columns."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        return np.ones(a.shape)
    rows = np.ascontiguousarray(np.moveaxis(a, 0, -1))  # (..., n): each row one ranking
    n = rows.shape[-1]
    order = np.argsort(rows, axis=-1)
    ordered = np.take_along_axis(rows, order, axis=-1)
    position = np.broadcast_to(np.arange(n), rows.shape)
    first = np.ones(rows.shape, dtype=bool)
    first[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    # the rank of a sorted position is one more than the position of the first of its ties
    start = np.maximum.accumulate(np.where(first, position, 0), axis=-1)
    ranks = np.empty(rows.shape, dtype=float)
    np.put_along_axis(ranks, order, (start + 1).astype(float), axis=-1)
    return np.moveaxis(ranks, -1, 0)


def expit(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-x)) elementwise, as ``scipy.special.expit``
    computes it, to the bit, without importing scipy.special (0.4-0.7 s, the only use of
    scipy in a run).

    scipy evaluates ``1 / (1 + exp(-x))`` with the C library's ``exp``. numpy's own
    vectorised ``np.exp`` differs from it by one unit in the last place on about 2% of
    arguments (measured here, AVX-512), which would move the band's quantiles in their last
    digit; polars' ``exp`` is the C library's (Rust's ``f64::exp`` is a call to libm's
    ``exp``), so the exponential is taken there (measured equal to scipy's expit on 4
    million draws and the edge cases, tests/test_startup.py; ~30 ms per million against
    ~120 ms for ``math.exp`` element by element). exp(-x) = inf beyond the double range
    (expit 0), NaN stays NaN."""
    a = np.asarray(x, dtype=float)
    e = pl.Series(np.ascontiguousarray(-a).reshape(-1), dtype=pl.Float64).exp().to_numpy()
    return np.asarray(1.0 / (1.0 + e), dtype=float).reshape(a.shape)


def _pairs_tied(ordered: np.ndarray) -> np.ndarray:
    """Pairs of equal values in each row of ``ordered`` (sorted along axis 1): the sum over
    runs of equal values of t(t-1)/2, as int64 per row."""
    n = ordered.shape[1]
    position = np.broadcast_to(np.arange(n, dtype=np.int64), ordered.shape)
    first = np.ones(ordered.shape, dtype=bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    # a sorted position's offset from the first of its run counts the pairs it closes
    start = np.maximum.accumulate(np.where(first, position, 0), axis=1)
    return np.asarray((position - start).sum(axis=1, dtype=np.int64))


#: row length from which :func:`_discordant_pairs` merges with numpy's stable sort
#: (measured per merge round: 300 firms 0.50 against 1.01 ms, 1,000 firms 0.71 against
#: 1.94 ms; 200 firms 0.60 against 0.34 ms)
MERGE_STABLE_FROM = 257


def _discordant_pairs(ranks: np.ndarray) -> np.ndarray:
    """Per row of ``ranks`` (D, n; int64 in [0, n)), the pairs i < j with ranks[i] > ranks[j]
    (strict inversions), by a bottom-up merge sort vectorised over the rows: at half-width s
    each element of a block's right half is passed by the left-half elements greater than
    it, counted from its position once the block is sorted (left before right on ties)."""
    d, n = ranks.shape
    span = 4 * n  # a block's key range: 2 * rank + half < 2n
    # a block's halves are sorted runs: numpy's stable sort (timsort) merges them, 2-3x
    # faster than its default sort on rows longer than MERGE_STABLE_FROM; on shorter rows
    # the default (vectorised small-array sort) is ~2x faster. Integers sort to the same
    # array either way
    kind: Literal["stable", "quicksort"] = "stable" if n >= MERGE_STABLE_FROM else "quicksort"
    position = np.arange(n, dtype=np.int64)
    current = ranks
    out = np.zeros(d, dtype=np.int64)
    s = 1
    while s < n:
        block = position // (2 * s)
        merged = np.sort(block * span + 2 * current + ((position // s) & 1), axis=1, kind=kind)
        right = merged & 1
        rights_before = np.cumsum(right, axis=1) - right
        start = block * 2 * s
        lefts_before = (position - start) - (rights_before - rights_before[:, start])
        left_size = np.minimum(s, n - start)
        out += ((left_size - lefts_before) * right).sum(axis=1)
        current = (merged % span) >> 1
        s *= 2
    return out


#: elements (firms x draws) of a block of draws evaluated at a time by the pair counts:
#: keeps the merge sort's arrays within the processor's cache while amortising numpy's
#: per-call cost over many draws (measured: 1,000 firms best at ~128 draws a block, 100
#: firms at 128-1,000; 32 draws a block at 100 firms took 3.5x as long)
KENDALL_BLOCK_ELEMENTS = 2**17


def _kendall_pair_counts(
    point: np.ndarray, draws: np.ndarray
) -> tuple[np.ndarray, int, np.ndarray, int]:
    """Exact pair counts for Kendall's tau-b of ``point`` (n,) against each column of
    ``draws`` (n, D), in O(n log n) per draw: (concordant - discordant pairs (D,), pairs tied
    in ``point``, pairs tied in each draw (D,), all pairs n(n-1)/2), as int64. Finite input
    only."""
    x = np.asarray(point, dtype=float)
    n = x.size
    xs = np.sort(x)
    x_rank = np.searchsorted(np.unique(xs), x).astype(np.int64)  # dense, 0-based
    xtie = int(_pairs_tied(xs[None, :])[0])
    tot = n * (n - 1) // 2
    n_draws = draws.shape[1]
    con_minus_dis = np.zeros(n_draws, dtype=np.int64)
    ytie_all = np.zeros(n_draws, dtype=np.int64)
    block = max(1, KENDALL_BLOCK_ELEMENTS // max(n, 1))
    for a in range(0, n_draws, block):
        y = np.ascontiguousarray(np.asarray(draws[:, a : a + block], dtype=float).T)
        order = np.argsort(y, axis=1)
        ys = np.take_along_axis(y, order, axis=1)
        ytie = _pairs_tied(ys)
        first = np.ones(ys.shape, dtype=bool)
        first[:, 1:] = ys[:, 1:] != ys[:, :-1]
        y_rank = np.empty(ys.shape, dtype=np.int64)
        np.put_along_axis(y_rank, order, np.cumsum(first, axis=1, dtype=np.int64) - 1, axis=1)
        # firms ordered by (x, y): discordant pairs are the inversions of y in that order
        key = np.sort(x_rank * n + y_rank, axis=1)
        ntie = _pairs_tied(key)
        dis = _discordant_pairs(key % n)
        con_minus_dis[a : a + block] = tot - xtie - ytie + ntie - 2 * dis
        ytie_all[a : a + block] = ytie
    return con_minus_dis, xtie, ytie_all, tot


def _kendall_tau_b_counts(point: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of ``point`` (n,) against each column of ``draws`` (n, D) from exact
    pair counts (:func:`_kendall_pair_counts`), with scipy.stats.kendalltau's formula and
    operations (``con_minus_dis / sqrt(tot - xtie) / sqrt(tot - ytie)`` on integer counts,
    clipped to [-1, 1]), so equal to it to the bit (tests/test_consolidation.py); NaN where
    a side is all ties. Finite input only."""
    con_minus_dis, xtie, ytie, tot = _kendall_pair_counts(point, draws)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (
            con_minus_dis.astype(float)
            / np.sqrt(float(tot - xtie))
            / np.sqrt((tot - ytie).astype(float))
        )
    tau = np.minimum(1.0, np.maximum(-1.0, tau))
    return np.where((ytie != tot) & (xtie != tot), tau, np.nan)


def _kendall_tau_b_pairwise(point: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between one vector (n,) and each column of draws (n, D) over the
    n(n-1)/2 pairs at once (memory n^2 x D): the reference for :func:`_kendall_tau_b`'s
    small-universe formula (tests). Returns (D,), NaN where a side has no untied pair."""
    i, j = np.triu_indices(point.size, k=1)
    sx = np.sign(point[i] - point[j])  # (m,)
    sy = np.sign(draws[i, :] - draws[j, :])  # (m, D)
    m = i.size
    num = sx @ sy
    nx = m - np.count_nonzero(sx == 0)
    ny = m - np.count_nonzero(sy == 0, axis=0)
    denom = np.sqrt(float(nx) * ny.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), np.nan)


def _kendall_tau_b(point: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between one vector (n,) and each column of draws (n, D), from exact
    pair counts (:func:`_kendall_pair_counts`). Up to :data:`PAIRWISE_MAX_FIRMS` firms it is
    finished as :func:`_kendall_tau_b_pairwise` finishes it (``num / sqrt(nx * ny)``: the
    pairwise path's numerator is a sum of signs, an exact integer, and its tie counts are
    the same integers, so the result is the same to the bit), else with scipy's formula
    (:func:`_kendall_tau_b_counts`). Returns (D,), NaN where a side has no untied pair.
    Finite input only."""
    if point.size > PAIRWISE_MAX_FIRMS:
        return _kendall_tau_b_counts(point, draws)
    con_minus_dis, xtie, ytie, tot = _kendall_pair_counts(point, draws)
    num = con_minus_dis.astype(float)
    denom = np.sqrt(float(tot - xtie) * (tot - ytie).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), np.nan)


def row_quantiles_of_expit(eta: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """``np.quantile(expit(eta), quantiles, axis=1)`` (numpy's default "linear" method), to
    the bit, taking the logistic function of the order statistics only: expit is
    non-decreasing, so the k-th smallest of ``expit(row)`` is expit of the k-th smallest of
    ``row``; numpy's interpolation (``_lerp``: a + (b - a) t, or b - (b - a)(1 - t) for
    t >= 0.5) is then applied to those values. ``eta``: (rows, D), finite. Returns
    (len(quantiles), rows)."""
    return _row_quantiles_of_expit_sorting(np.array(eta, dtype=float), quantiles)


def _row_quantiles_of_expit_sorting(a: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """:func:`row_quantiles_of_expit` of ``a`` (float64, C order), sorting ``a`` in place
    (for a caller whose ``a`` is a temporary: the copy of a 4,096 x 1,000 block costs about
    as much as its matrix product)."""
    rows, d = a.shape
    out = np.zeros((len(quantiles), rows))
    if rows == 0:
        return out
    virtual = (d - 1) * np.asarray(quantiles, dtype=float)
    prev = np.clip(np.floor(virtual).astype(np.intp), 0, d - 1)
    nxt = np.clip(prev + 1, 0, d - 1)
    # a full sort puts the same values at those positions as a partition at them, and is
    # faster here (numpy's vectorised sort: 64 against 85 ms per 4,096 x 1,000 block)
    a.sort(axis=1)
    for i, (v, lo, hi) in enumerate(zip(virtual, prev, nxt, strict=True)):
        below, above = expit(a[:, lo]), expit(a[:, hi])
        t = v - lo
        diff = above - below
        out[i] = above - diff * (1 - t) if t >= 0.5 else below + diff * t
    return out


def uncertainty_band(
    components: pl.DataFrame,
    stats: PeerStats,
    priors: Priors,
    n_draws: int = 1000,
    seed: int = 0,
    scenario_col: str = "scenario",
    quantiles: tuple[float, float, float] = (0.10, 0.50, 0.90),
    clip: float = Z_CLIP,
    rank_groups: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Seeded Monte Carlo band of the index over weights and base rate (methods.md 13.4).

    Each draw d takes w_k,d ~ U[low*w_k, high*w_k] independently per component (signs
    fixed) and pi0_d ~ U[base_rate_low, base_rate_high]; the SAME draws apply to every
    row, so scenarios and firms stay comparable. The z values are those of :func:`score`.
    Everything is one matrix product: eta = Z (n x K) @ W^T (K x D) + logit(pi0) (D).

    Output: the :func:`score` frame plus
    ``consolidation_low`` / ``consolidation_median`` / ``consolidation_high`` (the 10th,
    50th and 90th percentiles over draws, fractions); ``rank_point`` (1 = highest point
    score within the row's scenario; ties share the lowest rank); ``rank_stability``
    (share of draws in which the firm keeps exactly its point rank within the scenario);
    ``kendall_tau_mean`` (mean over draws of Kendall's tau-b between the point scores and
    the draw's scores of the scenario's firms; the same value on each row of a scenario;
    null with fewer than two scorable firms). Without ``scenario_col`` all rows form one
    group. Rows with a null point score get nulls and are left out of the ranking.
    Deterministic for a given seed (numpy ``default_rng``); row order is kept.
    ``rank_groups``: compute the rank columns only for these scenarios (the others get
    nulls); Kendall's tau costs memory in the square of the number of firms times the
    draws, so a run with a large universe ranks only the named scenarios.
    """
    if n_draws < 1:
        raise ValueError("n_draws must be at least 1")
    lo_q, mid_q, hi_q = quantiles
    if not 0.0 <= lo_q <= mid_q <= hi_q <= 1.0:
        raise ValueError("quantiles must be increasing within [0, 1]")
    scored = score(components, stats, priors, clip=clip)
    names = list(priors.weights)
    n = scored.height
    w = np.array([priors.weights[c] for c in names], dtype=float)
    rng = np.random.default_rng(seed)
    mult = rng.uniform(priors.weight_low_factor, priors.weight_high_factor, (n_draws, len(w)))
    pi0 = rng.uniform(priors.base_rate_low, priors.base_rate_high, n_draws)
    weights = mult * w  # (D, K)
    b0 = np.log(pi0 / (1.0 - pi0))  # (D,)

    valid = scored["consolidation_score"].is_not_null().to_numpy()
    z = scored.select([pl.col(f"z_{c}").fill_null(0.0) for c in names]).to_numpy()
    z = np.asarray(z, dtype=float).reshape(n, len(names))

    def probs_of(rows: np.ndarray | slice) -> np.ndarray:
        return expit(z[rows] @ weights.T + b0)  # (rows, D)

    # the (n, D) matrix of draws is never held whole: at 1,000 firms x ~260 cases x 1,000
    # draws it is 2 GB (and the quantile's sort copies it); each row's quantiles depend on
    # that row alone, so they are taken BAND_CHUNK_ROWS rows at a time, from the linear
    # predictor (see :func:`row_quantiles_of_expit`)
    q = np.zeros((3, n))

    def eta_of(start: int) -> tuple[slice, np.ndarray]:
        rows = slice(start, min(n, start + BAND_CHUNK_ROWS))
        eta = z[rows] @ weights.T
        eta += b0  # in place: the same sums, without a second 33 MB block to fault in
        return rows, eta

    def quantiles_of(block: tuple[slice, np.ndarray]) -> None:
        rows, eta = block
        q[:, rows] = _row_quantiles_of_expit_sorting(eta, (lo_q, mid_q, hi_q))

    # the blocks are independent and numpy's sort releases the GIL, so every other block is
    # sorted on a second thread while this one sorts the next; each block writes its own
    # rows of q, computed exactly as one after another (same block shapes, same
    # operations). The matrix products stay on this thread: OpenBLAS keeps a work buffer
    # per calling thread, which held ~80 MB for the rest of a 1,000-firm run
    starts = list(range(0, n, BAND_CHUNK_ROWS))
    if BAND_THREADS < 2 or len(starts) < 2:
        for start in starts:
            quantiles_of(eta_of(start))
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            for i in range(0, len(starts), 2):
                mine = eta_of(starts[i])
                other = (
                    pool.submit(quantiles_of, eta_of(starts[i + 1]))
                    if i + 1 < len(starts)
                    else None
                )
                quantiles_of(mine)
                if other is not None:
                    other.result()
                del mine, other

    point = scored["consolidation_score"].fill_null(0.0).to_numpy().astype(float)
    rank_point = np.full(n, np.nan)
    stability = np.full(n, np.nan)
    tau_mean = np.full(n, np.nan)
    if scenario_col in scored.columns:
        groups = scored[scenario_col].to_numpy()
        keys = list(dict.fromkeys(groups.tolist()))
        if rank_groups is not None:
            wanted = set(rank_groups)
            keys = [k for k in keys if k in wanted]
        members = [np.flatnonzero((groups == k) & valid) for k in keys]
    else:
        members = [np.flatnonzero(valid)]

    def rank_group(idx: np.ndarray) -> None:  # firms x draws vectorised; groups disjoint
        if idx.size == 0:
            return
        draws = probs_of(idx)  # (firms of the group, D)
        pr = rank_min(-point[idx])
        dr = rank_min(-draws)
        rank_point[idx] = pr
        stability[idx] = np.mean(dr == pr[:, None], axis=1)
        if idx.size >= 2:
            taus = _kendall_tau_b(point[idx], draws)
            if np.any(np.isfinite(taus)):
                tau_mean[idx] = float(np.nanmean(taus))

    # one scenario after another: on threads, each group's (firms x draws) arrays came
    # from another thread's allocator arenas (numpy's and polars'), which kept ~80 MB of
    # resident memory for the rest of a 1,000-firm run
    for idx in members:
        rank_group(idx)

    def col(values: np.ndarray, mask: np.ndarray) -> pl.Series:
        out = np.where(mask, values, np.nan)
        return pl.Series(out, dtype=pl.Float64).fill_nan(None)

    return scored.with_columns(
        col(q[0], valid).alias("consolidation_low"),
        col(q[1], valid).alias("consolidation_median"),
        col(q[2], valid).alias("consolidation_high"),
        col(rank_point, valid).cast(pl.Int64).alias("rank_point"),
        col(stability, valid).alias("rank_stability"),
        col(tau_mean, valid & np.isfinite(tau_mean)).alias("kendall_tau_mean"),
    )
