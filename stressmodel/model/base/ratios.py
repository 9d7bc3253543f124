"""The firm's own ratios (first pass) and the peer medians across firms that have them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping

from stressmodel.inputs.periods import quarter_label
from stressmodel.inputs.statements import Figure, FirmStatements
from stressmodel.model.base.figures import (
    BALANCE_LOOKBACK,
    CAPITAL_ITEMS,
    DAYS_PER_YEAR,
    FLOW_LOOKBACK,
    RATIO_LOOKBACK,
    PeerStat,
)


def _ttm_ratio(
    fs: FirmStatements,
    num: str,
    den: str,
    q: int,
    transform: Callable[[float, float], float] | None = None,
) -> Figure | None:
    """Ratio of two TTM flows at the latest quarter <= q where both exist."""
    for k in range(FLOW_LOOKBACK + 1):
        a, b = fs.ttm(num, q - k), fs.ttm(den, q - k)
        if a is not None and b is not None and b.value > 0:
            r = transform(a.value, b.value) if transform else a.value / b.value
            basis = "reported" if a.basis == b.basis == "reported" else "derived"
            when = quarter_label(q - k)
            return Figure(r, basis, f"{num}/{den}, TTM {when}", a.sources + b.sources, q - k)
    return None


#: the reported balances the balance-sheet ratios read (latest point of each)
BALANCE_ITEMS = (
    "cash_and_equivalents",
    "receivables",
    "inventory",
    "total_assets",
    "total_liabilities",
    "total_debt",
)

#: own ratios that are the latest reported point of one statement item: (item, ratio name)
POINT_RATIOS = (
    ("inventory_days", "dio"),
    ("receivable_days", "dso"),
    ("liabilities_to_assets", "liabilities_to_assets"),
    ("overseas_revenue_share", "export_share"),
    ("current_ratio", "current_ratio"),
    ("inventory_turnover", "inventory_turnover"),
)


def own_ratios(fs: FirmStatements, q: int, since: int | None = None) -> dict[str, Figure]:
    """Ratios a firm reports (or that follow from its reports) at or before q.

    ``since``: the first quarter after the firm's latest corporate event; capital-structure
    balances and ratios dated before it are not used (:data:`CAPITAL_ITEMS`)."""
    out: dict[str, Figure] = {}

    def back(item: str, default: int) -> int:
        if since is not None and item in CAPITAL_ITEMS:
            return max(min(default, q - since), 0)
        return default

    def put(name: str, fig: Figure | None) -> None:
        if fig is not None and math.isfinite(fig.value):
            out[name] = fig

    cogs = _ttm_ratio(fs, "cost_of_revenue", "revenue", q)
    if cogs is None:
        gp = _ttm_ratio(fs, "gross_profit", "revenue", q)
        if gp is not None:
            cogs = Figure(1 - gp.value, "derived", "1 - " + gp.how, gp.sources, gp.quarter)
    put("cogs_ratio", cogs)
    put("ebit_margin", _ttm_ratio(fs, "operating_income", "revenue", q))
    da = _ttm_ratio(fs, "depreciation_amortization", "revenue", q)
    if da is None:
        for k in range(FLOW_LOOKBACK + 1):
            e, o, r = (
                fs.ttm("ebitda", q - k),
                fs.ttm("operating_income", q - k),
                fs.ttm("revenue", q - k),
            )
            if e and o and r and r.value > 0 and e.value >= o.value:
                da = Figure(
                    (e.value - o.value) / r.value,
                    "derived",
                    f"(ebitda - operating_income)/revenue, TTM {quarter_label(q - k)}",
                    e.sources + o.sources,
                    q - k,
                )
                break
    put("da_ratio", da)
    put("ni_margin", _ttm_ratio(fs, "net_income", "revenue", q))
    put("cfo_ratio", _ttm_ratio(fs, "operating_cash_flow", "revenue", q))
    for item, name in POINT_RATIOS:
        fig = fs.latest_point(item, q, back(item, RATIO_LOOKBACK))
        if fig is not None:
            put(name, fig)
    gm_x, gm_d = (
        fs.latest_point("gross_margin_overseas", q, RATIO_LOOKBACK * 2),
        fs.latest_point("gross_margin_domestic", q, RATIO_LOOKBACK * 2),
    )
    if gm_x is not None and gm_d is not None and gm_x.value < 1 and gm_d.value < 1:
        put(
            "price_ratio",
            Figure(
                (1 - gm_d.value) / (1 - gm_x.value),
                "derived",
                f"export/domestic price = (1 - domestic margin {gm_d.value:.4f}) / "
                f"(1 - overseas margin {gm_x.value:.4f}) at equal unit cost",
                gm_x.sources + gm_d.sources,
                gm_x.quarter,
            ),
        )
    asp = fs.latest_point("avg_selling_price", q, RATIO_LOOKBACK * 2)
    if asp is not None:
        put(
            "asp",
            Figure(
                asp.value / 1e6,
                asp.basis,
                asp.how + " (CNY/tonne -> CNY mn/tonne)",
                asp.sources,
                asp.quarter,
            ),
        )
    else:
        for k in range(RATIO_LOOKBACK * 2 + 1):
            rev, vol = fs.ttm("revenue", q - k), fs.ttm("sales_volume", q - k)
            if rev and vol and vol.value > 0:
                put(
                    "asp",
                    Figure(
                        rev.value / vol.value,
                        "derived",
                        f"revenue/sales_volume, TTM {quarter_label(q - k)}",
                        rev.sources + vol.sources,
                        q - k,
                    ),
                )
                break
    # balance-sheet ratios from reported balances
    bs = {n: fs.latest_point(n, q, back(n, BALANCE_LOOKBACK)) for n in BALANCE_ITEMS}
    rev = fs.latest_ttm("revenue", q)
    cogs_v = rev.value * cogs.value if (rev and cogs) else None
    if rev and rev.value > 0:
        if bs["cash_and_equivalents"]:
            put(
                "cash_to_revenue",
                Figure(
                    bs["cash_and_equivalents"].value / rev.value,
                    "derived",
                    "cash / TTM revenue",
                    bs["cash_and_equivalents"].sources,
                ),
            )
        if bs["receivables"] and "dso" not in out:
            put(
                "dso",
                Figure(
                    bs["receivables"].value / rev.value * DAYS_PER_YEAR,
                    "derived",
                    "receivables / TTM revenue x 365",
                    bs["receivables"].sources,
                ),
            )
        if bs["total_assets"]:
            put(
                "asset_turnover",
                Figure(
                    rev.value / bs["total_assets"].value,
                    "derived",
                    "TTM revenue / total assets",
                    bs["total_assets"].sources,
                ),
            )
    if bs["inventory"] and cogs_v and "dio" not in out:
        put(
            "dio",
            Figure(
                bs["inventory"].value / cogs_v * DAYS_PER_YEAR,
                "derived",
                "inventory / TTM cost of revenue x 365",
                bs["inventory"].sources,
            ),
        )
    if bs["total_assets"] and bs["total_liabilities"] and "liabilities_to_assets" not in out:
        put(
            "liabilities_to_assets",
            Figure(
                bs["total_liabilities"].value / bs["total_assets"].value,
                "derived",
                "total liabilities / total assets",
                bs["total_assets"].sources,
            ),
        )
    if bs["total_assets"] and bs["total_debt"]:
        put(
            "debt_to_assets",
            Figure(
                bs["total_debt"].value / bs["total_assets"].value,
                "derived",
                "total debt / total assets",
                bs["total_debt"].sources,
            ),
        )
    return out


def peer_medians(
    ratios: Mapping[str, dict[str, Figure]], groups: Mapping[str, str]
) -> dict[str, dict[str, PeerStat]]:
    """Per peer group: the median of each ratio across the group's firms that report it or
    derive it from their own reports (never an estimate), with those firms' tickers."""
    collected: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for t, r in ratios.items():
        g = groups.get(t, "")
        for k, fig in r.items():
            if fig.basis == "estimated":
                continue
            collected.setdefault(g, {}).setdefault(k, []).append((t, fig.value))
    return {
        g: {
            k: PeerStat(statistics.median(v for _, v in vals), tuple(sorted(t for t, _ in vals)), g)
            for k, vals in d.items()
        }
        for g, d in collected.items()
    }
