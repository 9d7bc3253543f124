"""The benchmark's headline figures (the top level of ``stressmodel bench --json``) and
its plain-text table, from the report :func:`stressmodel.bench.run_benchmark` returns."""

from __future__ import annotations

from typing import Any


def summary_figures(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures (top level of ``--json``), from the largest universe run."""
    sizes = report["sizes"]
    largest = max(sizes, key=int)
    proj = sizes[largest]["projection"]
    naive = report["naive"]
    e2e_100 = sizes.get("100", {}).get("end_to_end")
    books = [
        v["end_to_end"]
        for v in sizes.values()
        if v.get("end_to_end", {}).get("workbook_cells_per_second")
    ]
    books.sort(key=lambda e: e["firms"])
    peak = max(
        [v["projection"]["peak_rss_mb"] for v in sizes.values()]
        + [v["risk_valuation"]["peak_rss_mb"] for v in sizes.values()]
        + [v["end_to_end"]["peak_rss_mb"] for v in sizes.values() if "end_to_end" in v]
    )
    engines = sizes[largest].get("engines", {})
    bound = report.get("store_bandwidth", {}).get("bound_rows_per_second_per_core")

    def rate(backend: str) -> float | None:
        return engines.get(backend, {}).get("rows_per_second")

    def e2e(n: str, key: str) -> dict[str, Any] | None:
        return sizes.get(n, {}).get(key)

    def stage_peaks(e: dict[str, Any] | None) -> float | None:
        return e["peak_rss_mb"] if e else None

    fanout = report.get("montecarlo_fanout", {})
    shipped = report.get("shipped_run")
    bound_all = report.get("store_bandwidth", {}).get("bound_rows_per_second_all_cores")
    naive_rate = report["naive"]["naive_rows_per_second"]

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    extra = {
        "machine_load": report.get("machine_load"),
        "engine_figure_rows": engines.get("rows"),
        "engine_figure_scenarios": engines.get("scenarios"),
        "engine_rows_per_second_fused_1_thread": rate("fused_1_thread"),
        "engine_cold_rows_per_second_fused": engines.get("fused", {}).get("cold_rows_per_second"),
        "engine_rows_per_cpu_second_fused": engines.get("fused", {}).get("rows_per_cpu_second"),
        "engine_rows_per_cpu_second_polars": engines.get("polars", {}).get("rows_per_cpu_second"),
        "fused_threads": engines.get("fused_threads"),
        "fused_threads_speedup": engines.get("fused_threads_speedup"),
        "fused_compile_or_load_seconds": engines.get("fused_compile_or_load_seconds"),
        "fused_compiled_from": engines.get("fused_compiled_from"),
        "store_bound_rows_per_second_all_cores": bound_all,
        "fused_to_store_bound_all_cores": ratio(rate("fused"), bound_all),
        "fused_1_thread_to_store_bound_per_core": ratio(rate("fused_1_thread"), bound),
        "speedup_vs_naive_fused": ratio(rate("fused"), naive_rate),
        "speedup_vs_naive_polars": ratio(rate("polars"), naive_rate),
        "shipped_run_seconds": shipped["seconds"] if shipped else None,
        "shipped_run_cold_cache_seconds": shipped["cold_cache_seconds"] if shipped else None,
        "end_to_end_seconds_100_firms_workers_2": (e2e("100", "end_to_end_workers") or {}).get(
            "seconds"
        ),
        "end_to_end_seconds_1000_firms": (e2e("1000", "end_to_end") or {}).get("seconds"),
        "end_to_end_seconds_1000_firms_workers_2": (e2e("1000", "end_to_end_workers") or {}).get(
            "seconds"
        ),
        "engine_rows_per_second_fused": rate("fused"),
        "engine_rows_per_second_polars": rate("polars"),
        "engine_rows_per_second_numpy": rate("numpy"),
        "fused_vs_polars": engines.get("fused_vs_polars"),
        "fused_max_relative_difference_to_polars": engines.get("fused", {}).get(
            "max_relative_difference_to_polars"
        ),
        "store_bound_rows_per_second_per_core": bound,
        "fused_to_store_bound_per_core": (rate("fused") / bound)
        if bound and rate("fused")
        else None,
        "montecarlo_fanout_firms": fanout.get("firms"),
        "montecarlo_fanout_paths": fanout.get("paths"),
        "montecarlo_serial_seconds": fanout.get("serial_seconds"),
        "montecarlo_cluster_local_2_seconds": fanout.get("cluster_seconds"),
        "montecarlo_cluster_identical": fanout.get("identical_to_serial"),
        "peak_rss_mb_per_stage": {
            f"{stage}_{n}": v[stage]["peak_rss_mb"]
            for n, v in sizes.items()
            for stage in ("projection", "risk_valuation", "end_to_end", "end_to_end_workers")
            if stage in v
        },
        "peak_rss_mb_1000_firms_workers_2": stage_peaks(e2e("1000", "end_to_end_workers")),
    }
    return extra | {
        "engine_rows_per_second": proj["rows_per_second"],
        "engine_rows_per_second_firms": int(largest),
        "engine_cold_rows_per_second": proj["cold_rows_per_second"],
        "engine_subset_rows_per_second": proj["subset_rows_per_second"],
        "naive_rows_per_second": naive["naive_rows_per_second"],
        "speedup_vs_naive": proj["rows_per_second"] / naive["naive_rows_per_second"],
        "speedup_vs_naive_same_cases": naive["speedup_same_cases"],
        "engine_equals_naive": naive["identical"],
        "peak_rss_mb": peak,
        "end_to_end_seconds_100_firms": e2e_100["seconds"] if e2e_100 else None,
        "end_to_end_includes_workbooks": bool(e2e_100 and e2e_100["workbooks"]),
        "workbook_cells_per_second": books[-1]["workbook_cells_per_second"] if books else None,
        "workbook_status": report["workbook_status"] if not books else "ok",
        "montecarlo_seconds": report["montecarlo"]["seconds"],
    }


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of the figures."""
    m = report["machine"]
    lines = [
        f"stressmodel bench ({m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}, "
        f"polars {m['polars']}, numpy {m['numpy']}; load average {m['load_average_1min']} at the start, "
        f"{report['load_average_1min_at_end']} at the end)",
        f"as of {report['settings']['as_of']}: grid of {report['settings']['grid_scenarios']} scenarios x "
        f"{report['settings']['horizon']} quarters; median of {report['settings']['repeats']} repeats after a cold call",
        "",
        f"{'firms':>6} {'rows':>10} {'cold s':>8} {'warm s':>8} {'M rows/s':>9} {'subset s':>9} {'M rows/s':>9} "
        f"{'peak MB':>8} {'risk+val s':>10} {'end-to-end s':>12} {'workbook cells/s':>16}",
    ]
    notes: list[str] = []
    for n, e in sorted(report["sizes"].items(), key=lambda kv: int(kv[0])):
        p, rv, ee = e["projection"], e["risk_valuation"], e.get("end_to_end")
        e2e = f"{ee['seconds']:12.2f}" if ee else f"{'not run':>12}"
        if ee is None and "end_to_end_status" in e:
            notes.append(f"N = {n}: end-to-end {e['end_to_end_status']}")
        cps = ee.get("workbook_cells_per_second") if ee else None
        cells = f"{cps:16,.0f}" if cps else f"{'n/a':>16}"
        lines.append(
            f"{n:>6} {p['rows']:>10,} {p['cold_seconds']:8.3f} {p['seconds']:8.3f} {p['rows_per_second'] / 1e6:9.2f} "
            f"{p['subset_seconds']:9.3f} {p['subset_rows_per_second'] / 1e6:9.2f} {p['peak_rss_mb']:8.0f} "
            f"{rv['seconds']:10.3f} {e2e} {cells}"
        )
    nv, mc = report["naive"], report["montecarlo"]
    lines += notes
    lines += [
        "",
        f"naive reference: {nv['rows']:,} rows in {nv['naive_seconds']:.3f} s ({nv['naive_rows_per_second']:,.0f} rows/s); "
        f"engine on the same cases {nv['engine_seconds']:.4f} s; "
        f"{nv['values_different']} of {nv['values_compared']:,} values differ (max relative {nv['max_relative_difference']:.1e})",
        f"speed-up vs naive: {report['speedup_vs_naive']:,.0f}x at {report['engine_rows_per_second_firms']} firms "
        f"({nv['speedup_same_cases']:,.0f}x on the naive subset itself)",
        f"Monte Carlo: {mc['paths']:,} paths x {', '.join(mc['firms'])}: {mc['seconds']:.3f} s (cold {mc['cold_seconds']:.3f} s)",
        f"workbooks: {report['workbook_status']}",
        f"peak resident memory: {report['peak_rss_mb']:.0f} MB (process peak {report['process_peak_rss_mb']:.0f} MB)",
        f"benchmark took {report['benchmark_seconds']:.1f} s",
    ]

    def fig(key: str, fmt: str) -> str:
        v = report.get(key)
        return "n/a" if v is None else format(v, fmt)

    lines += [
        f"engines at {report['engine_rows_per_second_firms']} firms x {fig('engine_figure_scenarios', 'd')} scenarios "
        f"({fig('engine_figure_rows', ',')} rows; rows/s): polars "
        f"{fig('engine_rows_per_second_polars', ',.0f')}, numpy {fig('engine_rows_per_second_numpy', ',.0f')}, "
        f"fused {fig('engine_rows_per_second_fused', ',.0f')} ({fig('fused_threads', 'd')} threads; "
        f"{fig('engine_rows_per_second_fused_1_thread', ',.0f')} on one, "
        f"cold {fig('engine_cold_rows_per_second_fused', ',.0f')})",
        f"store bound {fig('store_bound_rows_per_second_per_core', ',.0f')} rows/s per core, "
        f"{fig('store_bound_rows_per_second_all_cores', ',.0f')} on all; fused / bound: "
        f"{fig('fused_1_thread_to_store_bound_per_core', '.2f')} (one thread, per core), "
        f"{fig('fused_to_store_bound_all_cores', '.2f')} (all); fused vs naive {fig('speedup_vs_naive_fused', ',.0f')}x",
        f"machine load (1-min average): {(report.get('machine_load') or {}).get('load_average_1min_start')} at the start, "
        f"{report.get('load_average_1min_at_end')} at the end",
        f"shipped run: {fig('shipped_run_seconds', '.2f')} s warm cache, {fig('shipped_run_cold_cache_seconds', '.2f')} s cold",
        f"end to end: 100 firms {fig('end_to_end_seconds_100_firms', '.1f')} s serial, "
        f"{fig('end_to_end_seconds_100_firms_workers_2', '.1f')} s with 2 workers; 1,000 firms "
        f"{fig('end_to_end_seconds_1000_firms', '.1f')} s serial, "
        f"{fig('end_to_end_seconds_1000_firms_workers_2', '.1f')} s with 2",
        f"Monte Carlo fan-out: {fig('montecarlo_fanout_paths', ',')} paths x {fig('montecarlo_fanout_firms', ',')} firms "
        f"{fig('montecarlo_serial_seconds', '.2f')} s serial, {fig('montecarlo_cluster_local_2_seconds', '.2f')} s on local:2 "
        f"(identical: {report.get('montecarlo_cluster_identical')})",
    ]
    return "\n".join(lines)
