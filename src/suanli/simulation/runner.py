"""The simulate use case: load the fleet and workload, rescale arrivals, replay each policy.

The CLI stays thin: it parses options into a `SimulationRequest`, calls `run_simulation` and
renders what comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from suanli.domain.scheduling import DEFAULT_PACKING_POLICY
from suanli.domain.scheduling.feasibility import is_feasible
from suanli.domain.scheduling.packing import check_policy
from suanli.domain.scheduling.performance import PerformanceModel, resolve_model
from suanli.domain.scheduling.policies import PolicyOptions, get_policy, policy_names
from suanli.errors import InvalidInput
from suanli.i18n import msg, render
from suanli.simulation.bound import JctBound, jct_bound
from suanli.simulation.contended import CARDS_PER_NODE, GAVEL_CARDS_MAX, gavel_fleet
from suanli.simulation.engine import Progress, SimulationResult, simulate
from suanli.simulation.floor import JctFloor, jct_floor
from suanli.simulation.gavel import WORKER_MODELS, load_throughputs, measured_by_class
from suanli.simulation.metrics import PolicyMetrics, summarize
from suanli.simulation.synthetic import check_seed
from suanli.simulation.traces import (
    GAVEL_FLEET_PREFIX,
    SYNTHETIC_PREFIX,
    load_fleet_named,
    load_workload_named,
)
from suanli.simulation.workload import (
    Fleet,
    Workload,
    cards_for_load,
    check_rescaled_span,
    check_time_scale,
    compression_for_load,
    load_by_tenth,
    offered_load,
    rescaled,
)

SYNTHETIC_DEFAULT_LOAD = 0.9  # synthetic arrivals have no natural clock; replay them at 0.9
GAVEL_AUTO = GAVEL_FLEET_PREFIX + "auto"  # gavel:auto[@LOAD]: N sized to the workload
GAVEL_AUTO_LOAD = 0.8  # the sizing: offered load 0.8 at V100 speed
EQUIVALENT_POOLS_MAX = 64  # beyond this (Alibaba's 1,213 nodes) the equivalent load is skipped
POLICIES_MAX = 16

ProgressFactory = Callable[[str, int], Progress]  # (policy name, jobs) -> callback


@dataclass(frozen=True)
class SimulationRequest:
    fleet: str
    workload: str
    policies: tuple[str, ...]
    target_load: float | None = None
    time_scale: float | None = None
    seed: int = 0
    limit_jobs: int | None = None
    throughputs: Path | None = None  # Gavel's JSON: measured speeds override the roofline
    traces_dir: Path | None = None
    packing: str = DEFAULT_PACKING_POLICY  # the node and card of a share within its pool
    packing_whole_cards: bool = False  # one-node whole-card jobs packed too
    bound: bool = True  # the avg-JCT bound: often dearer than the replay on large workloads

    def __post_init__(self) -> None:
        check_policy(self.packing)  # before any trace is read
        check_seed(self.seed)


@dataclass
class Comparison:
    fleet: Fleet
    workload: Workload
    offered_load: float  # at the reference chip's speed, every card counted as one
    arrival_factor: float
    floor: JctFloor  # each job alone on its fastest pool: no policy's avg JCT is lower
    # the floor with the jobs sharing the fleet: no schedule's avg JCT is lower; None when
    # the request asked for no bound
    bound: JctBound | None
    equivalent_load: float = 0.0  # against the fleet in reference-chip equivalents
    load_by_tenth: tuple[float, ...] = ()  # offered load of the jobs arriving in each tenth
    results: dict[str, SimulationResult] = field(default_factory=dict)
    metrics: dict[str, PolicyMetrics] = field(default_factory=dict)


def parse_policies(policy: str | None, compare: str | None) -> tuple[str, ...]:
    """--policy P or --compare p1,p2 (not both); neither means every policy. Given but empty
    (`--policy ""`, `--compare ,`) is refused: running all nine was never asked for."""
    if policy is not None and compare is not None:
        raise InvalidInput(
            msg("--policy 和 --compare 只能给一个", "give --policy or --compare, not both"),
            field="policy",
        )
    if policy is None and compare is None:
        return tuple(policy_names())
    given = policy.strip() if policy is not None else None
    names = [given] if given else [n.strip() for n in (compare or "").split(",") if n.strip()]
    if not names:
        option = "--policy" if policy is not None else "--compare"
        raise InvalidInput(
            msg(f"{option} 没有给出策略", f"{option}: no policy given"),
            field=option.removeprefix("--"),
        )
    if len(names) > POLICIES_MAX:
        raise InvalidInput(
            msg(f"每次最多比较 {POLICIES_MAX} 个策略", f"at most {POLICIES_MAX} policies per run"),
            field="compare",
        )
    for name in names:
        get_policy(name)  # raises InvalidInput naming the known policies
    return tuple(dict.fromkeys(names))


def prepare(request: SimulationRequest) -> tuple[Fleet, Workload, float]:
    """The fleet and the workload with arrivals rescaled; the factor applied to arrivals."""
    if request.target_load is not None and request.time_scale is not None:
        raise InvalidInput(
            msg(
                "--target-load 和 --time-scale 只能给一个",
                "give --target-load or --time-scale, not both",
            ),
            field="target_load",
        )
    workload = load_workload_named(request.workload, request.traces_dir, request.seed)
    workload = workload.limited(request.limit_jobs)
    if request.fleet.startswith(GAVEL_AUTO):
        fleet = _gavel_auto(request.fleet, workload)
    else:
        fleet = load_fleet_named(request.fleet, request.traces_dir, request.seed)
    fleet = fleet.require_nonempty()
    if not workload.jobs:
        raise InvalidInput(
            msg(
                f"负载 {render(workload.source, 'zh-CN')} 中没有 GPU 作业",
                f"the workload {render(workload.source, 'en')} has no GPU jobs",
            ),
            field="workload",
        )
    target = request.target_load
    if (
        target is None
        and request.time_scale is None
        and request.workload.startswith(SYNTHETIC_PREFIX)
    ):
        target = SYNTHETIC_DEFAULT_LOAD
    if target is not None:
        factor = compression_for_load(workload, fleet.cards, target)
    else:
        factor = check_time_scale(request.time_scale) if request.time_scale is not None else 1.0
    check_rescaled_span(workload, factor, "target_load" if target is not None else "time_scale")
    return fleet, rescaled(workload, factor), factor


def _gavel_auto(name: str, workload: Workload) -> Fleet:
    """gavel:auto[@LOAD]: equal K80/P100/V100 counts for an offered load of LOAD (0.8) at the
    workload's reference speed, rounded up to whole 8-card nodes."""
    text = name.removeprefix(GAVEL_AUTO).removeprefix("@") or str(GAVEL_AUTO_LOAD)
    try:
        target = float(text)
    except ValueError:
        raise InvalidInput(
            msg(f"{name!r}：应为 gavel:auto@负载", f"{name!r}: expected gavel:auto@LOAD"),
            field="fleet",
        ) from None
    if not workload.jobs:
        raise InvalidInput(msg("负载中没有作业", "the workload has no jobs"), field="workload")
    cards = cards_for_load(
        workload, target, len(WORKER_MODELS), CARDS_PER_NODE, GAVEL_CARDS_MAX, name
    )
    fleet = gavel_fleet(cards)
    sized = msg(
        f"{render(fleet.source, 'zh-CN')}（gavel:{cards}，按提供负载 {target:g} 配置）",
        f"{render(fleet.source, 'en')} (gavel:{cards}, sized for offered load {target:g})",
    )
    return Fleet(pools=fleet.pools, source=sized, skipped=fleet.skipped)


