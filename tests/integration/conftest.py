"""Session fixtures that start one real Ray head and one real Slurm cluster, then stop them.

A missing component skips loudly on a developer machine and fails under CI=true.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import require_component
from tests.integration import clusters

# engine -> seconds from submit to a seen terminal status, for a trivial job
_ROUND_TRIPS: dict[str, list[float]] = {}


def _ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def _slurm_installed() -> bool:
    daemons = all(shutil.which(name, path="/usr/sbin:/usr/bin") for name in ("slurmctld", "slurmd"))
    return daemons and os.path.exists("/usr/sbin/munged") and os.path.exists("/etc/munge/munge.key")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[clusters.RayHead]:
    require_component(_ray_installed(), "ray is not importable: pip install -e '.[ray]'")
    with clusters.ray_head() as head:
        yield head


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[clusters.SlurmCluster]:
    require_component(
        _slurm_installed(), "slurmctld/slurmd/munged missing: bash scripts/install-system-deps.sh"
    )
    require_component(os.geteuid() == 0, "starting slurmd with fake GPUs needs root")
    with clusters.slurm_cluster(gpus=8, gres_type="h100") as cluster:
        yield cluster


@pytest.fixture
def record_round_trip() -> Callable[[str, float], None]:
    """Tests report each engine's round trip here; the summary prints them (not asserted)."""

    def record(engine: str, seconds: float) -> None:
        _ROUND_TRIPS.setdefault(engine, []).append(seconds)

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _ROUND_TRIPS:
        return
    terminalreporter.section("backend round trip for a trivial job (submit to seen finished)")
    for engine, times in sorted(_ROUND_TRIPS.items()):
        runs = ", ".join(f"{seconds:.2f}" for seconds in times)
        median = statistics.median(times)
        terminalreporter.write_line(f"{engine}: median {median:.2f}s over {len(times)} ({runs})")
