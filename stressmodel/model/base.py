"""Base-period figures and structural model parameters per firm, at an as-of quarter.

For each firm this module turns the (as-of filtered) statements, prices and register
into (1) base figures with provenance — trailing-twelve-month flows and the latest
balance sheet, each ``reported``, ``derived`` or ``estimated`` — and (2) the structural
parameters of the projection model (:data:`stressmodel.model.quarter.ALL_FIRM_PARAMS`).

Fallback order for a missing figure (never zero): the firm's own figure at the as-of
quarter; its own latest earlier figure (flows within 12 quarters, balances within 4);
its own ratio applied to a known base (e.g. receivable days x revenue); the peer median
of that ratio across the firms in the register that report it (marked ``estimated``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from stressmodel.inputs.load import Inputs
from stressmodel.inputs.periods import parse_quarter, quarter_end_date, quarter_label
from stressmodel.inputs.statements import Figure, FirmStatements, build
from stressmodel.model.quarter import ALL_FIRM_PARAMS, DAYS_PER_QUARTER

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


# --- the firm's own ratios (first pass) ----------------------------------------------------


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


def own_ratios(fs: FirmStatements, q: int) -> dict[str, Figure]:
    """Ratios a firm reports (or that follow from its reports) at or before q."""
    out: dict[str, Figure] = {}

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
    for item, name in (
        ("inventory_days", "dio"),
        ("receivable_days", "dso"),
        ("liabilities_to_assets", "liabilities_to_assets"),
        ("overseas_revenue_share", "export_share"),
        ("current_ratio", "current_ratio"),
        ("inventory_turnover", "inventory_turnover"),
    ):
        fig = fs.latest_point(item, q, RATIO_LOOKBACK)
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
    bs = {
        n: fs.latest_point(n, q, BALANCE_LOOKBACK)
        for n in (
            "cash_and_equivalents",
            "receivables",
            "inventory",
            "total_assets",
            "total_liabilities",
            "total_debt",
        )
    }
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


def peer_medians(ratios: Iterable[dict[str, Figure]]) -> dict[str, tuple[float, int]]:
    """Median of each ratio across the firms that have it, with the number of firms."""
    collected: dict[str, list[float]] = {}
    for r in ratios:
        for k, fig in r.items():
            collected.setdefault(k, []).append(fig.value)
    return {k: (statistics.median(v), len(v)) for k, v in collected.items() if v}


# --- base figures (second pass) ------------------------------------------------------------


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


class _Builder:
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


def _est(value: float, how: str, *parts: Figure) -> Figure:
    basis = "estimated" if any(p.basis == "estimated" for p in parts) else "derived"
    sources: list[str] = []
    for p in parts:
        sources.extend(s for s in p.sources if s not in sources)
    return Figure(value, basis, how, tuple(sources))


def _export_reference(sector: Any, fs: FirmStatements, q: int, run_rate: Figure) -> Figure:
    """Reference export level over the run-rate (docs/model.md, "No double counting").

    The reference is the firm's export revenue in the four quarters ending with the quarter
    of sector.toml ``export_reference`` (default 2025Q1, the last quarter before the
    controls), the export share taken as at the run-rate; never a quarter after the as-of.
    A run-rate above the reference holds none of the shock: the ratio is at least 1.
    """
    spec = str(sector["export_reference"])
    if spec == "run_rate":
        return Figure(
            1.0, "derived", "export reference = the run-rate (sector.toml export_reference)", ()
        )
    ref_q = min(parse_quarter(spec), q)
    if ref_q == q:
        return Figure(1.0, "derived", f"the run-rate is the reference ({quarter_label(q)} TTM)", ())
    ref = fs.ttm("revenue", ref_q)
    if ref is None or ref.value <= 0:
        return Figure(
            1.0,
            "estimated",
            f"no TTM revenue at {quarter_label(ref_q)}: the run-rate is the reference",
            (),
        )
    ratio = max(ref.value / run_rate.value, 1.0)
    return _est(
        ratio,
        f"max(TTM revenue {quarter_label(ref_q)} {ref.value:.1f} / run-rate TTM revenue {run_rate.value:.1f}, 1)",
        ref,
        run_rate,
    )


def firm_base(
    inputs: Inputs,
    ticker: str,
    q: int,
    fs: FirmStatements,
    own: dict[str, Figure],
    peers: dict[str, tuple[float, int]],
) -> FirmBase:
    """Base figures and model parameters of one firm (inputs already filtered to ``q``)."""
    sector = inputs.sector
    b = _Builder(ticker, fs, q, own, peers)
    rev = b.flow_ttm("revenue")
    if rev is None or rev.value <= 0:
        raise FirmNotRunnable(f"no positive revenue on or before {quarter_label(q)}")
    R = b.set("revenue_ttm", rev)

    cogs_r = b.ratio("cogs_ratio")
    cogs_fig = b.flow_ttm("cost_of_revenue")
    if cogs_fig is not None and cogs_fig.quarter in (None, rev.quarter):
        C = b.set("cogs_ttm", cogs_fig)
    else:
        C = b.set(
            "cogs_ttm",
            _est(R * cogs_r.value, f"TTM revenue x cost ratio ({cogs_r.how})", rev, cogs_r),
        )
    ebit_fig = b.flow_ttm("operating_income")
    if ebit_fig is not None and ebit_fig.quarter in (None, rev.quarter):
        E = b.set("ebit_ttm", ebit_fig)
    else:
        m = b.ratio("ebit_margin")
        E = b.set("ebit_ttm", _est(R * m.value, f"TTM revenue x EBIT margin ({m.how})", rev, m))
    da_fig = b.flow_ttm("depreciation_amortization")
    if da_fig is not None and da_fig.quarter in (None, rev.quarter):
        DA = b.set("da_ttm", da_fig)
    else:
        m = b.ratio("da_ratio")
        DA = b.set("da_ttm", _est(R * m.value, f"TTM revenue x D&A ratio ({m.how})", rev, m))
    ni_fig = b.flow_ttm("net_income")
    if ni_fig is not None:
        NI = b.set("net_income_ttm", ni_fig)
    else:
        m = b.ratio("ni_margin")
        NI = b.set(
            "net_income_ttm", _est(R * m.value, f"TTM revenue x net margin ({m.how})", rev, m)
        )
    cfo_fig = b.flow_ttm("operating_cash_flow")
    if cfo_fig is not None:
        b.set("cfo_ttm", cfo_fig)
    else:
        b.set(
            "cfo_ttm",
            _est(
                NI + DA,
                "net income + D&A (no cash-flow statement)",
                b.figures["net_income_ttm"],
                b.figures["da_ttm"],
            ),
        )
    interest_fig = b.flow_ttm("interest_expense")
    # a year earlier, for Ohlson's change in net income and two-year loss flag
    ni_prev = fs.ttm("net_income", q - 4) or fs.latest_ttm("net_income", q - 4, 4)
    if ni_prev is not None:
        b.set("net_income_ttm_prev", ni_prev)

    # balance sheet at the as-of quarter
    cash_fig = b.balance("cash_and_equivalents")
    debt_fig = b.balance("total_debt")
    net_debt_fig = b.balance("net_debt")
    if cash_fig is None and debt_fig is not None and net_debt_fig is not None:
        cash_fig = _est(
            debt_fig.value - net_debt_fig.value, "total debt - net debt", debt_fig, net_debt_fig
        )
    if cash_fig is None:
        r = b.ratio("cash_to_revenue")
        cash_fig = _est(R * r.value, f"TTM revenue x cash/revenue ({r.how})", rev, r)
    cash = b.set("cash", cash_fig)
    ar_fig = b.balance("receivables")
    if ar_fig is None:
        r = b.ratio("dso")
        ar_fig = _est(
            R * r.value / DAYS_PER_YEAR, f"TTM revenue x receivable days / 365 ({r.how})", rev, r
        )
    AR = b.set("receivables", ar_fig)
    inv_fig = b.balance("inventory")
    if inv_fig is None:
        if "dio" in own or "inventory_turnover" not in own:
            r = b.ratio("dio")
            inv_fig = _est(
                C * r.value / DAYS_PER_YEAR,
                f"TTM cost of revenue x inventory days / 365 ({r.how})",
                b.figures["cogs_ttm"],
                r,
            )
        else:
            r = own["inventory_turnover"]
            inv_fig = _est(
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
        ta_fig = _est(
            eq_fig.value / (1 - la.value),
            f"equity / (1 - liabilities/assets {la.value:.4f})",
            eq_fig,
            la,
        )
    if ta_fig is None:
        r = b.ratio("asset_turnover")
        ta_fig = _est(R / r.value, f"TTM revenue / asset turnover ({r.how})", rev, r)
    TA = b.set("total_assets", ta_fig)
    if tl_fig is None and la is not None:
        tl_fig = _est(
            TA * la.value,
            f"total assets x liabilities/assets {la.value:.4f} ({la.how})",
            ta_fig,
            la,
        )
    if tl_fig is None and eq_fig is not None and ta_fig.basis != "estimated":
        tl_fig = _est(TA - eq_fig.value, "total assets - equity", ta_fig, eq_fig)
    if tl_fig is None:
        r = b.ratio("liabilities_to_assets")
        tl_fig = _est(TA * r.value, f"total assets x liabilities/assets ({r.how})", ta_fig, r)
    TL = b.set("total_liabilities", tl_fig)
    b.set(
        "equity_total",
        _est(
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
        else _est(TA - TL, "total assets - total liabilities", ta_fig, tl_fig),
    )
    if debt_fig is None and net_debt_fig is not None and cash_fig.basis != "estimated":
        debt_fig = _est(
            max(net_debt_fig.value + cash, 0.0), "net debt + cash", net_debt_fig, cash_fig
        )
    st_fig = b.balance("short_term_debt")
    if debt_fig is None and st_fig is not None:
        debt_fig = _est(
            st_fig.value, "short-term borrowings only (a lower bound of total debt)", st_fig
        )
    if debt_fig is None:
        r = b.ratio("debt_to_assets")
        debt_fig = _est(TA * r.value, f"total assets x debt/assets ({r.how})", ta_fig, r)
    DEBT = b.set("total_debt", debt_fig)
    st_share = sector.float("short_term_debt_share")
    if st_fig is not None and st_fig.value <= DEBT:
        ST = b.set("st_debt", st_fig)
    else:
        ST = b.set(
            "st_debt",
            _est(
                DEBT * st_share,
                f"total debt x short-term share {st_share} (sector assumption)",
                debt_fig,
            ),
        )
    if interest_fig is not None:
        b.set("interest_ttm", interest_fig)
    ca_fig, cl_fig = b.balance("current_assets"), b.balance("current_liabilities")

    # export share, regional prices and volumes
    reg = inputs.firm(ticker)
    if reg["export_share"] is not None and _period_end(reg["export_share_period"]) <= q:
        row = fs.point("overseas_revenue_share", _period_end(reg["export_share_period"]))
        basis = row.basis if row is not None else "reported"
        x_fig = Figure(
            reg["export_share"],
            basis,
            f"export share {reg['export_share_period']} (firms.csv)",
            (reg["export_share_source"],),
        )
    else:
        x_fig = b.ratio("export_share")
    x = b.set("export_share", x_fig)
    k = b.set(
        "price_ratio",
        b.ratio("price_ratio")
        if ("price_ratio" in own or "price_ratio" in peers)
        else Figure(1.0, "estimated", "no firm reports regional margins: one price", ()),
    )
    asp = b.set("asp", b.ratio("asp"))

    # --- structural parameters ---
    R0, C0 = R / 4, C / 4
    theta = sector.float("variable_cost_share_of_cogs")
    Q0 = R0 / asp
    xv = (x / k) / ((x / k) + (1 - x)) if x > 0 else 0.0
    qx0, qd0 = Q0 * xv, Q0 * (1 - xv)
    p_d = R0 * (1 - x) / qd0 if qd0 > 0 else asp / k
    p_x = R0 * x / qx0 if qx0 > 0 else p_d * k
    u = C0 / Q0
    unit_fixed = (1 - theta) * u
    N = Q0
    F_m = unit_fixed * N
    DA_q = DA / 4
    opex = R0 - C0 - E / 4
    tax = sector.float("tax_rate")
    months = sector.float("min_cash_months_of_revenue")
    max_dso = sector.float("max_dso_days")
    dso_raw = DAYS_PER_QUARTER * AR / R0
    dso = min(dso_raw, max_dso)
    if dso_raw > max_dso:
        b.notes.append(f"receivable days {dso_raw:.0f} capped at {max_dso:.0f}")
    dpo = sector.float("dpo_days")
    rate_note = "sector default rate"
    rate = sector.float("default_interest_rate")
    if interest_fig is not None and DEBT > 0:
        own_rate = interest_fig.value / DEBT
        if RATE_BOUNDS[0] <= own_rate <= RATE_BOUNDS[1]:
            rate, rate_note = own_rate, "TTM interest expense / debt"
        else:
            rate_note = f"sector default rate (own rate {own_rate:.3f} outside {RATE_BOUNDS})"
    b.set(
        "interest_rate",
        Figure(rate, "derived" if rate_note.startswith("TTM") else "estimated", rate_note, ()),
    )
    interest_q = rate / 4 * DEBT
    ebt_q = E / 4 - interest_q
    tax_payable0 = tax * max(ebt_q, 0.0)
    v_unit = theta * u
    payables0 = v_unit * N * dpo / DAYS_PER_QUARTER
    oca = 0.0
    if ca_fig is not None:
        oca = max(ca_fig.value - cash - AR - INV, 0.0)
    ocl = 0.0
    if cl_fig is not None:
        ocl = max(cl_fig.value - ST - payables0 - tax_payable0, 0.0)
    ona0 = TA - (cash + AR + INV + oca)
    onl = TL - (DEBT + payables0 + tax_payable0 + ocl)
    if ona0 < 0:
        b.notes.append(
            "other non-current assets are negative: reported current items exceed total assets"
        )
    if onl < 0:
        b.notes.append(
            "other non-current liabilities are negative: estimated payables exceed the liabilities left after debt"
        )
    D_m = min(sector.float("da_share_in_cogs") * DA_q, F_m)
    conv = sector["absorption_convention"]
    ref_ratio = b.set("export_reference_ratio", _export_reference(sector, fs, q, rev))
    own_days = DAYS_PER_QUARTER * INV / C0 if C0 > 0 else 0.0
    min_days = min(sector.float("minimum_inventory_days"), own_days)
    params = {
        "q_export0": qx0,
        "q_domestic0": qd0,
        "price_export0": p_x,
        "price_domestic0": p_d,
        "unit_variable_cost0": v_unit,
        "unit_fixed_cost": unit_fixed,
        "normal_production": N,
        "fixed_overhead": F_m,
        "opex": opex,
        "depreciation": DA_q,
        "inventory_tonnes0": INV / u if u > 0 else 0.0,
        "inventory0": INV,
        "dso_days": dso,
        "dpo_days": dpo,
        "interest_rate": rate,
        "revolver_rate": sector.float("revolver_rate"),
        "tax_rate": tax,
        "min_cash": months / 3 * R0,
        "capex_to_da": sector.float("maintenance_capex_to_da"),
        "st_maturing_per_quarter": sector.float("st_debt_maturing_per_quarter"),
        "business_days_per_quarter": sector.float("business_days_per_quarter"),
        "licence_dso_share": sector.float("licence_dso_share"),
        "workoff_rate": sector.float("inventory_workoff_rate"),
        "raw_material_share": sector.float("raw_material_share_of_variable_cost"),
        "absorb_ias2": 1.0 if conv == "ias2" else 0.0,
        "absorb_full": 1.0 if conv == "full" else 0.0,
        "max_dso_days": max_dso,
        "other_current_assets": oca,
        "other_current_liabilities": ocl,
        "other_noncurrent_liabilities": onl,
        "export_reference_ratio": ref_ratio,
        "min_inventory_days": min_days,
        "revenue_export_q0": R0 * x,
        "revenue_domestic_q0": R0 * (1 - x),
        "receivables0": AR,
        "payables0": payables0,
        "tax_payable0": tax_payable0,
        "cash0": cash,
        "st_debt0": ST,
        "lt_debt0": DEBT - ST,
        "equity0": TA - TL,
        "other_noncurrent_assets0": ona0,
    }
    assert set(params) == set(ALL_FIRM_PARAMS)
    b.notes.append(
        f"fixed manufacturing overhead {F_m:.1f}/quarter of which depreciation {D_m:.1f}"
    )

    # market data on or before the as-of date
    _market(inputs, ticker, q, b)
    fb = FirmBase(ticker, q, b.figures, params, b.notes)
    return fb


def _period_end(label: str) -> int:
    from stressmodel.inputs.periods import parse_period

    return parse_period(label).end


def _market(inputs: Inputs, ticker: str, q: int, b: _Builder) -> None:
    """Share price, share count, market cap, volatility and past-year return (<= as-of)."""
    end = quarter_end_date(q)
    own = [p for p in inputs.prices_by_ticker.get(ticker, ()) if p["date"] <= end]
    closes = sorted((p for p in own if p["item"] == "close"), key=lambda p: p["date"])
    if closes:
        c = closes[-1]
        b.set(
            "share_price",
            Figure(
                c["value"],
                "derived" if str(c["note"]).upper().startswith("DERIVED") else "reported",
                f"close {c['date']} (latest on or before {end})",
                (c["source"],),
            ),
        )
        b.figures["share_price_date"] = Figure(
            float(c["date"].toordinal()), "reported", c["date"].isoformat(), ()
        )
    shares = sorted((p for p in own if p["item"] == "shares_outstanding"), key=lambda p: p["date"])
    reg = inputs.firm(ticker)
    if shares:
        s = shares[-1]
        b.set(
            "shares",
            Figure(s["value"], "reported", f"shares outstanding {s['date']}", (s["source"],)),
        )
    elif reg["shares_date"] is not None and reg["shares_date"] <= end:
        b.set(
            "shares",
            Figure(
                reg["shares_outstanding"],
                "reported",
                f"shares outstanding {reg['shares_date']} (firms.csv)",
                (reg["shares_source"],),
            ),
        )
    else:
        caps = sorted((p for p in own if p["item"] == "market_cap"), key=lambda p: p["date"])
        for cap in reversed(caps):
            cl = [c for c in closes if c["date"] == cap["date"]]
            if cl:
                b.set(
                    "shares",
                    Figure(
                        cap["value"] / cl[0]["value"],
                        "derived",
                        f"market cap / close on {cap['date']}",
                        (cap["source"],),
                    ),
                )
                break
    if "shares" in b.figures and "share_price" in b.figures:
        b.set(
            "market_cap",
            _est(
                b.figures["shares"].value * b.figures["share_price"].value,
                "shares x share price",
                b.figures["shares"],
                b.figures["share_price"],
            ),
        )
    vol = reg.get("equity_volatility")
    if vol:
        b.set(
            "equity_volatility",
            Figure(vol, "reported", "firms.csv", (reg["equity_volatility_source"],)),
        )
    else:
        vols = sorted((p for p in own if p["item"] == "volatility"), key=lambda p: p["date"])
        moves = sorted(
            (p for p in own if p["item"] == "avg_weekly_movement"), key=lambda p: p["date"]
        )
        if vols:
            b.set(
                "equity_volatility",
                Figure(
                    vols[-1]["value"],
                    "reported",
                    f"volatility {vols[-1]['date']}",
                    (vols[-1]["source"],),
                ),
            )
        elif moves:
            m = moves[-1]
            b.set(
                "equity_volatility",
                Figure(
                    m["value"] * math.sqrt(52),
                    "derived",
                    f"average weekly movement {m['value']} x sqrt(52) ({m['date']})",
                    (m["source"],),
                ),
            )
        else:
            p = inputs.sector.params["default_equity_volatility"]
            b.set(
                "equity_volatility",
                Figure(p.value, "estimated", "sector default (assumption)", (p.provenance,)),
            )
    if closes:
        last = closes[-1]
        lo, hi = RETURN_WINDOW_DAYS
        earlier = [c for c in closes if lo <= (last["date"] - c["date"]).days <= hi]
        if earlier:
            ref = min(earlier, key=lambda c: abs((last["date"] - c["date"]).days - 365))
            r = last["value"] / ref["value"] - 1
            b.set(
                "past_year_return",
                Figure(
                    r,
                    "derived",
                    f"close {last['date']} / close {ref['date']} - 1",
                    (last["source"], ref["source"]),
                ),
            )
        else:
            b.set(
                "past_year_return",
                Figure(0.0, "estimated", "no close 9-15 months earlier: 0 assumed", ()),
            )


@dataclass(frozen=True)
class BaseSet:
    """Every runnable firm's base at one as-of quarter, plus the peer medians used."""

    as_of: int
    firms: dict[str, FirmBase]
    peers: dict[str, tuple[float, int]]
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


def compute_bases(inputs: Inputs, q: int) -> BaseSet:
    """Base figures for every firm in the register at as-of quarter ``q``.

    ``inputs`` may be unfiltered; only data on or before ``q`` is used.
    """
    at = inputs.as_of(q)
    stmts = {t: build(t, rows, q) for t, rows in at.statements.items()}
    own = {t: own_ratios(fs, q) for t, fs in stmts.items()}
    peers = peer_medians(own.values())
    firms: dict[str, FirmBase] = {}
    not_runnable: dict[str, str] = {}
    for t in at.tickers:
        try:
            firms[t] = firm_base(at, t, q, stmts[t], own[t], peers)
        except FirmNotRunnable as exc:
            not_runnable[t] = str(exc)
    return BaseSet(q, firms, peers, not_runnable, own)


def latest_actuals(inputs: Inputs) -> dict[str, int | None]:
    """Each firm's latest quarter with actual revenue."""
    return {t: build(t, rows).latest_actual_quarter() for t, rows in inputs.statements.items()}
