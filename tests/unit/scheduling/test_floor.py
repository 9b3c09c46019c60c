"""The avg-JCT floor: each job alone on its fastest fitting pool, within its budget."""

from __future__ import annotations

from typing import Any

import pytest

from suanli.domain.scheduling.model import QueuedJob
from suanli.domain.scheduling.performance import PerformanceModel
from suanli.domain.scheduling.policies import get_policy, policy_names
from suanli.simulation.engine import simulate
from suanli.simulation.floor import jct_floor
from suanli.simulation.metrics import summarize
from suanli.simulation.synthetic import synthetic_fleet, synthetic_workload
from suanli.simulation.workload import Fleet, Workload, compression_for_load, rescaled
from tests.unit.scheduling.builders import chip, job, view

# compute-bound for cv-train-fp32, so runtime scales with FP32 TFLOPS: Fast-A is 3× Slow-B
FAST = chip("Fast-A", fp32=30.0, bandwidth_gbs=2000.0)
SLOW = chip("Slow-B", fp32=10.0, bandwidth_gbs=2000.0)
THREE_HOURS_ON_SLOW = 3 * 3600.0


def _fleet() -> Fleet:
    return Fleet((view("slow", SLOW, price=100), view("fast", FAST, price=1000)), "test")


def _train(job_id: str, **fields: Any) -> QueuedJob:
    return job(
        job_id,
        runtime_s=THREE_HOURS_ON_SLOW,
        reference="Slow-B",
        job_class="cv-train-fp32",
        **fields,
    )


def test_the_floor_times_each_job_on_its_fastest_pool() -> None:
    workload = Workload((_train("a"), _train("b", submitted_at_s=10.0)), "test")
    floor = jct_floor(_fleet(), workload, PerformanceModel())
    assert floor.jobs == 2
    assert floor.avg_jct_s == pytest.approx(3600.0)


def test_the_floor_keeps_to_the_budget_and_skips_jobs_no_pool_can_run() -> None:
    # fast: 1000 fen/h × 1 h = 1000 fen, over budget; slow: 100 × 3 h = 300 fen, within it
    thrifty = _train("thrifty", budget_fen=500)
    too_big = _train("too-big", cards=64)
    floor = jct_floor(_fleet(), Workload((thrifty, too_big), "test"), PerformanceModel())
    assert floor.jobs == 1
    assert floor.avg_jct_s == pytest.approx(THREE_HOURS_ON_SLOW)


@pytest.mark.parametrize("policy", policy_names())
def test_no_policy_beats_the_floor_on_a_contended_replay(policy: str) -> None:
    fleet, raw = synthetic_fleet(30, 11), synthetic_workload(300, 11)
    workload = rescaled(raw, compression_for_load(raw, fleet.cards, 1.5))
    performance = PerformanceModel()
    floor = jct_floor(fleet, workload, performance)
    metrics = summarize(simulate(fleet, workload, get_policy(policy, performance), performance))
    assert floor.jobs == metrics.completed
    assert 0 < floor.avg_jct_s <= metrics.avg_jct_s
