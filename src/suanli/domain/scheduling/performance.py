"""Performance model: how fast a job of a given class runs on each accelerator.

Roofline estimate (Williams et al., CACM 2009): a kernel of arithmetic intensity I FLOP/byte
attains min(peak TFLOPS, I × bandwidth) on a chip. Each job class below names its precision
and the intensity of its dominant kernels, which decides whether it is compute-bound (large
GEMMs, convolutions) or memory-bound (decoding, embeddings) on a given chip. Measured
throughputs, where a caller has them (e.g. Gavel's matrix), override the estimate for the
pairs they cover. Unknown catalog figures give no preference: relative speed 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from suanli.domain.accelerators import Accelerator, Precision, get_accelerator, normalize_model_name
from suanli.domain.scheduling.matrix import FloatArray, PoolMatrix
from suanli.errors import InvalidInput, UnknownAccelerator
from suanli.i18n import msg

DEFAULT_REFERENCE_MODEL = "V100"  # Gavel's and MLPerf's usual baseline; runtimes are quoted on it
DEFAULT_JOB_CLASS = "generic"


@dataclass(frozen=True)
class JobClass:
    name: str
    precision: Precision
    flops_per_byte: float  # arithmetic intensity of the dominant kernels
    summary: str


# Intensities are order-of-magnitude figures for each kind of work, chosen against the ridge
# points of the catalog (peak / bandwidth: ~12-25 FLOP/B in FP32, ~60-300 on tensor paths),
# so that each class lands on the roof its kernels are known to hit.
JOB_CLASSES: dict[str, JobClass] = {
    c.name: c
    for c in (
        JobClass("llm-train-bf16", Precision.BF16, 400, "transformer training, large GEMMs"),
        JobClass("llm-infer-fp16", Precision.FP16, 2, "token decoding: weights streamed per token"),
        JobClass("cv-train-fp16", Precision.FP16, 100, "CNN/ViT training, mixed precision"),
        JobClass("cv-train-fp32", Precision.FP32, 40, "CNN/GAN training in FP32 (Gavel ResNet)"),
        JobClass("nlp-train-fp32", Precision.FP32, 24, "RNN/Transformer training in FP32"),
        JobClass("inference-int8", Precision.INT8, 50, "quantised batch inference"),
        JobClass("recsys", Precision.FP32, 4, "embedding-heavy recommendation"),
        JobClass("rl", Precision.FP32, 8, "small-network reinforcement learning (A3C)"),
        JobClass(DEFAULT_JOB_CLASS, Precision.FP32, 16, "unknown work: FP32 at the ridge"),
    )
}

# For speed only (feasibility enforces a spec's precision): a chip without the class's fast
# path runs it on the next one, as frameworks do (e.g. BF16 recipes on V100 run in FP16).
_FALLBACK: dict[Precision, tuple[Precision, ...]] = {
    Precision.FP32: (Precision.FP32,),
    Precision.TF32: (Precision.TF32, Precision.FP32),
    Precision.BF16: (Precision.BF16, Precision.FP16, Precision.FP32),
    Precision.FP16: (Precision.FP16, Precision.BF16, Precision.FP32),
    Precision.FP8: (Precision.FP8, Precision.BF16, Precision.FP16, Precision.FP32),
    Precision.INT8: (Precision.INT8, Precision.FP16, Precision.FP32),
}


def job_class_named(name: str) -> JobClass:
    """The documented class, or InvalidInput listing the known ones."""
    found = JOB_CLASSES.get(name)
    if found is None:
        known = ", ".join(JOB_CLASSES)
        raise InvalidInput(
            msg(
                f"未知作业类别 {name!r}；已知：{known}",
                f"unknown job class {name!r}; known: {known}",
            ),
            field="job_class",
        )
    return found


def roofline_tflops(accelerator: Accelerator, job_class: JobClass) -> float | None:
    """Attainable TFLOPS: min(compute roof, intensity × bandwidth); None if figures unknown."""
    paths = (p for p in _FALLBACK[job_class.precision] if accelerator.supports(p))
    peak = next((accelerator.tflops_for(p) for p in paths), None)
    bandwidth_gbs = accelerator.memory_bandwidth_gbs
    if peak is None or bandwidth_gbs is None:
        return None
    return min(peak, job_class.flops_per_byte * bandwidth_gbs / 1000.0)


class PerformanceModel:
    """Relative speeds and runtime translation; `measured` maps class -> model -> throughput."""

    def __init__(self, measured: Mapping[str, Mapping[str, float]] | None = None) -> None:
        self.measured = {
            job_class: {normalize_model_name(m): float(v) for m, v in table.items() if v > 0}
            for job_class, table in (measured or {}).items()
        }

    def job_class(self, name: str | None) -> JobClass:
        """Unknown or missing class names fall back to `generic` (never fail a decision)."""
        return JOB_CLASSES.get(name or DEFAULT_JOB_CLASS, JOB_CLASSES[DEFAULT_JOB_CLASS])

    def relative_speed(
        self, job_class: str | None, accelerator: Accelerator, reference: Accelerator
    ) -> float:
        """How many times faster `accelerator` runs the class than `reference` (1 if unknown)."""
        chosen = self.job_class(job_class)
        # a class measured under its own name (a Gavel job type) needs no documented class
        own = job_class if job_class in self.measured else chosen.name
        measured = self._measured_ratio(own, accelerator, reference)
        if measured is not None:
            return measured
        speed = roofline_tflops(accelerator, chosen)
        baseline = roofline_tflops(reference, chosen)
        if speed is None or baseline is None or speed <= 0 or baseline <= 0:
            return 1.0
        return speed / baseline

    def translate_runtime_s(
        self, runtime_s: float, job_class: str | None, source: Accelerator, target: Accelerator
    ) -> float:
        """A runtime measured on `source` expressed on `target`."""
        return runtime_s / self.relative_speed(job_class, target, source)

    def runtime_factors(
        self, matrix: PoolMatrix, job_class: str | None, reference_model: str | None
    ) -> FloatArray:
        """Per pool: runtime there ÷ runtime on the reference (cached per class and reference)."""
        key = (self, job_class, reference_model)  # raw names: no normalising on the hot path
        factors = matrix.cached_factors(key)
        if factors is None:
            chosen = job_class if job_class in self.measured else self.job_class(job_class).name
            reference_name = reference_model or DEFAULT_REFERENCE_MODEL
            reference = resolve_model(reference_name, matrix)
            per_model = np.ones(len(matrix.models), dtype=np.float64)
            if reference is not None:
                for model_id, accelerator in enumerate(matrix.models):
                    speed = self.relative_speed(chosen, accelerator, reference)
                    per_model[model_id] = 1.0 / speed
            factors = per_model[matrix.model_id] if matrix.size else np.ones(0)
            matrix.remember_factors(key, factors)
        return factors

    def _measured_ratio(
        self, job_class: str, accelerator: Accelerator, reference: Accelerator
    ) -> float | None:
        table = self.measured.get(job_class)
        if not table:
            return None
        speed, baseline = _lookup(table, accelerator), _lookup(table, reference)
        if speed is None or baseline is None:
            return None
        return speed / baseline


def _lookup(table: Mapping[str, float], accelerator: Accelerator) -> float | None:
    for name in (accelerator.model, *accelerator.aliases):
        value = table.get(normalize_model_name(name))
        if value is not None:
            return value
    return None


def resolve_model(name: str, matrix: PoolMatrix | None = None) -> Accelerator | None:
    """A model by name among the fleet's accelerators (stand-ins included), then the catalog."""
    if matrix is not None:
        ids = matrix.model_names.get(normalize_model_name(name))
        if ids:
            return matrix.models[min(ids)]
    try:
        return get_accelerator(name)
    except UnknownAccelerator:
        return None
