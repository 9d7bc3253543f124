"""What every figure family of a firm's base shares: constants, the firm base, the builder.

The builder holds one firm's statements at the as-of quarter, its own ratios and the
peer medians, and collects the figures (in the order they are set, which is the order of
``base_figures.csv``) and notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stressmodel.inputs.periods import parse_period, quarter_label
from stressmodel.inputs.statements import Figure, FirmStatements

BALANCE_LOOKBACK = 4  # quarters: an older balance sheet is treated as missing
RATIO_LOOKBACK = 8
FLOW_LOOKBACK = 12
RATE_BOUNDS = (0.01, 0.12)
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


class Builder:
    def __init__(
        self,
        ticker: str,
        fs: FirmStatements,
        q: int,
        own: dict[str, Figure],
        peers: dict[str, tuple[float, int]],
    ):
        self.t, self.fs, self.q, self.own, self.peers = ticker, fs, q, own, peers
        self.figures: dict[str, Figure] = {}
        self.notes: list[str] = []

    def set(self, name: str, fig: Figure) -> float:
        self.figures[name] = fig
        return fig.value

    def ratio(self, name: str) -> Figure:
        """Own ratio, else the peer median (estimated)."""
        if name in self.own:
            return self.own[name]
        if name in self.peers:
            med, n = self.peers[name]
            return Figure(med, "estimated", f"peer median {name} ({n} firms)", ())
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
        fig = self.fs.latest_point(item, self.q, BALANCE_LOOKBACK)
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
