"""Gavel's measured throughputs (OSDI '20, scheduler/simulation_throughputs.json) as the
performance model's measured overrides: isolated steps/s of each job type at scale factor 1,
mapped to our job classes and averaged geometrically per class and worker type."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any, TypeVar

from suanli.domain.jobs import CARDS_MAX
from suanli.errors import InvalidInput
from suanli.i18n import Msg, msg
from suanli.simulation.trace_csv import read_text

WORKER_MODELS = {"k80": "K80", "p100": "P100", "v100": "V100"}
Table = TypeVar("Table", bound=dict[str, Any])
CLASS_BY_JOB_TYPE = {
    "ResNet-18": "cv-train-fp32",
    "ResNet-50": "cv-train-fp32",
    "CycleGAN": "cv-train-fp32",
    "Transformer": "nlp-train-fp32",
    "LM": "nlp-train-fp32",
    "Recommendation": "recsys",
    "A3C": "rl",
}


def load_isolated_throughputs(path: Path) -> dict[str, dict[int, dict[str, float]]]:
    """job type -> scale factor -> catalog model -> isolated steps/s (Gavel's "null" entries:
    the job alone on the worker)."""
    raw = _json_object(path)
    table: dict[str, dict[int, dict[str, float]]] = {}
    for worker, model in WORKER_MODELS.items():
        entries = raw.get(worker, {})
        if not isinstance(entries, dict):
            raise _malformed(path, worker, msg("须为 JSON 对象", "must be a JSON object"))
        for key, entry in entries.items():
            if isinstance(entry, dict) and entry.get("null"):
                job_type, scale_factor = _key(path, worker, key)
                by_model = table.setdefault(job_type, {}).setdefault(scale_factor, {})
                by_model[model] = _speed(path, f"{worker}: {key}", entry["null"])
    return _require_some(table, path)


def _json_object(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(read_text(path, "path", msg("Gavel 吞吐量文件", "Gavel throughputs")))
    except json.JSONDecodeError as error:
        raise InvalidInput(
            msg(
                f"Gavel 吞吐量文件 {path} 第{error.lineno}行第{error.colno}列：不是有效的 JSON",
                f"Gavel throughputs {path} line {error.lineno} column {error.colno}: "
                "not valid JSON",
            ),
            field="path",
        ) from None
    if not isinstance(raw, dict):
        raise _malformed(path, "", msg("须为 JSON 对象", "must be a JSON object"))
    return raw


def _key(path: Path, worker: str, key: str) -> tuple[str, int]:
    """Gavel's `"('ResNet-50 (batch size 64)', 1)"`: the job type and the scale factor."""
    try:
        job_type, scale_factor = ast.literal_eval(key)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        job_type = scale_factor = None
    if not isinstance(job_type, str) or isinstance(scale_factor, bool):
        scale_factor = None
    if not isinstance(scale_factor, int) or not 1 <= scale_factor <= CARDS_MAX:
        raise _malformed(
            path,
            f"{worker}: {key[:80]}",
            msg("键须为 (作业类型, 1 至 4096 的整数)", "keys must be (job type, whole 1..4096)"),
        )
    return job_type, scale_factor


def _speed(path: Path, where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _malformed(path, where[:120], msg("吞吐量须为数字", "a throughput must be a number"))
    if value < 0:
        raise _malformed(
            path, where[:120], msg("吞吐量不能为负", "a throughput cannot be negative")
        )
    return float(value)


def _malformed(path: Path, where: str, problem: Msg) -> InvalidInput:
    at_zh, at_en = (f"（{where}）", f" ({where})") if where else ("", "")
    return InvalidInput(
        msg(
            f"Gavel 吞吐量文件 {path}{at_zh}：{problem.zh}",
            f"Gavel throughputs {path}{at_en}: {problem.en}",
        ),
        field="path",
    )


def load_throughputs(path: Path) -> dict[str, dict[str, float]]:
    """job type (e.g. 'ResNet-50 (batch size 64)') -> catalog model -> isolated steps/s, at
    scale factor 1."""
    by_factor = load_isolated_throughputs(path)
    return _require_some({job: by[1] for job, by in by_factor.items() if 1 in by}, path)


def _require_some(table: Table, path: Path) -> Table:
    if not table:
        raise InvalidInput(
            msg(f"{path} 中没有单独运行的吞吐量数据", f"{path} holds no isolated throughputs"),
            field="path",
        )
    return table


def measured_by_class(table: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Geometric mean per (class, model) over the job types mapped to the class."""
    logs: dict[str, dict[str, list[float]]] = {}
    for job_type, by_model in table.items():
        job_class = CLASS_BY_JOB_TYPE.get(job_type.split(" (")[0])
        if job_class is None:
            continue
        for model, steps_per_s in by_model.items():
            logs.setdefault(job_class, {}).setdefault(model, []).append(math.log(steps_per_s))
    return {
        job_class: {model: math.exp(sum(v) / len(v)) for model, v in by_model.items()}
        for job_class, by_model in logs.items()
    }
