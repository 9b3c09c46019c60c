"""`suanli simulate` and `suanli bench scheduler` through Typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from suanli.cli import bench, simulate
from suanli.simulation.metrics import METRIC_KEYS


def _app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """A root with a callback, so commands are invoked by name as in `suanli`."""

    simulate.register(root)
    root.add_typer(bench.app, name="bench")
    return root


def _simulate(*args: str) -> Result:
    base = ["simulate", "--fleet", "synthetic:20", "--workload", "synthetic:150", "--seed", "3"]
    return CliRunner(env={"SUANLI_LANGUAGE": "en"}).invoke(_app(), [*base, *args])


def test_simulate_json_has_exactly_the_documented_shape() -> None:
    result = _simulate("--compare", "fifo-first-fit,fastest,fair", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert list(body) == [
        "policies",
        "floor",
        "bound",
        "fleet",
        "cards",
        "offered_load",
        "equivalent_load",
        "load_by_tenth",
    ]
    assert body["offered_load"] > 0 and len(body["load_by_tenth"]) == 10
    assert sum(body["load_by_tenth"]) == pytest.approx(10 * body["offered_load"], rel=1e-3)
    assert list(body["policies"]) == ["fifo-first-fit", "fastest", "fair"]
    assert set(body["floor"]) == {"avg_jct_s", "jobs"}
    bound = body["bound"]
    assert list(bound) == [
        "avg_jct_s",
        "runtime_avg_s",
        "srpt_avg_s",
        "priced_avg_s",
        "capacity_cards",
        "jobs",
    ]
    assert bound["runtime_avg_s"] == pytest.approx(body["floor"]["avg_jct_s"], rel=1e-6)
    assert bound["avg_jct_s"] == max(
        bound["runtime_avg_s"], bound["srpt_avg_s"], bound["priced_avg_s"]
    )
    for metrics in body["policies"].values():
        assert tuple(metrics) == (*METRIC_KEYS, "x_fifo", "x_floor")
        assert metrics["x_floor"] >= 1 and len(metrics["wait_by_tenth_s"]) == 10
        assert metrics["avg_jct_s"] >= bound["avg_jct_s"] >= body["floor"]["avg_jct_s"]
        assert isinstance(metrics["cost_fen"], int)
        assert isinstance(metrics["completed"], int) and isinstance(metrics["unplaceable"], int)


def test_no_bound_leaves_the_bound_out_and_changes_nothing_else() -> None:
    args = ("--compare", "fifo-first-fit,fastest", "--json")
    bounded, unbounded = _simulate(*args), _simulate(*args, "--no-bound")
    assert unbounded.exit_code == 0, unbounded.output
    with_bound, without = json.loads(bounded.stdout), json.loads(unbounded.stdout)
    assert with_bound["bound"] is not None and without["bound"] is None
    for body in (with_bound, without):  # the replay's own speed differs from run to run
        for metrics in body["policies"].values():
            del metrics["decisions_per_s"]
    assert {**without, "bound": with_bound["bound"]} == with_bound
    table = _simulate("--policy", "fastest", "--no-bound")
    assert table.exit_code == 0, table.output
    assert "floor: avg JCT ≥" in table.stdout and "bound:" not in table.stdout


def test_simulate_prints_a_table_and_writes_plots(tmp_path: Path) -> None:
    result = _simulate("--policy", "balanced", "--plot", str(tmp_path / "plots"))
    assert result.exit_code == 0, result.output
    assert "balanced" in result.stdout
    assert "floor: avg JCT ≥" in result.stdout
    assert "bound: avg JCT ≥" in result.stdout and "under any schedule" in result.stdout
    assert (tmp_path / "plots" / "utilization.png").stat().st_size > 0
    assert (tmp_path / "plots" / "jct.png").stat().st_size > 0


def test_an_unknown_policy_exits_2_with_a_message_and_no_traceback() -> None:
    result = _simulate("--policy", "lottery")
    assert result.exit_code == 2
    assert "unknown policy 'lottery'" in result.stderr
    assert "Traceback" not in result.output


def test_an_impossible_target_load_exits_2() -> None:
    result = _simulate("--target-load", "-1")
    assert result.exit_code == 2
    assert "target load" in result.stderr


def test_target_load_and_time_scale_together_exit_2() -> None:
    result = _simulate("--target-load", "0.5", "--time-scale", "0.1")
    assert result.exit_code == 2


def test_a_bad_trace_row_exits_2_naming_the_line(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\nn0,1,1,8,V100\nn1,1,1,lots,V100\n")
    result = CliRunner(env={"SUANLI_LANGUAGE": "en"}).invoke(
        _app(), ["simulate", "--fleet", str(nodes), "--workload", "synthetic:10"]
    )
    assert result.exit_code == 2
    assert "nodes.csv line 3: gpu" in result.stderr


def test_an_empty_fleet_exits_2(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\nn0,1,1,0,\n")
    result = CliRunner(env={"SUANLI_LANGUAGE": "en"}).invoke(
        _app(), ["simulate", "--fleet", str(nodes), "--workload", "synthetic:10"]
    )
    assert result.exit_code == 2
    assert "no GPU pools" in result.stderr


def test_bench_scheduler_json_has_the_documented_keys() -> None:
    result = CliRunner(env={"SUANLI_LANGUAGE": "en"}).invoke(
        _app(), ["bench", "scheduler", "--pools", "50", "--jobs", "200", "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert {"decisions_per_s", "p99_decision_ms", "peak_rss_mib"} <= set(body)
    assert body["decisions_per_s"] > 0 and body["peak_rss_mib"] > 0
    # a third of the jobs ask for a share of a card (seeded), against the same jobs all whole
    assert 40 <= body["fractional_jobs"] <= 95
    assert body["whole_card_cpu_decisions_per_s"] > 0 and body["sharing_speed_ratio"] > 0


def test_bench_scheduler_refuses_a_fraction_outside_0_to_1() -> None:
    result = CliRunner(env={"SUANLI_LANGUAGE": "en"}).invoke(
        _app(), ["bench", "scheduler", "--fractional", "1.5"]
    )
    assert result.exit_code == 2 and "fractional must be in [0, 1]" in result.output


def test_bench_scheduler_measures_the_packing_policy_it_is_given() -> None:
    runner = CliRunner(env={"SUANLI_LANGUAGE": "en"})
    args = ["bench", "scheduler", "--pools", "50", "--jobs", "200", "--json"]
    result = runner.invoke(_app(), [*args, "--packing", "fgd"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["packing"] == "fgd"
    assert json.loads(runner.invoke(_app(), args).stdout)["packing"] == "suanli"
    refused = runner.invoke(_app(), [*args, "--packing", "tetris"])
    assert refused.exit_code == 2 and "unknown packing policy 'tetris'" in refused.output


def test_simulate_takes_the_packing_policy_and_refuses_an_unknown_one() -> None:
    runner = CliRunner(env={"SUANLI_LANGUAGE": "en"})
    args = ["simulate", "--fleet", "synthetic:20", "--workload", "synthetic:200", "--json"]
    args.append("--no-bound")  # the bound is checked above; here it would only cost time
    packed = runner.invoke(_app(), [*args, "--packing", "fgd", "--packing-whole-cards"])
    assert packed.exit_code == 0, packed.output
    assert json.loads(packed.stdout)
    refused = runner.invoke(_app(), [*args, "--packing", "tetris"])
    assert refused.exit_code == 2 and "unknown packing policy 'tetris'" in refused.output


def test_the_zh_cn_tables_have_no_english_headers() -> None:
    base = ["simulate", "--fleet", "synthetic:20", "--workload", "synthetic:150", "--seed", "3"]
    env = {"SUANLI_LANGUAGE": "zh-CN", "COLUMNS": "260"}
    result = CliRunner(env=env).invoke(_app(), [*base, "--policy", "fifo-first-fit", "--no-bound"])
    assert result.exit_code == 0, result.output
    headers = [line for line in result.stdout.splitlines() if line.startswith("┃")]
    assert len(headers) == 2, result.stdout  # the policies table and the tenths table
    for english in ("policy", "idle while queued", "util", "avg JCT"):
        assert english not in "".join(headers), english
    assert "排队时闲置" in headers[0] and "策略" in headers[1]
