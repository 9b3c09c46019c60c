"""The two contended workloads with real arrivals, and their fleets.

`philly-sia`: the Microsoft Philly jobs as the Sia artifact replays them (82,247 jobs,
`shared/traces/philly-sia/philly.csv`), at their real submit times, on 48 nodes × 8 P100 and
48 nodes × 8 V100 (768 cards). The trace gives each job's measured duration, taken as its
runtime on a P100 (Philly's clusters were P100/P40 class); the class is `generic`, so a V100
runs it 1.55× faster by the roofline. A job wider than 8 cards is a multi-node gang of
ceil(cards / 8) nodes with equal cards per node (12 → 2 × 6, 24 → 3 × 8): none is dropped.
The virtual cluster is the job's owner.

`gavel-msr:<dir>`: Gavel's Philly-derived traces (one `.trace` file per virtual cluster), typed
by Gavel's job types. A line is `job_type, command, num_steps_arg, needs_data_dir, total_steps,
arrival_time, scale_factor` (Gavel's own parser at the commit that wrote these files,
stanford-futuredata/gavel 6fb30f9 `scheduler/utils.py` `parse_trace`). The generator wrote
`total_steps = Philly duration (s) × V100 steps/s of the job type on ONE GPU` from the 2019
`scheduler/oracle_throughputs.json` (keyed by job type only, no scale factor), whatever the
job's scale factor, and its simulator advanced a job of any scale factor at that one-GPU rate
(6fb30f9 `scheduler/scheduler.py` `_generate_job`, `_get_num_steps`). So a job's V100 runtime is
`total_steps ÷ GAVEL_2019_V100_STEPS_PER_S[job type]`: the Philly duration, in whole seconds
(checked on msr-seed0: 93 % of the jobs whose type runs > 10 steps/s give a whole number, 10 %
would by chance). Dividing by the 2020 matrix's steps/s at the job's scale factor, as this
loader once did, shrank multi-GPU jobs by their scaling and scrambled the rest: 33,305 instead
of 72,575 V100 card-days on msr-seed0. The 2020 matrix (`simulation_throughputs.json`, at the
largest measured scale factor ≤ the job's) gives only each chip's speed relative to the V100;
a chip it measures at 0 steps/s (K80 on ResNet-50 batch 128, out of memory) cannot run the job.
The fleet `gavel:N` has N cards each of K80, P100 and V100 in 8-card nodes.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime
from pathlib import Path

from suanli.domain.accelerators import get_accelerator
from suanli.domain.jobs import CARDS_MAX, RUN_TIME_S_MAX, JobSpec
from suanli.domain.pools import NODES_MAX, Region
from suanli.domain.scheduling.model import PoolView, QueuedJob
from suanli.errors import InvalidInput
from suanli.i18n import msg
from suanli.simulation.gavel import WORKER_MODELS, load_isolated_throughputs
from suanli.simulation.pricing import priced_pool
from suanli.simulation.trace_csv import (
    Row,
    column_error,
    read_rows,
    read_text,
    row_error,
    shown,
    text_lines,
)
from suanli.simulation.workload import (
    TRACE_RUNTIME_S_MAX,
    TRACE_TIME_S_MAX,
    Fleet,
    Workload,
    seconds_text,
)

PHILLY_DIR = "philly-sia"
PHILLY_FILE = "philly.csv"
PHILLY_NODES_PER_MODEL = 48
PHILLY_REFERENCE = "P100"
GAVEL_DIR = "gavel"
GAVEL_THROUGHPUTS = "simulation_throughputs.json"
GAVEL_DEFAULT_TRACES = "msr-seed0"
GAVEL_REFERENCE = "V100"
CARDS_PER_NODE = 8
REGION = Region("Beijing", "Beijing")
ROWS_MAX = 1_000_000
TRACE_FILES_MAX = 1_000
GAVEL_CARDS_MAX = 100_000
GAVEL_FIELDS = 7  # Gavel's parse_trace unpacks exactly seven tab-separated fields
TRACE_STEM_MAX = 40  # a longer (or odd) .trace name is shortened in the ids built from it
# V100 steps/s per job type that the msr traces were generated with: Gavel's 2019
# scheduler/oracle_throughputs.json, "v100" -> type -> "null" (stanford-futuredata/gavel, added in
# 413f5c4, unchanged at 6fb30f9 "Update Philly simulation traces"; MIT, (c) 2020 Stanford Future
# Data Systems). Only these 26 constants are needed to decode total_steps into seconds.
GAVEL_2019_V100_STEPS_PER_S = {
    "ResNet-18 (batch size 16)": 77.31737353972872,
    "ResNet-18 (batch size 32)": 65.80540708735272,
    "ResNet-18 (batch size 64)": 48.88418054077558,
    "ResNet-18 (batch size 128)": 30.287504836881368,
    "ResNet-18 (batch size 256)": 16.98737109878475,
    "ResNet-50 (batch size 16)": 17.37438936466519,
    "ResNet-50 (batch size 32)": 9.920583420101398,
    "ResNet-50 (batch size 64)": 5.4575999796347645,
    "ResNet-50 (batch size 128)": 2.8459812117650305,
    "Transformer (batch size 16)": 12.845652425203205,
    "Transformer (batch size 32)": 12.475277737306772,
    "Transformer (batch size 64)": 9.568023720783357,
    "Transformer (batch size 128)": 5.771210833383417,
    "Transformer (batch size 256)": 1.707029875260509,
    "A3C": 8.233033211429207,
    "LM (batch size 5)": 167.12285773375763,
    "LM (batch size 10)": 143.3605131584025,
    "LM (batch size 20)": 107.9508715706423,
    "LM (batch size 40)": 71.72303675816012,
    "LM (batch size 80)": 43.90361072741378,
    "Recommendation (batch size 512)": 0.33148208257478157,
    "Recommendation (batch size 1024)": 0.47997973329981225,
    "Recommendation (batch size 2048)": 0.5675318418131742,
    "Recommendation (batch size 4096)": 0.6244083613498694,
    "Recommendation (batch size 8192)": 0.6023546957515021,
    "CycleGAN": 4.918494739402234,
}


def node_shape(cards: int) -> tuple[int, int]:
    """(nodes, cards per node) for a gang: the fewest 8-card-or-smaller nodes, equal shares."""
    nodes = math.ceil(cards / CARDS_PER_NODE)
    while cards % nodes:
        nodes += 1
    return nodes, cards // nodes


def _pool(model: str, nodes: int, tag: str) -> PoolView:
    accelerator = get_accelerator(model)
    if not 1 <= nodes <= NODES_MAX:
        raise InvalidInput(
            msg(f"一个资源池有 1..{NODES_MAX} 个节点", f"a pool has 1..{NODES_MAX} nodes"),
            field="fleet",
        )
    return priced_pool(
        accelerator,
        pool_id=f"{tag}-{model.lower()}",
        provider_id=tag,
        name=f"{model} × {CARDS_PER_NODE} per node",
        nodes=nodes,
        cards_per_node=CARDS_PER_NODE,
        region=REGION,
    )


def philly_fleet() -> Fleet:
    pools = tuple(_pool(model, PHILLY_NODES_PER_MODEL, "philly") for model in ("P100", "V100"))
    nodes = PHILLY_NODES_PER_MODEL
    source = msg(
        f"philly-sia：P100、V100 各 {nodes} 台 8 卡节点",
        f"philly-sia: {nodes} × 8 P100 + {nodes} × 8 V100",
    )
    return Fleet(pools=pools, source=source)


def gavel_fleet(cards_per_type: int) -> Fleet:
    if not CARDS_PER_NODE <= cards_per_type <= GAVEL_CARDS_MAX:
        raise InvalidInput(
            msg(
                f"gavel:N 中 N 须为每种卡 {CARDS_PER_NODE} 至 {GAVEL_CARDS_MAX} 张",
                f"gavel:N takes N in [{CARDS_PER_NODE}, {GAVEL_CARDS_MAX}] cards per type",
            ),
            field="fleet",
        )
    nodes = math.ceil(cards_per_type / CARDS_PER_NODE)
    pools = tuple(_pool(model, nodes, "gavel") for model in WORKER_MODELS.values())
    source = msg(
        f"`gavel`：K80、P100、V100 各 {nodes} 台 8 卡节点",
        f"gavel: {nodes} × 8 each of K80, P100, V100",
    )
    return Fleet(pools=pools, source=source)


# ---- philly ---------------------------------------------------------------------------------


PHILLY_COLUMNS = ("timestamp", "duration", "num_gpus", "cluster")


def load_philly(path: Path) -> Workload:
    rows = _read_rows(path)
    parsed = [(line, *_philly_row(path, line, row)) for line, row in rows]
    if not parsed:
        raise InvalidInput(msg(f"{path.name}：没有作业", f"{path.name}: no jobs"), field="workload")
    start = min(submitted for _, submitted, _, _, _ in parsed)
    jobs = [
        _job(
            (path, line),
            f"philly-{index:05d}",
            owner,
            _since_start(path, line, submitted, start),
            cards,
            duration_s,
            "generic",
            PHILLY_REFERENCE,
        )
        for index, (line, submitted, duration_s, cards, owner) in enumerate(parsed)
    ]
    jobs.sort(key=lambda job: (job.submitted_at_s, job.id))
    return Workload(jobs=tuple(jobs), source=str(path))


def _read_rows(path: Path) -> list[Row]:
    return read_rows(path, PHILLY_COLUMNS, rows_max=ROWS_MAX, bad=column_error, field="workload")


def _philly_row(path: Path, line: int, row: dict[str, str]) -> tuple[datetime, float, int, str]:
    try:
        submitted = datetime.strptime(row["timestamp"].strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise column_error(
            path,
            line,
            "timestamp",
            msg("格式须为 YYYY-MM-DD HH:MM:SS", "must be YYYY-MM-DD HH:MM:SS"),
        ) from None
    duration_s = _number(path, line, "duration", row["duration"], TRACE_RUNTIME_S_MAX)
    cards = _number(path, line, "num_gpus", row["num_gpus"])
    if cards != int(cards) or not 1 <= cards <= CARDS_MAX:
        raise column_error(
            path,
            line,
            "num_gpus",
            msg(f"须为 1 至 {CARDS_MAX} 之间的整数", f"must be a whole number in [1, {CARDS_MAX}]"),
        )
    owner = row["cluster"].strip()
    if not owner:
        raise column_error(path, line, "cluster", msg("为空", "is empty"))
    return submitted, duration_s, int(cards), f"vc-{owner}"


def _since_start(path: Path, line: int, submitted: datetime, start: datetime) -> float:
    """Seconds from the trace's first submission: at most TRACE_TIME_S_MAX."""
    seconds = (submitted - start).total_seconds()
    if seconds > TRACE_TIME_S_MAX:
        limit = seconds_text(TRACE_TIME_S_MAX)
        raise column_error(
            path,
            line,
            "timestamp",
            msg(
                f"比最早的提交晚了 {limit.zh}以上",
                f"is more than {limit.en} after the trace's first submission",
            ),
        )
    return seconds


