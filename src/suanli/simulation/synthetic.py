"""Seeded synthetic fleets and Gavel-style workloads at any scale.

Workload (after Gavel's generator, Narayanan et al., OSDI '20, scheduler/utils.py):
- Poisson arrivals, one job per `MEAN_INTERARRIVAL_S` on average (rescale with --target-load);
- reference runtime on a V100: 10^U(1.5, 3) minutes with probability 0.8 (32 min to 17 h),
  else 10^U(3, 4) minutes (17 h to 7 days);
- cards: 1 (70%), 2 (10%), 4 (15%), 8 (5%); 8-card jobs are gangs of 2 nodes × 4 cards;
- job class uniform over the performance model's classes; a class with a tensor precision
  requires it, LLM classes need 40 GiB (training) or 24 GiB (inference) per card;
- owners: 100 enterprises, Zipf-like shares (weight ∝ 1/rank^1.1);
- priority 80 (10%), 50 (75%), 20 and preemptible (15%);
- objective: default 70%, cost 10%, time 10%, deadline (3 × reference runtime) 10%;
- 5% of jobs are pinned to a province.
Fleet: catalog models with a known bandwidth, uniformly; 1/2/4/8 cards per node (10/20/30/40%);
Geometric(0.3) nodes (at least 1, mean 3.3, at most 64); six cities; price = the illustrative
list ± 25%.
"""

from __future__ import annotations

import math

import numpy as np

from suanli.domain.accelerators import CATALOG, Precision
from suanli.domain.jobs import RUN_TIME_S_MAX, JobSpec
from suanli.domain.pools import Region
from suanli.domain.scheduling.model import QueuedJob
from suanli.domain.scheduling.performance import DEFAULT_JOB_CLASS, JOB_CLASSES
from suanli.errors import InvalidInput
from suanli.i18n import Msg, msg
from suanli.simulation.pricing import priced_pool
from suanli.simulation.workload import Fleet, Workload

POOLS_MAX = 1_000_000
JOBS_MAX = 10_000_000
MEAN_INTERARRIVAL_S = 60.0
REFERENCE_MODEL = "V100"
OWNERS = 100
CITIES = (
    Region("Zhejiang", "Hangzhou"),
    Region("Shanghai", "Shanghai"),
    Region("Guangdong", "Shenzhen"),
    Region("Sichuan", "Chengdu"),
    Region("Guizhou", "Guiyang"),
    Region("Beijing", "Beijing"),
)
CARD_CHOICES = ((1, 1), (2, 2), (4, 4), (8, 4))  # (cards, cards per node)
CARD_WEIGHTS = (0.70, 0.10, 0.15, 0.05)
NODE_CARD_CHOICES = (1, 2, 4, 8)
NODE_CARD_WEIGHTS = (0.1, 0.2, 0.3, 0.4)
SEED_MAX = 2**63 - 1  # any non-negative seed would do for NumPy; this one fits an int64
MEMORY_GIB_BY_CLASS = {"llm-train-bf16": 40.0, "llm-infer-fp16": 24.0}


def synthetic_fleet(pools: int, seed: int = 0) -> Fleet:
    check_seed(seed)
    if not 1 <= pools <= POOLS_MAX:
        raise InvalidInput(
            msg(
                f"合成集群规模须在 1 至 {POOLS_MAX} 之间",
                f"synthetic fleet size must be in [1, {POOLS_MAX}]",
            ),
            field="fleet",
        )
    rng = np.random.default_rng(seed)
    models = [a for a in CATALOG if a.memory_bandwidth_gbs is not None]
    chosen = rng.integers(0, len(models), pools)
    cards_per_node = rng.choice(NODE_CARD_CHOICES, pools, p=NODE_CARD_WEIGHTS)
    nodes = np.minimum(rng.geometric(0.3, pools), 64)
    cities = rng.integers(0, len(CITIES), pools)
    noise = rng.uniform(0.75, 1.25, pools)
    views = []
    for i in range(pools):
        accelerator = models[int(chosen[i])]
        view = priced_pool(
            accelerator,
            pool_id=f"syn-{i:06d}",
            provider_id=f"provider-{i % 200:03d}",
            name=f"{accelerator.model} pool {i}",
            nodes=int(nodes[i]),
            cards_per_node=int(cards_per_node[i]),
            region=CITIES[int(cities[i])],
            price_factor=noise[i],
        )
        views.append(view)
    return Fleet(pools=tuple(views), source=_source(pools, seed))


