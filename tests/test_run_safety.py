"""Safety of ``stressmodel run``: no overwrite without --force, no partial outputs after a
crash, Ctrl-C or ``kill -9``, identical outputs for identical inputs, no look-ahead, and a
complete manifest.

Runs use two firms and no workbooks where the workbook is not the point. The kill tests
start ``python -m stressmodel run`` with the documented test hook
``STRESSMODEL_TEST_PAUSE=<stage>:<seconds>`` (see :mod:`stressmodel.run.outputs`), which makes
the run announce on stderr that it is pausing at a stage and sleep there.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import stressmodel
from stressmodel.cli import main
from stressmodel.errors import OutputExistsError
from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import parse_quarter
from stressmodel.pipeline.stages import RunOptions, run_model
from stressmodel.run import outputs

REPO = Path(__file__).resolve().parents[1]
INPUTS = REPO / "inputs"
FIRMS = "603072.SH,300224.SZ"
AS_OF = "2025Q1"


def have_workbooks() -> bool:
    try:
        mod = importlib.import_module("stressmodel.report")
    except ImportError:
        return False
    return hasattr(mod, "write_workbooks")


HAVE_WORKBOOKS = have_workbooks()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> SHA-256)."""
    return {
        p.relative_to(folder).as_posix(): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


def visible(root: Path) -> list[str]:
    return (
        sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
        if root.exists()
        else []
    )


def hidden(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".")) if root.exists() else []


def assert_complete(folder: Path) -> dict:
    """The folder holds exactly the files its manifest lists, with the listed hashes."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files = tree(folder)
    assert set(files) == set(manifest["outputs"]) | {"manifest.json"}
    for name, digest in manifest["outputs"].items():
        assert files[name] == digest, name
    return manifest


def cli(*args: str, inputs: Path = INPUTS, workbooks: bool = False):
    argv = ["run", "--inputs", str(inputs), "--firms", FIRMS, "--quiet", *args]
    if not workbooks:
        argv.append("--no-workbooks")
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def run_ok(out: Path, *args: str, **kw) -> Path:
    res = cli("--outputs", str(out), "--as-of", AS_OF, *args, **kw)
    assert res.exit_code == 0, res.output
    return out / AS_OF


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One complete as-of folder, and the hashes of its files; tests copy it."""
    out = tmp_path_factory.mktemp("first")
    folder = run_ok(out)
    return folder, tree(folder)


