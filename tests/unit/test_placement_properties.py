"""Invariants 8 and 9 for every registered policy: a placed job satisfies every requirement of
its spec, and no node of any pool is ever over-allocated."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.domain.accelerators import CATALOG, Precision
from suanli.domain.jobs import JobSpec
from suanli.domain.pools import Pool, Region
from suanli.domain.scheduling.feasibility import explain_unplaceable, is_feasible
from suanli.domain.scheduling.model import ClusterState, PoolView, QueuedJob
from suanli.domain.scheduling.policies import get_policy, policy_names

MODELS = [a for a in CATALOG if a.memory_gib is not None]
REGIONS = [Region("浙江", "杭州", "余杭"), Region("浙江", "宁波"), Region("贵州", "贵阳")]


@st.composite
def pool_views(draw: st.DrawFn) -> list[PoolView]:
    count = draw(st.integers(1, 6))
    views = []
    for index in range(count):
        accelerator = draw(st.sampled_from(MODELS))
        pool = Pool(
            id=f"pool{index}",
            provider_id=f"prov{index % 2}",
            name=f"p{index}",
            accelerator_model=accelerator.model,
            nodes=draw(st.integers(1, 3)),
            cards_per_node=draw(st.sampled_from([1, 2, 4, 8])),
            region=draw(st.sampled_from(REGIONS)),
            price_fen_per_card_hour=draw(st.integers(0, 5000)),
        )
        views.append(PoolView(pool, accelerator))
    return views


@st.composite
def job_specs(draw: st.DrawFn) -> JobSpec:
    per_node = draw(st.sampled_from([1, 2, 4, 8]))
    return JobSpec(
        name="j",
        command="true",
        cards=per_node * draw(st.integers(1, 3)),
        cards_per_node=per_node,
        min_memory_gib=draw(st.sampled_from([0, 16, 24, 48, 80])),
        precision=draw(st.none() | st.sampled_from(list(Precision))),
        software=draw(st.sampled_from([(), ("CUDA",), ("CANN",), ("CUDA", "CANN")])),
        vendors=draw(st.sampled_from([(), ("NVIDIA",), ("Huawei", "Cambricon")])),
        region=draw(st.none() | st.sampled_from([Region("浙江"), Region("贵州", "贵阳")])),
        priority=draw(st.integers(0, 100)),
    )


@settings(max_examples=150, deadline=None)
@given(
    views=pool_views(),
    specs=st.lists(job_specs(), min_size=1, max_size=12),
    policy_name=st.sampled_from(policy_names()),
)
def test_placements_satisfy_every_requirement_and_never_over_allocate(
    views: list[PoolView], specs: list[JobSpec], policy_name: str
) -> None:
    state = ClusterState.empty(views)
    queue = [
        QueuedJob(f"job{i}", f"ent{i % 3}", spec, float(i), 60.0) for i, spec in enumerate(specs)
    ]
    placements = get_policy(policy_name).place(state, queue, 100.0)
    by_id = {view.pool.id: view for view in views}
    specs_by_job = {job.id: job.spec for job in queue}
    assert len({p.job_id for p in placements}) == len(placements), "a job was placed twice"
    for placement in placements:
        spec = specs_by_job[placement.job_id]
        assert is_feasible(spec, by_id[placement.pool_id])
        assert placement.cards == spec.cards
        assert all(cards == spec.cards_per_node for _, cards in placement.node_cards)
        state.apply(placement)  # raises if any node would go below zero
    for pool_id, free in state.free_per_node.items():
        assert all(0 <= cards <= by_id[pool_id].pool.cards_per_node for cards in free)


def test_an_impossible_job_gets_one_reason_per_unmet_requirement() -> None:
    h100 = next(a for a in CATALOG if a.model == "H100-SXM")
    view = PoolView(Pool("p", "o", "n", "H100-SXM", 1, 8, Region("浙江", "杭州"), 100), h100)
    spec = JobSpec(name="j", command="true", cards=16, cards_per_node=8, min_memory_gib=141)
    reasons = [reason.en for reason in explain_unplaceable(spec, [view])]
    assert reasons == [
        "no pool offers >= 141 GiB per card",
        "no pool offers 2 node(s) × 8 cards per node",
    ]


def test_requirements_met_separately_but_not_together_are_named_together() -> None:
    h100 = next(a for a in CATALOG if a.model == "H100-SXM")
    t4 = next(a for a in CATALOG if a.model == "T4")
    views = [
        PoolView(Pool("a", "o", "a", "H100-SXM", 1, 8, Region("浙江"), 100), h100),
        PoolView(Pool("b", "o", "b", "T4", 1, 8, Region("贵州"), 100), t4),
    ]
    spec = JobSpec(name="j", command="true", precision=Precision.BF16, region=Region("贵州"))
    reasons = explain_unplaceable(spec, views)
    assert [reason.en for reason in reasons] == ["no pool offers BF16 precision with region 贵州"]
