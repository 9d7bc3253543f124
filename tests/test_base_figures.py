"""Base figures that match the filings (issue 13): one test per finding on the shipped data.

Figures in CNY mn. Every expected number below is worked by hand from the rows of
``inputs/statements/`` (and tools/curated_statements.csv, which the build copies there).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from stressmodel.analysis.risk import NO_MATERIAL_DEBT, solvency_scores
from stressmodel.cli import main
from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import parse_quarter
from stressmodel.model.base import compute_bases
from stressmodel.pipeline.result import RunOptions
from stressmodel.pipeline.stages import _net_debt, default_as_of, run_model, select_firms

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "inputs"
ZH, TH, ZK = "300224.SZ", "603072.SH", "000970.SZ"
Q2, Q3 = parse_quarter("2025Q2"), parse_quarter("2025Q3")


@pytest.fixture(scope="module")
def inputs():  # type: ignore[no-untyped-def]
    return load_inputs(SHIPPED)


@pytest.fixture(scope="module")
def at_q2(inputs):  # type: ignore[no-untyped-def]
    return compute_bases(inputs, Q2)


@pytest.fixture(scope="module")
def at_q3(inputs):  # type: ignore[no-untyped-def]
    return compute_bases(inputs, Q3)


# --- 1. every reported quarter is used --------------------------------------------------


def test_zhenghai_run_rate_as_of_2025q2_uses_its_2025q2_actuals(at_q2) -> None:  # type: ignore[no-untyped-def]
    """TTM 2025Q2 = FY2024 5539 + H1-2025 3057.4374 - H1-2024, with H1-2024 = 9M-2024 3810
    - Q3-2024 1271 = 2539 (insightstock.cn/?p=127708): 6057.4374. Before, the 2025Q1 TTM
    (5825) was used because H1-2024 was missing."""
    rev = at_q2.firms[ZH].figures["revenue_ttm"]
    assert rev.quarter in (None, Q2) and rev.basis == "derived"  # None: the as-of quarter itself
    assert rev.value == pytest.approx(5539 + 3057.4374 - (3810 - 1271), abs=1e-6)
    ni = at_q2.firms[ZH].figures["net_income_ttm"]
    assert ni.value == pytest.approx(92.34 + 113.1026 - (189 - 40), abs=1e-6)  # 56.4426


def test_zhenghai_run_rate_as_of_2025q3_contains_its_2025q2_and_2025q3_actuals(
    inputs, at_q3
) -> None:  # type: ignore[no-untyped-def]
    """The reported 2025Q3-TTM revenue 6703 equals Q4-2024 (FY 5539 - 9M 3810 = 1729) + the
    reported single quarters 1458.8239 + 1598.61 + 1915.712 = 6702.1 within rounding."""
    from stressmodel.inputs.statements import build

    fs = build(ZH, inputs.as_of(Q3).statements[ZH], Q3)
    singles = [fs.single_quarter("revenue", Q3 - k) for k in range(4)]
    assert all(s is not None for s in singles)
    assert [round(s.value, 4) for s in singles[:3]] == [1915.712, 1598.61, 1458.8239]  # type: ignore[union-attr]
    assert singles[3].value == pytest.approx(1729)  # type: ignore[union-attr]
    rev = at_q3.firms[ZH].figures["revenue_ttm"]
    assert rev.quarter in (None, Q3)
    assert rev.value == pytest.approx(sum(s.value for s in singles), abs=1.5)  # type: ignore[union-attr]


# --- 2. liquidity = cash + short-term investments -----------------------------------------


def test_liquidity_includes_short_term_investments_where_reported(at_q2, at_q3) -> None:  # type: ignore[no-untyped-def]
    zh = at_q3.firms[ZH]
    assert zh.value("cash") == 712
    assert zh.value("short_term_investments") == pytest.approx(982.8)
    assert zh.value("liquidity") == pytest.approx(1694.8)
    assert zh.params["cash0"] == pytest.approx(
        1694.8
    )  # runway and the minimum-cash test start here
    zk = at_q2.firms[ZK]  # 2025 interim report: 货币资金 1,952.08, 交易性金融资产 230.42
    assert zk.figures["cash"].basis == "reported"
    assert zk.value("liquidity") == pytest.approx(1952.08 + 230.42)
    # net debt (DCF bridge, multiples) = debt - liquidity
    assert _net_debt(at_q3, ZH) == pytest.approx(zh.value("total_debt") - 1694.8)


def test_no_short_term_investments_reported_counts_none_and_says_so(at_q3) -> None:  # type: ignore[no-untyped-def]
    th = at_q3.firms[TH]
    sti = th.figures["short_term_investments"]
    assert sti.value == 0 and sti.basis == "estimated" and "none counted" in sti.how
    assert th.value("liquidity") == th.value("cash")


# --- 3. corporate events ------------------------------------------------------------------


def test_zhenghai_shares_and_debt_both_post_conversion_as_of_2025q3(at_q3, at_q2) -> None:  # type: ignore[no-untyped-def]
    zh = at_q3.firms[ZH]
    assert zh.value("total_debt") == pytest.approx(4.8)  # 有息负债 479.91万 at 2025-09-30
    assert zh.value("shares") == pytest.approx(925.31)  # not the pre-conversion 833.8
    assert "convertible conversion of 2025-09-22" in zh.figures["shares"].how
    # before the conversion both sides are pre-conversion
    assert at_q2.firms[ZH].value("shares") == pytest.approx(833.8)
    assert at_q2.firms[ZH].value("total_debt") == pytest.approx(1002)


def test_tianhe_liabilities_agree_with_its_post_ipo_current_ratio_and_equity(at_q2) -> None:  # type: ignore[no-untyped-def]
    """As of 2025Q2 the balances are post-IPO (2025-01-03): equity 2057, debt 471, current
    ratio 2.74 (2025Q1). The pre-IPO liabilities/assets 0.55341 (9M-2024) is not applied."""
    th = at_q2.firms[TH]
    ta, tl = th.value("total_assets"), th.value("total_liabilities")
    assert ta - tl == pytest.approx(2057.0)
    assert tl / ta != pytest.approx(0.55341, abs=0.01)
    lt_debt = 471 * (1 - 0.7)  # long-term part of debt (sector short-term share 0.7)
    current_assets = th.value("liquidity") + th.value("receivables") + th.value("inventory")
    assert (tl - lt_debt) * 2.74 == pytest.approx(current_assets)
    assert "current ratio 2.74" in th.figures["total_liabilities"].how
    assert th.value("shares") == pytest.approx(264.28)


def test_events_file_errors_name_file_row_and_field(tmp_path: Path) -> None:
    root = tmp_path / "inputs"
    shutil.copytree(SHIPPED, root)
    with (root / "events.csv").open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerow(
            ["300224.SZ", "2025-13-01", "merger", "-5", "", ""]
        )
    result = CliRunner().invoke(main, ["validate", "--inputs", str(root)])
    assert result.exit_code == 2
    for field in ("date", "event", "shares_after", "source"):
        assert f"inputs/events.csv, row 4, field '{field}'" in result.stderr


# --- 4. interest ------------------------------------------------------------------------


def test_interest_rate_is_latest_ttm_interest_over_average_debt(at_q2, at_q3) -> None:  # type: ignore[no-untyped-def]
    # Zhenghai: 62.53 over the debt reported at 2024Q4 976, 2025Q1 1002, 2025Q3 4.8
    zh = at_q3.firms[ZH].figures["interest_rate"]
    assert zh.value == pytest.approx(62.53 / ((976 + 1002 + 4.8) / 3))
    assert zh.basis == "derived"
    # Tianhe: the latest interest expense is FY2023, too old for a 2025 rate
    th = at_q2.firms[TH].figures["interest_rate"]
    assert th.value == 0.035 and "older than 4 quarters" in th.how


def test_interest_cover_is_na_without_material_debt() -> None:
    df = pl.DataFrame(
        {
            "ebit": [50.0, 50.0, 50.0],
            "interest_expense": [0.1, 5.0, 5.0],
            "total_debt": [4.8, 4.8, 400.0],
            "total_assets": [8742.0, 8742.0, 8742.0],
            "working_capital": [1.0] * 3,
            "retained_earnings": [0.0] * 3,
            "ebit_ttm": [200.0] * 3,
            "equity": [5000.0] * 3,
            "total_liabilities": [3700.0] * 3,
            "current_assets": [5000.0] * 3,
            "current_liabilities": [2000.0] * 3,
            "net_debt": [0.0] * 3,
            "ebitda_ttm": [300.0] * 3,
            "net_income_ttm": [100.0] * 3,
            "net_income_ttm_prev": [100.0] * 3,
            "cfo_ttm": [100.0] * 3,
        }
    )
    out = solvency_scores(
        df, 7.1, 100.0, ebit="ebit", interest="interest_expense", material=(0.01, 1.0)
    )
    assert out["interest_cover"].to_list()[:2] == [None, None]  # debt 0.05% of assets
    assert out["interest_cover_status"].to_list() == [NO_MATERIAL_DEBT, NO_MATERIAL_DEBT, "ok"]
    assert out["interest_cover"][2] == pytest.approx(10.0)


def test_zhenghai_interest_cover_reads_na_as_of_2025q3(inputs) -> None:  # type: ignore[no-untyped-def]
    r = run_model(inputs.as_of(Q3), RunOptions(as_of=Q3, firms=(ZH, TH)))
    s = r.summary.filter((pl.col("ticker") == ZH) & (pl.col("scenario") == "baseline"))
    assert s["interest_cover_status"][0] == NO_MATERIAL_DEBT
    assert s["min_interest_cover"][0] is None
    # no interest-cover threshold either: the reverse stress says why instead of a shock
    rev = r.extras["reverse_stress"].filter(pl.col("ticker") == ZH)
    assert rev["shock_icr_below_1"][0] is None
    assert rev["shock_icr_below_1_status"][0] == NO_MATERIAL_DEBT
    th = r.extras["reverse_stress"].filter(pl.col("ticker") == TH)
    assert th["shock_icr_below_1_status"][0] != NO_MATERIAL_DEBT  # Tianhe has bank debt


# --- 5. peers and estimates ----------------------------------------------------------------


@pytest.mark.parametrize("as_of", ["2025Q2", "2025Q3", "2025Q4"])
def test_no_firm_export_share_is_another_firms_figure(inputs, as_of: str) -> None:  # type: ignore[no-untyped-def]
    bases = compute_bases(inputs, parse_quarter(as_of))
    own = {
        t: fb.figures["export_share"]
        for t, fb in bases.firms.items()
        if fb.figures["export_share"].basis != "estimated"
    }
    for t, fb in bases.firms.items():
        x = fb.figures["export_share"]
        if x.basis == "estimated":
            assert all(x.value != o.value for u, o in own.items() if u != t), t
            assert "sector assumption sector_export_share" in x.how and "band 0.2-0.25" in x.how


def test_peer_estimates_name_at_least_three_reporting_peers(at_q3) -> None:  # type: ignore[no-untyped-def]
    seen = 0
    for t, fb in at_q3.firms.items():
        for name, fig in fb.figures.items():
            if "peer median" in fig.how:
                seen += 1
                listed = fig.how.split("(")[-1].split(")")[0].split(", ")
                assert len(listed) >= 3 and t not in listed, (t, name, fig.how)
    assert seen > 0


def _add_firm(root: Path) -> None:
    """A synthetic magnet maker in the default peer group with a reported balance sheet."""
    with (root / "firms.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    new = dict(rows[0])
    new.update(
        ticker="300999.SZ",
        company_name="Synthetic Magnets",
        shares_outstanding="500",
        shares_date="2025-06-30",
        share_price="10",
        price_date="2025-06-30",
        export_share="",
        export_share_period="",
        export_share_source="",
        default_run="no",
        note="synthetic test firm",
    )
    with (root / "firms.csv").open("a", encoding="utf-8", newline="") as fh:
        csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n").writerow(new)
    lines = ["period,item,value,unit,source,note"]
    for period, item, value in (
        ("FY2024", "revenue", 3000),
        ("FY2024", "cost_of_revenue", 2600),
        ("FY2024", "operating_income", 150),
        ("FY2024", "net_income", 120),
        ("FY2024", "cash_and_equivalents", 900),
        ("FY2024", "receivables", 700),
        ("FY2024", "inventory", 900),
        ("FY2024", "total_assets", 5000),
        ("FY2024", "total_liabilities", 2500),
        ("FY2024", "total_debt", 900),
        ("FY2024", "overseas_revenue_share", 0.6),
        ("FY2024", "avg_selling_price", 300000),
    ):
        unit = {"overseas_revenue_share": "fraction", "avg_selling_price": "CNY/tonne"}.get(
            item, "CNY mn"
        )
        lines.append(f"{period},{item},{value},{unit},test,")
    (root / "statements" / "300999.SZ.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (root / "prices.csv").open("a", encoding="utf-8", newline="") as fh:
        fh.write("300999.SZ,2025-06-30,close,10,CNY,test,\n")


def test_adding_a_firm_leaves_every_other_firms_reported_and_derived_figures_unchanged(
    tmp_path: Path,
) -> None:
    root = tmp_path / "inputs"
    shutil.copytree(SHIPPED, root)
    _add_firm(root)
    before_inputs, after_inputs = load_inputs(SHIPPED), load_inputs(root)
    assert "300999.SZ" in after_inputs.tickers
    for q in (Q2, Q3):
        before = compute_bases(before_inputs, q).provenance()
        after = compute_bases(after_inputs, q).provenance().filter(pl.col("ticker") != "300999.SZ")
        keep = pl.col("basis").is_in(["reported", "derived"])
        cols = ["ticker", "figure", "value", "basis", "how", "sources"]
        b = before.filter(keep).select(cols).sort("ticker", "figure")
        a = after.filter(keep).select(cols).sort("ticker", "figure")
        assert b.height > 60
        assert b.equals(a), q
        # the new firm's figures do move estimated ones (it is a 4th reporter of some ratios)
        assert after.filter(pl.col("basis") == "estimated").height > 0


# --- 6. a current as-of, prices with their age ----------------------------------------


def test_default_as_of_is_after_2025q2_on_the_shipped_inputs(inputs) -> None:  # type: ignore[no-untyped-def]
    q, _later = default_as_of(inputs, select_firms(inputs, None))
    assert q > Q2
    assert q == parse_quarter("2025Q4")  # 4 of the 7 default firms report FY2025


def test_run_without_as_of_marks_stale_firms_and_price_ages(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--outputs", str(out), "--no-workbooks"])
    assert result.exit_code == 0, result.output
    assert "stressmodel run as of 2025Q4" in result.stdout
    assert "603072.SH  actuals 2025Q2 (STALE: 2 quarters behind the as-of)" in result.stdout
    s = pl.read_csv(out / "2025Q4" / "summary.csv").filter(pl.col("scenario") == "baseline")
    row = {r["ticker"]: r for r in s.iter_rows(named=True)}
    assert row[TH]["latest_actuals"] == "2025Q2" and row[TH]["stale_quarters"] == 2
    assert row[ZK]["stale_quarters"] == 0
    assert (
        row[TH]["price_date"] == "2025-04-29"
        and row[TH]["price_age_days"] == 246
        and row[TH]["price_stale"]
    )
    assert all(
        r["price_date"] is not None and r["price_age_days"] is not None for r in row.values()
    )
    base = pl.read_csv(out / "2025Q4" / "base_figures.csv")
    assert base.filter(pl.col("figure") == "price_age_days").height == len(row)


def test_price_date_values_at_a_later_close_without_later_statements(inputs) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    bases = compute_bases(inputs, Q3, dt.date(2026, 3, 27))
    zk = bases.firms[ZK]
    assert zk.value("share_price") == pytest.approx(11.73)  # close of 2026-03-27
    assert zk.value("price_age_days") == 0
    assert zk.figures["revenue_ttm"].quarter in (None, Q3)  # statements still stop at 2025Q3
    assert compute_bases(inputs, Q3).firms[ZK].value("share_price") != pytest.approx(11.73)


def test_change_report_says_when_peer_estimates_moved(tmp_path: Path) -> None:
    from stressmodel.run.app import peer_estimate_changes

    cols = {
        "ticker": ["000795.SZ"],
        "figure": ["receivables"],
        "value": [1.0],
        "basis": ["estimated"],
        "sources": [""],
    }
    old = "TTM revenue x receivable days / 365 (peer median dso of 3 reporting peers in group g (A, B, C))"
    new = "TTM revenue x receivable days / 365 (peer median dso of 4 reporting peers in group g (A, B, C, D))"
    pl.DataFrame({**cols, "how": [old]}).write_csv(tmp_path / "base_figures.csv")
    notes = peer_estimate_changes(
        tmp_path / "base_figures.csv", pl.DataFrame({**cols, "how": [new]})
    )
    assert notes == {
        "000795.SZ": "peer estimates moved: receivables: TTM revenue x receivable days / 365 now from A, B, C, D (was A, B, C)"
    }
    assert (
        peer_estimate_changes(tmp_path / "base_figures.csv", pl.DataFrame({**cols, "how": [old]}))
        == {}
    )


def test_run_published_by_leaves_out_figures_published_later(tmp_path: Path) -> None:
    """``run --published-by``: a statement row whose note carries a publication date after
    the given day (as ``stressmodel fetch`` writes it) does not enter the run; without the
    option it does. Zhenghai's Q3-2025 report figures (9M, Q3 and the Q3 TTM), marked as
    published on 2025-10-26, are left out of a run as of 2025Q3 with --published-by
    2025-10-01, so its run-rate falls back to the H1 TTM."""
    root = tmp_path / "inputs"
    shutil.copytree(ROOT / "inputs", root)
    path = root / "statements" / f"{ZH}.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = list(reader.fieldnames or []), list(reader)
    n = 0
    for r in rows:
        if r["period"] in ("2025-9M", "2025Q3", "2025Q3-TTM"):  # all from the Q3 report
            r["note"] = f"{r['note']}; published 2025-10-26".lstrip("; ")
            n += 1
    assert n > 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)

    def revenue_how(*extra: str) -> str:
        out = tmp_path / ("out" + "".join(extra).replace("-", ""))
        args = ["run", "--inputs", str(root), "--outputs", str(out), "--as-of", "2025Q3"]
        result = CliRunner().invoke(main, [*args, "--no-workbooks", "--quiet", *extra])
        assert result.exit_code == 0, result.output
        bf = pl.read_csv(out / "2025Q3" / "base_figures.csv")
        row = bf.filter((pl.col("ticker") == ZH) & (pl.col("figure") == "revenue_ttm")).row(
            0, named=True
        )
        return str(row["how"])

    assert "2025Q3" in revenue_how()
    later = revenue_how("--published-by", "2025-10-01")
    assert "2025Q3" not in later and "2025Q2" in later
    bad = CliRunner().invoke(main, ["run", "--inputs", str(root), "--published-by", "soon"])
    assert bad.exit_code == 2 and "--published-by must be a date" in bad.output


def test_peer_median_how_lists_the_peers_only_up_to_the_cap() -> None:
    """A peer median's how text names its reporting peers when there are at most
    MAX_LISTED_PEERS (12); a larger group is named by count and group alone."""
    from stressmodel.model.base.figures import MAX_LISTED_PEERS, PeerStat

    assert MAX_LISTED_PEERS == 12
    few = PeerStat(0.5, tuple(f"T{i:02d}" for i in range(12)), "g")
    many = PeerStat(0.5, tuple(f"T{i:02d}" for i in range(13)), "g")
    assert few.median_how("dso") == (
        "peer median dso of 12 reporting peers in group g (" + ", ".join(few.tickers) + ")"
    )
    assert many.median_how("dso") == "peer median dso of 13 reporting peers in group g"


def test_large_peer_group_figures_name_the_count_not_the_tickers(tmp_path: Path) -> None:
    """On a synthetic universe of 40 firms (about half report receivables), a firm without
    receivables has dso from the median of more than 12 peers: the text gives the number of
    peers and the group, no ticker; the shipped 8-firm register still lists its peers."""
    from stressmodel.bench import setting, write_synthetic_inputs

    write_synthetic_inputs(ROOT / "inputs", tmp_path, setting(ROOT / "inputs").templates, 40)
    bases = compute_bases(load_inputs(tmp_path), parse_quarter("2025Q3"))
    hows = {
        f.how for fb in bases.firms.values() for f in fb.figures.values() if "peer median" in f.how
    }
    large = [h for h in hows if "peer median dso of" in h]
    assert large, "no firm estimated dso from its peers"
    for h in large:
        n = int(h.split("peer median dso of ")[1].split(" ")[0])
        assert n > 12
        assert h.endswith(f"(peer median dso of {n} reporting peers in group re_magnets)")
        assert ".S" not in h  # no ticker (.SZ/.SH) in the text
    shipped = compute_bases(load_inputs(ROOT / "inputs"), parse_quarter("2025Q3"))
    dso = {
        f.how
        for fb in shipped.firms.values()
        for n, f in fb.figures.items()
        if "peer median dso" in f.how
    }
    assert dso and all(h.endswith("300224.SZ, 603072.SH))") for h in dso), dso


def test_change_report_for_a_group_too_large_to_list(tmp_path: Path) -> None:
    """peer_estimate_changes reads the count-and-group text of a large group, also when a
    group grows past the cap (the earlier text listed its tickers)."""
    from stressmodel.run.app import peer_estimate_changes

    cols = {
        "ticker": ["000795.SZ"] * 2,
        "figure": ["receivables", "inventory"],
        "value": [1.0, 2.0],
        "basis": ["estimated"] * 2,
        "sources": [""] * 2,
    }
    twelve = ", ".join(f"T{i:02d}" for i in range(12))
    old = [
        "TTM revenue x receivable days / 365 (peer median dso of 13 reporting peers in group g)",
        f"TTM cost of revenue x inventory days / 365 (peer median dio of 12 reporting peers in group g ({twelve}))",
    ]
    new = [
        "TTM revenue x receivable days / 365 (peer median dso of 14 reporting peers in group g)",
        "TTM cost of revenue x inventory days / 365 (peer median dio of 13 reporting peers in group g)",
    ]
    pl.DataFrame({**cols, "how": old}).write_csv(tmp_path / "base_figures.csv")
    notes = peer_estimate_changes(tmp_path / "base_figures.csv", pl.DataFrame({**cols, "how": new}))
    assert notes == {
        "000795.SZ": "peer estimates moved: "
        "receivables: TTM revenue x receivable days / 365 now from 14 reporting peers in group g "
        "(was 13 reporting peers in group g); "
        "inventory: TTM cost of revenue x inventory days / 365 now from 13 reporting peers in group g "
        f"(was {twelve})"
    }
    assert (
        peer_estimate_changes(tmp_path / "base_figures.csv", pl.DataFrame({**cols, "how": old}))
        == {}
    )
