"""README.md's "Connect your cluster" section, executed as written against the session's real
Ray head and Slurm cluster (the harness is tests/e2e/test_readme.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_readme import NEEDS_CLUSTERS, ROOT, run_section, runnable_sections
from tests.integration.clusters import RayHead, SlurmCluster


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.slurm
def test_the_cluster_section_runs_as_written_against_real_clusters(
    tmp_path: Path, ray_cluster: RayHead, slurm_cluster: SlurmCluster
) -> None:
    for name in (".venv", "src", "docs"):
        (tmp_path / name).symlink_to(ROOT / name)
    (section,) = [s for s in runnable_sections() if s.title == NEEDS_CLUSTERS]
    extra = {
        "RAY_DASHBOARD": ray_cluster.address,
        "SLURM_CONF": str(slurm_cluster.conf),
        "SLURM_PARTITION": "debug",
        "SLURM_GRES_TYPE": "h100",
        "SLURM_LOG_DIR": str(slurm_cluster.log_dir),
        "SLURM_RUN_AS": slurm_cluster.job_user,
    }
    output = run_section(section, tmp_path, extra)
    assert output.count('"source": "ray') >= 1 and output.count('"source": "slurm') >= 1, output
