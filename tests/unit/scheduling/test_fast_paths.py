"""The decision path's fast paths decide exactly as the plain implementations kept here.

Issue 18 asks for speed without a changed decision: the simulator shares this code, so a
different pool, node or card for any job would make the published packing figures stale.
Each reference below is the straightforward version a fast path replaced; the test runs the
benchmark's own decision loops once as shipped and once with the references patched in, on
a seeded fleet and queue with shares, host limits, closed and unavailable pools, and asks
for the same placements, job for job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from suanli.domain.scheduling.feasibility import has_room
from suanli.domain.scheduling.matrix import IntArray
from suanli.domain.scheduling.model import ClusterState, Placement, PoolView, QueuedJob
from suanli.domain.scheduling.performance import PerformanceModel
from suanli.domain.scheduling.placement import Scratch
from suanli.domain.scheduling.policies import PolicyOptions, Round, RoundPolicy, get_policy
from suanli.simulation.bench import timed_decisions, timed_rounds, with_shares
from suanli.simulation.synthetic import synthetic_fleet, synthetic_workload

Decision = tuple[object, ...]


# ---- the references: the plain versions of what the fast paths replaced ------------------


def reference_first_with_room(self: Round, job: QueuedJob, order: IntArray) -> int:
    """Every pool of the order at once: the first with room."""
    scratch = self.scratch
    fits = has_room(
        job.spec,
        scratch.free_cards[order],
        scratch.max_free[order],
        scratch.share_max[order],
    )
    return int(order[fits.argmax()]) if fits.any() else -1


def reference_decide(
    self: RoundPolicy, round_: Round, job: QueuedJob, last: bool = False
) -> Placement | None:
    """The scratch learns of every placement and reservation, the round's last one too."""
    placement = self.start_now(round_, job)
    if placement is None and self.options.preemption:
        placement = self.preempt(round_, job)
    if placement is None:
        self.reserve_for(round_, job)
        return None
    round_.commit(placement, round_.state.pool_index(placement.pool_id))
    return placement


REFERENCES: tuple[tuple[object, str, Callable[..., Any]], ...] = (
    (Round, "first_with_room", reference_first_with_room),
    (RoundPolicy, "decide", reference_decide),
)


# ---- a fleet and a queue that reach every branch ------------------------------------------


def _fleet(pools: int, seed: int) -> tuple[PoolView, ...]:
    """The benchmark's fleet; every third pool declares host CPU and memory, every seventh
    takes whole cards only, every thirteenth is unreachable."""
    views = []
    for number, found in enumerate(synthetic_fleet(pools, seed).pools):
        pool = found.pool
        if number % 3 == 0:
            pool = replace(pool, cpus_per_node=32 + 16 * (number % 4), host_memory_gib_per_node=256)
        if number % 7 == 0:
            pool = replace(pool, shareable=False)
        views.append(PoolView(pool, found.accelerator, available=number % 13 != 5))
    return tuple(views)


def _queue(jobs: int, seed: int) -> tuple[QueuedJob, ...]:
    """The benchmark's queue (a third shares); every fifth job asks for host CPU and memory."""
    queue = with_shares(synthetic_workload(jobs, seed).jobs, 1 / 3, seed)
    return tuple(
        replace(job, spec=replace(job.spec, cpus=8 * (1 + n % 3), host_memory_gib=40.0))
        if n % 5 == 0
        else job
        for n, job in enumerate(queue)
    )


class _Recording:
    """The policy, with every placement it returns written down."""

    def __init__(self, name: str, options: PolicyOptions) -> None:
        self.policy = get_policy(name, options=options)
        self.name = name
        self.placed: list[Decision] = []

    def place(
        self, state: ClusterState, queue: Sequence[QueuedJob], now_s: float
    ) -> list[Placement]:
        placements = self.policy.place(state, queue, now_s)
        self.placed.extend(
            (p.job_id, p.pool_id, p.node_cards, p.share, p.preempts, p.expected_runtime_s, p.host)
            for p in placements
        )
        return placements


def _decisions(name: str, options: PolicyOptions, rounds: bool, seed: int) -> list[Decision]:
    pools, queue = _fleet(400, seed), _queue(2_000, seed)
    recording = _Recording(name, options)
    if rounds:
        timed_rounds(ClusterState.empty(pools), queue, recording)
    else:
        timed_decisions(ClusterState.empty(pools), queue, recording)
    return recording.placed


SETUPS = [
    ("fastest", "suanli", False, False, 0),
    ("fastest", "suanli", False, True, 1),
    ("cheapest", "suanli", True, False, 2),
    ("balanced", "fgd", False, True, 3),
    ("shortest-backfill", "suanli", True, True, 4),
    ("earliest-finish", "best-fit", False, False, 5),
    ("fifo-first-fit", "gpu-packing", True, True, 6),
]


@pytest.mark.parametrize(("name", "packing", "whole_cards", "rounds", "seed"), SETUPS)
def test_the_fast_paths_place_every_job_where_the_references_do(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    packing: str,
    whole_cards: bool,
    rounds: bool,
    seed: int,
) -> None:
    options = PolicyOptions(packing=packing, packing_whole_cards=whole_cards)
    fast = _decisions(name, options, rounds, seed)
    calls: dict[str, int] = {}
    with monkeypatch.context() as patched:
        for owner, attribute, function in REFERENCES:
            patched.setattr(owner, attribute, _counted(calls, attribute, function))
        slow = _decisions(name, options, rounds, seed)
    assert len(fast) > 1_000 and any(decision[3] is not None for decision in fast)
    assert fast == slow
    assert set(calls) == {attribute for _, attribute, _ in REFERENCES}


def _counted(calls: dict[str, int], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        calls[name] = calls.get(name, 0) + 1
        return function(*args, **kwargs)

    return call


@pytest.mark.parametrize("seed", range(4))
def test_first_with_room_finds_the_first_pool_at_any_depth(seed: int) -> None:
    """Orders deeper than every slice, room anywhere or nowhere, each kind of job."""
    rng = np.random.default_rng(seed)
    pools = synthetic_fleet(6_000, seed).pools
    round_ = Round(ClusterState.empty(pools), PerformanceModel(), 0.0)
    scratch: Scratch = round_.scratch
    jobs = _queue(200, seed)
    for trial in range(60):
        busy = rng.random(len(pools)) < rng.choice([0.5, 0.99, 0.9999, 1.0])
        scratch.max_free = np.where(busy, 0, rng.integers(0, 9, len(pools)))
        scratch.free_cards = scratch.max_free * rng.integers(1, 4, len(pools))
        scratch.share_max = np.where(busy, 0, rng.integers(0, 1000, len(pools)))
        order = rng.permutation(len(pools))[: rng.integers(1, len(pools))]
        job = jobs[trial % len(jobs)]
        assert round_.first_with_room(job, order) == reference_first_with_room(round_, job, order)
