"""The avg-JCT lower bound that holds for any schedule (docs/scheduling.md, "A lower bound on
average JCT"): hand-computed instances, and no policy's replay may come in under it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from suanli.domain.scheduling.model import QueuedJob
from suanli.domain.scheduling.performance import PerformanceModel
from suanli.domain.scheduling.policies import get_policy, policy_names
from suanli.simulation.bound import jct_bound, srpt_completions
from suanli.simulation.engine import simulate
from suanli.simulation.floor import jct_floor
from suanli.simulation.metrics import summarize
from suanli.simulation.synthetic import synthetic_fleet, synthetic_workload
from suanli.simulation.workload import Fleet, Workload, compression_for_load, rescaled
from tests.unit.scheduling.builders import chip, job, view

HOUR = 3600.0
# roofline: cv-train-fp32 (40 FLOP/byte) is compute-bound on both, so Fast-A is 3× Slow-B;
# recsys (4 FLOP/byte) is memory-bound, so Slow-B's wider memory makes it 1.25× Fast-A
FAST = chip("Fast-A", fp32=30.0, bandwidth_gbs=2000.0)
SLOW = chip("Slow-B", fp32=10.0, bandwidth_gbs=2500.0)


def _train(job_id: str, **fields: Any) -> QueuedJob:
    fields.setdefault("runtime_s", HOUR)
    fields.setdefault("job_class", "cv-train-fp32")
    return job(job_id, reference="Fast-A", **fields)


def _one_pool(cards: int, accelerator: Any = FAST) -> Fleet:
    return Fleet((view("p", accelerator, cards_per_node=cards),), "test")


def test_srpt_on_one_machine_matches_a_hand_schedule() -> None:
    # job 0 (4 s) at 0, job 1 (1 s) at 1 preempts it, job 2 (2 s) at 1 waits: 1→2, 2→4, 4→7
    arrival = np.array([0.0, 1.0, 1.0])
    completion = srpt_completions(arrival, np.array([4.0, 1.0, 2.0]))
    assert completion.tolist() == pytest.approx([7.0, 2.0, 4.0])


def test_two_jobs_on_one_card_wait_for_each_other() -> None:
    # one card, two one-hour jobs at 0: the best any schedule does is 1 h and 2 h
    workload = Workload((_train("a"), _train("b")), "test")
    bound = jct_bound(_one_pool(1), workload, PerformanceModel())
    assert bound.capacity_cards == pytest.approx(1.0)
    assert bound.runtime_avg_s == pytest.approx(HOUR)
    assert bound.srpt_avg_s == pytest.approx(1.5 * HOUR)
    assert bound.avg_jct_s == pytest.approx(1.5 * HOUR)


def test_the_priced_bound_sees_the_width_cap_srpt_misses() -> None:
    # two cards, three one-card one-hour jobs at 0: the best schedule runs two, then the third
    # (1 h, 1 h, 2 h: avg 4/3 h). SRPT on one machine of rate 2 finishes them at ½, 1, 1½ h
    # (avg 1 h, the floor). The priced relaxation knows a job cannot use more than its one
    # card; its optimum fills both cards until 1½ h, Σ M_j = ∫₀^1.5 2t dt = 2.25 h, so
    # Σ C_j ≥ 2.25 h + 3 × ½ h: avg 1.25 h (the price steps get within 1%).
    workload = Workload(tuple(_train(name) for name in "abc"), "test")
    bound = jct_bound(_one_pool(2), workload, PerformanceModel())
    assert bound.srpt_avg_s == pytest.approx(HOUR)
    assert 1.2375 * HOUR < bound.priced_avg_s <= 1.25 * HOUR + 1e-6
    assert bound.avg_jct_s == bound.priced_avg_s


def test_per_pool_prices_see_which_chip_each_class_needs() -> None:
    # one Fast-A card and one Slow-B card; two cv jobs (1 h on Fast-A, 3 h on Slow-B) and two
    # recsys jobs (1 h on Fast-A, 0.8 h on Slow-B) at 0. The best schedule runs the cv jobs
    # one after the other on Fast-A and the recsys jobs on Slow-B: 1 + 2 + 0.8 + 1.6 = 5.4 h,
    # avg 1.35 h. Counting both cards at their best speed on any job (C = 2), the relaxation's
    # optimum is 1.30 h (recsys at full width on [0, 0.8], cv on [0.8, 1.8]); SRPT says
    # 1.075 h. Pricing each pool on its own, the bound goes past 1.30 h towards 1.35 h.
    fleet = Fleet(
        (view("fast", FAST, cards_per_node=1), view("slow", SLOW, cards_per_node=1)), "test"
    )
    jobs = (
        _train("cv-1"),
        _train("cv-2"),
        _train("recsys-1", job_class="recsys"),
        _train("recsys-2", job_class="recsys"),
    )
    bound = jct_bound(fleet, Workload(jobs, "test"), PerformanceModel())
    assert bound.capacity_cards == pytest.approx(2.0)
    assert bound.runtime_avg_s == pytest.approx(0.9 * HOUR)
    assert bound.srpt_avg_s == pytest.approx(1.075 * HOUR)
    assert 1.31 * HOUR < bound.avg_jct_s <= 1.35 * HOUR


def test_without_price_steps_the_priced_bound_is_the_floor() -> None:
    jobs = (
        _train("a", runtime_s=10.0),
        _train("b", runtime_s=3.0, submitted_at_s=5.0),
        _train("c", runtime_s=8.0, submitted_at_s=7.0),
    )
    bound = jct_bound(_one_pool(1), Workload(jobs, "test"), PerformanceModel(), iterations=0)
    assert bound.priced_avg_s == pytest.approx(7.0)


def test_a_slower_pool_counts_at_its_best_speed_on_any_job() -> None:
    # 8 fast cards + 8 slow ones (a third of the speed for this work): C = 8 + 8 / 3
    fleet = Fleet((view("fast", FAST), view("slow", SLOW)), "test")
    bound = jct_bound(fleet, Workload((_train("a"),), "test"), PerformanceModel())
    assert bound.capacity_cards == pytest.approx(8 + 8 / 3)
    assert bound.avg_jct_s == pytest.approx(HOUR)


def test_a_budget_keeps_a_job_to_the_pools_it_can_afford() -> None:
    # fast: 1,000 fen/h, slow: 100 fen/h, one card each. Two thrifty cv jobs (budget 500 fen:
    # 3 h on slow costs 300, 1 h on fast 1,000) may only use slow, so they queue there: 3 h
    # and 6 h, whatever the fleet's fast card does. A job without a budget takes fast: 1 h.
    fleet = Fleet(
        (
            view("fast", FAST, cards_per_node=1, price=1000),
            view("slow", SLOW, cards_per_node=1, price=100),
        ),
        "test",
    )
    jobs = (
        _train("thrifty-1", runtime_s=HOUR, budget_fen=500),
        _train("thrifty-2", runtime_s=HOUR, budget_fen=500),
        _train("free"),
    )
    workload = Workload(jobs, "test")
    performance = PerformanceModel()
    bound = jct_bound(fleet, workload, performance)
    assert bound.runtime_avg_s == pytest.approx((3 + 3 + 1) / 3 * HOUR)
    assert (3 + 3 + 1) / 3 * HOUR < bound.avg_jct_s <= (3 + 6 + 1) / 3 * HOUR + 1e-6
    for policy in policy_names():
        metrics = summarize(simulate(fleet, workload, get_policy(policy, performance), performance))
        assert metrics.completed == 3
        assert bound.avg_jct_s <= metrics.avg_jct_s + 1e-6, policy


def test_jobs_no_pool_can_run_are_left_out_as_the_floor_leaves_them() -> None:
    workload = Workload((_train("a"), _train("too-big", cards=64)), "test")
    bound = jct_bound(_one_pool(8), workload, PerformanceModel())
    assert bound.jobs == 1 and bound.avg_jct_s == pytest.approx(HOUR)


def _random_contended(seed: int) -> tuple[Fleet, Workload]:
    """One to three small pools of two chips, 40 jobs of 1-4 cards of two classes (each chip
    is the faster one for one of them) with log-uniform runtimes, arriving three times as fast
    as the fleet could serve them if every card were a Fast-A."""
    rng = np.random.default_rng(seed)
    pools = tuple(
        view(f"p{i}", FAST if rng.random() < 0.5 else SLOW, cards_per_node=int(rng.integers(4, 9)))
        for i in range(int(rng.integers(1, 4)))
    )
    fleet = Fleet(pools, f"random-{seed}")
    cards = rng.choice([1, 1, 1, 2, 4], size=40)
    runtime = np.exp(rng.uniform(np.log(60.0), np.log(8 * HOUR), size=40))
    span = float((cards * runtime).sum()) / (3.0 * fleet.cards)
    arrival = np.sort(rng.uniform(0.0, span, size=40))
    classes = rng.choice(["cv-train-fp32", "recsys"], size=40)
    jobs = tuple(
        _train(
            f"j{i}",
            cards=int(cards[i]),
            runtime_s=float(runtime[i]),
            submitted_at_s=float(at),
            job_class=str(classes[i]),
        )
        for i, at in enumerate(arrival)
    )
    return fleet, Workload(jobs, f"random-{seed}")


@pytest.mark.parametrize("seed", range(6))
def test_no_policy_beats_the_bound_on_random_contended_workloads(seed: int) -> None:
    fleet, workload = _random_contended(seed)
    performance = PerformanceModel()
    bound = jct_bound(fleet, workload, performance)
    assert bound.jobs == len(workload.jobs)
    # the instances are contended enough that the bound says more than the floor
    assert bound.avg_jct_s > 1.005 * bound.runtime_avg_s
    for policy in policy_names():
        result = simulate(fleet, workload, get_policy(policy, performance), performance)
        metrics = summarize(result)
        assert metrics.completed == bound.jobs
        assert bound.avg_jct_s <= metrics.avg_jct_s + 1e-6, policy


@pytest.mark.parametrize("policy", policy_names())
def test_no_policy_beats_the_bound_on_a_synthetic_replay(policy: str) -> None:
    fleet, raw = synthetic_fleet(12, 3), synthetic_workload(160, 3)
    workload = rescaled(raw, compression_for_load(raw, fleet.cards, 1.5))
    performance = PerformanceModel()
    bound = jct_bound(fleet, workload, performance)
    floor = jct_floor(fleet, workload, performance)
    metrics = summarize(simulate(fleet, workload, get_policy(policy, performance), performance))
    assert bound.jobs == floor.jobs == metrics.completed
    assert bound.runtime_avg_s == pytest.approx(floor.avg_jct_s)
    assert floor.avg_jct_s <= bound.avg_jct_s <= metrics.avg_jct_s + 1e-6
