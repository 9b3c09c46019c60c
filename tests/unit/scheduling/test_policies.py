"""Every policy on hand-built cases: heterogeneity, objectives, backfill, gangs, preemption,
fair share, and purity."""

from __future__ import annotations

from typing import Any

import pytest

from suanli.domain.scheduling.model import ClusterState, Placement, QueuedJob
from suanli.domain.scheduling.policies import (
    SHORTEST_ORDER,
    PolicyOptions,
    ShortestBackfillPolicy,
    get_policy,
    policy_names,
)
from suanli.errors import InvalidInput
from suanli.simulation.engine import JobQueue
from tests.unit.scheduling.builders import chip, job, running, view

# compute-bound for cv-train-fp32 (40 FLOP/byte × 2 TB/s = 80 TFLOPS > both compute roofs)
FAST = chip("Fast-A", fp32=30.0, bandwidth_gbs=2000.0)
SLOW = chip("Slow-B", fp32=10.0, bandwidth_gbs=2000.0)
CV = "cv-train-fp32"  # 3x faster on FAST
MIDDLE = chip("Middle-C", fp32=20.0, bandwidth_gbs=2000.0)


def _fleet() -> ClusterState:
    """Slow and cheap listed first, fast and dear second."""
    return ClusterState.empty((view("slow", SLOW, price=100), view("fast", FAST, price=1000)))


def _train(job_id: str = "j", **fields: Any) -> QueuedJob:
    fields.setdefault("job_class", CV)
    return job(job_id, runtime_s=3 * 3600.0, reference="Slow-B", **fields)


def _pools(placements: list[Placement]) -> dict[str, str]:
    return {p.job_id: p.pool_id for p in placements}


def test_policy_names_are_exactly_the_six_documented_ones() -> None:
    assert policy_names() == (
        "fifo-first-fit",
        "fifo-backfill",
        "cheapest",
        "fastest",
        "balanced",
        "fair",
        "shortest-first",
        "shortest-backfill",
        "earliest-finish",
    )


def test_an_unknown_policy_is_invalid_input_naming_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="fifo-first-fit, fifo-backfill, cheapest"):
        get_policy("round-robin")


def test_fastest_sends_a_job_3x_faster_on_chip_a_to_chip_a() -> None:
    placements = get_policy("fastest").place(_fleet(), [_train()], 0.0)
    assert _pools(placements) == {"j": "fast"}
    assert placements[0].expected_runtime_s == pytest.approx(3600.0)


def test_cheapest_takes_the_slow_chip_when_it_costs_less_per_job() -> None:
    # slow: 100 fen × 3 h = 300; fast: 1000 fen × 1 h = 1000
    assert _pools(get_policy("cheapest").place(_fleet(), [_train()], 0.0)) == {"j": "slow"}


def test_cheapest_takes_the_fast_chip_when_speed_outweighs_its_price() -> None:
    state = ClusterState.empty((view("slow", SLOW, price=500), view("fast", FAST, price=1000)))
    # slow: 500 × 3 h = 1500; fast: 1000 × 1 h = 1000
    assert _pools(get_policy("cheapest").place(state, [_train()], 0.0)) == {"j": "fast"}


def test_fifo_first_fit_takes_the_first_pool_in_fleet_order() -> None:
    assert _pools(get_policy("fifo-first-fit").place(_fleet(), [_train()], 0.0)) == {"j": "slow"}


def test_balanced_minimises_cost_times_time() -> None:
    state = ClusterState.empty(
        (
            view("fast", FAST, price=1000),  # cost 1000, 1 h -> 1000
            view("slow", SLOW, price=100),  # cost 300, 3 h -> 900
            view("middle", MIDDLE, price=200),  # cost 300, 1.5 h -> 450
        )
    )
    assert _pools(get_policy("balanced").place(state, [_train()], 0.0)) == {"j": "middle"}


def test_balanced_with_full_cost_weight_is_cheapest() -> None:
    state = ClusterState.empty((view("middle", MIDDLE, price=200), view("slow", SLOW, price=90)))
    policy = get_policy("balanced", options=PolicyOptions(cost_weight=1.0))
    assert _pools(policy.place(state, [_train()], 0.0)) == {"j": "slow"}


