"""Card-sharing placement (domain/scheduling/packing.py): each policy's choice on tiny fleets
worked out by hand from the FGD artifact's formulas, feasibility, and the packing protocol."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.domain.scheduling.packing import (
    MILLI,
    Choice,
    PackingContext,
    PackingNodes,
    PodRequest,
    RecentRequests,
    choose,
    feasible_nodes,
    fragmentation_deltas,
    model_pressure,
    place,
    typical_pods,
)
from suanli.errors import InvalidInput
from suanli.simulation.packing import alloc_at_points, arrival_order, run_seed, seed_nodes


def fleet(*nodes: tuple[int, int, int], models: tuple[str, ...] = ("A",)) -> PackingNodes:
    """Nodes as (model id, cards, milli-CPU); memory is plentiful."""
    return PackingNodes.build(
        models,
        [model for model, _, _ in nodes],
        [cards for _, cards, _ in nodes],
        [cpu for _, _, cpu in nodes],
        [1_000_000] * len(nodes),
    )


def pod(
    cpu: int = 1000, cards: int = 1, milli: int = MILLI, models: frozenset[int] = frozenset()
) -> PodRequest:
    return PodRequest(
        cpu_milli=cpu, memory_mib=1024, cards=cards, card_milli=milli if cards else 0, models=models
    )


def node_of(policy: str, nodes: PackingNodes, request: PodRequest, context: PackingContext) -> int:
    choice = choose(policy, nodes, request, context)
    assert choice is not None, f"{policy} placed nothing"
    return choice.node


def take(nodes: PackingNodes, node: int, slot: int, milli: int) -> None:
    place(nodes, Choice(node, (slot,)), pod(cpu=0, milli=milli))


def test_best_fit_takes_the_node_left_emptiest_after_placing() -> None:
    nodes = fleet((0, 8, 96_000), (0, 2, 32_000), (0, 4, 64_000))
    assert choose("best-fit", nodes, pod(cpu=8000), PackingContext()) == Choice(1, (0,))


def test_dot_product_prefers_free_capacity_orthogonal_to_the_request() -> None:
    # a CPU-heavy half-card pod: best fit takes the CPU-rich one-card node (less left after);
    # dot product takes the card-rich node, whose free vector points away from the request
    nodes = fleet((0, 1, 128_000), (0, 8, 64_000))
    request = pod(cpu=64_000, milli=500)
    assert node_of("best-fit", nodes, request, PackingContext()) == 0
    assert node_of("dot-product", nodes, request, PackingContext()) == 1


def test_gpu_packing_fills_a_used_card_before_a_free_one_and_an_idle_node() -> None:
    nodes = fleet((0, 2, 64_000), (0, 2, 64_000))
    take(nodes, 1, 1, 400)  # node 1, card 1: 600 left
    assert choose("gpu-packing", nodes, pod(milli=500), PackingContext()) == Choice(1, (1,))
    # 700 does not fit on the used card: a free card of the used node still beats an idle node
    assert choose("gpu-packing", nodes, pod(milli=700), PackingContext()) == Choice(1, (0,))


def test_gpu_clustering_puts_like_requests_together() -> None:
    nodes = fleet((0, 4, 64_000), (0, 4, 64_000), (0, 4, 64_000))
    place(nodes, Choice(1, (0,)), pod(milli=300))  # node 1 hosts a fraction
    place(nodes, Choice(2, (0,)), pod())  # node 2 hosts a one-card pod
    assert node_of("gpu-clustering", nodes, pod(milli=200), PackingContext()) == 1
    assert node_of("gpu-clustering", nodes, pod(), PackingContext()) == 2
    assert node_of("gpu-clustering", nodes, pod(cards=2), PackingContext()) == 0  # idle


def test_fgd_keeps_a_card_usable_by_the_typical_request_where_best_fit_does_not() -> None:
    # typical requests: 500 milli. Node 0's card has 600 free, node 1's 800. A 300 request on
    # node 0 leaves 300 (too small for a typical pod: +300 fragmented); on node 1 it leaves
    # 500 (still usable: no new fragment). Best fit takes the tighter card, FGD the other.
    nodes = fleet((0, 1, 64_000), (0, 1, 64_000))
    take(nodes, 0, 0, 400)
    take(nodes, 1, 0, 200)
    typical = typical_pods([pod(milli=500)] * 10, model_count=1)
    deltas = fragmentation_deltas(nodes, pod(milli=300), np.array([0, 1]), typical)
    assert deltas.reduction[0, 0] == pytest.approx(-300)
    assert deltas.reduction[1, 0] == pytest.approx(0)
    assert node_of("best-fit", nodes, pod(milli=300), PackingContext()) == 0
    assert choose("fgd", nodes, pod(milli=300), PackingContext(typical=typical)) == Choice(1, (0,))


def test_fgd_picks_the_card_on_a_node_too() -> None:
    nodes = fleet((0, 2, 64_000))
    take(nodes, 0, 0, 200)  # card 0: 800 free, card 1: 1000 free
    typical = typical_pods([pod(milli=500)] * 3 + [pod()] * 7, model_count=1)
    # 300 on card 0 leaves 500 (usable) and card 1 whole for the one-card pods
    assert choose("fgd", nodes, pod(milli=300), PackingContext(typical=typical)) == Choice(0, (0,))


def test_suanli_learns_the_distribution_from_recent_requests() -> None:
    nodes = fleet((0, 1, 64_000), (0, 1, 64_000))
    take(nodes, 0, 0, 400)
    take(nodes, 1, 0, 200)
    recent = RecentRequests(model_count=1, window=16, refresh=1)
    for _ in range(10):
        recent.observe(pod(milli=500))
    context = PackingContext(recent=recent)
    assert choose("suanli", nodes, pod(milli=300), context) == Choice(1, (0,))


def test_suanli_breaks_fgd_ties_towards_the_node_left_fullest() -> None:
    # only one-card requests are typical: a one-card pod changes no node's fragmentation, so
    # FGD's integer score ties (50) and FGD takes the lowest index; suanli the fuller node
    nodes = fleet((0, 8, 96_000), (0, 8, 96_000))
    for slot in range(6):
        place(nodes, Choice(1, (slot,)), pod(cpu=0))
    typical = typical_pods([pod()] * 10, model_count=1)
    assert node_of("fgd", nodes, pod(), PackingContext(typical=typical)) == 0
    assert node_of("suanli", nodes, pod(), PackingContext(typical=typical)) == 1


def test_model_pressure_is_the_pinned_share_of_a_models_capacity() -> None:
    # two models of equal capacity; half the requests' milli is pinned to model 1: it alone
    # would claim all of model 1 at the fleet's average load (pressure 1), model 0 nothing
    nodes = fleet((0, 4, 64_000), (1, 4, 64_000), models=("A", "B"))
    pods = [pod()] * 5 + [pod(models=frozenset({1}))] * 5
    assert model_pressure(nodes, typical_pods(pods, model_count=2)) == pytest.approx([0.0, 1.0])
    # all requests pinned to models 0 or 1, spread by capacity (4000 milli each of 16,000):
    # each gets 1/8 of a pod's milli per 4000 against 1/16,000 on average, pressure 2
    three = fleet((0, 4, 64_000), (1, 4, 64_000), (2, 8, 64_000), models=("A", "B", "C"))
    pinned = typical_pods([pod(models=frozenset({0, 1}))] * 4, model_count=3)
    assert model_pressure(three, pinned) == pytest.approx([2.0, 2.0, 0.0])
    unpinned = model_pressure(nodes, typical_pods([pod()] * 3, model_count=2))
    assert unpinned == pytest.approx([0.0, 0.0])


def test_suanli_leaves_the_model_pinned_requests_need_to_them() -> None:
    # two idle 4-card nodes, model B first. The pinned requests (8 cards of B) fit on
    # neither, so a one-card request changes fragmentation alike on both and best fit ties:
    # FGD takes node 0 (B), suanli the model nobody is pinned to
    nodes = fleet((1, 4, 64_000), (0, 4, 64_000), models=("A", "B"))
    pods = [pod()] * 5 + [pod(cards=8, models=frozenset({1}))] * 5
    context = PackingContext(typical=typical_pods(pods, model_count=2))
    assert node_of("fgd", nodes, pod(), context) == 0
    assert node_of("suanli", nodes, pod(), context) == 1


def test_suanli_places_a_share_where_fgd_does_not_on_the_fullest_tied_node() -> None:
    # typical requests: whole cards only, so a share costs one whole card's worth of
    # fragmentation on either idle-carded node and FGD's score ties: FGD, and suanli for a
    # share, take the lowest node; best fit (suanli's rule for whole cards) would take node 1
    nodes = fleet((0, 8, 96_000), (0, 8, 96_000))
    for slot in range(6):
        place(nodes, Choice(1, (slot,)), pod(cpu=0))
    typical = typical_pods([pod()] * 10, model_count=1)
    share = pod(milli=300)
    assert choose("fgd", nodes, share, PackingContext(typical=typical)) == Choice(0, (0,))
    assert choose("suanli", nodes, share, PackingContext(typical=typical)) == Choice(0, (0,))
    assert node_of("suanli", nodes, pod(), PackingContext(typical=typical)) == 1


def test_suanli_puts_a_share_on_fgds_card_of_a_node_when_the_score_ties() -> None:
    # a share on a card already below 1000 changes no fragmentation against whole-card
    # requests: FGD and suanli take the first such card, not the tightest
    nodes = fleet((0, 3, 64_000))
    take(nodes, 0, 0, 100)  # card 0: 900 free
    take(nodes, 0, 1, 500)  # card 1: 500 free
    typical = typical_pods([pod()] * 10, model_count=1)
    share = pod(milli=300)
    assert choose("fgd", nodes, share, PackingContext(typical=typical)) == Choice(0, (0,))
    assert choose("suanli", nodes, share, PackingContext(typical=typical)) == Choice(0, (0,))


def test_random_picks_only_feasible_nodes_and_repeats_per_seed() -> None:
    nodes = fleet((0, 1, 64_000), (0, 2, 64_000), (1, 8, 64_000), models=("A", "B"))
    request = pod(cards=2, models=frozenset({0}))
    picks = [
        choose("random", nodes, request, PackingContext(rng=np.random.default_rng(s)))
        for s in range(20)
    ]
    assert {choice.node for choice in picks if choice} == {1}
    again = [
        choose("random", nodes, pod(), PackingContext(rng=np.random.default_rng(s)))
        for s in range(20)
    ]
    assert again == [
        choose("random", nodes, pod(), PackingContext(rng=np.random.default_rng(s)))
        for s in range(20)
    ]
    assert len({choice.node for choice in again if choice}) == 3


def test_feasibility_checks_model_cpu_memory_and_cards() -> None:
    nodes = fleet((0, 2, 8000), (1, 4, 64_000), models=("A", "B"))
    assert list(feasible_nodes(nodes, pod(cpu=16_000))) == [1]
    assert list(feasible_nodes(nodes, pod(models=frozenset({0})))) == [0]
    assert list(feasible_nodes(nodes, pod(cards=4))) == [1]
    take(nodes, 1, 0, 1)
    assert list(feasible_nodes(nodes, pod(cards=4))) == []  # a card with 999 free is not whole
    assert list(feasible_nodes(nodes, pod(milli=999))) == [0, 1]
    assert choose("fgd", nodes, pod(cards=8), PackingContext()) is None


def test_place_refuses_an_over_allocation_and_bad_requests() -> None:
    nodes = fleet((0, 1, 64_000))
    take(nodes, 0, 0, 600)
    with pytest.raises(InvalidInput):
        place(nodes, Choice(0, (0,)), pod(milli=500))
    assert nodes.card_left[0, 0] == 400
    with pytest.raises(InvalidInput):
        PodRequest(cpu_milli=0, memory_mib=0, cards=2, card_milli=500)
    with pytest.raises(InvalidInput):
        PodRequest(cpu_milli=0, memory_mib=0, cards=1, card_milli=1001)


def test_arrivals_keep_every_pod_and_resample_up_to_130_percent() -> None:
    pods = [pod(milli=m) for m in (100, 500, 1000)] + [pod(cards=0)]
    capacity = 10 * MILLI
    order = arrival_order(pods, capacity, seed=42)
    assert sorted(order[:4]) == [0, 1, 2, 3]  # the list itself, shuffled, comes first
    requested = sum(pods[i].total_milli for i in order)
    assert 1.3 * capacity - MILLI < requested <= 1.3 * capacity
    assert order == arrival_order(pods, capacity, seed=42)
    assert order != arrival_order(pods, capacity, seed=43)


def test_each_seed_names_the_nodes_in_a_random_order_so_ties_fall_on_a_random_node() -> None:
    """The artifact prefixes node names with a random `%04d-` (simulator.go:476-485) and ties
    go to the smallest name: a request every node scores alike (a CPU-only pod under GPU
    packing) lands on a random node of the list per seed, not always on its first row."""
    nodes = fleet(*[(0, 2, 16_000)] * 8, (0, 8, 96_000), (0, 8, 96_000))
    cpu_only = pod(cpu=4000, cards=0)
    landed = set()
    for seed in range(42, 52):
        named, rows = seed_nodes(nodes, seed)
        assert sorted(rows.tolist()) == list(range(10))
        assert (named.cpu_left == nodes.cpu_left[rows]).all()
        assert (named.card_left == nodes.card_left[rows]).all()
        landed.add(int(rows[node_of("gpu-packing", named, cpu_only, PackingContext())]))
        again, same_rows = seed_nodes(nodes, seed)
        assert (same_rows == rows).all()
        place(again, Choice(0, ()), cpu_only)  # a reordered copy: the list is untouched
        assert nodes.cpu_left[rows[0]] == named.cpu_left[0]
    assert len(landed) > 3


def test_a_list_above_130_percent_loses_random_pods() -> None:
    pods = [pod() for _ in range(20)]
    order = arrival_order(pods, 10 * MILLI, seed=1)
    assert len(order) == 13 and len(set(order)) == 13


def test_a_seed_run_allocates_monotonically_and_never_more_than_arrived() -> None:
    nodes = fleet((0, 8, 96_000), (0, 4, 32_000), (0, 2, 16_000))
    # small requests, so that every arrived percent is passed by some pod
    pods = [pod(cpu=500, milli=m) for m in (30, 70, 100)] + [pod(cpu=50_000, cards=0)]
    for policy in ("best-fit", "fgd", "suanli", "random"):
        arrived, allocated = run_seed(nodes, pods, policy, seed=42)
        assert (np.diff(allocated) >= 0).all() and (allocated <= arrived).all()
        assert allocated[-1] <= nodes.milli_capacity
        ratios = alloc_at_points(arrived, allocated, nodes.milli_capacity, (50, 100, 130))
        assert ratios[50] <= ratios[100] <= ratios[130] <= 1.0


def test_recent_requests_have_a_distribution_from_the_first_request_and_forget_old_ones() -> None:
    recent = RecentRequests(model_count=1, window=4, refresh=2)
    assert recent.typical() is None
    recent.observe(pod(milli=500))
    first = recent.typical()
    assert first is not None and list(first.card_milli) == [500]
    for _ in range(8):
        recent.observe(pod())
    latest = recent.typical()
    assert latest is not None and list(latest.card_milli) == [MILLI]  # the 500 fell out


def test_typical_pods_keep_the_most_frequent_specs_covering_95_percent() -> None:
    pods = [pod(milli=500)] * 60 + [pod()] * 36 + [pod(cards=2)] * 3 + [pod(cpu=7)]
    typical = typical_pods(pods, model_count=1)
    assert list(typical.card_milli) == [500, MILLI]
    assert typical.weight == pytest.approx([60 / 96, 36 / 96])


def test_fgd_and_suanli_decide_as_if_every_node_were_scored() -> None:
    # many alike nodes: deduplicating node states must not change a single decision
    rng = np.random.default_rng(7)
    shapes = [(int(rng.integers(0, 2)), int(rng.choice([2, 4, 8])), 32_000) for _ in range(40)]
    pods = [
        pod(cpu=int(rng.integers(1, 8)) * 1000, milli=int(m))
        for m in rng.choice([150, 300, 470, 1000], 60)
    ]
    typical = typical_pods(pods, model_count=2)
    nodes = fleet(*shapes, models=("A", "B"))
    for request in pods:
        candidates = feasible_nodes(nodes, request)
        if not candidates.size:
            continue
        reduction = fragmentation_deltas(nodes, request, candidates, typical).reduction
        scores = np.where(
            np.isnan(reduction), -1, np.trunc(100 / (1 + np.exp(-np.nan_to_num(reduction) / MILLI)))
        )
        best = scores.max()
        first_best_node = int(candidates[int(np.flatnonzero(scores.max(axis=1) == best)[0])])
        choice = choose("fgd", nodes, request, PackingContext(typical=typical))
        assert choice is not None and choice.node == first_best_node
        place(nodes, choice, request)
