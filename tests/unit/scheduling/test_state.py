"""Cluster state bookkeeping, node allocation, decayed usage and Jain's index."""

from __future__ import annotations

import math

import pytest

from suanli.domain.jobs import JobSpec
from suanli.domain.scheduling.fairness import DecayedUsage, jain_index
from suanli.domain.scheduling.model import ClusterState, Placement
from suanli.domain.scheduling.placement import allocate_nodes
from suanli.errors import InvalidInput
from tests.unit.scheduling.builders import running, view


def _spec(cards: int, per_node: int) -> JobSpec:
    return JobSpec(name="j", command="c", cards=cards, cards_per_node=per_node)


def test_allocation_prefers_the_fullest_node_that_still_fits() -> None:
    assert allocate_nodes([4, 2, 3], _spec(2, 2)) == ((1, 2),)


def test_a_gang_gets_all_its_nodes_or_nothing() -> None:
    assert allocate_nodes([4, 1, 4], _spec(8, 4)) == ((0, 4), (2, 4))
    assert allocate_nodes([4, 1, 3], _spec(8, 4)) == ()


def test_apply_refuses_to_over_allocate_a_node() -> None:
    state = ClusterState.empty((view("p", "H100", nodes=1, cards_per_node=4),))
    state.apply(Placement("a", "p", ((0, 3),)))
    with pytest.raises(InvalidInput, match="over-allocates"):
        state.apply(Placement("b", "p", ((0, 2),)))
    assert state.free_per_node["p"] == [1] and state.free_cards.tolist() == [1]


def test_release_refuses_to_exceed_a_node_capacity() -> None:
    state = ClusterState.empty((view("p", "H100", nodes=1, cards_per_node=4),))
    with pytest.raises(InvalidInput, match="capacity"):
        state.release("p", ((0, 1),))


def test_vectors_follow_apply_and_release() -> None:
    state = ClusterState.empty((view("p", "H100", nodes=2, cards_per_node=4),))
    state.apply(Placement("a", "p", ((0, 4), (1, 1))))
    assert (state.free_cards.tolist(), state.max_free.tolist()) == ([3], [3])
    state.release("p", ((0, 4),))
    assert (state.free_cards.tolist(), state.max_free.tolist()) == ([7], [4])


def test_running_jobs_are_indexed_by_pool_end_and_victim_order() -> None:
    state = ClusterState.empty((view("p", "H100", nodes=2, cards_per_node=4),))
    running(state, "late", "p", ((0, 1),), end_s=900.0, preemptible=True, priority=20)
    running(state, "soon", "p", ((1, 1),), end_s=100.0, preemptible=True, priority=10)
    assert [job_id for _, job_id in state.ends_in(0)] == ["soon", "late"]
    assert [entry[2] for entry in state.victims_in(0)] == ["soon", "late"]
    assert state.lowest_preemptible_priority() == 10
    state.remove_running("soon")
    assert state.lowest_preemptible_priority() == 20


def test_reassigning_running_as_the_live_loop_does_rebuilds_the_index() -> None:
    state = ClusterState.empty((view("p", "H100"),))
    job = running(state, "a", "p", ((0, 1),))
    state.running = (job,)
    assert list(state.running_jobs()) == ["a"] and len(state.running_in(0)) == 1


def test_free_per_node_must_match_the_pool_shape() -> None:
    views = (view("p", "H100", nodes=2, cards_per_node=4),)
    with pytest.raises(InvalidInput, match="malformed"):
        ClusterState(views, {"p": [4]})
    with pytest.raises(InvalidInput, match="more free cards"):
        ClusterState(views, {"p": [4, 5]})


def test_decayed_usage_integrates_running_cards_with_a_half_life() -> None:
    usage = DecayedUsage(half_life_s=100.0)
    usage.start("acme", 2, 0.0)
    usage.stop("acme", 2, 100.0)
    expected = 2 * 100.0 / math.log(2) * 0.5  # ∫0..100 of 2 × 2^-(100-t)/100 dt
    assert usage.snapshot(100.0)["acme"] == pytest.approx(expected)
    assert usage.snapshot(200.0)["acme"] == pytest.approx(expected / 2)


def test_decayed_usage_refuses_to_stop_more_cards_than_run() -> None:
    usage = DecayedUsage()
    usage.start("acme", 1, 0.0)
    with pytest.raises(InvalidInput):
        usage.stop("acme", 2, 1.0)


def test_jain_index_is_one_when_equal_and_one_over_n_when_one_takes_all() -> None:
    assert jain_index([3.0, 3.0, 3.0]) == pytest.approx(1.0)
    assert jain_index([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)


def test_the_lazy_usage_view_reads_like_a_snapshot() -> None:
    usage = DecayedUsage(half_life_s=50.0)
    usage.start("a", 3, 0.0)
    usage.start("b", 1, 10.0)
    view = usage.view(40.0)
    assert dict(view) == pytest.approx(usage.snapshot(40.0))
    assert view.get("nobody", 0.0) == 0.0
