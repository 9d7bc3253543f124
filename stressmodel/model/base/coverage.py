"""How each firm's base figures are obtained (reported, derived, estimated or missing), for
all firms at once from the columnar statements -- what ``stressmodel validate`` prints.

:func:`compute_bases` answers this firm by firm (10,000 firms: about 8 s). Here the same
rules run over numpy arrays with one row per firm: the statement figures on a grid of
quarters (year-to-date and single-quarter relations closed by the substitution passes of
:class:`~stressmodel.inputs.statements.FirmStatements`, in the same order, so that derived
values are the same floats), trailing twelve months at each quarter, the firm's own ratios,
the peer medians, the run-rate, balance sheet and export split with their fallbacks, and the
first missing ratio that makes a firm not runnable. Only the basis of each figure (and the
values that decide a branch) is computed, never the text of how. Market figures (prices,
share count, volatility) are few per firm and taken from
:func:`stressmodel.model.base.market.market` itself. ``tests/test_coverage_columns.py``
checks the result against :func:`compute_bases` on the shipped inputs and on synthetic
universes with gaps.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import (
    parse_period,
    quarter_end_date,
    quarter_label,
    quarter_of_date,
)
from stressmodel.inputs.statement_store import StatementStore, statement_store
from stressmodel.inputs.statements import _basis
from stressmodel.inputs.vocabulary import ITEMS
from stressmodel.model.base.compute import peer_group
from stressmodel.model.base.figures import (
    BALANCE_FALLBACKS,
    BALANCE_LOOKBACK,
    CAPITAL_ITEMS,
    DAYS_PER_YEAR,
    FLOW_LOOKBACK,
    MIN_REPORTING_PEERS,
    PLAIN_FIGURE,
    RATIO_LOOKBACK,
    SECTOR_FALLBACKS,
    Builder,
    PeerStat,
)
from stressmodel.model.base.market import market
from stressmodel.model.base.ratios import BALANCE_ITEMS, POINT_RATIOS

#: basis codes of the arrays: 0 missing, then the three bases
MISSING, REPORTED, DERIVED, ESTIMATED = 0, 1, 2, 3
BASIS_NAME = {REPORTED: "reported", DERIVED: "derived", ESTIMATED: "estimated"}
#: the flow items the base figures read
FLOWS = (
    "revenue",
    "cost_of_revenue",
    "gross_profit",
    "operating_income",
    "depreciation_amortization",
    "ebitda",
    "net_income",
    "operating_cash_flow",
    "interest_expense",
    "sales_volume",
)
#: quarters of flows before the as-of that a TTM figure can reach: 16 quarters of look-back
#: (the average selling price), each TTM reaching 7 quarters further (a previous FY)
FLOW_WINDOW = 2 * RATIO_LOOKBACK + 8
POINT_WINDOW = 2 * RATIO_LOOKBACK


@dataclass
class Fig:
    """Per firm: a figure's value (NaN when missing), basis code and, for flows, the quarter
    the figure carries (-1 for none, as a derived :class:`Figure` has none)."""

    v: np.ndarray
    b: np.ndarray
    q: np.ndarray

    @classmethod
    def missing(cls, n: int) -> Fig:
        return cls(np.full(n, np.nan), np.zeros(n, np.int8), np.full(n, -1, np.int64))

    @property
    def ok(self) -> np.ndarray:
        return self.b != MISSING

    def copy(self) -> Fig:
        return Fig(self.v.copy(), self.b.copy(), self.q.copy())

    def fill(
        self, mask: np.ndarray, v: np.ndarray | float, b: np.ndarray | int, q: np.ndarray | int = -1
    ) -> None:
        """Set the firms of ``mask`` (only those still missing should be given)."""
        self.v[mask] = (np.broadcast_to(v, self.v.shape))[mask]
        self.b[mask] = (np.broadcast_to(b, self.b.shape))[mask]
        self.q[mask] = (np.broadcast_to(q, self.q.shape))[mask]


def _est(*parts: np.ndarray) -> np.ndarray:
    """The basis :func:`stressmodel.model.base.figures.est` gives: estimated if any part is."""
    out = np.full(parts[0].shape, DERIVED, np.int8)
    for p in parts:
        out[p == ESTIMATED] = ESTIMATED
    return out


class Grid:
    """One firm per row: the statement figures of the firms at quarters ``e0``..``q``."""

    def __init__(self, frame: pl.DataFrame, n: int, q: int):
        self.n, self.q = n, q
        self.e0 = ((q - FLOW_WINDOW) // 4) * 4  # the first quarter of a year
        self.width = q - self.e0 + 1
        notes = frame["note"].unique().to_list()
        basis = {s: REPORTED if _basis(s) == "reported" else DERIVED for s in notes}
        frame = frame.with_columns(
            pl.col("note").replace_strict(basis, return_dtype=pl.Int8).alias("b")
        )
        self.frame = frame
        flows = frame.filter(pl.col("item").is_in(FLOWS) & (pl.col("end") >= self.e0))
        self.ytd: dict[str, Fig] = {}
        self.single: dict[str, Fig] = {}
        self.rep_ttm: dict[str, Fig] = {}
        for item in FLOWS:
            rows = flows.filter(pl.col("item") == item)
            t, end, span = rows["t"].to_numpy(), rows["end"].to_numpy(), rows["span"].to_numpy()
            v, b = rows["value"].to_numpy(), rows["b"].to_numpy()
            ttm = (rows["kind"] == "TTM").to_numpy()
            col = end - self.e0
            y = self._empty()
            s = self._empty()
            r = self._empty()
            is_ytd = ~ttm & (span == end % 4 + 1)
            is_single = ~ttm & (span == 1) & (end % 4 != 0)
            for fig, m in ((y, is_ytd), (s, is_single), (r, ttm)):
                fig.v[t[m], col[m]] = v[m]
                fig.b[t[m], col[m]] = b[m]
                fig.q[t[m], col[m]] = end[m]
            self._close(y, s)
            self.ytd[item], self.single[item], self.rep_ttm[item] = y, s, r
        self._ttm: dict[str, Fig] = {}
        self.points: dict[str, Fig] = {}
        pts = frame.filter(
            pl.col("item").is_in([k for k, i in ITEMS.items() if i.kind != "flow"])
            & (pl.col("end") >= q - POINT_WINDOW)
        )
        for (item,), rows in pts.group_by("item"):
            fig = Fig(
                np.full((n, POINT_WINDOW + 1), np.nan),
                np.zeros((n, POINT_WINDOW + 1), np.int8),
                np.full((n, POINT_WINDOW + 1), -1, np.int64),
            )
            t, end = rows["t"].to_numpy(), rows["end"].to_numpy()
            col = q - end
            fig.v[t, col] = rows["value"].to_numpy()
            fig.b[t, col] = rows["b"].to_numpy()
            fig.q[t, col] = end
            self.points[str(item)] = fig

    def _empty(self) -> Fig:
        return Fig(
            np.full((self.n, self.width), np.nan),
            np.zeros((self.n, self.width), np.int8),
            np.full((self.n, self.width), -1, np.int64),
        )

    def _close(self, y: Fig, s: Fig) -> None:
        """:meth:`FirmStatements._derive_flows`: repeated passes over quarters 2-4 of each year
        (the same rule first, so the same floats)."""

        def ok(f: Fig, c: int) -> np.ndarray:
            return f.b[:, c] != MISSING

        changed = True
        while changed:
            changed = False
            for year0 in range(0, self.width, 4):
                for k in (1, 2, 3):
                    c = year0 + k
                    if c >= self.width:
                        break
                    yo, po, so = ok(y, c), ok(y, c - 1), ok(s, c)
                    r1 = ~so & yo & po
                    r2 = ~yo & so & po
                    r3 = ~po & so & yo
                    if r1.any():
                        s.v[r1, c] = y.v[r1, c] - y.v[r1, c - 1]
                        s.b[r1, c], s.q[r1, c] = DERIVED, -1
                    if r2.any():
                        y.v[r2, c] = y.v[r2, c - 1] + s.v[r2, c]
                        y.b[r2, c], y.q[r2, c] = DERIVED, -1
                    if r3.any():
                        y.v[r3, c - 1] = y.v[r3, c] - s.v[r3, c]
                        y.b[r3, c - 1], y.q[r3, c - 1] = DERIVED, -1
                    changed = changed or bool(r1.any() or r2.any() or r3.any())

    def _single(self, item: str, c: int) -> tuple[np.ndarray, np.ndarray]:
        """Value and presence of the single quarter at column ``c`` (a Q1 is its YTD)."""
        if c < 0:
            return np.full(self.n, np.nan), np.zeros(self.n, bool)
        f = self.ytd[item] if (self.e0 + c) % 4 == 0 else self.single[item]
        return f.v[:, c], f.b[:, c] != MISSING

    def ttm(self, item: str, x: int) -> Fig:
        """:meth:`FirmStatements.ttm` of every firm at quarter ``x``."""
        key = f"{item}@{x}"
        if key in self._ttm:
            return self._ttm[key]
        n, c = self.n, x - self.e0
        out = Fig.missing(n)
        if c < 0:
            self._ttm[key] = out
            return out
        r = self.rep_ttm[item]
        m = r.b[:, c] != MISSING
        out.fill(m, r.v[:, c], r.b[:, c], r.q[:, c])
        y = self.ytd[item]
        qn = x % 4 + 1
        if qn == 4:
            m = ~out.ok & (y.b[:, c] != MISSING)
            out.fill(m, y.v[:, c], y.b[:, c], y.q[:, c])
        cf, cs = c - qn, c - 4
        if cf >= 0 and cs >= 0:
            have = (y.b[:, c] != MISSING) & (y.b[:, cf] != MISSING) & (y.b[:, cs] != MISSING)
            m = ~out.ok & have
            with np.errstate(all="ignore"):
                out.fill(m, y.v[:, c] + y.v[:, cf] - y.v[:, cs], DERIVED)
        parts = [self._single(item, c - k) for k in range(4)]
        have = parts[0][1] & parts[1][1] & parts[2][1] & parts[3][1]
        m = ~out.ok & have
        with np.errstate(all="ignore"):
            out.fill(m, parts[0][0] + parts[1][0] + parts[2][0] + parts[3][0], DERIVED)
        self._ttm[key] = out
        return out

    def latest_ttm(self, item: str, x: int, lookback: int) -> Fig:
        """:meth:`FirmStatements.latest_ttm`: the first TTM at x, x-1, ... (quarter set)."""
        out = Fig.missing(self.n)
        for k in range(lookback + 1):
            f = self.ttm(item, x - k)
            m = ~out.ok & f.ok
            out.fill(m, f.v, f.b, x - k)
        return out

    def latest_point(self, item: str, lookback: np.ndarray | int) -> Fig:
        """:meth:`FirmStatements.latest_point` at the as-of, per firm ``lookback``."""
        out = Fig.missing(self.n)
        p = self.points.get(item)
        if p is None:
            return out
        lb = np.broadcast_to(lookback, (self.n,))
        for k in range(min(int(lb.max(initial=0)), POINT_WINDOW) + 1):
            m = ~out.ok & (p.b[:, k] != MISSING) & (k <= lb)
            out.fill(m, p.v[:, k], p.b[:, k], p.q[:, k])
        return out


def _ttm_ratio(g: Grid, num: str, den: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`stressmodel.model.base.ratios._ttm_ratio`: (found, value, basis)."""
    n, q = g.n, g.q
    found = np.zeros(n, bool)
    val = np.full(n, np.nan)
    basis = np.zeros(n, np.int8)
    for k in range(FLOW_LOOKBACK + 1):
        a, b = g.ttm(num, q - k), g.ttm(den, q - k)
        m = ~found & a.ok & b.ok & (b.v > 0)
        with np.errstate(all="ignore"):
            val[m] = (a.v / b.v)[m]
        basis[m] = np.where((a.b == REPORTED) & (b.b == REPORTED), REPORTED, DERIVED)[m]
        found |= m
    return found, val, basis


