"""The run-rate: trailing-twelve-month flows at the as-of quarter (revenue, costs, EBIT, D&A, income, cash flow, interest)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stressmodel.inputs.periods import parse_quarter, quarter_label
from stressmodel.inputs.statements import Figure, FirmStatements
from stressmodel.model.base.figures import Builder, FirmNotRunnable, est


@dataclass(frozen=True)
class RunRate:
    """The TTM flows the rest of the base builds on (values in CNY mn)."""

    rev: Figure
    R: float
    C: float
    E: float
    DA: float
    NI: float
    interest: Figure | None


def build_run_rate(b: Builder) -> RunRate:
    """Set the TTM flow figures on ``b`` and return them."""
    q, fs = b.q, b.fs
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
            est(R * cogs_r.value, f"TTM revenue x cost ratio ({cogs_r.how})", rev, cogs_r),
        )
    ebit_fig = b.flow_ttm("operating_income")
    if ebit_fig is not None and ebit_fig.quarter in (None, rev.quarter):
        E = b.set("ebit_ttm", ebit_fig)
    else:
        m = b.ratio("ebit_margin")
        E = b.set("ebit_ttm", est(R * m.value, f"TTM revenue x EBIT margin ({m.how})", rev, m))
    da_fig = b.flow_ttm("depreciation_amortization")
    if da_fig is not None and da_fig.quarter in (None, rev.quarter):
        DA = b.set("da_ttm", da_fig)
    else:
        m = b.ratio("da_ratio")
        DA = b.set("da_ttm", est(R * m.value, f"TTM revenue x D&A ratio ({m.how})", rev, m))
    ni_fig = b.flow_ttm("net_income")
    if ni_fig is not None:
        NI = b.set("net_income_ttm", ni_fig)
    else:
        m = b.ratio("ni_margin")
        NI = b.set(
            "net_income_ttm", est(R * m.value, f"TTM revenue x net margin ({m.how})", rev, m)
        )
    cfo_fig = b.flow_ttm("operating_cash_flow")
    if cfo_fig is not None:
        b.set("cfo_ttm", cfo_fig)
    else:
        b.set(
            "cfo_ttm",
            est(
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
    return RunRate(rev, R, C, E, DA, NI, interest_fig)


def export_reference(sector: Any, fs: FirmStatements, q: int, run_rate: Figure) -> Figure:
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
    return est(
        ratio,
        f"max(TTM revenue {quarter_label(ref_q)} {ref.value:.1f} / run-rate TTM revenue {run_rate.value:.1f}, 1)",
        ref,
        run_rate,
    )
