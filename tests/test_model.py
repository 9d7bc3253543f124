"""The projection model against the hand-worked MagCo example of methods.md section 9.5,
and its accounting identities, with both back ends (polars engine and float reference)."""

from __future__ import annotations

import math

import polars as pl
import pytest

from stressmodel.analysis.rootfind import first_crossing
from stressmodel.model.engine import project
from stressmodel.model.quarter import ALL_FIRM_PARAMS, SCENARIO_PARAMS
from stressmodel.model.reference import project_case


def magco(**over: float) -> dict[str, float]:
    """MagCo of methods.md 9.5: p = 0.40, v = 0.30 CNY mn/t, Q0 = N = 5,000 t/quarter,
    F_m = 200 (of which depreciation 80), F_o = 150, interest 25/quarter (4% on 2,500 of
    debt), no tax, no receivables or payables, cash 1,500, minimum cash 300."""
    f = dict(
        q_export0=2500.0,
        q_domestic0=2500.0,
        price_export0=0.40,
        price_domestic0=0.40,
        unit_variable_cost0=0.30,
        unit_fixed_cost=0.04,
        normal_production=5000.0,
        fixed_overhead=200.0,
        opex=150.0,
        depreciation=80.0,
        inventory_tonnes0=0.0,
        inventory0=0.0,
        dso_days=0.0,
        dpo_days=0.0,
        interest_rate=0.04,
        revolver_rate=0.05,
        tax_rate=0.0,
        min_cash=300.0,
        capex_to_da=0.0,
        st_maturing_per_quarter=0.25,
        business_days_per_quarter=62.0,
        licence_dso_share=0.0,
        workoff_rate=0.0,
        raw_material_share=1.0,
        absorb_ias2=1.0,
        absorb_full=0.0,
        max_dso_days=150.0,
        other_current_assets=0.0,
        other_current_liabilities=0.0,
        other_noncurrent_liabilities=0.0,
        export_reference_ratio=1.0,
        min_inventory_days=0.0,
        revenue_export_q0=1000.0,
        revenue_domestic_q0=1000.0,
        receivables0=0.0,
        payables0=0.0,
        tax_payable0=0.0,
        cash0=1500.0,
        st_debt0=1500.0,
        lt_debt0=1000.0,
        equity0=5000.0,
        other_noncurrent_assets0=0.0,
    )
    f.update(over)
    # plug the opening balance sheet so that assets = liabilities + equity
    assets = f["cash0"] + f["receivables0"] + f["inventory0"] + f["other_current_assets"]
    liabilities = (
        f["st_debt0"]
        + f["lt_debt0"]
        + f["payables0"]
        + f["tax_payable0"]
        + f["other_current_liabilities"]
        + f["other_noncurrent_liabilities"]
    )
    f["other_noncurrent_assets0"] = liabilities + f["equity0"] - assets
    return f


SEED = dict(
    export_shock=0.5,
    domestic_shock=0.0,
    output_cut=0.15,
    storage_cost_rate=0.10,
    licence_delay_days=0.0,
    price_pass_through=1.0,
    st_debt_not_rolled=0.0,
    deferred_share=0.0,
    output_cut_forced=1.0,  # the worked example cuts output by a fixed 15%
    opening_intensity=0.0,
    opening_backlog=0.0,
)
NONE = {k: 0.0 for k in SEED} | {"price_pass_through": 1.0, "output_cut_forced": 1.0}


def drivers(n: int, intensity: float = 1.0) -> list[dict[str, float]]:
    return [{"intensity": intensity, "raw_material_change": 0.0}] * n


def engine_run(
    f: dict[str, float], s: dict[str, float], drv: list[dict[str, float]]
) -> pl.DataFrame:
    row: dict[str, object] = {"ticker": "MAG", "scenario": "x"}
    row.update({f"f_{k}": f[k] for k in ALL_FIRM_PARAMS})
    row.update({f"s_{k}": s[k] for k in SCENARIO_PARAMS})
    for k, d in enumerate(drv, 1):
        row[f"d_intensity_{k}"] = d["intensity"]
        row[f"d_raw_material_change_{k}"] = d["raw_material_change"]
    return project(
        pl.DataFrame([row]), len(drv), [f"q{k}" for k in range(1, len(drv) + 1)], 1
    ).sort("step")


@pytest.mark.parametrize("backend", ["reference", "engine"])
def test_magco_quarter_one_and_two(backend: str) -> None:
    f = magco()
    rows = (
        project_case(f, SEED, drivers(2))
        if backend == "reference"
        else engine_run(f, SEED, drivers(2)).to_dicts()
    )
    q1, q2 = rows[0], rows[1]
    assert q1["sales_volume"] == pytest.approx(3750.0, abs=1e-9)
    assert q1["production_volume"] == pytest.approx(4250.0, abs=1e-9)
    assert q1["unabsorbed_overhead"] == pytest.approx(30.0, abs=1e-9)
    assert q1["cogs"] == pytest.approx(1305.0, abs=1e-9)
    assert q1["inventory"] - f["inventory0"] == pytest.approx(170.0, abs=1e-9)
    assert q1["storage_cost"] == pytest.approx(2.125, abs=1e-9)
    assert q1["ebit"] == pytest.approx(42.875, abs=1e-9)
    assert q1["cash"] - f["cash0"] == pytest.approx(-72.125, abs=1e-9)
    assert q2["inventory"] == pytest.approx(340.0, abs=1e-9)
    assert q2["storage_cost"] == pytest.approx(6.375, abs=1e-9)
    assert q2["ebit"] == pytest.approx(38.625, abs=1e-9)
    assert q2["cash"] - q1["cash"] == pytest.approx(-76.375, abs=1e-9)