@dataclass
class Own:
    """A firm's own ratio (never an estimate): present, value, basis."""

    ok: np.ndarray
    v: np.ndarray
    b: np.ndarray


def own_ratios_columns(
    g: Grid, back: dict[str, np.ndarray]
) -> tuple[dict[str, Own], np.ndarray, np.ndarray]:
    """:func:`stressmodel.model.base.ratios.own_ratios` of every firm; also the cost ratio
    figure before the finite check and whether there is one (used for cogs_v)."""
    out: dict[str, Own] = {}

    def put(name: str, ok: np.ndarray, v: np.ndarray, b: np.ndarray | int) -> None:
        with np.errstate(all="ignore"):
            good = ok & np.isfinite(v)
        out[name] = Own(good, np.where(good, v, np.nan), np.where(good, b, MISSING).astype(np.int8))

    cf, cv, cb = _ttm_ratio(g, "cost_of_revenue", "revenue")
    gf, gv, _gb = _ttm_ratio(g, "gross_profit", "revenue")
    use_gp = ~cf & gf
    cogs_found = cf | use_gp
    cogs_v = np.where(cf, cv, 1 - gv)
    put("cogs_ratio", cogs_found, cogs_v, np.where(cf, cb, DERIVED))
    put("ebit_margin", *_ttm_ratio(g, "operating_income", "revenue"))
    df_, dv, db = _ttm_ratio(g, "depreciation_amortization", "revenue")
    found = df_.copy()
    val = dv.copy()
    bas = db.copy()
    for k in range(FLOW_LOOKBACK + 1):
        e, o, r = (
            g.ttm("ebitda", g.q - k),
            g.ttm("operating_income", g.q - k),
            g.ttm("revenue", g.q - k),
        )
        m = ~found & e.ok & o.ok & r.ok & (r.v > 0) & (e.v >= o.v)
        with np.errstate(all="ignore"):
            val[m] = ((e.v - o.v) / r.v)[m]
        bas[m] = DERIVED
        found |= m
    put("da_ratio", found, val, bas)
    put("ni_margin", *_ttm_ratio(g, "net_income", "revenue"))
    put("cfo_ratio", *_ttm_ratio(g, "operating_cash_flow", "revenue"))
    for item, name in POINT_RATIOS:
        f = g.latest_point(item, back[item] if item in CAPITAL_ITEMS else RATIO_LOOKBACK)
        put(name, f.ok, f.v, f.b)
    gx = g.latest_point("gross_margin_overseas", RATIO_LOOKBACK * 2)
    gd = g.latest_point("gross_margin_domestic", RATIO_LOOKBACK * 2)
    m = gx.ok & gd.ok & (gx.v < 1) & (gd.v < 1)
    with np.errstate(all="ignore"):
        put("price_ratio", m, (1 - gd.v) / (1 - gx.v), DERIVED)
    asp = g.latest_point("avg_selling_price", RATIO_LOOKBACK * 2)
    av, ab, afound = asp.v / 1e6, asp.b.copy(), asp.ok.copy()
    for k in range(RATIO_LOOKBACK * 2 + 1):
        rev, vol = g.ttm("revenue", g.q - k), g.ttm("sales_volume", g.q - k)
        m = ~afound & rev.ok & vol.ok & (vol.v > 0)
        with np.errstate(all="ignore"):
            av[m] = (rev.v / vol.v)[m]
        ab[m] = DERIVED
        afound |= m
    put("asp", afound, av, ab)
    bs = {
        name: g.latest_point(name, back[name] if name in CAPITAL_ITEMS else BALANCE_LOOKBACK)
        for name in BALANCE_ITEMS
    }
    rev = g.latest_ttm("revenue", g.q, 12)
    with np.errstate(all="ignore"):
        cogs_value = rev.v * cogs_v  # the ratio figure, finite or not, as own_ratios uses it
        pos = rev.ok & (rev.v > 0)
        c = bs["cash_and_equivalents"]
        put("cash_to_revenue", pos & c.ok, c.v / rev.v, DERIVED)
        ar = bs["receivables"]
        m = pos & ar.ok & ~out["dso"].ok
        dso = out["dso"]
        new = Own(dso.ok.copy(), dso.v.copy(), dso.b.copy())
        v = ar.v / rev.v * DAYS_PER_YEAR
        fin = m & np.isfinite(v)
        new.ok[fin], new.v[fin], new.b[fin] = True, v[fin], DERIVED
        out["dso"] = new
        ta = bs["total_assets"]
        put("asset_turnover", pos & ta.ok, rev.v / ta.v, DERIVED)
        inv = bs["inventory"]
        cv_ok = rev.ok & cogs_found & (cogs_value != 0) & ~np.isnan(cogs_value)
        m = inv.ok & cv_ok & ~out["dio"].ok
        dio = out["dio"]
        new = Own(dio.ok.copy(), dio.v.copy(), dio.b.copy())
        v = inv.v / cogs_value * DAYS_PER_YEAR
        fin = m & np.isfinite(v)
        new.ok[fin], new.v[fin], new.b[fin] = True, v[fin], DERIVED
        out["dio"] = new
        tl = bs["total_liabilities"]
        la = out["liabilities_to_assets"]
        m = ta.ok & tl.ok & ~la.ok
        v = tl.v / ta.v
        new = Own(la.ok.copy(), la.v.copy(), la.b.copy())
        fin = m & np.isfinite(v)
        new.ok[fin], new.v[fin], new.b[fin] = True, v[fin], DERIVED
        out["liabilities_to_assets"] = new
        d = bs["total_debt"]
        put("debt_to_assets", ta.ok & d.ok, d.v / ta.v, DERIVED)
    return out, cogs_found, cogs_value


