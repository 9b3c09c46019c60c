"""Fleets and workloads as the simulator takes them, and arrival-time rescaling."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from suanli.domain.scheduling.model import PoolView, QueuedJob
from suanli.errors import InvalidInput
from suanli.i18n import msg

TARGET_LOAD_MAX = 100.0  # beyond this the replay is a batch dump, not a load level
TIME_SCALE_MIN = 1e-9
TIME_SCALE_MAX = 1e9
TENTHS = 10


@dataclass(frozen=True)
class Fleet:
    pools: tuple[PoolView, ...]
    source: str
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows

    @property
    def cards(self) -> int:
        return sum(view.pool.cards for view in self.pools)

    def require_nonempty(self) -> Fleet:
        if not self.pools or self.cards == 0:
            raise InvalidInput(
                msg(
                    f"集群 {self.source} 没有 GPU 资源池",
                    f"the fleet {self.source} has no GPU pools",
                ),
                field="fleet",
            )
        return self


@dataclass(frozen=True)
class Workload:
    jobs: tuple[QueuedJob, ...]  # sorted by submission time
    source: str
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    adjusted: dict[str, int] = field(default_factory=dict)  # what was changed -> rows
    speeds: dict[str, dict[str, float]] = field(default_factory=dict)  # class -> model -> measured

    def offered_card_s(self) -> float:
        return sum(job.spec.cards * job.expected_reference_runtime_s for job in self.jobs)

    def arrival_span_s(self) -> float:
        if not self.jobs:
            return 0.0
        return self.jobs[-1].submitted_at_s - self.jobs[0].submitted_at_s

    def limited(self, jobs_max: int | None) -> Workload:
        if jobs_max is None:
            return self
        if jobs_max < 1:
            raise InvalidInput(
                msg("--limit-jobs 至少为 1", "--limit-jobs must be at least 1"), field="limit_jobs"
            )
        return replace(self, jobs=self.jobs[:jobs_max])


def rescaled(workload: Workload, factor: float) -> Workload:
    """Arrival times stretched (factor > 1) or compressed (< 1) around the first arrival."""
    if not workload.jobs:
        return workload
    start_s = workload.jobs[0].submitted_at_s
    jobs = tuple(
        replace(job, submitted_at_s=start_s + (job.submitted_at_s - start_s) * factor)
        for job in workload.jobs
    )
    return replace(workload, jobs=jobs)


def compression_for_load(workload: Workload, fleet_cards: int, target_load: float) -> float:
    """The factor that makes offered card-seconds per second equal target_load × fleet cards.

    Offered load = Σ cards × reference runtime ÷ arrival span, the standard definition
    (λ × mean job size); only arrival times change, never runtimes.
    """
    if not math.isfinite(target_load) or not 0 < target_load <= TARGET_LOAD_MAX:
        raise InvalidInput(
            msg(
                f"目标负载须为 0 至 {TARGET_LOAD_MAX:g} 之间的数（不含 0），收到 {target_load:g}",
                f"target load must be a number in (0, {TARGET_LOAD_MAX:g}], got {target_load:g}",
            ),
            field="target_load",
        )
    span_s = workload.arrival_span_s()
    if fleet_cards <= 0:
        raise InvalidInput(msg("集群没有卡", "the fleet has no cards"), field="fleet")
    if span_s <= 0 or len(workload.jobs) < 2:
        raise InvalidInput(
            msg(
                "无法达到目标负载：负载的到达时间跨度为零",
                "cannot reach a target load: the workload's arrivals span no time",
            ),
            field="target_load",
        )
    return workload.offered_card_s() / (target_load * fleet_cards * span_s)


def offered_load(workload: Workload, fleet_cards: float) -> float:
    span_s = workload.arrival_span_s()
    if span_s <= 0 or fleet_cards <= 0:
        return math.inf
    return workload.offered_card_s() / (fleet_cards * span_s)


def load_by_tenth(workload: Workload, fleet_cards: int) -> tuple[float, ...]:
    """Offered load of the jobs submitted in each tenth of the arrival span (their card-seconds
    at reference speed ÷ fleet cards × a tenth): a trace whose work arrives in bursts shows
    tenths far above its average, which a fleet sized to the average cannot keep up with."""
    span_s = workload.arrival_span_s()
    if span_s <= 0 or fleet_cards <= 0:
        return ()
    start = workload.jobs[0].submitted_at_s
    work = [0.0] * TENTHS
    for job in workload.jobs:
        tenth = min(int((job.submitted_at_s - start) / span_s * TENTHS), TENTHS - 1)
        work[tenth] += job.spec.cards * job.expected_reference_runtime_s
    return tuple(w / (fleet_cards * span_s / TENTHS) for w in work)


def cards_for_load(workload: Workload, target_load: float, card_types: int, step: int) -> int:
    """Cards per type (a multiple of `step`) for a fleet of `card_types` equal-sized types whose
    offered load at reference speed is at most `target_load`: every card counted at the
    reference chip's speed, Σ cards × runtime ÷ (cards × arrival span)."""
    if not math.isfinite(target_load) or not 0 < target_load <= TARGET_LOAD_MAX:
        raise InvalidInput(
            msg(
                f"目标负载须为 0 至 {TARGET_LOAD_MAX:g} 之间的数（不含 0），收到 {target_load:g}",
                f"target load must be a number in (0, {TARGET_LOAD_MAX:g}], got {target_load:g}",
            ),
            field="fleet",
        )
    span_s = workload.arrival_span_s()
    if span_s <= 0:
        raise InvalidInput(
            msg("负载的到达时间跨度为零", "the workload's arrivals span no time"), field="fleet"
        )
    cards = workload.offered_card_s() / (target_load * card_types * span_s)
    return max(step, math.ceil(cards / step) * step)


def check_time_scale(time_scale: float) -> float:
    if not math.isfinite(time_scale) or not TIME_SCALE_MIN <= time_scale <= TIME_SCALE_MAX:
        raise InvalidInput(
            msg(
                f"时间缩放须在 {TIME_SCALE_MIN:g} 至 {TIME_SCALE_MAX:g} 之间",
                f"time scale must be in [{TIME_SCALE_MIN:g}, {TIME_SCALE_MAX:g}]",
            ),
            field="time_scale",
        )
    return time_scale
