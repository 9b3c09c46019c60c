"""Fleets and workloads as the simulator takes them, and arrival-time rescaling."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from suanli.domain.scheduling.model import PoolView, QueuedJob
from suanli.errors import InvalidInput
from suanli.i18n import Msg, msg, render

TARGET_LOAD_MAX = 100.0  # beyond this the replay is a batch dump, not a load level
DAY_S = 86_400
# What a trace may say, whatever its format (docs/scheduling.md, "Limits"). One job runs at
# most a year on its reference chip: 6 times the longest job of the shipped traces (Gavel
# msr-seed0: 60 days; Philly: 54 days), and 4,096 cards for a year at the platform's highest
# price (¥100,000 per card-hour) stays under money.FEN_MAX. Arrivals fall within ten years
# of the trace's start (the shipped traces span at most five months), so that every time,
# even stretched by --time-scale up to TIME_SCALE_MAX, stays a finite number of seconds.
TRACE_RUNTIME_S_MAX = 365 * DAY_S
TRACE_TIME_S_MAX = 10 * 365 * DAY_S
# Arrivals once rescaled (--time-scale, --target-load) span at most a thousand years: float
# seconds there still resolve microseconds, where at 10^17 s a second is lost in rounding.
ARRIVAL_SPAN_S_MAX = 1000 * 365 * DAY_S
TIME_SCALE_MIN = 1e-9
TIME_SCALE_MAX = 1e9
TENTHS = 10
ZH, EN = "zh-CN", "en"


def seconds_text(seconds: float) -> Msg:
    """A limit in whole years or days, as the messages and the docs state it."""
    if seconds >= 365 * DAY_S and seconds % (365 * DAY_S) == 0:
        years = int(seconds // (365 * DAY_S))
        return msg(f"{years} 年", f"{years} year{'s' if years > 1 else ''}")
    days = f"{seconds / DAY_S:,.4g}"
    return msg(f"{days} 天", f"{days} days")


@dataclass(frozen=True)
class Fleet:
    pools: tuple[PoolView, ...]
    source: str | Msg  # a path, or a description in both languages
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows

    @property
    def cards(self) -> int:
        return sum(view.pool.cards for view in self.pools)

    def require_nonempty(self) -> Fleet:
        if not self.pools or self.cards == 0:
            raise InvalidInput(
                msg(
                    f"集群 {render(self.source, ZH)} 没有 GPU 资源池",
                    f"the fleet {render(self.source, EN)} has no GPU pools",
                ),
                field="fleet",
            )
        return self


@dataclass(frozen=True)
class Workload:
    jobs: tuple[QueuedJob, ...]  # sorted by submission time
    source: str | Msg  # a path, or a description in both languages
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
    factor = workload.offered_card_s() / (target_load * fleet_cards * span_s)
    if not math.isfinite(factor * span_s):  # a span of a few denormal seconds, say
        raise InvalidInput(
            msg(
                "无法达到目标负载：负载的到达时间跨度太短",
                "cannot reach a target load: the workload's arrivals span too little time",
            ),
            field="target_load",
        )
    return factor


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


def cards_for_load(
    workload: Workload,
    target_load: float,
    card_types: int,
    step: int,
    cards_max: int | None = None,
    fleet: str = "",
) -> int:
    """Cards per type (a multiple of `step`) for a fleet of `card_types` equal-sized types whose
    offered load at reference speed is at most `target_load`: every card counted at the
    reference chip's speed, Σ cards × runtime ÷ (cards × arrival span). More than `cards_max`
    is refused as a load too small for the workload (`fleet` names what the user typed)."""
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
    needed = max(step, math.ceil(cards / step) * step) if math.isfinite(cards) else math.inf
    if cards_max is not None and not needed <= cards_max:
        raise InvalidInput(
            msg(
                f"{fleet}：负载 {target_load:g} 对这份轨迹太小：每种卡需要 {cards:,.0f} 张，"
                f"上限为 {cards_max:,} 张",
                f"{fleet}: the load {target_load:g} is too small for this trace: it needs "
                f"{cards:,.0f} cards of each type, at most {cards_max:,}",
            ),
            field="fleet",
        )
    return int(needed)


def check_rescaled_span(workload: Workload, factor: float, field: str) -> None:
    """Refuses a rescaling that would spread the arrivals over more than ARRIVAL_SPAN_S_MAX."""
    span_s = workload.arrival_span_s() * factor
    if not span_s <= ARRIVAL_SPAN_S_MAX:
        option, years = "--" + field.replace("_", "-"), span_s / (365 * DAY_S)
        most = ARRIVAL_SPAN_S_MAX // (365 * DAY_S)
        raise InvalidInput(
            msg(
                f"{option} 会把到达时间分散到 {years:,.3g} 年，上限为 {most:,} 年",
                f"{option} would spread the arrivals over {years:,.3g} years, at most {most:,}",
            ),
            field=field,
        )


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
