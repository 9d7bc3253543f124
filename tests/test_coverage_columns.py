"""The columnar statements store and the column-wise coverage table equal the per-firm paths.

``stressmodel validate`` computes its coverage table from all firms' statements at once
(:mod:`stressmodel.model.base.coverage`) instead of :func:`compute_bases` firm by firm, and
:func:`load_inputs` keeps the statements as one frame (:class:`StatementStore`). Both are
checked here against the per-firm code on the shipped inputs at every quarter and on
synthetic universes with gaps: rows dropped at random (so figures are derived, taken from
earlier quarters or estimated from peers and sector assumptions), whole items dropped, peer
groups too small for a median, register fields blanked, corporate events.
"""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

import pytest

from stressmodel.bench import setting, write_synthetic_inputs
from stressmodel.inputs.load import Inputs, load_inputs
from stressmodel.inputs.periods import parse_quarter
from stressmodel.inputs.statement_store import StatementStore, statement_figures, statement_store
from stressmodel.model.base import compute, compute_bases, latest_actuals
from stressmodel.model.base.coverage import (
    coverage_columns,
    latest_actuals_columns,
    peer_stats_columns,
)
from stressmodel.run.app import COVERAGE_FIGURES, coverage

INPUTS = Path(__file__).resolve().parents[1] / "inputs"


def per_firm(inputs: Inputs, q: int) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    ref = compute_bases(inputs, q)
    bases = {
        t: {n: f.basis for n, f in fb.figures.items() if n in COVERAGE_FIGURES}
        for t, fb in ref.firms.items()
    }
    return bases, ref.not_runnable


def assert_same_coverage(inputs: Inputs, quarters: range) -> int:
    """The columnar bases equal compute_bases' at every quarter; returns how many firm
    figures were compared (so that a test can show it compared something)."""
    compared = 0
    for q in quarters:
        got = coverage_columns(inputs, q, COVERAGE_FIGURES)
        want = per_firm(inputs, q)
        assert got[1] == want[1], q  # not runnable, with the same reason
        assert got[0] == want[0], q
        compared += sum(len(v) for v in want[0].values())
    return compared


def assert_same_peers(inputs: Inputs, quarters: range, firms: int = 3) -> int:
    """The columnar peer medians equal :func:`peer_medians` over every firm's own ratios, and
    the bases of a few firms alone (``compute_bases(tickers=...)``, which reads them) equal
    those of the full set; returns how many peer statistics were compared."""
    compared = 0
    for q in quarters:
        full = compute_bases(inputs, q)
        got = peer_stats_columns(inputs, q)
        assert got == full.peers, q
        compared += sum(len(v) for v in got.values())
        some = sorted(full.firms)[::7][:firms] + sorted(full.not_runnable)[:1]
        alone = compute_bases(inputs, q, tickers=some)  # per-firm or columnar by register size
        with pytest.MonkeyPatch.context() as mp:  # the columnar path whatever the size
            mp.setattr(compute, "COLUMNAR_PEERS_FROM", 0)
            col = compute_bases(inputs, q, tickers=some)
        assert (col.firms, col.peers, col.not_runnable) == (
            alone.firms,
            alone.peers,
            alone.not_runnable,
        ), q
        assert alone.peers == full.peers, q
        assert alone.firms == {t: full.firms[t] for t in some if t in full.firms}, q
        assert alone.not_runnable == {
            t: full.not_runnable[t] for t in some if t in full.not_runnable
        }, q
    return compared


@pytest.fixture(scope="module")
def shipped() -> Inputs:
    return load_inputs(INPUTS)


def test_store_rows_equal_the_rows_of_each_file(shipped: Inputs) -> None:
    """Per-firm rows of the store are what the per-file check returns (keys, order, types)."""
    from stressmodel.inputs.readers import read_csv
    from stressmodel.inputs.validation import check_statements
    from stressmodel.inputs.vocabulary import STATEMENT_COLUMNS

    store = shipped.statements
    assert isinstance(store, StatementStore)
    for t in shipped.tickers:
        name = f"inputs/statements/{t}.csv"
        _p, rows = check_statements(
            read_csv(INPUTS / "statements" / f"{t}.csv", name, STATEMENT_COLUMNS)
        )
        assert list(store[t]) == rows
        assert [type(v) for v in store[t][0].values()] == [type(v) for v in rows[0].values()]
    assert statement_figures(store) == sum(len(v) for v in dict(store.items()).values())
    assert dict(store.items()) == {t: tuple(store[t]) for t in store}


def test_store_as_of_equals_filtering_the_rows(shipped: Inputs) -> None:
    import datetime as dt

    plain = {t: tuple(rows) for t, rows in shipped.statements.items()}
    for q in (parse_quarter("2024Q2"), parse_quarter("2025Q3")):
        for day in (None, dt.date(2025, 8, 1), dt.date(2025, 11, 15)):
            from dataclasses import replace

            want = replace(shipped, statements=plain).as_of(q, day).statements
            got = shipped.as_of(q, day).statements
            assert isinstance(got, StatementStore)
            assert dict(got.items()) == dict(want)
            assert got == statement_store(want)
    store = shipped.statements
    assert (
        store == statement_store(plain)
        and store != shipped.as_of(parse_quarter("2024Q2")).statements
    )


