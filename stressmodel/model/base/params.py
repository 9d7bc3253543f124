"""The structural parameters of the projection model from the base figures (per quarter, CNY mn, tonnes)."""

from __future__ import annotations

from stressmodel.inputs.periods import quarter_label
from stressmodel.inputs.sector import Sector
from stressmodel.inputs.statements import Figure
from stressmodel.model.base.balance_sheet import BalanceSheet
from stressmodel.model.base.export_split import ExportSplit
from stressmodel.model.base.figures import INTEREST_MAX_AGE, RATE_BOUNDS, Builder
from stressmodel.model.base.run_rate import RunRate, export_reference
from stressmodel.model.quarter import ALL_FIRM_PARAMS, DAYS_PER_QUARTER


def own_interest_rate(
    b: Builder, sector: Sector, interest: Figure | None
) -> tuple[float, str, str]:
    """The firm's interest rate: the latest TTM interest expense (at most
    :data:`INTEREST_MAX_AGE` quarters old) over the average total debt reported at the
    quarter ends of the same twelve months, if within :data:`RATE_BOUNDS`; else the sector
    default rate. Returns (rate, how, basis)."""
    default = sector.float("default_interest_rate")
    if interest is None:
        return default, "sector default rate (no interest expense reported)", "estimated"
    iq = interest.quarter if interest.quarter is not None else b.q
    if b.q - iq > INTEREST_MAX_AGE:
        return (
            default,
            f"sector default rate (latest interest expense is TTM {quarter_label(iq)}, older than {INTEREST_MAX_AGE} quarters)",
            "estimated",
        )
    debts = [
        (k, f.value)
        for k in range(iq - 4, iq + 1)
        if (f := b.fs.point("total_debt", k)) is not None
    ]
    if not debts:
        return (
            default,
            f"sector default rate (no total debt reported in the twelve months to {quarter_label(iq)})",
            "estimated",
        )
    avg = sum(v for _, v in debts) / len(debts)
    if avg <= 0:
        return default, "sector default rate (no debt in the interest period)", "estimated"
    own = interest.value / avg
    at = ", ".join(f"{quarter_label(k)} {v:g}" for k, v in debts)
    if RATE_BOUNDS[0] <= own <= RATE_BOUNDS[1]:
        return (
            own,
            f"TTM {quarter_label(iq)} interest {interest.value:g} / average debt {avg:.1f} ({at})",
            "derived",
        )
    return (
        default,
        f"sector default rate (own rate {own:.3f} = TTM {quarter_label(iq)} interest / average debt "
        f"({at}) outside {RATE_BOUNDS})",
        "estimated",
    )


def structural_params(
    b: Builder, sector: Sector, rr: RunRate, bs: BalanceSheet, xs: ExportSplit
) -> dict[str, float]:
    """Every parameter of :data:`ALL_FIRM_PARAMS`; sets ``interest_rate`` on ``b``."""
    R, C, E, DA = rr.R, rr.C, rr.E, rr.DA
    interest_fig = rr.interest
    cash, AR, INV, TA, TL, DEBT, ST = bs.cash, bs.AR, bs.INV, bs.TA, bs.TL, bs.DEBT, bs.ST
    ca_fig, cl_fig = bs.current_assets, bs.current_liabilities
    x, k, asp = xs.x, xs.k, xs.asp
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
    rate, rate_note, rate_basis = own_interest_rate(b, sector, interest_fig)
    b.set(
        "interest_rate",
        Figure(
            rate,
            rate_basis,
            rate_note,
            interest_fig.sources if rate_basis == "derived" and interest_fig else (),
        ),
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
    ref_ratio = b.set("export_reference_ratio", export_reference(sector, b.fs, b.q, rr.rev))
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

    return params
