"""Results JSON → Markdown ratio tables, PNG charts and the docs page.

``python -m benchmarks.report [RESULTS.json] [--docs]`` regenerates them from a saved run (the
analysis of misses, written by hand, lives in ``benchmarks/analysis.md`` and is copied into the
docs page).

The view of the results and the number formats are in ``report_format.py``, the targets
and misses in ``report_targets.py``, the charts in ``report_charts.py`` and the tables of the
statements, workers, jobs, S3 and backup sections in ``report_tables.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .http_bench import DESCRIPTIONS as HTTP_DESCRIPTIONS
from .http_bench import ENDPOINTS
from .report_charts import charts
from .report_format import (
    BACKEND_NAMES,
    IMPL_NAMES,
    Results,
    View,
    X,
    fmt_num,
    fmt_ratio,
    fmt_us,
    http_endpoint,
    mark,
    size_label,
    table,
)
from .report_tables import (
    backup_table,
    jobs_table,
    s3_table,
    statements_table,
    workers_table,
)
from .report_targets import (
    HTTP_GET_TARGET,
    PEER_TARGET,
    RAW_TARGET,
    RAW_TARGETS,
    SCALING_TARGET,
    misses,
    not_measured,
    ratio,
    scaling,
    targets,
)
from .workloads import DESCRIPTIONS, SEARCH_WORKLOADS, WORKLOADS

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
ANALYSIS = BENCH_DIR / "analysis.md"


# -- Markdown ---------------------------------------------------------------------------------


def ratio_tables(v: View) -> str:
    parts = []
    for backend in v.backends:
        header = ["workload"]
        for n in v.sizes:
            header += [f"{size_label(n)} ÷ peer", f"{size_label(n)} ÷ raw"]
        rows = []
        for name in v.workloads:
            row = [name]
            for n in v.sizes:
                for other, target in targets(backend):
                    r = ratio(v, backend, n, name, other)
                    row.append(fmt_ratio(r) + mark(None if r is None else r >= target))
            rows.append(row)
        parts.append(f"#### {BACKEND_NAMES[backend]}\n\n" + table(header, rows))
    return "\n\n".join(parts)


def absolute_tables(v: View) -> str:
    parts = []
    impls = [i for i in ("ours", "peer", "raw") if i in v.meta["impls"]]
    for backend in v.backends:
        header = ["workload", "N"] + [f"{IMPL_NAMES[i]} ops/s" for i in impls]
        header += [f"{IMPL_NAMES[i]} latency" for i in impls]
        rows = []
        for name in v.workloads:
            for n in v.sizes:
                ws = [v.workload(i, backend, n, name) for i in impls]
                row = [name, size_label(n)]
                row += [fmt_num(w["ops_s"]) if w and "ops_s" in w else "n/a" for w in ws]
                row += [fmt_us(w["lat_us"]) if w and "lat_us" in w else "n/a" for w in ws]
                rows.append(row)
        parts.append(f"#### {BACKEND_NAMES[backend]}\n\n" + table(header, rows, "ll" + "r" * 6))
    return "\n\n".join(parts)


def scaling_table(v: View) -> str:
    impls = [i for i in ("ours", "peer", "raw") if i in v.meta["impls"]]
    header = ["backend", "search", "impl"] + [size_label(n) for n in v.sizes]
    header.append(f"{size_label(v.sizes[-1])} ÷ {size_label(v.sizes[0])}")
    rows = []
    for backend in v.backends:
        for name in SEARCH_WORKLOADS:
            if name not in v.workloads:
                continue
            for impl in impls:
                row = [BACKEND_NAMES[backend], name, IMPL_NAMES[impl]]
                for n in v.sizes:
                    w = v.workload(impl, backend, n, name)
                    row.append(fmt_us(w["lat_us"]) if w and "lat_us" in w else "n/a")
                s = scaling(v, impl, backend, name)
                ok = None if s is None or impl != "ours" else s <= SCALING_TARGET
                row.append((f"{s:.1f}{X}" if s is not None else "n/a") + mark(ok))
                rows.append(row)
    return table(header, rows, "lll" + "r" * (len(header) - 3))


def http_table(results: Results) -> str:
    http = results.get("http")
    if not http:
        return "_HTTP benchmark not run._"
    apps = [a for a in ("ours", "peer", "raw") if a in http["apps"]]
    header = ["endpoint"]
    for a in apps:
        name = "hand-written" if a == "raw" else IMPL_NAMES[a]
        header += [f"{name} req/s", f"{name} p50 / p99"]
    header += ["SpecStar ÷ peer", "SpecStar ÷ hand-written"]
    rows = []
    for ep in ENDPOINTS:
        row = [HTTP_DESCRIPTIONS[ep]]
        for a in apps:
            e = http_endpoint(results, a, ep)
            row += (
                [fmt_num(e["req_s"]), f"{e['p50_ms']:.2f} / {e['p99_ms']:.2f} ms"]
                if e
                else ["n/a", "n/a"]
            )
        ours = http_endpoint(results, "ours", ep)
        for other in ("peer", "raw"):
            e = http_endpoint(results, other, ep)
            r = ours["req_s"] / e["req_s"] if ours and e else None
            target_ok = None
            if r is not None and ep == "get" and other == "raw":
                target_ok = r >= HTTP_GET_TARGET
            row.append(fmt_ratio(r) + mark(target_ok))
        rows.append(row)
    return table(header, rows)


def rss_table(v: View) -> str:
    impls = [i for i in ("ours", "peer", "raw") if i in v.meta["impls"]]
    header = ["backend", "N"] + [f"{IMPL_NAMES[i]} RSS / peak" for i in impls]
    header += ["SpecStar ÷ peer (RSS)"]
    rows = []
    for backend in v.backends:
        for n in v.sizes:
            row = [BACKEND_NAMES[backend], size_label(n)]
            rss: dict[str, float] = {}
            for impl in impls:
                suite = v.suites.get((impl, backend, n))
                after = (suite or {}).get("rss_after_load") if suite else None
                if suite and suite.get("status") == "ok" and after:
                    rss[impl] = after["rss_kib"] / 1024
                    row.append(
                        f"{after['rss_kib'] / 1024:,.0f} / {after['peak_kib'] / 1024:,.0f} MiB"
                    )
                else:
                    row.append("n/a")
            r = rss["ours"] / rss["peer"] if "ours" in rss and "peer" in rss else None
            row.append(fmt_ratio(r))
            rows.append(row)
    return table(header, rows, "ll" + "r" * (len(header) - 2))


def load_table(v: View) -> str:
    impls = [i for i in ("ours", "peer", "raw") if i in v.meta["impls"]]
    header = ["backend", "N"] + [IMPL_NAMES[i] for i in impls]
    rows = []
    methods: dict[str, str] = {}
    for backend in v.backends:
        for n in v.sizes:
            row = [BACKEND_NAMES[backend], size_label(n)]
            for impl in impls:
                suite = v.suites.get((impl, backend, n))
                if suite and suite.get("status") == "ok":
                    row.append(f"{suite['load']['seconds']:,.1f} s")
                    methods[impl] = suite["load"]["method"]
                else:
                    row.append("n/a")
            rows.append(row)
    how = "; ".join(f"{IMPL_NAMES[i]}: {m}" for i, m in methods.items())
    return table(header, rows, "ll" + "r" * len(impls)) + f"\n\nHow: {how}."


def summary_lines(v: View) -> list[str]:
    """Per backend and target: met everywhere, or how many misses."""
    lines = []
    for backend in v.backends:
        for other, target in targets(backend):
            total = hit = 0
            for n in v.sizes:
                for name in v.workloads:
                    r = ratio(v, backend, n, name, other)
                    if r is not None:
                        total += 1
                        hit += r >= target
            if total:
                lines.append(
                    f"- {BACKEND_NAMES[backend]}: SpecStar ≥ {target:g}{X} {other} on {hit} of "
                    f"{total} measurements{mark(hit == total)}"
                )
        checks = [scaling(v, "ours", backend, s) for s in SEARCH_WORKLOADS]
        measured = [c for c in checks if c is not None]
        if measured:
            good = sum(c <= SCALING_TARGET for c in measured)
            lines.append(
                f"- {BACKEND_NAMES[backend]}: search latency at {size_label(v.sizes[-1])} within "
                f"{SCALING_TARGET:g}{X} of {size_label(v.sizes[0])} on {good} of {len(measured)} "
                f"searches{mark(good == len(measured))}"
            )
    ours, raw = http_endpoint(v.results, "ours", "get"), http_endpoint(v.results, "raw", "get")
    if ours and raw:
        r = ours["req_s"] / raw["req_s"]
        lines.append(
            f"- HTTP GET by id: SpecStar ÷ hand-written route = {fmt_ratio(r)} (target ≥ "
            f"{HTTP_GET_TARGET:g}{X}){mark(r >= HTTP_GET_TARGET)}"
        )
    return lines


def machine_line(meta: dict[str, Any]) -> str:
    m = meta["machine"]
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM; {m['platform']}; {m['python']}"
    )


def versions_line(meta: dict[str, Any]) -> str:
    ver = meta["versions"]
    peer = ver.get("peer") or {}
    parts = [
        f"SpecStar {ver.get('specstar-core')}",
        f"peer specstar {peer.get('specstar', 'n/a')} (fastapi {peer.get('fastapi', '?')}, "
        f"msgspec {peer.get('msgspec', '?')})",
        f"fastapi {ver.get('fastapi')}",
        f"uvicorn {ver.get('uvicorn')}",
        f"msgspec {ver.get('msgspec')}",
        f"psycopg {ver.get('psycopg')}",
        f"SQLite {ver.get('sqlite')}",
    ]
    if ver.get("postgresql"):
        parts.append(f"PostgreSQL {ver['postgresql']}")
    return ", ".join(parts)


def settings_line(meta: dict[str, Any]) -> str:
    s = meta["settings"]
    return (
        f"each measurement: warm-up (≤ {s['warmup_ops']} calls or {s['warmup_s']} s), then "
        f"{s['repeats']} timed run(s) of as many calls as fit in {s['budget_s']} s "
        f"({s['min_ops']}-{s['max_ops']} calls); the median run is reported"
    )


def markdown(results: Results, charts: Path | None, base: Path | None) -> str:
    """The results as Markdown; with ``charts``, image links relative to ``base``."""
    v = View(results)
    meta = v.meta
    out = [
        f"Run `{meta['command']}` on {meta['started'][:10]}, "
        f"{meta['duration_s'] / 60:.1f} min. Machine: {machine_line(meta)}.",
        "",
        f"Versions: {versions_line(meta)}.",
        "",
        f"Method: {settings_line(meta)}. Sizes: "
        f"{', '.join(size_label(n) for n in v.sizes)}; seed {meta['seed']}.",
        "",
        "### Targets",
        "",
        *summary_lines(v),
        "",
        "### Ratios: SpecStar ÷ peer and SpecStar ÷ raw driver (throughput, higher is better)",
        "",
        f"Targets: ÷ peer ≥ {PEER_TARGET:g}{X}, ÷ raw ≥ {RAW_TARGET:g}{X} "
        f"(memory: ÷ raw dicts ≥ {RAW_TARGETS['memory']:g}{X}).",
        "",
        ratio_tables(v),
        "",
        "### Search latency against N",
        "",
        f"Target for SpecStar: latency at {size_label(v.sizes[-1])} within {SCALING_TARGET:g}{X} "
        f"of {size_label(v.sizes[0])}.",
        "",
        scaling_table(v) if len(v.sizes) > 1 else "_One size only: no scaling measured._",
        "",
    ]
    http = results.get("http")
    http_head = "### HTTP"
    if http:
        http_head += (
            f" (SQLite, {http['n']:,} rows, one uvicorn worker; {http['requests']} requests per "
            f"run over {http['concurrency']} keep-alive connections, at most "
            f"{http['time_limit']:.0f} s; median of {http['repeats']} run(s))"
        )
    out += [http_head, "", http_table(results), ""]
    out += ["### HTTP with several uvicorn workers", "", workers_table(results), ""]
    out += ["### SQL statements per operation (SpecStar)", "", statements_table(results), ""]
    out += ["### Jobs: no-op job throughput and enqueue\u2192start latency", ""]
    out += [jobs_table(results), ""]
    out += ["### S3 backends: SpecStar and the peer on one moto server", ""]
    out += [s3_table(results), ""]
    out += ["### Backup: load and dump, SpecStar and the peer (books per second)", ""]
    out += [backup_table(results), ""]
    out += ["### Memory after loading N resources (RSS / peak RSS of the process)", ""]
    out += [rss_table(v), ""]
    out += ["### Loading N resources", "", load_table(v), ""]
    out += ["### Throughput and latency", "", absolute_tables(v), ""]
    if charts is not None and base is not None:
        out += ["### Charts", ""]
        for png in sorted(charts.glob("*.png")):
            rel = os.path.relpath(png, base)
            out += [f"![{png.stem}]({rel})", ""]
    out += ["### Not measured", ""]
    nm = not_measured(v)
    out += [f"- {line}" for line in nm] if nm else ["Everything was measured."]
    out += ["", "### Misses", ""]
    ms = misses(v)
    out += [f"- {line}" for line in ms] if ms else ["No target missed."]
    out += [""]
    return "\n".join(out)


def workloads_section() -> str:
    rows = [[f"`{w}`", DESCRIPTIONS[w]] for w in WORKLOADS]
    rows += [[f"HTTP `{e}`", HTTP_DESCRIPTIONS[e]] for e in ENDPOINTS]
    return table(["workload", "what one operation does"], rows, "ll")


DOCS_INTRO = """\
# Benchmarks

