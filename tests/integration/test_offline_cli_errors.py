"""`suanli simulate`, `simulate packing` and `bench` refusing bad options before they run, with a
message naming the option and exit 2, never a traceback; strict JSON; output in one language
(zh-CN by default, English with SUANLI_LANGUAGE=en). Through Typer's test runner, on tiny
synthetic fleets and hand-written trace files."""

from __future__ import annotations

import errno
import json
import re
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from matplotlib.figure import Figure
from typer.testing import CliRunner, Result

from suanli.cli import bench, bench_ledger, bench_vouchers, simulate
from suanli.cli.common import console
from suanli.simulation import packing, runner
from suanli.simulation.metrics import json_text

SYNTHETIC = ["--fleet", "synthetic:5", "--workload", "synthetic:20", "--no-bound"]
PHILLY_ONE_JOB = "timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:00:00,60,1,60,a\n"
RESNET = "ResNet-50 (batch size 64)"
GAVEL_TRACE = "".join(f"{RESNET}\tcmd\t-n\t1\t4000\t{t}.0\t1\n" for t in (0, 10, 20))
THROUGHPUTS = {
    w: {f"('{RESNET}', 1)": {"null": s}} for w, s in (("k80", 0.5), ("p100", 2.0), ("v100", 4.0))
}
NODES = "sn,cpu_milli,memory_mib,gpu,model\n" + "".join(
    f"node-{i},96000,262144,8,G2\n" for i in range(4)
)
PODS = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n" + "".join(
    f"pod-{i},2000,4096,1,{300 + 100 * (i % 7)},\n" for i in range(40)
)


def _app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """A root with a callback, so commands are invoked by name as in `suanli`."""

    simulate.register(root)
    root.add_typer(bench.app, name="bench")
    return root


def _run(*args: str, language: str = "en") -> Result:
    return CliRunner(env={"SUANLI_LANGUAGE": language, "COLUMNS": "200"}).invoke(_app(), args)


