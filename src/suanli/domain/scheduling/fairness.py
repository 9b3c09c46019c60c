"""Fair share across enterprises: decayed usage and a weighted max-min queue order.

Usage is card-seconds with exponential decay (half-life, like Slurm's PriorityDecayHalfLife
and KAI's usage window), integrated exactly while jobs run. The fair order is progressive
filling: repeatedly serve the owner with the least usage per unit of weight, charging each
served job the usage it will add within one horizon, so one big job does not lock out others.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence

from suanli.domain.scheduling.model import QueuedJob
from suanli.errors import InvalidInput
from suanli.i18n import msg

USAGE_HALF_LIFE_S = 7 * 24 * 3600.0  # Slurm's default decay half-life
FAIR_HORIZON_S = 3600.0  # usage a queued job is charged in the fair order, at most
OWNERS_MAX = 1_000_000


CARDS_TOLERANCE = 1e-6  # fractions of cards summed in floating point may miss zero by this much


class DecayedUsage:
    """Per-owner decayed card-seconds; the caller owns the clock. Each owner is brought up to
    date only when it changes or is read, so an event costs O(1), a snapshot O(owners)."""

    def __init__(self, half_life_s: float = USAGE_HALF_LIFE_S, start_s: float = 0.0) -> None:
        if not half_life_s > 0:
            raise InvalidInput(
                msg("`half_life_s` 须为正数", "half_life_s must be positive"), field="half_life_s"
            )
        self.half_life_s = half_life_s
        self.start_s = start_s
        self.usage: dict[str, tuple[float, float]] = {}  # owner -> (value, as of time)
        self.cards: dict[str, float] = {}  # shares of a card count as their fraction

    def value_at(self, owner_id: str, now_s: float) -> float:
        value, at_s = self.usage.get(owner_id, (0.0, self.start_s))
        elapsed = max(0.0, now_s - at_s)
        decay = 0.5 ** (elapsed / self.half_life_s)
        # integral over the step of cards × 2^(-(now - t)/half_life) dt, exact for constant cards
        accrued = self.cards.get(owner_id, 0) * self.half_life_s / math.log(2) * (1 - decay)
        return value * decay + accrued

    def start(self, owner_id: str, cards: float, now_s: float) -> None:
        if owner_id not in self.usage and len(self.usage) >= OWNERS_MAX:
            raise InvalidInput(
                msg("需跟踪的所有者太多", "too many owners to track"), field="owner_id"
            )
        self.usage[owner_id] = (self.value_at(owner_id, now_s), now_s)
        self.cards[owner_id] = self.cards.get(owner_id, 0) + cards

    def stop(self, owner_id: str, cards: float, now_s: float) -> None:
        left = self.cards.get(owner_id, 0) - cards
        if left < -CARDS_TOLERANCE:
            raise InvalidInput(
                msg(
                    f"所有者 {owner_id} 释放的卡多于其占用的卡",
                    f"owner {owner_id} stops more cards than it runs",
                ),
                field="cards",
            )
        self.usage[owner_id] = (self.value_at(owner_id, now_s), now_s)
        self.cards[owner_id] = max(0.0, left)

    def snapshot(self, now_s: float) -> dict[str, float]:
        return {owner: self.value_at(owner, now_s) for owner in self.usage}

    def view(self, now_s: float) -> UsageView:
        """A read-only mapping that computes each owner's usage at `now_s` only when asked:
        a round touches the owners in its window, not every owner ever seen."""
        return UsageView(self, now_s)


class UsageView(Mapping[str, float]):
    def __init__(self, usage: DecayedUsage, now_s: float) -> None:
        self._usage, self._now_s = usage, now_s

    def __getitem__(self, owner_id: str) -> float:
        if owner_id not in self._usage.usage:
            raise KeyError(owner_id)
        return self._usage.value_at(owner_id, self._now_s)

    def __iter__(self) -> Iterator[str]:
        return iter(self._usage.usage)

    def __len__(self) -> int:
        return len(self._usage.usage)


def fair_order(
    jobs: Sequence[QueuedJob],
    usage_by_owner: Mapping[str, float],
    owner_weights: Mapping[str, float],
    horizon_s: float = FAIR_HORIZON_S,
) -> list[QueuedJob]:
    """Higher priority first; within a priority level, weighted max-min progressive filling."""
    levels: dict[int, list[QueuedJob]] = {}
    for job in sorted(jobs, key=lambda j: (j.submitted_at_s, j.id)):
        levels.setdefault(job.spec.priority, []).append(job)
    ordered: list[QueuedJob] = []
    for priority in sorted(levels, reverse=True):
        ordered.extend(_fill(levels[priority], usage_by_owner, owner_weights, horizon_s))
    return ordered


def _fill(
    jobs: list[QueuedJob],
    usage_by_owner: Mapping[str, float],
    owner_weights: Mapping[str, float],
    horizon_s: float,
) -> list[QueuedJob]:
    by_owner: dict[str, deque[QueuedJob]] = {}
    for job in jobs:
        by_owner.setdefault(job.owner_id, deque()).append(job)
    usage = {owner: usage_by_owner.get(owner, 0.0) for owner in by_owner}
    heap = [
        (_share(owner, usage, owner_weights), queued[0].submitted_at_s, owner)
        for owner, queued in by_owner.items()
    ]
    heapq.heapify(heap)
    ordered: list[QueuedJob] = []
    while heap:
        _, _, owner = heapq.heappop(heap)
        job = by_owner[owner].popleft()
        ordered.append(job)
        usage[owner] += job.spec.cards * min(job.expected_reference_runtime_s, horizon_s)
        if by_owner[owner]:
            share = _share(owner, usage, owner_weights)
            heapq.heappush(heap, (share, by_owner[owner][0].submitted_at_s, owner))
    return ordered


def _share(owner: str, usage: Mapping[str, float], weights: Mapping[str, float]) -> float:
    weight = weights.get(owner, 1.0)
    return usage[owner] / weight if weight > 0 else math.inf


def jain_index(values: Sequence[float]) -> float:
    """Jain's fairness index: 1 when all equal, 1/n when one takes everything."""
    total = sum(values)
    squares = sum(v * v for v in values)
    if not values or squares == 0:
        return 1.0
    return total * total / (len(values) * squares)


def decayed_usage_from_lines(
    lines: Iterable[tuple[str, float, float]], now_s: float, half_life_s: float = USAGE_HALF_LIFE_S
) -> dict[str, float]:
    """Decayed card-seconds per owner from finished runs (owner, card-seconds, end time), as the
    live loop rebuilds it from metering: each run counts with weight 0.5^(age / half-life)."""
    usage: dict[str, float] = {}
    for owner_id, card_seconds, ended_s in lines:
        age_s = max(0.0, now_s - ended_s)
        usage[owner_id] = usage.get(owner_id, 0.0) + card_seconds * 0.5 ** (age_s / half_life_s)
    return usage
