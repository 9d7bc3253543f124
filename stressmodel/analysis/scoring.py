"""Consolidation components per firm x scenario, from the projection and the base.

Raw components (see :mod:`stressmodel.analysis.consolidation` for signs and weights):

- ``distress``: logit of the highest Ohlson probability over the projection (one
  distress measure, as methods.md 13.1 asks);
- ``size``: ln of revenue over the first four projected quarters (CNY mn);
- ``roa_gap``: the firm's as-of ROA minus the peer median ROA (pre-shock, constant);
- ``export``: the export revenue share used by the model;
- ``private``: 1 private, 0 state, the sector assumption when unknown;
- ``upstream``: 1 if tied to a state rare-earth group, 0 if not, the sector assumption
  when unknown;
- ``runway``: quarters until the first revolving draw, capped at 12 (no draw within the
  horizon counts as 12).

Peer statistics (median and scale) come from every runnable firm in the register at the
last actual period: the as-of Ohlson probability, TTM revenue, ROA and export share, and
the baseline runway — they are not re-estimated per scenario, so a firm's score moves
only with its own stress.
"""

from __future__ import annotations

import math

import polars as pl

from stressmodel.analysis.consolidation import (
    PROB_CLIP,
    RUNWAY_CAP,
    PeerStats,
    Priors,
    peer_stats,
    uncertainty_band,
)
from stressmodel.inputs.load import Inputs
from stressmodel.inputs.sector import Sector
from stressmodel.model.base import BaseSet

CONTINUOUS = ("distress", "size", "roa_gap", "export", "runway")


def _logit_expr(p: pl.Expr) -> pl.Expr:
    q = p.clip(PROB_CLIP, 1 - PROB_CLIP)
    return (q / (1 - q)).log()


def firm_dummies(inputs: Inputs, tickers: list[str], sector: Sector) -> pl.DataFrame:
    rows = []
    for t in tickers:
        reg = inputs.firm(t)
        own = reg["ownership"]
        private = (
            1.0
            if own == "private"
            else 0.0
            if own == "state"
            else sector.float("ownership_unknown_private")
        )
        tie = reg["upstream_tie"]
        upstream = float(tie) if tie is not None else sector.float("upstream_unknown_tie")
        rows.append(
            {
                "ticker": t,
                "private": private,
                "upstream": upstream,
                "private_basis": "reported"
                if own in ("state", "private")
                else "assumption (unknown)",
                "upstream_basis": "reported" if tie is not None else "assumption (unknown)",
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "ticker": pl.String,
            "private": pl.Float64,
            "upstream": pl.Float64,
            "private_basis": pl.String,
            "upstream_basis": pl.String,
        },
    )


def universe_stats(
    actual: pl.DataFrame, bases: BaseSet, baseline_runway: pl.DataFrame
) -> tuple[PeerStats, float]:
    """Peer statistics at the last actual period, and the peer median ROA."""
    roa = [v for v in actual["roa"].to_list() if v is not None and math.isfinite(v)]
    med_roa = (
        sorted(roa)[len(roa) // 2]
        if len(roa) % 2
        else (sorted(roa)[len(roa) // 2 - 1] + sorted(roa)[len(roa) // 2]) / 2
    )
    probs = actual["ohlson_probability"].to_list()
    distress = [
        None
        if p is None
        else math.log(
            min(max(p, PROB_CLIP), 1 - PROB_CLIP) / (1 - min(max(p, PROB_CLIP), 1 - PROB_CLIP))
        )
        for p in probs
    ]
    size = [math.log(v) if v and v > 0 else None for v in actual["revenue_ttm"].to_list()]
    gaps = [None if v is None else v - med_roa for v in actual["roa"].to_list()]
    export = [bases.firms[t].value("export_share") for t in actual["ticker"].to_list()]
    runway = [
        min(v, RUNWAY_CAP) if v is not None else RUNWAY_CAP
        for v in baseline_runway["cash_runway_quarters"].to_list()
    ]
    stats = peer_stats(
        {"distress": distress, "size": size, "roa_gap": gaps, "export": export, "runway": runway}
    )
    return stats, med_roa


def components(
    cases: pl.DataFrame, actual: pl.DataFrame, bases: BaseSet, dummies: pl.DataFrame, med_roa: float
) -> pl.DataFrame:
    """Raw components per case (``cases`` from :func:`stressmodel.analysis.risk.case_metrics`)."""
    firm = (
        actual.select("ticker", "roa")
        .join(dummies, on="ticker", how="left")
        .with_columns(
            pl.col("ticker")
            .map_elements(lambda t: bases.firms[t].value("export_share"), return_dtype=pl.Float64)
            .alias("export"),
            (pl.col("roa") - med_roa).alias("roa_gap"),
        )
    )
    return (
        cases.select(
            "ticker", "scenario", "ohlson_probability", "revenue_first_year", "cash_runway_quarters"
        )
        .join(firm, on="ticker", how="left")
        .select(
            "ticker",
            "scenario",
            _logit_expr(pl.col("ohlson_probability")).alias("distress"),
            pl.when(pl.col("revenue_first_year") > 0)
            .then(pl.col("revenue_first_year").log())
            .otherwise(None)
            .alias("size"),
            "roa_gap",
            "export",
            "private",
            "upstream",
            pl.col("cash_runway_quarters")
            .cast(pl.Float64)
            .fill_null(RUNWAY_CAP)
            .clip(upper_bound=RUNWAY_CAP)
            .alias("runway"),
        )
    )


def score_cases(
    comp: pl.DataFrame,
    stats: PeerStats,
    priors: Priors,
    n_draws: int,
    seed: int,
    rank_scenarios: list[str] | None = None,
) -> pl.DataFrame:
    """Point score, per-component contributions and the uncertainty band per case; rank
    stability only for ``rank_scenarios`` (all scenarios when None)."""
    return uncertainty_band(
        comp, stats, priors, n_draws=n_draws, seed=seed, rank_groups=rank_scenarios
    )