def test_a_job_objective_overrides_the_policy_default() -> None:
    wants_time = _train("t", objective="time")
    wants_cost = _train("c", objective="cost")
    assert _pools(get_policy("cheapest").place(_fleet(), [wants_time], 0.0)) == {"t": "fast"}
    assert _pools(get_policy("fastest").place(_fleet(), [wants_cost], 0.0)) == {"c": "slow"}


def test_a_deadline_picks_the_cheapest_pool_that_meets_it() -> None:
    state = ClusterState.empty(
        (
            view("slow", SLOW, price=100),  # 3 h: misses a 2 h deadline
            view("middle", MIDDLE, price=300),  # 1.5 h, cost 450
            view("fast", FAST, price=1000),  # 1 h, cost 1000
        )
    )
    urgent = _train("d", objective="deadline", deadline_s=2 * 3600)
    assert _pools(get_policy("balanced").place(state, [urgent], 0.0)) == {"d": "middle"}


def test_a_budget_excludes_pools_that_would_cost_more() -> None:
    limited = _train("b", objective="time", budget_fen=500)  # fast would cost 1000
    assert _pools(get_policy("fastest").place(_fleet(), [limited], 0.0)) == {"b": "slow"}


def test_a_budget_no_pool_meets_places_nothing() -> None:
    broke = _train("b", budget_fen=10)
    for name in policy_names():
        assert get_policy(name).place(_fleet(), [broke], 0.0) == []


def test_fifo_blocks_behind_a_head_job_that_does_not_fit() -> None:
    state = ClusterState.empty((view("pool", FAST, cards_per_node=8),))
    running(state, "busy", "pool", ((0, 4),), end_s=100.0)
    queue = [job("big", cards=8, submitted_at_s=0.0), job("small", submitted_at_s=1.0)]
    assert get_policy("fifo-first-fit").place(state, queue, 0.0) == []


def test_fifo_skips_a_job_no_pool_could_ever_run() -> None:
    state = ClusterState.empty((view("pool", FAST, cards_per_node=8),))
    queue = [job("huge", cards=16, submitted_at_s=0.0), job("small", submitted_at_s=1.0)]
    assert _pools(get_policy("fifo-first-fit").place(state, queue, 0.0)) == {"small": "pool"}


def test_backfill_starts_a_short_job_that_ends_before_the_reservation() -> None:
    state = ClusterState.empty((view("pool", FAST, cards_per_node=8),))
    running(state, "busy", "pool", ((0, 6),), end_s=100.0)
    queue = [
        job("head", cards=8, submitted_at_s=0.0),
        job("short", runtime_s=50.0, submitted_at_s=1.0, reference="Fast-A"),
        job("long", runtime_s=500.0, submitted_at_s=2.0, reference="Fast-A"),
    ]
    assert _pools(get_policy("cheapest").place(state, queue, 0.0)) == {"short": "pool"}


def test_fifo_backfill_starts_the_short_job_in_arrival_order_on_the_first_pool() -> None:
    # the same queue: plain FIFO blocks behind the head; FIFO with EASY backfill starts the
    # short job (ends before the head's reservation) and holds the long one back
    state = ClusterState.empty((view("slow", SLOW, cards_per_node=8), view("fast", FAST)))
    running(state, "busy", "slow", ((0, 6),), end_s=100.0)
    running(state, "busy2", "fast", ((0, 8),), end_s=100.0)
    queue = [
        job("head", cards=8, submitted_at_s=0.0),
        job("short", runtime_s=50.0, submitted_at_s=1.0, reference="Slow-B"),
        job("long", runtime_s=500.0, submitted_at_s=2.0, reference="Slow-B"),
    ]
    assert get_policy("fifo-first-fit").place(state, queue, 0.0) == []
    assert _pools(get_policy("fifo-backfill").place(state, queue, 0.0)) == {"short": "slow"}


def test_shortest_first_starts_the_shortest_queued_job() -> None:
    state = ClusterState.empty((view("pool", FAST, cards_per_node=8),))
    running(state, "busy", "pool", ((0, 7),), end_s=100.0)
    queue = [
        job("long", runtime_s=500.0, submitted_at_s=0.0, reference="Fast-A"),
        job("short", runtime_s=50.0, submitted_at_s=1.0, reference="Fast-A"),
    ]
    assert _pools(get_policy("fastest").place(state, queue, 0.0)) == {"long": "pool"}
    assert _pools(get_policy("shortest-first").place(state, queue, 0.0)) == {"short": "pool"}


