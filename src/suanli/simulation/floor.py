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
    round_ = Round(state, performance, 0.0)
    fastest = [run_s for job in workload.jobs if (run_s := _fastest_run_s(round_, job)) is not None]
    return JctFloor(float(np.mean(fastest)) if fastest else 0.0, len(fastest))


def _fastest_run_s(round_: Round, job: QueuedJob) -> float | None:
    """The shortest run the job could have on an empty fleet; None if no pool could take it."""
    pools = np.flatnonzero(static_mask(job.spec, round_.state.matrix))
    if pools.size == 0:
        return None
    # the cost goal only decides ordering, which is not used here; `priced` drops the pools
    # over the job's budget exactly as the policies do
    candidates = round_.priced(job, pools, Goal(objectives.COST))
    return float(candidates.runtime_s.min()) if candidates.size else None
