"""The benchmark: synthetic universes (bases and input files), a smoke run with tiny N,
the JSON figures, workbook figures reported as unavailable with a status, and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from stressmodel import bench
from stressmodel.cli import main
from stressmodel.errors import UsageError
from stressmodel.inputs.load import load_inputs
from stressmodel.model.cases import case_frame
from stressmodel.model.engine import project
from stressmodel.model.quarter import ALL_FIRM_PARAMS

REPO = Path(__file__).resolve().parents[1]
INPUTS = REPO / "inputs"
REQUIRED = (
    "engine_rows_per_second",
    "speedup_vs_naive",
    "peak_rss_mb",
    "end_to_end_seconds_100_firms",
    "workbook_cells_per_second",
)


@pytest.fixture(scope="module")
def setting() -> bench.Setting:
    return bench.setting(INPUTS)


def test_parse_sizes() -> None:
    assert bench.parse_sizes(None) is None
    assert bench.parse_sizes("2, 10,2") == (2, 10)
    for bad in ("x", "0", "2,-1", "10000", ","):
        with pytest.raises(UsageError):
            bench.parse_sizes(bad)


def test_templates_put_the_named_firms_first(setting: bench.Setting) -> None:
    assert setting.templates[:2] == bench.NAMED_FIRMS
    assert len(setting.grid) == 147 and setting.grid_frame.height == 147


def test_synthetic_bases_are_seeded_perturbed_and_balanced(setting: bench.Setting) -> None:
    a = bench.synthetic_bases(setting.shipped, setting.templates, 12)
    b = bench.synthetic_bases(setting.shipped, setting.templates, 12)
    small = bench.synthetic_bases(setting.shipped, setting.templates, 3)
    fa = a.frame()
    assert fa.height == 12 and fa["ticker"].n_unique() == 12
    assert fa.equals(b.frame())
    assert fa.head(3).equals(small.frame())  # firm i is the same in every universe size
    assert fa["ticker"][0].startswith("60") and fa["ticker"][0].endswith(".SH")
    assert fa["ticker"][1].startswith("30") and fa["ticker"][1].endswith(".SZ")
    # perturbed: no synthetic firm equals its template
    shipped = setting.shipped.frame()
    for i, t in enumerate(fa["ticker"].to_list()):
        template = shipped.filter(pl.col("ticker") == setting.templates[i % len(setting.templates)])
        assert any(fa[f"f_{p}"][i] != template[f"f_{p}"][0] for p in ALL_FIRM_PARAMS), t
    # the opening balance sheet still balances: balance_check ~ 0 in every quarter
    cases = case_frame(fa, setting.grid_frame.head(3))
    proj = project(
        cases,
        bench.GRID_HORIZON,
        setting.labels,
        setting.as_of + 1,
        outputs=["balance_check", "total_assets"],
    )
    assert (proj["balance_check"].abs() <= 1e-9 * proj["total_assets"].abs()).all()


def test_synthetic_inputs_validate(setting: bench.Setting, tmp_path: Path) -> None:
    tickers = bench.write_synthetic_inputs(INPUTS, tmp_path, setting.templates, 9)
    loaded = load_inputs(tmp_path)  # raises InputError listing every problem if not valid
    assert sorted(loaded.tickers) == sorted(tickers) and len(tickers) == 9
    assert {r["default_run"] for r in loaded.register} == {"yes"}
    # a synthetic firm's money is its template's x one size factor; ratios unchanged
    shipped = load_inputs(INPUTS)
    src = {(r["period"], r["item"]): r["value"] for r in shipped.statements[setting.templates[0]]}
    syn = {(r["period"], r["item"]): r["value"] for r in loaded.statements[tickers[0]]}
    factors = {
        round(syn[k] / v, 9) for k, v in src.items() if k[1] in ("revenue", "total_assets") and v
    }
    assert len(factors) == 1 and next(iter(factors)) != 1.0
    ratios = [
        k for k in src if k[1] in ("receivable_days", "inventory_days", "overseas_revenue_share")
    ]
    assert ratios and all(syn[k] == src[k] for k in ratios)


def test_peak_rss_sampler() -> None:
    with bench.PeakRss() as mem:
        block = bytearray(64 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])
    assert mem.peak_mb >= mem.before_mb + 32
    del block


def test_benchmark_smoke_with_tiny_n(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stage but the end-to-end run, with 2 and 3 firms: figures present, finite,
    JSON-ready; the engine reproduces the naive loops (to 1e-12 relative)."""
    report = bench.run_benchmark(
        INPUTS,
        sizes=(2, 3),
        repeats=1,
        naive_firms=1,
        mc_paths=300,
        end_to_end_sizes=(),
        shipped_run=False,
        fanout_firms=0,
    )
    text = json.dumps(report)
    for key in REQUIRED:
        assert key in report
    assert report["engine_rows_per_second"] > 0 and math.isfinite(report["engine_rows_per_second"])
    assert report["speedup_vs_naive"] > 0 and math.isfinite(
        report["speedup_vs_naive"]
    )  # a figure, not a timed assertion
    assert report["engine_equals_naive"] is True and report["naive"]["values_different"] == 0
    assert report["end_to_end_seconds_100_firms"] is None
    assert report["sizes"]["3"]["projection"]["rows"] == 3 * 147 * 12
    assert report["sizes"]["3"]["projection"]["max_balance_check_relative"] < 1e-9
    assert report["montecarlo"]["paths"] == 300 and report["montecarlo"]["firms"] == list(
        bench.NAMED_FIRMS
    )
    assert report["peak_rss_mb"] > 0
    assert "engine_rows_per_second" in json.loads(text)
    # the engines side by side: the kernels agree with the polars reference
    engines = report["sizes"]["3"]["engines"]
    for backend in ("numpy", "fused", "fused_1_thread"):
        assert engines[backend]["max_relative_difference_to_polars"] <= 1e-12
        assert engines[backend]["rows_per_cpu_second"] > 0
    # issue 17's engine figure is on its 77-scenario grid (export shock in steps of 0.1)
    assert engines["scenarios"] == 77 and engines["rows"] == 3 * 77 * 12
    assert engines["fused_1_thread"]["threads"] == 1
    assert report["engine_figure_rows"] == 3 * 77 * 12
    assert report["speedup_vs_naive_fused"] > 0
    assert report["store_bound_rows_per_second_all_cores"] > 0
    load = report["machine_load"]
    assert set(load) >= {"load_average_1min_start", "load_average_1min_end", "cpus"}
    assert report["engine_rows_per_second_polars"] > 0
    assert report["store_bound_rows_per_second_per_core"] > 0
    assert report["shipped_run_seconds"] is None  # not asked for here
    assert "speed-up vs naive" in bench.format_report(report)


