"""The contended workloads (philly-sia, gavel-msr) and their fleets, on small hand-written files
in the trace layout: loading, gangs, Gavel's measured runtimes, bad lines, and a bounded CLI run
printing the floor, × FIFO, × floor and the wait per tenth."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from suanli.cli import simulate
from suanli.domain.accelerators import get_accelerator
from suanli.domain.jobs import JobSpec
from suanli.domain.scheduling.model import QueuedJob
from suanli.domain.scheduling.policies import get_policy
from suanli.errors import InvalidInput
from suanli.simulation.contended import (
    GAVEL_2019_V100_STEPS_PER_S,
    gavel_class,
    gavel_fleet,
    load_gavel_traces,
    load_philly,
    node_shape,
    philly_fleet,
)
from suanli.simulation.engine import simulate as simulate_replay
from suanli.simulation.runner import (
    SimulationRequest,
    equivalent_cards,
    performance_model,
    prepare,
)
from suanli.simulation.workload import Workload, cards_for_load, load_by_tenth, offered_load

PHILLY = "timestamp,duration,num_gpus,gpu_time,cluster\n" + "".join(
    f"2017-10-09 07:{minute:02d}:00,{duration},{gpus},{duration * gpus},vc{minute % 3}\n"
    for minute, (duration, gpus) in enumerate(
        [(600, 1), (1200, 8), (300, 16), (900, 2), (60, 12), (3600, 4)] * 5
    )
)
THROUGHPUTS = {
    worker: {
        "('ResNet-50 (batch size 64)', 1)": {"null": speed},
        "('ResNet-50 (batch size 64)', 8)": {"null": speed * 6},
        # Gavel measures 0 where a chip cannot run the type (out of memory)
        "('ResNet-50 (batch size 128)', 1)": {"null": 0.0 if worker == "k80" else speed / 2},
    }
    for worker, speed in (("k80", 0.5), ("p100", 2.0), ("v100", 4.0))
}
RESNET64_2019_V100 = 5.4575999796347645  # Gavel's 2019 oracle V100 steps/s the traces used
GAVEL = "".join(
    f"ResNet-50 (batch size 64)\tcd x && python3 train.py\t-n\t1\t{steps}\t{arrival:.1f}\t{sf}\n"
    for steps, arrival, sf in [(4000, 0, 1), (24000, 10, 8), (48000, 20, 16), (400, 30, 1)]
)


@pytest.fixture
def traces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "philly-sia").mkdir()
    (tmp_path / "philly-sia" / "philly.csv").write_text(PHILLY)
    (tmp_path / "gavel" / "msr-seed0").mkdir(parents=True)
    (tmp_path / "gavel" / "simulation_throughputs.json").write_text(json.dumps(THROUGHPUTS))
    (tmp_path / "gavel" / "msr-seed0" / "ab12cd.trace").write_text(GAVEL)
    monkeypatch.setenv("SUANLI_TRACES_DIR", str(tmp_path))
    monkeypatch.setenv("SUANLI_LANGUAGE", "en")
    return tmp_path


def test_gangs_take_the_fewest_nodes_with_equal_cards() -> None:
    assert [node_shape(c) for c in (1, 8, 12, 16, 24, 128)] == [
        (1, 1),
        (1, 8),
        (2, 6),
        (2, 8),
        (3, 8),
        (16, 8),
    ]


def test_philly_jobs_keep_their_submit_times_owners_and_gangs(traces: Path) -> None:
    workload = load_philly(traces / "philly-sia" / "philly.csv")
    assert len(workload.jobs) == 30
    assert workload.jobs[0].submitted_at_s == 0 and workload.jobs[-1].submitted_at_s == 29 * 60
    wide = [job for job in workload.jobs if job.spec.cards == 12]
    assert wide and all(job.spec.cards_per_node == 6 for job in wide)
    assert {job.owner_id for job in workload.jobs} == {"vc-vc0", "vc-vc1", "vc-vc2"}
    assert philly_fleet().cards == 768


def test_gavel_runtimes_come_from_the_measured_matrix(traces: Path) -> None:
    folder = traces / "gavel" / "msr-seed0"
    workload = load_gavel_traces(folder, traces / "gavel" / "simulation_throughputs.json")
    first, eight, sixteen, _ = workload.jobs
    # steps ÷ the one-GPU V100 steps/s the generator used, whatever the scale factor
    assert GAVEL_2019_V100_STEPS_PER_S["ResNet-50 (batch size 64)"] == RESNET64_2019_V100
    assert first.reference_runtime_s == pytest.approx(4000 / RESNET64_2019_V100)
    assert eight.reference_runtime_s == pytest.approx(24000 / RESNET64_2019_V100)
    assert sixteen.reference_runtime_s == pytest.approx(48000 / RESNET64_2019_V100)
    assert eight.spec.job_class == gavel_class("ResNet-50 (batch size 64)", 8)
    assert sixteen.spec.job_class == gavel_class("ResNet-50 (batch size 64)", 8)  # largest ≤ 16
    performance = performance_model(None, workload.speeds)
    k80, v100 = get_accelerator("K80"), get_accelerator("V100")
    on_k80 = performance.translate_runtime_s(1000.0, first.spec.job_class, v100, k80)
    assert on_k80 == pytest.approx(8000.0)  # K80 measured 8× slower, not the roofline's figure
    assert gavel_fleet(112).cards == 3 * 112


def test_total_steps_decode_to_the_philly_duration_at_any_scale_factor(traces: Path) -> None:
    """The generator wrote steps = Philly seconds × the type's one-GPU V100 steps/s (2019)."""
    steps = round(3600 * RESNET64_2019_V100)  # an hour-long Philly job
    lines = [
        f"ResNet-50 (batch size 64)\tcmd\t-n\t1\t{steps}\t{i}.0\t{sf}"
        for i, sf in enumerate((1, 2, 4, 8, 32))
    ]
    folder = traces / "gavel" / "msr-seed0"
    (folder / "ab12cd.trace").write_text("\n".join(lines) + "\n")
    workload = load_gavel_traces(folder, traces / "gavel" / "simulation_throughputs.json")
    assert [round(job.expected_reference_runtime_s) for job in workload.jobs] == [3600] * 5
    assert [job.spec.cards for job in workload.jobs] == [1, 2, 4, 8, 32]


