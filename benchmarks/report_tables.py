"""Report tables of the statement counts, of the uvicorn worker comparison and of the jobs
section and of the backup section (``report.py`` puts them into the Markdown)."""

from __future__ import annotations

from typing import Any

from .report_format import BACKEND_NAMES as _BACKEND_NAMES
from .report_format import X as _X
from .report_format import table
from .statements import DESCRIPTIONS as STATEMENT_DESCRIPTIONS
from .statements import OPERATIONS as STATEMENT_OPERATIONS

#: Two uvicorn workers should serve GET by id at least this many times one worker's rate.
WORKERS_TARGET = 1.6


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """A Markdown table whose first ``left`` columns are left-aligned, the rest right."""
    return table(header, rows, "l" * left + "r" * (len(header) - left))


def statements_table(results: dict[str, Any]) -> str:
    """SQL statements per operation (transaction control included), one column per backend."""
    stmts = results.get("statements")
    if not stmts:
        return "_Statements per operation not counted._"
    if stmts.get("status") == "error":
        return f"_Statements per operation: error — {stmts.get('reason')}_"
    backends = list(stmts["backends"])
    header = ["operation"] + [_BACKEND_NAMES.get(b, b) for b in backends]
    rows = []
    for op in STATEMENT_OPERATIONS:
        row = [STATEMENT_DESCRIPTIONS[op]]
        for b in backends:
            entry = stmts["backends"][b]
            row.append(f"{entry['per_op'][op]:g}" if entry.get("status") == "ok" else "n/a")
        rows.append(row)
    return _table(header, rows)


def workers_ratio(results: dict[str, Any]) -> float | None:
    """Two-worker ÷ one-worker throughput of GET by id (``None``: not measured)."""
    workers = (results.get("http") or {}).get("workers") or {}
    one, two = workers.get("1") or {}, workers.get("2") or {}
    if "req_s" not in one or "req_s" not in two or not one["req_s"]:
        return None
    return float(two["req_s"]) / float(one["req_s"])


def workers_table(results: dict[str, Any]) -> str:
    """GET by id under one and two uvicorn workers, with the ratio and its target."""
    workers = (results.get("http") or {}).get("workers")
    if not workers:
        return "_Worker comparison not run._"
    rows = []
    for count in ("1", "2"):
        e = workers.get(count) or {}
        if "req_s" in e:
            rows.append(
                [
                    f"{count} worker(s)",
                    f"{e['req_s']:,.0f}",
                    f"{e['p50_ms']:.2f} / {e['p99_ms']:.2f} ms",
                ]
            )
        else:
            rows.append([f"{count} worker(s)", "n/a", str(e.get("error", "n/a"))])
    r = workers_ratio(results)
    verdict = "n/a" if r is None else f"{r:.2f}{_X} {'✅' if r >= WORKERS_TARGET else '❌'}"
    rows.append([f"2 ÷ 1 (target ≥ {WORKERS_TARGET:g}{_X})", verdict, ""])
    loader = workers.get("loader", "python")
    by = (
        "load from wrk"
        if loader == "wrk"
        else "load from Python threads on the same cores (install wrk for a fairer figure)"
    )
    head = (
        f"SpecStar, GET /user/{{id}} over {workers.get('concurrency', '?')} keep-alive "
        f"connections, SQLite; {by}"
    )
    return head + "\n\n" + _table(["uvicorn", "req/s", "p50 / p99"], rows)


# -- the jobs section -------------------------------------------------------------------------

#: SpecStar's throughput ÷ each peer's (on the same backend) should reach at least this.
JOBS_RATIO_TARGETS = {"peer": 3.0, "procrastinate": 0.5, "celery": 0.5}
#: SpecStar's enqueue→start p50 should stay within this many milliseconds.
JOBS_P50_TARGETS_MS = {"postgres": 10.0, "rabbit": 5.0, "redis": 5.0}
_JOB_BACKENDS = {
    "memory": "in-process",
    "sqlite": "SQLite",
    "postgres": "PostgreSQL",
    "rabbit": "RabbitMQ",
    "redis": "Redis",
}
_JOB_IMPLS = {
    "ours": "SpecStar",
    "peer": "specstar 0.12.3 (PyPI)",
    "procrastinate": "Procrastinate",
    "celery": "Celery",
    "dramatiq": "Dramatiq",
}


