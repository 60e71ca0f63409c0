"""Results JSON → Markdown ratio tables, PNG charts and the docs page.

``python -m benchmarks.report [RESULTS.json] [--docs]`` regenerates them from a saved run (the
analysis of misses, written by hand, lives in ``benchmarks/analysis.md`` and is copied into the
docs page).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .http_bench import DESCRIPTIONS as HTTP_DESCRIPTIONS
from .http_bench import ENDPOINTS
from .report_tables import (
    WORKERS_TARGET,
    backup_table,
    jobs_table,
    s3_table,
    statements_table,
    workers_ratio,
    workers_table,
)
from .workloads import DESCRIPTIONS, SEARCH_WORKLOADS, WORKLOADS

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
ANALYSIS = BENCH_DIR / "analysis.md"

PEER_TARGET = 3.0  # SpecStar at least 3x the peer's throughput
RAW_TARGET = 0.5  # and at least half the raw driver's
#: The raw target where it differs: against plain dicts, a quarter of their throughput.
RAW_TARGETS = {"memory": 0.25}
SCALING_TARGET = 3.0  # search latency at the largest N within 3x of the smallest
HTTP_GET_TARGET = 0.7  # HTTP GET by id at least 0.7x the hand-written route
IMPL_NAMES = {"ours": "SpecStar", "peer": "peer", "raw": "raw"}
BACKEND_NAMES = {"memory": "memory", "sqlite": "SQLite", "postgres": "PostgreSQL"}
OK, MISS = "✅", "❌"
X = "\u00d7"  # the multiplication sign of ratios

Results = dict[str, Any]


# -- access -----------------------------------------------------------------------------------


class View:
    """Lookups over a results document."""

    def __init__(self, results: Results) -> None:
        self.results = results
        self.meta: dict[str, Any] = results["meta"]
        self.suites: dict[tuple[str, str, int], dict[str, Any]] = {
            (s["impl"], s["backend"], s["n"]): s for s in results["suites"]
        }
        self.sizes: list[int] = sorted({s["n"] for s in results["suites"]})
        self.backends: list[str] = [
            b for b in self.meta["backends"] if any(k[1] == b for k in self.suites)
        ]
        self.workloads: list[str] = [w for w in WORKLOADS if w in self.meta["workloads"]]

    def workload(self, impl: str, backend: str, n: int, name: str) -> dict[str, Any] | None:
        suite = self.suites.get((impl, backend, n))
        if suite is None or suite.get("status") != "ok":
            return None
        w: dict[str, Any] | None = suite["workloads"].get(name)
        return w

    def ops(self, impl: str, backend: str, n: int, name: str) -> float | None:
        w = self.workload(impl, backend, n, name)
        return None if w is None or "ops_s" not in w else float(w["ops_s"])

    def why_missing(self, impl: str, backend: str, n: int, name: str) -> str:
        suite = self.suites.get((impl, backend, n))
        if suite is None:
            return "not run"
        if suite.get("status") != "ok":
            return str(suite.get("reason", suite.get("status")))
        w = suite["workloads"].get(name)
        if w is None:
            return "not run"
        return str(w.get("error", "no result"))


# -- formatting -------------------------------------------------------------------------------


def size_label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "n/a"
    return f"{r:,.0f}{X}" if r >= 100 else f"{r:.1f}{X}" if r >= 10 else f"{r:.2f}{X}"


def fmt_num(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_us(us: float | None) -> str:
    if us is None:
        return "n/a"
    if us >= 1000:
        return f"{us / 1000:,.1f} ms"
    return f"{us:,.0f} µs" if us >= 10 else f"{us:.1f} µs"


def mark(ok: bool | None) -> str:
    return "" if ok is None else f" {OK if ok else MISS}"


def table(header: list[str], rows: Iterable[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# -- targets ----------------------------------------------------------------------------------


def ratio(v: View, backend: str, n: int, name: str, other: str) -> float | None:
    ours, theirs = v.ops("ours", backend, n, name), v.ops(other, backend, n, name)
    if ours is None or theirs is None or theirs == 0:
        return None
    return ours / theirs


def scaling(v: View, impl: str, backend: str, name: str) -> float | None:
    """Latency at the largest size over latency at the smallest (``None``: not measured)."""
    if len(v.sizes) < 2:
        return None
    small, large = (
        v.workload(impl, backend, v.sizes[0], name),
        v.workload(impl, backend, v.sizes[-1], name),
    )
    if not small or not large or "lat_us" not in small or "lat_us" not in large:
        return None
    return float(large["lat_us"]) / float(small["lat_us"])


def http_endpoint(results: Results, app: str, name: str) -> dict[str, Any] | None:
    http = results.get("http") or {}
    entry = (http.get("apps") or {}).get(app)
    if not entry or entry.get("status") != "ok":
        return None
    e: dict[str, Any] | None = entry["endpoints"].get(name)
    return e if e and "req_s" in e else None


def targets(backend: str) -> tuple[tuple[str, float], tuple[str, float]]:
    """The (other implementation, least ratio) targets of a backend's workloads."""
    return ("peer", PEER_TARGET), ("raw", RAW_TARGETS.get(backend, RAW_TARGET))


