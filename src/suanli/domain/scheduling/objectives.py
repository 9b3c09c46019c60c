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
# Rankings that depend only on the pool, the job class and the reference: cost and runtime
# are the reference runtime × a per-pool factor (× price × cards), so one order per class
# serves every job of it. A deadline depends on the clock and is ranked per job.
STATIC = (FIRST_FIT, COST, TIME, BALANCED)
_EPSILON = 1e-9
_RELATIVE_TIE = 1e-12  # scores this close count as equal and fall to the next key


@dataclass(frozen=True)
class Candidates:
    """Pools with room for the job now, and its expected runtime and cost on each."""

    pools: IntArray  # pool indices, ascending
    runtime_s: FloatArray
    cost_fen: FloatArray  # an estimate for ranking; charges come from metering, in integer fen
    rank: IntArray  # each pool's place in the static order (see `pool_rank`)

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
    """(primary, secondary) scores of a job-dependent objective; lower is better."""
    cost, runtime = candidates.cost_fen, candidates.runtime_s
    if goal.deadline_at_s is None:
        return cost, runtime
    late = (goal.now_s + runtime > goal.deadline_at_s).astype(np.float64)
    # on time: cheapest first; late: fastest first, after every on-time pool
    return late, np.where(late > 0, runtime, cost)


def pool_rank(
    objective: str, cost_weight: float, price: FloatArray, factors: FloatArray
) -> IntArray:
    """Every pool's place (0 = best) in a static objective's order; ties go to pool order."""
    cost = price * factors  # ∝ expected cost: price × cards × reference runtime × factor
    index = np.arange(price.size)
    if objective == COST:
        keys: tuple[np.ndarray, ...] = (index, factors, cost)
    elif objective == TIME:
        keys = (index, cost, factors)
    elif objective == BALANCED:
        score = cost_weight * np.log(cost + _EPSILON) + (1 - cost_weight) * np.log(factors)
        keys = (index, factors, score)
    else:
        keys = (index,)
    rank = np.empty(price.size, dtype=np.int64)
    rank[np.lexsort(keys)] = index
    return rank


def best(candidates: Candidates, goal: Goal) -> int:
    """Position of the best candidate (ties: secondary key, then pool order). O(n)."""
    if goal.objective in STATIC:
        return int(np.argmin(candidates.rank))
    primary, secondary = _keys(candidates, goal)
    low = primary.min()
    ties = np.flatnonzero(primary <= low + abs(low) * _RELATIVE_TIE)
    if ties.size == 1:
        return int(ties[0])
    return int(ties[np.argmin(secondary[ties])])


def ranked(candidates: Candidates, goal: Goal, limit: int) -> IntArray:
    """Positions of the `limit` best candidates, best first."""
    if goal.objective in STATIC:
        primary = secondary = candidates.rank.astype(np.float64)
    else:
        primary, secondary = _keys(candidates, goal)
    if candidates.size > limit:
        keep = np.argpartition(primary, limit - 1)[:limit]
    else:
        keep = np.arange(candidates.size)
    order = np.lexsort((keep, secondary[keep], primary[keep]))
    return keep[order]