def test_columnar_coverage_equals_compute_bases_on_the_shipped_inputs_at_every_quarter(
    shipped: Inputs,
) -> None:
    compared = assert_same_coverage(
        shipped, range(parse_quarter("2021Q1"), parse_quarter("2026Q4") + 1)
    )
    assert compared > 1000
    assert (
        assert_same_peers(shipped, range(parse_quarter("2021Q1"), parse_quarter("2026Q4") + 1))
        > 100
    )
    # with the statements as a plain mapping (dataclasses.replace), the same
    from dataclasses import replace

    plain = replace(shipped, statements={t: tuple(r) for t, r in shipped.statements.items()})
    assert_same_coverage(plain, range(parse_quarter("2025Q3"), parse_quarter("2025Q4") + 1))


def test_latest_actuals_and_the_table_equal_the_per_firm_path(shipped: Inputs) -> None:
    assert latest_actuals_columns(shipped.statements) == latest_actuals(shipped)
    assert coverage(shipped, columnar=True)[1].equals(coverage(shipped, columnar=False)[1])
    assert coverage(shipped)[0] == coverage(shipped, columnar=False)[0]


def _gappy_universe(dest: Path, n: int, seed: int, drop: float) -> None:
    """A synthetic universe of ``n`` firms with rows, items and register fields removed."""
    s = setting(INPUTS)
    write_synthetic_inputs(INPUTS, dest, s.templates, n)
    shutil.copy(INPUTS / "events.csv", dest / "events.csv")
    rng = random.Random(seed)
    items_dropped = (
        "total_debt",
        "cash_and_equivalents",
        "receivables",
        "inventory",
        "total_assets",
        "total_liabilities",
        "cost_of_revenue",
        "operating_income",
        "depreciation_amortization",
        "short_term_debt",
        "overseas_revenue_share",
        "net_income",
        "operating_cash_flow",
        "interest_expense",
    )
    for path in sorted((dest / "statements").iterdir()):
        cols, rows = _read_rows(path)
        p = rng.choice((0.0, drop / 2, drop))
        gone = set(rng.sample(items_dropped, rng.choice((0, 0, 1, 3))))
        kept = [
            r
            for r in rows
            if (r["item"] == "revenue" and r["period"].startswith("FY"))
            or (r["item"] not in gone and rng.random() >= p)
        ]
        _write_rows(path, cols, kept)
    cols, firms = _read_rows(dest / "firms.csv")
    for r in firms:
        r["peer_group"] = rng.choice(
            ("re_magnets", "re_magnets", "re_magnets", "small_a", "small_b")
        )
        if rng.random() < 0.3:
            r["export_share"] = r["export_share_period"] = r["export_share_source"] = ""
        if rng.random() < 0.3:
            r["equity_volatility"] = r["equity_volatility_source"] = ""
    _write_rows(dest / "firms.csv", cols, firms)
    # events of the shipped firms apply to the synthetic firms copied from them
    ecols, events = _read_rows(dest / "events.csv")
    out = []
    for i, r in enumerate(firms):
        for e in events:
            if r["note"].startswith(f"synthetic benchmark firm: {e['ticker']} x ") and i % 2:
                out.append({**e, "ticker": r["ticker"]})
    _write_rows(dest / "events.csv", ecols, out)


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write_rows(path: Path, cols: list[str], rows: list[dict[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


@pytest.mark.parametrize(("seed", "drop"), [(1, 0.3), (2, 0.6), (3, 0.9)])
def test_columnar_coverage_equals_compute_bases_on_gappy_universes(
    tmp_path: Path, seed: int, drop: float
) -> None:
    root = tmp_path / "inputs"
    _gappy_universe(root, 120, seed, drop)
    inputs = load_inputs(root)
    compared = assert_same_coverage(
        inputs, range(parse_quarter("2023Q1"), parse_quarter("2026Q2") + 1, 3)
    )
    assert compared > 1000
    assert (
        assert_same_peers(inputs, range(parse_quarter("2023Q1"), parse_quarter("2026Q2") + 1, 3))
        > 50
    )
    ref = compute_bases(inputs, parse_quarter("2025Q3"))
    bases = [f.basis for fb in ref.firms.values() for f in fb.figures.values()]
    assert bases.count("estimated") > 100 and bases.count("derived") > 100  # the gaps did bite
    assert latest_actuals_columns(inputs.statements) == latest_actuals(inputs)
    assert coverage(inputs)[1].equals(coverage(inputs, columnar=False)[1])


def test_store_pickles_and_compares_with_plain_mappings(shipped: Inputs) -> None:
    import pickle

    store = shipped.statements
    back = pickle.loads(pickle.dumps(store))
    assert back == store and dict(back.items()) == dict(store.items())
    plain = {t: tuple(rows) for t, rows in store.items()}
    assert store == plain and plain == dict(store.items())
    assert "603072.SH" in store and "000000.SZ" not in store and len(store) == len(plain)
    with pytest.raises(KeyError):
        store["000000.SZ"]


def test_bases_wanting_every_firm_take_the_per_firm_path_with_the_full_sets_bases(
    shipped: Inputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a back-test of the whole register: no columnar pass (it would build every firm's
    # statements anyway), and the same bases as the full set and as the columnar path
    monkeypatch.setattr(compute, "COLUMNAR_PEERS_FROM", 0)
    from stressmodel.model.base import coverage

    calls: list[int] = []
    original = coverage.peer_stats_columns

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(coverage, "peer_stats_columns", counted)
    q = parse_quarter("2025Q3")
    full = compute_bases(shipped, q)
    every = compute_bases(shipped, q, tickers=list(shipped.statements.tickers))
    assert calls == []
    assert (every.firms, every.peers, every.not_runnable) == (
        full.firms,
        full.peers,
        full.not_runnable,
    )
    some = list(shipped.statements.tickers)[:-1]
    part = compute_bases(shipped, q, tickers=some)
    assert len(calls) == 1
    assert part.firms == {t: full.firms[t] for t in some if t in full.firms}