# ---- gavel ----------------------------------------------------------------------------------


def gavel_class(job_type: str, scale_factor: int) -> str:
    return f"gavel:{job_type}@{scale_factor}"


def gavel_measured(table: dict[str, dict[int, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per job class (type and measured scale factor): the chips' measured steps/s (a chip
    measured at 0 is absent: it cannot run the class, and the job names the others)."""
    return {
        gavel_class(job_type, factor): dict(speeds)
        for job_type, by_factor in table.items()
        for factor, speeds in by_factor.items()
        if speeds.get(GAVEL_REFERENCE)
    }


def load_gavel_traces(folder: Path, throughputs: Path) -> Workload:
    if not folder.is_dir():
        raise InvalidInput(
            msg(f"没有 Gavel 轨迹目录 {folder}", f"no Gavel trace folder {folder}"),
            field="workload",
        )
    files = sorted(path for path in folder.glob("*.trace") if path.is_file())  # no pipes
    if not files or len(files) > TRACE_FILES_MAX:
        raise InvalidInput(
            msg(
                f"{folder}：应有 1..{TRACE_FILES_MAX} 个 .trace 文件",
                f"{folder}: expected 1..{TRACE_FILES_MAX} .trace files",
            ),
            field="workload",
        )
    table = load_isolated_throughputs(throughputs)
    jobs = [job for path in files for job in _gavel_file(path, table)]
    jobs.sort(key=lambda job: (job.submitted_at_s, job.id))
    return Workload(jobs=tuple(jobs), source=str(folder), speeds=gavel_measured(table))


def _gavel_file(path: Path, table: dict[str, dict[int, dict[str, float]]]) -> list[QueuedJob]:
    lines = _gavel_lines(path)
    stem = trace_stem(path)
    return [
        _gavel_job(path, stem, line, text, table)
        for line, text in enumerate(lines, start=1)
        if text.strip()
    ]


def trace_stem(path: Path) -> str:
    """The .trace file's name without its suffix, as the ids built from it use it: a name of
    more than TRACE_STEM_MAX characters, or other than letters, digits, '.', '_' and '-', is
    cut and given a hash of the whole name, so that no valid file yields an invalid job id
    (Gavel's own files are named by 6 hex digits and keep their names)."""
    stem = path.stem
    if len(stem) <= TRACE_STEM_MAX and re.fullmatch(r"[A-Za-z0-9._-]+", stem):
        return stem
    digest = hashlib.sha256(stem.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    kept = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[: TRACE_STEM_MAX - len(digest) - 1]
    return f"{kept}-{digest}" if kept.strip("_") else digest


def _gavel_lines(path: Path) -> list[str]:
    lines = text_lines(read_text(path, "workload"))
    if len(lines) > ROWS_MAX:
        raise InvalidInput(
            msg(f"{path.name}：超过 {ROWS_MAX} 行", f"{path.name}: more than {ROWS_MAX} lines"),
            field="rows",
        )
    return lines


def _gavel_job(
    path: Path, stem: str, line: int, text: str, table: dict[str, dict[int, dict[str, float]]]
) -> QueuedJob:
    """One tab-separated Gavel line as a job: its V100 runtime is the Philly duration the
    generator encoded, its chip speeds the 2020 matrix's at the job's scale factor."""
    job_type, steps, arrival_s, factor = _gavel_fields(path, line, text)
    by_factor = table.get(job_type)
    steps_per_s = GAVEL_2019_V100_STEPS_PER_S.get(job_type)
    if not by_factor or steps_per_s is None:
        raise column_error(
            path,
            line,
            "job_type (field 1)",
            msg(
                f"{job_type!r} 不在吞吐量矩阵中",
                f"{job_type!r} is not in the throughput matrix",
            ),
        )
    measured = _measured_scale(path, line, job_type, by_factor, factor)
    chips = tuple(model for model in WORKER_MODELS.values() if by_factor[measured].get(model))
    runtime_s = steps / steps_per_s  # the Philly duration on `factor` V100s
    if not runtime_s <= TRACE_RUNTIME_S_MAX:
        limit = seconds_text(TRACE_RUNTIME_S_MAX)
        raise column_error(
            path,
            line,
            "total_steps (field 5)",
            msg(
                f"按 {job_type} 的 V100 速度须运行 {limit.zh}以上，超过上限",
                f"makes a run of more than {limit.en} at {job_type}'s V100 speed",
            ),
        )
    return _job(
        (path, line),
        f"{stem}-{line:05d}",
        f"vc-{stem}",
        arrival_s,
        factor,
        runtime_s,
        gavel_class(job_type, measured),
        GAVEL_REFERENCE,
        accelerators=chips if len(chips) < len(WORKER_MODELS) else (),
    )


def _gavel_fields(path: Path, line: int, text: str) -> tuple[str, float, float, int]:
    """A Gavel line's job type, total steps, arrival time and scale factor (its card count)."""
    fields = text.split("\t")
    if len(fields) != GAVEL_FIELDS:
        raise column_error(
            path,
            line,
            "row",
            msg(
                f"有 {len(fields)} 个制表符分隔的字段，应为 {GAVEL_FIELDS} 个",
                f"has {len(fields)} tab-separated fields, expected {GAVEL_FIELDS}",
            ),
        )
    steps = _number(path, line, "total_steps (field 5)", fields[4])
    arrival_s = _number(path, line, "arrival_time (field 6)", fields[5], TRACE_TIME_S_MAX)
    factor = _number(path, line, "scale_factor (field 7)", fields[6])
    if factor != int(factor) or not 1 <= factor <= CARDS_MAX:
        raise column_error(
            path,
            line,
            "scale_factor (field 7)",
            msg(
                f"须为 1 至 {CARDS_MAX} 之间的整数",
                f"must be a whole number in [1, {CARDS_MAX}]",
            ),
        )
    return fields[0].strip(), steps, arrival_s, int(factor)


def _measured_scale(
    path: Path, line: int, job_type: str, by_factor: dict[int, dict[str, float]], factor: int
) -> int:
    """The largest scale factor up to the job's whose V100 throughput the matrix measured."""
    measured = max(
        (f for f, speeds in by_factor.items() if f <= factor and speeds.get(GAVEL_REFERENCE)),
        default=None,
    )
    if measured is None:
        raise column_error(
            path,
            line,
            "job_type (field 1)",
            msg(f"{job_type!r} 没有 V100 吞吐量", f"{job_type!r} has no V100 throughput"),
        )
    return measured


# ---- shared ---------------------------------------------------------------------------------


def _job(
    where: tuple[Path, int],
    job_id: str,
    owner: str,
    submitted_s: float,
    cards: int,
    runtime_s: float,
    job_class: str,
    reference: str,
    accelerators: tuple[str, ...] = (),
) -> QueuedJob:
    _, per_node = node_shape(cards)
    runtime_s = max(1.0, runtime_s)
    try:
        spec = JobSpec(
            name=job_id,
            command="trace replay",
            cards=cards,
            cards_per_node=per_node,
            max_run_time_s=min(RUN_TIME_S_MAX, math.ceil(runtime_s * 4)),
            job_class=job_class,
            accelerators=accelerators,
        )
    except InvalidInput as error:  # whatever the job spec refuses, said at its line
        raise row_error(*where, error) from error
    return QueuedJob(
        id=job_id,
        owner_id=owner,
        spec=spec,
        submitted_at_s=submitted_s,
        reference_runtime_s=runtime_s,
        reference_model=reference,
    )


def _number(path: Path, line: int, column: str, text: str, high: float = math.inf) -> float:
    """The cell as a number in [0, high]; above `high` the limit is said in days or years."""
    cell = shown(text.strip())
    try:
        value = float(text.strip())
    except ValueError:
        raise column_error(
            path, line, column, msg(f"须为数字，收到 {cell}", f"must be a number, got {cell}")
        ) from None
    if not math.isfinite(value) or value < 0:
        raise column_error(
            path,
            line,
            column,
            msg(f"须为非负数，收到 {cell}", f"must be a non-negative number, got {cell}"),
        )
    if value > high:
        raise column_error(
            path,
            line,
            column,
            msg(
                f"须至多为 {high:,.0f}（{seconds_text(high).zh}），收到 {cell}",
                f"must be at most {high:,.0f} ({seconds_text(high).en}), got {cell}",
            ),
        )
    return value
