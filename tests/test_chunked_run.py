"""A run processed in firm chunks gives the same outputs as a run at once, and peers
(universe firms a run does not report) projected under the baseline case only give the
same outputs as projecting every case of theirs (issue 18 item 3, issue 17's 1,000-firm
memory bound)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from stressmodel.cli import main
from stressmodel.inputs.load import load_inputs
from stressmodel.model.cases import case_frame
from stressmodel.pipeline import memory, stages
from stressmodel.pipeline.result import RunOptions, RunResult
from stressmodel.run import outputs
from stressmodel.run.app import MEMORY_LIMIT_ENV

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ROOT / "inputs"
AS_OF = "2025Q1"
FRAMES = ("projection", "grid_projection", "grid_summary", "valuation", "summary")


@pytest.fixture(scope="module")
def inputs():
    return load_inputs(INPUTS)


def _frames(result: RunResult) -> dict[str, pl.DataFrame]:
    out = {name: getattr(result, name) for name in FRAMES}
    for key, value in result.extras.items():
        if isinstance(value, pl.DataFrame):
            out[key] = value
    # the index's rows come in the order of a group_by (any order) in both paths
    out["consolidation"] = out["consolidation"].sort("ticker", "scenario")
    return out


def _assert_same(a: RunResult, b: RunResult) -> None:
    fa, fb = _frames(a), _frames(b)
    assert set(fa) == set(fb)
    for name, frame in fa.items():
        assert frame.height > 0, name
        assert frame.equals(fb[name]), name  # every value to the bit, nulls alike
    for key in ("peer_median_roa", "fx_note", "multiples_note", "universe", "not_run"):
        assert a.extras[key] == b.extras[key], key
    assert a.tickers == b.tickers


@pytest.fixture(scope="module")
def at_once(inputs):
    return stages.run_model(inputs, RunOptions(as_of=None))


@pytest.mark.parametrize("size", [1, 2, 3])
def test_a_chunked_run_model_equals_the_run_at_once(inputs, at_once, size):
    chunked = stages.run_model(inputs, RunOptions(chunk_firms=size))
    assert len(at_once.tickers) > size  # really in chunks
    _assert_same(at_once, chunked)


def test_peer_cases_are_the_full_frame_with_the_peers_other_cases_left_out():
    firms = pl.DataFrame({"ticker": ["Z", "A", "M", "B"], "f_x": [1.0, 2.0, 3.0, 4.0]})
    scen = pl.DataFrame({"scenario": ["seed", "baseline", "g1"], "s_y": [0.1, 0.2, 0.3]})
    full = case_frame(firms, scen)
    want = full.filter(pl.col("ticker").is_in(["M", "Z"]) | (pl.col("scenario") == "baseline"))
    assert stages.peer_cases(firms, scen, ["M", "Z"]).equals(want)
    assert (
        stages.peer_cases(firms, scen.filter(pl.col("scenario") != "baseline"), ["M"]).height == 8
    )


def test_firm_chunks_are_sorted_ranges_then_the_peers():
    chunks = stages.firm_chunks(["C", "A", "E", "B", "D"], ["A", "B", "C", "D", "E", "P", "Q"], 2)
    assert chunks == [["A", "B"], ["C", "D"], ["E"], ["P", "Q"]]


def test_peers_projected_under_the_baseline_only_give_the_same_outputs(inputs, monkeypatch):
    """Two reported firms, six peers: the peers' other cases change no output."""
    options = RunOptions(firms=("603072.SH", "300224.SZ"))
    pruned = stages.run_model(inputs, options)
    peers = set(pruned.extras["universe"]) - set(pruned.tickers)
    assert len(peers) >= 5
    peer_rows = pruned.cases.filter(pl.col("ticker").is_in(list(peers)))
    assert peer_rows["scenario"].unique().to_list() == [stages.PEER_SCENARIO]
    monkeypatch.setattr(
        stages, "peer_cases", lambda firms, scen, _runnable: case_frame(firms, scen)
    )
    full = stages.run_model(inputs, options)
    n_cases = len(inputs.scenarios.named) + len(inputs.scenarios.grid_scenarios())
    assert full.cases.height == len(full.extras["universe"]) * n_cases > pruned.cases.height
    _assert_same(full, pruned)
    # and chunked on top of it
    _assert_same(full, stages.run_model(inputs, RunOptions(firms=options.firms, chunk_firms=1)))


