"""Resident memory of the running process (Linux ``/proc``, else ``getrusage``).

Every benchmark worker (ours, the raw drivers, the peer) runs in its own process and reports
its memory right before loading and right after loading ``N`` resources: ``rss_kib`` is what
it holds then, ``peak_kib`` the most it ever held (``VmHWM``), which for a bulk import also
counts the import's temporary buffers. Standard library only (the peer driver loads it too).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import resource
import sys
import time
from collections.abc import Callable
from typing import Any


def _proc_status() -> dict[str, int]:
    out: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])  # kB
    return out


def memory() -> dict[str, Any]:
    """``{"rss_kib": current resident set, "peak_kib": peak resident set}``."""
    try:
        status = _proc_status()
        return {"rss_kib": status["VmRSS"], "peak_kib": status["VmHWM"]}
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":  # bytes there, KiB on Linux
            peak //= 1024
        return {"rss_kib": peak, "peak_kib": peak}


def _trim() -> None:
    """Hand memory freed by an earlier phase back to the kernel (``gc.collect`` then glibc's
    ``malloc_trim``), so the next phase's start is what is live, not what the allocator kept."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: not glibc
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def reset_peak() -> int | None:
    """Reset the peak resident set (``VmHWM``) to the current one, after :func:`_trim`, and
    return it (KiB), so the peak read after a phase is that phase's alone; ``None`` where the
    kernel offers no reset (``/proc/self/clear_refs``, Linux only)."""
    _trim()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return _proc_status()["VmRSS"]
    except (OSError, KeyError, ValueError):
        return None


def peak_growth_mib(base: int | None) -> float | None:
    """Growth of the peak resident set over ``base`` (from :func:`reset_peak`), in MiB."""
    if base is None:
        return None
    return max(0.0, round((_proc_status()["VmHWM"] - base) / 1024, 1))


def measure_phase(backend: str, phase: str, n: int, run: Callable[[], Any]) -> dict[str, Any]:
    """Time ``run`` (``n`` resources) and the growth of the peak resident set over the start
    of the phase: one row of the backup section, the same for SpecStar and the peer."""
    base = reset_peak()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    return {
        "backend": backend,
        "phase": phase,
        "resources": n,
        "seconds": round(seconds, 2),
        "per_second": round(n / seconds),
        "peak_growth_mib": peak_growth_mib(base),
    }
