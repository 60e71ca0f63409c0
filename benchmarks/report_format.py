"""The report's view of a results document (lookups over its suites and HTTP apps) and the
formatting of its numbers and Markdown tables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .workloads import WORKLOADS

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


def http_endpoint(results: Results, app: str, name: str) -> dict[str, Any] | None:
    http = results.get("http") or {}
    entry = (http.get("apps") or {}).get(app)
    if not entry or entry.get("status") != "ok":
        return None
    e: dict[str, Any] | None = entry["endpoints"].get(name)
    return e if e and "req_s" in e else None


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
