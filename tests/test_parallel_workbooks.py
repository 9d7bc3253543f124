"""Workbooks written in parallel — by worker processes, by any concurrent.futures executor
and by a Dask LocalCluster started by the test — are byte-identical to the serial run's,
and a whole run with --cluster local:2 writes the same files as a serial one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

import stressmodel.report as report
from stressmodel.cli import main
from stressmodel.inputs.load import Inputs, load_inputs
from stressmodel.pipeline.result import RunResult
from stressmodel.pipeline.stages import RunOptions, run_model
from stressmodel.run.cluster import cluster_executor, parse_cluster

ROOT = Path(__file__).resolve().parents[1]
FIRMS = ("603072.SH", "300224.SZ", "000970.SZ")


@cache
def shipped_run() -> tuple[RunResult, Inputs]:
    inputs = load_inputs(ROOT / "inputs")
    return run_model(inputs, RunOptions(firms=FIRMS)), inputs


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, bytes]]:
    result, inputs = shipped_run()
    folder = tmp_path_factory.mktemp("serial")
    names = report.write_workbooks(result, inputs, folder)
    return names, _files(folder)


def test_worker_processes_write_the_same_bytes(
    serial: tuple[list[str], dict[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "MIN_FIRMS_PER_WORKER", 1)  # 3 firms: use the pool anyway
    result, inputs = shipped_run()
    names = report.write_workbooks(result, inputs, tmp_path, workers=2)
    assert names == serial[0]
    assert _files(tmp_path) == serial[1]


def test_a_pool_started_early_writes_the_same_bytes(
    serial: tuple[list[str], dict[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the run starts the pool before the model stages (run.app.early_pool) and hands it over
    monkeypatch.setattr(report, "MIN_FIRMS_PER_WORKER", 1)
    result, inputs = shipped_run()
    with report.start_pool(inputs, 2) as pool:
        assert pool.size == 2
        names = report.write_workbooks(result, inputs, tmp_path, pool=pool)
    assert names == serial[0]
    assert _files(tmp_path) == serial[1]


def test_the_run_starts_its_pool_early_only_for_a_parallel_unchunked_run() -> None:
    from stressmodel.run.app import early_pool

    inputs = load_inputs(ROOT / "inputs")
    eight = [f"F{i}" for i in range(8)]  # only the count matters
    assert (
        report.pool_size(2, 8) == 2
        and report.pool_size(2, 7) == 1
        and report.pool_size(1, 100) == 1
    )
    assert early_pool(inputs, eight[:7], 2, None, None) is None  # too few firms: serial
    assert early_pool(inputs, eight, 1, None, None) is None
    assert early_pool(inputs, eight, 2, None, 4) is None  # chunked: no idle workers
    with ThreadPoolExecutor(1) as ex:
        assert early_pool(inputs, eight, 2, ex, None) is None  # the executor writes them
    pool = early_pool(inputs, eight, 2, None, None)
    assert pool is not None
    with pool:
        assert pool.size == 2


def test_any_executor_writes_the_same_bytes(
    serial: tuple[list[str], dict[str, bytes]], tmp_path: Path
) -> None:
    result, inputs = shipped_run()
    with ThreadPoolExecutor(2) as ex:
        names = report.write_workbooks(result, inputs, tmp_path, executor=ex)
    assert names == serial[0]
    assert _files(tmp_path) == serial[1]


def test_chunks_keep_order_and_cover_everything() -> None:
    items = [f"t{i}" for i in range(11)]
    for n in (1, 2, 3, 4, 11, 50):
        chunks = report._chunks(items, n)
        assert [x for c in chunks for x in c] == items
        assert max(map(len, chunks)) - min(map(len, chunks)) <= 1


def test_dask_local_cluster_writes_the_same_bytes(
    serial: tuple[list[str], dict[str, bytes]], tmp_path: Path
) -> None:
    # dask is in the test extra (pyproject.toml): this test runs in CI, it never skips
    result, inputs = shipped_run()
    with cluster_executor(None, "local:2") as ex:
        assert ex is not None
        names = report.write_workbooks(result, inputs, tmp_path, executor=ex)
    assert names == serial[0]
    assert _files(tmp_path) == serial[1]


def test_a_local_cluster_starts_while_another_process_holds_the_dashboard_port() -> None:
    """Dask's default dashboard port (8787) taken, e.g. by a user's own cluster or a second
    run: the run's LocalCluster takes a free port instead of failing to start."""
    import socket

    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        holder.bind(("0.0.0.0", 8787))
        holder.listen()
    except OSError:
        pass  # another process holds it already: the condition under test
    try:
        with cluster_executor(None, "local:1") as ex:
            assert ex is not None
            assert ex.submit(sum, [1, 2, 3]).result(timeout=120) == 6
    finally:
        holder.close()


