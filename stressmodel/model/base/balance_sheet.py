"""The balance sheet at the as-of quarter: cash, working capital, assets, liabilities, equity, debt."""

from __future__ import annotations

from dataclasses import dataclass

from stressmodel.inputs.sector import Sector
from stressmodel.inputs.statements import Figure
from stressmodel.model.base.figures import DAYS_PER_YEAR, Builder, est
from stressmodel.model.base.run_rate import RunRate


@dataclass(frozen=True)
class BalanceSheet:
    """The balances the structural parameters start from (CNY mn)."""

    cash: float
    AR: float
    INV: float
    TA: float
    TL: float
    DEBT: float
    ST: float
    current_assets: Figure | None
    current_liabilities: Figure | None


def build_balance_sheet(b: Builder, sector: Sector, rr: RunRate) -> BalanceSheet:
    """Set the balance-sheet figures on ``b`` and return them."""
    own = b.own
    rev, R, C = rr.rev, rr.R, rr.C
    # balance sheet at the as-of quarter
    cash_fig = b.balance("cash_and_equivalents")
    debt_fig = b.balance("total_debt")
    net_debt_fig = b.balance("net_debt")
    if cash_fig is None and debt_fig is not None and net_debt_fig is not None:
        cash_fig = est(
            debt_fig.value - net_debt_fig.value, "total debt - net debt", debt_fig, net_debt_fig
        )
    if cash_fig is None:
        r = b.ratio("cash_to_revenue")
        cash_fig = est(R * r.value, f"TTM revenue x cash/revenue ({r.how})", rev, r)
    cash = b.set("cash", cash_fig)
    ar_fig = b.balance("receivables")
    if ar_fig is None:
        r = b.ratio("dso")
        ar_fig = est(
            R * r.value / DAYS_PER_YEAR, f"TTM revenue x receivable days / 365 ({r.how})", rev, r
        )
    AR = b.set("receivables", ar_fig)
    inv_fig = b.balance("inventory")
    if inv_fig is None:
        if "dio" in own or "inventory_turnover" not in own:
            r = b.ratio("dio")
            inv_fig = est(
                C * r.value / DAYS_PER_YEAR,
                f"TTM cost of revenue x inventory days / 365 ({r.how})",
                b.figures["cogs_ttm"],
                r,
            )
        else:
            r = own["inventory_turnover"]
            inv_fig = est(
                C / r.value,
                f"TTM cost of revenue / inventory turnover ({r.how})",
                b.figures["cogs_ttm"],
                r,
            )
    INV = b.set("inventory", inv_fig)
    eq_fig = b.balance("shareholders_equity")
    ta_fig = b.balance("total_assets")
    tl_fig = b.balance("total_liabilities")
    la = own.get("liabilities_to_assets")
    if ta_fig is None and eq_fig is not None and la is not None and la.value < 1:
        ta_fig = est(
            eq_fig.value / (1 - la.value),
            f"equity / (1 - liabilities/assets {la.value:.4f})",
            eq_fig,
            la,
        )
    if ta_fig is None:
        r = b.ratio("asset_turnover")
        ta_fig = est(R / r.value, f"TTM revenue / asset turnover ({r.how})", rev, r)
    TA = b.set("total_assets", ta_fig)
    if tl_fig is None and la is not None:
        tl_fig = est(
            TA * la.value,
            f"total assets x liabilities/assets {la.value:.4f} ({la.how})",
            ta_fig,
            la,
        )
    if tl_fig is None and eq_fig is not None and ta_fig.basis != "estimated":
        tl_fig = est(TA - eq_fig.value, "total assets - equity", ta_fig, eq_fig)
    if tl_fig is None:
        r = b.ratio("liabilities_to_assets")
        tl_fig = est(TA * r.value, f"total assets x liabilities/assets ({r.how})", ta_fig, r)
    TL = b.set("total_liabilities", tl_fig)
    b.set(
        "equity_total",
        est(
            TA - TL,
            "total assets - total liabilities (includes minority interests)",
            ta_fig,
            tl_fig,
        ),
    )
    b.set(
        "equity_attributable",
        eq_fig
        if eq_fig is not None
        else est(TA - TL, "total assets - total liabilities", ta_fig, tl_fig),
    )
    if debt_fig is None and net_debt_fig is not None and cash_fig.basis != "estimated":
        debt_fig = est(
            max(net_debt_fig.value + cash, 0.0), "net debt + cash", net_debt_fig, cash_fig
        )
    st_fig = b.balance("short_term_debt")
    if debt_fig is None and st_fig is not None:
        debt_fig = est(
            st_fig.value, "short-term borrowings only (a lower bound of total debt)", st_fig
        )
    if debt_fig is None:
        r = b.ratio("debt_to_assets")
        debt_fig = est(TA * r.value, f"total assets x debt/assets ({r.how})", ta_fig, r)
    DEBT = b.set("total_debt", debt_fig)
    st_share = sector.float("short_term_debt_share")
    if st_fig is not None and st_fig.value <= DEBT:
        ST = b.set("st_debt", st_fig)
    else:
        ST = b.set(
            "st_debt",
            est(
                DEBT * st_share,
                f"total debt x short-term share {st_share} (sector assumption)",
                debt_fig,
            ),
        )
    ca_fig, cl_fig = b.balance("current_assets"), b.balance("current_liabilities")
    return BalanceSheet(cash, AR, INV, TA, TL, DEBT, ST, ca_fig, cl_fig)