@dataclass(frozen=True)
class Peers:
    """Per peer group and ratio: how many firms report it and their median."""

    n: dict[tuple[str, str], int]
    median: dict[tuple[str, str], float]


def peer_columns(own: dict[str, Own], groups: Sequence[str]) -> Peers:
    """:func:`stressmodel.model.base.ratios.peer_medians` from the columns."""
    n: dict[tuple[str, str], int] = {}
    med: dict[tuple[str, str], float] = {}
    garr = np.array(groups, dtype=object)
    for name, o in own.items():
        for g in set(garr[o.ok].tolist()):
            vals = o.v[o.ok & (garr == g)].tolist()
            n[(g, name)] = len(vals)
            med[(g, name)] = statistics.median(vals)
    return Peers(n, med)


def _own_columns(
    inputs: Inputs, q: int
) -> tuple[
    Inputs, StatementStore, list[str], list[str], Grid, dict[str, np.ndarray], dict[str, Own]
]:
    """The inputs as of ``q``, their statement store, its firms, their peer groups, the grid, the capital items'
    look-backs after corporate events and every firm's own ratios at as-of quarter ``q``."""
    at = inputs.as_of(q)
    store: StatementStore = statement_store(at.statements)
    tickers = list(store.tickers)
    n = len(tickers)
    g = Grid(store.frame, n, q)
    groups = [peer_group(inputs, t) for t in tickers]
    # event_since of every firm, with one pass over the events (not one per firm)
    end = quarter_end_date(q)
    last_event: dict[str, int] = {}
    for e in inputs.events:
        if e["date"] <= end:
            last_event[e["ticker"]] = quarter_of_date(
                e["date"]
            )  # the last one, as events_of(...)[-1]
    since = [last_event.get(t) for t in tickers]
    back: dict[str, np.ndarray] = {}
    for item in CAPITAL_ITEMS:
        default = (
            BALANCE_LOOKBACK
            if item not in ("liabilities_to_assets", "current_ratio")
            else RATIO_LOOKBACK
        )
        back[item] = np.array(
            [default if s is None else max(min(default, q - s), 0) for s in since], dtype=np.int64
        )
    own, _cogs_found, _cogs_value = own_ratios_columns(g, back)
    return at, store, tickers, groups, g, back, own


