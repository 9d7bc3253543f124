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

    cash: float  # liquidity: cash + short-term investments
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
    cash_only = b.set("cash", cash_fig)
    sti_fig = b.balance("short_term_investments")
    if sti_fig is None:
        sti_fig = Figure(
            0.0,
            "estimated",
            "no short-term investments (交易性金融资产 / bank products) reported on or before the as-of: none counted",
            (),
        )
    b.set("short_term_investments", sti_fig)
    liq_fig = est(cash_only + sti_fig.value, "cash + short-term investments", cash_fig, sti_fig)
    if sti_fig.basis == "estimated" and cash_fig.basis != "estimated":
        liq_fig = Figure(
            liq_fig.value,
            "derived",
            "cash only (no short-term investments reported)",
            liq_fig.sources,
        )
    cash = b.set("liquidity", liq_fig)
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
    cr = own.get("current_ratio")
    if (
        ta_fig is None
        and tl_fig is None
        and la is None
        and eq_fig is not None
        and cr is not None
        and cr.value > 0
    ):
        # a directly reported (post-event) current ratio and equity fix the liabilities:
        # current liabilities = current assets / current ratio, plus the long-term part of debt
        ca0 = b.balance("current_assets")
        ca_v = ca0.value if ca0 is not None else cash + AR + INV
        ca_how = (
            "current assets"
            if ca0 is not None
            else "current assets = liquidity + receivables + inventory"
        )
        d0 = b.balance("total_debt")
        st0 = b.balance("short_term_debt")
        lt = 0.0
        if d0 is not None:
            lt = max(
                d0.value
                - (
                    st0.value
                    if st0 is not None
                    else d0.value * sector.float("short_term_debt_share")
                ),
                0.0,
            )
        parts = [p for p in (ca0, d0, st0, cr, eq_fig) if p is not None]
        tl_fig = est(
            ca_v / cr.value + lt,
            f"{ca_how} {ca_v:.1f} / current ratio {cr.value:g} ({cr.how}) + long-term debt {lt:.1f}",
            *parts,
        )
        if (
            d0 is not None and st0 is None
        ):  # the long-term part rests on the sector short-term share
            tl_fig = Figure(
                tl_fig.value,
                "estimated",
                tl_fig.how + " (short-term share of debt: sector assumption)",
                tl_fig.sources,
            )
        ta_fig = est(eq_fig.value + tl_fig.value, "equity + total liabilities", eq_fig, tl_fig)
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
    if (
        debt_fig is None
        and rr.interest is not None
        and rr.interest.quarter is not None
        and b.q - rr.interest.quarter <= 4
    ):
        rate0 = sector.float("default_interest_rate")
        debt_fig = est(
            rr.interest.value / rate0,
            f"own TTM interest expense {rr.interest.value:.2f} / sector default rate {rate0:g} ({rr.interest.how})",
            rr.interest,
        )
        debt_fig = Figure(debt_fig.value, "estimated", debt_fig.how, debt_fig.sources)
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