def test_workbooks_unavailable_are_reported_with_a_status(
    monkeypatch: pytest.MonkeyPatch, setting: bench.Setting
) -> None:
    from stressmodel.errors import ReportError
    from stressmodel.run import app

    def missing() -> None:
        raise ReportError(
            "workbooks cannot be written (cannot import name 'write_workbooks'); rerun with --no-workbooks"
        )

    monkeypatch.setattr(app, "workbook_writer", missing)
    ok, status = bench.workbook_status()
    assert not ok and status.startswith("unavailable: workbooks cannot be written")
    report = {
        "sizes": {
            "2": {
                "projection": {
                    "rows_per_second": 1.0,
                    "cold_rows_per_second": 1.0,
                    "subset_rows_per_second": 1.0,
                    "peak_rss_mb": 1.0,
                },
                "risk_valuation": {"peak_rss_mb": 1.0},
                "end_to_end": {"firms": 2, "seconds": 1.0, "workbooks": False, "peak_rss_mb": 1.0},
            }
        },
        "naive": {"naive_rows_per_second": 1.0, "speedup_same_cases": 1.0, "identical": True},
        "montecarlo": {"seconds": 1.0},
        "workbook_status": status,
    }
    figures = bench.summary_figures(report)
    assert figures["workbook_cells_per_second"] is None
    assert figures["workbook_status"] == status


@pytest.mark.slow
def test_end_to_end_stage_with_two_firms(setting: bench.Setting) -> None:
    ok, status = bench.workbook_status()
    out = bench.bench_end_to_end(setting, 2, ok, status)
    scenarios = setting.inputs.scenarios
    # every named scenario and the run's whole sensitivity grid (147 points since issue 15)
    assert out["seconds"] > 0 and out["cases"] == 2 * (
        len(scenarios.named) + len(list(scenarios.grid_scenarios()))
    )
    assert out["stage_seconds"]["projection"] >= 0
    if out["workbooks"]:
        assert out["workbook_cells"] > 0 and out["workbook_cells_per_second"] > 0
    else:
        assert out["workbook_status"].startswith(("unavailable", "failed"))


def test_cli_help_and_bad_sizes() -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["bench", "--help"])
    assert res.exit_code == 0
    for option in ("--quick", "--json", "--sizes", "--inputs"):
        assert option in res.stdout
    res = runner.invoke(main, ["bench", "--sizes", "two"])
    assert res.exit_code == 2
    assert "--sizes takes comma-separated firm counts" in res.stderr


@pytest.mark.slow
def test_cli_json_with_tiny_n() -> None:
    res = CliRunner().invoke(main, ["bench", "--sizes", "2", "--json"])
    assert res.exit_code == 0, res.output
    figures = json.loads(res.stdout)
    for key in REQUIRED:
        assert key in figures
    assert figures["sizes"]["2"]["end_to_end"]["firms"] == 2


def test_cell_count_equals_reading_every_cell_back(tmp_path: Path) -> None:
    """The benchmark counts cells from the sheets' XML; openpyxl reading every cell back
    (values and formulas, blanks skipped) gives the same count, on a workbook with
    formatted blanks, formulas, numbers, strings and an empty string."""
    import xlsxwriter
    from openpyxl import load_workbook

    path = tmp_path / "cells.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    fmt = wb.add_format({"bold": True})
    ws = wb.add_worksheet("a")
    ws.write_number(0, 0, 1.5)
    ws.write_string(0, 1, "text")
    ws.write_formula(1, 0, "=A1*2", None, 3.0)
    ws.write_blank(2, 0, None, fmt)
    ws.write_string(3, 3, "x", fmt)
    ws2 = wb.add_worksheet("b")
    ws2.write_number(5, 5, 0)
    ws2.write_blank(0, 0, None, fmt)
    wb.close()
    book = load_workbook(path, read_only=True)
    expected = sum(
        v is not None for s in book.worksheets for row in s.iter_rows(values_only=True) for v in row
    )
    book.close()
    assert expected == 5
    assert bench.count_cells([path]) == expected
