"""`suanli simulate packing` through Typer's test runner, on a small hand-written node list and
pod list in the trace layout (SUANLI_TRACES_DIR), so the run takes a second."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from suanli.cli import simulate
from suanli.simulation.packing import LOOK_AHEAD_FORMS, REPORT_POINTS, SELECTION_SEEDS

NODES = "sn,cpu_milli,memory_mib,gpu,model\n" + "".join(
    f"node-{i:02d},{cpu},262144,{gpus},{model}\n"
    for i, (cpu, gpus, model) in enumerate(
        [(96000, 8, "G2")] * 4 + [(32000, 2, "T4")] * 6 + [(8000, 0, "")] * 2
    )
)
PODS = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n" + "".join(
    f"pod-{i:03d},{2000 + 500 * (i % 5)},4096,{gpus},{milli},{spec}\n"
    for i, (gpus, milli, spec) in enumerate(
        [(1, 100 + 37 * (k % 20), "") for k in range(40)]
        + [(1, 1000, "")] * 10
        + [(2, 1000, "G2")] * 3
        + [(0, 0, "")] * 5
    )
)


@pytest.fixture
def traces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "traces" / "alibaba-gpu-v2023"
    folder.mkdir(parents=True)
    (folder / "openb_node_list_gpu_node.csv").write_text(NODES)
    (folder / "openb_pod_list_small.csv").write_text(PODS)
    monkeypatch.setenv("SUANLI_TRACES_DIR", str(tmp_path / "traces"))
    return folder


def _app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """A root with a callback, so commands are invoked by name as in `suanli`."""

    simulate.register(root)
    return root


def _packing(*args: str) -> Result:
    return CliRunner(env={"SUANLI_LANGUAGE": "en"}).invoke(_app(), ["simulate", "packing", *args])


def test_json_has_exactly_the_documented_shape(traces: Path) -> None:
    result = _packing(
        "--pod-list", "small", "--policies", "best-fit,fgd,suanli", "--seeds", "42..44", "--json"
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert list(body) == ["pod_list", "policies"]
    assert body["pod_list"] == "small"
    assert list(body["policies"]) == ["best-fit", "fgd", "suanli"]
    for name, entry in body["policies"].items():
        extra = ["look_ahead"] if name == "suanli" else []  # only suanli looks ahead
        assert list(entry) == ["alloc_at", "unallocated_gpus_at_100", "sd_at_100", *extra]
        assert list(entry["alloc_at"]) == [str(point) for point in REPORT_POINTS]
        assert all(0 < value <= 100 for value in entry["alloc_at"].values())
        assert entry["sd_at_100"] >= 0 and entry["unallocated_gpus_at_100"] >= 0
    look_ahead = body["policies"]["suanli"]["look_ahead"]
    assert look_ahead["form"] in LOOK_AHEAD_FORMS
    assert look_ahead["selection_seeds"] == list(SELECTION_SEEDS)
    scores = look_ahead["alloc_at_100"]
    assert list(scores) == list(LOOK_AHEAD_FORMS) and all(0 < a <= 100 for a in scores.values())
    assert scores[look_ahead["form"]] == max(scores.values())


@pytest.mark.parametrize(
    ("language", "said"), [("en", "suanli look-ahead: "), ("zh-CN", "suanli 的前瞻：")]
)
def test_the_table_says_which_look_ahead_suanli_chose(
    traces: Path, language: str, said: str
) -> None:
    runner = CliRunner(env={"SUANLI_LANGUAGE": language})
    args = ["simulate", "packing", "--pod-list", "small", "--policies", "suanli", "--seeds", "1"]
    result = runner.invoke(_app(), args)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if said in line)
    assert ("1002,1003,1004" in line) and ("%" in line)
    assert ("node-cpu" in line) == (language == "en")  # no English words in the zh line


def test_table_and_plot(traces: Path, tmp_path: Path) -> None:
    plot = tmp_path / "out" / "curve.png"
    result = _packing(
        "--pod-list",
        str(traces / "openb_pod_list_small.csv"),
        "--policies",
        "random,gpu-packing",
        "--seeds",
        "1,2",
        "--plot",
        str(plot),
    )
    assert result.exit_code == 0, result.output
    assert "gpu-packing" in result.stdout and "44 GPUs" in result.stdout
    assert plot.stat().st_size > 0


@pytest.mark.parametrize(
    ("line", "column", "bad"),
    [
        (5, "gpu_milli", "pod-003,2000,4096,1,abc,"),
        (9, "num_gpu", "pod-007,2000,4096,9,1000,"),
        (3, "row", "pod-001,2000"),
    ],
)
def test_a_malformed_pod_line_names_file_line_and_column(
    traces: Path, line: int, column: str, bad: str
) -> None:
    lines = PODS.splitlines()
    lines[line - 1] = bad
    (traces / "openb_pod_list_broken.csv").write_text("\n".join(lines) + "\n")
    result = _packing("--pod-list", "broken", "--seeds", "42")
    assert result.exit_code == 2
    assert f"openb_pod_list_broken.csv line {line}: column {column}" in result.stderr
    assert "Traceback" not in result.output


def test_a_pod_list_without_gpu_pods_is_refused_before_any_run(traces: Path) -> None:
    cpu_only = [line for line in PODS.splitlines() if line.split(",")[3] in ("num_gpu", "0")]
    (traces / "openb_pod_list_cpuonly.csv").write_text("\n".join(cpu_only) + "\n")
    result = _packing("--pod-list", "cpuonly", "--seeds", "42")
    assert result.exit_code == 2, result.output
    assert "openb_pod_list_cpuonly.csv: no pod asks for a GPU" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_names_are_refused(traces: Path) -> None:
    assert "known: small" in _packing("--pod-list", "nope").stderr
    result = _packing("--pod-list", "small", "--policies", "best-fit,lottery")
    assert result.exit_code == 2 and "unknown packing policy 'lottery'" in result.stderr
    assert _packing("--pod-list", "small", "--seeds", "x..y").exit_code == 2


def test_simulate_without_a_subcommand_still_needs_fleet_and_workload() -> None:
    result = CliRunner(env={"SUANLI_LANGUAGE": "en"}).invoke(
        _app(), ["simulate", "--fleet", "synthetic:5"]
    )
    assert result.exit_code == 2
