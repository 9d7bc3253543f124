"""Properties of the projection on the shipped firms' real parameters (hypothesis):
zero shocks reproduce the baseline; revenue and cash never rise when the export shock
rises; the balance sheet balances and cash reconciles in every quarter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import parse_quarter
from stressmodel.inputs.scenarios import Scenario
from stressmodel.model.base import compute_bases
from stressmodel.model.cases import case_frame, scenario_frame
from stressmodel.model.engine import project

ROOT = Path(__file__).resolve().parents[1]
AS_OF = parse_quarter("2025Q2")
H = 8


@pytest.fixture(scope="module")
def firms() -> pl.DataFrame:
    inputs = load_inputs(ROOT / "inputs")
    return compute_bases(inputs, AS_OF).frame()


def scenario(name: str, **kw: object) -> Scenario:
    base = dict(
        description="",
        export_shock=0.0,
        start="next",
        duration_quarters=4,
        recovery_quarters=4,
        permanent_share=0.0,
        output_cut=0.0,
        domestic_shock=0.0,
        storage_cost_rate=0.0,
        licence_delay_days=0.0,
        raw_material_price_change=0.0,
        price_pass_through=1.0,
        st_debt_not_rolled=0.0,
        path="parametric",
    )
    base.update(kw)
    return Scenario(name=name, **base)  # type: ignore[arg-type]


def run(firms: pl.DataFrame, scenarios: list[Scenario]) -> pl.DataFrame:
    cases = case_frame(firms, scenario_frame(scenarios, AS_OF, H, None))
    return project(cases, H, [f"q{k}" for k in range(1, H + 1)], AS_OF + 1).sort(
        "ticker", "scenario", "step"
    )


others = st.fixed_dictionaries(
    {
        "start": st.sampled_from(["next", "+1", "+3", "2025Q2"]),
        "duration_quarters": st.integers(0, 8),
        "recovery_quarters": st.integers(0, 6),
        "permanent_share": st.floats(0, 1),
        "output_cut": st.floats(0, 0.3),
        "domestic_shock": st.floats(0, 0.5),
        "storage_cost_rate": st.floats(0, 0.3),
        "licence_delay_days": st.floats(0, 62),
        # raw-material changes up to +25% keep prices above variable cost for every shipped firm
        # even without pass-through; with a negative unit contribution, selling (and producing)
        # less genuinely saves cash, and the monotonicity below does not hold, by design
        "raw_material_price_change": st.floats(-0.5, 0.25),
        "price_pass_through": st.floats(0, 1),
        "st_debt_not_rolled": st.floats(0, 1),
        "output_cut_forced": st.sampled_from([0, 1]),
        "deferred_share": st.floats(0, 1),
    }
)

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(params=others)
def test_zero_shocks_reproduce_baseline(firms: pl.DataFrame, params: dict[str, object]) -> None:
    """Whatever the path and the non-shock parameters, with every shock at zero the
    projection equals the baseline."""
    zero = {
        **params,
        "output_cut": 0.0,
        "domestic_shock": 0.0,
        "storage_cost_rate": 0.0,
        "licence_delay_days": 0.0,
        "raw_material_price_change": 0.0,
        "st_debt_not_rolled": 0.0,
        # a forced plan produces N whatever the demand, which is not the baseline when the
        # reference export level lies above the run-rate
        "output_cut_forced": 0,
    }
    out = run(firms, [scenario("baseline"), scenario("zero", export_shock=0.0, **zero)])
    a = out.filter(pl.col("scenario") == "baseline").drop("scenario")
    b = out.filter(pl.col("scenario") == "zero").drop("scenario")
    for col in a.columns:
        if (
            a[col].dtype == pl.Float64 and col != "intensity"
        ):  # the path differs; its effect must not
            np.testing.assert_allclose(
                b[col].to_numpy(), a[col].to_numpy(), rtol=1e-12, atol=1e-9, err_msg=col
            )


@SETTINGS
@given(params=others, shocks=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_revenue_and_cash_never_rise_with_the_export_shock(
    firms: pl.DataFrame, params: dict[str, object], shocks: tuple[float, float]
) -> None:
    """In every quarter, for every shipped firm, under any path and other shocks: licence
    delays up to a full quarter (62 business days), output cuts up to the grid's 30%, and
    raw-material changes that keep prices above variable cost.

    Outside that domain the model can, by design, show slightly more cash under a larger
    shock in one quarter: a cut deep enough to drain the stock makes production follow
    demand, and lower demand then saves purchases before the lost collections arrive
    (measured: +0.04 CNY mn in one quarter with a 50% cut); with a negative unit
    contribution, selling less genuinely saves cash (docs/model.md).

    Cash is checked only with a forced (fixed) production plan: when production follows
    demand (output_cut_forced = 0, the default), lower demand saves purchases at once while
    the lost collections arrive a receivable lag later, so cash can be higher for a
    quarter under a larger shock, by design (docs/model.md, production); for the same
    reason the fixed plan is checked without the minimum-stock floor (which, once it binds,
    makes production follow demand) and with the run-rate as the export reference. Deferred exports
    are off here: with a catch-up, a larger shock ships more in the release quarters.
    """
    params = {**params, "deferred_share": 0.0}
    if params["output_cut_forced"]:
        # cash is checked on the fixed plan without the minimum stock and the reference
        # level: a floor that binds makes production follow demand, the case above
        firms = firms.with_columns(
            pl.lit(0.0).alias("f_min_inventory_days"), pl.lit(1.0).alias("f_export_reference_ratio")
        )
    lo, hi = sorted(shocks)
    out = run(
        firms,
        [scenario("lo", export_shock=lo, **params), scenario("hi", export_shock=hi, **params)],
    )
    a = out.filter(pl.col("scenario") == "lo")
    b = out.filter(pl.col("scenario") == "hi")
    cols = (
        ("revenue", "cash", "export_revenue")
        if params["output_cut_forced"]
        else ("revenue", "export_revenue")
    )
    for col in cols:
        x, y = a[col].to_numpy(), b[col].to_numpy()
        tol = 1e-9 * np.maximum(1.0, np.abs(x))
        worst = np.max(y - x - tol)
        assert worst <= 0, f"{col} rose by {worst} when the export shock rose from {lo} to {hi}"


@SETTINGS
@given(params=others, shock=st.floats(0, 1))
def test_identities_hold_in_every_quarter(
    firms: pl.DataFrame, params: dict[str, object], shock: float
) -> None:
    out = run(firms, [scenario("x", export_shock=shock, **params)])
    scale = out["total_assets"].abs().to_numpy()
    assert np.all(np.abs(out["balance_check"].to_numpy()) <= 1e-9 * np.maximum(scale, 1.0))
    prev = out.with_columns(
        pl.col("cash").shift(1).over("ticker", order_by="step").alias("prev_cash")
    )
    first = prev.filter(pl.col("step") == 1)
    cash0 = firms.select("ticker", pl.col("f_cash0").alias("prev_cash0"))
    prev = prev.join(cash0, on="ticker").with_columns(
        pl.col("prev_cash").fill_null(pl.col("prev_cash0"))
    )
    recon = prev["prev_cash"] + prev["cfo"] + prev["cfi"] + prev["cff"] - prev["cash"]
    assert np.all(
        np.abs(recon.to_numpy()) <= 1e-9 * np.maximum(np.abs(prev["cash"].to_numpy()), 1.0)
    )
    assert first.height == firms.height
    assert (out["inventory_tonnes"] >= -1e-9).all() and (out["revolver"] >= 0).all()
    assert (out["cash"].to_numpy() >= firms["f_min_cash"].min() - 1e-6).all()
