"""Writing one as-of run to ``outputs/<as_of>/``, atomically, and reading earlier runs back.

Every file is written into a hidden temporary folder beside the target
(``.tmp-<as_of>.<pid>.<token>``); only when the whole run has been written are the files
flushed to disk and the folder moved into place. An existing target is replaced only with
``force``: on Linux by one atomic exchange of the two folders (``renameat2`` with
``RENAME_EXCHANGE``), elsewhere by two renames with the old folder kept as
``.old-<as_of>.<pid>.<token>`` until the new one is in place. A crash, ``kill -9`` or
Ctrl-C therefore leaves the old complete folder or no folder -- never a partial one. A
hidden folder left by a killed run is never taken for an as-of folder; the next run
removes it (or, for an ``.old-`` folder whose replacement never arrived, puts it back),
unless the process that made it is still running.

Test hook (documented, honoured nowhere else): when the environment variable
``STRESSMODEL_TEST_PAUSE`` holds ``stage:seconds[,stage:seconds]``, :func:`pause_for_test`
prints ``stressmodel test hook: pausing at <stage>`` on stderr and sleeps at that stage,
so that a test can kill the process there. Stages: ``tables`` (tables written in the
temporary folder), ``before-swap`` (everything written, before the move into place) and
``after-swap`` (the new folder in place, the old one not yet removed).

Text that came from inputs is made safe for spreadsheets: a CSV cell starting with
``= + - @``, a tab or a carriage return is prefixed with an apostrophe.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import json
import logging
import os
import re
import secrets
import shutil
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from stressmodel import __version__
from stressmodel.errors import OutputExistsError, ReportError, UsageError
from stressmodel.inputs.load import sha256_file
from stressmodel.inputs.periods import QUARTER_RE, parse_quarter
from stressmodel.names import safe_component

log = logging.getLogger(__name__)

TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
TEST_PAUSE_ENV = "STRESSMODEL_TEST_PAUSE"
#: a hidden folder's name: prefix, as-of label, pid of the process that made it, token
_HIDDEN_RE = re.compile(r"^\.(tmp|old)-([0-9A-Za-z]+)(?:\.(\d+))?(?:\.[0-9a-f]+)?$")
#: errors making the outputs folder that come from the path chosen, not from the machine
_USAGE_ERRNOS = (
    errno.ENAMETOOLONG,
    errno.ENOTDIR,
    errno.EEXIST,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
)
#: slack when comparing a process's start time with a folder's change time (seconds)
_START_SLACK = 1.0


def as_of_folder(outputs_root: Path, label: str) -> Path:
    if not QUARTER_RE.match(label):
        raise UsageError(f"unsafe as-of label for a folder name: {label!r}")
    return outputs_root / safe_component(label, "as-of label")


def check_outputs_root(outputs_root: Path) -> None:
    """The outputs folder must be a folder, or a path where one can be made: not a file,
    not a name the file system refuses (too long, a file on the way)."""
    try:
        st = outputs_root.stat()
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise UsageError(f"--outputs {outputs_root} cannot be used: {why}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"--outputs {outputs_root} is not a folder")


def exists_message(target: Path) -> str:
    """The one message for an as-of folder that exists without ``--force``."""
    return f"{target} already exists; it was left untouched. Use --force to replace it."


def defuse_text(value: str) -> str:
    """Prefix a text that a spreadsheet would read as a formula with an apostrophe."""
    if value and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Every String column defused (numbers are left as numbers)."""
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            c = pl.col(name)
            exprs.append(
                pl.when(c.str.contains(r"^[=+\-@\t\r]"))
                .then(pl.lit("'") + c)
                .otherwise(c)
                .alias(name)
            )
    return frame.with_columns(exprs) if exprs else frame


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    csv_safe(frame).write_csv(path, float_precision=None)


def read_csv_text(path: Path) -> pl.DataFrame:
    """One of our CSV files read back with every column as text, the apostrophe that
    :func:`csv_safe` put before a formula trigger removed again."""
    frame = pl.read_csv(path, infer_schema=False)
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(r"^'[=+\-@\t\r]"))
        .then(pl.col(c).str.slice(1))
        .otherwise(pl.col(c))
        .alias(c)
        for c in frame.columns
    )


# --- test hook ---------------------------------------------------------------------------


def pause_for_test(stage: str) -> None:
    """TEST HOOK ONLY (see the module docstring): sleep at ``stage`` when
    ``STRESSMODEL_TEST_PAUSE`` asks for it, so that a test can kill the run there."""
    spec = os.environ.get(TEST_PAUSE_ENV)
    if not spec:
        return
    for part in spec.split(","):
        name, _, seconds = part.strip().partition(":")
        if name == stage:
            sys.stderr.write(f"stressmodel test hook: pausing at {stage}\n")
            sys.stderr.flush()
            time.sleep(float(seconds or "0"))


