"""Snapshots of raw AkShare responses: one JSON file per (function, arguments).

A snapshot holds the frame exactly enough to rebuild it with the same column names and
dtypes (``datetime.date`` cells of object columns are tagged and restored), plus its
metadata: akshare version, function, arguments, fetched-at time (UTC) and the SHA-256 of
the frame's canonical JSON. The cache folder is owned by ``stressmodel fetch``: its
temporary files carry the ``.stressmodel-fetch-tmp-`` marker and are the only thing it
ever deletes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from stressmodel.inputs.periods import quarter_of_date

TMP_MARKER = ".stressmodel-fetch-tmp-"
_PANDAS_MAJOR = int(pd.__version__.split(".")[0])
FORMAT = "stressmodel-fetch-snapshot/1"


@dataclass(frozen=True)
class Snapshot:
    function: str
    args: dict[str, str]
    frame: pd.DataFrame
    akshare_version: str
    fetched_at: dt.datetime
    checksum: str

    @property
    def call(self) -> str:
        return call_text(self.function, self.args)

    def source(self) -> str:
        """The ``source`` cell of an imported row."""
        return (
            f"akshare {self.akshare_version} {self.call} retrieved "
            f"{self.fetched_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        )


def call_text(function: str, args: dict[str, str]) -> str:
    return f"{function}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"


def key(function: str, args: dict[str, str]) -> str:
    """File name of the snapshot of one call."""
    digest = hashlib.sha256(
        json.dumps([function, args], sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    return f"{function}__{digest[:16]}.json"


def _cell(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return {"datetime": v.isoformat()}
    if isinstance(v, dt.date):
        return {"date": v.isoformat()}
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):  # numpy scalar
        return _cell(v.item())
    return v


def _uncell(v: Any) -> Any:
    if isinstance(v, dict):
        if "date" in v:
            return dt.date.fromisoformat(v["date"])
        if "datetime" in v:
            return dt.datetime.fromisoformat(v["datetime"])
    return v


def encode_frame(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "columns": [str(c) for c in frame.columns],
        "dtypes": [str(t) for t in frame.dtypes],
        "data": [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)],
    }


def decode_frame(obj: dict[str, Any]) -> pd.DataFrame:
    columns, dtypes, data = obj["columns"], obj["dtypes"], obj["data"]
    cols: dict[str, Any] = {}
    for j, (name, dtype) in enumerate(zip(columns, dtypes, strict=True)):
        values = [_uncell(row[j]) for row in data]
        if dtype == "object" or (dtype == "str" and _PANDAS_MAJOR < 3):
            # pandas 3 has a ``str`` dtype; pandas 2 holds the same text in object columns
            cols[name] = pd.Series([float("nan") if v is None else v for v in values], dtype=object)
        else:
            cols[name] = pd.Series([float("nan") if v is None else v for v in values], dtype=dtype)
    frame = pd.DataFrame(cols)
    frame.columns = list(columns)  # keeps duplicates and order exactly
    return frame


def checksum(encoded: dict[str, Any]) -> str:
    text = json.dumps(encoded, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def to_json(snap: Snapshot) -> str:
    enc = encode_frame(snap.frame)
    return json.dumps(
        {
            "format": FORMAT,
            "akshare_version": snap.akshare_version,
            "function": snap.function,
            "args": snap.args,
            "fetched_at": snap.fetched_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "checksum": checksum(enc),
            "frame": enc,
        },
        ensure_ascii=False,
        indent=1,
    )


class SnapshotError(ValueError):
    pass


def from_json(text: str, name: str) -> Snapshot:
    try:
        obj = json.loads(text)
        enc = obj["frame"]
        if checksum(enc) != obj["checksum"]:
            raise SnapshotError(f"{name}: checksum does not match its frame (edited or truncated)")
        fetched = dt.datetime.strptime(obj["fetched_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.UTC
        )
        return Snapshot(
            obj["function"],
            dict(obj["args"]),
            decode_frame(enc),
            str(obj["akshare_version"]),
            fetched,
            obj["checksum"],
        )
    except SnapshotError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"{name}: not a fetch snapshot ({type(exc).__name__}: {exc})") from None


def make(
    function: str, args: dict[str, str], frame: pd.DataFrame, version: str, at: dt.datetime
) -> Snapshot:
    return Snapshot(function, dict(args), frame, version, at, checksum(encode_frame(frame)))


class Cache:
    """The snapshot folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, function: str, args: dict[str, str]) -> Path:
        return self.folder / key(function, args)

    def load(self, function: str, args: dict[str, str]) -> Snapshot | None:
        p = self.path(function, args)
        if not p.is_file():
            return None
        return from_json(p.read_text(encoding="utf-8"), p.name)

    def latest_like(
        self, function: str, args: dict[str, str], loose: tuple[str, ...]
    ) -> Snapshot | None:
        """For ``--offline``: the newest snapshot of ``function`` whose arguments equal
        ``args`` except the ``loose`` ones (a date range that moved on with the calendar)."""
        exact = self.load(function, args)
        if exact is not None or not self.folder.is_dir():
            return exact
        best: Snapshot | None = None
        fixed = {k: v for k, v in args.items() if k not in loose}
        for p in sorted(self.folder.glob(f"{function}__*.json")):
            snap = from_json(p.read_text(encoding="utf-8"), p.name)
            if (
                snap.function != function
                or {k: v for k, v in snap.args.items() if k not in loose} != fixed
            ):
                continue
            if best is None or snap.fetched_at > best.fetched_at:
                best = snap
        return best

    def fresh(self, function: str, args: dict[str, str], today: dt.date) -> Snapshot | None:
        """The snapshot if it was fetched in the same calendar quarter as ``today``."""
        snap = self.load(function, args)
        if snap is None:
            return None
        return snap if quarter_of_date(snap.fetched_at.date()) == quarter_of_date(today) else None

    def store(self, snap: Snapshot) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.path(snap.function, snap.args)
        tmp = final.with_name(f"{TMP_MARKER}{os.getpid()}-{final.name}")
        try:
            tmp.write_text(to_json(snap), encoding="utf-8")
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()
        return final

    def is_empty(self) -> bool:
        return not self.folder.is_dir() or not any(
            p.suffix == ".json" and not p.name.startswith(TMP_MARKER) for p in self.folder.iterdir()
        )
