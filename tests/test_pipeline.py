"""A run on the shipped inputs: output contracts, the issue's monotonicity guarantees on
the sensitivity grid, and the end-of-run summary for the two named firms."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from stressmodel.cli import main
from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.scenarios import NAMED_SCENARIOS
from stressmodel.pipeline.stages import RunOptions, RunResult, run_model
from stressmodel.run.tables import PROJECTION_CONTRACT, projection_table, scenarios_table

ROOT = Path(__file__).resolve().parents[1]
NAMED = ("603072.SH", "300224.SZ")


@pytest.fixture(scope="module")
def result() -> RunResult:
    return run_model(load_inputs(ROOT / "inputs"), RunOptions(firms=NAMED))


def test_projection_contract(result: RunResult) -> None:
    proj = projection_table(result)
    assert tuple(proj.columns[: len(PROJECTION_CONTRACT)]) == PROJECTION_CONTRACT
    # one row per ticker x scenario x quarter: the named scenarios and every grid scenario
    n_grid = len(result.grid)
    assert n_grid == 21 * 7 + 21 * 5  # export shock x output cut, export shock x permanent share
    assert proj.height == len(NAMED) * (len(NAMED_SCENARIOS) + n_grid) * result.horizon
    assert proj.select("ticker", "scenario", "quarter").is_unique().all()
    named = proj.filter(pl.col("scenario_kind") == "named")
    assert set(named["scenario"].unique()) == set(NAMED_SCENARIOS)
    assert named.equals(projection_table(dataclasses.replace(result, grid_projection=None)))
    assert set(proj["scenario"].unique()) == set(NAMED_SCENARIOS) | {s.name for s in result.grid}
    kinds = dict(proj.select("scenario", "scenario_kind").unique().iter_rows())
    assert {kinds[s.name] for s in result.grid} == {"grid", "grid_permanent"}
    # a grid row holds the engine's numbers of that case (its summary's minimum cash)
    g = proj.filter((pl.col("ticker") == NAMED[0]) & (pl.col("scenario") == "grid_e0.75_p0.50"))
    row = result.summary.filter(
        (pl.col("ticker") == NAMED[0]) & (pl.col("scenario") == "grid_e0.75_p0.50")
    )
    assert g.height == result.horizon and row.height == 1
    assert (g["cash"] - g["revolver"]).min() == pytest.approx(row["min_cash"][0], rel=1e-12)
    assert proj["quarter"].str.contains(r"^\d{4}Q[1-4]$").all()
    assert result.as_of_label == "2025Q2"  # Tianhe's latest actuals bound the default as-of
    assert proj["quarter"].min() == "2025Q3"


def test_scenarios_table_has_the_named_scenarios_and_the_147_point_grid(result: RunResult) -> None:
    sc = scenarios_table(result)
    assert {"scenario", "export_shock", "output_cut"} <= set(sc.columns)
    assert sc.filter(pl.col("kind") == "named")["scenario"].to_list() == list(NAMED_SCENARIOS)
    grid = sc.filter(pl.col("kind") == "grid")
    assert grid.height == 147
    assert sorted(set(grid["export_shock"].round(2))) == [round(0.05 * i, 2) for i in range(21)]
    assert sorted(set(grid["output_cut"].round(2))) == [round(0.05 * i, 2) for i in range(7)]
    seed = sc.filter(pl.col("scenario") == "seed").row(0, named=True)
    assert (
        seed["export_shock"],
        seed["output_cut"],
        seed["licence_delay_days"],
        seed["storage_cost_rate"],
    ) == (0.5, 0.15, 45.0, 0.1)


SUMMARY_COLUMNS = (
    "ticker",
    "scenario",
    "export_shock",
    "output_cut",
    "min_cash",
    "cash_runway_quarters",
    "min_interest_cover",
    "altman_z",
    "ohlson_probability",
    "distance_to_default",
    "default_probability",
    "consolidation_score",
    "consolidation_low",
    "consolidation_high",
    "value_per_share",
    "share_price",
    "upside",
)


def test_summary_contract_and_fractions(result: RunResult) -> None:
    s = result.summary
    assert set(SUMMARY_COLUMNS) <= set(s.columns)
    assert any(c.startswith("contrib_") for c in s.columns)
    assert s.height == len(NAMED) * (len(NAMED_SCENARIOS) + 147 + 105)
    for col in (
        "ohlson_probability",
        "default_probability",
        "consolidation_score",
        "consolidation_low",
        "consolidation_high",
    ):
        v = s[col].drop_nulls().to_numpy()
        assert ((v >= 0) & (v <= 1)).all(), col
    assert (s["consolidation_low"] <= s["consolidation_high"]).all()
    for col in s.columns:
        if s[col].dtype == pl.Float64:
            assert not s[col].is_nan().any() and not s[col].is_infinite().any(), col


def test_harsher_export_shock_never_lowers_the_score_or_raises_distance_to_default(
    result: RunResult,
) -> None:
    g = result.summary.filter(pl.col("scenario_kind") == "grid").sort(
        "ticker", "output_cut", "export_shock"
    )
    for (_t, _c), grp in g.group_by(["ticker", "output_cut"], maintain_order=True):
        score = grp["consolidation_score"].to_numpy()
        assert (np.diff(score) >= -1e-12).all()
        dd = grp["distance_to_default"].to_numpy()
        dd = dd[~np.isnan(dd.astype(float))]
        assert (np.diff(dd) <= 1e-9).all()
        vps = grp["value_per_share"].to_numpy()
        assert (np.diff(vps) <= 1e-9).all()


def test_reverse_stress_contract(result: RunResult) -> None:
    rev = result.extras["reverse_stress"]
    for col in (
        "ticker",
        "share_price",
        "price_date",
        "value_no_shock",
        "implied_export_shock",
        "shock_cash_breaks",
        "shock_icr_below_1",
        "status",
    ):
        assert col in rev.columns
    assert rev["ticker"].to_list() == sorted(NAMED) or set(rev["ticker"]) == set(NAMED)
    assert rev["status"].is_not_null().all()


def test_cli_run_prints_the_seed_quarters_and_the_implied_shock(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main,
        [
            "run",
            "--inputs",
            str(ROOT / "inputs"),
            "--outputs",
            str(tmp_path),
            "--firms",
            ",".join(NAMED),
            "--no-workbooks",
        ],
    )
    assert res.exit_code == 0, res.output
    out = res.output
    for t in NAMED:
        assert f"  {t}: first quarter below minimum cash:" in out
        assert f"  {t}: price " in out and "implied export shock:" in out
    for label in ("revenue", "inventory", "storage cost", "cash"):
        assert f"  {label}\n" in out
    files = {p.name for p in (tmp_path / "2025Q2").iterdir()}
    assert {
        "projections.parquet",
        "scenarios.csv",
        "summary.csv",
        "reverse_stress.csv",
        "manifest.json",
    } <= files


def test_numeric_core_imports_no_io_or_cli_libraries() -> None:
    code = (
        "import sys\n"
        "import stressmodel.model.quarter, stressmodel.model.engine, stressmodel.model.reference\n"
        "import stressmodel.analysis.valuation, stressmodel.analysis.risk\n"
        "import stressmodel.analysis.consolidation, stressmodel.analysis.distress\n"
        "import stressmodel.analysis.scoring, stressmodel.analysis.reverse, stressmodel.model.cases\n"
        "bad = [m for m in ('click', 'openpyxl', 'xlsxwriter') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_earlier_run_reader_keeps_the_named_scenarios(result: RunResult, tmp_path: Path) -> None:
    """Tracking reads an earlier run's projections.parquet: with grid rows (scenario_kind)
    it gets the named scenarios only; an older parquet (named rows, no scenario_kind) is
    read as it is. Both give the same frame."""
    from stressmodel.run.outputs import read_earlier_run

    new = tmp_path / "new" / result.as_of_label
    old = tmp_path / "old" / result.as_of_label
    for folder in (new, old):
        folder.mkdir(parents=True)
    table = projection_table(result)
    assert table.filter(pl.col("scenario_kind") != "named").height > 0
    table.write_parquet(new / "projections.parquet")
    table.filter(pl.col("scenario_kind") == "named").drop("scenario_kind").write_parquet(
        old / "projections.parquet"
    )
    got_new, got_old = read_earlier_run(new).projections, read_earlier_run(old).projections
    assert got_new is not None and got_old is not None
    assert set(got_new["scenario"].unique()) == set(NAMED_SCENARIOS)
    assert got_new.equals(got_old)
