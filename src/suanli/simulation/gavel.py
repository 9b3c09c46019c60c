"""Gavel's measured throughputs (OSDI '20, scheduler/simulation_throughputs.json) as the
performance model's measured overrides: isolated steps/s of each job type at scale factor 1,
mapped to our job classes and averaged geometrically per class and worker type."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any, TypeVar

from suanli.errors import InvalidInput
from suanli.i18n import msg

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
    try:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInput(
            msg(
                f"无法读取 Gavel 吞吐量文件 {path}：“{error}”",
                f"cannot read Gavel throughputs {path}: {error}",
            ),
            field="path",
        ) from error
    table: dict[str, dict[int, dict[str, float]]] = {}
    for worker, model in WORKER_MODELS.items():
        for key, entry in raw.get(worker, {}).items():
            job_type, scale_factor = ast.literal_eval(key)
            if isinstance(entry, dict) and entry.get("null"):
                by_model = table.setdefault(job_type, {}).setdefault(int(scale_factor), {})
                by_model[model] = float(entry["null"])
    return _require_some(table, path)


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
