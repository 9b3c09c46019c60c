"""The contended workloads (philly-sia, gavel-msr) and their fleets, on small hand-written files
in the trace layout: loading, gangs, Gavel's measured runtimes, bad lines, and a bounded CLI run
printing the floor, × FIFO, × floor and the wait per tenth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from suanli.cli import simulate
from suanli.domain.accelerators import get_accelerator
from suanli.errors import InvalidInput
from suanli.simulation.contended import (
    gavel_class,
    gavel_fleet,
    load_gavel_traces,
    load_philly,
    node_shape,
    philly_fleet,
)
from suanli.simulation.runner import performance_model

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
    }
    for worker, speed in (("k80", 0.5), ("p100", 2.0), ("v100", 4.0))
}
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
    assert first.reference_runtime_s == pytest.approx(4000 / 4.0)  # steps ÷ V100 steps/s
    assert eight.reference_runtime_s == pytest.approx(24000 / 24.0)
    assert sixteen.reference_runtime_s == pytest.approx(48000 / 48.0)  # 8's, scaled linearly
    assert sixteen.spec.job_class == gavel_class("ResNet-50 (batch size 64)", 8)
    performance = performance_model(None, workload.speeds)
    k80, v100 = get_accelerator("K80"), get_accelerator("V100")
    on_k80 = performance.translate_runtime_s(1000.0, first.spec.job_class, v100, k80)
    assert on_k80 == pytest.approx(8000.0)  # K80 measured 8× slower, not the roofline's figure
    assert gavel_fleet(112).cards == 3 * 112


@pytest.mark.parametrize(
    ("line", "column", "text"),
    [
        (2, "total_steps (field 5)", "ResNet-50 (batch size 64)\tcmd\t-n\t1\tmany\t1.0\t1"),
        (2, "job_type (field 1)", "Unknown (batch size 1)\tcmd\t-n\t1\t10\t1.0\t1"),
        (2, "row", "ResNet-50 (batch size 64)\t10\t1.0"),
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
    result = CliRunner().invoke(_app(), [*args, "--compare", "fifo-first-fit,fastest"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["policies"]["fastest"]["completed"] == 4
    assert (
        body["policies"]["fastest"]["avg_jct_s"] <= body["policies"]["fifo-first-fit"]["avg_jct_s"]
    )
