"""What the trace loaders refuse, and where they say it is: malformed CSV, cells and times past
the documented limits (docs/scheduling.md, "Limits"), rows of the wrong width, names a job
cannot carry; and what they accept that they once broke on: a byte-order mark, a long .trace
file name, a named pipe beside the .trace files. Small hand-written files only."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest

from suanli.errors import InvalidInput
from suanli.simulation import alibaba, packing
from suanli.simulation.contended import (
    GAVEL_2019_V100_STEPS_PER_S,
    TRACE_STEM_MAX,
    load_gavel_traces,
    load_philly,
)
from suanli.simulation.trace_csv import column_error, read_rows
from suanli.simulation.workload import DAY_S, TRACE_RUNTIME_S_MAX, TRACE_TIME_S_MAX

PHILLY_HEADER = "timestamp,duration,num_gpus,gpu_time,cluster\n"
PHILLY_ROW = "2017-10-09 07:00:00,600,1,600,vc1\n"
POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)
POD_ROW = "p0,1,1,1,1000,,LS,Running,0,10,0\n"
NODE_HEADER = "sn,cpu_milli,memory_mib,gpu,model\n"
RESNET = "ResNet-50 (batch size 64)"
THROUGHPUTS = {w: {f"('{RESNET}', 1)": {"null": s}} for w, s in (("k80", 0.5), ("v100", 4.0))}
HUGE = "x" * (csv.field_size_limit() + 1)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _gavel_line(steps: float = 4000, arrival: str = "0.0", scale_factor: str = "1") -> str:
    return f"{RESNET}\tcmd\t-n\t1\t{steps}\t{arrival}\t{scale_factor}\n"


def _gavel(tmp_path: Path, text: str, name: str = "ab12cd.trace") -> Path:
    """A Gavel trace folder holding one .trace file, the throughputs beside it."""
    folder = tmp_path / "msr"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    _write(tmp_path, "simulation_throughputs.json", json.dumps(THROUGHPUTS))
    return folder


def _load_gavel(folder: Path) -> list[str]:
    workload = load_gavel_traces(folder, folder.parent / "simulation_throughputs.json")
    return [job.id for job in workload.jobs]


# ---- bug 1: malformed CSV stops with file, line and column, not a csv.Error -------------------


@pytest.mark.parametrize(
    ("loader", "header", "row", "column"),
    [
        (load_philly, PHILLY_HEADER, f"2017-10-09 07:01:00,600,1,600,{HUGE}\n", "cluster"),
        (alibaba.load_workload, POD_HEADER, f"p1,1,1,1,1000,,LS,{HUGE},0,10,0\n", "pod_phase"),
        (alibaba.load_workload, POD_HEADER, f'p1,1,1,1,1000,"{HUGE}",LS,R,0,10,0\n', "gpu_spec"),
    ],
)
def test_a_cell_past_the_csv_field_limit_names_file_line_and_column(
    tmp_path: Path, loader: object, header: str, row: str, column: str
) -> None:
    good = PHILLY_ROW if header == PHILLY_HEADER else POD_ROW
    path = _write(tmp_path, "trace.csv", header + good + row)
    with pytest.raises(InvalidInput, match=f"trace.csv line 3: column {column}: not valid CSV"):
        loader(path)  # type: ignore[operator]


def test_the_packing_pod_list_refuses_an_over_long_cell_too(tmp_path: Path) -> None:
    nodes = packing.load_nodes(_write(tmp_path, "nodes.csv", NODE_HEADER + "n0,96000,1,8,G2\n"))
    pods = _write(tmp_path, "pods.csv", f"{POD_HEADER}{POD_ROW}p1,1,1,1,1000,,LS,{HUGE},0,1,0\n")
    with pytest.raises(InvalidInput, match=r"pods.csv line 3: column pod_phase: not valid CSV"):
        packing.load_pods(pods, nodes)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (f'{POD_ROW}p1,1,1,1,1000,"G2,LS,R,0,10,0\n{POD_ROW}', 3, "a quoted cell is never closed"),
        (f'{POD_ROW}p1,1,1,1,1000,"G2"x,LS,R,0,10,0\n', 3, "a closing quote must be followed"),
    ],
)
def test_malformed_quoting_is_refused_at_the_line_where_the_record_begins(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = _write(tmp_path, "pods.csv", POD_HEADER + text)
    with pytest.raises(InvalidInput, match=f"pods.csv line {line}: not valid CSV: {reason}"):
        alibaba.load_workload(path)


def test_a_quoted_cell_over_several_lines_is_one_record(tmp_path: Path) -> None:
    path = _write(tmp_path, "pods.csv", POD_HEADER + 'p1,1,1,1,1000,"G2\nT4",LS,R,0,10,0\n')
    assert [line for line, _ in read_rows(path, ("name",), rows_max=9, bad=column_error)] == [3]


# ---- bug 2: durations, steps and times within explicit bounds ----------------------------------


def test_the_limits_are_a_year_of_run_time_and_ten_years_of_arrivals() -> None:
    assert TRACE_RUNTIME_S_MAX == 365 * DAY_S and TRACE_TIME_S_MAX == 10 * 365 * DAY_S
    # a year on 4,096 cards at the platform's highest price stays under money.FEN_MAX
    assert 4096 * TRACE_RUNTIME_S_MAX // 3600 * 10_000_000 < 10**15


@pytest.mark.parametrize("duration", ["1e20", "1e200", "1e308", str(TRACE_RUNTIME_S_MAX + 1)])
def test_a_philly_duration_past_a_year_is_refused(tmp_path: Path, duration: str) -> None:
    row = f"2017-10-09 07:01:00,{duration},1,600,vc1\n"
    path = _write(tmp_path, "philly.csv", PHILLY_HEADER + PHILLY_ROW + row)
    with pytest.raises(InvalidInput, match=r"philly.csv line 3: column duration must be at most"):
        load_philly(path)


def test_a_philly_job_of_exactly_a_year_loads(tmp_path: Path) -> None:
    row = f"2017-10-09 07:01:00,{TRACE_RUNTIME_S_MAX},1,600,vc1\n"
    workload = load_philly(_write(tmp_path, "philly.csv", PHILLY_HEADER + PHILLY_ROW + row))
    assert max(job.expected_reference_runtime_s for job in workload.jobs) == TRACE_RUNTIME_S_MAX


def test_a_philly_submission_past_ten_years_after_the_first_is_refused(tmp_path: Path) -> None:
    row = "2028-10-09 07:01:00,600,1,600,vc1\n"
    path = _write(tmp_path, "philly.csv", PHILLY_HEADER + PHILLY_ROW + row)
    with pytest.raises(InvalidInput, match=r"philly.csv line 3: column timestamp is more than 10"):
        load_philly(path)


@pytest.mark.parametrize(
    ("line", "column"),
    [
        (_gavel_line(steps=1e308), "total_steps"),
        (_gavel_line(steps=GAVEL_2019_V100_STEPS_PER_S[RESNET] * 366 * DAY_S), "total_steps"),
        (_gavel_line(arrival="1e308"), "arrival_time"),
        (_gavel_line(arrival=str(TRACE_TIME_S_MAX * 2)), "arrival_time"),
    ],
)
def test_gavel_steps_past_a_year_and_arrivals_past_ten_years_are_refused(
    tmp_path: Path, line: str, column: str
) -> None:
    folder = _gavel(tmp_path, _gavel_line() + line)
    with pytest.raises(InvalidInput, match=f"ab12cd.trace line 2: column {column}"):
        _load_gavel(folder)


@pytest.mark.parametrize("column", ["creation_time", "deletion_time", "scheduled_time"])
def test_an_alibaba_time_past_ten_years_is_refused(tmp_path: Path, column: str) -> None:
    values = {"creation_time": "0", "deletion_time": "10", "scheduled_time": "0"}
    values[column] = "1e308"
    row = "p1,1,1,1,1000,,LS,Running,{creation_time},{deletion_time},{scheduled_time}\n"
    path = _write(tmp_path, "pods.csv", POD_HEADER + POD_ROW + row.format(**values))
    with pytest.raises(InvalidInput, match=f"pods.csv line 3: {column} must be at most"):
        alibaba.load_workload(path)


def test_a_bad_cell_is_quoted_short_in_its_error(tmp_path: Path) -> None:
    row = f"2017-10-09 07:01:00,{'9' * 5000}x,1,600,vc1\n"
    path = _write(tmp_path, "philly.csv", PHILLY_HEADER + row)
    with pytest.raises(InvalidInput) as raised:
        load_philly(path)
    assert "must be a number" in str(raised.value) and len(str(raised.value)) < 200
    pods = _write(tmp_path, "pods.csv", f"{POD_HEADER}p1,1,1,{'9' * 4000},1000,,LS,R,0,10,0\n")
    with pytest.raises(InvalidInput, match="must be in") as raised:
        alibaba.load_workload(pods)
    assert len(str(raised.value)) < 200


# ---- bug 8: every error names its place; a long file name still makes valid job ids ------------


@pytest.mark.parametrize(
    ("name", "problem"), [("p" * 121, "longer than 120"), ("bell\x07", "not allowed")]
)
def test_a_pod_name_the_job_spec_refuses_names_file_and_line(
    tmp_path: Path, name: str, problem: str
) -> None:
    row = f"{name},1,1,1,1000,,LS,Running,0,10,0\n"
    path = _write(tmp_path, "pods.csv", POD_HEADER + POD_ROW + row)
    with pytest.raises(InvalidInput, match=f"pods.csv line 3: name .*{problem}") as raised:
        alibaba.load_workload(path)
    assert raised.value.details["line"] == 3


def test_an_unknown_gpu_model_in_the_node_list_names_its_line(tmp_path: Path) -> None:
    rows = "n0,1,1,8,G2\nn1,1,1,0,\nn2,1,1,8,Z9000\n"
    path = _write(tmp_path, "nodes.csv", NODE_HEADER + rows)
    with pytest.raises(InvalidInput, match=r"nodes.csv line 4: column model: .*Z9000") as raised:
        alibaba.load_fleet(path)
    assert raised.value.field == "model"


@pytest.mark.parametrize("stem", ["v" * 200, "vc one\x07", "短名"])
def test_a_long_or_odd_trace_file_name_gives_short_valid_job_ids(tmp_path: Path, stem: str) -> None:
    folder = _gavel(tmp_path, _gavel_line() + _gavel_line(arrival="5"), f"{stem}.trace")
    ids = _load_gavel(folder)
    assert len(ids) == 2 and len(set(ids)) == 2
    assert all(len(job_id) <= TRACE_STEM_MAX + 6 for job_id in ids)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", job_id) for job_id in ids)


def test_gavel_own_file_names_keep_their_ids(tmp_path: Path) -> None:
    assert _load_gavel(_gavel(tmp_path, _gavel_line())) == ["ab12cd-00001"]


# ---- bug 11: every row has the header's width; a Gavel line has exactly seven fields -----------


def test_a_pod_list_row_missing_an_unused_last_field_is_refused(tmp_path: Path) -> None:
    nodes = packing.load_nodes(_write(tmp_path, "nodes.csv", NODE_HEADER + "n0,96000,1,8,G2\n"))
    pods = _write(tmp_path, "pods.csv", POD_HEADER + POD_ROW + "p1,1,1,1,1000,,LS,Running,0,10\n")
    with pytest.raises(InvalidInput, match=r"pods.csv line 3: column row has 10 fields"):
        packing.load_pods(pods, nodes)


def test_a_gavel_line_of_eight_fields_is_refused_as_a_row(tmp_path: Path) -> None:
    folder = _gavel(tmp_path, _gavel_line() + _gavel_line().rstrip("\n") + "\t1\n")
    with pytest.raises(InvalidInput, match=r"line 2: column row has 8 tab-separated fields"):
        _load_gavel(folder)


# ---- bug 13: a byte-order mark is no part of the first column; only regular files count -------


def test_a_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    philly = tmp_path / "philly.csv"
    philly.write_bytes(b"\xef\xbb\xbf" + (PHILLY_HEADER + PHILLY_ROW).encode())
    assert len(load_philly(philly).jobs) == 1
    pods = tmp_path / "pods.csv"
    pods.write_bytes(b"\xef\xbb\xbf" + (POD_HEADER + POD_ROW).encode())
    assert [job.id for job in alibaba.load_workload(pods).jobs] == ["p0"]
    folder = _gavel(tmp_path, "")
    (folder / "ab12cd.trace").write_bytes(b"\xef\xbb\xbf" + _gavel_line().encode())
    assert _load_gavel(folder) == ["ab12cd-00001"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_or_a_folder_named_dot_trace_is_not_read(tmp_path: Path) -> None:
    folder = _gavel(tmp_path, _gavel_line())
    os.mkfifo(folder / "pipe.trace")  # reading it would wait forever for a writer
    (folder / "folder.trace").mkdir()
    assert _load_gavel(folder) == ["ab12cd-00001"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_given_as_a_file_is_refused_not_read(tmp_path: Path) -> None:
    pipe = tmp_path / "pods.csv"
    os.mkfifo(pipe)
    with pytest.raises(InvalidInput, match=r"is not a regular file"):
        alibaba.load_workload(pipe)


def test_a_file_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "philly.csv"
    path.write_bytes((PHILLY_HEADER + PHILLY_ROW).encode() + b"2017-10-09 07:01:00,\xff,1,1,v\n")
    with pytest.raises(InvalidInput, match=r"philly\.csv: line 3 is not UTF-8 text"):
        load_philly(path)