# --- the memory plan ----------------------------------------------------------------------


def test_the_plan_runs_at_once_within_the_limit_and_in_chunks_above_it():
    whole = memory.estimate(1000, 259, 8)
    assert memory.plan(memory.estimate(7, 259, 8, peers=1), 20 * 1024**3) is None
    k = memory.plan(whole, 20 * 1024**3)  # above CHUNK_ABOVE_BYTES: chunked anyway
    # the largest chunk within CHUNK_ABOVE_BYTES is 3 firms here (1,000 firms' inputs and
    # held cases take most of it), below the floor of MIN_CHUNK_FIRMS
    soft = memory.chunk_firms(whole, memory.CHUNK_ABOVE_BYTES)
    assert soft is not None and 1 <= soft < memory.MIN_CHUNK_FIRMS
    assert k == memory.MIN_CHUNK_FIRMS
    # a smaller register: the largest chunk within CHUNK_ABOVE_BYTES, above the floor
    mid = memory.estimate(100, 259, 8)
    k = memory.plan(mid, 20 * 1024**3)
    assert k is not None and memory.MIN_CHUNK_FIRMS < k < 100
    assert memory.estimate(100, 259, 8, chunk_firms=k).bytes <= memory.CHUNK_ABOVE_BYTES
    assert memory.estimate(100, 259, 8, chunk_firms=k + 1).bytes > memory.CHUNK_ABOVE_BYTES
    # the floor never exceeds what the limit allows, nor the firms of the run
    tight = memory.estimate(1000, 259, 8, chunk_firms=5).bytes
    assert memory.plan(whole, tight) == 5
    assert memory.plan(memory.estimate(20, 2000, 8), 20 * 1024**3) is None
    # a limit below CHUNK_ABOVE_BYTES: the largest chunk within the limit
    # (100 cases: 1,000 firms' inputs and held cases of 259 take 994 MB before any quarter)
    limit = 900 * 1024**2
    k = memory.plan(memory.estimate(1000, 100, 8), limit)
    assert k is not None and k > 1 and memory.estimate(1000, 100, 8, chunk_firms=k).bytes <= limit
    assert memory.estimate(1000, 100, 8, chunk_firms=k + 1).bytes > limit
    # not even one firm at a time
    assert memory.plan(whole, memory.FIXED_BYTES) == 0
    assert memory.plan(whole, 200 * 1024**2) == 0


def test_a_chunk_estimate_counts_one_chunk_of_quarters_and_every_case_held():
    a = memory.estimate(100, 50, 8, chunk_firms=10)
    b = memory.estimate(100, 50, 8, chunk_firms=20)
    assert b.bytes - a.bytes == 10 * 50 * 8 * memory.BYTES_PER_CASE_QUARTER
    c = memory.estimate(200, 50, 8, chunk_firms=10)
    assert (
        c.bytes - a.bytes
        == 100 * 50 * memory.HELD_BYTES_PER_CASE + 100 * memory.INPUT_BYTES_PER_FIRM
    )
    # peers: their one case each, at once with the firms or as their own chunk
    assert memory.estimate(10, 50, 8, peers=30).bytes - memory.estimate(10, 50, 8).bytes == (
        30 * 8 * memory.BYTES_PER_CASE_QUARTER + 30 * memory.INPUT_BYTES_PER_FIRM
    )
    assert "10 firms at a time" in a.describe()


