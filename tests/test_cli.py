"""The command line: --help for every command, exit codes and the exact error line of each
error class, --json and --quiet output, --verbose logging and the progress indicator."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from stressmodel import __version__
from stressmodel.cli import Progress, main

REPO = Path(__file__).resolve().parents[1]
INPUTS = REPO / "inputs"
FIRMS = "603072.SH,300224.SZ"
EXPECTED_COMMANDS = {"run", "validate", "template", "calibrate", "batch"}


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


# --- help ----------------------------------------------------------------------------------


def test_top_level_help_and_version():
    res = invoke("--help")
    assert res.exit_code == 0
    assert res.stdout.startswith("Usage: main [OPTIONS] COMMAND [ARGS]...")
    for name in EXPECTED_COMMANDS:
        assert name in res.stdout
    res = invoke("--version")
    assert res.exit_code == 0 and __version__ in res.stdout


@pytest.mark.parametrize("command", sorted(set(main.commands) | EXPECTED_COMMANDS))
def test_every_command_has_help(command):
    """Every registered command (``bench`` too, once it exists) answers --help and -h."""
    assert command in main.commands
    for flag in ("--help", "-h"):
        res = invoke(command, flag)
        assert res.exit_code == 0, res.output
        assert "Usage:" in res.stdout and res.stderr == ""


def test_run_and_batch_help_name_their_options():
    run_help = invoke("run", "--help").stdout
    for opt in (
        "--inputs",
        "--outputs",
        "--as-of",
        "--firms",
        "--force",
        "--quiet",
        "--json",
        "--verbose",
        "--debug",
        "--no-workbooks",
    ):
        assert opt in run_help, opt
    batch_help = invoke("batch", "--help").stdout
    for opt in (
        "--from",
        "--to",
        "--inputs",
        "--outputs",
        "--firms",
        "--force",
        "--skip-existing",
        "--quiet",
        "--json",
        "--verbose",
        "--debug",
        "--no-workbooks",
    ):
        assert opt in batch_help, opt


# --- exit codes and error lines --------------------------------------------------------------


def test_click_usage_errors_exit_2():
    res = invoke("run", "--zzzz")
    assert res.exit_code == 2
    assert res.stderr.splitlines()[-1] == "Error: No such option '--zzzz'."
    res = invoke("run", "--as-of")
    assert res.exit_code == 2
    assert res.stderr.splitlines()[-1] == "Error: Option '--as-of' requires an argument."
    res = invoke("batch", "--inputs", str(INPUTS))
    assert res.exit_code == 2
    assert res.stderr.splitlines()[-1] == "Error: Missing option '--from'."
    res = invoke("frobnicate")
    assert res.exit_code == 2
    assert res.stderr.splitlines()[-1] == "Error: No such command 'frobnicate'."


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--as-of", "2025Q5"], "error: --as-of must be a quarter like 2025Q3, got '2025Q5'"),
        (
            ["--firms", "603072,ABC"],
            "error: --firms takes tickers like 603072.SH,300224.SZ; not valid: '603072', 'ABC'",
        ),
    ],
)
def test_usage_errors_of_the_package_exit_2_with_one_line(args, line, tmp_path):
    res = invoke(
        "run", "--inputs", str(INPUTS), "--outputs", str(tmp_path), "--no-workbooks", *args
    )
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [line]
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_unknown_firm_exits_2(tmp_path):
    res = invoke(
        "run",
        "--inputs",
        str(INPUTS),
        "--outputs",
        str(tmp_path),
        "--no-workbooks",
        "--firms",
        "999999.SH",
    )
    assert res.exit_code == 2
    line = res.stderr.splitlines()
    assert len(line) == 1 and line[0].startswith(
        "error: not in firms.csv: 999999.SH (known: 000795.SZ, "
    )


@pytest.mark.parametrize("command", ["run", "batch"])
def test_input_error_exits_2_listing_the_problem(command, tmp_path):
    missing = tmp_path / "no-such-inputs"
    extra = ["--from", "2025Q1"] if command == "batch" else []
    res = invoke(
        command,
        "--inputs",
        str(missing),
        "--outputs",
        str(tmp_path / "out"),
        "--no-workbooks",
        *extra,
    )
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        "error: 1 input problem found:",
        f"  - {missing}: expected an inputs folder; found no such folder",
    ]
    assert not (tmp_path / "out").exists()


def test_output_exists_exits_2(tmp_path):
    (tmp_path / "2025Q1").mkdir()
    res = invoke(
        "run",
        "--inputs",
        str(INPUTS),
        "--outputs",
        str(tmp_path),
        "--as-of",
        "2025Q1",
        "--firms",
        FIRMS,
        "--no-workbooks",
    )
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        f"error: {tmp_path / '2025Q1'} already exists; it was left untouched. Use --force to replace it."
    ]
    res = invoke(
        "batch",
        "--inputs",
        str(INPUTS),
        "--outputs",
        str(tmp_path),
        "--from",
        "2025Q1",
        "--to",
        "2025Q1",
        "--firms",
        FIRMS,
        "--no-workbooks",
    )
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        f"error: {tmp_path / '2025Q1'} already exists; it was left untouched. "
        "Use --force to replace it or --skip-existing to keep it."
    ]


def test_internal_error_exits_1_with_a_traceback_only_under_debug(tmp_path, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr("stressmodel.run.app.run_model", boom)
    args = [
        "run",
        "--inputs",
        str(INPUTS),
        "--outputs",
        str(tmp_path),
        "--firms",
        FIRMS,
        "--no-workbooks",
    ]
    res = invoke(*args)
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        "error: internal error (RuntimeError: boom); rerun with --debug for the traceback"
    ]
    assert "Traceback" not in res.output
    res = invoke(*args, "--debug")
    assert res.exit_code == 1
    assert "Traceback (most recent call last)" in res.stderr and "RuntimeError: boom" in res.stderr
    assert res.stderr.splitlines()[-1].startswith("error: internal error (RuntimeError: boom)")
    assert list(tmp_path.iterdir()) == []


def test_missing_workbook_writer_fails_before_computing(tmp_path, monkeypatch):
    """Until stressmodel.report.write_workbooks exists, a run with workbooks stops at once
    with a clear message (exit 1) and writes nothing."""
    import stressmodel.run.app as app
    from stressmodel.errors import ReportError

    def no_writer():
        raise ReportError("workbooks cannot be written (no writer); rerun with --no-workbooks")

    monkeypatch.setattr(app, "workbook_writer", no_writer)
    monkeypatch.setattr(app, "run_model", lambda *_a, **_k: pytest.fail("computed before failing"))
    res = invoke("run", "--inputs", str(INPUTS), "--outputs", str(tmp_path), "--firms", FIRMS)
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        "error: workbooks cannot be written (no writer); rerun with --no-workbooks"
    ]


# --- output modes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("json")
    res = CliRunner().invoke(
        main,
        [
            "run",
            "--inputs",
            str(INPUTS),
            "--outputs",
            str(out),
            "--firms",
            FIRMS,
            "--no-workbooks",
            "--json",
        ],
    )
    return out, res


def test_json_prints_a_machine_readable_summary_on_stdout(json_run):
    out, res = json_run
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    data = json.loads(res.stdout)
    assert data["as_of"] == "2025Q2"  # default: the latest quarter both firms have
    assert data["firms_with_later_data"] == {"300224.SZ": "2025Q3"}
    assert data["folder"] == str(out / "2025Q2")
    assert "manifest.json" not in data["files"] and "summary.csv" in data["files"]
    assert {r["scenario"] for r in data["summary"]} == {
        "baseline",
        "seed",
        "deal_normalises",
        "structural",
        "trade_implied",
        "retightening",
        "general_licences",
    }
    assert data["history"]["previous_as_of"] is None


def test_quiet_prints_nothing_and_text_mode_prints_the_summary_table(json_run):
    out, _ = json_run
    res = invoke(
        "run",
        "--inputs",
        str(INPUTS),
        "--outputs",
        str(out),
        "--firms",
        FIRMS,
        "--no-workbooks",
        "--as-of",
        "2025Q2",
        "--force",
        "--quiet",
    )
    assert res.exit_code == 0 and res.stdout == "" and res.stderr == ""
    res = invoke(
        "run",
        "--inputs",
        str(INPUTS),
        "--outputs",
        str(out),
        "--firms",
        FIRMS,
        "--no-workbooks",
        "--as-of",
        "2025Q3",
    )
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "stressmodel run as of 2025Q3 (8 quarters; firms: 603072.SH, 300224.SZ)"
    assert any(line.startswith("ticker     scenario") for line in lines)
    assert "changes 2025Q2 -> 2025Q3" in res.stdout and "scenario tracking to 2025Q3" in res.stdout
    assert (
        "no actuals for the as-of quarter (figures carried forward from the latest quarter): 603072.SH (2025Q2)"
        in res.stdout
    )
    written = [p.name for p in (out / "2025Q3").iterdir() if p.name != "manifest.json"]
    assert {"changes.csv", "tracking.csv"} <= set(written)
    assert lines[-1] == f"wrote {len(written)} files to {out / '2025Q3'}"


def test_verbose_logs_each_stage_to_stderr(tmp_path):
    """A real process (logging is configured for the terminal, not for pytest)."""
    base = [
        sys.executable,
        "-m",
        "stressmodel",
        "run",
        "--inputs",
        str(tmp_path / "none"),
        "--no-workbooks",
    ]
    loud = subprocess.run([*base, "--verbose"], capture_output=True, text=True, timeout=120)
    assert loud.returncode == 2
    assert "stressmodel: reading inputs" in loud.stderr
    quiet = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 2 and "reading inputs" not in quiet.stderr
    assert quiet.stderr.splitlines()[0] == "error: 1 input problem found:"


# --- progress indicator ----------------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_appears_only_after_the_delay_and_is_cleared(monkeypatch):
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    with Progress(True, total=4, delay=0.3) as p:
        p("reading inputs")
        assert err.getvalue() == ""  # a short run shows nothing
        time.sleep(0.8)
        shown = err.getvalue()
        assert "[######------------------] " in shown and "reading inputs" in shown
        p("projecting")
        assert "projecting" in err.getvalue()
    assert err.getvalue().endswith("\r" + " " * 100 + "\r")


def test_progress_stays_silent_for_short_runs_quiet_runs_and_pipes(monkeypatch):
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    with Progress(True, delay=5.0) as p:
        p("a")
        p("b")
    assert err.getvalue() == ""
    with Progress(False, delay=0.0) as p:  # --quiet or --json
        p("a")
        time.sleep(0.1)
    assert err.getvalue() == ""
    pipe = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", pipe)
    with Progress(True, delay=0.0) as p:
        p("a")
        time.sleep(0.1)
    assert pipe.getvalue() == ""


def test_outputs_that_is_a_file_is_a_usage_error(tmp_path):
    target = tmp_path / "outputs"
    target.write_text("not a folder")
    for command, extra in (("run", []), ("batch", ["--from", "2025Q1"])):
        res = invoke(
            command,
            "--inputs",
            str(INPUTS),
            "--outputs",
            str(target),
            "--firms",
            FIRMS,
            "--no-workbooks",
            *extra,
        )
        assert res.exit_code == 2
        assert res.stderr.splitlines() == [f"error: --outputs {target} is not a folder"]
    assert target.read_text() == "not a folder"
    too_long = tmp_path / ("x" * 300)
    res = invoke(
        "run",
        "--inputs",
        str(INPUTS),
        "--outputs",
        str(too_long),
        "--firms",
        FIRMS,
        "--no-workbooks",
    )
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        f"error: --outputs {too_long} cannot be used: File name too long"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]


def test_batch_from_after_the_latest_common_quarter_asks_for_to(tmp_path):
    res = invoke(
        "batch",
        "--inputs",
        str(INPUTS),
        "--outputs",
        str(tmp_path),
        "--firms",
        FIRMS,
        "--from",
        "2025Q4",
        "--no-workbooks",
    )
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        "error: --from 2025Q4 is after 2025Q2, the latest quarter for which every selected firm has actuals; give --to"
    ]


# --- the console script: main, then an exit without the interpreter's teardown -----------


def _python(code: str) -> subprocess.CompletedProcess[str]:
    import os

    # buffered output, as on a user's machine (this sandbox exports PYTHONUNBUFFERED)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.parametrize(
    "code, status, err",
    [("None", 0, ""), ("0", 0, ""), ("2", 2, ""), ("'boom'", 1, "boom\n"), ("256", 0, "")],
)
def test_the_entry_exits_as_system_exit_would_with_its_output_flushed(code, status, err):
    """What is printed (and not yet flushed: stdout is a pipe here) reaches the reader, and
    the status is SystemExit's for the same code."""
    # 100 short lines: less than the pipe's buffer, so nothing is written before the flush
    res = _python(
        f"from stressmodel.cli import _end\nfor _ in range(100): print('x' * 70)\n_end({code})"
    )
    assert res.returncode == status
    assert res.stdout == ("x" * 70 + "\n") * 100 and res.stderr == err


def test_the_console_script_and_python_m_run_the_entry(tmp_path):
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["stressmodel"] == "stressmodel.cli:entry"
    ok = subprocess.run(
        [sys.executable, "-m", "stressmodel", "validate", "--inputs", str(INPUTS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and ok.stdout.startswith("inputs valid:") and "coverage" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "stressmodel", "validate", "--inputs", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and not bad.stdout