def test_magco_variable_costing_ebit() -> None:
    """EBIT under variable costing (all fixed overhead expensed) is 22.875: 20 lower,
    the overhead parked in the 500 t of new stock (0.04 x 500)."""
    q1 = project_case(magco(absorb_ias2=0.0, absorb_full=0.0), SEED, drivers(1))[0]
    assert q1["ebit"] == pytest.approx(22.875, abs=1e-9)


def test_magco_baseline_operating_leverage() -> None:
    q = project_case(magco(), NONE, drivers(1, 0.0))[0]
    contribution = q["revenue"] - q["unit_variable_cost"] * q["sales_volume"]
    assert q["revenue"] == pytest.approx(2000.0)
    assert contribution == pytest.approx(500.0)
    assert q["ebit"] == pytest.approx(150.0)
    assert contribution / q["ebit"] == pytest.approx(3.3333, abs=5e-5)
    assert q["cash"] - 1500.0 == pytest.approx(205.0)


def test_magco_runway_is_13_quarters() -> None:
    """Cash after n quarters is 1,500 - 70n - 2.125n^2; it first falls below 300 at n = 13
    (230.875), where the revolving facility is drawn for the first time."""
    rows = project_case(magco(), SEED, drivers(16))
    for n in range(1, 13):
        assert rows[n - 1]["cash"] == pytest.approx(1500 - 70 * n - 2.125 * n * n, abs=1e-9)
        assert rows[n - 1]["revolver_draw"] == 0.0
    assert rows[12]["cash_before_financing"] == pytest.approx(230.875, abs=1e-9)
    assert rows[12]["revolver_draw"] == pytest.approx(300 - 230.875, abs=1e-9)
    assert rows[12]["cash"] == pytest.approx(300.0, abs=1e-9)


def _q1(shock: float, **over: float) -> dict[str, float]:
    # a large opening stock so that production stays fixed at 4,250 t for every shock,
    # valued at full unit cost (0.34) or, under variable costing, at variable cost (0.30)
    value = 1500.0 if over.get("absorb_ias2") == 0.0 else 1700.0
    f = magco(inventory_tonnes0=5000.0, inventory0=value, **over)
    return project_case(f, SEED | {"export_shock": shock}, drivers(1))[0]


def test_magco_reverse_stress_shocks() -> None:
    """Cash flow = 0 at s* = 0.428633; EBIT (variable costing) = 0 at 0.587770; EBIT
    (absorption) = 0 at 0.766926 — cash breaks first (methods.md 9.5)."""
    cash = first_crossing(lambda s: _q1(s)["cash"] - 1500.0, 0.0)
    ebit_var = first_crossing(lambda s: _q1(s, absorb_ias2=0.0)["ebit"], 0.0)
    ebit_abs = first_crossing(lambda s: _q1(s)["ebit"], 0.0)
    assert round(cash.shock, 6) == 0.428633
    assert round(ebit_var.shock, 6) == 0.587770
    assert round(ebit_abs.shock, 6) == 0.766926


def test_identities_hold_every_quarter_with_working_capital() -> None:
    """A firm with receivables, payables, tax, licence delays, debt not rolled and a
    revolving draw: the balance sheet balances and cash reconciles in every quarter."""
    f = magco(
        dso_days=120.0,
        dpo_days=60.0,
        tax_rate=0.15,
        capex_to_da=1.0,
        workoff_rate=0.5,
        licence_dso_share=0.5,
        inventory_tonnes0=3000.0,
        inventory0=1020.0,
        receivables0=2000 * 120 / 91,
        payables0=1500 * 60 / 91,
        tax_payable0=18.75,
        other_current_assets=25.0,
        other_current_liabilities=40.0,
        other_noncurrent_liabilities=60.0,
        cash0=400.0,
    )
    s = SEED | {
        "licence_delay_days": 45.0,
        "st_debt_not_rolled": 0.5,
        "domestic_shock": 0.2,
        "price_pass_through": 0.5,
    }
    drv = [
        {"intensity": i, "raw_material_change": 0.25}
        for i in (1, 1, 1, 1, 0.75, 0.5, 0.25, 0, 0, 0)
    ]
    rows = project_case(f, s, drv)
    prev_cash = f["cash0"]
    assert any(r["revolver_draw"] > 0 for r in rows), (
        "the case should exercise the revolving facility"
    )
    for r in rows:
        assert abs(r["balance_check"]) < 1e-9 * r["total_assets"]
        assert r["cash"] == pytest.approx(
            prev_cash + r["cfo"] + r["cfi"] + r["cff"], rel=1e-12, abs=1e-9
        )
        assert r["inventory_tonnes"] >= -1e-9 and r["revolver"] >= 0
        assert r["cash"] >= f["min_cash"] - 1e-9
        prev_cash = r["cash"]
    eng = engine_run(f, s, drv)
    for k, r in enumerate(rows):
        for name, v in r.items():
            assert math.isclose(eng[k, name], v, rel_tol=1e-12, abs_tol=1e-9), name
