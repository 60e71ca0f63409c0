"""Report tables of the statement counts and of the uvicorn worker comparison (``report.py``
puts them into the Markdown)."""

from __future__ import annotations

from typing import Any

from .statements import DESCRIPTIONS as STATEMENT_DESCRIPTIONS
from .statements import OPERATIONS as STATEMENT_OPERATIONS

#: Two uvicorn workers should serve GET by id at least this many times one worker's rate.
WORKERS_TARGET = 1.6
_BACKEND_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
_X = "\u00d7"  # the multiplication sign of ratios


def _table(header: list[str], rows: list[list[str]]) -> str:
    sep = [":---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


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
