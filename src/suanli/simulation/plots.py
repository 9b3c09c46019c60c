"""PNG plots of a comparison (matplotlib, Agg backend: no display needed).

Where a plot goes is checked before the replay (`check_plot_folder`, `check_plot_file`): a
long run must not end in a refusal to write its plot. A write that still fails (the disk
fills, the folder goes) is an InvalidInput naming `plot`, never a traceback.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from suanli.errors import InvalidInput
from suanli.i18n import Msg, msg
from suanli.simulation.engine import SimulationResult, thinned
from suanli.simulation.packing import PolicyCurve
from suanli.simulation.trace_csv import file_problem, os_reason

UTILIZATION_PNG = "utilization.png"
JCT_PNG = "jct.png"
DEFAULT_FORMAT = "png"  # what matplotlib writes, and the suffix it adds, for a name without one
# matplotlib's formats less those it writes only with more software: pgf (LaTeX), avif
UNSUPPORTED_FORMATS = frozenset({"pgf", "avif"})


def check_plot_folder(folder: Path) -> None:
    """Before the replay: `--plot DIR` can be made or written in, and no folder holds the
    name of a plot."""
    for path in (folder / UTILIZATION_PNG, folder / JCT_PNG):
        if path.is_dir():
            raise _cannot_write(path, os_reason(errno.EISDIR))
    _check_folder(folder)


def check_plot_file(path: Path) -> Path:
    """Before the packing run: a format matplotlib writes (by the suffix), in a place that can
    be written. Returns the path the plot will have: a name without a suffix gets `.png`, as
    matplotlib would add it."""
    if not path.suffix:
        path = path.with_name(path.name.rstrip(".") + "." + DEFAULT_FORMAT)
    kind = path.suffix[1:].lower()
    known = plot_formats()
    if kind not in known:
        raise InvalidInput(
            msg(
                f"--plot：不支持图片格式 {kind!r}；支持：{'、'.join(known)}",
                f"--plot: the format {kind!r} is not supported; supported: {', '.join(known)}",
            ),
            field="plot",
        )
    if path.is_dir():
        raise _cannot_write(path, os_reason(errno.EISDIR))
    if path.exists() and not os.access(path, os.W_OK):
        raise _cannot_write(path, os_reason(errno.EACCES))
    _check_folder(path.parent)
    return path


def plot_formats() -> list[str]:
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(set(FigureCanvasBase.get_supported_filetypes()) - UNSUPPORTED_FORMATS)


def _check_folder(folder: Path) -> None:
    """`folder`, or the nearest folder above it that exists (it will be made there), is a
    folder this process may write in."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise _cannot_write(folder, os_reason(errno.ENOTDIR))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _cannot_write(folder, os_reason(errno.EACCES))


def _cannot_write(path: Path, problem: Msg) -> InvalidInput:
    return InvalidInput(
        msg(f"--plot：无法写入 {path}：{problem.zh}", f"--plot: cannot write {path}: {problem.en}"),
        field="plot",
    )


def _save(figure: Any, path: Path) -> Path:
    """Writes `figure` to `path` (its folder made first); closes it whatever happens."""
    import matplotlib.pyplot as plt

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120)
    except OSError as error:
        raise _cannot_write(path, file_problem(error)) from error
    finally:
        plt.close(figure)
    return path


def write_plots(results: Mapping[str, SimulationResult], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
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
    return _save(figure, path)


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
    return _save(figure, path)


def write_packing_plot(curves: Sequence[PolicyCurve], pod_list: str, path: Path) -> Path:
    """Allocation ratio against arrived workload, one line per policy, ± one sd shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = check_plot_file(path)  # checked before the run too; the suffix it adds, again
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
    return _save(figure, path)