def test_shortest_first_sees_a_short_job_behind_a_backlog_deeper_than_its_window() -> None:
    # one free card, a window of 4, five old long jobs queued before one short one: the
    # oldest-first window would never show the short job; the shortest window does
    state = ClusterState.empty((view("pool", FAST, cards_per_node=8),))
    running(state, "busy", "pool", ((0, 7),), end_s=100.0)
    queue = [
        job(f"old{i}", runtime_s=1000.0 + i, submitted_at_s=float(i), reference="Fast-A")
        for i in range(5)
    ]
    queue.append(job("short", runtime_s=10.0, submitted_at_s=9.0, reference="Fast-A"))
    options = PolicyOptions(queue_scan_max=4)
    assert _pools(get_policy("shortest-first", None, options).place(state, queue, 0.0)) == {
        "short": "pool"
    }
    assert _pools(get_policy("fastest", None, options).place(state, queue, 0.0)) == {"old0": "pool"}


def test_shortest_backfill_reserves_for_the_oldest_job_and_never_delays_it() -> None:
    # 8 cards, 4 busy until t=100; the old job needs all 8, the short one 4 for 500 s
    state = ClusterState.empty((view("pool", FAST, cards_per_node=8),))
    running(state, "busy", "pool", ((0, 4),), end_s=100.0)
    queue = [
        job("old", cards=8, runtime_s=1000.0, submitted_at_s=0.0, reference="Fast-A"),
        job("short", cards=4, runtime_s=500.0, submitted_at_s=1.0, reference="Fast-A"),
    ]
    # shortest-first starts the short job and pushes the old one's start from 100 s to 500 s
    assert _pools(get_policy("shortest-first").place(state, queue, 0.0)) == {"short": "pool"}
    assert get_policy("shortest-backfill").place(state, queue, 0.0) == []
    # a short job that ends before the reservation still backfills
    quick = job("quick", cards=4, runtime_s=50.0, submitted_at_s=2.0, reference="Fast-A")
    placed = get_policy("shortest-backfill").place(state, [*queue, quick], 0.0)
    assert _pools(placed) == {"quick": "pool"}


def test_the_shortest_window_keeps_the_oldest_job_in_view() -> None:
    state = ClusterState.empty((view("pool", FAST, cards_per_node=8),))
    running(state, "busy", "pool", ((0, 8),), end_s=100.0)
    queue = [job("old", runtime_s=9000.0, submitted_at_s=0.0)]
    queue += [job(f"s{i}", runtime_s=float(i + 1), submitted_at_s=1.0) for i in range(5)]
    window = ShortestBackfillPolicy(None, PolicyOptions(queue_scan_max=3)).window(queue)
    assert [j.id for j in window] == ["old", "s0", "s1"]
    engine_queue = JobQueue()
    for queued in queue:
        engine_queue.add(queued)
    assert [j.id for j in engine_queue.window(SHORTEST_ORDER, 3)] == ["old", "s0", "s1"]


def test_earliest_finish_waits_for_a_fast_pool_that_frees_soon() -> None:
    # the fast chip is 3× faster for cv-train-fp32 and frees in 10 minutes: a 3-hour job
    # finishes sooner by waiting (10 min + 1 h) than on the free slow chip (3 h)
    state = _fleet()
    running(state, "busy", "fast", ((0, 8),), end_s=600.0)
    queue = [_train("j")]
    assert _pools(get_policy("fastest").place(state, queue, 0.0)) == {"j": "slow"}
    assert get_policy("earliest-finish").place(state, queue, 0.0) == []
    # when the fast chip frees only in 5 hours, starting now on the slow one is sooner
    later = _fleet()
    running(later, "busy", "fast", ((0, 8),), end_s=5 * 3600.0)
    assert _pools(get_policy("earliest-finish").place(later, queue, 0.0)) == {"j": "slow"}