@pytest.fixture
def existing(first_run: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fresh outputs folder holding a copy of a complete as-of folder."""
    src, hashes = first_run
    out = tmp_path / "outputs"
    shutil.copytree(src, out / AS_OF)
    assert tree(out / AS_OF) == hashes
    return out, hashes


# --- no overwrite without --force ----------------------------------------------------------


def test_refusal_without_force_leaves_the_old_folder_byte_identical(existing, monkeypatch):
    out, hashes = existing
    before = {p.name: p.stat().st_mtime_ns for p in (out / AS_OF).iterdir()}

    def must_not_run(*_a, **_k):
        raise AssertionError("the model must not run when the folder exists")

    monkeypatch.setattr("stressmodel.run.app.run_model", must_not_run)
    res = cli("--outputs", str(out), "--as-of", AS_OF)
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        f"error: {out / AS_OF} already exists; it was left untouched. Use --force to replace it."
    ]
    assert tree(out / AS_OF) == hashes
    assert {p.name: p.stat().st_mtime_ns for p in (out / AS_OF).iterdir()} == before
    assert hidden(out) == []


def test_force_replaces_the_folder_completely(existing):
    out, hashes = existing
    old = json.loads((out / AS_OF / "manifest.json").read_text())
    (out / AS_OF / "stray.txt").write_text("from an older run")
    folder = run_ok(out, "--force")
    manifest = assert_complete(folder)  # the stray file is gone: a whole new folder
    assert manifest["started"] >= old["started"]
    assert manifest["options"]["force"] is True
    assert {k: v for k, v in tree(folder).items() if k != "manifest.json"} == {
        k: v for k, v in hashes.items() if k != "manifest.json"
    }
    assert hidden(out) == []


def test_force_replacement_without_an_atomic_exchange(existing, monkeypatch):
    """Where the system cannot swap two folders atomically, two renames do it."""
    out, _ = existing
    monkeypatch.setattr(outputs, "_exchange", lambda _a, _b: False)
    assert_complete(run_ok(out, "--force"))
    assert hidden(out) == []


# --- crashes while writing -----------------------------------------------------------------


def _crash_after(n: int, exc: BaseException):
    import stressmodel.run.tables as results

    real = results.write_csv
    calls = {"n": 0}

    def writer(frame, path):
        calls["n"] += 1
        if calls["n"] > n:
            path.write_text("half a file")  # a partial file is on disk when it fails
            raise exc
        real(frame, path)

    return writer


@pytest.mark.parametrize("old_folder", [False, True], ids=["no-old-folder", "old-folder-forced"])
def test_crash_mid_write_leaves_no_partial_outputs(old_folder, existing, tmp_path, monkeypatch):
    out, hashes = existing if old_folder else (tmp_path / "fresh", None)
    monkeypatch.setattr(
        "stressmodel.run.tables.write_csv", _crash_after(2, RuntimeError("disk on fire"))
    )
    res = cli("--outputs", str(out), "--as-of", AS_OF, *(["--force"] if old_folder else []))
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        "error: internal error (RuntimeError: disk on fire); rerun with --debug for the traceback"
    ]
    assert "Traceback" not in res.output
    assert hidden(out) == []
    if old_folder:
        assert visible(out) == [AS_OF]
        assert tree(out / AS_OF) == hashes
    else:
        assert visible(out) == []


def test_ctrl_c_mid_write_leaves_no_partial_outputs(existing, monkeypatch):
    out, hashes = existing
    monkeypatch.setattr("stressmodel.run.tables.write_csv", _crash_after(1, KeyboardInterrupt()))
    res = cli("--outputs", str(out), "--as-of", AS_OF, "--force")
    assert res.exit_code == 130
    assert res.stderr.splitlines() == ["error: interrupted; no partial outputs were left"]
    assert tree(out / AS_OF) == hashes
    assert hidden(out) == []


def test_crash_in_the_workbook_writer_leaves_no_partial_workbook(existing, monkeypatch):
    """The workbook writer fails after writing half a workbook (the real writer when it
    exists is replaced; the test works whether or not stressmodel.report is built)."""
    out, hashes = existing
    seen: dict[str, object] = {}

    def broken_writer(result, _inputs, folder):
        seen["extras"] = set(result.extras)
        (folder / "sector_summary.xlsx").write_bytes(b"PK\x03\x04 half a workbook")
        raise OSError("no space left on device")

    monkeypatch.setattr("stressmodel.run.app.workbook_writer", lambda: broken_writer)
    res = cli("--outputs", str(out), "--as-of", AS_OF, "--force", workbooks=True)
    assert res.exit_code == 1
    assert "OSError: no space left on device" in res.stderr
    assert tree(out / AS_OF) == hashes
    assert hidden(out) == []
    assert list(out.rglob("*.xlsx")) == []
    assert "reverse_stress" in seen["extras"]  # the writer got the full result


# --- kill -9 -------------------------------------------------------------------------------


@contextlib.contextmanager
def paused_run(out: Path, stage: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m stressmodel run`` paused by the test hook at ``stage``; always killed
    with SIGKILL on leaving the block."""
    env = {**os.environ, outputs.TEST_PAUSE_ENV: f"{stage}:120", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "stressmodel", "run", "--inputs", str(INPUTS), "--outputs", str(out),
           "--as-of", AS_OF, "--firms", FIRMS, "--no-workbooks", "--quiet", *args]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 120
        while True:
            line = proc.stderr.readline()
            if f"pausing at {stage}" in line:
                break
            if (not line and proc.poll() is not None) or time.monotonic() > deadline:
                raise AssertionError(f"the run did not pause at {stage} (exit {proc.poll()})")
        yield proc
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_while_writing_leaves_no_as_of_folder(tmp_path):
    out = tmp_path / "outputs"
    with paused_run(out, "tables"):
        tmp = [p for p in out.iterdir() if p.name.startswith(outputs.TMP_PREFIX)]
        assert len(tmp) == 1 and (tmp[0] / AS_OF / "projections.parquet").is_file()  # half written
        assert (tmp[0] / outputs.MARKER_FILE).is_file()
    assert visible(out) == []  # nothing that looks like an as-of folder
    assert outputs.as_of_folders(out) == []
    assert len(hidden(out)) == 1
    # the next run removes the stale temporary folder and writes a complete one
    assert_complete(run_ok(out))
    assert hidden(out) == []


@pytest.mark.parametrize("stage", ["before-swap", "after-swap"])
def test_sigkill_while_replacing_leaves_old_or_new_complete_folder(stage, existing):
    out, hashes = existing
    with paused_run(out, stage, "--force"):
        pass
    assert visible(out) == [AS_OF]
    if stage == "before-swap":
        assert tree(out / AS_OF) == hashes  # the old folder, untouched
    else:
        manifest = assert_complete(out / AS_OF)  # the new folder, complete
        assert manifest["options"]["force"] is True
    assert len(hidden(out)) == 1  # the temporary folder, invisible as an as-of folder
    outputs.cleanup_stale(out)
    assert hidden(out) == []


@pytest.mark.slow
def test_sigkill_at_random_times_never_leaves_a_partial_folder(existing):
    """Kill a forced replacement at random moments (seeded): the as-of folder is always
    either the old one, byte for byte, or a complete new one."""
    out, hashes = existing
    rng = random.Random(20251)
    for delay in sorted(rng.uniform(0.3, 6.0) for _ in range(4)):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stressmodel",
                "run",
                "--inputs",
                str(INPUTS),
                "--outputs",
                str(out),
                "--as-of",
                AS_OF,
                "--firms",
                FIRMS,
                "--no-workbooks",
                "--quiet",
                "--force",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert visible(out) == [AS_OF]
        if tree(out / AS_OF) != hashes:
            assert_complete(out / AS_OF)
        assert outputs.as_of_folders(out) == [(parse_quarter(AS_OF), out / AS_OF)]
    assert_complete(run_ok(out, "--force"))
    assert hidden(out) == []


# --- stale hidden folders --------------------------------------------------------------------


def plant_wrapper(parent: Path, kind: str, target: str, pid: int, run_id: str = "00aa" * 4) -> Path:
    """A wrapper as a run with process ``pid`` would have left it (marker included)."""
    path = parent / outputs.wrapper_name(kind, target, pid, run_id)
    path.mkdir()
    marker = {"tool": "stressmodel", "kind": kind, "target": target, "run_id": run_id, "pid": pid}
    (path / outputs.MARKER_FILE).write_text(json.dumps(marker))
    (path / target).mkdir()
    return path


def test_stale_folders_are_hidden_and_cleaned_but_live_ones_are_kept(tmp_path):
    out = tmp_path / "outputs"
    out.mkdir()
    dead_pid = 4_194_304 + 17  # above Linux's largest pid: no such process
    stale_tmp = plant_wrapper(out, "tmp", AS_OF, dead_pid)
    (stale_tmp / AS_OF / "summary.csv").write_text("partial")
    replaced = plant_wrapper(
        out, "old", "2024Q4", dead_pid, "00bb" * 4
    )  # replacement never arrived
    (replaced / "2024Q4" / "manifest.json").write_text('{"as_of": "2024Q4"}')
    legacy = out / f".tmp-{AS_OF}.deadbeef"  # no marker: not provably ours, left alone
    legacy.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        live = plant_wrapper(out, "tmp", "2025Q2", sleeper.pid, "00cc" * 4)
        assert outputs.as_of_folders(out) == []
        removed = outputs.cleanup_stale(out)
        assert set(removed) == {stale_tmp, replaced}
        assert sorted(p.name for p in out.iterdir()) == sorted([live.name, legacy.name, "2024Q4"])
        assert (out / "2024Q4" / "manifest.json").is_file()  # restored
    finally:
        sleeper.kill()
        sleeper.wait()
    outputs.cleanup_stale(out)
    assert hidden(out) == [legacy.name]


@pytest.mark.parametrize(
    "marker",
    [
        None,
        {"tool": "other", "kind": "tmp", "target": AS_OF, "run_id": "00aa" * 4, "pid": 4_194_321},
        {
            "tool": "stressmodel",
            "kind": "tmp",
            "target": "2024Q4",
            "run_id": "00aa" * 4,
            "pid": 4_194_321,
        },
        {
            "tool": "stressmodel",
            "kind": "old",
            "target": AS_OF,
            "run_id": "00aa" * 4,
            "pid": 4_194_321,
        },
        {
            "tool": "stressmodel",
            "kind": "tmp",
            "target": AS_OF,
            "run_id": "00ab" * 4,
            "pid": 4_194_321,
        },
        "not json",
    ],
    ids=["no-marker", "other-tool", "other-target", "other-kind", "other-run-id", "not-json"],
)
def test_a_wrapper_without_a_valid_marker_for_its_name_is_left_alone(tmp_path, marker):
    out = tmp_path / "outputs"
    out.mkdir()
    path = out / outputs.wrapper_name("tmp", AS_OF, 4_194_321, "00aa" * 4)
    (path / AS_OF).mkdir(parents=True)
    if marker is not None:
        (path / outputs.MARKER_FILE).write_text(
            marker if isinstance(marker, str) else json.dumps(marker)
        )
    before = snapshot(out)
    assert outputs.cleanup_stale(out) == []
    assert snapshot(out) == before


def test_another_run_finishing_first_is_not_overwritten(tmp_path, monkeypatch):
    """Without --force the target is checked again at the moment of the move."""
    out = tmp_path / "outputs"
    target = out / AS_OF
    with pytest.raises(OutputExistsError), outputs.AtomicFolder(target, False) as tmp:
        (tmp / "a.csv").write_text("mine")
        target.mkdir(parents=True)
        (target / "b.csv").write_text("theirs")
    assert tree(target) == {"b.csv": sha(target / "b.csv")}
    assert hidden(out) == []


# --- never touch what the tool did not write -----------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[str, str]]:
    """Every entry under ``root`` without following symlinks: folders, files (SHA-256) and
    symlinks (their target)."""
    found: dict[str, tuple[str, str]] = {}
    for here, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            p = Path(here) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                found[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                found[rel] = ("dir", "")
            else:
                found[rel] = ("file", sha(p))
    return found


FORGED_ID = "0123456789abcdef"


def seed_foreign_entries(out: Path, outside: Path) -> None:
    """An outputs folder shared with a user and another program: hidden entries named like
    the tool's (old and new style), a planted symlink, a forged wrapper."""
    out.mkdir(parents=True, exist_ok=True)
    (out / ".old-runs").mkdir()
    (out / ".old-runs" / "important.txt").write_text("the user's own")
    (out / ".tmp-notes.txt").write_text("not ours")
    (out / f".old-{AS_OF}").mkdir()
    (out / f".old-{AS_OF}" / "readme.txt").write_text("looks like a replaced as-of folder")
    (out / f".tmp-{AS_OF}.123.abcd").mkdir()
    (out / f".tmp-{AS_OF}.123.abcd" / "x.txt").write_text("another program's temp")
    (out / "notes").mkdir()
    (out / "notes" / "n.txt").write_text("visible user folder")
    elsewhere = outside / "elsewhere"
    elsewhere.mkdir(parents=True)
    (elsewhere / "keep.txt").write_text("outside the outputs folder")
    (out / ".old-2025Q2.999999.deadbeef").symlink_to(elsewhere, target_is_directory=True)
    # a symlink with the tool's own name, pointing at a folder with a valid-looking marker
    forged = outside / "forged"
    (forged / AS_OF).mkdir(parents=True)
    marker = {
        "tool": "stressmodel",
        "kind": "old",
        "target": AS_OF,
        "run_id": FORGED_ID,
        "pid": 4_194_321,
    }
    (forged / outputs.MARKER_FILE).write_text(json.dumps(marker))
    (forged / AS_OF / "manifest.json").write_text(json.dumps({"as_of": AS_OF}))
    (out / outputs.wrapper_name("old", AS_OF, 4_194_321, FORGED_ID)).symlink_to(
        forged, target_is_directory=True
    )
    # a real folder with the tool's name whose marker is a symlink
    fake = out / outputs.wrapper_name("tmp", AS_OF, 4_194_321, FORGED_ID)
    (fake / AS_OF).mkdir(parents=True)
    (fake / outputs.MARKER_FILE).symlink_to(forged / outputs.MARKER_FILE)


def foreign_state(out: Path, outside: Path) -> dict[str, tuple[str, str]]:
    """Everything but the as-of folder, plus the folders the symlinks point at."""
    state = {k: v for k, v in snapshot(out).items() if k != AS_OF and not k.startswith(AS_OF + "/")}
    state.update({f"<outside>/{k}": v for k, v in snapshot(outside).items()})
    return state


@pytest.fixture
def shared(tmp_path: Path) -> tuple[Path, Path, dict[str, tuple[str, str]]]:
    out, outside = tmp_path / "outputs", tmp_path / "outside"
    seed_foreign_entries(out, outside)
    return out, outside, foreign_state(out, outside)


def test_run_leaves_foreign_entries_byte_identical(shared):
    out, outside, before = shared
    assert_complete(run_ok(out))
    assert foreign_state(out, outside) == before
    assert assert_complete(run_ok(out, "--force"))["options"]["force"] is True
    assert foreign_state(out, outside) == before


def test_force_without_exchange_leaves_foreign_entries_byte_identical(shared, monkeypatch):
    out, outside, before = shared
    run_ok(out)
    monkeypatch.setattr(outputs, "_exchange", lambda _a, _b: False)
    assert_complete(run_ok(out, "--force"))
    assert foreign_state(out, outside) == before


def test_verbose_names_what_was_left(shared, caplog):
    out, _outside, _before = shared
    with caplog.at_level("INFO", logger="stressmodel"):
        run_ok(out, "--verbose")
    for name in (".old-runs", ".tmp-notes.txt", f".old-{AS_OF}", ".old-2025Q2.999999.deadbeef"):
        assert (
            f"left {out / name} untouched: it carries no stressmodel ownership marker"
            in caplog.text
        )
    forged = outputs.wrapper_name("old", AS_OF, 4_194_321, FORGED_ID)
    assert f"left {out / forged} untouched" in caplog.text  # the symlink with our name


@pytest.mark.parametrize(
    "stage,force", [("tables", False), ("after-swap", True), ("before-swap", True)]
)
def test_sigkill_then_next_run_cleans_only_its_own(shared, stage, force):
    out, outside, before = shared
    if force:
        run_ok(out)
    with paused_run(out, stage, *(["--force"] if force else [])):
        pass
    assert foreign_state(out, outside) != before  # the killed run's own wrapper is there
    ours = [p for p in out.iterdir() if outputs.read_owned(p) is not None]
    assert len(ours) == 1 and ours[0].name.startswith(outputs.TMP_PREFIX)
    assert_complete(run_ok(out, *(["--force"] if force else [])))
    assert foreign_state(out, outside) == before  # its leftovers cleaned, nothing else touched


def test_a_replaced_folder_that_cannot_be_removed_is_reported(existing, monkeypatch):
    out, _hashes = existing
    real = outputs._remove_tree

    def stubborn(path: Path) -> list[str]:
        if path.name.startswith(outputs.TMP_PREFIX) and (path / AS_OF / "manifest.json").exists():
            return [f"{path / AS_OF}: Permission denied"]
        return real(path)

    monkeypatch.setattr(outputs, "_remove_tree", stubborn)
    res = cli("--outputs", str(out), "--as-of", AS_OF, "--force")
    assert res.exit_code == 2
    assert "the new outputs are complete in" in res.stderr
    assert "could not be removed" in res.stderr and "remove it by hand" in res.stderr
    assert_complete(out / AS_OF)
    monkeypatch.setattr(outputs, "_remove_tree", real)
    outputs.cleanup_stale(out)  # the next run does remove it
    assert hidden(out) == []


# --- determinism ---------------------------------------------------------------------------


def _workbook_cells(path: Path) -> dict[str, list[tuple]]:
    import openpyxl

    cells = {}
    for data_only in (True, False):
        wb = openpyxl.load_workbook(path, data_only=data_only, read_only=True)
        for ws in wb.worksheets:
            cells[f"{ws.title}|{data_only}"] = [
                tuple(c for c in row) for row in ws.iter_rows(values_only=True)
            ]
        wb.close()
    return cells


@pytest.mark.slow
def test_two_runs_on_the_same_inputs_give_identical_outputs(first_run, tmp_path):
    """Same inputs, same options: identical projections, tables and (when the workbook
    writer exists) identical workbook cells -- values and formulas."""
    a = run_ok(tmp_path / "a", workbooks=HAVE_WORKBOOKS)
    b = run_ok(tmp_path / "b", workbooks=HAVE_WORKBOOKS)
    assert_frame_equal(
        pl.read_parquet(a / "projections.parquet"), pl.read_parquet(b / "projections.parquet")
    )
    assert_frame_equal(
        pl.read_parquet(a / "projections.parquet"),
        pl.read_parquet(first_run[0] / "projections.parquet"),
    )
    ta, tb = tree(a), tree(b)
    assert set(ta) == set(tb)
    for name in ta:
        if name.endswith(".csv"):
            assert ta[name] == tb[name], name
        elif name.endswith(".xlsx"):
            assert _workbook_cells(a / name) == _workbook_cells(b / name), name
    if HAVE_WORKBOOKS:
        assert any(n.endswith(".xlsx") for n in ta)


# --- no look-ahead -------------------------------------------------------------------------


def _truncate_inputs(src: Path, dst: Path, as_of: str) -> dict[str, int]:
    """Copy the inputs and delete everything dated after ``as_of``: statement rows whose
    period ends later, prices dated later, trade rows for later months. The register's
    reference price (dated 2026) must match a row of prices.csv, so it is blanked too; the
    model does not use it."""
    from stressmodel.inputs.periods import parse_month_span, parse_period, quarter_end_date

    shutil.copytree(src, dst)
    q = parse_quarter(as_of)
    end = quarter_end_date(q)
    last_month = end.year * 12 + end.month - 1
    removed = {"statements": 0, "prices": 0, "trade": 0}

    def rewrite(path: Path, keep, what: str) -> None:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        kept = [rows[0]] + [r for r in rows[1:] if keep(dict(zip(rows[0], r, strict=True)))]
        removed[what] += len(rows) - len(kept)
        with path.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows(kept)

    for path in sorted((dst / "statements").glob("*.csv")):
        rewrite(path, lambda r: parse_period(r["period"]).end <= q, "statements")
    rewrite(dst / "prices.csv", lambda r: r["date"] <= end.isoformat(), "prices")
    rewrite(dst / "trade.csv", lambda r: parse_month_span(r["period"]).last <= last_month, "trade")
    with (dst / "firms.csv").open(newline="", encoding="utf-8") as fh:
        reg = list(csv.DictReader(fh))
    for r in reg:
        if r["price_date"] and r["price_date"] > end.isoformat():
            r["share_price"] = r["price_date"] = r["price_source"] = ""
    with (dst / "firms.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(reg[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(reg)
    return removed


@pytest.mark.slow
def test_a_run_as_of_2025Q1_does_not_change_when_later_data_is_deleted(first_run, tmp_path):
    truncated = tmp_path / "inputs"
    removed = _truncate_inputs(INPUTS, truncated, AS_OF)
    assert all(n > 0 for n in removed.values()), removed  # there was later data to delete
    short = run_ok(tmp_path / "out", inputs=truncated)
    full = first_run[0]
    assert_frame_equal(
        pl.read_parquet(full / "projections.parquet"),
        pl.read_parquet(short / "projections.parquet"),
    )
    for name in sorted(tree(full)):
        if name.endswith(".csv"):
            assert sha(full / name) == sha(short / name), f"{name} differs: look-ahead"
    m_full, m_short = (json.loads((f / "manifest.json").read_text()) for f in (full, short))
    assert m_full["firms_with_later_data"] and not m_short["firms_with_later_data"]


@pytest.mark.slow
def test_the_pipeline_itself_ignores_later_data():
    """run_model on the full inputs as of 2025Q1 equals run_model on inputs filtered to
    2025Q1 (the app filters as well; this checks the pipeline's own filtering)."""
    inputs = load_inputs(INPUTS)
    q = parse_quarter(AS_OF)
    opts = RunOptions(as_of=q, firms=tuple(FIRMS.split(",")))
    a, b = run_model(inputs, opts), run_model(inputs.as_of(q), opts)
    assert_frame_equal(a.summary, b.summary)
    assert_frame_equal(a.projection, b.projection)
    assert_frame_equal(a.extras["reverse_stress"], b.extras["reverse_stress"])


# --- manifest ------------------------------------------------------------------------------


def test_manifest_records_version_options_hashes_and_stage_times(first_run):
    folder, _ = first_run
    m = assert_complete(folder)
    assert m["package"] == "stressmodel" and m["version"] == stressmodel.__version__
    assert m["as_of"] == AS_OF
    assert m["options"]["as_of"] == AS_OF and m["options"]["as_of_default"] is False
    assert m["options"]["firms"] == FIRMS.split(",")
    assert m["options"]["workbooks"] is False and m["options"]["force"] is False
    used = sorted(
        f"inputs/{p.relative_to(INPUTS).as_posix()}"
        for p in INPUTS.rglob("*")
        if p.is_file() and p.suffix in (".csv", ".toml", ".xlsx")
    )
    assert sorted(m["inputs"]) == used
    for name, digest in m["inputs"].items():
        assert sha(INPUTS / name.split("/", 1)[1]) == digest
    assert m["started"] <= m["finished"] and m["duration_seconds"] >= 0
    for stage in (
        "read_inputs",
        "bases",
        "scenarios",
        "projection",
        "valuation",
        "risk",
        "reverse_stress",
        "history",
        "write_tables",
    ):
        assert m["stage_seconds"][stage] >= 0, stage
    assert m["firms_with_later_data"] == {"603072.SH": "2025Q2", "300224.SZ": "2025Q3"}
    assert m["history"]["previous_as_of"] is None


# --- memory-bounded runs -------------------------------------------------------------------


def test_a_run_above_the_memory_limit_exits_2_before_computing(tmp_path, monkeypatch):
    from stressmodel.pipeline import memory
    from stressmodel.run.app import MEMORY_LIMIT_ENV

    def must_not_run(*_a, **_k):
        raise AssertionError("nothing may be computed above the memory limit")

    monkeypatch.setattr("stressmodel.run.app.run_model", must_not_run)
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "200M")
    out = tmp_path / "outputs"
    res = cli("--outputs", str(out), "--as-of", AS_OF)
    assert res.exit_code == 2, res.output
    inputs = load_inputs(INPUTS)
    n_cases = len(inputs.scenarios.named) + len(inputs.scenarios.grid_scenarios())
    # the two firms of --firms under every case, the other firms of firms.csv as peers
    # under the baseline case only
    firms, peers = len(FIRMS.split(",")), len(inputs.register) - len(FIRMS.split(","))
    est = memory.estimate(firms, n_cases, inputs.sector.int("horizon_quarters"), peers=peers)
    one = memory.estimate(firms, n_cases, est.quarters, peers=peers, chunk_firms=1)
    message = res.stderr.strip()
    assert message.startswith(f"error: this run needs about {memory.human(est.bytes)} of memory")
    assert (
        f"({firms} firms x {n_cases} cases x {est.quarters} quarters and {peers} peers x 1 case)"
        in message
    )
    assert f"more than the 200 MB it may use ({MEMORY_LIMIT_ENV}=200M)" in message
    assert f"about {memory.human(one.bytes)} even one firm at a time" in message
    for option in ("--firms", "grid points", "--horizon", "cluster"):
        assert option in message
    assert "Traceback" not in res.output
    assert not out.exists() or list(out.iterdir()) == []


def test_the_memory_estimate_grows_with_firms_cases_and_quarters():
    from stressmodel.pipeline import memory

    base = memory.estimate(8, 82, 8).bytes
    assert memory.estimate(16, 82, 8).bytes - base == 8 * (
        82 * 8 * memory.BYTES_PER_CASE_QUARTER + memory.INPUT_BYTES_PER_FIRM
    )
    assert memory.estimate(8, 164, 8).bytes > base and memory.estimate(8, 82, 16).bytes > base
    # 10,000 firms of the default grid: far beyond a 6 GB address-space limit
    assert memory.estimate(10_000, 82, 8).bytes > 6 * 1024**3


@pytest.mark.parametrize("text", ["lots", "-1G", "0"])
def test_a_bad_memory_limit_is_a_usage_error(tmp_path, monkeypatch, text):
    from stressmodel.run.app import MEMORY_LIMIT_ENV

    monkeypatch.setenv(MEMORY_LIMIT_ENV, text)
    res = cli("--outputs", str(tmp_path / "o"), "--as-of", AS_OF)
    assert res.exit_code == 2
    assert (
        res.stderr.strip()
        == f"error: {MEMORY_LIMIT_ENV} must be a size like 500M or 2G, got {text!r}"
    )


# --- read-only and full outputs folders ----------------------------------------------------


def test_a_read_only_outputs_folder_is_exit_2_with_a_plain_message(tmp_path, monkeypatch):
    import errno

    def read_only(*_a, **_k):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "outputs"))

    monkeypatch.setattr(outputs, "make_wrapper", read_only)
    res = cli("--outputs", str(tmp_path / "outputs"), "--as-of", AS_OF)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith(
        f"error: could not create a temporary folder in {tmp_path / 'outputs'}: "
    )
    assert "Read-only file system" in res.stderr and "internal error" not in res.stderr


def test_a_full_disk_while_writing_is_exit_2_and_leaves_nothing(existing, monkeypatch):
    import errno

    out, hashes = existing
    monkeypatch.setattr(
        "stressmodel.run.tables.write_csv",
        _crash_after(1, OSError(errno.ENOSPC, "No space left on device", "summary.csv")),
    )
    res = cli("--outputs", str(out), "--as-of", AS_OF, "--force")
    assert res.exit_code == 2, res.output
    assert "No space left on device" in res.stderr and "internal error" not in res.stderr
    assert tree(out / AS_OF) == hashes
    assert hidden(out) == []