def _ms(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.0f} ms" if x >= 100 else f"{x:.1f} ms" if x >= 10 else f"{x:.2f} ms"


def _mark(ok: bool) -> str:
    return " \u2705" if ok else " \u274c"


def jobs_rows(jobs: dict[str, Any]) -> list[list[str]]:
    """One row per queue and implementation: jobs/s, start p50/p99, SpecStar ÷ it."""
    rows: list[list[str]] = []
    by_key = {(r["backend"], r["impl"]): r for r in jobs["rows"]}
    for r in jobs["rows"]:
        backend, impl = r["backend"], r["impl"]
        name = [_JOB_BACKENDS.get(backend, backend), _JOB_IMPLS.get(impl, impl)]
        if r.get("status") != "ok":
            rows.append([*name, f"{r.get('status')}: {r.get('reason', '')}", "", "", ""])
            continue
        ours = by_key.get((backend, "ours"), {})
        if impl == "ours":
            p50_target = JOBS_P50_TARGETS_MS.get(backend)
            p50 = _ms(r["start_p50_ms"])
            if p50_target is not None:
                p50 += f" (\u2264 {p50_target:g} ms{_mark(r['start_p50_ms'] <= p50_target)})"
            ratio = "\u2014"
        else:
            p50 = _ms(r["start_p50_ms"])
            if ours.get("status") == "ok":
                value = ours["throughput_jobs_s"] / r["throughput_jobs_s"]
                ratio = f"{value:.2f}{_X}"
                target = JOBS_RATIO_TARGETS.get(impl)
                if target is not None:
                    ratio += f" (\u2265 {target:g}{_X}{_mark(value >= target)})"
            else:
                ratio = "n/a"
        rate = f"{r['throughput_jobs_s']:,.0f}"
        notes = []
        if r.get("failed"):  # jobs its own workers failed (counted as done: they ended)
            notes.append(f"{r['failed']} failed")
        if r.get("unfinished"):  # never ended: left out of the throughput
            notes.append(f"{r['unfinished']} never ended")
        if notes:
            rate += f" ({', '.join(notes)})"
        rows.append([*name, rate, p50, _ms(r["start_p99_ms"]), ratio])
    return rows


def jobs_table(results: dict[str, Any]) -> str:
    """The jobs section's table and the line that says how it was measured."""
    jobs = results.get("jobs")
    if not jobs:
        return "_The jobs section did not run._"
    header = [
        "queue",
        "implementation",
        "jobs/s",
        "enqueue\u2192start p50",
        "p99",
        f"SpecStar {_X}",
    ]
    head = (
        f"No-op jobs, {jobs['workers']} worker threads per implementation in the measuring "
        f"process; throughput: {jobs['jobs']:,} jobs enqueued back to back until all are done; "
        f"latency: {jobs['latency_jobs']} jobs one at a time on idle workers (time from the "
        "enqueue call returning to the handler starting). SpecStar counts a job done when its "
        "`completed` revision is written and its message acked; the peers when the handler "
        "returned (Procrastinate and the PyPI package: also until their table shows every job "
        "done). \"SpecStar \u00d7\" is SpecStar's throughput on that queue \u00f7 this row's."
    )
    if jobs.get("command"):  # run on its own and merged into the results of another run
        head = (
            f"Run `{jobs['command'].strip()}` on {jobs['started'][:10]} (on its own, after "
            "the run above; the rows side by side in that one run). " + head
        )
    return head + "\n\n" + _table(header, jobs_rows(jobs), left=2)


_S3_BACKEND_NAMES = {
    "s3": "S3 only",
    "s3-1s": "S3 only, reads ≤ 1 s stale",
    "postgres+s3": "PostgreSQL + S3",
    "sqlite+s3": "SQLite + S3",
}


def _s3_ops(suite: dict[str, Any] | None, workload: str) -> float | None:
    if not suite or suite.get("status") != "ok":
        return None
    ops = (suite.get("workloads") or {}).get(workload, {}).get("ops_s")
    return float(ops) if ops else None


