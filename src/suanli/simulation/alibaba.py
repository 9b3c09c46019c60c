"""Loaders for the Alibaba cluster-trace-gpu-v2023 schema (Weng et al., ATC '23).

Node list -> fleet: nodes are grouped by (GPU model, GPUs per node) into one pool each, in
order of first appearance; CPU-only nodes are skipped and counted. The trace's undisclosed
models G1-G3 become stand-ins that keep their own name (a pod asking for G2 runs only on G2)
and borrow the datasheet figures of `UNDISCLOSED_PROXY` for speed and price.

Pod list -> workload: one job per pod that ran (scheduled_time set) and asked for a GPU.
- runtime on the reference = deletion_time - scheduled_time, at least 1 s, at most the
  platform's 30-day limit (jobs.RUN_TIME_S_MAX; the trace's month-long services are capped);
- num_gpu cards on one node; a GPU-sharing pod (gpu_milli < 1000) is rounded up to 1 card,
  because pools rent whole cards;
- gpu_spec "A|B" -> accelerator constraint (A or B);
- qos -> priority; BE (best effort) pods are preemptible;
- the trace has no users, so each pod belongs to one of `TENANTS` synthetic enterprises by
  a stable hash of its name;
- the trace says nothing about the work, so every pod is job class `generic`.
CPU-only pods and pods that never ran are skipped and counted. A malformed row raises
InvalidInput naming the file, the line and the column.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import replace
from pathlib import Path

from suanli.domain.accelerators import Accelerator, get_accelerator
from suanli.domain.jobs import CARDS_MAX, RUN_TIME_S_MAX, JobSpec
from suanli.domain.pools import CARDS_PER_NODE_MAX, NODES_MAX, Region
from suanli.domain.scheduling.model import PoolView, QueuedJob
from suanli.errors import InvalidInput, UnknownAccelerator
from suanli.i18n import Msg, msg
from suanli.simulation.pricing import priced_pool
from suanli.simulation.trace_csv import Row, int_cell, read_rows, row_error, shown
from suanli.simulation.workload import TRACE_TIME_S_MAX, Fleet, Workload, seconds_text

NODE_COLUMNS = ("sn", "gpu", "model")
POD_COLUMNS = ("name", "num_gpu", "gpu_milli", "gpu_spec", "qos", "creation_time")
POD_TIME_COLUMNS = ("deletion_time", "scheduled_time")
ROWS_MAX = 5_000_000
UNDISCLOSED_MODELS = ("G1", "G2", "G3")
UNDISCLOSED_PROXY = "V100M32"  # the disclosed model with the same 8-card node shape
REFERENCE_MODEL = "G2"  # 71% of the trace's GPUs: most pods ran on it
TENANTS = 16
REGION = Region("Zhejiang", "Hangzhou")  # the trace has no locations; one region for all
PRIORITY_BY_QOS = {"Guaranteed": 70, "LS": 60, "Burstable": 50, "BE": 30}
PROVIDER_ID = "alibaba-2023"


def load_fleet(path: Path) -> Fleet:
    counts: dict[tuple[str, int], int] = {}
    skipped = {"cpu_only_nodes": 0}
    accelerators: dict[str, Accelerator] = {}
    for line, row in _rows(path, NODE_COLUMNS):
        cards = _int(row, "gpu", line, path, 0, CARDS_PER_NODE_MAX)
        model = row["model"].strip()
        if cards == 0 or not model:
            if cards or model:
                raise _bad(
                    path,
                    line,
                    "gpu",
                    msg(f"型号 {model!r} 有 {cards} 张 GPU", f"model {model!r} with {cards} GPUs"),
                )
            skipped["cpu_only_nodes"] += 1
            continue
        if model not in accelerators:  # an unknown model stops at its first line
            accelerators[model] = trace_model(model, path, line)
        counts[(model, cards)] = counts.get((model, cards), 0) + 1
    pools = tuple(
        _pool_view(model, cards, nodes, accelerators, path)
        for (model, cards), nodes in counts.items()
    )
    return Fleet(pools=pools, source=str(path), skipped=skipped)


def _pool_view(
    model: str, cards: int, nodes: int, accelerators: dict[str, Accelerator], path: Path
) -> PoolView:
    accelerator = accelerators[model]
    if nodes > NODES_MAX:
        raise InvalidInput(
            msg(
                f"{path.name}：{model} 的节点超过 {NODES_MAX} 个",
                f"{path.name}: more than {NODES_MAX} nodes of {model}",
            ),
            field="nodes",
        )
    return priced_pool(
        accelerator,
        pool_id=f"{PROVIDER_ID}-{model.lower()}-x{cards}",
        provider_id=PROVIDER_ID,
        name=f"{model} × {cards} per node",
        nodes=nodes,
        cards_per_node=cards,
        region=REGION,
    )


def trace_model(name: str, path: Path, line: int) -> Accelerator:
    """The catalog entry for a trace model name, or the stand-in for an undisclosed one."""
    if name.upper() in UNDISCLOSED_MODELS:
        proxy = get_accelerator(UNDISCLOSED_PROXY)
        note = f"undisclosed in the Alibaba 2023 trace; figures of {proxy.model} as a proxy"
        return replace(proxy, model=name.upper(), aliases=(), sources=(note,))
    try:
        return get_accelerator(name)
    except UnknownAccelerator as error:
        raise row_error(path, line, error, "model") from error


def load_workload(path: Path) -> Workload:
    jobs: list[QueuedJob] = []
    skipped = {"cpu_only_pods": 0, "never_ran_pods": 0}
    adjusted = {"shared_gpu_rounded_up": 0, "runtime_capped_30_days": 0}
    seen: set[str] = set()
    for line, row in _rows(path, POD_COLUMNS + POD_TIME_COLUMNS):
        if row["name"].strip() in seen:
            raise _bad(
                path,
                line,
                "name",
                msg(
                    f"与前面的作业重名（{row['name'].strip()}）",
                    f"repeats an earlier pod ({row['name'].strip()})",
                ),
            )
        seen.add(row["name"].strip())
        job = _pod_job(row, line, path, skipped, adjusted)
        if job is not None:
            jobs.append(job)
    jobs.sort(key=lambda job: (job.submitted_at_s, job.id))
    return Workload(jobs=tuple(jobs), source=str(path), skipped=skipped, adjusted=adjusted)


def _pod_job(
    row: dict[str, str], line: int, path: Path, skipped: dict[str, int], adjusted: dict[str, int]
) -> QueuedJob | None:
    name = row["name"].strip()
    if not name:
        raise _bad(path, line, "name", msg("为空", "is empty"))
    cards = _int(row, "num_gpu", line, path, 0, CARDS_MAX)
    milli = _int(row, "gpu_milli", line, path, 0, 1000)
    created_s = _time(row, "creation_time", line, path)
    deleted_s = _time(row, "deletion_time", line, path)
    if cards == 0:
        skipped["cpu_only_pods"] += 1
        return None
    if not row["scheduled_time"].strip():
        skipped["never_ran_pods"] += 1
        return None
    scheduled_s = _time(row, "scheduled_time", line, path)
    if deleted_s < scheduled_s or scheduled_s < created_s:
        raise _bad(
            path,
            line,
            "deletion_time",
            msg(
                "时间须满足 创建 <= 调度 <= 删除",
                "times must satisfy creation <= scheduled <= deletion",
            ),
        )
    adjusted["shared_gpu_rounded_up"] += int(0 < milli < 1000)
    runtime_s = max(1.0, deleted_s - scheduled_s)
    if runtime_s > RUN_TIME_S_MAX:
        adjusted["runtime_capped_30_days"] += 1
        runtime_s = float(RUN_TIME_S_MAX)
    try:  # whatever the job spec refuses (a name too long, a control character), at its line
        return QueuedJob(
            id=name,
            owner_id=f"tenant-{zlib.crc32(name.encode()) % TENANTS:02d}",
            spec=_pod_spec(name, cards, row, line, path, runtime_s),
            submitted_at_s=created_s,
            reference_runtime_s=runtime_s,
            reference_model=REFERENCE_MODEL,
        )
    except InvalidInput as error:
        if error.details.get("line") == line:
            raise  # already says where
        raise row_error(path, line, error) from error


def _pod_spec(
    name: str, cards: int, row: dict[str, str], line: int, path: Path, runtime_s: float
) -> JobSpec:
    qos = row["qos"].strip()
    if qos not in PRIORITY_BY_QOS:
        raise _bad(
            path,
            line,
            "qos",
            msg(
                f"须为以下之一：{'、'.join(PRIORITY_BY_QOS)}",
                f"must be one of {', '.join(PRIORITY_BY_QOS)}",
            ),
        )
    wanted = tuple(
        dict.fromkeys(part.strip() for part in row["gpu_spec"].split("|") if part.strip())
    )
    if cards > CARDS_PER_NODE_MAX:
        raise _bad(
            path,
            line,
            "num_gpu",
            msg(
                f"一个作业须放进一个节点：最多 {CARDS_PER_NODE_MAX}",
                f"a pod fits on one node: at most {CARDS_PER_NODE_MAX}",
            ),
        )
    return JobSpec(
        name=name,
        command="trace replay",
        cards=cards,
        cards_per_node=cards,
        accelerators=wanted,
        max_run_time_s=min(RUN_TIME_S_MAX, math.ceil(runtime_s)),
        priority=PRIORITY_BY_QOS[qos],
        preemptible=qos == "BE",
        job_class="generic",
    )


def _rows(path: Path, required: tuple[str, ...]) -> list[Row]:
    return read_rows(path, required, rows_max=ROWS_MAX, bad=_bad)


def _int(row: dict[str, str], column: str, line: int, path: Path, low: int, high: int) -> int:
    return int_cell(row, column, line, path, (low, high), _bad)


def _time(row: dict[str, str], column: str, line: int, path: Path) -> float:
    """Seconds since the trace's start: in [0, TRACE_TIME_S_MAX]."""
    text = row[column].strip()
    cell = shown(text)
    try:
        value = float(text)
    except ValueError:
        raise _bad(
            path,
            line,
            column,
            msg(f"须为秒数，收到 {cell}", f"must be a number of seconds, got {cell}"),
        ) from None
    if not math.isfinite(value) or value < 0:
        raise _bad(
            path,
            line,
            column,
            msg(f"须为非负数，收到 {cell}", f"must be a non-negative number, got {cell}"),
        )
    if value > TRACE_TIME_S_MAX:
        limit = seconds_text(TRACE_TIME_S_MAX)
        raise _bad(
            path,
            line,
            column,
            msg(
                f"须至多为 {TRACE_TIME_S_MAX:,} 秒（{limit.zh}），收到 {cell}",
                f"must be at most {TRACE_TIME_S_MAX:,} s ({limit.en}), got {cell}",
            ),
        )
    return value


def _bad(path: Path, line: int, column: str, problem: Msg) -> InvalidInput:
    return InvalidInput(
        msg(
            f"{path.name} 第{line}行：`{column}` {problem.zh}",
            f"{path.name} line {line}: {column} {problem.en}",
        ),
        field=column,
        line=line,
    )