def equivalent_cards(fleet: Fleet, workload: Workload, performance: PerformanceModel) -> float:
    """The fleet in cards of the workload's reference chip: each pool's cards × how much
    reference work a card of it does per second, averaged over the work it could run
    (Σ reference card-seconds ÷ Σ card-seconds on that pool's chip, over the jobs it fits).
    0 (not computed) for fleets of more than EQUIVALENT_POOLS_MAX pools."""
    if len(fleet.pools) > EQUIVALENT_POOLS_MAX:
        return 0.0
    total = 0.0
    ratios: dict[tuple[str, str | None, str | None], float] = {}
    for view in fleet.pools:
        reference_s = pool_s = 0.0
        for job in workload.jobs:
            if not is_feasible(job.spec, view):
                continue
            key = (view.accelerator.model, job.spec.job_class, job.reference_model)
            if key not in ratios:
                reference = resolve_model(job.reference_model or view.accelerator.model)
                ratios[key] = (
                    performance.relative_speed(job.spec.job_class, view.accelerator, reference)
                    if reference is not None
                    else 1.0
                )
            work = job.spec.cards * job.expected_reference_runtime_s
            reference_s += work
            pool_s += work / ratios[key]
        if pool_s > 0:
            total += view.pool.cards * reference_s / pool_s
    return total


def performance_model(
    throughputs: Path | None, speeds: dict[str, dict[str, float]] | None = None
) -> PerformanceModel:
    """The roofline, overridden by measured speeds: Gavel's matrix per class when given, and
    the workload's own per-class measurements (gavel-msr)."""
    measured = measured_by_class(load_throughputs(throughputs)) if throughputs else {}
    measured.update(speeds or {})
    return PerformanceModel(measured)


def run_simulation(
    request: SimulationRequest, progress: ProgressFactory | None = None
) -> Comparison:
    fleet, workload, factor = prepare(request)
    performance = performance_model(request.throughputs, workload.speeds)
    equivalent = equivalent_cards(fleet, workload, performance)
    comparison = Comparison(
        fleet,
        workload,
        offered_load(workload, fleet.cards),
        factor,
        jct_floor(fleet, workload, performance),
        jct_bound(fleet, workload, performance) if request.bound else None,
        equivalent_load=offered_load(workload, equivalent) if equivalent > 0 else 0.0,
        load_by_tenth=load_by_tenth(workload, fleet.cards),
    )
    for name in request.policies:
        options = PolicyOptions(
            packing=request.packing, packing_whole_cards=request.packing_whole_cards
        )
        policy = get_policy(name, performance, options)
        callback = progress(name, len(workload.jobs)) if progress else None
        result = simulate(fleet, workload, policy, performance, progress=callback)
        comparison.results[name] = result
        comparison.metrics[name] = summarize(result)
    return comparison
