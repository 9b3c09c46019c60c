"""The vectorised filter equals the scalar reference; placed jobs satisfy every requirement."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanli.domain.accelerators import Precision, get_accelerator
from suanli.domain.jobs import JobSpec
from suanli.domain.pools import Region
from suanli.domain.scheduling.feasibility import (
    capacity_mask,
    explain_unplaceable,
    is_feasible,
    static_mask,
)
from suanli.domain.scheduling.model import (
    CardShare,
    ClusterState,
    Placement,
    PoolView,
    QueuedJob,
)
from suanli.domain.scheduling.policies import get_policy, policy_names
from tests.unit.scheduling.builders import chip, view

ACCELERATORS = (
    get_accelerator("H100"),
    get_accelerator("V100"),
    get_accelerator("V100M32"),
    get_accelerator("T4"),
    get_accelerator("Ascend-910B"),
    chip("Mystery-1", memory_gib=None, vendor="nvidia", bf16=50),
    chip("Mystery-2", vendor="Huawei", stack="CANN", int8=100, fp16=40),
)
REGIONS = (
    Region("Zhejiang", "Hangzhou"),
    Region("Zhejiang", "Ningbo"),
    Region("Zhejiang", "Hangzhou", "Xihu"),
    Region("Shanghai", "Shanghai"),
    Region("Guizhou"),
)
WANTED_REGIONS = (*REGIONS, Region("Zhejiang"), Region("Nowhere"), Region("Zhejiang", "Wenzhou"))
MODEL_NAMES = ("h100", "H100 SXM", "v100", "V100M32", "t4", "ascend_910b", "mystery-1", "A100")
STACKS = ("CUDA", "cuda", "CANN", "ROCm", "MUSA")

pool_views = st.builds(
    lambda i, acc, nodes, cpn, region, software, available, host: view(
        f"pool-{i}",
        acc,
        nodes=nodes,
        cards_per_node=cpn,
        region=region,
        software={s: "1" for s in software},
        available=available,
        shareable=host[0],
        cpus_per_node=host[1],
        host_memory_gib_per_node=host[2],
    ),
    st.integers(0, 10_000),
    st.sampled_from(ACCELERATORS),
    st.integers(1, 4),
    st.sampled_from((1, 2, 4, 8)),
    st.sampled_from(REGIONS),
    st.sets(st.sampled_from(STACKS), max_size=2),
    st.booleans(),
    st.tuples(
        st.booleans(),
        st.sampled_from((None, 8, 32, 128)),
        st.sampled_from((None, 64.0, 512.0)),
    ),
)


@st.composite
def fleets(draw: st.DrawFn) -> tuple[PoolView, ...]:
    views = draw(st.lists(pool_views, min_size=1, max_size=12))
    return tuple(replace(v, pool=replace(v.pool, id=f"p{i}")) for i, v in enumerate(views))


@st.composite
def specs(draw: st.DrawFn) -> JobSpec:
    per_node = draw(st.sampled_from((1, 2, 4, 8)))
    cards = per_node * draw(st.integers(1, 3))
    fractional = cards == 1 and draw(st.booleans())
    return JobSpec(
        name="job",
        command="run",
        cards=cards,
        cards_per_node=per_node,
        card_milli=draw(st.sampled_from((1, 250, 470, 999, 1000))) if fractional else None,
        cpus=draw(st.sampled_from((0, 4, 16, 64))),
        host_memory_gib=draw(st.sampled_from((0, 32.0, 256.0))),
        accelerators=tuple(draw(st.sets(st.sampled_from(MODEL_NAMES), max_size=2))),
        vendors=tuple(draw(st.sets(st.sampled_from(("NVIDIA", "huawei", "Nobody")), max_size=2))),
        min_memory_gib=draw(st.sampled_from((0, 16, 24, 40, 80))),
        precision=draw(st.sampled_from((None, *Precision))),
        software=tuple(draw(st.sets(st.sampled_from((*STACKS, "Nope")), max_size=2))),
        region=draw(st.sampled_from((None, *WANTED_REGIONS))),
        priority=draw(st.integers(0, 100)),
    )


@settings(max_examples=200, deadline=None)
@given(fleet=fleets(), spec=specs())
def test_vectorised_filter_equals_the_scalar_reference(
    fleet: tuple[PoolView, ...], spec: JobSpec
) -> None:
    state = ClusterState.empty(fleet)
    expected = [is_feasible(spec, v) for v in fleet]
    assert static_mask(spec, state.matrix).tolist() == expected


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fleet=fleets(),
    jobs=st.lists(specs(), min_size=1, max_size=12),
    used=st.lists(st.integers(0, 8), max_size=48),
    policy=st.sampled_from(policy_names()),
)
def test_placements_satisfy_every_requirement_and_never_over_allocate(
    fleet: tuple[PoolView, ...], jobs: list[JobSpec], used: list[int], policy: str
) -> None:
    state = ClusterState.empty(fleet)
    _prefill(state, used)
    queue = [QueuedJob(f"j{i}", f"o{i % 3}", spec, float(i), 600.0) for i, spec in enumerate(jobs)]
    by_id = {q.id: q for q in queue}
    views = {v.pool.id: v for v in fleet}
    for placement in get_policy(policy).place(state, queue, 0.0):
        spec = by_id[placement.job_id].spec
        chosen = views[placement.pool_id]
        assert is_feasible(spec, chosen) and chosen.available
        if spec.fractional:
            assert placement.node_cards == () and placement.share is not None
            assert placement.share.milli == spec.card_milli and chosen.pool.shareable
        else:
            assert placement.share is None and placement.cards == spec.cards
            assert all(cards == spec.cards_per_node for _, cards in placement.node_cards)
            assert len({node for node, _ in placement.node_cards}) == spec.nodes
        state.apply(placement)  # raises if any node or shared card would be over-allocated
    for v in fleet:
        nodes = state.free_per_node[v.pool.id]
        assert all(0 <= free <= v.pool.cards_per_node for free in nodes)
    for index, shared in state.shared.items():
        assert all(0 <= free < 1000 for free in shared.values())
        for node, free in enumerate(state.node_free[index]):
            on_node = sum(1 for (n, _) in shared if n == node)
            assert free + on_node <= state.pools[index].pool.cards_per_node


def _prefill(state: ClusterState, used: list[int]) -> None:
    """Whole-card jobs on some nodes, and (every third entry) a share of a card elsewhere."""
    for position, cards in enumerate(used):
        index = position % len(state.pools)
        nodes = state.node_free[index]
        node = position % nodes.size
        take = min(cards, int(nodes[node]))
        pool = state.pools[index].pool
        if position % 3 == 2 and take and pool.shareable:
            share = CardShare(node, 0 if (node, 0) not in state.shared.get(index, {}) else 1, 0)
            share = CardShare(share.node, share.card, 100 * take)
            room = state.shared.get(index, {}).get((share.node, share.card), 1000)
            if share.card < pool.cards_per_node and room >= share.milli:
                state.apply(Placement(f"share-{position}", pool.id, (), share=share))
        elif take:
            state.apply(Placement(f"busy-{position}", pool.id, ((node, take),)))


def test_capacity_mask_needs_a_node_with_room_not_just_free_cards() -> None:
    state = ClusterState.empty((view("a", "H100", nodes=2, cards_per_node=4),))
    state.apply(Placement("x", "a", ((0, 2), (1, 2))))  # 4 free cards, 2 per node
    spec = JobSpec(name="j", command="c", cards=4, cards_per_node=4)
    assert not capacity_mask(spec, state.matrix, state.free_cards, state.max_free).any()
    small = JobSpec(name="j", command="c", cards=2, cards_per_node=2)
    assert capacity_mask(small, state.matrix, state.free_cards, state.max_free).tolist() == [True]


def test_unavailable_pools_are_statically_feasible_but_have_no_capacity() -> None:
    state = ClusterState.empty((view("a", "H100", available=False),))
    spec = JobSpec(name="j", command="c")
    assert static_mask(spec, state.matrix).tolist() == [True]
    assert not np.any(capacity_mask(spec, state.matrix, state.free_cards, state.max_free))


def test_explain_unplaceable_names_each_requirement_no_pool_meets() -> None:
    views = [view("a", "T4"), view("b", "V100")]
    spec = JobSpec(name="j", command="c", min_memory_gib=80, region=Region("Shanghai"))
    reasons = explain_unplaceable(spec, views)
    assert any("80 GiB" in reason.en and "80 GiB" in reason.zh for reason in reasons)
    assert any("Shanghai" in reason.en and "Shanghai" in reason.zh for reason in reasons)


def test_explain_unplaceable_reports_a_combination_no_single_pool_offers() -> None:
    views = [view("a", "H100", region=Region("Shanghai")), view("b", "T4")]
    spec = JobSpec(name="j", command="c", min_memory_gib=80, region=Region("Zhejiang"))
    assert [reason.en for reason in explain_unplaceable(spec, views)] == [
        "no pool offers >= 80 GiB per card with region Zhejiang"
    ]
    assert [reason.zh for reason in explain_unplaceable(spec, views)] == [
        "没有资源池能提供每卡显存不少于 80 GiB，且地区 Zhejiang"
    ]
