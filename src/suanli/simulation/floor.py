"""A floor under average JCT that no policy can beat, computed from the fleet and workload alone.

Each job is timed alone on the fastest pool that could ever run it within its budget, starting
the moment it arrives. Any real schedule only adds to that: waiting, slower pools and lost
preempted runs all lengthen a job's completion time. So `floor ÷ FIFO's avg JCT` is the best
ratio any policy could reach on that workload; a goal below it is out of reach of scheduling
(the workload lacks the contention, or the fleet the speed spread), not missed by a policy.

The floor uses the same feasibility and performance model as the policies and the replay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.domain.scheduling import objectives
from suanli.domain.scheduling.feasibility import static_mask
from suanli.domain.scheduling.model import ClusterState, QueuedJob
from suanli.domain.scheduling.objectives import Goal
from suanli.domain.scheduling.performance import PerformanceModel
from suanli.domain.scheduling.policies import Round
from suanli.simulation.workload import Fleet, Workload


@dataclass(frozen=True)
class JctFloor:
    avg_jct_s: float  # mean of each runnable job's fastest possible run
    jobs: int  # the jobs some pool could run within their budget (the rest are unplaceable)

    def as_dict(self) -> dict[str, float | int]:
        return {"avg_jct_s": round(self.avg_jct_s, 3), "jobs": self.jobs}


def jct_floor(fleet: Fleet, workload: Workload, performance: PerformanceModel) -> JctFloor:
    state = ClusterState.empty(fleet.require_nonempty().pools)
    fastest = _FastestRun(Round(state, performance, 0.0))
    runs = [run_s for job in workload.jobs if (run_s := fastest(job)) is not None]
    return JctFloor(float(np.mean(runs)) if runs else 0.0, len(runs))


class _FastestRun:
    """The shortest run a job could have on an empty fleet; None if no pool could take it.

    Without a budget that is the reference runtime × the smallest runtime factor over the
    feasible pools, which depends only on the requirements, class and reference model: it is
    computed once per such triple (100,000 jobs over 10,000 pools would otherwise take seconds).
    """

    def __init__(self, round_: Round) -> None:
        self.round = round_
        self.factor_by_key: dict[tuple[object, ...], float | None] = {}

    def __call__(self, job: QueuedJob) -> float | None:
        if job.spec.budget_fen is not None:
            return self._within_budget(job)
        matrix = self.round.state.matrix
        key = (matrix.key_of(job.spec), job.spec.job_class, job.reference_model)
        if key not in self.factor_by_key:
            pools = np.flatnonzero(static_mask(job.spec, matrix))
            factors = self.round.factors(job)[pools]
            self.factor_by_key[key] = float(factors.min()) if pools.size else None
        factor = self.factor_by_key[key]
        return None if factor is None else job.expected_reference_runtime_s * factor

    def _within_budget(self, job: QueuedJob) -> float | None:
        pools = np.flatnonzero(static_mask(job.spec, self.round.state.matrix))
        # the cost goal only names an objective, the order is not used: `priced` drops the
        # pools over the job's budget exactly as the policies do
        candidates = self.round.priced(job, pools, Goal(objectives.COST))
        return float(candidates.runtime_s.min()) if candidates.size else None