SpecStar side by side with the `specstar` package on PyPI (an older, unrelated project that
shares our name; "the peer" below) and with the raw drivers (the physical limit: the same rows
written by hand with `sqlite3`, `psycopg` or plain dicts). Everything on this page comes from
one run of the command below; `benchmarks/README.md` explains the harness and how to rerun it.

The model has six fields (`name: str`, `email: str` unique, `age: int`, `score: float`,
`tags: list[str]`, `active: bool`), four indexed (`email`, `age`, `score`, `active`). Every
implementation loads the same seeded rows and runs the same operations with the same
parameters; a sanity check first proves each returns the same answers.
"""


def docs_page(results: Results, charts: Path, docs_path: Path) -> str:
    body = markdown(results, charts, docs_path.parent)
    analysis = ANALYSIS.read_text().strip() if ANALYSIS.exists() else ""
    parts = [
        DOCS_INTRO,
        "## Workloads",
        "",
        workloads_section(),
        "",
        "## Latest results",
        "",
        body,
    ]
    if analysis:
        parts += ["## Analysis of the misses", "", analysis, ""]
    return "\n".join(parts)


def write_all(results: Results, *, md_path: Path, charts_dir: Path, docs_path: Path | None) -> None:
    """The Markdown table next to the JSON, the charts, and (optionally) the docs page."""
    charts(results, charts_dir)
    md_path.write_text("# Benchmark results\n\n" + markdown(results, charts_dir, md_path.parent))
    if docs_path is not None:
        docs_path.write_text(docs_page(results, charts_dir, docs_path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report")
    parser.add_argument("results", nargs="?", type=Path, default=BENCH_DIR / "results/latest.json")
    parser.add_argument("--docs", action="store_true", help="also rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    charts_dir = ROOT / "docs" / "benchmarks" if args.docs else args.results.parent / "charts"
    write_all(
        results,
        md_path=args.results.with_suffix(".md"),
        charts_dir=charts_dir,
        docs_path=ROOT / "docs" / "benchmarks.md" if args.docs else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