def test_every_register_firm_adds_its_inputs_and_base_chunked_or_not() -> None:
    """The per-firm part (measured 178 kB per firm of inputs and base at 10,000 firms) grows
    with the register and is not reduced by chunking: 8 reported firms among 10,000 are
    estimated above 2 GB (measured peak of that run: 2.2 GB), not the ~0.7 GB of quarters."""
    small, big = memory.estimate(8, 259, 8, peers=92), memory.estimate(8, 259, 8, peers=9992)
    assert big.bytes - small.bytes == 9900 * (
        8 * memory.BYTES_PER_CASE_QUARTER + memory.INPUT_BYTES_PER_FIRM
    )
    assert big.bytes > 2 * 1024**3
    at_once, chunked = memory.estimate(100, 50, 8), memory.estimate(100, 50, 8, chunk_firms=10)
    for e in (at_once, chunked):
        assert e.bytes >= memory.FIXED_BYTES + 100 * memory.INPUT_BYTES_PER_FIRM


# --- end to end: the CLI under a test-set memory limit -------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _run(out: Path, env: dict[str, str], workbooks: bool) -> tuple[int, str]:
    argv = ["run", "--inputs", str(INPUTS), "--outputs", str(out), "--as-of", AS_OF]
    if not workbooks:
        argv.append("--no-workbooks")
    res = CliRunner().invoke(main, argv, env=env, catch_exceptions=False)
    return res.exit_code, res.stdout


def _limit_for_chunks(inputs, size: int) -> str:
    n_cases = len(inputs.scenarios.named) + len(inputs.scenarios.grid_scenarios())
    firms = len(stages.select_firms(inputs, None))
    peers = len(inputs.register) - firms
    est = memory.estimate(firms, n_cases, inputs.sector.int("horizon_quarters"), False, peers, size)
    assert memory.plan(memory.estimate(firms, n_cases, 8, False, peers), est.bytes) == size
    return str(est.bytes)