def test_a_chip_measured_at_zero_cannot_run_the_job(traces: Path) -> None:
    folder = traces / "gavel" / "msr-seed0"
    line = "ResNet-50 (batch size 128)\tcmd\t-n\t1\t2846\t0.0\t1\n"
    (folder / "ab12cd.trace").write_text(line + GAVEL)
    workload = load_gavel_traces(folder, traces / "gavel" / "simulation_throughputs.json")
    big = next(job for job in workload.jobs if "128" in (job.spec.job_class or ""))
    assert big.spec.accelerators == ("P100", "V100")
    assert big.reference_runtime_s == pytest.approx(2846 / 2.8459812117650305)
    assert all(not job.spec.accelerators for job in workload.jobs if job is not big)
    performance = performance_model(None, workload.speeds)
    fleet = gavel_fleet(16)  # K80 first: first-fit would put it there if it could
    result = simulate_replay(fleet, workload, get_policy("fifo-first-fit", performance))
    outcome = result.outcomes[big.id]
    assert outcome.finished_at_s is not None and outcome.pool_id == "gavel-p100"
    assert result.outcomes[workload.jobs[1].id].pool_id == "gavel-k80"


def _jobs(*rows: tuple[float, int, float]) -> Workload:
    """(submit s, cards, V100 runtime s) rows as a workload."""
    jobs = tuple(
        QueuedJob(
            id=f"j{i}",
            owner_id="o",
            spec=JobSpec(name=f"j{i}", command="x", cards=cards, job_class="gavel:t@1"),
            submitted_at_s=at,
            reference_runtime_s=runtime,
            reference_model="V100",
        )
        for i, (at, cards, runtime) in enumerate(rows)
    )
    return Workload(jobs=jobs, source="hand", speeds={"gavel:t@1": THREE_SPEEDS})


THREE_SPEEDS = {"K80": 0.5, "P100": 2.0, "V100": 4.0}  # K80 8×, P100 2× slower than a V100


def test_offered_load_is_work_over_cards_times_span_and_sizes_the_fleet() -> None:
    # 1 card × 1000 s + 2 cards × 500 s = 2000 card-s arriving over 100 s: 20 busy cards
    workload = _jobs((0.0, 1, 1000.0), (100.0, 2, 500.0))
    assert offered_load(workload, 40) == pytest.approx(0.5)
    # 0.8 of 3 equal types: 20 / 0.8 / 3 = 8.33 cards per type, in whole 8-card nodes: 16
    assert cards_for_load(workload, 0.8, 3, 8) == 16
    assert cards_for_load(workload, 0.25, 3, 8) == 32  # 26.7 -> 32
    # each half of the work arrives in the first and the last tenth of the span
    tenths = load_by_tenth(workload, 48)
    assert tenths[0] == pytest.approx(1000 / (48 * 10)) and tenths[9] == tenths[0]
    assert sum(tenths[1:9]) == 0
    with pytest.raises(InvalidInput):
        cards_for_load(workload, 0.0, 3, 8)


def test_equivalent_cards_count_each_chip_at_its_measured_speed() -> None:
    workload = _jobs((0.0, 1, 1000.0), (100.0, 2, 500.0))
    performance = performance_model(None, workload.speeds)
    # 16 V100 + 16 P100 at half speed + 16 K80 at an eighth = 26 V100s
    assert equivalent_cards(gavel_fleet(16), workload, performance) == pytest.approx(26.0)


