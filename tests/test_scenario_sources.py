"""Issue 14 items 1-5: scenarios anchored to dated events, the reference export level (no
double counting), the seed's facts (stock for export customers piles up, output follows
demand, a minimum stock), deferred exports and the PrNd path, on the shipped inputs."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from stressmodel.analysis.valuation import dcf
from stressmodel.errors import InputError
from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import parse_quarter
from stressmodel.inputs.scenarios import NAMED_SCENARIOS, Scenario, calendar_path
from stressmodel.model.base import compute_bases
from stressmodel.model.cases import case_frame, scenario_frame
from stressmodel.model.engine import project
from stressmodel.model.prices import prnd_path
from stressmodel.model.quarter import DAYS_PER_QUARTER

ROOT = Path(__file__).resolve().parents[1]
TIANHE, ZHENGHAI = "603072.SH", "300224.SZ"
NAMED = (TIANHE, ZHENGHAI)
H = 8


@pytest.fixture(scope="module")
def inputs():  # type: ignore[no-untyped-def]
    return load_inputs(ROOT / "inputs")


def project_as_of(
    inputs, as_of: str, scenarios: list[Scenario], firms=NAMED
) -> tuple[pl.DataFrame, object]:  # type: ignore[no-untyped-def]
    q = parse_quarter(as_of)
    bases = compute_bases(inputs, q)
    pp = prnd_path(
        inputs.sector.params["prnd_oxide_price"].points, q, [q + k for k in range(1, H + 1)]
    )
    cases = case_frame(bases.frame(list(firms)), scenario_frame(scenarios, q, H, None, pp.change))
    out = project(cases, H, [f"q{k}" for k in range(1, H + 1)], q + 1).sort(
        "ticker", "scenario", "step"
    )
    return out, bases


def rows(out: pl.DataFrame, ticker: str, scenario: str) -> pl.DataFrame:
    return out.filter((pl.col("ticker") == ticker) & (pl.col("scenario") == scenario)).sort("step")


# --- item 1: events and calendar paths ----------------------------------------------------


def test_every_named_scenario_states_its_events_and_calendar_path(inputs) -> None:  # type: ignore[no-untyped-def]
    keys = {e["event"] for e in inputs.policy_events}
    assert {
        "licences_2025_04",
        "deal_2025_06",
        "expansion_2025_10",
        "suspension_2025_11",
        "suspension_ends_2026_11",
        "general_licences_2025_12",
    } <= keys
    dates = {e["event"]: e["date"] for e in inputs.policy_events}
    assert (
        dates["licences_2025_04"] == "2025-04-04"
        and dates["suspension_ends_2026_11"] == "2026-11-10"
    )
    named = inputs.scenarios.named
    assert set(NAMED_SCENARIOS) <= set(named)
    for name in (
        "baseline",
        "seed",
        "deal_normalises",
        "structural",
        "trade_implied",
        "retightening",
        "general_licences",
    ):
        assert name in named
        assert all(e in keys for e in named[name].events)
    # dated scenarios sit on the quarter of their event; undated forward stresses start next
    assert named["seed"].start == "2025Q2" and named["seed"].events == ("licences_2025_04",)
    assert named["retightening"].start == "2026Q4"  # the suspension ends on 10 Nov 2026
    assert named["structural"].start == "next"
    as_of = parse_quarter("2025Q3")
    text = calendar_path(named["general_licences"], as_of, 4)
    # shock in 2025Q2 (in the actuals), easing, gone from 2026Q1 once general licences arrive
    assert text.startswith("2025Q2 1.00 (actual), 2025Q3 0.67 (actual), 2025Q4 0.33, 2026Q1 0.00")
    grid = inputs.scenarios.grid_scenarios()
    assert grid and all(g.start == "next" for g in grid)


def _copy_inputs(tmp_path: Path) -> Path:
    dst = tmp_path / "inputs"
    shutil.copytree(ROOT / "inputs", dst)
    return dst


def test_events_file_errors_name_file_row_and_field(tmp_path: Path) -> None:
    root = _copy_inputs(tmp_path)
    path = root / "policy_events.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace("2025-04-04", "2025-04-31", 1)  # no such day
    lines.append(lines[2])  # the deal again
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_inputs(root)
    found = {(p.file, p.row, p.field) for p in exc.value.problems}
    assert ("inputs/policy_events.csv", 2, "date") in found
    assert ("inputs/policy_events.csv", len(lines), "event") in found


def test_a_scenario_naming_an_unknown_event_is_an_input_error(tmp_path: Path) -> None:
    root = _copy_inputs(tmp_path)
    toml = root / "scenarios.toml"
    text = toml.read_text(encoding="utf-8").replace(
        'start = "event:suspension_ends_2026_11"', 'start = "event:no_such_event"', 1
    )
    toml.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_inputs(root)
    fields = {(p.file, p.field) for p in exc.value.problems}
    assert ("inputs/scenarios.toml", "scenarios.retightening.start") in fields


# --- item 2: no double counting -------------------------------------------------------------


def test_dated_shock_in_the_actuals_is_not_reapplied_and_forward_shock_is_from_the_reference(
    inputs,
) -> None:  # type: ignore[no-untyped-def]
    """As of 2025Q2 Tianhe's run-rate (TTM to 2025Q2) already holds its first controls
    quarter: the reference (TTM to 2025Q1) is 2,558.0 against 2,263.2, ratio 1.1303.
    A shock dated 2025Q2 lasting one quarter is in the actuals: projected export demand is
    the reference level, not the run-rate less the shock again. A forward 50% shock is
    measured from the reference level."""
    seed = inputs.scenarios.named["seed"]
    past = replace(seed, name="past", duration_quarters=1, recovery_quarters=0, deferred_share=0.0)
    forward = replace(inputs.scenarios.named["structural"], name="forward", deferred_share=0.0)
    out, bases = project_as_of(
        inputs, "2025Q2", [past, forward, replace(seed, name="dated", deferred_share=0.0)]
    )
    f = bases.firms[TIANHE].params
    assert f["export_reference_ratio"] == pytest.approx(2558.0 / 2263.2, rel=1e-9)
    ref = f["q_export0"] * f["export_reference_ratio"]
    p = rows(out, TIANHE, "past")
    assert p["export_loss"].to_list() == [0.0] * H
    assert p["demand_export"].to_list() == pytest.approx([ref] * H, rel=1e-12)
    assert p["demand_export"][0] > f["q_export0"]  # the run-rate's own fall is not carried on
    fw = rows(out, TIANHE, "forward")
    assert fw["demand_export"][0] == pytest.approx(ref * (1 - 0.5), rel=1e-12)
    # the dated seed is in its second full quarter in 2025Q3: half the reference, once
    d = rows(out, TIANHE, "dated")
    assert d["intensity"][0] == 1.0
    assert d["demand_export"][0] == pytest.approx(ref * 0.5, rel=1e-12)
    # a firm whose run-rate holds none of the shock keeps its run-rate (ratio 1)
    assert bases.firms[ZHENGHAI].params["export_reference_ratio"] == 1.0


def test_reference_never_uses_a_quarter_after_the_as_of(inputs) -> None:  # type: ignore[no-untyped-def]
    bases = compute_bases(inputs, parse_quarter("2024Q4"))
    for t in NAMED:
        if t in bases.firms:
            assert bases.firms[t].params["export_reference_ratio"] == 1.0


# --- item 3: the seed's facts ---------------------------------------------------------------


def test_seed_as_of_2025q1_piles_up_stock_for_export_customers_with_a_storage_cost(inputs) -> None:  # type: ignore[no-untyped-def]
    seed = inputs.scenarios.named["seed"]
    out, bases = project_as_of(inputs, "2025Q1", [seed])
    for t in NAMED:
        f = bases.firms[t].params
        p = rows(out, t, "seed")
        hold = p.filter(pl.col("licence_delay") > 0)
        full = p.filter(pl.col("intensity") == 1.0)
        assert full["quarter_index"].to_list() == [
            parse_quarter(q) for q in ("2025Q2", "2025Q3", "2025Q4", "2026Q1")
        ]
        assert (hold["inventory"] > f["inventory0"]).all(), t
        assert (hold["held_goods"] > 0).all()
        # storage cost on the build-up, by hand: rate/4 x normal unit cost x average build
        unit = f["unit_variable_cost0"] + f["unit_fixed_cost"]
        prev = [f["inventory_tonnes0"], *p["inventory_tonnes"].to_list()[:-1]]
        for k, row in enumerate(p.iter_rows(named=True)):
            build = (
                max(prev[k] - f["inventory_tonnes0"], 0)
                + max(row["inventory_tonnes"] - f["inventory_tonnes0"], 0)
            ) / 2
            assert row["storage_cost"] == pytest.approx(
                seed.storage_cost_rate / 4 * unit * build, rel=1e-12, abs=1e-12
            )
        assert (full["storage_cost"] > 0).all()
        # output follows demand: the cut is the demand loss (no forced cut in the seed)
        lost = f["q_export0"] * seed.export_shock + f["q_domestic0"] * seed.domestic_shock
        first = full.row(0, named=True)
        assert first["production_volume"] == pytest.approx(f["normal_production"] - lost, rel=1e-9)
        # shipped exports in the first licence quarter: half the demand, 45 of 62 business days held
        assert first["sales_volume_export"] == pytest.approx(
            f["q_export0"] * 0.5 * (1 - 45 / 62), rel=1e-9
        )


def test_sector_typical_firm_under_seed(inputs) -> None:  # type: ignore[no-untyped-def]
    """A firm with the sector's 22% export share (one price) loses about 15% of output and
    ships about three quarters less abroad at the trough."""
    _out, bases = project_as_of(
        inputs, "2025Q1", [inputs.scenarios.named["seed"]], firms=(ZHENGHAI,)
    )
    f = dict(bases.firms[ZHENGHAI].params)
    n = f["normal_production"]
    x = 0.22
    f.update(q_export0=n * x, q_domestic0=n * (1 - x), export_reference_ratio=1.0)
    seed = inputs.scenarios.named["seed"]
    frame = bases.frame([ZHENGHAI]).with_columns(
        pl.lit(n * x).alias("f_q_export0"), pl.lit(n * (1 - x)).alias("f_q_domestic0")
    )
    cases = case_frame(frame, scenario_frame([seed], parse_quarter("2025Q1"), H, None))
    p = project(cases, H, [f"q{k}" for k in range(1, H + 1)], parse_quarter("2025Q1") + 1).sort(
        "step"
    )
    output_cut = 1 - p["production_volume"][0] / n
    trough = 1 - p["sales_volume_export"].min() / (n * x)
    assert output_cut == pytest.approx(0.149, abs=0.005)
    assert 0.7 <= trough <= 0.9  # 0.86 with the sourced 50% and 45 business days
    assert p["inventory_tonnes"][0] > f["inventory_tonnes0"]


def _values(inputs, as_of: str, scenarios: list[Scenario]) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    q = parse_quarter(as_of)
    bases = compute_bases(inputs, q)
    cases = case_frame(bases.frame(list(NAMED)), scenario_frame(scenarios, q, H, None))
    out = project(cases, H, [f"q{k}" for k in range(1, H + 1)], q + 1)
    fv = pl.DataFrame(
        {
            "ticker": list(NAMED),
            "shares": [bases.firms[t].get("shares") or 1.0 for t in NAMED],
            "net_debt0": [
                bases.firms[t].value("total_debt") - bases.firms[t].value("cash") for t in NAMED
            ],
        }
    )
    return dcf(out, cases, fv, 0.09, 0.02, H).sort("ticker", "scenario"), out


def test_value_never_rises_with_a_deeper_output_cut_at_a_fixed_export_shock(inputs) -> None:  # type: ignore[no-untyped-def]
    seed = inputs.scenarios.named["seed"]
    cuts = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5]
    for shock in (0.25, 0.5):
        scen = [
            replace(seed, name=f"c{k}", export_shock=shock, output_cut=c)
            for k, c in enumerate(cuts)
        ]
        val, out = _values(inputs, "2025Q1", scen)
        for t in NAMED:
            v = [
                val.filter((pl.col("ticker") == t) & (pl.col("scenario") == f"c{k}"))[
                    "equity_value"
                ][0]
                for k in range(len(cuts))
            ]
            assert all(b <= a + 1e-9 for a, b in itertools.pairwise(v)), (t, shock, v)
        # a firm does not cut by more than its demand loss plus the stock it works off, and
        # free stock never falls below the minimum days of sales
        f = (
            out.sort("ticker", "scenario", "step")
            .with_columns(
                pl.col("excess_stock")
                .shift(1)
                .over("ticker", "scenario")
                .fill_null(0.0)
                .alias("prev_excess")
            )
            .join(compute_bases(inputs, parse_quarter("2025Q1")).frame(list(NAMED)), on="ticker")
        )
        floor = f["demand_export"] + f["demand_domestic"] - f["f_workoff_rate"] * f["prev_excess"]
        assert (f["production_volume"] >= floor * (1 - 1e-12) - 1e-9).all()
        free = f["inventory_tonnes"] - f["held_goods"]
        assert (free >= f["minimum_stock"] * (1 - 1e-12) - 1e-9).all()


def test_minimum_stock_holds_under_a_forced_cut(inputs) -> None:  # type: ignore[no-untyped-def]
    seed = inputs.scenarios.named["seed"]
    scen = [replace(seed, name="forced", output_cut=0.6, output_cut_forced=1)]
    out, bases = project_as_of(inputs, "2025Q1", scen)
    for t in NAMED:
        p = rows(out, t, "forced")
        free = p["inventory_tonnes"] - p["held_goods"]
        assert (free >= p["minimum_stock"] * (1 - 1e-12) - 1e-9).all()
        days = bases.firms[t].params["min_inventory_days"]
        assert p["minimum_stock"].to_list() == pytest.approx(
            (p["sales_volume"] * days / DAYS_PER_QUARTER).to_list(), rel=1e-12
        )
        assert (
            p["production_volume"] > bases.firms[t].params["normal_production"] * 0.4
        ).any()  # the floor binds


# --- item 4: deferred exports ---------------------------------------------------------------


def test_deferred_share_zero_reproduces_the_no_catch_up_path(inputs) -> None:  # type: ignore[no-untyped-def]
    seed = inputs.scenarios.named["seed"]
    assert seed.deferred_share == pytest.approx(0.8)
    none = replace(seed, name="none", deferred_share=0.0)
    some = replace(seed, name="some")
    out, bases = project_as_of(inputs, "2025Q1", [none, some])
    for t in NAMED:
        f = bases.firms[t].params
        a, b = rows(out, t, "none"), rows(out, t, "some")
        # no catch-up: demand is the reference level less the shock, in every quarter
        assert a["export_backlog"].to_list() == [0.0] * H
        assert a["deferred_exports_released"].to_list() == [0.0] * H
        assert a["demand_export"].to_list() == pytest.approx(
            (f["q_export0"] * (1 - a["export_loss"])).to_list(), rel=1e-12
        )
        # with a catch-up, 80% of the lost demand comes back as the shock recovers
        lost = (b["export_demand_lost"]).sum()
        released = b["deferred_exports_released"].sum()
        assert released + b["export_backlog"][-1] == pytest.approx(0.8 * lost, rel=1e-9)
        assert b["export_backlog"][-1] == pytest.approx(
            0.0, abs=1e-9
        )  # the shock is over by 2027Q1
        assert b["sales_volume_export"].sum() == pytest.approx(
            a["sales_volume_export"].sum() + released, rel=1e-9
        )


# --- item 5: the PrNd path -----------------------------------------------------------------


def test_prnd_path_moves_cost_and_revenue_as_the_pass_through_says(inputs) -> None:  # type: ignore[no-untyped-def]
    base = inputs.scenarios.named["baseline"]
    full = replace(base, name="full", price_path="prnd", price_pass_through=1.0)
    half = replace(base, name="half", price_path="prnd", price_pass_through=0.5)
    out, bases = project_as_of(inputs, "2025Q2", [base, full, half])
    # PrNd 2025Q2 average 433.5k, 2025Q3 540.3k, then held until the 9 Jan 2026 spot 624.9k
    change = [540.3 / 433.5 - 1, 540.3 / 433.5 - 1, 624.9 / 433.5 - 1]
    for t in NAMED:
        f = bases.firms[t].params
        b0, b1, b2 = rows(out, t, "baseline"), rows(out, t, "full"), rows(out, t, "half")
        assert b1["raw_material_change"].to_list()[:3] == pytest.approx(change, rel=1e-12)
        assert b0["raw_material_change"].to_list() == [0.0] * H
        for k in range(3):
            duvc = f["unit_variable_cost0"] * f["raw_material_share"] * change[k]
            assert b1["unit_variable_cost"][k] == pytest.approx(
                f["unit_variable_cost0"] + duvc, rel=1e-12
            )
            for frame, share in ((b1, 1.0), (b2, 0.5)):
                assert frame["price_export"][k] == pytest.approx(
                    f["price_export0"] + share * duvc, rel=1e-12
                )
                # volumes do not depend on prices: revenue moves by pass-through x cost change x tonnes
                assert frame["revenue"][k] - b0["revenue"][k] == pytest.approx(
                    share * duvc * b0["sales_volume"][k], rel=1e-9
                )
                assert frame["purchases"][k] - b0["purchases"][k] == pytest.approx(
                    duvc * b0["production_volume"][k], rel=1e-9
                )


def test_prnd_levels_from_the_sector_points(inputs) -> None:  # type: ignore[no-untyped-def]
    pp = prnd_path(
        inputs.sector.params["prnd_oxide_price"].points,
        parse_quarter("2025Q1"),
        [parse_quarter("2025Q2")],
    )
    # 2025Q1 is derived: 2 x the H1-2025 average 421k - the Q2 average 433.5k = 408.5k
    assert pp.levels[parse_quarter("2025Q1")][0] == pytest.approx(408500.0)
    assert pp.change[parse_quarter("2025Q2")] == pytest.approx(433.5 / 408.5 - 1)
    early = prnd_path(
        inputs.sector.params["prnd_oxide_price"].points,
        parse_quarter("2024Q2"),
        [parse_quarter("2024Q3")],
    )
    assert early.change == {parse_quarter("2024Q3"): 0.0} and "no PrNd level" in early.status


def test_a_dated_path_continues_from_the_actuals_whatever_the_as_of(inputs) -> None:  # type: ignore[no-untyped-def]
    """The seed run as of 2025Q2 continues the seed run as of 2025Q1 from its second
    quarter: Tianhe's reference export demand is the same tonnage (692.1 t: 612.3 x 1.1303
    against the 2025Q1 run-rate), the goods held for licences in 2025Q2 are in the actual
    stock (no second first-quarter hold) and the deferred exports of 2025Q2 are carried."""
    seed = inputs.scenarios.named["seed"]
    a, ba = project_as_of(inputs, "2025Q1", [seed], firms=(TIANHE,))
    b, bb = project_as_of(inputs, "2025Q2", [seed], firms=(TIANHE,))
    fa, fb = ba.firms[TIANHE].params, bb.firms[TIANHE].params
    assert fb["q_export0"] * fb["export_reference_ratio"] == pytest.approx(
        fa["q_export0"], rel=1e-9
    )
    pa, pb = rows(a, TIANHE, "seed"), rows(b, TIANHE, "seed")
    for col in (
        "export_loss",
        "demand_export",
        "held_goods",
        "sales_volume_export",
        "export_backlog",
        "deferred_exports_released",
    ):
        assert pb[col].to_list()[: H - 1] == pytest.approx(
            pa[col].to_list()[1:], rel=1e-9, abs=1e-9
        ), col
    assert pb["sales_volume_export"][0] == pytest.approx(
        fa["q_export0"] * 0.5, rel=1e-9
    )  # no new hold