def _s3_cell(ops: float | None, suite: dict[str, Any] | None, workload: str) -> str:
    if ops is not None:
        return f"{ops:,.0f}" if ops >= 100 else f"{ops:,.1f}"
    if not suite:
        return "not run"
    if suite.get("status") == "ok":
        return "error" if "error" in (suite.get("workloads") or {}).get(workload, {}) else "n/a"
    return str(suite.get("status") or "n/a")


def s3_table(results: dict[str, Any]) -> str:
    """The S3 section: operations per second of SpecStar and the peer on each S3 backend and
    size, their ratio against the section's target, the load time, and the reasons of rows
    that did not run."""
    s3 = results.get("s3")
    if not s3:
        return "_The S3 section did not run._"
    by_key = {(e["impl"], e["backend"], e["n"]): e for e in s3["suites"]}
    target = float(s3["target"])
    header = ["backend", "N", "workload", "SpecStar ops/s", "peer ops/s", f"SpecStar {_X} peer"]
    rows: list[list[str]] = []
    notes: list[str] = []
    for backend in s3["backends"]:
        for n in s3["sizes"]:
            peer_row = (s3.get("peer_row") or {}).get(backend, backend)
            ours, peer = by_key.get(("ours", backend, n)), by_key.get(("peer", peer_row, n))
            for suite in (ours, peer) if peer_row == backend else (ours,):
                where = f"{suite['impl'] if suite else ''} on "
                where += f"{_S3_BACKEND_NAMES.get(backend, backend)}, N={n:,}"
                if suite and suite.get("status") != "ok":
                    notes.append(f"{where}: {suite.get('status')}: {suite.get('reason')}")
                for name, w in ((suite or {}).get("workloads") or {}).items():
                    if "error" in w:
                        notes.append(f"{where}, {name}: {w['error']}")
            for workload in s3["workloads"]:
                a, b = _s3_ops(ours, workload), _s3_ops(peer, workload)
                ratio = "n/a"
                if a is not None and b is not None:
                    ratio = f"{a / b:,.1f}{_X} {'✅' if a / b >= target else '❌'}"
                rows.append(
                    [
                        _S3_BACKEND_NAMES.get(backend, backend),
                        f"{n // 1000}k" if n % 1000 == 0 else str(n),
                        workload,
                        _s3_cell(a, ours, workload),
                        _s3_cell(b, peer, workload),
                        ratio,
                    ]
                )
    load_rows = []
    for backend in s3["backends"]:
        for n in s3["sizes"]:
            cells = [_S3_BACKEND_NAMES.get(backend, backend), f"{n:,}"]
            for impl in ("ours", "peer"):
                row = (
                    (s3.get("peer_row") or {}).get(backend, backend) if impl == "peer" else backend
                )
                suite = by_key.get((impl, row, n)) or {}
                load = suite.get("load") if suite.get("status") == "ok" else None
                cells.append(f"{load['seconds']:,.1f} s" if load else "n/a")
            load_rows.append(cells)
    head = (
        f"Every row on one {s3['server']}, each suite in a bucket of its own; "
        f"target: SpecStar ≥ {target:g}{_X} the peer. The server is on loopback but takes some "
        "3 ms per request (moto's Python server on 2 cores), so the figures weigh each "
        "backend's number of requests (see docs/storage.md) and its client work, not S3's "
        "network latency. S3 only reads with one request each (a probe of the log, so they "
        "see every acknowledged write); the peer reads a local copy checked at most once a "
        "second, as the row with reads ≤ 1 s stale does."
    )
    if s3.get("command"):
        head = f"Run `{s3['command'].strip()}` (merged into the results above). " + head
    out = [head, "", _table(header, rows, left=3), "", "Loading N resources:", ""]
    out.append(_table(["backend", "N", "SpecStar", "peer"], load_rows, left=2))
    if notes:
        out += ["", *[f"- {line}" for line in notes]]
    return "\n".join(out)


# -- the backup section -----------------------------------------------------------------------