def misses(v: View) -> list[str]:
    """Every missed target, one line each (n/a measurements are listed separately)."""
    out: list[str] = []
    for backend in v.backends:
        for n in v.sizes:
            for name in v.workloads:
                for other, target in targets(backend):
                    r = ratio(v, backend, n, name, other)
                    if r is not None and r < target:
                        out.append(
                            f"{BACKEND_NAMES[backend]}, N={size_label(n)}, {name}: SpecStar ÷ "
                            f"{other} = {fmt_ratio(r)} (target ≥ {target:g}{X})"
                        )
        for name in SEARCH_WORKLOADS:
            s = scaling(v, "ours", backend, name)
            if s is not None and s > SCALING_TARGET:
                out.append(
                    f"{BACKEND_NAMES[backend]}, {name}: latency at N={size_label(v.sizes[-1])} is "
                    f"{s:.1f}{X} the latency at N={size_label(v.sizes[0])} (target ≤ "
                    f"{SCALING_TARGET:g}{X})"
                )
    ours, raw = http_endpoint(v.results, "ours", "get"), http_endpoint(v.results, "raw", "get")
    if ours and raw and ours["req_s"] / raw["req_s"] < HTTP_GET_TARGET:
        out.append(
            f"HTTP GET by id: SpecStar ÷ hand-written route = "
            f"{fmt_ratio(ours['req_s'] / raw['req_s'])} (target ≥ {HTTP_GET_TARGET:g}{X})"
        )
    r = workers_ratio(v.results)
    if r is not None and r < WORKERS_TARGET:
        out.append(
            f"HTTP GET by id, two uvicorn workers ÷ one = {fmt_ratio(r)} "
            f"(target ≥ {WORKERS_TARGET:g}{X})"
        )
    return out


def not_measured(v: View) -> list[str]:
    out: list[str] = []
    for (impl, backend, n), suite in sorted(v.suites.items(), key=lambda kv: (kv[0][2], kv[0])):
        where = f"{IMPL_NAMES[impl]} on {BACKEND_NAMES[backend]}, N={size_label(n)}"
        if suite.get("status") != "ok":
            out.append(f"{where}: {suite.get('status')} — {suite.get('reason')}")
            continue
        for name, w in suite["workloads"].items():
            if "error" in w:
                out.append(f"{where}, {name}: error — {w['error']}")
    http = v.results.get("http") or {}
    for app, entry in (http.get("apps") or {}).items():
        if entry.get("status") != "ok":
            out.append(f"HTTP {IMPL_NAMES[app]}: {entry.get('status')} — {entry.get('reason')}")
            continue
        for name, e in entry["endpoints"].items():
            if "error" in e:
                out.append(f"HTTP {IMPL_NAMES[app]}, {name}: error — {e['error']}")
    return out


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


# -- charts -----------------------------------------------------------------------------------

COLORS = {"ours": "#2b6cb0", "peer": "#dd6b20", "raw": "#718096"}


def charts(results: Results, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = View(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.png"):
        old.unlink()
    written: list[Path] = []
    impls = [i for i in ("ours", "peer", "raw") if i in v.meta["impls"]]
    width = 0.8 / max(len(impls), 1)

    for backend in v.backends:
        fig, axes = plt.subplots(
            1, len(v.sizes), figsize=(5.2 * len(v.sizes), 4.2), sharey=True, squeeze=False
        )
        for ax, n in zip(axes[0], v.sizes, strict=True):
            xs = range(len(v.workloads))
            for j, impl in enumerate(impls):
                vals = [v.ops(impl, backend, n, w) or 0.0 for w in v.workloads]
                ax.bar(
                    [x + (j - (len(impls) - 1) / 2) * width for x in xs],
                    vals,
                    width,
                    label=IMPL_NAMES[impl],
                    color=COLORS[impl],
                )
            ax.set_yscale("log")
            ax.set_xticks(list(xs))
            ax.set_xticklabels(v.workloads, rotation=45, ha="right", fontsize=8)
            ax.set_title(f"{BACKEND_NAMES[backend]}, N={size_label(n)}")
            ax.grid(axis="y", which="major", alpha=0.3)
        axes[0][0].set_ylabel("operations per second (log)")
        axes[0][0].legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / f"ops-{backend}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    if len(v.sizes) > 1:
        searches = [s for s in SEARCH_WORKLOADS if s in v.workloads]
        fig, axes = plt.subplots(
            1, len(searches), figsize=(5.5 * len(searches) + 2.2, 4.4), squeeze=False
        )
        styles = {"memory": "-", "sqlite": "--", "postgres": ":"}
        for ax, name in zip(axes[0], searches, strict=True):
            for backend in v.backends:
                for impl in impls:
                    pts = [
                        (n, w["lat_us"] / 1000)
                        for n in v.sizes
                        if (w := v.workload(impl, backend, n, name)) and "lat_us" in w
                    ]
                    if pts:
                        ax.plot(
                            [p[0] for p in pts],
                            [p[1] for p in pts],
                            styles[backend],
                            marker="o",
                            color=COLORS[impl],
                            label=f"{IMPL_NAMES[impl]}, {BACKEND_NAMES[backend]}",
                        )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("resources (N, log)")
            ax.set_ylabel("latency per search, ms (log)")
            ax.set_title(name)
            ax.grid(which="major", alpha=0.3)
        axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        fig.tight_layout()
        path = out_dir / "search-latency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    http = results.get("http")
    if http:
        apps = [a for a in ("ours", "peer", "raw") if a in http["apps"]]
        fig, ax = plt.subplots(figsize=(7, 4))
        xs = range(len(ENDPOINTS))
        for j, a in enumerate(apps):
            vals = [(http_endpoint(results, a, e) or {}).get("req_s", 0.0) for e in ENDPOINTS]
            ax.bar(
                [x + (j - (len(apps) - 1) / 2) * width for x in xs],
                vals,
                width,
                label="hand-written" if a == "raw" else IMPL_NAMES[a],
                color=COLORS[a],
            )
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f"{e}" for e in ENDPOINTS])
        ax.set_ylabel("requests per second")
        ax.set_title(f"HTTP on SQLite, N={size_label(http['n'])}, one uvicorn worker")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = out_dir / "http.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


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
