"""The accelerator catalog: public datasheet figures per chip, each with its source.

An unknown figure is None, never a guess. Dense (non-sparse) TFLOPS throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from suanli.errors import UnknownAccelerator

CATALOG_VERSION = "2026.11.1"


class Precision(StrEnum):
    FP32 = "fp32"
    TF32 = "tf32"
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"
    INT8 = "int8"


@dataclass(frozen=True)
class Accelerator:
    vendor: str
    model: str
    domestic: bool
    memory_gib: float | None
    memory_bandwidth_gbs: float | None
    tflops: dict[Precision, float | None]
    interconnect: str | None
    software_stack: str
    sources: tuple[str, ...] = field(default=())
    aliases: tuple[str, ...] = field(default=())

    def supports(self, precision: Precision) -> bool:
        return self.tflops.get(precision) is not None

    def tflops_for(self, precision: Precision) -> float | None:
        return self.tflops.get(precision)


def _tf(**values: float | None) -> dict[Precision, float | None]:
    return {Precision(name): value for name, value in values.items()}


CATALOG: tuple[Accelerator, ...] = (
    Accelerator(
        vendor="NVIDIA",
        model="H100-SXM",
        domestic=False,
        memory_gib=80,
        memory_bandwidth_gbs=3350,
        tflops=_tf(fp32=67, tf32=494.5, bf16=989.5, fp16=989.5, fp8=1979, int8=1979),
        interconnect="NVLink 4 900 GB/s",
        software_stack="CUDA",
        sources=("https://www.nvidia.com/en-us/data-center/h100/",),
        aliases=("H100",),
    ),
)


def catalog_by_model() -> dict[str, Accelerator]:
    index: dict[str, Accelerator] = {}
    for accelerator in CATALOG:
        for name in (accelerator.model, *accelerator.aliases):
            index[name.lower()] = accelerator
    return index


def get_accelerator(model: str) -> Accelerator:
    """Looks a model up by name or alias (case-insensitive)."""
    found = catalog_by_model().get(model.strip().lower())
    if found is None:
        known = ", ".join(a.model for a in CATALOG)
        raise UnknownAccelerator(
            f"unknown accelerator {model!r}; known models: {known}", field="accelerator"
        )
    return found
