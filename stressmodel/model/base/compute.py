"""Base-period figures and structural model parameters per firm, at an as-of quarter.

For each firm this package turns the (as-of filtered) statements, prices and register
into (1) base figures with provenance — trailing-twelve-month flows and the latest
balance sheet, each ``reported``, ``derived`` or ``estimated`` — and (2) the structural
parameters of the projection model (:data:`stressmodel.model.quarter.ALL_FIRM_PARAMS`).
One module per figure family: run_rate, balance_sheet, export_split, params, market;
ratios holds the first pass (own ratios, peer medians).

Fallback order for a missing figure (never zero): the firm's own figure at the as-of
quarter; its own latest earlier figure (flows within 12 quarters, balances within 4);
its own ratio applied to a known base (e.g. receivable days x revenue); the peer median
of that ratio across the firms in the register that report it (marked ``estimated``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import quarter_end_date, quarter_of_date
from stressmodel.inputs.statement_store import StatementStore
from stressmodel.inputs.statements import Figure, FirmStatements, build
from stressmodel.model.base.balance_sheet import build_balance_sheet
from stressmodel.model.base.export_split import build_export_split
from stressmodel.model.base.figures import Builder, FirmBase, FirmNotRunnable, PeerStat
from stressmodel.model.base.market import market
from stressmodel.model.base.params import structural_params
from stressmodel.model.base.ratios import own_ratios, peer_medians
from stressmodel.model.base.run_rate import build_run_rate
from stressmodel.model.collector import collector_paused
from stressmodel.model.quarter import ALL_FIRM_PARAMS


def firm_base(
    inputs: Inputs,
    ticker: str,
    q: int,
    fs: FirmStatements,
    own: dict[str, Figure],
    peers: dict[str, PeerStat],
    since: int | None = None,
    market_inputs: Inputs | None = None,
    price_date: dt.date | None = None,
) -> FirmBase:
    """Base figures and model parameters of one firm (inputs already filtered to ``q``).

    ``since``: first quarter after the firm's latest corporate event on or before ``q``.
    ``market_inputs``/``price_date``: value at the latest close on or before ``price_date``
    (prices from ``market_inputs``, which may run past ``q``); statements never look ahead."""
    b = Builder(ticker, fs, q, own, peers, inputs.sector, since)
    rr = build_run_rate(b)
    bs = build_balance_sheet(b, inputs.sector, rr)
    if rr.interest is not None:
        b.set("interest_ttm", rr.interest)
    xs = build_export_split(inputs, b)
    params = structural_params(b, inputs.sector, rr, bs, xs)
    market(inputs, ticker, q, b, market_inputs or inputs, price_date)
    return FirmBase(ticker, q, b.figures, params, b.notes, peer_group(inputs, ticker))


@dataclass(frozen=True)
class BaseSet:
    """Every runnable firm's base at one as-of quarter, plus the peer medians used."""

    as_of: int
    firms: dict[str, FirmBase]
    peers: dict[str, dict[str, PeerStat]]  # peer group -> ratio -> median of reporting firms
    not_runnable: dict[str, str]
    own_ratios: dict[str, dict[str, Figure]]

    def frame(self, tickers: Iterable[str] | None = None) -> pl.DataFrame:
        """One row per firm: ``ticker`` and ``f_<param>`` columns for the engine."""
        names = list(self.firms) if tickers is None else [t for t in tickers if t in self.firms]
        return pl.DataFrame(
            {
                "ticker": names,
                **{f"f_{p}": [self.firms[t].params[p] for t in names] for p in ALL_FIRM_PARAMS},
            },
            schema={"ticker": pl.String, **{f"f_{p}": pl.Float64 for p in ALL_FIRM_PARAMS}},
        )

    def provenance(self) -> pl.DataFrame:
        rows = []
        for t, fb in self.firms.items():
            for name, fig in fb.figures.items():
                rows.append(
                    {
                        "ticker": t,
                        "figure": name,
                        "value": fig.value,
                        "basis": fig.basis,
                        "how": fig.how,
                        "sources": "; ".join(fig.sources),
                    }
                )
        return pl.DataFrame(
            rows,
            schema={
                "ticker": pl.String,
                "figure": pl.String,
                "value": pl.Float64,
                "basis": pl.String,
                "how": pl.String,
                "sources": pl.String,
            },
        )


