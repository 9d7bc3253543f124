"""Merging imported rows into the hand-curated files, with a report.

A figure is matched with an existing row by item and what it covers (flows: period end
and length; balances and ratios: the day), whatever the period label. Then:

- no existing row -> **new** (appended);
- equal within the existing row's rounding (its last printed decimal) -> **same** (the
  existing row stays as it is);
- differs by at most ``tolerance`` (relative) -> **changed**: the row is replaced and the
  report lists old -> new with both sources;
- differs by more -> **conflict**: the existing row stays and the report lists both.

Nothing is written here: :func:`merge_statements` and :func:`merge_prices` return the
new file text; the caller validates it and writes it atomically.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from stressmodel.inputs.fetch.importer import PriceRow, Row
from stressmodel.inputs.fetch.snapshot import TMP_MARKER
from stressmodel.inputs.periods import PeriodKind, parse_period
from stressmodel.inputs.validation import PRICE_COLUMNS
from stressmodel.inputs.vocabulary import ITEMS, STATEMENT_COLUMNS

DEFAULT_TOLERANCE = 0.01


@dataclass(frozen=True)
class Change:
    file: str
    kind: str  # new, same, changed, conflict
    key: str
    old: str = ""
    new: str = ""
    old_source: str = ""
    new_source: str = ""

    def line(self) -> str:
        if self.kind == "new":
            return f"  new       {self.file}: {self.key} = {self.new}"
        return (
            f"  {self.kind:9} {self.file}: {self.key}: {self.old} -> {self.new}\n"
            f"            old source: {self.old_source}\n"
            f"            new source: {self.new_source}"
        )


@dataclass
class MergeReport:
    changes: list[Change] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)

    def text(self, dry_run: bool) -> str:
        out = [
            "stressmodel fetch: merge report" + (" (dry run: nothing written)" if dry_run else ""),
            f"  {self.count('new')} new, {self.count('changed')} changed, "
            f"{self.count('conflict')} conflicting (kept), {self.count('same')} same within rounding",
        ]
        for kind, title in (
            ("new", "New"),
            ("changed", "Changed (replaced)"),
            ("conflict", "Conflicting (existing row kept)"),
        ):
            rows = [c for c in self.changes if c.kind == kind]
            if rows:
                out.append(f"{title}:")
                out.extend(c.line() for c in rows)
        if self.skipped:
            out.append("Not imported:")
            out.extend(f"  {s}" for s in self.skipped)
        if self.failures:
            out.append("FAILED:")
            out.extend(f"  {s}" for s in self.failures)
        return "\n".join(out) + "\n"


def _decimals(text: str) -> int:
    t = text.strip().lower()
    if "e" in t:
        return 6
    return len(t.split(".")[1]) if "." in t else 0


def compare(old_text: str, new: float, tolerance: float) -> str:
    old = float(old_text)
    if abs(new - old) <= 0.5 * 10 ** (-_decimals(old_text)) + 1e-12:
        return "same"
    scale = max(abs(old), abs(new))
    if scale > 0 and abs(new - old) / scale <= tolerance:
        return "changed"
    return "conflict"


def _statement_key(period: str, item: str) -> tuple[str, int, int] | None:
    try:
        p = parse_period(period)
    except ValueError:
        return None
    spec = ITEMS.get(item)
    if spec is None:
        return None
    if spec.kind == "flow":
        return (item, p.end, 100 + p.span if p.kind == PeriodKind.TTM else p.span)
    return (item, p.end, 0)


def _read(text: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not text.strip():
        return []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return [dict(r) for r in reader]


def _write(rows: Iterable[dict[str, str]], columns: tuple[str, ...]) -> str:
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c, "") for c in columns})
    return buf.getvalue()


def merge_statements(
    name: str, text: str, imported: list[Row], tolerance: float, report: MergeReport
) -> str:
    """Merge ``imported`` into the statements file ``text``; returns the new text
    (the old text unchanged when nothing is new or changed)."""
    rows = _read(text, STATEMENT_COLUMNS)
    index: dict[tuple[str, int, int], int] = {}
    for i, r in enumerate(rows):
        k = _statement_key(r.get("period", ""), r.get("item", ""))
        if k is not None and r.get("value", "").strip():
            index.setdefault(k, i)
    touched = False
    for new in imported:
        k = (new.item, new.end, new.span if ITEMS[new.item].kind == "flow" else 0)
        label = f"{new.period} {new.item}"
        i = index.get(k)
        if i is None:
            rows.append(new.cells())
            index[k] = len(rows) - 1
            report.changes.append(
                Change(name, "new", label, new=f"{new.value:g} {new.unit}", new_source=new.source)
            )
            touched = True
            continue
        old = rows[i]
        kind = compare(old["value"], new.value, tolerance)
        label = f"{old['period']} {new.item}"
        report.changes.append(
            Change(
                name, kind, label, old["value"], f"{new.value:g}", old.get("source", ""), new.source
            )
        )
        if kind == "changed":
            cells = new.cells()
            cells["period"] = old["period"]  # keep the label the file uses for that day
            cells["note"] = f"{cells['note']}; replaces {old['value']} from {old.get('source', '')}"
            rows[i] = cells
            touched = True
    return _write(rows, STATEMENT_COLUMNS) if touched or not text.strip() else text


def merge_prices(
    name: str, text: str, imported: list[PriceRow], tolerance: float, report: MergeReport
) -> str:
    rows = _read(text, PRICE_COLUMNS)
    index = {
        (r["ticker"], r["date"], r["item"]): i
        for i, r in enumerate(rows)
        if r.get("value", "").strip()
    }
    touched = False
    for new in imported:
        k = (new.ticker, new.date.isoformat(), new.item)
        label = f"{new.ticker} {new.date.isoformat()} {new.item}"
        i = index.get(k)
        if i is None:
            rows.append(new.cells())
            index[k] = len(rows) - 1
            report.changes.append(
                Change(name, "new", label, new=f"{new.value:g} {new.unit}", new_source=new.source)
            )
            touched = True
            continue
        old = rows[i]
        kind = compare(old["value"], new.value, tolerance)
        report.changes.append(
            Change(
                name, kind, label, old["value"], f"{new.value:g}", old.get("source", ""), new.source
            )
        )
        if kind == "changed":
            cells = new.cells()
            cells["note"] = f"{cells['note']}; replaces {old['value']} from {old.get('source', '')}"
            rows[i] = cells
            touched = True
    return _write(rows, PRICE_COLUMNS) if touched else text


def write_atomically(files: dict[Path, str]) -> None:
    """Write every file to a marked temporary name beside it first, then rename each into
    place: a fetch killed before the renames leaves every file as it was (and only
    marked temporaries, which the next fetch removes)."""
    temps: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            tmp = path.with_name(f"{TMP_MARKER}{os.getpid()}-{path.name}")
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            temps.append((tmp, path))
        for tmp, path in temps:
            os.replace(tmp, path)
    finally:
        for tmp, _path in temps:
            if tmp.exists():
                tmp.unlink()


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove temporaries a killed fetch left: only names carrying the marker, and only
    when the process id in the name is no longer running (a concurrent fetch keeps its
    own). Returns what was removed."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        if not (p.name.startswith(TMP_MARKER) and p.is_file()):
            continue
        pid_text = p.name[len(TMP_MARKER) :].split("-", 1)[0]
        if pid_text.isdigit() and psutil.pid_exists(int(pid_text)):
            continue
        p.unlink()
        removed.append(p)
    return removed
