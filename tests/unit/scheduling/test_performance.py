"""The roofline performance model, measured overrides, and the ranking against Gavel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from suanli.domain.accelerators import get_accelerator
from suanli.domain.scheduling.model import ClusterState
from suanli.domain.scheduling.performance import (
    JOB_CLASSES,
    PerformanceModel,
    job_class_named,
    roofline_tflops,
)
from suanli.errors import InvalidInput
from tests.conftest import require_component
from tests.unit.scheduling.builders import chip, view

GAVEL_JSON = "traces/gavel/simulation_throughputs.json"


def _gavel_path() -> Path | None:
    explicit = os.environ.get("SUANLI_TRACES_DIR")
    if explicit:
        return Path(explicit) / "gavel" / "simulation_throughputs.json"
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / GAVEL_JSON
        if candidate.is_file():
            return candidate
    return None


def test_every_documented_class_has_a_precision_and_an_intensity() -> None:
    assert {"llm-train-bf16", "cv-train-fp16", "cv-train-fp32", "inference-int8", "recsys"} <= set(
        JOB_CLASSES
    )
    assert all(c.flops_per_byte > 0 for c in JOB_CLASSES.values())


def test_an_unknown_class_name_is_invalid_when_asked_for_strictly() -> None:
    with pytest.raises(InvalidInput, match="llm-train-bf16"):
        job_class_named("quantum")


def test_decoding_is_memory_bound_and_training_compute_bound_on_an_h100() -> None:
    h100 = get_accelerator("H100")
    decode = roofline_tflops(h100, JOB_CLASSES["llm-infer-fp16"])
    train = roofline_tflops(h100, JOB_CLASSES["llm-train-bf16"])
    assert decode == pytest.approx(2 * 3350 / 1000)  # intensity × bandwidth
    assert train == h100.tflops_for(JOB_CLASSES["llm-train-bf16"].precision)


def test_memory_bound_speedups_follow_bandwidth_and_compute_bound_ones_follow_tflops() -> None:
    model = PerformanceModel()
    fast = chip("Fast", fp32=40.0, bandwidth_gbs=1000.0)
    slow = chip("Slow", fp32=10.0, bandwidth_gbs=500.0)
    # recsys, 4 FLOP/B: 4 vs 2 TFLOPS attainable, the bandwidth ratio
    assert model.relative_speed("recsys", fast, slow) == pytest.approx(2.0)
    # cv-train-fp32, 40 FLOP/B: 40 vs 10 TFLOPS, the compute ratio
    assert model.relative_speed("cv-train-fp32", fast, slow) == pytest.approx(4.0)


def test_a_chip_without_the_tensor_path_falls_back_to_the_next_precision() -> None:
    bf16_less = chip("Old", fp32=10.0, bandwidth_gbs=1e4, fp16=40.0)
    assert roofline_tflops(bf16_less, JOB_CLASSES["llm-train-bf16"]) == 40.0


def test_unknown_figures_give_no_preference() -> None:
    model = PerformanceModel()
    unknown = chip("Unknown", fp32=None, bandwidth_gbs=None)
    assert model.relative_speed("generic", unknown, get_accelerator("V100")) == 1.0


def test_runtime_translation_round_trips_between_accelerators() -> None:
    model = PerformanceModel()
    v100, h100 = get_accelerator("V100"), get_accelerator("H100")
    on_h100 = model.translate_runtime_s(3600.0, "llm-train-bf16", v100, h100)
    assert on_h100 < 3600.0
    assert model.translate_runtime_s(on_h100, "llm-train-bf16", h100, v100) == pytest.approx(3600.0)


def test_measured_throughputs_override_the_roofline_for_the_pairs_they_cover() -> None:
    model = PerformanceModel({"recsys": {"K80": 30.0, "V100": 15.0}})
    k80, v100, p100 = (get_accelerator(n) for n in ("K80", "V100", "P100"))
    assert model.relative_speed("recsys", k80, v100) == pytest.approx(2.0)
    assert model.relative_speed("recsys", p100, v100) == pytest.approx(
        PerformanceModel().relative_speed("recsys", p100, v100)
    )


def test_runtime_factors_scale_each_pool_relative_to_the_reference() -> None:
    state = ClusterState.empty((view("a", "V100"), view("b", "H100"), view("c", "V100-32GB")))
    factors = PerformanceModel().runtime_factors(state.matrix, "cv-train-fp16", "V100")
    assert factors[0] == pytest.approx(1.0) and factors[2] == pytest.approx(1.0)
    assert factors[1] < 1.0


def test_the_model_ranks_k80_below_p100_below_v100_like_gavels_measurements() -> None:
    path = _gavel_path()
    require_component(path is not None and path.is_file(), f"Gavel throughputs ({GAVEL_JSON})")
    from suanli.simulation.gavel import CLASS_BY_JOB_TYPE, load_throughputs

    assert path is not None
    measured = load_throughputs(path)
    model = PerformanceModel()
    chips = [get_accelerator(name) for name in ("K80", "P100", "V100")]
    agree = 0
    for job_type, by_model in measured.items():
        job_class = CLASS_BY_JOB_TYPE[job_type.split(" (")[0]]
        predicted = [model.relative_speed(job_class, c, chips[0]) for c in chips]
        assert predicted[0] < predicted[1] < predicted[2], job_type
        agree += by_model["K80"] < by_model["P100"] < by_model["V100"]
    # Gavel's own data has exceptions (recommendation runs slowest on V100; small-batch
    # ResNet-18 peaks on P100); the roofline ranking must match most job types.
    assert agree / len(measured) >= 2 / 3
    geometric = {m: _geomean([by[m] for by in measured.values()]) for m in ("K80", "P100", "V100")}
    assert geometric["K80"] < geometric["P100"] < geometric["V100"]


def _geomean(values: list[float]) -> float:
    import math

    return math.exp(sum(math.log(v) for v in values) / len(values))