def _refused(result: Result, *words: str) -> str:
    """The refusal's stderr, after checking exit 2, no traceback and each of `words` in it."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    return str(result.stderr)


@pytest.fixture
def traces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "philly-sia").mkdir()
    (tmp_path / "philly-sia" / "philly.csv").write_text(PHILLY_ONE_JOB)
    (tmp_path / "gavel" / "msr-seed0").mkdir(parents=True)
    (tmp_path / "gavel" / "simulation_throughputs.json").write_text(json.dumps(THROUGHPUTS))
    (tmp_path / "gavel" / "msr-seed0" / "ab12cd.trace").write_text(GAVEL_TRACE)
    (tmp_path / "alibaba-gpu-v2023").mkdir()
    (tmp_path / "alibaba-gpu-v2023" / "openb_node_list_gpu_node.csv").write_text(NODES)
    (tmp_path / "alibaba-gpu-v2023" / "openb_pod_list_small.csv").write_text(PODS)
    monkeypatch.setenv("SUANLI_TRACES_DIR", str(tmp_path))
    return tmp_path


def _no_run(*args: object, **kwargs: object) -> Any:
    raise AssertionError("the run started although an option was bad")


# ---- bug 2: rescaled arrivals stay within a thousand years --------------------------------------


@pytest.mark.parametrize(("option", "value"), [("--time-scale", "1e9"), ("--target-load", "1e-9")])
def test_a_rescaling_past_a_thousand_years_is_refused(option: str, value: str) -> None:
    result = _run("simulate", *SYNTHETIC, "--policy", "fastest", option, value)
    _refused(result, f"{option} would spread the arrivals over", "at most 1,000")


# ---- bug 3: a negative seed -------------------------------------------------------------------


def test_a_negative_seed_is_refused_naming_seed() -> None:
    _refused(_run("simulate", *SYNTHETIC, "--seed", "-1"), "--seed", "[0, 2^63")
    _refused(_run("bench", "scheduler", "--pools", "5", "--jobs", "20", "--seed", "-1"), "--seed")
    _refused(_run("simulate", *SYNTHETIC, "--seed", "-1", language="zh-CN"), "--seed 须为")


# ---- bug 4: where a plot goes is checked before the run; a failed write is no traceback ------


def test_a_plot_folder_whose_plot_name_is_a_folder_is_refused_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "run_simulation", _no_run)
    (tmp_path / "plots" / "utilization.png").mkdir(parents=True)
    result = _run("simulate", *SYNTHETIC, "--plot", str(tmp_path / "plots"))
    _refused(result, "--plot: cannot write", "utilization.png: is a folder, not a file")
    zh = _run("simulate", *SYNTHETIC, "--plot", str(tmp_path / "plots"), language="zh-CN")
    assert "Errno" not in _refused(zh, "是一个目录")
    (tmp_path / "a-file").write_text("")
    _refused(_run("simulate", *SYNTHETIC, "--plot", str(tmp_path / "a-file")), "--plot")


def test_a_plot_format_matplotlib_cannot_write_is_refused_before_the_run(
    traces: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packing, "run_policy", _no_run)
    args = ("simulate", "packing", "--pod-list", "small", "--policies", "best-fit", "--seeds", "1")
    result = _run(*args, "--plot", str(tmp_path / "out.xyz"))
    _refused(result, "--plot: the format 'xyz' is not supported", "png")


def test_a_plot_name_without_a_suffix_is_written_and_reported_as_png(
    traces: Path, tmp_path: Path
) -> None:
    args = ("simulate", "packing", "--pod-list", "small", "--policies", "best-fit", "--seeds", "1")
    result = _run(*args, "--plot", str(tmp_path / "curve"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "curve.png").stat().st_size > 0
    assert f"plot: {tmp_path / 'curve.png'}" in result.stdout


def test_a_failed_plot_write_says_why_in_the_reader_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full)
    folder = str(tmp_path / "plots")
    _refused(_run("simulate", *SYNTHETIC, "--plot", folder), "no space left on the device")
    zh = _refused(_run("simulate", *SYNTHETIC, "--plot", folder, language="zh-CN"), "磁盘空间不足")
    assert "No space" not in zh


# ---- bug 5: the seed count is checked before a range is built ----------------------------------


def test_a_huge_seed_range_is_refused_without_building_it() -> None:
    tracemalloc.start()
    try:
        for text in ("0..2000000", "0..1000000000", f"0..{10**30}", "," * 100_000):
            with pytest.raises(packing.InvalidInput, match="--seeds: 1 to 100 seeds"):
                packing.parse_seeds(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, peak


# ---- bug 6: strict JSON ----------------------------------------------------------------------


def _strict(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_load_over_no_time_prints_null_not_infinity(traces: Path) -> None:
    result = _run("simulate", "--fleet", "philly-sia", "--workload", "philly-sia", "--json")
    assert result.exit_code == 0, result.output
    body = _strict(result.stdout)
    assert body["offered_load"] is None and body["equivalent_load"] is None
    assert body["policies"] and body["load_by_tenth"] == []


def test_json_text_turns_every_nan_and_infinity_into_null_and_refuses_non_json() -> None:
    body = {"a": float("inf"), "b": [1.5, float("nan"), {"c": -float("inf")}], "d": (2, "x")}
    assert _strict(json_text(body)) == {"a": None, "b": [1.5, None, {"c": None}], "d": [2, "x"]}
    with pytest.raises(TypeError):
        json_text({"when": datetime.now(UTC)})


# ---- bug 7: bench ledger and vouchers check --database-url ------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("nope://", ("--database-url", "only PostgreSQL and SQLite")),
        ("garbage", ("--database-url", "is not a database URL")),
        ("postgresql+nodriver://u:secret@h/db", ("--database-url", "not installed", "***")),
        ("postgresql+psycopg://u:secret@127.0.0.1:1/x", ("--database-url", "cannot connect")),
    ],
)
@pytest.mark.parametrize("command", ["ledger", "vouchers"])
def test_a_bad_database_url_is_refused_naming_the_option(
    command: str, url: str, words: tuple[str, ...]
) -> None:
    extra = ("--seconds", "0.5") if command == "ledger" else ("--settlements", "1")
    result = _run("bench", command, "--database-url", url, "--workers", "1", *extra)
    assert "secret" not in _refused(result, *words)


def test_the_ledger_and_voucher_tables_speak_one_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = bench_ledger.BenchResult(2, 1.0, 9.0, 8.0, 10.0, 0.9, 0.8, True, 9, 8, 10, 0, [], "x")
    storm = bench_vouchers.StormResult(4, 100, 50, False, 2.0, 1, 3, 200, 2, 0, True, [], "x")
    for language, foreign in (("zh-CN", r"[A-Za-z]{4,}"), ("en", r"[\u4e00-\u9fff]")):
        monkeypatch.setenv("SUANLI_LANGUAGE", language)
        with console.capture() as captured:
            bench_ledger._print_result(ledger)
            bench_vouchers._print_result(storm)
        words = set(re.findall(foreign, captured.get())) - {"INSERT", "COMMIT"}
        assert not words, (language, words)


# ---- bug 9: zh-CN output holds no English; en output no Chinese --------------------------------


def test_bench_scheduler_speaks_the_reader_language() -> None:
    args = ("bench", "scheduler", "--pools", "5", "--jobs", "20")
    zh, en = _run(*args, language="zh-CN"), _run(*args)
    assert zh.exit_code == 0 and en.exit_code == 0, zh.output + en.output
    assert "单作业决策" in zh.stdout and "single-job decisions" in en.stdout
    for english in ("decisions", "baseline", "pools", "jobs", "shares", "load average"):
        assert english not in zh.stdout, english
    assert not re.search(r"[\u4e00-\u9fff]", en.stdout)


def test_the_gavel_fleet_and_the_capped_runtime_count_are_in_chinese(
    traces: Path, tmp_path: Path
) -> None:
    gavel = _run("simulate", "--fleet", "gavel:auto", "--workload", "gavel-msr", language="zh")
    assert gavel.exit_code == 0, gavel.output
    fleet_line = gavel.stdout.splitlines()[0]
    assert re.match(
        r"集群 `gavel`：K80、P100、V100 各 \d+ 台 8 卡节点（gavel:\d+，按提供负载 0\.8 配置）",
        fleet_line,
    )
    assert "each of" not in gavel.stdout and "sized for" not in gavel.stdout
    as_json = _strict(
        _run("simulate", "--fleet", "gavel:8", "--workload", "gavel-msr", "--json").stdout
    )
    assert as_json["fleet"] == "gavel: 1 × 8 each of K80, P100, V100"  # JSON: one language
    pods = tmp_path / "pods.csv"
    pods.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
        "deletion_time,scheduled_time\np0,1,1,1,1000,,LS,Running,0,9000000,0\n"
        "p1,1,1,1,1000,,LS,Running,60,120,60\n"
    )
    replay = _run("simulate", "--fleet", "gavel:8", "--workload", str(pods), language="zh")
    assert replay.exit_code == 0, replay.output
    assert "运行时长截为 30 天 1" in replay.stdout and "runtime_capped" not in replay.stdout


def test_an_os_error_on_a_file_is_worded_not_quoted(traces: Path) -> None:
    result = _run(*("simulate", *SYNTHETIC, "--throughputs", "/"), language="zh-CN")
    stderr = _refused(result, "无法读取 Gavel 吞吐量文件 /：是一个目录，不是文件")
    assert "Errno" not in stderr and "Is a directory" not in stderr


# ---- bug 10: the wording names what the user typed ---------------------------------------------


@pytest.mark.parametrize("fleet", ["gavel:abc", "gavel:"])
def test_a_bad_gavel_size_asks_for_gavel_n(fleet: str) -> None:
    stderr = _refused(_run("simulate", "--fleet", fleet, "--workload", "synthetic:5"), "gavel:N")
    assert "synthetic:N" not in stderr


def test_a_folder_as_the_workload_lists_every_named_workload(tmp_path: Path) -> None:
    result = _run("simulate", "--fleet", "synthetic:5", "--workload", str(tmp_path))
    _refused(result, "philly-sia", "gavel-msr[:DIR]", "alibaba-2023[:variant]", "synthetic:N")


def test_a_sizing_load_too_small_for_the_trace_says_so(traces: Path) -> None:
    result = _run("simulate", "--fleet", "gavel:auto@1e-9", "--workload", "gavel-msr")
    stderr = _refused(result, "gavel:auto@1e-9: the load 1e-09 is too small for this trace")
    assert "gavel:N takes" not in stderr


# ---- bug 12: an empty policy list is refused, not read as "all" --------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [("--policy", ""), ("--policy", " "), ("--compare", ","), ("--compare", "")],
)
def test_an_empty_policy_option_is_refused(option: str, value: str) -> None:
    _refused(_run("simulate", *SYNTHETIC, option, value), f"{option}: no policy given")


@pytest.mark.parametrize(("option", "value"), [("--policies", ""), ("--seeds", "")])
def test_an_empty_packing_option_is_refused(traces: Path, option: str, value: str) -> None:
    result = _run("simulate", "packing", "--pod-list", "small", option, value)
    _refused(result, option)
