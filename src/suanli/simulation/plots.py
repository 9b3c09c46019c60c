"""PNG plots of a comparison (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from suanli.errors import InvalidInput
from suanli.i18n import msg
from suanli.simulation.engine import SimulationResult, thinned

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
