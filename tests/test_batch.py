"""``stressmodel batch``, the change report and scenario tracking.

Hand-checkable cases for the pure functions of :mod:`stressmodel.run.history`, then batches on
the shipped inputs (two firms, no workbooks; the full default set in a slow test).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

from stressmodel.cli import main
from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import parse_quarter
from stressmodel.inputs.scenarios import NAMED_SCENARIOS
from stressmodel.inputs.statements import build
from stressmodel.pipeline.stages import RunOptions
from stressmodel.run import history
from stressmodel.run.batch import batch_json, batch_text, run_batch

REPO = Path(__file__).resolve().parents[1]
INPUTS = REPO / "inputs"
FIRMS = ("603072.SH", "300224.SZ")
Q = parse_quarter


# --- change report: hand-made frames -------------------------------------------------------


def _metrics(rows: list[tuple]) -> pl.DataFrame:
    summary = pl.DataFrame(
        [
            {
                "ticker": t,
                "scenario": s,
                "scenario_kind": "named",
                "value_per_share": v,
                "value_status": vs,
                "consolidation_score": c,
                "score_status": "ok",
                "cash_runway_quarters": r,
                "runway_status": "no revolving draw within 8 quarters"
                if r is None
                else f"first draw in quarter {r}",
            }
            for t, s, v, vs, c, r in rows
        ],
        schema_overrides={"value_per_share": pl.Float64, "cash_runway_quarters": pl.Int64},
    )
    tickers = sorted({r[0] for r in rows})
    reverse = pl.DataFrame(
        {
            "ticker": tickers,
            "implied_export_shock": [0.25] * len(tickers),
            "status": ["solved"] * len(tickers),
        }
    )
    return history.run_metrics(summary, reverse)


def test_change_report_by_hand():
    prev = _metrics(
        [
            ("000001.SZ", "baseline", 10.0, "ok", 0.30, None),
            ("000001.SZ", "seed", 8.0, "ok", 0.40, 5),
            ("000002.SZ", "baseline", None, "n/a: equity value is negative", 0.50, 3),
        ]
    )
    cur = _metrics(
        [
            ("000001.SZ", "baseline", 12.5, "ok", 0.25, 6),
            ("000001.SZ", "seed", 7.0, "ok", 0.45, 4),
            ("000003.SH", "baseline", 3.0, "ok", 0.10, None),
        ]
    )
    ch = history.change_report(
        prev, cur, previous_as_of="2025Q1", as_of="2025Q2", scenario_order=["baseline", "seed"]
    )
    assert ch.columns[:5] == ["ticker", "scenario", "previous_as_of", "as_of", "row_status"]
    rows = {(r["ticker"], r["scenario"]): r for r in ch.iter_rows(named=True)}
    assert list(rows) == [
        ("000001.SZ", "baseline"),
        ("000001.SZ", "seed"),
        ("000002.SZ", "baseline"),
        ("000003.SH", "baseline"),
    ]
    b = rows[("000001.SZ", "baseline")]
    assert (b["previous_as_of"], b["as_of"], b["row_status"]) == ("2025Q1", "2025Q2", "both")
    assert b["value_per_share_change"] == pytest.approx(2.5)
    assert b["consolidation_score_change"] == pytest.approx(-0.05)
    # no draw within the horizon before, a draw in quarter 6 now: no difference to take
    assert b["cash_runway_quarters_prev"] is None and b["cash_runway_quarters"] == 6
    assert b["cash_runway_quarters_status"] == "missing_previous"
    assert b["cash_runway_quarters_change"] is None
    assert "cash_runway_quarters 2025Q1: no revolving draw within 8 quarters" in b["notes"]
    assert (
        b["implied_export_shock_change"] == 0.0 and b["implied_export_shock_status"] == "compared"
    )
    s = rows[("000001.SZ", "seed")]
    assert (s["value_per_share_change"], s["cash_runway_quarters_change"]) == (
        pytest.approx(-1.0),
        -1,
    )
    assert s["notes"] == ""
    d = rows[("000002.SZ", "baseline")]
    assert d["row_status"] == "dropped" and d["value_per_share_status"] == "missing_both"
    assert d["consolidation_score_status"] == "missing_current"
    assert "value_per_share 2025Q1: n/a: equity value is negative" in d["notes"]
    assert "not in the 2025Q2 run" in d["notes"]
    n = rows[("000003.SH", "baseline")]
    assert n["row_status"] == "new" and n["value_per_share_status"] == "missing_previous"
    assert n["notes"].startswith("not in the 2025Q1 run")
    assert ch.schema["cash_runway_quarters_change"] == pl.Int64


def test_run_metrics_reads_back_its_own_csv(tmp_path):
    """The previous run is read from its CSV files as text; the metrics come out typed and
    equal to those of the frames in memory."""
    from stressmodel.run.outputs import read_csv_text, write_csv

    cur = _metrics(
        [
            ("000001.SZ", "baseline", 1.0 / 3.0, "ok", 0.1, 2),
            ("000001.SZ", "seed", None, "=odd", 0.2, None),
        ]
    )
    summary = cur.select(
        "ticker",
        "scenario",
        pl.lit("named").alias("scenario_kind"),
        "value_per_share",
        pl.col("value_per_share__why").alias("value_status"),
        "consolidation_score",
        pl.col("consolidation_score__why").alias("score_status"),
        "cash_runway_quarters",
        pl.col("cash_runway_quarters__why").alias("runway_status"),
    )
    write_csv(summary, tmp_path / "summary.csv")
    write_csv(
        pl.DataFrame(
            {"ticker": ["000001.SZ"], "implied_export_shock": [0.25], "status": ["solved"]}
        ),
        tmp_path / "reverse_stress.csv",
    )
    back = history.run_metrics(
        read_csv_text(tmp_path / "summary.csv"), read_csv_text(tmp_path / "reverse_stress.csv")
    )
    assert_frame_equal(back, cur)


# --- scenario tracking: hand-made case ------------------------------------------------------


def _row(item: str, period: str, value: float) -> dict:
    from stressmodel.inputs.periods import parse_period

    p = parse_period(period)
    return {
        "item": item,
        "period": period,
        "value": value,
        "end": p.end,
        "span": p.span,
        "kind": p.kind.value,
        "source": "test",
        "note": "",
        "line": 2,
    }


def test_actuals_single_quarters_from_year_to_date_and_balances():
    rows = [
        _row("revenue", "2025Q1", 100.0),
        _row("revenue", "2025H1", 230.0),
        _row("revenue", "2025-9M", 390.0),
        _row("net_income", "2025H1", 20.0),
        _row("cash_and_equivalents", "2025Q2", 55.0),
        _row("inventory", "2025Q3", 80.0),
    ]
    a = history.actuals_frame(
        {"000001.SZ": rows}, ["000001.SZ"], [Q("2025Q2"), Q("2025Q3")], Q("2025Q3")
    )
    got = {(r["item"], r["quarter"]): r for r in a.iter_rows(named=True)}
    assert got[("revenue", "2025Q2")]["actual"] == pytest.approx(130.0)  # H1 - Q1
    assert got[("revenue", "2025Q2")]["actual_how"] == "2025Q2 revenue = 2025H1 - 2025Q1"
    assert got[("revenue", "2025Q3")]["actual"] == pytest.approx(160.0)  # 9M - H1
    assert got[("net_income", "2025Q2")]["actual"] is None
    assert got[("net_income", "2025Q2")]["unavailable_reason"] == (
        "2025H1 net_income is reported but not 2025Q1, so the 2025Q2 quarter cannot be derived"
    )
    assert got[("cash", "2025Q2")]["actual"] == 55.0 and got[("cash", "2025Q3")]["actual"] is None
    assert got[("inventory", "2025Q3")]["actual"] == 80.0
    # nothing dated after the as-of quarter is used
    b = history.actuals_frame(
        {"000001.SZ": rows}, ["000001.SZ"], [Q("2025Q2"), Q("2025Q3")], Q("2025Q2")
    )
    assert b["quarter"].unique().to_list() == ["2025Q2"]


def test_tracking_errors_by_hand():
    """Two scenarios projected from 2025Q1, actual revenue 100 and 200 in 2025Q2-Q3 and
    net income 10 in 2025Q2 (Q3 unavailable, a zero cash balance in Q2).

    low:  revenue 90, 180 -> APE 0.10, 0.10; net income 5 -> 0.50
    high: revenue 120, 260 -> 0.20, 0.30; net income 11 -> 0.10
    scenario MAPE: low (0.1 + 0.1 + 0.5) / 3 = 0.2333; high (0.2 + 0.3 + 0.1) / 3 = 0.2
    -> high is closest overall; low for revenue (0.10 vs 0.25), high for net income.
    """
    q2, q3 = Q("2025Q2"), Q("2025Q3")
    proj = pl.DataFrame(
        {
            "ticker": ["000001.SZ"] * 6,
            "scenario": ["low"] * 3 + ["high"] * 3,
            "quarter": ["2025Q2", "2025Q3", "2025Q4"] * 2,
            "quarter_index": [q2, q3, q3 + 1] * 2,
            "revenue": [90.0, 180.0, 1.0, 120.0, 260.0, 1.0],
            "net_income": [5.0, 5.0, 1.0, 11.0, 11.0, 1.0],
            "inventory": [50.0] * 6,
            "cash": [30.0] * 6,
        }
    )
    actuals = pl.DataFrame(
        [
            {
                "ticker": "000001.SZ",
                "item": it,
                "quarter_index": q,
                "quarter": "",
                "actual": v,
                "actual_basis": None if v is None else "reported",
                "actual_how": None,
                "unavailable_reason": "no report" if v is None else None,
            }
            for it, q, v in [
                ("revenue", q2, 100.0),
                ("revenue", q3, 200.0),
                ("net_income", q2, 10.0),
                ("net_income", q3, None),
                ("inventory", q2, None),
                ("inventory", q3, None),
                ("cash", q2, 0.0),
                ("cash", q3, None),
            ]
        ],
        schema=history.ACTUAL_SCHEMA,
    )
    t = history.tracking_table(
        actuals,
        {Q("2025Q1"): proj},
        as_of=q3,
        tickers=["000001.SZ"],
        scenario_order=["low", "high"],
    )
    assert t.columns == list(history.TRACKING_COLUMNS)
    assert t.height == 2 * 4 * 2  # scenarios x items x quarters up to the as-of quarter
    assert set(t["forecast_as_of"]) == {"2025Q1"} and set(t["as_of"]) == {"2025Q3"}
    s = history.tracking_summary(t)
    low = s.filter(pl.col("scenario") == "low").row(0, named=True)
    high = s.filter(pl.col("scenario") == "high").row(0, named=True)
    assert low["scenario_mape"] == pytest.approx(0.7 / 3) and low["scenario_n"] == 3
    assert high["scenario_mape"] == pytest.approx(0.2) and high["scenario_rank"] == 1
    assert low["scenario_rank"] == 2 and low["closest_scenario"] == "high"
    assert low["mape_revenue"] == pytest.approx(0.1) and high["mape_revenue"] == pytest.approx(0.25)
    assert high["mape_net_income"] == pytest.approx(0.1) and low["mape_inventory"] is None
    item_best = {r["item"]: r["item_closest_scenario"] for r in t.iter_rows(named=True)}
    assert item_best["revenue"] == "low" and item_best["net_income"] == "high"
    assert item_best["inventory"] is None
    cash = t.filter((pl.col("item") == "cash") & (pl.col("quarter") == "2025Q2")).row(0, named=True)
    assert (
        cash["status"] == "actual_zero" and cash["abs_pct_error"] is None and cash["error"] == 30.0
    )
    ni3 = t.filter((pl.col("item") == "net_income") & (pl.col("quarter") == "2025Q3")).row(
        0, named=True
    )
    assert ni3["status"] == "actual_unavailable" and ni3["status_detail"] == "no report"
    assert "excludes non-operating items" in ni3["note"]
    assert history.unavailable_actuals(t)[0] == {
        "ticker": "000001.SZ",
        "item": "net_income",
        "quarter": "2025Q3",
        "reason": "no report",
    }


def test_tracking_with_no_earlier_projection_is_empty():
    empty = history.tracking_table(
        pl.DataFrame(schema=history.ACTUAL_SCHEMA), {}, as_of=Q("2025Q2"), tickers=[]
    )
    assert empty.is_empty() and empty.columns == list(history.TRACKING_COLUMNS)


# --- batches on the shipped inputs -----------------------------------------------------------


@pytest.fixture(scope="module")
def two_firm_batch(tmp_path_factory: pytest.TempPathFactory):
    """2025Q1 to 2025Q3 for two firms, run in-process; the workbook writer is replaced by
    one that records what it is given (the real one renders extras["changes"] and
    extras["tracking"] as sheets)."""
    import stressmodel.run.app as app

    seen: dict[str, set[str]] = {}

    def fake_writer(result, _inputs, folder):
        seen[result.as_of_label] = set(result.extras)
        (folder / "sector_summary.xlsx").write_bytes(b"stand-in")
        return ["sector_summary.xlsx"]

    mp = pytest.MonkeyPatch()
    mp.setattr(app, "workbook_writer", lambda: fake_writer)
    out = tmp_path_factory.mktemp("batch")
    try:
        report = run_batch(
            INPUTS, out, Q("2025Q1"), Q("2025Q3"), RunOptions(firms=FIRMS), workbooks=True
        )
    finally:
        mp.undo()
    return out, report, seen


def test_batch_writes_each_quarter_with_history(two_firm_batch):
    out, report, seen = two_firm_batch
    assert [r.result.as_of_label for r in report.runs] == ["2025Q1", "2025Q2", "2025Q3"]
    assert sorted(p.name for p in out.iterdir()) == ["2025Q1", "2025Q2", "2025Q3"]
    assert (
        not (out / "2025Q1" / "changes.csv").exists()
        and not (out / "2025Q1" / "tracking.csv").exists()
    )
    for label in ("2025Q2", "2025Q3"):
        assert (out / label / "changes.csv").is_file() and (out / label / "tracking.csv").is_file()
        manifest = json.loads((out / label / "manifest.json").read_text())
        assert {"changes.csv", "tracking.csv", "sector_summary.xlsx"} <= set(manifest["outputs"])
    # the frames were in result.extras before the workbooks were written
    assert "changes" not in seen["2025Q1"] and {"changes", "tracking"} <= seen["2025Q2"]
    m3 = json.loads((out / "2025Q3" / "manifest.json").read_text())
    assert m3["history"]["previous_as_of"] == "2025Q2"
    assert m3["history"]["tracking_against"] == ["2025Q1", "2025Q2"]
    assert m3["firms_without_actuals_for_as_of"] == {"603072.SH": "2025Q2"}


def test_change_report_against_the_previous_quarter(two_firm_batch):
    out, report, _ = two_firm_batch
    ch = pl.read_csv(out / "2025Q2" / "changes.csv", infer_schema_length=None)
    assert_frame_equal(ch, report.runs[1].result.extras["changes"], check_dtypes=False)
    assert set(ch["previous_as_of"]) == {"2025Q1"} and set(ch["as_of"]) == {"2025Q2"}
    assert ch.height == 2 * len(NAMED_SCENARIOS) and set(ch["row_status"]) == {"both"}
    for m in (
        "value_per_share",
        "consolidation_score",
        "cash_runway_quarters",
        "implied_export_shock",
    ):
        assert {f"{m}_prev", m, f"{m}_change", f"{m}_status"} <= set(ch.columns)
    prev = pl.read_csv(out / "2025Q1" / "summary.csv", infer_schema_length=None)
    cur = pl.read_csv(out / "2025Q2" / "summary.csv", infer_schema_length=None)
    r = ch.filter((pl.col("ticker") == "300224.SZ") & (pl.col("scenario") == "seed")).row(
        0, named=True
    )

    def vps(frame: pl.DataFrame) -> float:
        return frame.filter((pl.col("ticker") == "300224.SZ") & (pl.col("scenario") == "seed"))[
            "value_per_share"
        ][0]

    assert r["value_per_share_prev"] == vps(prev) and r["value_per_share"] == vps(cur)
    assert r["value_per_share_change"] == pytest.approx(vps(cur) - vps(prev))
    assert r["value_per_share_status"] == "compared"


def test_tracking_compares_2025Q1_projections_with_the_quarters_since(two_firm_batch):
    out, report, _ = two_firm_batch
    everything = pl.read_csv(out / "2025Q3" / "tracking.csv", infer_schema_length=None)
    assert_frame_equal(everything, report.runs[2].result.extras["tracking"], check_dtypes=False)
    assert set(everything["forecast_source"]) == {"earlier run", "back-test"}
    t = everything.filter(pl.col("forecast_source") == "earlier run")
    # the back-test as of 2025Q1 re-runs what the 2025Q1 folder holds: the same projections
    bt = everything.filter(pl.col("forecast_source") == "back-test")
    keys = ["ticker", "forecast_as_of", "scenario", "item", "quarter"]
    both = t.select(*keys, "projected").join(
        bt.select(*keys, pl.col("projected").alias("bt")), on=keys, how="inner"
    )
    assert both.height > 0
    assert both["projected"].to_list() == pytest.approx(both["bt"].to_list(), rel=1e-9, abs=1e-9)
    proj = pl.read_parquet(out / "2025Q1" / "projections.parquet")
    # 300224.SZ revenue: 2025Q2 (1598.61, a DERIVED row: H1 - Q1) and 2025Q3 (reported)
    rev = t.filter(
        (pl.col("ticker") == "300224.SZ")
        & (pl.col("forecast_as_of") == "2025Q1")
        & (pl.col("item") == "revenue")
        & (pl.col("scenario") == "seed")
    )
    assert rev["quarter"].to_list() == ["2025Q2", "2025Q3"]
    assert rev["actual"].to_list() == pytest.approx([1598.61, 1915.712])
    for row in rev.iter_rows(named=True):
        p = proj.filter(
            (pl.col("ticker") == "300224.SZ")
            & (pl.col("scenario") == "seed")
            & (pl.col("quarter") == row["quarter"])
        )["revenue"][0]
        assert row["projected"] == pytest.approx(p)
        assert row["abs_pct_error"] == pytest.approx(abs(p - row["actual"]) / row["actual"])
    # the MAPE and the closest scenario, recomputed from the rows
    block = t.filter((pl.col("ticker") == "300224.SZ") & (pl.col("forecast_as_of") == "2025Q1"))
    mape = {
        s: sum(g["abs_pct_error"].drop_nulls()) / g["abs_pct_error"].drop_nulls().len()
        for (s,), g in block.group_by(["scenario"])
    }
    got = {r["scenario"]: r["scenario_mape"] for r in block.iter_rows(named=True)}
    assert got == pytest.approx(mape)
    order = [s.name for s in report.runs[2].result.scenarios]
    best = min(mape, key=lambda s: (mape[s], order.index(s)))
    assert set(block["closest_scenario"]) == {best}
    assert set(block.filter(pl.col("status") == "compared")["item"]) == {
        "revenue",
        "net_income",
        "cash",
    }
    # 603072.SH gives no single quarter after 2025Q1: said so, with the reason
    f = t.filter(pl.col("ticker") == "603072.SH")
    assert f.height > 0 and set(f["status"]) == {"actual_unavailable"}
    assert f["status_detail"].str.len_chars().min() > 0
    assert f["closest_scenario"].null_count() == f.height
    # net income carries the note on non-operating items
    ni = t.filter(pl.col("item") == "net_income")
    assert ni["note"].str.contains("excludes non-operating items").all()
    # no quarter after the as-of quarter, none at or before the forecast quarter
    assert t["quarter"].max() == "2025Q3"
    assert (t["quarter"] > t["forecast_as_of"]).all()


def test_batch_quarters_equal_single_runs_and_see_no_later_data(two_firm_batch, tmp_path):
    """The batch's 2025Q2 folder equals a lone run as of 2025Q2 written next to a copy of
    the same 2025Q1 folder (same tables, same change report)."""
    import shutil

    out, _, _ = two_firm_batch
    shutil.copytree(out / "2025Q1", tmp_path / "2025Q1")
    res = CliRunner().invoke(
        main,
        [
            "run",
            "--inputs",
            str(INPUTS),
            "--outputs",
            str(tmp_path),
            "--as-of",
            "2025Q2",
            "--firms",
            ",".join(FIRMS),
            "--no-workbooks",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    for name in (
        "summary.csv",
        "reverse_stress.csv",
        "changes.csv",
        "tracking.csv",
        "base_figures.csv",
    ):
        assert (tmp_path / "2025Q2" / name).read_bytes() == (out / "2025Q2" / name).read_bytes(), (
            name
        )


def test_batch_summary_text_and_json(two_firm_batch):
    _, report, _ = two_firm_batch
    text = batch_text(report)
    assert (
        text.splitlines()[0] == "stressmodel batch 2025Q1 to 2025Q3 (firms: 603072.SH, 300224.SZ)"
    )
    assert "changes 2025Q2 -> 2025Q3" in text
    assert "300224.SZ vs 2025Q1: closest " in text
    assert "603072.SH vs 2025Q1: no actual quarter in the inputs to compare" in text
    assert "no actuals for this quarter: 603072.SH (latest 2025Q2)" in text
    assert (
        "latest quarter with actuals: 603072.SH 2025Q2, 300224.SZ 2025Q3 (latest usable as-of quarter: 2025Q3)"
        in text.splitlines()
    )
    data = json.loads(
        json.dumps(batch_json(report)), parse_constant=lambda c: pytest.fail(f"non-JSON {c}")
    )
    assert [r["as_of"] for r in data["runs"]] == ["2025Q1", "2025Q2", "2025Q3"]
    assert data["latest_actuals"] == {"603072.SH": "2025Q2", "300224.SZ": "2025Q3"}
    assert [r["projection_only"] for r in data["runs"]] == [False, False, False]
    assert data["runs"][0]["changes"] is None and data["runs"][0]["tracking"] is None
    assert data["runs"][2]["previous_as_of"] == "2025Q2"
    assert {r["forecast_as_of"] for r in data["runs"][2]["tracking"]} == {"2025Q1", "2025Q2"}
    assert all(
        (isinstance(v, float) and math.isfinite(v)) or v is None
        for r in data["runs"][2]["changes"]
        for k, v in r.items()
        if k.endswith("_change")
    )


def test_batch_cli_refuses_existing_folders_then_skips_them(two_firm_batch, tmp_path):
    import shutil

    out = tmp_path / "outputs"
    shutil.copytree(two_firm_batch[0], out)
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    args = [
        "batch",
        "--inputs",
        str(INPUTS),
        "--outputs",
        str(out),
        "--firms",
        ",".join(FIRMS),
        "--no-workbooks",
        "--from",
        "2025Q2",
        "--to",
        "2025Q3",
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        f"error: {out / '2025Q2'}, {out / '2025Q3'} already exist; they were left untouched. "
        "Use --force to replace them or --skip-existing to keep them."
    ]
    res = CliRunner().invoke(main, [*args, "--skip-existing", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["skipped_existing"] == ["2025Q2", "2025Q3"] and data["runs"] == []
    assert {
        p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
    } == before


def test_batch_usage_errors():
    runner = CliRunner()
    cases = [
        (["--from", "2025Q3", "--to", "2025Q1"], "error: --from 2025Q3 is after --to 2025Q1"),
        (["--from", "2025Q9"], "error: --from must be a quarter like 2025Q3, got '2025Q9'"),
        (
            ["--from", "2025Q1", "--to", "soon"],
            "error: --to must be a quarter like 2025Q3, got 'soon'",
        ),
        (
            ["--from", "2025Q1", "--force", "--skip-existing"],
            "error: --force and --skip-existing exclude each other",
        ),
        (
            ["--from", "2000Q1", "--to", "2025Q1"],
            "error: --from 2000Q1 --to 2025Q1 spans 101 quarters; at most 40 in one batch",
        ),
    ]
    for args, message in cases:
        res = runner.invoke(main, ["batch", "--inputs", str(INPUTS), "--no-workbooks", *args])
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.splitlines() == [message], args


@pytest.mark.slow
def test_batch_on_the_shipped_inputs_to_the_latest_quarter_and_2025Q3(tmp_path):
    """Every default firm: --from 2025Q1 to 2025Q2 (the latest quarter every default firm
    has actuals for; the default --to is now the latest quarter most firms have, 2025Q4,
    see test_base_figures), then on to 2025Q3 keeping the folders written: each later
    quarter has a change report and a tracking table, and the 2025Q1 projections meet the
    actual 2025Q2-Q3 quarters."""
    out = tmp_path / "outputs"
    inputs = load_inputs(INPUTS)
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "batch",
            "--inputs",
            str(INPUTS),
            "--outputs",
            str(out),
            "--from",
            "2025Q1",
            "--to",
            "2025Q2",
            "--no-workbooks",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["to"] == "2025Q2"
    assert (
        "603072.SH" not in data["firms_with_later_data"]
        and "300224.SZ" in data["firms_with_later_data"]
    )
    assert (out / "2025Q2" / "changes.csv").is_file() and (
        out / "2025Q2" / "tracking.csv"
    ).is_file()
    res = runner.invoke(
        main,
        [
            "batch",
            "--inputs",
            str(INPUTS),
            "--outputs",
            str(out),
            "--from",
            "2025Q1",
            "--to",
            "2025Q3",
            "--no-workbooks",
            "--skip-existing",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "changes 2025Q2 -> 2025Q3" in res.stdout and "scenario tracking to 2025Q3" in res.stdout
    t = pl.read_csv(out / "2025Q3" / "tracking.csv", infer_schema_length=None)
    back = t.filter((pl.col("forecast_as_of") == "2025Q1") & (pl.col("status") == "compared"))
    assert set(back["quarter"]) == {"2025Q2", "2025Q3"}
    # every compared actual is the single quarter or balance the statements give; cash is
    # compared as the model counts it: cash plus short-term investments where reported
    for r in back.unique(["ticker", "item", "quarter"]).iter_rows(named=True):
        fs = build(r["ticker"], inputs.statements[r["ticker"]], Q("2025Q3"))
        item = {"cash": "cash_and_equivalents"}.get(r["item"], r["item"])
        fig = (
            fs.single_quarter(item, Q(r["quarter"]))
            if r["item"] in ("revenue", "net_income")
            else fs.point(item, Q(r["quarter"]))
        )
        assert fig is not None
        expected = fig.value
        if r["item"] == "cash":
            sti = fs.point("short_term_investments", Q(r["quarter"]))
            expected += sti.value if sti is not None else 0.0
        assert expected == pytest.approx(r["actual"])
    assert {"300224.SZ", "300127.SZ"} <= set(back["ticker"])
    ch = pl.read_csv(out / "2025Q3" / "changes.csv", infer_schema_length=None)
    assert (
        set(ch["previous_as_of"]) == {"2025Q2"}
        and ch.height == len(NAMED_SCENARIOS) * ch["ticker"].n_unique()
    )


def test_history_is_pure():
    """The change report and tracking module imports no I/O library (design notes)."""
    import subprocess
    import sys

    code = (
        "import sys, stressmodel.run.history\n"
        "bad = [m for m in ('click', 'openpyxl', 'xlsxwriter', 'stressmodel.run.outputs',\n"
        "       'stressmodel.cli') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