def _rate(row: dict[str, Any] | None) -> str:
    if not row:
        return "not run"
    return f"{row['per_second']:,}" if row.get("status") == "ok" else str(row.get("status"))


def _peak(row: dict[str, Any] | None, target: float | None = None) -> str:
    if not row or row.get("status") != "ok" or row.get("peak_growth_mib") is None:
        return "n/a"
    mib = float(row["peak_growth_mib"])
    return f"{mib:,.1f} MiB" + ("" if target is None else _mark(mib < target))


def backup_table(results: dict[str, Any]) -> str:
    """The backup section: books per second of SpecStar's and the peer's ``load`` and ``dump``
    on each backend and size, their ratio, ``pg_restore``/``pg_dump`` beside PostgreSQL's rows,
    the peak memory growth of each phase against the target, and the rows that did not run."""
    backup = results.get("backup")
    if not backup:
        return "_The backup section did not run._"
    target = float(backup["rss_target_mib"])
    by_key = {(r["impl"], r["backend"], r["resources"], r["phase"]): r for r in backup["rows"]}
    tools = {"load": "pg_restore", "dump": "pg_dump -Fc"}
    header = [
        "N",
        "backend",
        "phase",
        "SpecStar books/s",
        "peer books/s",
        "SpecStar ÷ peer",
        "pg_restore / pg_dump books/s",
        f"SpecStar peak RSS growth (< {target:g} MiB)",
        "peer peak RSS growth",
    ]
    rows: list[list[str]] = []
    for n in backup["sizes"]:
        for backend in backup["backends"]:
            for phase in ("load", "dump"):
                ours = by_key.get(("ours", backend, n, phase))
                peer = by_key.get(("peer", backend, n, phase))
                tool = by_key.get((tools[phase], backend, n, phase))
                ratio = "n/a"
                if ours and peer and ours.get("status") == peer.get("status") == "ok":
                    ratio = f"{ours['per_second'] / peer['per_second']:,.2f}{_X}"
                rows.append(
                    [
                        f"{n:,}",
                        _BACKEND_NAMES.get(backend, backend),
                        phase,
                        _rate(ours),
                        _rate(peer),
                        ratio,
                        f"{tool['per_second']:,} ({tools[phase]})" if tool else "—",
                        _peak(ours, target),
                        _peak(peer),
                    ]
                )
    notes = []
    for r in backup["rows"]:
        where = (
            f"{r['impl']} on {_BACKEND_NAMES.get(r['backend'], r['backend'])}, N={r['resources']:,}"
        )
        if r.get("status") != "ok":
            notes.append(f"{where}, {r['phase']}: {r.get('status')}: {r.get('reason')}")
        elif r["impl"] == "ours" and r["phase"] == "dump" and not r.get("same_bytes", True):
            notes.append(f"{where}: the dump differs from the archive the store was loaded with")
    head = (
        f"N books with {backup['revisions']} revisions each (`title`, `isbn` unique, `year`, "
        "`tags`; `year` and `tags` indexed), the same rows on both sides, one side after the "
        "other, each in a process of its own. SpecStar loads a generated archive into an empty "
        "store, then dumps that store; the peer's books are made through its API (`create` and "
        "two `update` calls each) and exported once, then `SpecStar.load` fills an empty store "
        "and `SpecStar.dump` exports it. Peak RSS growth: the process's peak resident set "
        "during the phase over its resident set at the start. `pg_restore`/`pg_dump -Fc`: the "
        "schema SpecStar's load filled, restored into an empty one (other processes: no memory "
        "figure)."
    )
    staged = {r["resources"]: r["staging_s"] for r in backup["rows"] if "staging_s" in r}
    if staged:
        notes.append(
            "the peer's books made through its API (in memory, before its timed phases): "
            + ", ".join(f"{n:,} in {s:,.1f} s" for n, s in sorted(staged.items()))
        )
    if backup.get("command"):  # run on its own and merged into the results of another run
        head = f"Run `{backup['command'].strip()}` on {backup['started'][:10]}. " + head
    out = [head, "", _table(header, rows, left=3)]
    if notes:
        out += ["", *[f"- {line}" for line in notes]]
    return "\n".join(out)
