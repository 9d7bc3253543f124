"""stressmodel calibrate on a synthetic labelled events file (seeded)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from stressmodel.cli import main

ROOT = Path(__file__).resolve().parents[1]
TRUE = {
    "z_distress": 0.9,
    "z_size": -0.5,
    "z_roa_gap": -0.3,
    "z_export": 0.6,
    "private": 0.5,
    "upstream": -0.8,
    "z_runway": -0.4,
}


def test_calibrate_recovers_coefficients_and_writes_priors_format(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 6000
    x = {
        k: (
            rng.integers(0, 2, n).astype(float)
            if k in ("private", "upstream")
            else rng.normal(size=n)
        )
        for k in TRUE
    }
    eta = -1.5 + sum(TRUE[k] * x[k] for k in TRUE)
    y = rng.random(n) < 1 / (1 + np.exp(-eta))
    events = tmp_path / "events.csv"
    with events.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ticker", "year", "event", *TRUE])
        for i in range(n):
            w.writerow(
                [
                    f"{i % 300:06d}.SZ",
                    2010 + i % 15,
                    int(y[i]),
                    *(repr(float(x[k][i])) for k in TRUE),
                ]
            )
    out = tmp_path / "fitted.csv"
    res = CliRunner().invoke(
        main,
        ["calibrate", "--events", str(events), "--inputs", str(ROOT / "inputs"), "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    text = out.read_text()
    rows = {r["parameter"]: r for r in csv.DictReader(text.splitlines())}
    assert text.splitlines()[0] == "parameter,value,unit,rationale,source"
    # tolerance: 0.15 log-odds (about three standard errors at n = 6,000)
    for k, v in TRUE.items():
        name = "w_" + k.removeprefix("z_")
        assert abs(float(rows[name]["value"]) - v) < 0.15, (name, rows[name]["value"], v)
    stats = json.loads(out.with_suffix(".json").read_text())
    assert stats["method"] == "logit" and stats["n"] == n


def test_calibrate_rejects_a_bad_events_file(tmp_path: Path) -> None:
    bad = tmp_path / "events.csv"
    bad.write_text(
        "ticker,year,event,z_distress,z_size,z_roa_gap,z_export,private,upstream,z_runway\n000001.SZ,2020,2,0,0,0,0,0,0,0\n"
    )
    res = CliRunner().invoke(
        main,
        [
            "calibrate",
            "--events",
            str(bad),
            "--inputs",
            str(ROOT / "inputs"),
            "--out",
            str(tmp_path / "o.csv"),
        ],
    )
    assert res.exit_code == 2
    assert "row 2, field 'event': expected 0 or 1; found '2'" in res.output


def _small_events(path: Path) -> Path:
    rng = np.random.default_rng(11)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ticker", "year", "event", *TRUE])
        for i in range(600):
            xs = [
                float(rng.integers(0, 2)) if k in ("private", "upstream") else float(rng.normal())
                for k in TRUE
            ]
            w.writerow([f"{i % 60:06d}.SZ", 2010 + i % 10, int(rng.random() < 0.2), *map(repr, xs)])
    return path


def test_calibrate_out_json_writes_exactly_the_two_files_it_names(tmp_path: Path) -> None:
    """--out cal.json used to write the statistics over the weights ("wrote cal.json and cal.json")."""
    events = _small_events(tmp_path / "events.csv")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / ".tmp-mine").write_text("a user's file")
    out = out_dir / "cal.json"
    res = CliRunner().invoke(
        main,
        ["calibrate", "--events", str(events), "--inputs", str(ROOT / "inputs"), "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    stats = out_dir / "cal.stats.json"
    assert f"wrote {out} (weights) and {stats} (fit statistics)" in res.output
    assert sorted(p.name for p in out_dir.iterdir()) == [".tmp-mine", "cal.json", "cal.stats.json"]
    assert (
        out.read_text().splitlines()[0] == "parameter,value,unit,rationale,source"
    )  # the weights kept
    assert json.loads(stats.read_text())["n"] == 600


def test_calibrate_out_folder_and_template_xlsx_folder_are_usage_errors(tmp_path: Path) -> None:
    events = _small_events(tmp_path / "events.csv")
    res = CliRunner().invoke(
        main,
        [
            "calibrate",
            "--events",
            str(events),
            "--inputs",
            str(ROOT / "inputs"),
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 2 and "is a folder" in res.stderr and "internal error" not in res.output
    res = CliRunner().invoke(main, ["template", "603072.SH", "--xlsx", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == f"error: --xlsx {tmp_path} is a folder; give a file name"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv"]  # nothing else written


def test_template_xlsx_in_a_read_only_folder_is_exit_2(tmp_path: Path, monkeypatch) -> None:
    import errno

    from stressmodel.run import outputs

    def read_only(*_a, **_k):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path))

    monkeypatch.setattr(outputs, "make_wrapper", read_only)
    res = CliRunner().invoke(main, ["template", "603072.SH", "--xlsx", str(tmp_path / "t.xlsx")])
    assert res.exit_code == 2, res.output
    assert "Read-only file system" in res.stderr and "internal error" not in res.stderr
