"""Writing one as-of run to ``outputs/<as_of>/``, atomically.

Every file is written into a hidden temporary folder beside the target; only when the
whole run has been written is it moved into place. An existing target is replaced only
with ``force`` (and then by two renames, the old folder kept until the new one is in
place). A crash, ``kill -9`` or Ctrl-C therefore leaves the old complete folder, or no
folder; a stale temporary folder is removed by the next run.

Text that came from inputs is made safe for spreadsheets: a CSV cell starting with
``= + - @``, a tab or a carriage return is prefixed with an apostrophe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import polars as pl

from stressmodel import __version__
from stressmodel.errors import OutputExistsError, ReportError, UsageError
from stressmodel.inputs import sha256_file
from stressmodel.periods import QUARTER_RE

TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MAX_NAME = 64


def safe_component(name: str, what: str) -> str:
    """A path component built from data (a ticker, an as-of label), checked against a
    strict pattern so that it cannot escape the outputs folder."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > MAX_NAME
        or "\x00" in name
        or not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z._-]*", name)
        or ".." in name
    ):
        raise UsageError(f"unsafe {what} for a file name: {name!r}")
    return name


def as_of_folder(outputs_root: Path, label: str) -> Path:
    if not QUARTER_RE.match(label):
        raise UsageError(f"unsafe as-of label for a folder name: {label!r}")
    return outputs_root / safe_component(label, "as-of label")


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
                pl.when(c.str.contains(r"^[=+\-@\t\r]")).then(pl.lit("'") + c).otherwise(c).alias(name)
            )
    return frame.with_columns(exprs) if exprs else frame


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    csv_safe(frame).write_csv(path, float_precision=None)


def cleanup_stale(outputs_root: Path) -> list[Path]:
    """Remove temporary folders left by interrupted runs; restore a replaced folder whose
    replacement never arrived."""
    removed = []
    if not outputs_root.is_dir():
        return removed
    for p in outputs_root.iterdir():
        if p.name.startswith(TMP_PREFIX) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
        elif p.name.startswith(OLD_PREFIX) and p.is_dir():
            label = p.name[len(OLD_PREFIX) :].split(".", 1)[0]
            target = outputs_root / label
            if QUARTER_RE.match(label) and not target.exists():
                p.rename(target)
            else:
                shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


class AtomicFolder:
    """Context manager: a temporary folder that becomes ``target`` on success."""

    def __init__(self, target: Path, force: bool):
        self.target = target
        self.force = force
        self.tmp = target.parent / f"{TMP_PREFIX}{target.name}.{os.getpid()}.{secrets.token_hex(4)}"

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        cleanup_stale(self.target.parent)
        if self.target.exists() and not self.force:
            raise OutputExistsError(
                f"{self.target} already exists; it was left untouched. Use --force to replace it."
            )
        self.tmp.mkdir()
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        old = None
        if self.target.exists():
            old = self.target.parent / f"{OLD_PREFIX}{self.target.name}.{secrets.token_hex(4)}"
            self.target.rename(old)
        try:
            self.tmp.rename(self.target)
        except OSError as e:  # pragma: no cover - e.g. a full disk
            if old is not None:
                old.rename(self.target)
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise ReportError(f"could not move the outputs into {self.target}: {e}") from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


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
