"""The live books as a packing table, the recent-request window, and the packing setting."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from suanli.config import PACKING_POLICY_NAMES, load_settings
from suanli.domain.jobs import JobSpec
from suanli.domain.scheduling import DEFAULT_PACKING_POLICY
from suanli.domain.scheduling.card_choice import (
    Packing,
    packs,
    pool_table,
    share_on_pool,
)
from suanli.domain.scheduling.model import CardShare, ClusterState, Placement
from suanli.domain.scheduling.packing import MILLI, PACKING_POLICIES
from suanli.domain.scheduling.placement import Scratch
from suanli.domain.scheduling.policies import PolicyOptions, get_policy
from suanli.domain.scheduling.request_window import JOB_MODELS_MAX, RequestWindow
from suanli.errors import InvalidInput
from tests.unit.scheduling.builders import job, view


def _spec(milli: int | None = None, cards: int = 1, per_node: int | None = None) -> JobSpec:
    return JobSpec(
        name="j", command="c", cards=cards, cards_per_node=per_node or cards, card_milli=milli
    )


def test_the_setting_knows_every_packing_policy_and_defaults_to_the_domains() -> None:
    assert tuple(PACKING_POLICIES) == PACKING_POLICY_NAMES
    assert load_settings().packing_policy == DEFAULT_PACKING_POLICY == "suanli"
    assert load_settings(packing_policy="fgd").packing_policy == "fgd"
    assert not load_settings().packing_whole_cards
    with pytest.raises(ValidationError, match="'tetris'"):
        load_settings(packing_policy="tetris")
    with pytest.raises(InvalidInput):
        PolicyOptions(packing="tetris")


def test_the_window_counts_each_job_once_and_keeps_only_the_newest() -> None:
    window = RequestWindow(window=3)
    window.observe("a", _spec(500))
    window.observe("a", _spec(500))  # the same job in a later round
    assert len(window) == 1
    for name, milli in (("b", 300), ("c", 300), ("d", 300)):
        window.observe(name, _spec(milli))
    window.model_id("H100")
    typical = window.typical()
    assert typical is not None and len(window) == 3
    assert typical.card_milli.tolist() == [300]  # "a" (500) slid out of the window


def test_the_window_rounds_shares_up_to_ten_milli_and_skips_wide_nodes() -> None:
    window = RequestWindow()
    assert window.spec_key(_spec(455)) == (0, 460, 1, ())
    assert window.spec_key(_spec(999)) == (0, 1000, 1, ())
    assert window.spec_key(_spec(cards=4)) == (0, MILLI, 4, ())
    assert window.spec_key(_spec(cards=16, per_node=16)) is None  # no packing table is as wide


def test_the_window_refreshes_after_1_2_4_requests_then_every_refresh() -> None:
    window = RequestWindow(refresh=4)
    window.model_id("H100")
    sizes = []
    for number in range(14):
        window.observe(f"j{number}", _spec(100 + 10 * number))
        typical = window.typical()
        assert typical is not None
        sizes.append(len(typical.card_milli))
    # recomputed at 1, 2, 4, 8 requests seen, then every 4: 12; in between it is reused
    assert sizes == [1, 2, 2, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12]


def _books() -> ClusterState:
    """Two nodes of 4 cards: node 0 holds shares on labels 0 (600 left) and 2 (100 left) and
    one whole card; node 1 is idle."""
    state = ClusterState.empty((view("p", "H100", nodes=2, cards_per_node=4),))
    state.apply(Placement("w", "p", ((0, 1),)))
    state.apply(Placement("s1", "p", (), share=CardShare(0, 0, 400)))
    state.apply(Placement("s2", "p", (), share=CardShare(0, 2, 900)))
    return state


def test_a_pools_books_become_a_table_whose_slots_are_the_share_labels() -> None:
    state = _books()
    table = pool_table(Scratch(state), 0, RequestWindow())
    # node 0: labels 0 and 2 hold shares; its one fully free card fills the lowest other slot
    assert table.card_left.tolist() == [
        [600, MILLI, 100, 0, 0, 0, 0, 0],
        [MILLI, MILLI, MILLI, MILLI, 0, 0, 0, 0],
    ]
    room = np.array([0, 2])  # a reservation leaves node 0 no card and node 1 two
    capped = pool_table(Scratch(state), 0, RequestWindow(), room)
    assert capped.card_left[:, :4].tolist() == [[600, 0, 100, 0], [MILLI, MILLI, 0, 0]]


def test_a_share_goes_where_the_packing_policy_puts_it() -> None:
    state = _books()
    window = RequestWindow()
    window.observe("x", _spec(500))
    # best fit joins the card with 600 left; opening node 0's free card is label 1
    best = share_on_pool(Scratch(state), 0, _spec(500), Packing("best-fit", window))
    assert best == CardShare(0, 0, 500)
    # under a reservation that leaves node 0 no fully free card, 700 can only open node 1's
    room = np.array([0, 4])
    opened = share_on_pool(Scratch(state), 0, _spec(700), Packing("fgd", window), room)
    assert opened is not None and opened.node == 1 and opened.milli == 700


def test_gangs_and_wide_nodes_keep_best_fit() -> None:
    narrow = view("n", "H100", nodes=2, cards_per_node=8).pool
    wide = view("w", "H100", nodes=2, cards_per_node=16).pool
    assert packs(narrow, _spec(500)) and not packs(narrow, _spec(cards=4))
    assert packs(narrow, _spec(cards=4), whole_cards=True)
    assert not packs(narrow, _spec(cards=16, per_node=8), whole_cards=True)  # a gang
    assert not packs(wide, _spec(500), whole_cards=True)


def test_a_round_shows_the_window_each_examined_job_and_packs_with_it() -> None:
    state = ClusterState.empty((view("p", "H100", nodes=2, cards_per_node=4),))
    queue = [job(f"s{n}", card_milli=500) for n in range(3)]
    policy = get_policy("cheapest", options=PolicyOptions(packing="fgd"))
    placed = policy.place(state, queue, 0.0)
    assert len(state.requests) == 3 and len(placed) == 3
    assert all(p.share is not None for p in placed)


def test_the_window_learns_a_bounded_number_of_model_names_from_jobs() -> None:
    window = RequestWindow()
    for number in range(JOB_MODELS_MAX + 10):
        spec = JobSpec(name="j", command="c", accelerators=(f"made-up-{number}",))
        window.observe(f"j{number}", spec)
    assert len(window.models) == JOB_MODELS_MAX
    assert window.model_id("H100") == JOB_MODELS_MAX  # a pool's model is always learnt
    late = JobSpec(name="j", command="c", accelerators=("made-up-999",))
    assert window.spec_key(late) == (0, MILLI, 1, ())


@pytest.mark.parametrize(
    ("packing", "whole_cards", "node"),
    [
        ("fgd", True, 0),  # leaves both nodes two free cards for the 2-card requests
        ("fgd", False, 1),  # best fit (allocate_nodes): the fullest node that fits
        ("best-fit", True, 1),
    ],
)
def test_a_whole_card_job_is_packed_when_whole_cards_are_switched_on(
    packing: str, whole_cards: bool, node: int
) -> None:
    state = ClusterState.empty((view("p", "H100", nodes=2, cards_per_node=4),))
    state.apply(Placement("w1", "p", ((0, 1),)))  # node 0: 3 free
    state.apply(Placement("w2", "p", ((1, 2),)))  # node 1: 2 free
    for number in range(6):  # the recent requests ask for two whole cards
        state.requests.observe(f"r{number}", _spec(cards=2))
    options = PolicyOptions(packing=packing, packing_whole_cards=whole_cards)
    placed = get_policy("cheapest", options=options).place(state, [job("j", cards=1)], 0.0)
    assert [p.node_cards for p in placed] == [((node, 1),)]