# --- hidden folders of unfinished runs ---------------------------------------------------

_ACTIVE: set[Path] = set()  # hidden folders this process is using right now
_ACTIVE_LOCK = threading.Lock()


def _process_started(pid: int) -> float | None:
    """Start time (epoch seconds) of a live process, ``inf`` when alive but unknown,
    ``None`` when there is no such process."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return float("-inf")
        return float("-inf")
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.NoSuchProcess:
        return None
    except (psutil.AccessDenied, psutil.ZombieProcess):  # pragma: no cover
        return float("-inf")


def _in_use(path: Path, pid: int | None) -> bool:
    """Whether the hidden folder ``path`` belongs to a run that is still going: made by a
    live process that had started before the folder last changed (a pid reused by a
    newer process does not count)."""
    if pid is None:
        return False
    if pid == os.getpid():
        with _ACTIVE_LOCK:
            return path in _ACTIVE
    started = _process_started(pid)
    if started is None:
        return False
    try:
        changed = path.lstat().st_ctime
    except OSError:
        return False
    return started <= changed + _START_SLACK


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def cleanup_stale(outputs_root: Path) -> list[Path]:
    """Remove temporary folders left by interrupted runs; restore a replaced folder whose
    replacement never arrived. Folders of runs still going (in this or another live
    process) are left alone."""
    removed: list[Path] = []
    if not outputs_root.is_dir():
        return removed
    for p in sorted(outputs_root.iterdir()):
        if not p.name.startswith((TMP_PREFIX, OLD_PREFIX)):
            continue
        m = _HIDDEN_RE.match(p.name)
        label = m.group(2) if m else ""
        pid = int(m.group(3)) if m and m.group(3) else None
        if _in_use(p, pid):
            continue
        target = outputs_root / label
        if (
            p.name.startswith(OLD_PREFIX)
            and QUARTER_RE.match(label)
            and p.is_dir()
            and not target.exists()
        ):
            try:
                p.rename(target)
            except OSError as e:  # pragma: no cover - left for the next run
                log.warning("could not restore %s from %s: %s", target, p, e)
            else:
                log.warning("restored %s from an interrupted replacement", target)
                removed.append(p)
            continue
        log.info("removing %s left by an interrupted run", p)
        _remove(p)
        removed.append(p)
    return removed


# --- atomic folder -----------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``). ``False`` when
    the system or file system cannot; raises ``OSError`` on any other failure."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # pragma: no cover - glibc < 2.28, musl
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):  # pragma: no cover
        return False
    raise OSError(err, os.strerror(err), str(a))


def _fsync_path(path: Path) -> None:
    """Flush a file or a folder entry to disk (best effort: some file systems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            _fsync_path(p)
    _fsync_path(folder)


class AtomicFolder:
    """Context manager: a temporary folder that becomes ``target`` on success.

    On any exception (Ctrl-C included) the temporary folder is removed and ``target`` is
    untouched. Without ``force`` an existing target is refused both on entry and at the
    moment of the move (another run may have written it meanwhile)."""

    def __init__(self, target: Path, force: bool):
        self.target = target
        self.force = force
        token = f"{os.getpid()}.{secrets.token_hex(4)}"
        self.tmp = target.parent / f"{TMP_PREFIX}{target.name}.{token}"
        self.old = target.parent / f"{OLD_PREFIX}{target.name}.{token}"

    def __enter__(self) -> Path:
        check_outputs_root(self.target.parent)
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            if e.errno in _USAGE_ERRNOS:
                raise UsageError(
                    f"--outputs {self.target.parent} cannot be created: {e.strerror}"
                ) from None
            raise ReportError(
                f"could not create the outputs folder {self.target.parent}: {e}"
            ) from None
        cleanup_stale(self.target.parent)
        if self.target.exists() and not self.force:
            raise OutputExistsError(exists_message(self.target))
        with _ACTIVE_LOCK:
            _ACTIVE.update((self.tmp, self.old))
        try:
            self.tmp.mkdir()
        except OSError as e:
            with _ACTIVE_LOCK:
                _ACTIVE.difference_update((self.tmp, self.old))
            raise ReportError(
                f"could not create a temporary folder in {self.target.parent}: {e}"
            ) from None
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is not None:
                _remove(self.tmp)
                return
            try:
                self._commit()
            except BaseException:
                _remove(self.tmp)
                raise
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE.difference_update((self.tmp, self.old))

    def _commit(self) -> None:
        _fsync_tree(self.tmp)
        pause_for_test("before-swap")
        target, parent = self.target, self.target.parent
        if target.exists() or target.is_symlink():
            if not self.force:
                raise OutputExistsError(exists_message(target))
            try:
                swapped = _exchange(self.tmp, target)
            except OSError as e:
                raise ReportError(f"could not move the outputs into {target}: {e}") from None
            if swapped:  # tmp now holds the old folder
                _fsync_path(parent)
                pause_for_test("after-swap")
                _remove(self.tmp)
                return
            try:
                target.rename(self.old)
            except OSError as e:  # pragma: no cover
                raise ReportError(f"could not move {target} aside: {e}") from None
            try:
                self.tmp.rename(target)
            except OSError as e:  # pragma: no cover - e.g. a full disk
                self.old.rename(target)
                raise ReportError(f"could not move the outputs into {target}: {e}") from None
            _fsync_path(parent)
            pause_for_test("after-swap")
            _remove(self.old)
            return
        try:
            self.tmp.rename(target)
        except OSError as e:
            if target.exists():  # another run got there first
                raise OutputExistsError(exists_message(target)) from None
            raise ReportError(f"could not move the outputs into {target}: {e}") from None
        _fsync_path(parent)
        pause_for_test("after-swap")


# --- earlier runs ------------------------------------------------------------------------


@dataclass(frozen=True)
class EarlierRun:
    """A complete as-of folder written before, as read back for the change report and
    scenario tracking. Tables the folder lacks are ``None``."""

    as_of: int
    label: str
    folder: Path
    manifest: dict[str, Any]
    summary: pl.DataFrame | None
    reverse_stress: pl.DataFrame | None
    projections: pl.DataFrame | None


def as_of_folders(outputs_root: Path) -> list[tuple[int, Path]]:
    """The complete as-of folders under ``outputs_root`` (a quarter-label name and a
    manifest naming that quarter), oldest first. Hidden folders never count."""
    found = []
    if not outputs_root.is_dir():
        return found
    for p in outputs_root.iterdir():
        if not QUARTER_RE.match(p.name) or not p.is_dir():
            continue
        manifest = read_manifest(p)
        if manifest is None or manifest.get("as_of") != p.name:
            continue
        found.append((parse_quarter(p.name), p))
    return sorted(found)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_earlier_run(folder: Path) -> EarlierRun:
    manifest = read_manifest(folder) or {}

    def table(name: str) -> pl.DataFrame | None:
        path = folder / name
        if not path.is_file():
            return None
        try:
            return read_csv_text(path)
        except (OSError, pl.exceptions.PolarsError) as e:
            log.warning("could not read %s: %s", path, e)
            return None

    projections = None
    if (folder / "projections.parquet").is_file():
        try:
            projections = pl.read_parquet(folder / "projections.parquet")
        except (OSError, pl.exceptions.PolarsError) as e:
            log.warning("could not read %s: %s", folder / "projections.parquet", e)
    return EarlierRun(
        as_of=parse_quarter(folder.name),
        label=folder.name,
        folder=folder,
        manifest=manifest,
        summary=table("summary.csv"),
        reverse_stress=table("reverse_stress.csv"),
        projections=projections,
    )


def earlier_runs(outputs_root: Path, before: int) -> list[EarlierRun]:
    """Every complete as-of folder for a quarter before ``before``, newest first."""
    return [read_earlier_run(p) for q, p in reversed(as_of_folders(outputs_root)) if q < before]


def file_hashes(folder: Path, names: Iterable[str]) -> dict[str, str]:
    return {n: sha256_file(folder / n) for n in sorted(names)}


def write_manifest(
    folder: Path,
    *,
    as_of: str,
    options: dict[str, Any],
    input_hashes: dict[str, str],
    outputs: Iterable[str],
    started: dt.datetime,
    stages: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> Path:
    finished = dt.datetime.now(dt.UTC)
    manifest = {
        "package": "stressmodel",
        "version": __version__,
        "as_of": as_of,
        "options": options,
        "inputs": input_hashes,
        "outputs": file_hashes(folder, outputs),
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "duration_seconds": round((finished - started).total_seconds(), 3),
        "stage_seconds": {k: round(v, 4) for k, v in stages.items()},
        **(extra or {}),
    }
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


Writer = Callable[[Path], list[str]]


def timed(stages: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    import time

    t = time.perf_counter()
    out = fn()
    stages[name] = stages.get(name, 0.0) + time.perf_counter() - t
    return out


@contextlib.contextmanager
def no_partial_file(path: Path) -> Any:
    """Remove ``path`` if writing it fails half-way (inside a temp folder anyway)."""
    try:
        yield path
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