def test_earliest_finish_sees_the_cards_an_earlier_job_of_the_round_took() -> None:
    # a round remembers the fast chip's earliest start per job shape until it places a job:
    # "first" would wait 10 minutes for the fast chip; "small" then takes its 4 free cards
    # for 3 h, so "second" (first's shape) would wait until 3 h + 1 h there, later than its
    # 3 h on the free slow chip, and starts now (no backfill: first's reservation would hold
    # the fast chip's cards from "small")
    state = ClusterState.empty((view("slow", SLOW), view("fast", FAST)))
    running(state, "busy", "fast", ((0, 4),), end_s=600.0)
    queue = [
        _train("first", cards=8, priority=60),
        job("small", cards=4, runtime_s=9 * 3600.0, reference="Slow-B", priority=55, job_class=CV),
        _train("second", cards=8),
    ]
    policy = get_policy("earliest-finish", options=PolicyOptions(backfill=False))
    assert _pools(policy.place(state, queue, 0.0)) == {"small": "fast", "second": "slow"}


def test_backfill_uses_nodes_the_reserved_job_will_not_need() -> None:
    state = ClusterState.empty((view("pool", FAST, nodes=3, cards_per_node=4),))
    running(state, "a", "pool", ((1, 4),), end_s=100.0)
    running(state, "b", "pool", ((2, 4),), end_s=100.0)
    queue = [
        job("gang", cards=8, cards_per_node=4, submitted_at_s=0.0),  # needs nodes 1 and 2
        job("long", cards=4, runtime_s=1000.0, submitted_at_s=1.0, reference="Fast-A"),
    ]
    assert _pools(get_policy("fastest").place(state, queue, 0.0)) == {"long": "pool"}


def test_backfill_on_another_pool_is_never_held_back() -> None:
    state = ClusterState.empty(
        (view("big", FAST, cards_per_node=8), view("other", SLOW, cards_per_node=1))
    )
    running(state, "busy", "big", ((0, 4),), end_s=100.0)
    queue = [job("head", cards=8), job("long", runtime_s=10_000.0, submitted_at_s=1.0)]
    assert _pools(get_policy("fastest").place(state, queue, 0.0)) == {"long": "other"}


def test_a_gang_gets_all_its_nodes_at_once_or_none() -> None:
    state = ClusterState.empty((view("pool", FAST, nodes=3, cards_per_node=4),))
    running(state, "a", "pool", ((0, 1),))
    running(state, "b", "pool", ((1, 1),))
    gang = job("gang", cards=8, cards_per_node=4)
    assert get_policy("fastest").place(state, [gang], 0.0) == []  # only node 2 has 4 free
    state.release("pool", ((1, 1),))
    placements = get_policy("fastest").place(state, [gang], 0.0)
    assert placements[0].node_cards == ((1, 4), (2, 4))


def test_a_higher_priority_job_preempts_a_lower_priority_preemptible_one() -> None:
    state = ClusterState.empty((view("pool", FAST, cards_per_node=8),))
    running(state, "low", "pool", ((0, 8),), priority=10, preemptible=True)
    urgent = job("urgent", cards=8, priority=80, reference="Fast-A")
    placements = get_policy("fastest").place(state, [urgent], 0.0)
    assert placements == [
        Placement("urgent", "pool", ((0, 8),), preempts=("low",), expected_runtime_s=3600.0)
    ]


def test_preemption_stops_only_the_victims_on_the_nodes_it_takes() -> None:
    state = ClusterState.empty((view("pool", FAST, nodes=2, cards_per_node=4),))
    running(state, "a", "pool", ((0, 4),), priority=10, preemptible=True, started_at_s=5.0)
    running(state, "b", "pool", ((1, 2),), priority=10, preemptible=True, started_at_s=1.0)
    running(state, "c", "pool", ((1, 2),), priority=10, preemptible=True, started_at_s=2.0)
    placements = get_policy("cheapest").place(state, [job("urgent", cards=4, priority=90)], 0.0)
    assert placements[0].preempts == ("a",)  # one victim beats two


def test_no_preemption_of_non_preemptible_or_equal_priority_jobs() -> None:
    state = ClusterState.empty((view("pool", FAST, cards_per_node=8),))
    running(state, "firm", "pool", ((0, 4),), priority=10, preemptible=False)
    running(state, "peer", "pool", ((0, 4),), priority=80, preemptible=True)
    assert get_policy("fastest").place(state, [job("urgent", cards=8, priority=80)], 0.0) == []