def test_a_run_with_a_local_cluster_writes_what_the_serial_run_writes(tmp_path: Path) -> None:
    """Every output file (the Monte Carlo's included) equal, the manifest's times aside."""
    runner = CliRunner()
    common = [
        "run",
        "--inputs",
        str(ROOT / "inputs"),
        "--firms",
        ",".join(FIRMS),
        "--paths",
        "200",
        "--quiet",
    ]
    a = runner.invoke(main, [*common, "--outputs", str(tmp_path / "serial")])
    assert a.exit_code == 0, a.output
    b = runner.invoke(
        main, [*common, "--outputs", str(tmp_path / "cluster"), "--cluster", "local:2"]
    )
    assert b.exit_code == 0, b.output
    (fa,) = (tmp_path / "serial").iterdir()
    (fb,) = (tmp_path / "cluster").iterdir()
    files_a, files_b = _files(fa), _files(fb)
    assert files_a.keys() == files_b.keys()
    assert "montecarlo.csv" in files_a
    different = [n for n in files_a if n != "manifest.json" and files_a[n] != files_b[n]]
    assert not different


def test_cluster_option_errors_are_usage_errors() -> None:
    assert parse_cluster("local:2") == 2
    for bad in ("local:0", "remote:2", "local:x", "local:"):
        with pytest.raises(Exception, match="local:N"):
            parse_cluster(bad)
    with (
        pytest.raises(Exception, match="exclude each other"),
        cluster_executor("tcp://x:1", "local:1"),
    ):
        pass
    result = CliRunner().invoke(
        main, ["run", "--cluster", "local:0", "--outputs", "/nonexistent/x"]
    )
    assert result.exit_code == 2


def test_monte_carlo_in_firm_chunks_equals_the_serial_draws() -> None:
    from stressmodel.analysis.montecarlo import MonteCarloSpec, simulate
    from stressmodel.pipeline.stages import monte_carlo_in_chunks

    result, inputs = shipped_run()
    firms = result.bases.frame(list(result.tickers))
    spec = MonteCarloSpec.from_sector(inputs.sector, inputs.scenarios, 500)
    serial = simulate(firms, spec, result.as_of)
    with ThreadPoolExecutor(2) as ex:
        for chunks in (1, 2, 3):
            assert monte_carlo_in_chunks(firms, spec, result.as_of, ex, chunks).equals(serial)


def test_a_run_with_workers_writes_the_serial_bytes(tmp_path: Path) -> None:
    # 8 firms: the run starts its pool of 2 before the model stages and writes through it
    from stressmodel.bench import setting, write_synthetic_inputs

    src = tmp_path / "inputs"
    write_synthetic_inputs(ROOT / "inputs", src, setting(ROOT / "inputs").templates, 8)
    books: dict[str, dict[str, bytes]] = {}
    for w in ("1", "2"):
        out = tmp_path / f"out{w}"
        res = CliRunner().invoke(
            main,
            ["run", "--inputs", str(src), "--outputs", str(out), "--quiet", "--workers", w],
            env={"SOURCE_DATE_EPOCH": "1764547200"},
        )
        assert res.exit_code == 0, res.output
        (folder,) = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
        books[w] = {p.name: p.read_bytes() for p in sorted(folder.glob("*.xlsx"))}
    assert len(books["1"]) == 9  # 8 firms and the sector summary
    assert books["2"] == books["1"]
