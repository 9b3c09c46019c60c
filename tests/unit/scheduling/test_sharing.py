"""Shares of a card: validation, feasibility, best fit on the card, and the free-milli books."""

from __future__ import annotations

import pytest

from suanli.domain.jobs import JobSpec
from suanli.domain.money import price_card_seconds, price_milli_card_seconds
from suanli.domain.scheduling.feasibility import (
    capacity_mask,
    explain_unplaceable,
    is_feasible,
    static_mask,
)
from suanli.domain.scheduling.model import CardShare, ClusterState, Placement
from suanli.domain.scheduling.placement import allocate_share
from suanli.domain.scheduling.policies import get_policy, policy_names
from suanli.errors import InvalidInput
from tests.unit.scheduling.builders import job, view


def _share(milli: int) -> JobSpec:
    return JobSpec(name="s", command="c", card_milli=milli)


@pytest.mark.parametrize("milli", [0, -1, 1001, True, 2.5])
def test_card_milli_outside_1_to_1000_names_the_field(milli: object) -> None:
    with pytest.raises(InvalidInput) as raised:
        JobSpec(name="s", command="c", card_milli=milli)  # type: ignore[arg-type]
    assert raised.value.field == "card_milli"


def test_card_milli_with_several_cards_names_the_field() -> None:
    with pytest.raises(InvalidInput) as raised:
        JobSpec(name="s", command="c", cards=2, card_milli=500)
    assert raised.value.field == "card_milli"


def test_a_thousand_milli_is_one_whole_card() -> None:
    spec = _share(1000)
    assert not spec.fractional and spec.card_milli is None and spec.milli_cards == 1000
    assert _share(470).milli_cards == 470
    assert JobSpec(name="w", command="c", cards=4).milli_cards == 4000


def test_a_share_is_refused_by_a_pool_that_is_not_shareable() -> None:
    closed = view("training", "H100", shareable=False)
    assert not is_feasible(_share(500), closed)
    assert is_feasible(JobSpec(name="w", command="c"), closed)
    state = ClusterState.empty((closed,))
    assert static_mask(_share(500), state.matrix).tolist() == [False]
    reasons = [reason.en for reason in explain_unplaceable(_share(500), [closed])]
    assert reasons == [
        "no pool offers a share of a card (500/1000 card; pools marked shareable: false "
        "take whole-card jobs only)"
    ]


def test_host_cpus_and_memory_are_checked_where_the_pool_declares_them() -> None:
    small = view("small", "H100", cpus_per_node=16, host_memory_gib_per_node=128)
    silent = view("silent", "H100")
    wants = JobSpec(name="w", command="c", cpus=32, host_memory_gib=64)
    assert not is_feasible(wants, small) and is_feasible(wants, silent)
    assert is_feasible(JobSpec(name="w", command="c", cpus=16, host_memory_gib=128), small)


def test_best_fit_puts_a_share_on_the_fullest_card_it_fits() -> None:
    state = ClusterState.empty((view("p", "H100", nodes=2, cards_per_node=2),))
    state.apply(Placement("a", "p", (), share=CardShare(0, 0, 500)))  # card (0,0): 500 free
    state.apply(Placement("b", "p", (), share=CardShare(1, 0, 700)))  # card (1,0): 300 free
    assert state.free_per_node["p"] == [1, 1] and state.shared[0] == {(0, 0): 500, (1, 0): 300}
    assert allocate_share(state.node_free[0], state.shared[0], 250) == CardShare(1, 0, 250)
    assert allocate_share(state.node_free[0], state.shared[0], 450) == CardShare(0, 0, 450)
    # nothing shared fits 600: a fully free card opens on the fullest node (first on ties)
    assert allocate_share(state.node_free[0], state.shared[0], 600) == CardShare(0, 1, 600)


def test_whole_card_jobs_need_fully_free_cards() -> None:
    state = ClusterState.empty((view("p", "H100", cards_per_node=1),))
    state.apply(Placement("a", "p", (), share=CardShare(0, 0, 100)))
    whole, share = JobSpec(name="w", command="c"), _share(900)
    args = (state.matrix, state.free_cards, state.max_free, state.share_max)
    assert capacity_mask(whole, *args).tolist() == [False]
    assert capacity_mask(share, *args).tolist() == [True]
    assert capacity_mask(_share(901), *args).tolist() == [False]


