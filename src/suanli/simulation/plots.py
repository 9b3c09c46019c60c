"""PNG plots of a comparison (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from suanli.errors import InvalidInput
from suanli.i18n import msg
from suanli.simulation.engine import SimulationResult, thinned
from suanli.simulation.packing import PolicyCurve

UTILIZATION_PNG = "utilization.png"
JCT_PNG = "jct.png"


def write_plots(results: Mapping[str, SimulationResult], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidInput(
            msg(
                f"无法创建 {folder}：“{error.strerror}”",
                f"cannot create {folder}: {error.strerror}",
            ),
            field="plot",
        ) from error
    return [_utilization(results, folder / UTILIZATION_PNG), _jct(results, folder / JCT_PNG)]


def _utilization(results: Mapping[str, SimulationResult], path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5))
    for name, result in results.items():
        points = thinned(result.timeline)
        if not points:
            continue
        start_s = points[0][0]
        hours = [(t - start_s) / 3600 for t, _ in points]
        busy = [cards / result.fleet_cards for _, cards in points]
        axes.step(hours, busy, where="post", label=name, linewidth=1)
    axes.set_xlabel("hours since the first arrival")
    axes.set_ylabel("cards busy (fraction of fleet)")
    axes.set_title("Card utilisation over time")
    axes.set_ylim(0, 1.02)
    axes.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _jct(results: Mapping[str, SimulationResult], path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5))
    for name, result in results.items():
        jct = np.sort(
            [
                o.finished_at_s - o.job.submitted_at_s
                for o in result.outcomes.values()
                if o.finished_at_s is not None
            ]
        )
        if jct.size:
            fraction = np.arange(1, jct.size + 1) / jct.size
            axes.step(np.maximum(jct, 1.0), fraction, where="post", label=name, linewidth=1)
    axes.set_xscale("log")
    axes.set_xlabel("job completion time (s, log scale)")
    axes.set_ylabel("fraction of completed jobs")
    axes.set_title("JCT distribution per policy (CDF)")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_packing_plot(curves: Sequence[PolicyCurve], pod_list: str, path: Path) -> Path:
    """Allocation ratio against arrived workload, one line per policy, ± one sd shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidInput(
            msg(
                f"无法创建 {path.parent}：“{error.strerror}”",
                f"cannot create {path.parent}: {error.strerror}",
            ),
            field="plot",
        ) from error
    figure, axes = plt.subplots(figsize=(8, 5))
    for curve in curves:
        points = [p for p in sorted(curve.alloc_at) if not np.isnan(curve.mean(p))]
        mean = np.array([100 * curve.mean(p) for p in points])
        sd = np.array([100 * curve.sd(p) for p in points])
        axes.plot(points, mean, label=curve.policy, linewidth=1.2)
        axes.fill_between(points, mean - sd, mean + sd, alpha=0.2)
    axes.plot([0, 130], [0, 130], color="grey", linewidth=0.6, linestyle=":")
    axes.set_xlim(50, 130)
    axes.set_ylim(50, 100)
    axes.set_xlabel("arrived workload, % of GPU capacity")
    axes.set_ylabel("GPU allocation ratio, %")
    axes.set_title(f"FGD packing protocol, pod list {pod_list}")
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    try:
        figure.savefig(path, dpi=120)
    except OSError as error:
        raise InvalidInput(
            msg(f"无法写入 {path}：“{error.strerror}”", f"cannot write {path}: {error.strerror}"),
            field="plot",
        ) from error
    finally:
        plt.close(figure)
    return path
