"""The report's targets: the ratios and the scaling checked against them, the misses and
what was not measured."""

from __future__ import annotations

from .report_format import BACKEND_NAMES, IMPL_NAMES, View, X, fmt_ratio, http_endpoint, size_label
from .report_tables import WORKERS_TARGET, workers_ratio
from .workloads import SEARCH_WORKLOADS

PEER_TARGET = 3.0  # SpecStar at least 3x the peer's throughput
RAW_TARGET = 0.5  # and at least half the raw driver's
#: The raw target where it differs: against plain dicts, a quarter of their throughput.
RAW_TARGETS = {"memory": 0.25}
SCALING_TARGET = 3.0  # search latency at the largest N within 3x of the smallest
HTTP_GET_TARGET = 0.7  # HTTP GET by id at least 0.7x the hand-written route


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
