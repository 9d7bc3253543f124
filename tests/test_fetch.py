"""``stressmodel fetch`` on recorded AkShare responses (tests/data/akshare): the label
mapping of the three statements, units, year-to-date periods, publication dates, share
counts from 股本, the regional split, prices at quarter ends, a changed schema, a 301xxx
ticker, the round trip against the shipped Yantai Zhenghai figures, the merge report,
--dry-run, --offline and the retry/cache rules of the network step. No test imports
akshare or reaches the network."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from stressmodel.cli import main
from stressmodel.inputs.fetch import importer, sources
from stressmodel.inputs.fetch import mapping as m
from stressmodel.inputs.fetch.merge import MergeReport, compare, merge_statements
from stressmodel.inputs.fetch.snapshot import Cache, Snapshot, from_json, make
from stressmodel.inputs.fetch.sources import Fetcher, FetchError
from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import parse_quarter
from stressmodel.inputs.statements import build
from stressmodel.inputs.vocabulary import FLOW_ITEMS
from stressmodel.run.fetching import FetchOptions, fetch_inputs

REPO = Path(__file__).resolve().parents[1]
INPUTS = REPO / "inputs"
RECORDED = REPO / "tests" / "data" / "akshare"
TODAY = dt.date(2026, 2, 14)  # the recordings' retrieval day
ZH = "300224.SZ"
INST = "301622.SZ"


def recorded(function: str, args: dict[str, str]) -> Snapshot:
    snap = Cache(RECORDED).load(function, args)
    assert snap is not None, f"no recording of {function}({args})"
    return snap


def statements_of(ticker: str) -> dict[str, Snapshot]:
    return {k: recorded(*sources.statement_call(ticker, k)) for k in m.STATEMENTS}


def with_frame(snap: Snapshot, frame: pd.DataFrame) -> Snapshot:
    return make(snap.function, snap.args, frame, snap.akshare_version, snap.fetched_at)


def by_key(rows):
    return {(r.period, r.item): r for r in rows}


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def inputs_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "inputs"
    shutil.copytree(INPUTS, dst)
    return dst


def offline_fetcher(cache_dir: Path = RECORDED) -> Fetcher:
    def no_network(function, args):
        raise AssertionError(f"network call {function}({args}) in an offline test")

    return Fetcher(Cache(cache_dir), offline=True, caller=no_network, today=TODAY)


# --- the recordings ---------------------------------------------------------------------------


def test_recordings_are_akshare_1_19_5_frames_with_the_mapped_columns():
    snaps = [
        from_json(p.read_text(encoding="utf-8"), p.name) for p in sorted(RECORDED.glob("*.json"))
    ]
    assert len(snaps) == 8
    for s in snaps:
        assert s.akshare_version == "1.19.5"
        if s.function == m.SINA_FUNCTION:
            key = {v: k for k, v in m.STATEMENTS.items()}[s.args["symbol"]]
            assert set(m.sina_required(key)) <= set(s.frame.columns)
            assert list(s.frame.columns[-6:]) == list(m.SINA_META_COLUMNS[1:])
            # akshare builds the Sina frame by transposing mixed columns: all object
            assert all(str(t) in ("object", "str") for t in s.frame.dtypes)
        elif s.function == m.HIST_FUNCTION:
            assert tuple(s.frame.columns) == m.HIST_COLUMNS
            assert str(s.frame["收盘"].dtype) == "float64"
            assert isinstance(s.frame["日期"].iloc[0], dt.date)
        else:
            assert tuple(s.frame.columns) == m.ZYGC_COLUMNS
            assert str(s.frame["主营收入"].dtype) == "float64"
            assert isinstance(s.frame["报告日期"].iloc[0], dt.date)


def test_an_edited_recording_fails_its_checksum(tmp_path):
    p = next(RECORDED.glob("stock_zygc_em__*.json"))
    text = p.read_text(encoding="utf-8").replace("1313000000.0", "1413000000.0")
    with pytest.raises(ValueError, match="checksum"):
        from_json(text, p.name)


# --- the import step ------------------------------------------------------------------------


def test_every_statement_line_maps_to_its_item_in_cny_mn():
    """Every line of the mapping table, all three statements: a distinct value per line in
    one synthetic report (values made up for this test), each found again /1e6."""
    snaps = statements_of(ZH)
    values: dict[str, float] = {}
    patched = {}
    for key, snap in snaps.items():
        frame = snap.frame.copy()
        row = frame.index[frame["报告日"] == "20250930"][0]
        for i, ln in enumerate(ln for ln in m.SINA_LINES if ln.statement == key):
            v = float(
                (i + 1) * 1_000_000 + 500_000 * (key == "income") + 250_000 * (key == "cashflow")
            )
            frame.at[row, ln.label] = v
            values[ln.label] = v
        patched[key] = with_frame(snap, frame)
    out = importer.import_statements(ZH, patched)
    got = {(r.period, r.item): r.value for r in out.statements}
    for ln in m.SINA_LINES:
        if ln.item == "sga":
            assert got[("2025-9M", "sga")] == pytest.approx(
                (values["销售费用"] + values["管理费用"]) / 1e6
            )
        elif ln.item == "shares":
            shares = [p for p in out.prices if p.date == dt.date(2025, 9, 30)]
            assert [p.value for p in shares] == [pytest.approx(values[ln.label] / 1e6)]
        else:
            period = "2025-9M" if ln.statement != "balance" else "2025Q3"
            assert got[(period, ln.item)] == pytest.approx(values[ln.label] / 1e6), ln.label
    assert got[("2025Q3", "short_term_investments")] == pytest.approx(
        values["交易性金融资产"] / 1e6
    )
    sga = next(r for r in out.statements if r.item == "sga")
    assert sga.note.startswith("DERIVED: 销售费用 + 管理费用")


def test_year_to_date_periods_units_and_publication_dates():
    out = importer.import_statements(ZH, statements_of(ZH))
    rows = by_key(out.statements)
    assert rows[("2025-9M", "revenue")].value == pytest.approx(4973.149234, abs=1e-6)
    assert rows[("2025H1", "revenue")].value == pytest.approx(3057.4374)
    assert rows[("2025Q1", "revenue")].value == pytest.approx(1458.8239)
    assert rows[("2025-9M", "operating_cash_flow")].value == pytest.approx(-227.492921, abs=1e-6)
    # balances carry the quarter label of their day; FY for 12-31
    assert rows[("2025Q3", "total_assets")].value == pytest.approx(8742.763116, abs=1e-6)
    assert rows[("2025Q2", "total_assets")].value == 8664
    assert rows[("FY2024", "shareholders_equity")].value == pytest.approx(3951.225734, abs=1e-6)
    assert all(r.unit == "CNY mn" for r in out.statements)
    q3 = rows[("2025-9M", "revenue")]
    assert q3.published == dt.date(2025, 10, 26)
    assert "published 2025-10-26 (公告日期)" in q3.note
    assert "公告日期 not given" in rows[("2025H1", "revenue")].note
    assert q3.source.startswith(
        "akshare 1.19.5 stock_financial_report_sina(stock='sz300224', symbol='利润表') retrieved 2026-02-14T"
    )
    # a line the source leaves empty gives no row (never a zero)
    assert ("2025Q3", "inventory") not in rows


def test_share_counts_come_from_guben_at_the_report_date():
    out = importer.import_statements(ZH, statements_of(ZH))
    shares = {p.date: p for p in out.prices if p.item == "shares_outstanding"}
    assert shares[dt.date(2024, 12, 31)].value == pytest.approx(837.7125)
    assert shares[dt.date(2025, 3, 31)].value == pytest.approx(837.7145)
    assert shares[dt.date(2024, 12, 31)].unit == "million shares"


def test_regional_split_from_zygc():
    snap = recorded(*sources.zygc_call(ZH))
    rows = by_key(importer.import_regions(ZH, snap).statements)
    assert rows[("FY2024", "revenue_overseas")].value == 1313
    assert rows[("FY2024", "revenue_domestic")].value == 4226
    assert rows[("FY2024", "gross_margin_overseas")].value == pytest.approx(0.2911)
    assert rows[("FY2024", "gross_margin_domestic")].value == pytest.approx(0.0871)
    assert rows[("FY2024", "overseas_revenue_share")].value == pytest.approx(0.2371)


def test_regions_skip_other_labels_and_quarterly_reports():
    snap = recorded(*sources.zygc_call(ZH))
    frame = snap.frame.copy()
    extra = frame.iloc[[0]].copy()
    extra["主营构成"] = "其他"
    frame = pd.concat([frame, extra], ignore_index=True)
    out = importer.import_regions(ZH, with_frame(snap, frame))
    assert any("'其他' is neither overseas nor domestic" in s for s in out.skipped)
    assert len(out.statements) == 5


def test_regional_ratios_in_percent_are_a_named_schema_change():
    snap = recorded(*sources.zygc_call(ZH))
    frame = snap.frame.copy()
    frame["毛利率"] = frame["毛利率"] * 100
    with pytest.raises(FetchError, match="毛利率 as a fraction"):
        importer.import_regions(ZH, with_frame(snap, frame))


def test_prices_at_quarter_ends_and_the_latest_close():
    snap = recorded(*sources.hist_call(ZH, 2024, TODAY))
    out = importer.import_prices(ZH, snap)
    closes = {p.date: (p.value, p.note) for p in out.prices}
    assert closes[dt.date(2024, 12, 31)][0] == 12.11
    assert "last trading day of 2024Q4" in closes[dt.date(2024, 12, 31)][1]
    assert closes[dt.date(2026, 2, 13)][0] == 17.53
    assert "latest close" in closes[dt.date(2026, 2, 13)][1]
    # 2025-01-10 is the last bar of 2025Q1 in this sparse recording, but not its quarter end
    assert dt.date(2025, 1, 10) not in closes
    # 2026Q1 is not over: 2026-01-23 is not a quarter-end close
    assert dt.date(2026, 1, 23) not in closes


def test_a_disappeared_column_names_the_endpoint_and_the_column():
    snaps = statements_of(ZH)
    snaps["income"] = with_frame(
        snaps["income"], snaps["income"].frame.drop(columns=["营业总收入"])
    )
    with pytest.raises(FetchError) as err:
        importer.import_statements(ZH, snaps)
    msg = str(err.value)
    assert "stock_financial_report_sina(stock='sz300224', symbol='利润表')" in msg
    assert "no column 营业总收入" in msg


def test_shenzhen_301_ticker():
    assert sources.statement_call(INST, "income") == (
        m.SINA_FUNCTION,
        {"stock": "sz301622", "symbol": "利润表"},
    )
    assert sources.zygc_call(INST) == (m.ZYGC_FUNCTION, {"symbol": "SZ301622"})
    assert sources.hist_call(INST, 2024, TODAY)[1]["symbol"] == "301622"
    rows = by_key(importer.import_statements(INST, statements_of(INST)).statements)
    assert rows[("FY2024", "revenue")].value == 1185
    assert rows[("FY2024", "net_income")].value == 177


def test_bad_tickers_are_usage_errors():
    for bad in ("30022.SZ", "300224", "300224.HK", "sz300224"):
        with pytest.raises(Exception, match="not a ticker"):
            sources.split_ticker(bad)


# --- round trip -----------------------------------------------------------------------------


def test_round_trip_reproduces_the_shipped_2025q3_figures(inputs_copy):
    """The recordings alone -> a statements file that validates and reproduces every
    shipped 2025Q3 figure of 300224.SZ within the shipped figure's rounding; the figures
    the sources do not offer are listed, with both sources."""
    got = importer.import_statements(ZH, statements_of(ZH))
    got.statements += importer.import_regions(ZH, recorded(*sources.zygc_call(ZH))).statements
    report = MergeReport()
    text = merge_statements("300224.SZ.csv", "", got.statements, 0.01, report)
    (inputs_copy / "statements" / f"{ZH}.csv").write_text(text, encoding="utf-8")
    res = CliRunner().invoke(main, ["validate", "--inputs", str(inputs_copy)])
    assert res.exit_code == 0, res.output

    fresh = build(ZH, load_inputs(inputs_copy).statements[ZH])
    with (INPUTS / "statements" / f"{ZH}.csv").open(encoding="utf-8") as fh:
        shipped = [r for r in csv.DictReader(fh) if r["period"] in ("2025Q3", "2025-9M")]
    q3 = parse_quarter("2025Q3")
    matched, not_offered = [], []
    for row in shipped:
        item, period = row["item"], row["period"]
        if item not in FLOW_ITEMS:
            fig = fresh.point(item, q3)
        else:
            fig = fresh.single_quarter(item, q3) if period == "2025Q3" else fresh.ytd(item, q3)
        if fig is None:
            not_offered.append(f"{period} {item} {row['value']} ({row['source']})")
            continue
        # equal within the shipped figure's rounding (its last printed decimal)
        assert compare(row["value"], fig.value, 0.0) == "same", (row, fig)
        matched.append(
            f"{period} {item}: shipped {row['value']}, imported {fig.value:.6f} ({fig.how})"
        )
    print("matched:\n  " + "\n  ".join(matched))
    print("not offered by the recorded sources (shipped row kept):\n  " + "\n  ".join(not_offered))
    assert len(matched) == 10
    assert sorted(s.split()[1] for s in not_offered) == [
        "current_ratio",
        "inventory_days",
        "liabilities_to_assets",
        "net_debt",
        "receivable_days",
        "short_term_investments",  # shipped: DERIVED from net cash + debt - 货币资金 (issue 13)
        "total_debt",
    ]
    # the Q3 single quarters are derived from the year-to-date figures: 9M - H1
    assert fresh.single_quarter("revenue", q3).how == "2025Q3 revenue = 2025-9M - 2025H1"
    assert any("net_debt -1690 (https://stockanalysis.com" in s for s in not_offered)


# --- merge, dry run, offline -----------------------------------------------------------------


def _opts(inputs: Path, **kw) -> FetchOptions:
    base = {"inputs_dir": inputs, "tickers": (ZH,), "since": 2024, "cache_dir": RECORDED}
    base.update(kw)
    return FetchOptions(**base)


def test_merge_report_new_changed_conflicting(inputs_copy):
    path = inputs_copy / "statements" / f"{ZH}.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    # drop the hand 2025Q2 total assets (the fetch brings it back as new), put one hand
    # figure 0.4% off (changed: replaced, reported) and one 12% off (conflict: kept)
    lines = [ln for ln in lines if not ln.startswith("2025Q2,total_assets,")]
    text = "".join(lines)
    text = text.replace("2025Q3,receivables,1340,", "2025Q3,receivables,1345,")
    text = text.replace("2025Q3,cash_and_equivalents,712,", "2025Q3,cash_and_equivalents,800,")
    path.write_text(text, encoding="utf-8")
    prices = inputs_copy / "prices.csv"
    prices.write_text(
        "".join(
            ln
            for ln in prices.read_text(encoding="utf-8").splitlines(keepends=True)
            if not ln.startswith("300224.SZ,2026-02-13,close,")
        ),
        encoding="utf-8",
    )
    report, code = fetch_inputs(_opts(inputs_copy), offline_fetcher())
    assert code == 0, report.failures
    kinds = {c.key: c.kind for c in report.changes}
    assert kinds["2025Q2 total_assets"] == "new"
    assert kinds["300224.SZ 2026-02-13 close"] == "new"
    assert kinds["2025Q3 receivables"] == "changed"
    assert kinds["2025Q3 cash_and_equivalents"] == "conflict"
    assert (
        kinds["2025Q3 total_assets"]
        == kinds["2025-9M revenue"]
        == kinds["FY2024 revenue_overseas"]
        == "same"
    )
    assert kinds["300224.SZ 2024-12-31 shares_outstanding"] == "same"
    assert (
        report.count("new") == 2 and report.count("changed") == 1 and report.count("conflict") == 1
    )
    text_out = report.text(dry_run=False)
    assert "2 new, 1 changed, 1 conflicting (kept)" in text_out
    assert "1345 -> 1340" in text_out and "800 -> 712" in text_out
    assert "old source: http://stock.stockstar.com/RB2025102800007646.shtml" in text_out
    assert (
        "new source: akshare 1.19.5 stock_financial_report_sina(stock='sz300224', symbol='资产负债表')"
        in text_out
    )
    merged = path.read_text(encoding="utf-8")
    assert "2025Q3,cash_and_equivalents,800," in merged  # conflict: the hand row is kept
    assert '2025Q3,receivables,1340,CNY mn,"akshare 1.19.5 stock_financial_report_sina' in merged
    assert "replaces 1345 from http://stock.stockstar.com" in merged
    assert '2025Q2,total_assets,8664,CNY mn,"akshare 1.19.5' in merged
    assert "300224.SZ,2026-02-13,close,17.53,CNY," in prices.read_text(encoding="utf-8")
    # the merged inputs load, and a second fetch finds nothing new
    assert load_inputs(inputs_copy).statements[ZH]
    again, _ = fetch_inputs(_opts(inputs_copy), offline_fetcher())
    assert again.count("new") == again.count("changed") == 0 and again.count("conflict") == 1


def test_dry_run_leaves_inputs_byte_identical(inputs_copy):
    before = tree_digest(inputs_copy)
    res = CliRunner().invoke(
        main,
        [
            "fetch",
            ZH,
            "--inputs",
            str(inputs_copy),
            "--since",
            "2024",
            "--offline",
            "--cache",
            str(RECORDED),
            "--dry-run",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "dry run: nothing written" in res.output
    assert tree_digest(inputs_copy) == before


def test_offline_with_an_empty_cache_is_a_clear_usage_error(inputs_copy, tmp_path):
    empty = tmp_path / "cache"
    res = CliRunner().invoke(
        main, ["fetch", ZH, "--inputs", str(inputs_copy), "--offline", "--cache", str(empty)]
    )
    assert res.exit_code == 2
    assert "--offline: the cache" in res.output and "holds no snapshots" in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999999.SZ"], "999999.SZ is not in"),
        (["30022.SZ"], "is not a ticker"),
        ([], "name the firms to fetch"),
        (["--all", ZH], "not both"),
        ([ZH, "--what", "prices,trade"], "--what takes"),
        ([ZH, "--since", "1800"], "--since takes a year"),
    ],
)
def test_bad_options_exit_2(inputs_copy, args, message):
    res = CliRunner().invoke(
        main, ["fetch", *args, "--inputs", str(inputs_copy), "--offline", "--cache", str(RECORDED)]
    )
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_a_failing_firm_is_listed_and_the_others_continue(inputs_copy):
    before = (inputs_copy / "statements" / f"{INST}.csv").read_bytes()
    res = CliRunner().invoke(
        main,
        [
            "fetch",
            ZH,
            INST,
            "--inputs",
            str(inputs_copy),
            "--since",
            "2024",
            "--offline",
            "--cache",
            str(RECORDED),
            "--what",
            "statements,prices",
        ],
    )
    assert res.exit_code == 1, res.output
    assert "FAILED:" in res.output
    assert "301622.SZ: stock_zh_a_hist(symbol='301622'" in res.output
    assert "expected a snapshot in" in res.output
    assert "Traceback" not in res.output
    assert (inputs_copy / "statements" / f"{INST}.csv").read_bytes() == before
    # 300224.SZ went through: every recorded figure equals a shipped one (nothing to write)
    assert "0 new, 0 changed, 0 conflicting (kept), 22 same within rounding" in res.output
    assert "300224.SZ:" not in res.output.split("FAILED:")[1]


def test_a_killed_write_leaves_inputs_as_they_were(inputs_copy, monkeypatch):
    import stressmodel.inputs.fetch.merge as merge_mod

    path = inputs_copy / "statements" / f"{ZH}.csv"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "2025Q3,receivables,1340,", "2025Q3,receivables,1345,"
        ),
        encoding="utf-8",
    )
    before = tree_digest(inputs_copy)

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(merge_mod.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        fetch_inputs(_opts(inputs_copy), offline_fetcher())
    assert tree_digest(inputs_copy) == before  # and no temporaries left behind


def test_without_akshare_a_live_fetch_asks_for_the_extra(inputs_copy, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "akshare", None)  # import akshare -> ImportError
    res = CliRunner().invoke(
        main, ["fetch", ZH, "--inputs", str(inputs_copy), "--cache", str(tmp_path / "c")]
    )
    assert res.exit_code == 2, res.output
    assert "stressmodel[live]" in res.output


# --- the network step (injected caller) ---------------------------------------------------------


def test_retries_with_backoff_then_caches_for_the_quarter(tmp_path):
    snap = recorded(*sources.zygc_call(ZH))
    calls, sleeps = [], []

    def flaky(function, args):
        calls.append(function)
        if len(calls) < 3:
            raise ConnectionError("RemoteDisconnected")
        return snap.frame, "1.19.5"

    now = dt.datetime(2026, 2, 14, 9, 30, tzinfo=dt.UTC)
    f = Fetcher(
        Cache(tmp_path),
        caller=flaky,
        today=now.date(),
        sleep=sleeps.append,
        clock=lambda: now,
        delay=2,
        backoff=4,
    )
    got = f.get(*sources.zygc_call(ZH))
    assert len(calls) == 3 and sleeps == [4, 8]
    assert got.fetched_at == now and got.akshare_version == "1.19.5"
    stored = Cache(tmp_path).load(*sources.zygc_call(ZH))
    assert stored is not None and stored.checksum == got.checksum
    assert stored.frame.equals(snap.frame)
    f.get(*sources.zygc_call(ZH))  # same quarter: from the cache
    assert len(calls) == 3
    later = Fetcher(
        Cache(tmp_path),
        caller=flaky,
        today=dt.date(2026, 4, 2),
        sleep=sleeps.append,
        clock=lambda: now,
    )
    later.get(*sources.zygc_call(ZH))  # a new quarter: fetched again
    assert len(calls) == 4


def test_a_source_that_keeps_failing_names_the_endpoint(tmp_path):
    def down(function, args):
        raise TimeoutError("read timed out")

    f = Fetcher(Cache(tmp_path), caller=down, today=TODAY, sleep=lambda s: None, retries=2)
    with pytest.raises(FetchError) as err:
        f.get(*sources.statement_call(ZH, "income"))
    assert "stock_financial_report_sina(stock='sz300224', symbol='利润表')" in str(err.value)
    assert "within 3 attempts" in str(err.value) and "TimeoutError" in str(err.value)
    assert Cache(tmp_path).is_empty()


def test_an_empty_response_is_a_named_failure(tmp_path):
    f = Fetcher(
        Cache(tmp_path),
        caller=lambda fn, a: (pd.DataFrame(), "1.19.5"),
        today=TODAY,
        sleep=lambda s: None,
    )
    with pytest.raises(FetchError, match="empty response"):
        f.get(*sources.zygc_call(ZH))


# --- publication dates and the as-of filter ------------------------------------------------------


def test_as_of_published_by_drops_figures_published_later(inputs_copy):
    path = inputs_copy / "statements" / f"{ZH}.csv"
    text = path.read_text(encoding="utf-8").replace(
        "2025Q3,receivables,1340,", "2025Q3,receivables,1345,"
    )
    path.write_text(text, encoding="utf-8")
    _report, code = fetch_inputs(_opts(inputs_copy, what=("statements",)), offline_fetcher())
    assert code == 0
    inputs = load_inputs(inputs_copy)
    q3 = parse_quarter("2025Q3")

    def receivables(view):
        return [
            r["value"] for r in view.statements[ZH] if r["item"] == "receivables" and r["end"] == q3
        ]

    assert receivables(inputs.as_of(q3)) == [1340]  # the fetched row (published 2025-10-26)
    assert receivables(inputs.as_of(q3, published_by=dt.date(2025, 10, 26))) == [1340]
    assert receivables(inputs.as_of(q3, published_by=dt.date(2025, 10, 25))) == []
    # hand rows carry no publication date and stay
    before = inputs.as_of(q3, published_by=dt.date(2025, 10, 25))
    assert any(r["item"] == "total_assets" and r["end"] == q3 for r in before.statements[ZH])


def test_only_dead_fetches_temporaries_are_removed(tmp_path):
    import os

    from stressmodel.inputs.fetch.merge import remove_stale_temps
    from stressmodel.inputs.fetch.snapshot import TMP_MARKER

    dead = tmp_path / f"{TMP_MARKER}999999999-prices.csv"
    mine = tmp_path / f"{TMP_MARKER}{os.getpid()}-prices.csv"
    other = tmp_path / ".prices.csv.tmp"  # not ours: never touched
    for p in (dead, mine, other):
        p.write_text("x", encoding="utf-8")
    assert remove_stale_temps(tmp_path) == [dead]
    assert mine.exists() and other.exists()


def test_prices_fall_back_to_tencent_when_eastmoney_refuses(tmp_path):
    """The Tencent frame here is the recorded Eastmoney closes under stock_zh_a_hist_tx's
    column names (akshare 1.19.5 source), built for this test."""
    em = recorded(*sources.hist_call(ZH, 2024, TODAY))
    tx = pd.DataFrame(
        {
            "date": em.frame["日期"],
            "open": em.frame["开盘"],
            "close": em.frame["收盘"],
            "high": em.frame["最高"],
            "low": em.frame["最低"],
            "volume": em.frame["成交量"],
            "turnover": em.frame["换手率"],
            "amount": em.frame["成交额"],
        }
    )
    assert tuple(tx.columns) == m.HIST_TX_COLUMNS

    def caller(function, args):
        if function == m.HIST_FUNCTION:
            raise ConnectionError("Eastmoney: 403 Forbidden")
        assert (function, args) == sources.hist_tx_call(ZH, 2024, TODAY)
        assert args["symbol"] == "sz300224"
        return tx, "1.19.5"

    from stressmodel.run.fetching import fetch_firm

    f = Fetcher(Cache(tmp_path), caller=caller, today=TODAY, sleep=lambda s: None, retries=1)
    got = fetch_firm(ZH, _opts(tmp_path, what=("prices",)), f)
    closes = {p.date: p for p in got.prices}
    assert closes[dt.date(2026, 2, 13)].value == 17.53
    assert "stock_zh_a_hist_tx(symbol='sz300224'" in closes[dt.date(2026, 2, 13)].source
    assert any("closes taken from the fallback stock_zh_a_hist_tx" in s for s in got.skipped)


def test_a_merge_that_would_not_validate_writes_nothing_for_that_firm(inputs_copy, tmp_path):
    """A (made-up) new balance at 2024-09-30 that breaks assets = liabilities + equity."""

    def caller(function, args):
        snap = recorded(function, args)
        frame = snap.frame
        if args.get("symbol") == "资产负债表":
            bad = frame.iloc[[0]].copy()
            bad["报告日"] = "20240930"
            bad["资产总计"], bad["负债合计"], bad["归属于母公司股东权益合计"] = 1e9, 5e9, 5e9
            frame = pd.concat([frame, bad], ignore_index=True)
        return frame, "1.19.5"

    before = tree_digest(inputs_copy)
    f = Fetcher(Cache(tmp_path / "cache"), caller=caller, today=TODAY, sleep=lambda s: None)
    report, code = fetch_inputs(
        _opts(inputs_copy, what=("statements",), cache_dir=tmp_path / "cache"), f
    )
    assert code == 1
    assert (
        "300224.SZ: the merged statements would not validate; nothing written for this firm"
        in report.failures[0]
    )
    assert "total assets = liabilities + equity" in report.failures[0]
    assert tree_digest(inputs_copy) == before
