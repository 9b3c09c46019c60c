"""The simulator: determinism, trace loading and its errors, load rescaling, the real trace."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from suanli.domain.scheduling.performance import PerformanceModel
from suanli.domain.scheduling.policies import get_policy, policy_names
from suanli.errors import InvalidInput
from suanli.simulation import alibaba
from suanli.simulation.engine import Decision, SimulationOptions, simulate
from suanli.simulation.metrics import METRIC_KEYS, summarize
from suanli.simulation.runner import SimulationRequest, run_simulation
from suanli.simulation.synthetic import synthetic_fleet, synthetic_workload
from suanli.simulation.traces import default_starts, find_traces_dir
from suanli.simulation.workload import (
    Fleet,
    Workload,
    compression_for_load,
    offered_load,
    rescaled,
)
from tests.conftest import require_component

NODE_HEADER = "sn,cpu_milli,memory_mib,gpu,model\n"
POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)


def _small(seed: int = 7) -> tuple[Fleet, Workload]:
    fleet = synthetic_fleet(30, seed)
    workload = synthetic_workload(400, seed)
    return fleet, rescaled(workload, compression_for_load(workload, fleet.cards, 1.5))


def _replay(policy: str, seed: int = 7) -> tuple[dict[str, Any], list[Decision]]:
    fleet, workload = _small(seed)
    performance = PerformanceModel()
    result = simulate(
        fleet,
        workload,
        get_policy(policy, performance),
        performance,
        SimulationOptions(record_decisions=True),
    )
    metrics = summarize(result).as_dict()
    metrics.pop("decisions_per_s")  # wall-clock, the one figure that may differ
    return metrics, result.decisions


@pytest.mark.parametrize("policy", policy_names())
def test_a_seeded_replay_is_deterministic(policy: str) -> None:
    first, first_decisions = _replay(policy)
    second, second_decisions = _replay(policy)
    assert first == second
    assert first_decisions == second_decisions


def test_another_seed_gives_another_replay() -> None:
    assert _replay("fastest", 7)[0] != _replay("fastest", 8)[0]


def test_every_job_either_completes_or_is_counted_unplaceable() -> None:
    fleet, workload = _small()
    for policy in policy_names():
        metrics = summarize(simulate(fleet, workload, get_policy(policy)))
        assert metrics.completed + metrics.unplaceable == 400
        assert isinstance(metrics.cost_fen, int) and metrics.cost_fen > 0
        assert 0 < metrics.utilization <= 1 and 0 < metrics.jain <= 1
        assert set(metrics.as_dict()) == set(METRIC_KEYS)


def test_decisions_record_the_queue_each_placement_came_from() -> None:
    _, decisions = _replay("balanced")
    assert decisions
    for decision in decisions:
        assert {p.job_id for p in decision.placements} <= set(decision.queue)


def test_target_load_compresses_arrivals_to_the_requested_offered_load() -> None:
    fleet, workload = synthetic_fleet(10, 1), synthetic_workload(200, 1)
    scaled = rescaled(workload, compression_for_load(workload, fleet.cards, 0.9))
    assert offered_load(scaled, fleet.cards) == pytest.approx(0.9)
    assert [j.spec for j in scaled.jobs] == [j.spec for j in workload.jobs]


@pytest.mark.parametrize("load", [0.0, -1.0, math.nan, math.inf, 1e6])
def test_an_impossible_target_load_is_refused(load: float) -> None:
    fleet, workload = synthetic_fleet(10, 1), synthetic_workload(20, 1)
    with pytest.raises(InvalidInput, match="target load"):
        compression_for_load(workload, fleet.cards, load)


def test_a_workload_whose_arrivals_span_no_time_cannot_be_compressed() -> None:
    fleet, workload = synthetic_fleet(10, 1), synthetic_workload(1, 1)
    with pytest.raises(InvalidInput, match="span no time"):
        compression_for_load(workload, fleet.cards, 0.5)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_node_list_groups_nodes_by_model_and_cards_and_skips_cpu_nodes(tmp_path: Path) -> None:
    rows = "n0,1,1,8,G2\nn1,1,1,8,G2\nn2,1,1,0,\nn3,1,1,2,T4\n"
    fleet = alibaba.load_fleet(_write(tmp_path, "nodes.csv", NODE_HEADER + rows))
    assert [(v.pool.accelerator_model, v.pool.nodes, v.pool.cards) for v in fleet.pools] == [
        ("G2", 2, 16),
        ("T4", 1, 2),
    ]
    assert fleet.skipped == {"cpu_only_nodes": 1}
    g2 = fleet.pools[0].accelerator
    assert g2.memory_bandwidth_gbs == 900 and "proxy" in g2.sources[0]


def test_the_pod_list_becomes_jobs_with_constraints_and_counted_skips(tmp_path: Path) -> None:
    rows = (
        "p0,1,1,1,500,T4|P100,BE,Running,10,110,20\n"  # shared GPU, constrained, preemptible
        "p1,1,1,0,0,,LS,Running,0,50,0\n"  # CPU only
        "p2,1,1,2,1000,,LS,Pending,5,9,\n"  # never ran
    )
    workload = alibaba.load_workload(_write(tmp_path, "pods.csv", POD_HEADER + rows))
    (job,) = workload.jobs
    assert job.spec.accelerators == ("T4", "P100") and job.spec.preemptible
    assert (job.submitted_at_s, job.reference_runtime_s, job.spec.cards) == (10.0, 90.0, 1)
    assert workload.skipped == {"cpu_only_pods": 1, "never_ran_pods": 1}
    assert workload.adjusted["shared_gpu_rounded_up"] == 1


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("p1,1,1,x,1000,,LS,Running,0,10,0\n", "num_gpu"),
        ("p1,1,1,1,1500,,LS,Running,0,10,0\n", "gpu_milli"),
        ("p1,1,1,1,1000,,LS,Running,-5,10,0\n", "creation_time"),
        ("p1,1,1,1,1000,,LS,Running,0,5,9\n", "deletion_time"),
        ("p1,1,1,1,1000,,VIP,Running,0,10,0\n", "qos"),
        ("p1,1,1,1,1000,,LS\n", "row"),
        ("p0,1,1,1,1000,,LS,Running,0,10,0\n", "name"),
    ],
)
def test_a_malformed_pod_row_names_its_line_and_column(
    tmp_path: Path, row: str, column: str
) -> None:
    good = "p0,1,1,1,1000,,LS,Running,0,10,0\n"
    path = _write(tmp_path, "pods.csv", POD_HEADER + good + row)
    with pytest.raises(InvalidInput, match=f"pods.csv line 3: {column}") as raised:
        alibaba.load_workload(path)
    assert raised.value.details["line"] == 3


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "pods.csv", "name,num_gpu\np0,1\n")
    with pytest.raises(InvalidInput, match="line 1: missing column"):
        alibaba.load_workload(path)


def test_an_unknown_gpu_model_in_the_node_list_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "nodes.csv", NODE_HEADER + "n0,1,1,8,Z9000\n")
    with pytest.raises(InvalidInput, match="Z9000"):
        alibaba.load_fleet(path)


def test_a_fleet_of_cpu_nodes_only_is_an_empty_fleet(tmp_path: Path) -> None:
    nodes = _write(tmp_path, "nodes.csv", NODE_HEADER + "n0,1,1,0,\n")
    pods = _write(tmp_path, "pods.csv", POD_HEADER + "p0,1,1,1,1000,,LS,Running,0,10,0\n")
    request = SimulationRequest(str(nodes), str(pods), ("fastest",))
    with pytest.raises(InvalidInput, match="no GPU pools"):
        run_simulation(request)


def _trace_dir() -> Path:
    found = find_traces_dir(None, [*default_starts(), Path(__file__).resolve()])
    require_component(found is not None, "shared/traces/alibaba-gpu-v2023 (the real trace)")
    assert found is not None
    return found


def test_the_real_alibaba_trace_replays_under_every_policy() -> None:
    request = SimulationRequest(
        "alibaba-2023",
        "alibaba-2023",
        policy_names(),
        target_load=0.9,
        limit_jobs=500,
        traces_dir=_trace_dir(),
        bound=False,  # checked in test_simulator_cli.py; here it would only cost time
    )
    comparison = run_simulation(request)
    assert comparison.bound is None
    assert len(comparison.fleet.pools) == 12 and comparison.fleet.cards == 6212
    for metrics in comparison.metrics.values():
        assert metrics.completed + metrics.unplaceable == 500
    fifo = comparison.metrics["fifo-first-fit"].avg_jct_s
    assert min(m.avg_jct_s for m in comparison.metrics.values()) <= fifo
