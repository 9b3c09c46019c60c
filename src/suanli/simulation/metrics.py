"""Per-policy figures from a replay, in the shape `suanli simulate --json` prints.

- JCT = finish - submission; wait = JCT - the final (successful) run, so time lost to
  preemption counts as waiting;
- makespan = last finish - first submission; utilisation = busy card-seconds (preempted runs
  included) / (fleet cards × makespan);
- cost = integer fen, metered per run exactly as the live service does (card-seconds rounded
  up to whole seconds, priced half-up once per run);
- Jain's index across enterprises of each one's throughput ratio: Σ reference runtime of its
  completed jobs / Σ their JCT (1 = all served alike, 1/n = one served, the rest starved);
- decisions/s = placements / seconds spent inside the policy;
- wait by tenth = mean wait of the jobs submitted in each tenth of the arrival span;
- lost capacity = card-seconds free while some job waited in the queue / (fleet cards ×
  makespan): capacity the policy left idle although there was work (a gang waiting for whole
  nodes, cards scattered over nodes, a job holding out for a faster chip). It is not all
  recoverable: the waiting jobs may not fit the idle cards.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from suanli.domain.scheduling.fairness import jain_index
from suanli.simulation.engine import JobOutcome, SimulationResult

METRIC_KEYS = (
    "avg_jct_s",
    "p95_jct_s",
    "p99_jct_s",
    "avg_wait_s",
    "p95_wait_s",
    "makespan_s",
    "utilization",
    "lost_capacity",
    "completed",
    "unplaceable",
    "cost_fen",
    "jain",
    "decisions_per_s",
    "wait_by_tenth_s",
)
TENTHS = 10


@dataclass(frozen=True)
class PolicyMetrics:
    avg_jct_s: float
    p95_jct_s: float
    p99_jct_s: float
    avg_wait_s: float
    p95_wait_s: float
    makespan_s: float
    utilization: float
    lost_capacity: float  # free card-seconds while a job waited / (fleet cards × makespan)
    completed: int
    unplaceable: int
    cost_fen: int
    jain: float
    decisions_per_s: float
    wait_by_tenth_s: tuple[float, ...]  # mean wait of the jobs submitted in each tenth

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(result: SimulationResult) -> PolicyMetrics:
    done = [o for o in result.outcomes.values() if o.finished_at_s is not None]
    jct = np.array([_jct_s(o) for o in done], dtype=np.float64)
    wait = np.maximum(0.0, jct - np.array([o.last_run_s for o in done], dtype=np.float64))
    submitted = [o.job.submitted_at_s for o in result.outcomes.values()]
    makespan_s = max((o.finished_at_s or 0.0 for o in done), default=0.0) - min(
        submitted, default=0.0
    )
    busy_card_s = sum(o.busy_card_s for o in result.outcomes.values())
    capacity_card_s = result.fleet_cards * makespan_s
    return PolicyMetrics(
        avg_jct_s=_mean(jct),
        p95_jct_s=_p95(jct),
        p99_jct_s=_percentile(jct, 99),
        avg_wait_s=_mean(wait),
        p95_wait_s=_p95(wait),
        makespan_s=round(max(0.0, makespan_s), 3),
        utilization=round(busy_card_s / capacity_card_s, 6) if capacity_card_s > 0 else 0.0,
        lost_capacity=round(result.idle_while_queued_card_s / capacity_card_s, 6)
        if capacity_card_s > 0
        else 0.0,
        completed=len(done),
        unplaceable=sum(1 for o in result.outcomes.values() if o.unplaceable),
        cost_fen=int(sum(o.cost_fen for o in result.outcomes.values())),
        jain=round(_jain(result), 6),
        decisions_per_s=round(result.placements / result.policy_time_s, 1)
        if result.policy_time_s > 0
        else 0.0,
        wait_by_tenth_s=_wait_by_tenth(done, wait, submitted),
    )


def _wait_by_tenth(
    done: list[JobOutcome], wait: np.ndarray, submitted: list[float]
) -> tuple[float, ...]:
    """Mean wait of the completed jobs submitted in each tenth of the arrival span, so that a
    queue growing without bound shows as a rising row (0 where a tenth has no job)."""
    if not done:
        return (0.0,) * TENTHS
    start, end = min(submitted), max(submitted)
    at = np.array([o.job.submitted_at_s for o in done], dtype=np.float64)
    span = max(end - start, 1e-9)
    tenth = np.minimum(((at - start) / span * TENTHS).astype(np.int64), TENTHS - 1)
    sums = np.bincount(tenth, weights=wait, minlength=TENTHS)
    counts = np.bincount(tenth, minlength=TENTHS)
    return tuple(round(float(s / c), 3) if c else 0.0 for s, c in zip(sums, counts, strict=True))


def _jct_s(outcome: JobOutcome) -> float:
    return float(outcome.finished_at_s or 0.0) - outcome.job.submitted_at_s


def _jain(result: SimulationResult) -> float:
    work: dict[str, float] = {}
    time_in_system: dict[str, float] = {}
    for outcome in result.outcomes.values():
        if outcome.finished_at_s is None:
            continue
        owner = outcome.job.owner_id
        work[owner] = work.get(owner, 0.0) + outcome.job.expected_reference_runtime_s
        time_in_system[owner] = time_in_system.get(owner, 0.0) + max(_jct_s(outcome), 1e-9)
    return jain_index([work[owner] / time_in_system[owner] for owner in work])


def _mean(values: np.ndarray) -> float:
    return round(float(values.mean()), 3) if values.size else 0.0


def _p95(values: np.ndarray) -> float:
    return _percentile(values, 95)


def _percentile(values: np.ndarray, percent: float) -> float:
    return round(float(np.percentile(values, percent)), 3) if values.size else 0.0


def json_text(body: object) -> str:
    """`body` as strict JSON, indented, for every `--json` of the offline commands: a NaN or
    an infinity (the offered load of arrivals that span no time) becomes null, since JSON has
    neither, and anything else that is not JSON raises rather than prints."""
    return json.dumps(_finite(body), indent=2, allow_nan=False)


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
