"""The share look-ahead (domain/scheduling/share_values.py and the pilot run in
simulation/packing.py): values from a pilot's records, the cost a share pays, the choice it
changes, and the protocol run that uses it."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.domain.scheduling.packing import (
    MILLI,
    Choice,
    PackingContext,
    choose,
    place,
    typical_pods,
)
from suanli.domain.scheduling.share_values import (
    LEVELS,
    ShareValues,
    estimate_share_values,
)
from suanli.simulation import packing as protocol
from tests.unit.scheduling.test_packing import fleet, pod, take


def never_filled() -> np.ndarray:
    values = np.arange(LEVELS, dtype=np.float64) * 10
    values[-1] = 0.0
    return values


def test_values_are_the_mean_final_free_milli_per_level_and_unseen_levels_are_never_filled() -> (
    None
):
    values = estimate_share_values(np.array([530, 530, 190, 535]), np.array([60, 0, 190, 90]))
    assert values.expected_idle[53] == pytest.approx(50.0)  # 60, 0 and 90 (535 is level 53)
    assert values.expected_idle[19] == pytest.approx(190.0)
    assert values.expected_idle[7] == pytest.approx(70.0)  # no share left a card at 70
    assert values.expected_idle[LEVELS - 1] == 0.0  # a whole free card: a whole request's


def test_a_share_pays_the_change_in_its_cards_expected_final_waste() -> None:
    expected = never_filled()
    expected[53], expected[21], expected[68] = 60.0, 200.0, 40.0
    values = ShareValues(expected)
    cost = values.cost(np.array([1000, 530, 350]), 320)
    assert cost.tolist() == pytest.approx([40.0 - 0.0, 200.0 - 60.0, 30.0 - 350.0])


def test_the_look_ahead_moves_a_share_off_a_tail_that_a_later_share_would_fill() -> None:
    # node 0 has a card with 530 free, node 1 a whole free card. Against this distribution
    # FGD puts a 320-milli share on the 530 tail (it looks fragmented now); the values say
    # a 530 tail ends full (the 470s fill it) while a 210 tail never does
    nodes = fleet((0, 1, 64_000), (0, 1, 64_000))
    take(nodes, 0, 0, 470)
    typical = typical_pods([pod()] * 6 + [pod(milli=470)] * 3 + [pod(milli=320)], model_count=1)
    share = pod(milli=320)
    assert choose("suanli", nodes, share, PackingContext(typical=typical)) == Choice(0, (0,))
    expected = never_filled()
    expected[53], expected[68] = 0.0, 40.0
    looking_ahead = PackingContext(typical=typical, share_values=ShareValues(expected))
    assert choose("suanli", nodes, share, looking_ahead) == Choice(1, (0,))
    # values that agree with FGD (the 530 tail is never filled) keep FGD's choice
    agreeing = PackingContext(typical=typical, share_values=ShareValues(never_filled()))
    assert choose("suanli", nodes, share, agreeing) == Choice(0, (0,))


def test_whole_card_requests_ignore_the_look_ahead() -> None:
    nodes = fleet((0, 2, 64_000), (0, 2, 64_000))
    place(nodes, Choice(1, (0,)), pod(cpu=0))
    typical = typical_pods([pod()] * 5 + [pod(milli=470)] * 5, model_count=1)
    expected = np.full(LEVELS, 1e6)
    without = choose("suanli", nodes, pod(), PackingContext(typical=typical))
    with_values = PackingContext(typical=typical, share_values=ShareValues(expected))
    assert choose("suanli", nodes, pod(), with_values) == without


def pilot_fleet_and_pods() -> tuple[protocol.PackingNodes, list[protocol.PodRequest]]:
    nodes = fleet(*[(0, 8, 96_000)] * 6, *[(0, 4, 48_000)] * 4)
    pods = (
        [pod(cpu=4000)] * 20
        + [pod(cpu=2000, milli=470)] * 12
        + [pod(cpu=2000, milli=810)] * 8
        + [pod(cpu=1000, milli=320)] * 6
        + [pod(cpu=1000, milli=650)] * 4
        + [pod(cpu=8000, cards=0)] * 4
    )
    return nodes, pods


def test_the_pilot_measures_levels_only_shares_reached_and_never_above_the_level() -> None:
    nodes, pods = pilot_fleet_and_pods()
    values = protocol.pilot_share_values(nodes, pods, seed=5)
    expected = values.expected_idle
    levels = np.arange(LEVELS) * 10
    assert (expected <= levels).all()  # nothing departs: a card only fills
    assert expected[LEVELS - 1] == 0.0
    reached = expected < levels
    assert reached[:-1].any()  # some tail was filled later in the pilot
    again = protocol.pilot_share_values(nodes, pods, seed=5)
    assert np.array_equal(again.expected_idle, expected)  # a seed's pilot repeats
    assert nodes.card_left.min() == MILLI or nodes.card_left.max() == MILLI  # fleet untouched
    assert (nodes.card_left[nodes.card_left > 0] == MILLI).all()


def test_the_protocol_gives_suanli_the_pilots_values_and_no_other_policy() -> None:
    nodes, pods = pilot_fleet_and_pods()
    values = protocol.pilot_share_values(nodes, pods)
    seeds = (42, 43)
    curve = protocol.run_policy(nodes, pods, "suanli", seeds)
    by_hand = [
        protocol.alloc_at_points(
            *protocol.run_seed(nodes, pods, "suanli", seed, None, values), nodes.milli_capacity
        )
        for seed in seeds
    ]
    for point in (50, 100, 130):
        assert curve.alloc_at[point] == tuple(ratios[point] for ratios in by_hand)
    without = [
        protocol.alloc_at_points(
            *protocol.run_seed(nodes, pods, "suanli", seed), nodes.milli_capacity
        )
        for seed in seeds
    ]
    assert [ratios[130] for ratios in without] != [ratios[130] for ratios in by_hand]
    fgd = protocol.run_policy(nodes, pods, "fgd", seeds)
    fgd_by_hand = protocol.run_seed(nodes, pods, "fgd", 42)
    ratio = protocol.alloc_at_points(*fgd_by_hand, nodes.milli_capacity)[100]
    assert fgd.alloc_at[100][0] == ratio