def test_fifo_first_fit_never_preempts() -> None:
    state = ClusterState.empty((view("pool", FAST, cards_per_node=8),))
    running(state, "low", "pool", ((0, 8),), priority=10, preemptible=True)
    assert get_policy("fifo-first-fit").place(state, [job("u", cards=8, priority=90)], 0.0) == []


def test_higher_priority_goes_first_when_there_is_room_for_one() -> None:
    state = ClusterState.empty((view("pool", FAST, cards_per_node=1),))
    queue = [job("early", submitted_at_s=0.0), job("vip", submitted_at_s=5.0, priority=90)]
    for name in ("cheapest", "fastest", "balanced", "fair"):
        assert _pools(get_policy(name).place(state, queue, 10.0)) == {"vip": "pool"}
    assert _pools(get_policy("fifo-first-fit").place(state, queue, 10.0)) == {"early": "pool"}


def test_fair_serves_the_enterprise_with_less_decayed_usage_first() -> None:
    state = ClusterState.empty((view("pool", FAST, cards_per_node=1),))
    state.usage_by_owner = {"heavy": 1e6, "light": 10.0}
    queue = [
        job("heavy-job", owner="heavy", submitted_at_s=0.0),
        job("light-job", owner="light", submitted_at_s=5.0),
    ]
    assert _pools(get_policy("fair").place(state, queue, 10.0)) == {"light-job": "pool"}
    assert _pools(get_policy("cheapest").place(state, queue, 10.0)) == {"heavy-job": "pool"}


def test_fair_weights_scale_an_enterprise_share() -> None:
    state = ClusterState.empty((view("pool", FAST, cards_per_node=1),))
    state.usage_by_owner = {"big": 300.0, "small": 100.0}
    state.owner_weights = {"big": 5.0}  # 300 / 5 = 60 < 100 / 1
    queue = [job("s", owner="small"), job("b", owner="big", submitted_at_s=1.0)]
    assert _pools(get_policy("fair").place(state, queue, 10.0)) == {"b": "pool"}


def test_fair_interleaves_owners_by_progressive_filling() -> None:
    state = ClusterState.empty((view("pool", FAST, cards_per_node=4),))
    queue = [job(f"a{i}", owner="a", submitted_at_s=i) for i in range(3)]
    queue += [job("b0", owner="b", submitted_at_s=10.0)]
    placed = [p.job_id for p in get_policy("fair").place(state, queue, 20.0)]
    assert placed[:2] == ["a0", "b0"]


@pytest.mark.parametrize("name", policy_names())
def test_a_policy_does_not_mutate_the_state_it_reads(name: str) -> None:
    state = ClusterState.empty((view("pool", FAST, nodes=2, cards_per_node=4),))
    running(state, "low", "pool", ((0, 4),), priority=10, preemptible=True)
    before = ({k: list(v) for k, v in state.free_per_node.items()}, state.free_cards.tolist())
    queue = [job("a", cards=4, priority=90), job("b", cards=4), job("c")]
    get_policy(name).place(state, queue, 0.0)
    after = ({k: list(v) for k, v in state.free_per_node.items()}, state.free_cards.tolist())
    assert before == after
    assert set(state.running_jobs()) == {"low"}


def test_a_round_never_places_more_cards_than_are_free() -> None:
    state = ClusterState.empty((view("pool", FAST, nodes=2, cards_per_node=4),))
    queue = [job(f"j{i}", cards=2, submitted_at_s=i) for i in range(10)]
    placements = get_policy("fastest").place(state, queue, 0.0)
    assert sum(p.cards for p in placements) == 8
    for placement in placements:
        state.apply(placement)
    assert state.free_cards_total() == 0


def test_a_job_blocked_by_its_budget_does_not_block_an_identical_job_without_one() -> None:
    queue = [_train("broke", budget_fen=10), _train("rich", submitted_at_s=1.0)]
    for name in ("cheapest", "fastest", "balanced", "fair"):
        assert set(_pools(get_policy(name).place(_fleet(), queue, 0.0))) == {"rich"}
