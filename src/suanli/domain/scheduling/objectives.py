"""Ranking the pools a job could start on now, by the objective that governs it.

`cost` ranks by expected cost, `time` by expected runtime (the job starts now, so runtime
decides completion), `balanced` by cost^w × time^(1-w), `deadline` by cost among pools that
finish by the deadline and then by time, `first-fit` by pool order. A budget is a hard limit:
pools whose expected cost exceeds it are dropped before ranking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.domain.scheduling.matrix import FloatArray, IntArray

FIRST_FIT = "first-fit"
COST = "cost"
TIME = "time"
BALANCED = "balanced"
DEADLINE = "deadline"
OBJECTIVES = (FIRST_FIT, COST, TIME, BALANCED, DEADLINE)
_EPSILON = 1e-9
_RELATIVE_TIE = 1e-12  # scores this close count as equal and fall to the next key


@dataclass(frozen=True)
class Candidates:
    """Pools with room for the job now, and its expected runtime and cost on each."""

    pools: IntArray  # pool indices, ascending
    runtime_s: FloatArray
    cost_fen: FloatArray  # an estimate for ranking; charges come from metering, in integer fen

    @property
    def size(self) -> int:
        return int(self.pools.size)


@dataclass(frozen=True)
class Goal:
    objective: str
    cost_weight: float = 0.5  # balanced: the weight of cost against time
    deadline_at_s: float | None = None
    now_s: float = 0.0


def _keys(candidates: Candidates, goal: Goal) -> tuple[FloatArray, FloatArray]:
    """(primary, secondary) scores; lower is better."""
    cost, runtime = candidates.cost_fen, candidates.runtime_s
    if goal.objective == COST:
        return cost, runtime
    if goal.objective == TIME:
        return runtime, cost
    if goal.objective == BALANCED:
        weight = goal.cost_weight
        score = weight * np.log(cost + _EPSILON) + (1 - weight) * np.log(runtime + _EPSILON)
        return score, runtime
    if goal.objective == DEADLINE and goal.deadline_at_s is not None:
        late = (goal.now_s + runtime > goal.deadline_at_s).astype(np.float64)
        # on time: cheapest first; late: fastest first, after every on-time pool
        return late, np.where(late > 0, runtime, cost)
    if goal.objective == DEADLINE:
        return cost, runtime
    order = np.arange(candidates.size, dtype=np.float64)
    return order, order


def best(candidates: Candidates, goal: Goal) -> int:
    """Position of the best candidate (ties: secondary key, then pool order). O(n)."""
    primary, secondary = _keys(candidates, goal)
    low = primary.min()
    ties = np.flatnonzero(primary <= low + abs(low) * _RELATIVE_TIE)
    if ties.size == 1:
        return int(ties[0])
    return int(ties[np.argmin(secondary[ties])])


def ranked(candidates: Candidates, goal: Goal, limit: int) -> IntArray:
    """Positions of the `limit` best candidates, best first."""
    primary, secondary = _keys(candidates, goal)
    if candidates.size > limit:
        keep = np.argpartition(primary, limit - 1)[:limit]
    else:
        keep = np.arange(candidates.size)
    order = np.lexsort((keep, secondary[keep], primary[keep]))
    return keep[order]
