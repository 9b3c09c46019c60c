"""Session fixtures that start one real Ray head and one real Slurm cluster, then stop them.

A missing component skips loudly on a developer machine and fails under CI=true.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator

import pytest

from tests.conftest import require_component
from tests.integration import clusters


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