def synthetic_workload(jobs: int, seed: int = 0) -> Workload:
    check_seed(seed)
    if not 1 <= jobs <= JOBS_MAX:
        raise InvalidInput(
            msg(
                f"合成负载规模须在 1 至 {JOBS_MAX} 之间",
                f"synthetic workload size must be in [1, {JOBS_MAX}]",
            ),
            field="workload",
        )
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(MEAN_INTERARRIVAL_S, jobs))
    runtimes = gavel_runtimes_s(rng, jobs)
    sizes = rng.choice(len(CARD_CHOICES), jobs, p=CARD_WEIGHTS)
    classes = [c for c in JOB_CLASSES if c != DEFAULT_JOB_CLASS]
    class_picks = rng.integers(0, len(classes), jobs)
    ranks = np.arange(1, OWNERS + 1, dtype=np.float64) ** -1.1
    owners = rng.choice(OWNERS, jobs, p=ranks / ranks.sum())
    draws = rng.random((jobs, 4))  # priority, objective, region pin, region choice
    queued = tuple(
        _job(
            i,
            float(arrivals[i]),
            float(runtimes[i]),
            CARD_CHOICES[int(sizes[i])],
            classes[int(class_picks[i])],
            int(owners[i]),
            draws[i],
        )
        for i in range(jobs)
    )
    return Workload(jobs=queued, source=_source(jobs, seed))


def _source(size: int, seed: int) -> Msg:
    return msg(f"synthetic:{size}（种子 {seed}）", f"synthetic:{size} (seed {seed})")


def check_seed(seed: int) -> int:
    """A seed NumPy takes: a whole number in [0, SEED_MAX] (it refuses negative ones)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise InvalidInput(
            msg(
                f"--seed 须为 0 至 2^63 − 1 之间的整数，收到 {seed}",
                f"--seed must be a whole number in [0, 2^63 − 1], got {seed}",
            ),
            field="seed",
        )
    return seed


def gavel_runtimes_s(rng: np.random.Generator, jobs: int) -> np.ndarray:
    long_tail = rng.random(jobs) >= 0.8
    exponents = np.where(long_tail, rng.uniform(3, 4, jobs), rng.uniform(1.5, 3, jobs))
    return np.asarray(60.0 * 10.0**exponents)


def _priority(draw: float) -> tuple[int, bool]:
    if draw < 0.10:
        return 80, False
    if draw < 0.85:
        return 50, False
    return 20, True


def _objective(draw: float) -> str:
    if draw < 0.7:
        return "default"
    return ("cost", "time", "deadline")[min(2, int((draw - 0.7) / 0.1))]


def _job(
    i: int,
    arrival_s: float,
    runtime_s: float,
    size: tuple[int, int],
    job_class: str,
    owner: int,
    draw: np.ndarray,
) -> QueuedJob:
    cards, cards_per_node = size
    precision = JOB_CLASSES[job_class].precision
    priority, preemptible = _priority(float(draw[0]))
    objective = _objective(float(draw[1]))
    pinned = draw[2] < 0.05
    spec = JobSpec(
        name=f"job-{i}",
        command="synthetic",
        cards=cards,
        cards_per_node=cards_per_node,
        min_memory_gib=MEMORY_GIB_BY_CLASS.get(job_class, 0.0),
        precision=None if precision == Precision.FP32 else precision,
        region=Region(CITIES[int(draw[3] * len(CITIES))].province) if pinned else None,
        max_run_time_s=min(RUN_TIME_S_MAX, math.ceil(runtime_s * 4)),
        priority=priority,
        objective=objective,
        preemptible=preemptible,
        job_class=job_class,
        deadline_s=math.ceil(runtime_s * 3) if objective == "deadline" else None,
    )
    return QueuedJob(
        id=f"job-{i:07d}",
        owner_id=f"enterprise-{owner:03d}",
        spec=spec,
        submitted_at_s=arrival_s,
        reference_runtime_s=runtime_s,
        reference_model=REFERENCE_MODEL,
    )
