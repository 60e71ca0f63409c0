"""The report's PNG charts: throughput per backend, search latency against N, HTTP."""

from __future__ import annotations

from pathlib import Path

from .http_bench import ENDPOINTS
from .report_format import BACKEND_NAMES, IMPL_NAMES, Results, View, http_endpoint, size_label
from .workloads import SEARCH_WORKLOADS

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