def test_gavel_auto_sizes_the_fleet_and_the_report_prints_the_loads(traces: Path) -> None:
    request = SimulationRequest(
        fleet="gavel:auto@0.5", workload="gavel-msr", policies=(), traces_dir=traces
    )
    fleet, workload, _ = prepare(request)
    per_type = fleet.cards // 3
    assert per_type % 8 == 0 and fleet.cards % 3 == 0
    assert offered_load(workload, fleet.cards) <= 0.5 < offered_load(workload, fleet.cards - 24)
    body = _run_json(
        ["--fleet", "gavel:auto@0.5", "--workload", "gavel-msr", "--policy", "fastest"]
    )
    assert body["cards"] == fleet.cards and body["offered_load"] <= 0.5
    assert body["equivalent_load"] > body["offered_load"]  # K80 and P100 are slower
    assert len(body["load_by_tenth"]) == 10
    with pytest.raises(InvalidInput, match="gavel:auto@LOAD"):
        prepare(replace_fleet(request, "gavel:auto@lots"))


def replace_fleet(request: SimulationRequest, fleet: str) -> SimulationRequest:
    return SimulationRequest(
        fleet=fleet, workload=request.workload, policies=(), traces_dir=request.traces_dir
    )


def _run_json(args: list[str]) -> dict[str, Any]:
    # --no-bound: the bound is checked in test_simulator_cli.py; here it would only cost time
    result = CliRunner().invoke(_app(), ["simulate", *args, "--json", "--no-bound"])
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body


@pytest.mark.parametrize(
    ("line", "column", "text"),
    [
        (2, "total_steps (field 5)", "ResNet-50 (batch size 64)\tcmd\t-n\t1\tmany\t1.0\t1"),
        (2, "job_type (field 1)", "Unknown (batch size 1)\tcmd\t-n\t1\t10\t1.0\t1"),
        (2, "row", "ResNet-50 (batch size 64)\t10\t1.0"),
        (2, "scale_factor (field 7)", "ResNet-50 (batch size 64)\tcmd\t-n\t1\t10\t1.0\t1.5"),
        (2, "scale_factor (field 7)", "ResNet-50 (batch size 64)\tcmd\t-n\t1\t10\t1.0\t0"),
    ],
)
def test_a_malformed_gavel_line_names_file_line_and_column(
    traces: Path, line: int, column: str, text: str
) -> None:
    trace = traces / "gavel" / "msr-seed0" / "ab12cd.trace"
    lines = GAVEL.splitlines()
    lines[line - 1] = text
    trace.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInput, match=re.escape(f"ab12cd.trace line {line}: column {column}")):
        load_gavel_traces(trace.parent, traces / "gavel" / "simulation_throughputs.json")


def test_a_malformed_philly_line_names_file_line_and_column(traces: Path) -> None:
    path = traces / "philly-sia" / "philly.csv"
    path.write_text(PHILLY.replace("2017-10-09 07:03:00,900,2", "2017-10-09 07:03:00,900,2.5"))
    with pytest.raises(InvalidInput, match=re.escape("philly.csv line 5: column num_gpus")):
        load_philly(path)


def _app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """A root with a callback, so commands are invoked by name as in `suanli`."""

    simulate.register(root)
    return root


def test_a_bounded_philly_run_prints_floor_ratios_and_tenths(traces: Path) -> None:
    args = ["simulate", "--fleet", "philly-sia", "--workload", "philly-sia", "--limit-jobs", "20"]
    args.append("--no-bound")  # checked in test_simulator_cli.py
    result = CliRunner().invoke(
        _app(), [*args, "--compare", "fifo-first-fit,fifo-backfill,fastest"]
    )
    assert result.exit_code == 0, result.output
    for text in ("× FIFO", "× floor", "p99 JCT", "Mean wait per tenth", "floor: avg JCT"):
        assert text in result.stdout
    body = json.loads(CliRunner().invoke(_app(), [*args, "--policy", "fastest", "--json"]).stdout)
    fastest = body["policies"]["fastest"]
    assert fastest["x_fifo"] is None and fastest["x_floor"] >= 1.0
    assert fastest["completed"] == 20 and fastest["unplaceable"] == 0


def test_a_gavel_run_completes_every_job(traces: Path) -> None:
    args = ["simulate", "--fleet", "gavel:16", "--workload", "gavel-msr", "--json"]
    args.append("--no-bound")  # checked in test_simulator_cli.py
    result = CliRunner().invoke(_app(), [*args, "--compare", "fifo-first-fit,fastest"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["policies"]["fastest"]["completed"] == 4
    assert (
        body["policies"]["fastest"]["avg_jct_s"] <= body["policies"]["fifo-first-fit"]["avg_jct_s"]
    )
