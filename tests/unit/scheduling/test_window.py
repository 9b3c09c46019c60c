"""A round's window: one function (`window.round_window`, choosing by `owners_in_turn`) for
the live loop and the simulator, whose queue keeps each enterprise's jobs sorted so the same
choice is read off without sorting the queue each round."""

from __future__ import annotations

import random

import pytest

from suanli.domain.scheduling.model import QueuedJob
from suanli.domain.scheduling.policies import ARRIVAL_ORDER, PRIORITY_ORDER, SHORTEST_ORDER
from suanli.domain.scheduling.window import QUEUE_READ_MAX, arrival_key, round_window
from suanli.simulation.engine import JobQueue
from tests.unit.scheduling.builders import job

ORDERS = (ARRIVAL_ORDER, PRIORITY_ORDER, SHORTEST_ORDER)


def _ids(jobs: list[QueuedJob]) -> list[str]:
    return [queued.id for queued in jobs]


def _live_window(queued: dict[str, QueuedJob], limit: int, order: str) -> list[QueuedJob]:
    """What the live loop does: the oldest QUEUE_READ_MAX (ORDER BY submitted_at, id)."""
    oldest = sorted(queued.values(), key=arrival_key)[:QUEUE_READ_MAX]
    return round_window(oldest, limit, order)


def test_one_tenants_backlog_leaves_room_for_every_other_tenant() -> None:
    backlog = [job(f"a{n}", owner="a", submitted_at_s=float(n)) for n in range(10)]
    others = [job("b0", owner="b", submitted_at_s=20.0), job("c0", owner="c", submitted_at_s=30.0)]
    window = round_window([*backlog, *others], 4, ARRIVAL_ORDER)
    assert _ids(window) == ["a0", "a1", "b0", "c0"]  # a's oldest, then each in turn


def test_the_oldest_job_stays_in_view_and_each_tenant_brings_its_shortest() -> None:
    queue = [job("old", owner="a", submitted_at_s=0.0, runtime_s=9000.0)]
    queue += [
        job(f"a{n}", owner="a", submitted_at_s=1.0 + n, runtime_s=100.0 - n) for n in range(5)
    ]
    queue += [
        job(f"b{n}", owner="b", submitted_at_s=10.0 + n, runtime_s=50.0 + n) for n in range(5)
    ]
    window = round_window(queue, 4, SHORTEST_ORDER)
    assert _ids(window) == ["old", "a3", "a4", "b0"]  # old, then a4, b0, a3; by arrival


@pytest.mark.parametrize("seed", range(8))
def test_the_simulators_queue_picks_what_the_live_loop_picks_through_adds_and_pops(
    seed: int,
) -> None:
    rng = random.Random(seed)
    queue, queued = JobQueue(), dict[str, QueuedJob]()
    for step in range(400):
        if queued and rng.random() < 0.35:
            gone = rng.choice(sorted(queued))
            assert queue.pop(gone) is queued.pop(gone)
        else:
            new = job(
                f"j{step}",
                owner=f"t{rng.randrange(5)}",
                submitted_at_s=float(rng.randrange(60)),  # ties: broken by id, as live
                runtime_s=float(rng.randrange(1, 20)),
                priority=rng.choice((20, 50, 80)),
            )
            queue.add(new)
            queued[new.id] = new
        for order in ORDERS:
            for limit in (1, 5, 40):
                expected = _ids(_live_window(queued, limit, order))
                assert _ids(queue.window(order, limit)) == expected, (step, order, limit)


@pytest.mark.parametrize("order", ORDERS)
def test_past_the_read_bound_the_simulator_looks_no_further_than_the_live_loop(
    order: str,
) -> None:
    early = [job(f"a{n:05d}", owner="a", submitted_at_s=float(n)) for n in range(QUEUE_READ_MAX)]
    late = [job(f"z{n}", owner="z", submitted_at_s=1e6 + n, runtime_s=1.0) for n in range(3)]
    queue = JobQueue()
    for queued in [*late, *early]:
        queue.add(queued)
    window = queue.window(order, 256)
    assert _ids(window) == _ids(_live_window({j.id: j for j in [*early, *late]}, 256, order))
    assert not any(queued.owner_id == "z" for queued in window)  # beyond the oldest 5,000