@pytest.mark.parametrize("workbooks", [False, True])
def test_a_run_over_the_memory_limit_completes_in_chunks_with_the_same_outputs(
    tmp_path, inputs, workbooks
):
    env = {"SOURCE_DATE_EPOCH": "1764633600"}
    whole_out, chunk_out = tmp_path / "whole", tmp_path / "chunked"
    code, text = _run(whole_out, env, workbooks)
    assert code == 0, text
    code, chunked_text = _run(
        chunk_out, {**env, MEMORY_LIMIT_ENV: _limit_for_chunks(inputs, 2)}, workbooks
    )
    assert code == 0, chunked_text
    assert chunked_text.replace(str(chunk_out), str(whole_out)) == text  # the summary text
    a, b = _files(whole_out / AS_OF), _files(chunk_out / AS_OF)
    assert set(a) == set(b)
    assert any(n.endswith(".xlsx") for n in a) == workbooks
    for name in a:
        if name in ("manifest.json", "projections.parquet"):
            continue
        assert a[name] == b[name], name  # CSVs and workbooks: the same bytes
    pa = pl.read_parquet(whole_out / AS_OF / "projections.parquet")
    pb = pl.read_parquet(chunk_out / AS_OF / "projections.parquet")
    assert pa.height > 0 and pa.schema == pb.schema and pa.equals(pb)
    manifest = json.loads((chunk_out / AS_OF / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["chunked"]["chunk_firms"] == 2
    assert "chunked" not in json.loads(
        (whole_out / AS_OF / "manifest.json").read_text(encoding="utf-8")
    )
    digest = hashlib.sha256((chunk_out / AS_OF / "projections.parquet").read_bytes()).hexdigest()
    assert manifest["outputs"]["projections.parquet"] == digest
    # the parts went with the run: nothing else in the outputs folder
    assert sorted(p.name for p in chunk_out.iterdir()) == [AS_OF]


def test_parts_are_owned_and_removed_on_close(tmp_path):
    parts = outputs.SpillParts(tmp_path, AS_OF)
    frame = pl.DataFrame({"ticker": ["A", "B"], "x": [1.0, 2.0]})
    lazy = parts(frame)
    assert lazy.collect().equals(frame)
    (wrapper,) = [p for p in tmp_path.iterdir()]
    owned = outputs.read_owned(wrapper)
    assert owned is not None and owned.kind == "tmp" and owned.target == f"{AS_OF}-parts"
    parts.close()
    assert list(tmp_path.iterdir()) == []


def test_a_killed_runs_parts_are_cleaned_by_the_next_run(tmp_path, monkeypatch):
    """A wrapper left by a process that is gone goes at the next run's cleanup."""
    parts = outputs.SpillParts(tmp_path, AS_OF)
    parts(pl.DataFrame({"x": [1]}))
    (wrapper,) = list(tmp_path.iterdir())
    outputs.release(parts._owned)  # as if this process had died: no longer in use here
    monkeypatch.setattr(outputs, "_in_use", lambda _path, _pid: False)
    assert outputs.cleanup_stale(tmp_path) == [wrapper]
    assert list(tmp_path.iterdir()) == []


# --- the cross-checks' leave-one-out medians (O(n log n), 10,000 peers) -------------------


def _numpy_leave_one_out(values):
    import numpy as np

    out = []
    for i in range(len(values)):
        others = [v for j, v in enumerate(values) if j != i and v is not None]
        out.append(float(np.median(others)) if others else None)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_leave_one_out_medians_equal_numpy_to_the_bit(seed):
    import random
    import struct

    from stressmodel.analysis.valuation import leave_one_out_medians

    rng = random.Random(seed)
    n = rng.choice([0, 1, 2, 3, 4, 5, 8, 13, 50])
    pool = [rng.uniform(-30, 80) for _ in range(max(1, n // 3))]  # ties
    values = [
        None
        if rng.random() < 0.2
        else (rng.choice(pool) if rng.random() < 0.4 else rng.uniform(-30, 80) * 1e3)
        for _ in range(n)
    ]
    got, want = leave_one_out_medians(values), _numpy_leave_one_out(values)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g is None) == (w is None)
        if g is not None:
            assert struct.pack("<d", g) == struct.pack("<d", w)


def test_leave_one_out_medians_with_a_nan_take_numpys_path():
    from stressmodel.analysis.valuation import leave_one_out_medians

    values = [1.0, float("nan"), 3.0, None]
    got = leave_one_out_medians(values)
    want = _numpy_leave_one_out(values)
    assert [str(x) for x in got] == [str(x) for x in want]


def test_backtests_from_the_selected_firms_bases_equal_those_from_every_firms(inputs, monkeypatch):
    from stressmodel.inputs.periods import parse_quarter
    from stressmodel.pipeline.backtest import run_backtests

    firms = ("603072.SH", "300224.SZ")
    as_of = parse_quarter("2025Q4")
    lean = run_backtests(inputs, firms, as_of, 8)
    assert lean.projections
    whole_bases = stages.compute_bases

    def every_firm(*args, tickers=None, **kw):
        return whole_bases(*args, **kw)

    monkeypatch.setattr(stages, "compute_bases", every_firm)
    full = run_backtests(inputs, firms, as_of, 8)
    assert lean.projections.keys() == full.projections.keys() and lean.skipped == full.skipped
    for q, frame in full.projections.items():
        assert frame.height > 0 and frame.equals(lean.projections[q]), q


def test_the_workbooks_read_nothing_that_for_workbooks_releases(inputs) -> None:
    from stressmodel.inputs.periods import parse_quarter
    from stressmodel.pipeline.result import for_workbooks
    from stressmodel.report import workbook_inputs, workbook_specs

    full = stages.run_model(inputs, RunOptions(as_of=parse_quarter(AS_OF)))
    cut = for_workbooks(full)
    names = {s.name for s in full.scenarios}
    assert set(cut.cases["scenario"]) == names and cut.cases.height < full.cases.height
    assert cut.grid_projection is None
    for name in ("valuation",):
        frame = getattr(cut, name)
        assert set(frame["scenario"]) == names and frame.height < getattr(full, name).height
    scored = cut.extras["consolidation"]
    assert set(scored["scenario"]) == names
    assert scored.height < full.extras["consolidation"].height
    assert cut.summary.equals(full.summary) and cut.grid_summary.height > 0
    # the workbooks' inputs: no statements, prices, trade months or events
    lean = workbook_inputs(inputs)
    assert not lean.statements and not lean.prices and not lean.trade and not lean.events
    assert lean.register == inputs.register and lean.file_hashes == inputs.file_hashes
    want, got = workbook_specs(full, inputs), workbook_specs(cut, lean)
    assert [s.filename for s in got] == [s.filename for s in want]
    assert got == want  # every sheet's cells, formulas, charts and formats


def test_a_pool_task_gets_its_firms_bases_and_no_sector_only_extras(inputs) -> None:
    from stressmodel.inputs.periods import parse_quarter
    from stressmodel.report import (
        MIN_TASK_FIRMS,
        SECTOR_EXTRAS,
        TASK_FIRMS,
        firms_run,
        task_chunks,
    )

    full = stages.run_model(inputs, RunOptions(as_of=parse_quarter(AS_OF)))
    some = list(full.tickers[:2])
    cut = firms_run(full, some)
    assert list(cut.bases.firms) == some and set(cut.bases.own_ratios) <= set(some)
    assert cut.bases.peers == full.bases.peers
    assert not set(SECTOR_EXTRAS) & set(cut.extras) and set(SECTOR_EXTRAS) <= set(full.extras)
    assert set(cut.summary["ticker"]) == set(some)
    # tasks: never more than TASK_FIRMS firms, order kept, shrinking to the end
    tickers = [f"{i:06d}.SZ" for i in range(1000)]
    for n, workers in ((1000, 2), (100, 2), (100, 3), (8, 2), (3, 2), (1, 2)):
        chunks = task_chunks(tickers[:n], workers)
        sizes = [len(c) for c in chunks]
        assert [t for c in chunks for t in c] == tickers[:n]
        assert max(sizes) <= TASK_FIRMS and min(sizes[:-1] or [MIN_TASK_FIRMS]) >= MIN_TASK_FIRMS
        assert sizes == sorted(sizes, reverse=True), sizes
    assert [len(c) for c in task_chunks(tickers[:100], 2)] == [
        16,
        16,
        16,
        13,
        10,
        8,
        6,
        4,
        3,
        2,
        2,
        2,
        2,
    ]


def test_the_sink_of_a_chunked_run_reads_its_parts_one_at_a_time(monkeypatch) -> None:
    """polars reads POLARS_MAX_CONCURRENT_SCANS when it plans a multi-file scan: the sink of
    the parts sets it to SINK_SCANS for its duration only, and keeps a value the user set."""
    import os

    from stressmodel.run import tables

    monkeypatch.delenv("POLARS_MAX_CONCURRENT_SCANS", raising=False)
    with tables._scans_at_a_time(tables.SINK_SCANS):
        assert os.environ["POLARS_MAX_CONCURRENT_SCANS"] == str(tables.SINK_SCANS) == "1"
    assert "POLARS_MAX_CONCURRENT_SCANS" not in os.environ
    monkeypatch.setenv("POLARS_MAX_CONCURRENT_SCANS", "5")
    with tables._scans_at_a_time(1):
        assert os.environ["POLARS_MAX_CONCURRENT_SCANS"] == "5"
    assert os.environ["POLARS_MAX_CONCURRENT_SCANS"] == "5"