def event_since(inputs: Inputs, ticker: str, q: int) -> int | None:
    """The quarter of the firm's latest corporate event on or before the end of ``q``: its
    balance at that quarter's end is the first after the event."""
    evs = inputs.events_of(ticker, quarter_end_date(q))
    return quarter_of_date(evs[-1]["date"]) if evs else None


def peer_group(inputs: Inputs, ticker: str) -> str:
    return str(inputs.firm(ticker).get("peer_group") or "")


#: registers of at least this many firms take a ``tickers=`` call's peer medians from the
#: columnar store at once; below it the per-firm path is faster (one column-wise pass costs
#: ~0.05 s whatever the size: 8 firms take ~0.01 s firm by firm, 10,000 firms ~1.5 s)
COLUMNAR_PEERS_FROM = 64


def compute_bases(
    inputs: Inputs,
    q: int,
    price_date: dt.date | None = None,
    *,
    tickers: Iterable[str] | None = None,
) -> BaseSet:
    """Base figures for every firm in the register at as-of quarter ``q``.

    ``inputs`` may be unfiltered; only statements on or before ``q`` are used, and prices on
    or before the end of ``q`` (or on or before ``price_date`` when given).
    ``tickers``: the firm bases of these firms only (a firm's base reads its own figures and
    its peer group's medians, which still come from every firm), for callers that read no
    other firm's base (the back-tests).
    """
    with collector_paused():  # object-heavy and acyclic (stressmodel.model.collector)
        return _compute_bases(inputs, q, price_date, tickers)


def _compute_bases(
    inputs: Inputs, q: int, price_date: dt.date | None, tickers: Iterable[str] | None
) -> BaseSet:
    at = inputs.as_of(q)
    wanted = None if tickers is None else set(tickers)
    # the columnar pass only pays when it saves other firms' statements: a call wanting
    # every firm (a back-test of the whole register) builds them all either way, and then
    # takes the medians from their own ratios, as the full set does
    columnar = (
        wanted is not None
        and isinstance(at.statements, StatementStore)
        and len(at.statements) >= COLUMNAR_PEERS_FROM
        and not all(t in wanted for t in at.statements.tickers)
    )
    if columnar:
        # the peer medians from every firm's columns at once; FirmStatements and own ratios
        # of the wanted firms only (10,000 firms: each back-test quarter built them all)
        from stressmodel.model.base.coverage import peer_stats_columns

        stmts = {t: build(t, at.statements[t], q) for t in at.statements.tickers if t in wanted}
        peers = peer_stats_columns(inputs, q)
    else:
        stmts = {t: build(t, rows, q) for t, rows in at.statements.items()}
    since = {t: event_since(inputs, t, q) for t in stmts}
    own = {t: own_ratios(fs, q, since[t]) for t, fs in stmts.items()}
    groups = {t: peer_group(inputs, t) for t in stmts}
    if not columnar:
        peers = peer_medians(own, groups)
    firms: dict[str, FirmBase] = {}
    not_runnable: dict[str, str] = {}
    for t in at.tickers:
        if wanted is not None and t not in wanted:
            continue
        try:
            firms[t] = firm_base(
                at, t, q, stmts[t], own[t], peers.get(groups[t], {}), since[t], inputs, price_date
            )
        except FirmNotRunnable as exc:
            not_runnable[t] = str(exc)
    return BaseSet(q, firms, peers, not_runnable, own)


def latest_actuals(inputs: Inputs) -> dict[str, int | None]:
    """Each firm's latest quarter with actual revenue (from its revenue rows alone: no other
    item can make a quarter's revenue known)."""
    with collector_paused():
        return {
            t: build(t, [r for r in rows if r["item"] == "revenue"]).latest_actual_quarter()
            for t, rows in inputs.statements.items()
        }
