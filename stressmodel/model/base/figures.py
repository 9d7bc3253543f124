"""What every figure family of a firm's base shares: constants, the firm base, the builder.

The builder holds one firm's statements at the as-of quarter, its own ratios and the
peer medians, and collects the figures (in the order they are set, which is the order of
``base_figures.csv``) and notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from stressmodel.inputs.periods import parse_period, quarter_label
from stressmodel.inputs.sector import Sector
from stressmodel.inputs.statements import Figure, FirmStatements

BALANCE_LOOKBACK = 4  # quarters: an older balance sheet is treated as missing
RATIO_LOOKBACK = 8
FLOW_LOOKBACK = 12
RATE_BOUNDS = (0.01, 0.12)  # own interest rate (TTM interest / average debt) accepted within
INTEREST_MAX_AGE = 4  # quarters: an older TTM interest expense is not the firm's current rate
MIN_REPORTING_PEERS = 3  # an estimate from peers needs at least this many reporting firms
#: a peer median's "how" text names its reporting peers only up to this many; a larger group
#: is named by its count and group alone (10,000 firms made each text ~110 kB of tickers)
MAX_LISTED_PEERS = 12
#: balances and ratios that describe the capital structure: those dated before a corporate
#: event (IPO, conversion, issue) are never used after it (working-capital items are kept)
CAPITAL_ITEMS = frozenset(
    {
        "cash_and_equivalents",
        "short_term_investments",
        "total_debt",
        "short_term_debt",
        "net_debt",
        "shareholders_equity",
        "total_assets",
        "total_liabilities",
        "current_assets",
        "current_liabilities",
        "liabilities_to_assets",
        "current_ratio",
        "debt_to_assets",
        "cash_to_revenue",
        "asset_turnover",
    }
)
#: balance-sheet ratios whose sector fallback needs at least one reporting firm in the group
BALANCE_FALLBACKS = frozenset(
    {"cash_to_revenue", "dso", "dio", "asset_turnover", "liabilities_to_assets", "debt_to_assets"}
)
#: sector.toml fallback of a ratio that fewer than MIN_REPORTING_PEERS peers report
SECTOR_FALLBACKS = {
    "export_share": "sector_export_share",
    "asp": "sector_asp",
    "price_ratio": "sector_price_ratio",
    "debt_to_assets": "sector_debt_to_assets",
    "asset_turnover": "sector_asset_turnover",
    "cash_to_revenue": "sector_cash_to_revenue",
    "dso": "sector_dso",
    "dio": "sector_dio",
    "liabilities_to_assets": "sector_liabilities_to_assets",
}
DAYS_PER_YEAR = 365.0
RETURN_WINDOW_DAYS = (
    270,
    455,
)  # a close 9-15 months before the as-of date for the past-year return


class FirmNotRunnable(Exception):
    """The firm has no revenue figure at or before the as-of quarter."""


@dataclass
class FirmBase:
    ticker: str
    as_of: int
    figures: dict[str, Figure] = field(default_factory=dict)
    params: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    peer_group: str = ""

    def value(self, name: str) -> float:
        return self.figures[name].value

    def get(self, name: str) -> float | None:
        fig = self.figures.get(name)
        return None if fig is None else fig.value


#: the figure behind each ratio, in plain words, for messages about a firm that cannot be
#: run (the caller names the firm)
PLAIN_FIGURE = {
    "cogs_ratio": "cost-of-revenue",
    "ebit_margin": "operating profit (EBIT)",
    "da_ratio": "depreciation and amortisation",
    "ni_margin": "net income",
    "cash_to_revenue": "cash",
    "dso": "receivables",
    "dio": "inventory",
    "asset_turnover": "total assets",
    "liabilities_to_assets": "total liabilities",
    "debt_to_assets": "debt",
    "export_share": "export share",
    "price_ratio": "export-to-domestic price",
    "asp": "average selling price",
}


@dataclass(frozen=True)
class PeerStat:
    """Median of one ratio across the reporting firms of a peer group."""

    median: float
    tickers: tuple[str, ...]
    group: str

    @property
    def n(self) -> int:
        return len(self.tickers)

    @cached_property
    def listed(self) -> str:
        """The reporting peers as a figure's provenance names them, joined once (every firm of
        the group that lacks the ratio shares the one text: 10,000 firms made a join per firm
        quadratic)."""
        return ", ".join(self.tickers)

    def median_how(self, name: str) -> str:
        """How a figure estimated by this median is obtained; one text per ratio, shared by
        every firm that uses it.  The reporting peers are listed when there are at most
        MAX_LISTED_PEERS of them; otherwise the text gives their number and group only."""
        cache: dict[str, str] = self.__dict__.setdefault("_how", {})
        if name not in cache:
            text = f"peer median {name} of {self.n} reporting peers in group {self.group}"
            cache[name] = f"{text} ({self.listed})" if self.n <= MAX_LISTED_PEERS else text
        return cache[name]


class Builder:
    def __init__(
        self,
        ticker: str,
        fs: FirmStatements,
        q: int,
        own: dict[str, Figure],
        peers: dict[str, PeerStat],
        sector: Sector | None = None,
        since: int | None = None,
    ):
        self.t, self.fs, self.q, self.own, self.peers = ticker, fs, q, own, peers
        self.sector = sector
        self.since = since  # first quarter after the latest corporate event (None: no event)
        self.figures: dict[str, Figure] = {}
        self.notes: list[str] = []

    def lookback(self, item: str, default: int) -> int:
        """Quarters back a figure may come from: never before the latest corporate event for
        capital-structure items."""
        if self.since is not None and item in CAPITAL_ITEMS:
            return max(min(default, self.q - self.since), 0)
        return default

    def set(self, name: str, fig: Figure) -> float:
        self.figures[name] = fig
        return fig.value

    def has_estimate(self, name: str) -> bool:
        return name in self.own or self._peer(name) is not None or self._fallback(name) is not None

    def _peer(self, name: str) -> PeerStat | None:
        stat = self.peers.get(name)
        return stat if stat is not None and stat.n >= MIN_REPORTING_PEERS else None

    def _fallback(self, name: str) -> Figure | None:
        key = SECTOR_FALLBACKS.get(name)
        if key is None or self.sector is None or key not in self.sector.params:
            return None
        if name in BALANCE_FALLBACKS and name not in self.peers:
            # no firm of the group has a balance recent enough: the as-of lies beyond the
            # data, and a balance sheet made of sector assumptions alone is not run
            return None
        p = self.sector.params[key]
        band = ""
        lo, hi = self.sector.params.get(key + "_low"), self.sector.params.get(key + "_high")
        if lo is not None and hi is not None:
            band = f", band {lo.value:g}-{hi.value:g}"
        stat = self.peers.get(name)
        why = (
            f"only {stat.n} reporting peer(s) ({stat.listed}) < {MIN_REPORTING_PEERS}"
            if stat is not None
            else "no reporting peer"
        )
        return Figure(
            float(p.value), "estimated", f"sector assumption {key}{band} ({why})", (p.provenance,)
        )

    def ratio(self, name: str) -> Figure:
        """Own ratio, else the median of at least 3 reporting peers of the same peer group,
        else the sector assumption (all estimated)."""
        if name in self.own:
            return self.own[name]
        stat = self._peer(name)
        if stat is not None:
            return Figure(
                stat.median,
                "estimated",
                stat.median_how(name),
                (),
            )
        fb = self._fallback(name)
        if fb is not None:
            return fb
        raise FirmNotRunnable(
            f"no {PLAIN_FIGURE.get(name, name)} figure recent enough for {quarter_label(self.q)} "
            "and too few peers reporting one"
        )

    def flow_ttm(self, item: str) -> Figure | None:
        fig = self.fs.ttm(item, self.q)
        if fig is not None:
            return fig
        fig = self.fs.latest_ttm(item, self.q, FLOW_LOOKBACK)
        if fig is not None and fig.quarter is not None:
            return Figure(
                fig.value,
                "derived" if fig.basis != "estimated" else "estimated",
                f"latest TTM on or before the as-of: {fig.how} (TTM {quarter_label(fig.quarter)})",
                fig.sources,
                fig.quarter,
            )
        return None

    def balance(self, item: str) -> Figure | None:
        fig = self.fs.latest_point(item, self.q, self.lookback(item, BALANCE_LOOKBACK))
        if fig is not None and fig.quarter is not None and fig.quarter != self.q:
            return Figure(
                fig.value,
                fig.basis,
                f"{fig.how} (latest balance on or before the as-of: {quarter_label(fig.quarter)})",
                fig.sources,
                fig.quarter,
            )
        return fig


def est(value: float, how: str, *parts: Figure) -> Figure:
    """A figure computed from others: estimated if any part is, else derived."""
    basis = "estimated" if any(p.basis == "estimated" for p in parts) else "derived"
    sources: list[str] = []
    for p in parts:
        sources.extend(s for s in p.sources if s not in sources)
    return Figure(value, basis, how, tuple(sources))


def period_end(label: str) -> int:
    return parse_period(label).end
