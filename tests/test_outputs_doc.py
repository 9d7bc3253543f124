"""docs/outputs.md documents every output file and every column of a real run.

Two as-of runs (so changes.csv, change_drivers.csv, change_inputs.csv and tracking.csv
are written) with Monte Carlo paths (montecarlo.csv); every CSV's header and the parquet
schema must each have a row in the file's section of docs/outputs.md, and the doc must not
list columns the run does not write."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import polars as pl
import pytest

from stressmodel.inputs.load import load_inputs
from stressmodel.inputs.periods import parse_quarter
from stressmodel.pipeline.stages import RunOptions
from stressmodel.run.app import run_and_write

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "outputs.md"


def documented() -> dict[str, list[str]]:
    """Section ``## `file` `` -> the first-cell column names of its table."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^## `([^`]+)`", line):
            current = m.group(1)
            sections[current] = []
        elif current and (m := re.match(r"^\| `([^`]+)` \|", line)):
            sections[current].append(m.group(1))
    return sections


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("doc")
    inputs = load_inputs(REPO / "inputs")
    firms = ("688077.SH", "300224.SZ")
    for q in ("2025Q2", "2025Q3"):
        report = run_and_write(
            REPO / "inputs",
            out,
            RunOptions(as_of=parse_quarter(q), firms=firms, paths=50),
            workbooks=False,
            inputs=inputs,
        )
    return report.folder


@pytest.mark.slow
def test_every_output_column_is_documented(run_folder: Path) -> None:
    sections = documented()
    files = sorted(p.name for p in run_folder.iterdir())
    expected = {
        "projections.parquet", "summary.csv", "scenarios.csv", "reverse_stress.csv", "multiples.csv",
        "debt_at_risk.csv", "actual_metrics.csv", "peer_stats.csv", "base_figures.csv", "trade_path.csv",
        "changes.csv", "change_drivers.csv", "change_inputs.csv", "tracking.csv", "montecarlo.csv", "manifest.json",
    }  # fmt: skip
    assert set(files) == expected
    for name in files:
        assert name in sections, f"docs/outputs.md has no section for {name}"
        if name.endswith(".csv"):
            with (run_folder / name).open(encoding="utf-8", newline="") as fh:
                columns = next(csv.reader(fh))
        elif name.endswith(".parquet"):
            columns = pl.read_parquet_schema(run_folder / name).keys()
        else:
            continue
        missing = [c for c in columns if c not in sections[name]]
        extra = [c for c in sections[name] if c not in columns]
        assert not missing, f"{name}: columns not in docs/outputs.md: {missing}"
        assert not extra, f"{name}: docs/outputs.md lists columns the run does not write: {extra}"
        assert len(sections[name]) == len(set(sections[name])), name


def test_readme_links_the_outputs_doc() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "(docs/outputs.md)" in readme
