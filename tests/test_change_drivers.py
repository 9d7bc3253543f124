"""Why the change report's metrics moved (issue 19): run/drivers.py.

A hand-worked attribution on small frames, then the shipped inputs: Earth-Panda
(688077.SH) from 2025Q2 to 2025Q4 -- changes.csv's metrics have drivers in
change_drivers.csv whose contributions add up to each change and whose shares add up to
1, the base figures that moved are listed old -> new with their basis (checked against
the statements file), metrics undefined in both runs say why once, and the Changes sheet
shows the top drivers."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import polars as pl
import pytest

from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import parse_quarter
from stressmodel.pipeline.stages import RunOptions
from stressmodel.report import workbook_specs
from stressmodel.report.changes import top_drivers
from stressmodel.run import drivers, history
from stressmodel.run.app import run_and_write

REPO = Path(__file__).resolve().parents[1]
INPUTS = REPO / "inputs"
PANDA = "688077.SH"
DRIVERS = {"statements", "prices", "trade", "assumptions", "as_of_shift", "interaction"}


def _metrics(rows: list[tuple[str, str, float | None, int | None]]) -> pl.DataFrame:
    tickers = [r[0] for r in rows]
    summary = pl.DataFrame(
        {
            "ticker": tickers,
            "scenario": [r[1] for r in rows],
            "scenario_kind": ["named"] * len(rows),
            "value_per_share": [r[2] for r in rows],
            "value_status": ["ok"] * len(rows),
            "consolidation_score": [0.5] * len(rows),
            "score_status": ["ok"] * len(rows),
            "cash_runway_quarters": [r[3] for r in rows],
            "runway_status": [
                "ok" if r[3] is not None else "no revolving draw within 8 quarters" for r in rows
            ],
        },
        schema_overrides={"cash_runway_quarters": pl.Int64, "value_per_share": pl.Float64},
    )
    reverse = pl.DataFrame(
        {
            "ticker": tickers,
            "implied_export_shock": [0.2] * len(rows),
            "status": ["solved"] * len(rows),
        }
    )
    return history.run_metrics(summary, reverse)


def test_attribution_by_hand() -> None:
    """Value per share 10 -> 16. Statements reverted: 12 (contribution 16 - 12 = 4);
    prices reverted: 15 (1); trade unchanged (0); assumptions unchanged (0); the model as
    of the new quarter on the old inputs: 10.5 (as-of shift 10.5 - 10 = 0.5); interaction
    6 - 4 - 1 - 0.5 = 0.5. Shares 4/6, 1/6, 0, 0, 0.5/6, 0.5/6."""
    prev = _metrics([("A.SH", "baseline", 10.0, None)])
    cur = _metrics([("A.SH", "baseline", 16.0, None)])
    changes = history.change_report(prev, cur, previous_as_of="2025Q2", as_of="2025Q4")
    reverted = {
        "statements": drivers.Reverted(
            "statements", _metrics([("A.SH", "baseline", 12.0, None)]), ""
        ),
        "prices": drivers.Reverted("prices", _metrics([("A.SH", "baseline", 15.0, None)]), ""),
        "trade": drivers.Reverted("trade", None, drivers.UNCHANGED),
        "assumptions": drivers.Reverted("assumptions", None, "not dated"),
        "as_of_shift": drivers.Reverted(
            "as_of_shift", _metrics([("A.SH", "baseline", 10.5, None)]), ""
        ),
    }
    empty = pl.DataFrame(schema=drivers.INPUT_SCHEMA)
    table = drivers.driver_table(changes, prev, cur, reverted, empty)
    v = {
        r["driver"]: r
        for r in table.filter(pl.col("metric") == "value_per_share").iter_rows(named=True)
    }
    assert set(v) == DRIVERS
    expected = {
        "statements": 4.0,
        "prices": 1.0,
        "trade": 0.0,
        "assumptions": 0.0,
        "as_of_shift": 0.5,
        "interaction": 0.5,
    }
    for d, c in expected.items():
        assert v[d]["contribution"] == pytest.approx(c, abs=1e-12), d
        assert v[d]["share"] == pytest.approx(c / 6.0, abs=1e-12), d
    assert [v[d]["rank"] for d in ("statements", "prices")] == [1, 2]
    assert v["trade"]["status"] == "unchanged" and v["statements"]["status"] == "explained"
    # the Changes sheet's top drivers: the two largest, zero contributions left out
    top = top_drivers(table)
    assert top["driver"].to_list() == ["statements", "prices"]
    assert top_drivers(table, n=6)["driver"].to_list() == [
        "statements",
        "prices",
        "as_of_shift",
        "interaction",
    ]
    # runway undefined in both runs: one row, no drivers, the reason said once
    r = table.filter(pl.col("metric") == "cash_runway_quarters").to_dicts()
    assert len(r) == 1 and r[0]["driver"] is None and r[0]["status"] == "missing_both"
    assert (
        r[0]["note"]
        == "cash_runway_quarters undefined in both runs: no revolving draw within 8 quarters"
    )
    # edited assumption files cannot be reverted: no contribution, the effect in the interaction
    edited = drivers.driver_table(changes, prev, cur, reverted, empty, edited=["sector.toml"])
    e = {
        r["driver"]: r
        for r in edited.filter(pl.col("metric") == "value_per_share").iter_rows(named=True)
    }
    assert (
        e["assumptions"]["status"] == "not_revertible" and e["assumptions"]["contribution"] is None
    )
    assert "sector.toml" in e["assumptions"]["note"]
    assert sum(x["share"] for x in e.values() if x["share"] is not None) == pytest.approx(1.0)


def test_edited_assumption_files_from_hashes() -> None:
    now = {"inputs/sector.toml": "a", "inputs/trade.csv": "x", "inputs/firms.csv": "f"}
    before = {"inputs/sector.toml": "b", "inputs/trade.csv": "y", "inputs/firms.csv": "f"}
    assert drivers.edited_assumption_files(now, before) == ["sector.toml"]
    assert (
        drivers.edited_assumption_files(now, ["not", "a", "table"]) == []
    )  # a hand-edited manifest


@pytest.fixture(scope="module")
def panda_runs(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("panda")
    inputs = load_inputs(INPUTS)
    for q in ("2025Q2", "2025Q4"):
        report = run_and_write(
            INPUTS,
            out,
            RunOptions(as_of=parse_quarter(q), firms=(PANDA,)),
            workbooks=False,
            inputs=inputs,
        )
    return out, report, inputs


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _num(text: str) -> float | None:
    return None if text == "" else float(text)


def test_panda_2025q2_to_2025q4_drivers_add_up(panda_runs) -> None:
    out, _report, _inputs = panda_runs
    folder = out / "2025Q4"
    changes = [r for r in _read(folder / "changes.csv") if r["ticker"] == PANDA]
    rows = [r for r in _read(folder / "change_drivers.csv") if r["ticker"] == PANDA]
    assert changes and rows
    assert {r["previous_as_of"] for r in changes} == {"2025Q2"}
    earlier = {
        r["scenario"]: r for r in _read(out / "2025Q2" / "summary.csv") if r["ticker"] == PANDA
    }
    later = {r["scenario"]: r for r in _read(folder / "summary.csv") if r["ticker"] == PANDA}
    compared = 0
    for ch in changes:
        for m in (
            "value_per_share",
            "consolidation_score",
            "cash_runway_quarters",
            "implied_export_shock",
        ):
            mine = [r for r in rows if r["scenario"] == ch["scenario"] and r["metric"] == m]
            if ch[f"{m}_status"] != "compared":
                assert (
                    len(mine) == 1
                    and mine[0]["driver"] == ""
                    and mine[0]["status"] == ch[f"{m}_status"]
                )
                continue
            compared += 1
            assert {r["driver"] for r in mine} == DRIVERS
            change = float(ch[f"{m}_change"])
            assert all(_num(r["change"]) == pytest.approx(change, abs=1e-12) for r in mine)
            total = sum(_num(r["contribution"]) or 0.0 for r in mine)
            assert total == pytest.approx(change, abs=1e-9), (ch["scenario"], m)
            if abs(change) > 1e-9:
                assert sum(_num(r["share"]) or 0.0 for r in mine) == pytest.approx(1.0, abs=1e-9)
            if m in ("value_per_share", "consolidation_score"):
                # the change is between the two runs' own figures
                assert _num(mine[0]["metric_previous"]) == pytest.approx(
                    float(earlier[ch["scenario"]][m])
                )
                assert _num(mine[0]["metric_current"]) == pytest.approx(
                    float(later[ch["scenario"]][m])
                )
    assert compared >= 10  # value per share and consolidation score of five scenarios


def test_panda_value_moved_with_its_statements(panda_runs) -> None:
    """Earth-Panda's 2025Q2 base was its FY2024 figures (its latest TTM then); by 2025Q4
    the 2025Q3 TTM and FY2025 reports have arrived: the statements explain the value's
    rise, and the base figures that moved are listed old -> new with their basis."""
    out, _report, _inputs = panda_runs
    folder = out / "2025Q4"
    rows = [
        r
        for r in _read(folder / "change_drivers.csv")
        if r["ticker"] == PANDA and r["scenario"] == "baseline"
    ]
    value = {r["driver"]: r for r in rows if r["metric"] == "value_per_share"}
    assert value["statements"]["rank"] == "1"
    assert float(value["statements"]["share"]) > 0.5
    assert "new statement periods: 2025Q3-TTM, FY2025" in value["statements"]["changed"]
    # the base figures that moved, checked against the statements file and the earlier run
    inputs_rows = {
        r["name"]: r for r in _read(folder / "change_inputs.csv") if r["ticker"] == PANDA
    }
    statement = {
        (r["period"], r["item"]): float(r["value"])
        for r in _read(INPUTS / "statements" / f"{PANDA}.csv")
    }
    earlier = {
        r["figure"]: r for r in _read(out / "2025Q2" / "base_figures.csv") if r["ticker"] == PANDA
    }
    ebit = inputs_rows["ebit_ttm"]
    assert float(ebit["current"]) == statement[("FY2025", "operating_income")]
    assert float(ebit["previous"]) == pytest.approx(float(earlier["ebit_ttm"]["value"]))
    assert (ebit["previous_basis"], ebit["current_basis"]) == (
        earlier["ebit_ttm"]["basis"],
        "reported",
    )
    assert float(inputs_rows["revenue_ttm"]["current"]) == statement[("FY2025", "revenue")]
    assert (
        f"ebit_ttm {float(ebit['previous']):,.2f} -> 88.37 ({ebit['previous_basis']} -> reported)"
        in value["statements"]["changed"]
    )


def test_panda_undefined_metrics_say_why_once(panda_runs) -> None:
    out, report, inputs = panda_runs
    folder = out / "2025Q4"
    for ch in _read(folder / "changes.csv"):
        if ch["cash_runway_quarters_status"] == "missing_both":
            assert ch["notes"].count("cash_runway_quarters") == 1
            assert (
                "cash_runway_quarters undefined in both runs: no revolving draw within"
                in ch["notes"]
            )
    sheet = next(
        s for s in workbook_specs(report.result, inputs) if s.filename == "sector_summary.xlsx"
    ).sheet("Changes")
    texts = [c.value for c in sheet.cells.values() if isinstance(c.value, str)]
    assert any(t.startswith("Top drivers of each change") for t in texts)
    assert (
        "statements" in texts and "Metrics without a change to explain (each reason once)" in texts
    )
    undefined = [
        t
        for t in texts
        if t == "cash_runway_quarters undefined in both runs: no revolving draw within 8 quarters"
    ]
    assert len(undefined) == 1  # once for the firm, not once per scenario
    numbers = [c.value for c in sheet.cells.values() if isinstance(c.value, float)]
    assert all(math.isfinite(v) for v in numbers)


def test_drivers_open_no_files() -> None:
    """run/drivers.py is pure apart from running the model: no I/O or CLI library."""
    import subprocess
    import sys

    code = (
        "import sys, stressmodel.run.drivers\n"
        "bad = [m for m in ('click', 'openpyxl', 'xlsxwriter', 'stressmodel.run.outputs',\n"
        "       'stressmodel.cli', 'stressmodel.run.app') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