def peer_stats_columns(inputs: Inputs, q: int) -> dict[str, dict[str, PeerStat]]:
    """:func:`stressmodel.model.base.ratios.peer_medians` of every firm's own ratios at as-of
    quarter ``q`` (what :func:`compute_bases` gives as ``peers``), from the columns: the same
    medians (``statistics.median`` of the same floats) and the same sorted reporting tickers,
    without building each firm's :class:`FirmStatements`."""
    _at, _store, tickers, groups, _g, _back, own = _own_columns(inputs, q)
    tarr = np.array(tickers, dtype=object)
    garr = np.array(groups, dtype=object)
    out: dict[str, dict[str, PeerStat]] = {}
    for name, o in own.items():
        for grp in dict.fromkeys(garr[o.ok].tolist()):
            m = o.ok & (garr == grp)
            stat = PeerStat(
                statistics.median(o.v[m].tolist()), tuple(sorted(tarr[m].tolist())), grp
            )
            out.setdefault(grp, {})[name] = stat
    return out


def coverage_columns(
    inputs: Inputs, q: int, figures: Sequence[str]
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Per runnable firm, the basis of each of ``figures`` it has at as-of quarter ``q``
    (``compute_bases(inputs, q).firms[t].figures[name].basis``), and the firms that cannot
    be run with the reason (``compute_bases(...).not_runnable``)."""
    at, store, tickers, groups, g, back, own = _own_columns(inputs, q)
    n = len(tickers)
    sector = inputs.sector
    peers = peer_columns(own, groups)
    garr = groups

    fail = np.full(n, None, dtype=object)  # the first reason a firm cannot be run
    alive = np.ones(n, bool)

    def ratio(name: str, need: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`Builder.ratio` for the firms of ``need``: value and basis; a firm without
        any is marked not runnable (the first such ratio names the reason)."""
        o = own.get(name)
        v = np.full(n, np.nan)
        b = np.zeros(n, np.int8)
        if o is not None:
            v[o.ok], b[o.ok] = o.v[o.ok], DERIVED
        key = SECTOR_FALLBACKS.get(name)
        param = sector.params.get(key) if key is not None else None
        lacking = need & ~o.ok if o is not None else need
        for i in np.flatnonzero(lacking):
            grp = garr[i]
            cnt = peers.n.get((grp, name), 0)
            if cnt >= MIN_REPORTING_PEERS:
                v[i], b[i] = peers.median[(grp, name)], ESTIMATED
            elif param is not None and (name not in BALANCE_FALLBACKS or cnt > 0):
                v[i], b[i] = float(param.value), ESTIMATED
            elif alive[i]:
                alive[i] = False
                fail[i] = (
                    f"no {PLAIN_FIGURE.get(name, name)} figure recent enough for {quarter_label(q)} "
                    "and too few peers reporting one"
                )
        if o is not None:
            b[o.ok] = np.where(o.b[o.ok] == REPORTED, REPORTED, DERIVED)  # the own figure's basis
        return v, b

    def own_basis_est(b: np.ndarray) -> np.ndarray:
        """The basis a ratio gives to an est(...) of it: estimated or not."""
        return np.where(b == ESTIMATED, ESTIMATED, DERIVED).astype(np.int8)

    def flow_ttm(item: str) -> Fig:
        at_q = g.ttm(item, q)
        out = at_q.copy()
        later = g.latest_ttm(item, q, FLOW_LOOKBACK)
        m = ~out.ok & later.ok
        out.fill(m, later.v, DERIVED, later.q)
        return out

    basis: dict[str, np.ndarray] = {}
    # --- run-rate
    rev = flow_ttm("revenue")
    bad = ~rev.ok | ~(rev.v > 0)
    alive[bad] = False
    fail[bad] = f"no positive revenue on or before {quarter_label(q)}"
    R = rev.v
    basis["revenue_ttm"] = rev.b.copy()
    cr_v, cr_b = ratio("cogs_ratio", alive.copy())

    def at_rev(f: Fig) -> np.ndarray:
        return f.ok & ((f.q == -1) | ((rev.q != -1) & (f.q == rev.q)))

    cf = flow_ttm("cost_of_revenue")
    m = at_rev(cf)
    with np.errstate(all="ignore"):
        C = np.where(m, cf.v, R * cr_v)
    basis["cogs_ttm"] = np.where(m, cf.b, own_basis_est(cr_b)).astype(np.int8)
    for name, item, rname in (
        ("ebit_ttm", "operating_income", "ebit_margin"),
        ("da_ttm", "depreciation_amortization", "da_ratio"),
    ):
        f = flow_ttm(item)
        m = at_rev(f)
        _v, rb = ratio(rname, alive & ~m)
        basis[name] = np.where(m, f.b, own_basis_est(rb)).astype(np.int8)
    ni = flow_ttm("net_income")
    _v, rb = ratio("ni_margin", alive & ~ni.ok)
    basis["net_income_ttm"] = np.where(ni.ok, ni.b, own_basis_est(rb)).astype(np.int8)
    cfo = flow_ttm("operating_cash_flow")
    basis["cfo_ttm"] = np.where(
        cfo.ok, cfo.b, _est(basis["net_income_ttm"], basis["da_ttm"])
    ).astype(np.int8)
    interest = flow_ttm("interest_expense")
    prev = g.ttm("net_income", q - 4)
    later = g.latest_ttm("net_income", q - 4, 4)
    basis["net_income_ttm_prev"] = np.where(prev.ok, prev.b, later.b).astype(np.int8)

    # --- balance sheet
    def balance(item: str) -> Fig:
        return g.latest_point(item, back[item] if item in CAPITAL_ITEMS else BALANCE_LOOKBACK)

    cash_f = balance("cash_and_equivalents")
    debt_f = balance("total_debt")
    nd_f = balance("net_debt")
    cash_v, cash_b = cash_f.v.copy(), cash_f.b.copy()
    m = ~cash_f.ok & debt_f.ok & nd_f.ok
    cash_v[m], cash_b[m] = (debt_f.v - nd_f.v)[m], DERIVED
    need = ~cash_f.ok & ~m
    r_v, r_b = ratio("cash_to_revenue", alive & need)
    with np.errstate(all="ignore"):
        cash_v[need] = (R * r_v)[need]
    cash_b[need] = own_basis_est(r_b)[need]
    basis["cash"] = cash_b
    sti = balance("short_term_investments")
    basis["short_term_investments"] = np.where(sti.ok, sti.b, ESTIMATED).astype(np.int8)
    liq = cash_v + np.where(sti.ok, sti.v, 0.0)
    ar = balance("receivables")
    r_v, r_b = ratio("dso", alive & ~ar.ok)
    with np.errstate(all="ignore"):
        AR = np.where(ar.ok, ar.v, R * r_v / DAYS_PER_YEAR)
    basis["receivables"] = np.where(ar.ok, ar.b, own_basis_est(r_b)).astype(np.int8)
    inv = balance("inventory")
    use_dio = ~inv.ok & (own["dio"].ok | ~own["inventory_turnover"].ok)
    r_v, r_b = ratio("dio", alive & use_dio)
    turn = own["inventory_turnover"]
    with np.errstate(all="ignore"):
        INV = np.where(inv.ok, inv.v, np.where(use_dio, C * r_v / DAYS_PER_YEAR, C / turn.v))
    inv_b = np.where(use_dio, _est(basis["cogs_ttm"], own_basis_est(r_b)), _est(basis["cogs_ttm"]))
    basis["inventory"] = np.where(inv.ok, inv.b, inv_b).astype(np.int8)
    eq = balance("shareholders_equity")
    ta = balance("total_assets")
    tl = balance("total_liabilities")
    la = own["liabilities_to_assets"]
    ta_v, ta_b = ta.v.copy(), ta.b.copy()
    tl_v, tl_b = tl.v.copy(), tl.b.copy()
    m = ~ta.ok & eq.ok & la.ok & (la.v < 1)
    with np.errstate(all="ignore"):
        ta_v[m], ta_b[m] = (eq.v / (1 - la.v))[m], DERIVED
    crat = own["current_ratio"]
    m = (ta_b == MISSING) & (tl_b == MISSING) & ~la.ok & eq.ok & crat.ok & (crat.v > 0)
    if m.any():
        ca0 = balance("current_assets")
        st0 = balance("short_term_debt")
        share = sector.float("short_term_debt_share")
        ca_v = np.where(ca0.ok, ca0.v, liq + AR + INV)
        lt = np.where(
            debt_f.ok, np.maximum(debt_f.v - np.where(st0.ok, st0.v, debt_f.v * share), 0.0), 0.0
        )
        with np.errstate(all="ignore"):
            tlv = ca_v / crat.v + lt
        tlb = np.where(debt_f.ok & ~st0.ok, ESTIMATED, DERIVED)
        tl_v[m], tl_b[m] = tlv[m], tlb[m]
        ta_v[m], ta_b[m] = (eq.v + tlv)[m], _est(tlb)[m]
    need = ta_b == MISSING
    r_v, r_b = ratio("asset_turnover", alive & need)
    with np.errstate(all="ignore"):
        ta_v[need] = (R / r_v)[need]
    ta_b[need] = own_basis_est(r_b)[need]
    basis["total_assets"] = ta_b
    m = (tl_b == MISSING) & la.ok
    tl_v[m], tl_b[m] = (ta_v * la.v)[m], _est(ta_b)[m]
    m = (tl_b == MISSING) & eq.ok & (ta_b != ESTIMATED)
    tl_v[m], tl_b[m] = (ta_v - eq.v)[m], DERIVED
    need = tl_b == MISSING
    r_v, r_b = ratio("liabilities_to_assets", alive & need)
    tl_v[need] = (ta_v * r_v)[need]
    tl_b[need] = _est(ta_b, own_basis_est(r_b))[need]
    basis["total_liabilities"] = tl_b
    basis["equity_attributable"] = np.where(eq.ok, eq.b, _est(ta_b, tl_b)).astype(np.int8)
    debt_v, debt_b = debt_f.v.copy(), debt_f.b.copy()
    m = ~debt_f.ok & nd_f.ok & (cash_b != ESTIMATED)
    debt_v[m], debt_b[m] = np.maximum(nd_f.v + liq, 0.0)[m], DERIVED
    st = balance("short_term_debt")
    m = (debt_b == MISSING) & st.ok
    debt_v[m], debt_b[m] = st.v[m], DERIVED
    rate0 = sector.float("default_interest_rate")
    m = (debt_b == MISSING) & interest.ok & (interest.q != -1) & (q - interest.q <= 4)
    debt_v[m], debt_b[m] = (interest.v / rate0)[m], ESTIMATED
    need = debt_b == MISSING
    r_v, r_b = ratio("debt_to_assets", alive & need)
    debt_v[need] = (ta_v * r_v)[need]
    debt_b[need] = _est(ta_b, own_basis_est(r_b))[need]
    basis["total_debt"] = debt_b
    m = st.ok & (st.v <= debt_v)
    basis["st_debt"] = np.where(m, st.b, _est(debt_b)).astype(np.int8)
    if interest.ok.any():
        basis["interest_ttm"] = interest.b.copy()

    # --- export split
    shares = _export_share_basis(inputs, store, tickers, q)
    has_reg = np.array([s is not None for s in shares])
    _v, r_b = ratio("export_share", alive & ~has_reg)
    basis["export_share"] = np.where(
        has_reg,
        np.array([s if s is not None else 0 for s in shares], np.int8),
        np.where(r_b == ESTIMATED, ESTIMATED, own["export_share"].b),
    ).astype(np.int8)
    pr = own["price_ratio"]
    basis["price_ratio"] = np.where(pr.ok, DERIVED, ESTIMATED).astype(np.int8)
    _v, r_b = ratio("asp", alive.copy())
    basis["asp"] = np.where(r_b == ESTIMATED, ESTIMATED, own["asp"].b).astype(np.int8)

    # --- market figures, firm by firm (a handful of price rows each)
    out: dict[str, dict[str, str]] = {}
    not_runnable: dict[str, str] = {}
    wanted = [f for f in figures if f in basis]
    for t in at.tickers:
        j = store.position(t)  # KeyError for a firm without statements, as compute_bases
        if not alive[j]:
            not_runnable[t] = str(fail[j])
            continue
        figs = {f: BASIS_NAME[int(basis[f][j])] for f in wanted if basis[f][j] != MISSING}
        b = Builder(t, None, q, {}, {}, sector)  # type: ignore[arg-type]
        market(at, t, q, b, inputs, None)
        for name, fig in b.figures.items():
            if name in figures:
                figs[name] = fig.basis
        out[t] = figs
    return out, not_runnable


def _export_share_basis(
    inputs: Inputs, store: StatementStore, tickers: Sequence[str], q: int
) -> list[int | None]:
    """Per firm: the basis of the register's export share when it applies at ``q`` (the
    statement row of its period, else reported), else None."""
    rows = store.rows_of_item("overseas_revenue_share")
    out: list[int | None] = []
    for t in tickers:
        reg = inputs.firm(t)
        if reg["export_share"] is None:
            out.append(None)
            continue
        end = parse_period(reg["export_share_period"]).end
        if end > q:
            out.append(None)
            continue
        b = REPORTED
        for r in rows.get(t, ()):
            if r["end"] == end:
                b = REPORTED if _basis(str(r.get("note", ""))) == "reported" else DERIVED
        out.append(b)
    return out


def latest_actuals_columns(
    statements: Mapping[str, Sequence[Mapping[str, object]]],
) -> dict[str, int | None]:
    """:func:`stressmodel.model.base.compute.latest_actuals` from the columns: per firm the
    latest quarter whose revenue is known (a single quarter or a TTM figure)."""
    store = statement_store(statements)
    tickers = list(store.tickers)
    rev = store.frame.filter(pl.col("item") == "revenue")
    out: dict[str, int | None] = dict.fromkeys(tickers)
    if not rev.height:
        return out
    q = int(rev["end"].max())  # type: ignore[arg-type]
    lo = int(rev["end"].min())  # type: ignore[arg-type]
    g = Grid.__new__(Grid)
    g.n, g.q = len(tickers), q
    g.e0 = (lo // 4) * 4
    g.width = q - g.e0 + 1
    t, end, span = rev["t"].to_numpy(), rev["end"].to_numpy(), rev["span"].to_numpy()
    ttm = (rev["kind"] == "TTM").to_numpy()
    col = end - g.e0
    y, s, r = g._empty(), g._empty(), g._empty()
    for fig, m in (
        (y, ~ttm & (span == end % 4 + 1)),
        (s, ~ttm & (span == 1) & (end % 4 != 0)),
        (r, ttm),
    ):
        fig.v[t[m], col[m]] = 1.0
        fig.b[t[m], col[m]] = REPORTED
    g._close(y, s)
    g.ytd, g.single, g.rep_ttm, g._ttm = {"revenue": y}, {"revenue": s}, {"revenue": r}, {}
    # a quarter is a candidate when some key ends on it (as latest_actual_quarter takes them)
    key_at = (y.b != MISSING) | (s.b != MISSING) | (r.b != MISSING)
    latest = np.full(g.n, -1, np.int64)
    for c in range(g.width - 1, -1, -1):
        x = g.e0 + c
        single_ok = g._single("revenue", c)[1]
        known = key_at[:, c] & (single_ok | g.ttm("revenue", x).ok) & (latest < 0)
        latest[known] = x
    for i, tk in enumerate(tickers):
        if latest[i] >= 0:
            out[tk] = int(latest[i])
    return out


__all__ = ["coverage_columns", "latest_actuals_columns"]
