"""Library entry points behind the CLI commands. The CLI only parses options, calls one
of these, prints and maps errors to exit codes; these never call ``sys.exit``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from stressmodel.base import compute_bases
from stressmodel.errors import InputError, Problem, UsageError
from stressmodel.inputs import Inputs, load_inputs
from stressmodel.outputs import AtomicFolder, as_of_folder, cleanup_stale, write_manifest
from stressmodel.periods import parse_quarter, quarter_label
from stressmodel.pipeline import RunOptions, RunResult, default_as_of, run_model, select_firms
from stressmodel.results import write_result_files
from stressmodel.vocabulary import ITEMS, STATEMENT_COLUMNS, TICKER_PATTERN

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunReport:
    result: RunResult
    folder: Path
    files: tuple[str, ...]
    started: dt.datetime


def parse_as_of(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_quarter(text)
    except ValueError:
        raise UsageError(f"--as-of must be a quarter like 2025Q3, got {text!r}") from None


def parse_firms(text: str | None) -> tuple[str, ...] | None:
    if not text:
        return None
    import re

    firms = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in firms if not re.match(TICKER_PATTERN, t)]
    if bad:
        raise UsageError(f"--firms takes tickers like 603072.SH,300224.SZ; not valid: {', '.join(map(repr, bad))}")
    return firms


def run_and_write(
    inputs_dir: Path,
    outputs_dir: Path,
    options: RunOptions,
    *,
    force: bool = False,
    workbooks: bool = True,
    progress: Progress | None = None,
    inputs: Inputs | None = None,
    extra_writers: list[Callable[[RunResult, Inputs, Path], list[str]]] | None = None,
) -> RunReport:
    """Load inputs, run the model as of one quarter, write ``outputs/<as_of>/`` atomically."""
    started = dt.datetime.now(dt.UTC)
    say = progress or (lambda _m: None)
    say("reading inputs")
    inputs = inputs if inputs is not None else load_inputs(inputs_dir)
    # fail fast on an existing folder, before any computation
    firms = select_firms(inputs, options.firms)
    as_of = options.as_of if options.as_of is not None else default_as_of(inputs, firms)[0]
    target = as_of_folder(Path(outputs_dir), quarter_label(as_of))
    cleanup_stale(Path(outputs_dir))
    if target.exists() and not force:
        from stressmodel.errors import OutputExistsError

        raise OutputExistsError(f"{target} already exists; it was left untouched. Use --force to replace it.")
    result = run_model(inputs, RunOptions(as_of=as_of, firms=options.firms, horizon=options.horizon, paths=options.paths), say)
    stages = dict(result.timings)
    with AtomicFolder(target, force) as tmp:
        say("writing tables")
        names = write_result_files(result, inputs, tmp)
        for writer in extra_writers or []:
            names += writer(result, inputs, tmp)
        if workbooks:
            say("writing workbooks")
            from stressmodel.report import write_workbooks

            t = dt.datetime.now()
            names += write_workbooks(result, inputs, tmp)
            stages["workbooks"] = (dt.datetime.now() - t).total_seconds()
        write_manifest(
            tmp,
            as_of=result.as_of_label,
            options={
                "inputs": str(inputs_dir),
                "outputs": str(outputs_dir),
                "as_of": result.as_of_label,
                "as_of_default": options.as_of is None,
                "firms": list(result.tickers),
                "horizon": result.horizon,
                "paths": options.paths,
                "force": force,
                "workbooks": workbooks,
            },
            input_hashes=inputs.file_hashes,
            outputs=names,
            started=started,
            stages=stages,
            extra={"firms_with_later_data": result.later_data},
        )
    return RunReport(result, target, tuple(sorted(names)), started)


# --- validate: coverage table --------------------------------------------------------------

COVERAGE_FIGURES = (
    "revenue_ttm", "cogs_ttm", "ebit_ttm", "da_ttm", "net_income_ttm", "cfo_ttm", "interest_ttm", "net_income_ttm_prev",
    "cash", "receivables", "inventory", "total_assets", "total_liabilities", "equity_attributable", "total_debt", "st_debt",
    "export_share", "price_ratio", "asp", "share_price", "shares", "equity_volatility", "past_year_return",
)


def coverage(inputs: Inputs) -> tuple[str, pl.DataFrame]:
    """Per firm, how the figures the model needs at the default as-of quarter were
    obtained: reported, derived, estimated or missing."""
    firms = select_firms(inputs, None)
    as_of, _later = default_as_of(inputs, firms)
    bases = compute_bases(inputs, as_of)
    rows = []
    for t in inputs.tickers:
        counts = {"reported": 0, "derived": 0, "estimated": 0, "missing": 0}
        fb = bases.firms.get(t)
        missing = []
        for name in COVERAGE_FIGURES:
            fig = None if fb is None else fb.figures.get(name)
            if fig is None:
                counts["missing"] += 1
                missing.append(name)
            else:
                counts[fig.basis] += 1
        rows.append({"ticker": t, **counts, "missing_figures": ", ".join(missing),
                     "note": bases.not_runnable.get(t, "")})
    return quarter_label(as_of), pl.DataFrame(rows)


# --- template ------------------------------------------------------------------------------


def template_csv(ticker: str) -> str:
    import re

    if not re.match(TICKER_PATTERN, ticker):
        raise UsageError(f"a ticker like 603072.SH is needed, got {ticker!r}")
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(STATEMENT_COLUMNS)
    for item in ITEMS.values():
        w.writerow(["", item.name, "", item.unit, "", item.description])
    return out.getvalue()


def write_template_xlsx(ticker: str, path: Path) -> None:
    import xlsxwriter

    text = template_csv(ticker)
    rows = list(csv.reader(io.StringIO(text)))
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_numbers": False})
    ws = wb.add_worksheet("statements")
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            ws.write_string(r, c, v)
    wb.close()


# --- calibrate -----------------------------------------------------------------------------

EVENT_COLUMNS = ("ticker", "year", "event", "z_distress", "z_size", "z_roa_gap", "z_export", "private", "upstream", "z_runway")


def read_events(path: Path) -> pl.DataFrame:
    from stressmodel.readers import read_csv
    from stressmodel.validation import parse_number

    name = str(path)
    table = read_csv(path, name, EVENT_COLUMNS)
    problems: list[Problem] = []
    data: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS}
    for line, r in table.records():
        data["ticker"].append(r["ticker"])
        try:
            data["year"].append(int(r["year"]))
        except ValueError:
            problems.append(Problem(name, line, "year", "a year", repr(r["year"])))
            data["year"].append(None)
        if r["event"] not in ("0", "1"):
            problems.append(Problem(name, line, "event", "0 or 1", repr(r["event"])))
        data["event"].append(1 if r["event"] == "1" else 0)
        for c in EVENT_COLUMNS[3:]:
            v = parse_number(r[c])
            if v is None:
                problems.append(Problem(name, line, c, "a number", repr(r[c])))
            elif c in ("private", "upstream") and not 0 <= v <= 1:
                problems.append(Problem(name, line, c, "a value in [0, 1]", r[c]))
            data[c].append(v)
    if not table.rows:
        problems.append(Problem(name, None, None, "at least one firm-year", "no rows"))
    if problems:
        raise InputError(problems)
    return pl.DataFrame(data)


def calibrate_file(events_path: Path, inputs_dir: Path, out_path: Path) -> dict[str, Any]:
    """Fit the consolidation model on a labelled events file; write the fitted weights in
    the priors format (CSV) and the fit statistics (JSON beside it)."""
    from stressmodel.calibration import calibrate
    from stressmodel.consolidation import Priors

    inputs = load_inputs(inputs_dir)
    priors = Priors.from_parameters(inputs.priors)
    events = read_events(events_path)
    res = calibrate(events, priors)
    units = {r["parameter"]: r["unit"] for r in inputs.priors_table}
    rows = [("base_rate", res.priors.base_rate)]
    rows += [("base_rate_low", res.priors.base_rate_low), ("base_rate_high", res.priors.base_rate_high),
             ("horizon_years", res.priors.horizon_years)]
    rows += [(f"w_{k}", v) for k, v in res.priors.weights.items()]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["parameter", "value", "unit", "rationale", "source"])
    for name, value in rows:
        se = (res.std_errors or {}).get(name[2:] if name.startswith("w_") else "intercept")
        note = f"fitted by {res.method} on {res.n} firm-years with {res.events} events"
        if se is not None and name.startswith("w_"):
            note += f"; standard error {se:.4f}"
        if name in ("base_rate_low", "base_rate_high", "horizon_years"):
            note = "copied from the priors"
        w.writerow([name, repr(float(value)), units.get(name, ""), note, f"stressmodel calibrate --events {events_path.name}"])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(buf.getvalue(), encoding="utf-8")
    stats = {
        "method": res.method, "status": res.status, "n": res.n, "events": res.events,
        "log_likelihood": res.log_likelihood, "aic": res.aic, "pseudo_r2": res.pseudo_r2, "alpha": res.alpha,
        "std_errors": dict(res.std_errors) if res.std_errors else None,
        "deviations_from_prior": dict(res.deviations) if res.deviations else None, "cov_type": res.cov_type,
        "cv_deviance": {str(k): v for k, v in res.cv_deviance.items()} if res.cv_deviance else None,
    }
    out_path.with_suffix(".json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return stats