def test_over_allocating_a_card_is_refused_and_release_frees_the_card() -> None:
    state = ClusterState.empty((view("p", "H100", cards_per_node=1),))
    state.apply(Placement("a", "p", (), share=CardShare(0, 0, 600)))
    with pytest.raises(InvalidInput):
        state.apply(Placement("b", "p", (), share=CardShare(0, 0, 401)))
    with pytest.raises(InvalidInput):  # a second label would need a second free card
        state.apply(Placement("b", "p", (), share=CardShare(0, 1, 100)))
    state.apply(Placement("b", "p", (), share=CardShare(0, 0, 400)))
    assert state.shared[0] == {(0, 0): 0} and state.free_cards_of("p") == 0
    state.release("p", (), CardShare(0, 0, 600))
    state.release("p", (), CardShare(0, 0, 400))
    assert state.shared[0] == {} and state.free_cards_of("p") == 1 and state.share_max[0] == 0
    with pytest.raises(InvalidInput):
        state.release("p", (), CardShare(0, 0, 400))


@pytest.mark.parametrize("policy", policy_names())
def test_every_policy_packs_shares_onto_one_card(policy: str) -> None:
    state = ClusterState.empty((view("p", "H100", cards_per_node=2),))
    queue = [job(f"j{i}", card_milli=250, submitted_at_s=float(i)) for i in range(9)]
    placements = get_policy(policy).place(state, queue, 0.0)
    assert len(placements) == 8  # two cards of four quarters each
    for placement in placements:
        state.apply(placement)
    assert state.free_cards_of("p") == 0 and state.shared[0] == {(0, 0): 0, (0, 1): 0}


def test_a_share_never_lands_on_a_pool_that_is_not_shareable() -> None:
    fleet = (view("closed", "H100", shareable=False, price=1), view("open", "H100", price=9))
    state = ClusterState.empty(fleet)
    placements = get_policy("cheapest").place(state, [job("s", card_milli=300)], 0.0)
    assert [p.pool_id for p in placements] == ["open"]


def test_milli_card_seconds_are_priced_once_per_line_in_exact_fen() -> None:
    # 470/1000 of a card for one hour at ¥10.00 per card-hour: 470 fen
    assert price_milli_card_seconds(470 * 3600, 1000) == 470
    # 250 milli × 7 s at 1234 fen/h = 0.5998 fen -> 1 fen; half a fen rounds up
    assert price_milli_card_seconds(250 * 7, 1234) == 1
    assert price_milli_card_seconds(500 * 3600, 1) == 1
    assert price_milli_card_seconds(499 * 3600, 1) == 0
    # whole cards are the same as before
    assert price_milli_card_seconds(1000 * 12_345, 777) == price_card_seconds(12_345, 777)


def test_host_cpus_and_memory_are_counted_per_node_as_jobs_come_and_go() -> None:
    pool = view(
        "p", "H100", nodes=2, cards_per_node=4, cpus_per_node=16, host_memory_gib_per_node=64
    )
    state = ClusterState.empty((pool,))
    policy = get_policy("cheapest")
    queue = [job(f"j{i}", cpus=12, submitted_at_s=float(i)) for i in range(3)]
    placements = policy.place(state, queue, 0.0)
    # 12 of 16 cores per node: one such job per node, though each node keeps 3 free cards
    assert sorted(p.nodes for p in placements) == [(0,), (1,)]
    for placement in placements:
        state.apply(placement)
    assert state.host[0].cpus.tolist() == [4.0, 4.0]
    share = job("s", card_milli=300, cpus=4, host_memory_gib=64)
    placed = policy.place(state, [share], 0.0)
    assert len(placed) == 1 and placed[0].share is not None and placed[0].host == (4, 64.0)
    state.apply(placed[0])
    with pytest.raises(InvalidInput):  # no node has a core left for it
        state.apply(Placement("x", "p", ((0, 1),), host=(1, 0.0)))
    assert state.host[0].cpus.tolist() == [0.0, 4.0]  # the share went to node 0 (best fit)
    assert policy.place(state, [job("late", cpus=5)], 0.0) == []
    first = placements[0]
    before = float(state.host[0].cpus[first.nodes[0]])
    state.release("p", first.node_cards, None, first.host)
    assert state.host[0].cpus[first.nodes[0]] == before + 12
    assert len(policy.place(state, [job("late", cpus=5)], 0.0)) == 1
