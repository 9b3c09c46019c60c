"""The accelerator catalog: shape, uniqueness, sources, and lookup."""

from __future__ import annotations

import pytest

from suanli.domain.accelerators import (
    CATALOG,
    Accelerator,
    Precision,
    catalog_by_model,
    get_accelerator,
    matches,
    normalize_model_name,
    vendors,
)
from suanli.errors import UnknownAccelerator

DOMESTIC_VENDORS = {
    "Huawei",
    "Cambricon",
    "Kunlunxin",
    "Moore Threads",
    "Iluvatar CoreX",
    "Hygon",
}


def _names(accelerator: Accelerator) -> tuple[str, ...]:
    return (accelerator.model, *accelerator.aliases)


def test_catalog_is_broad() -> None:
    assert len(CATALOG) >= 12
    assert len({a.vendor for a in CATALOG}) >= 5


def test_models_are_unique() -> None:
    models = [normalize_model_name(a.model) for a in CATALOG]
    assert len(models) == len(set(models))


def test_models_are_ascii_identifiers() -> None:
    for accelerator in CATALOG:
        assert accelerator.model.isascii(), accelerator.model
        assert " " not in accelerator.model, accelerator.model


def test_every_name_resolves_to_exactly_one_model() -> None:
    owner: dict[str, str] = {}
    for accelerator in CATALOG:
        for name in _names(accelerator):
            key = normalize_model_name(name)
            assert owner.setdefault(key, accelerator.model) == accelerator.model, (
                f"{name!r} is claimed by {owner[key]!r} and {accelerator.model!r}"
            )
            assert get_accelerator(name) is accelerator


def test_catalog_by_model_covers_every_name() -> None:
    index = catalog_by_model()
    for accelerator in CATALOG:
        for name in _names(accelerator):
            assert index[normalize_model_name(name)] is accelerator


def test_every_entry_cites_an_https_source() -> None:
    for accelerator in CATALOG:
        assert accelerator.sources, accelerator.model
        assert any(url.startswith("https://") for url in accelerator.sources), accelerator.model
        for url in accelerator.sources:
            assert url.startswith(("https://", "http://")), url
            assert " " not in url, url


def test_memory_and_bandwidth_positive_when_known() -> None:
    for accelerator in CATALOG:
        if accelerator.memory_gib is not None:
            assert accelerator.memory_gib > 0, accelerator.model
        if accelerator.memory_bandwidth_gbs is not None:
            assert accelerator.memory_bandwidth_gbs > 0, accelerator.model


def test_tflops_keys_are_precisions_and_values_positive() -> None:
    for accelerator in CATALOG:
        for precision, value in accelerator.tflops.items():
            assert isinstance(precision, Precision), (accelerator.model, precision)
            assert value is None or value > 0, (accelerator.model, precision, value)


def test_domestic_flag_matches_vendor() -> None:
    for accelerator in CATALOG:
        assert accelerator.domestic == (accelerator.vendor in DOMESTIC_VENDORS), accelerator.model
    assert any(a.domestic for a in CATALOG)
    assert any(not a.domestic for a in CATALOG)


def test_software_stack_set() -> None:
    for accelerator in CATALOG:
        assert accelerator.software_stack, accelerator.model


def test_vendors_sorted_and_distinct() -> None:
    found = vendors()
    assert list(found) == sorted(set(found))
    assert set(found) == {a.vendor for a in CATALOG}
    assert len(found) >= 6


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("h100", "H100-SXM"),
        ("V100M32", "V100-32GB"),
        ("v100m16", "V100-16GB"),
        ("v100", "V100-16GB"),
        ("k80", "K80"),
        ("p100", "P100-16GB"),
        ("T4", "T4"),
        ("a10", "A10"),
        ("A100-SXM4-80GB", "A100-80GB"),
        ("a800-sxm4-80gb", "A800-80GB"),
        ("H800", "H800-SXM"),
        ("ascend 910b", "Ascend-910B"),
        ("ASCEND_910B", "Ascend-910B"),
        ("昇腾910B", "Ascend-910B"),
        ("mlu370-x8", "MLU370-X8"),
        ("天垓100", "BI-V100"),
        ("  dcu-z100 ", "DCU-Z100"),
        ("kunlunxin-r200", "Kunlunxin-R200"),
    ],
)
def test_lookup_by_alias_is_case_and_separator_insensitive(name: str, model: str) -> None:
    assert get_accelerator(name).model == model


def test_unknown_model_raises_with_field() -> None:
    with pytest.raises(UnknownAccelerator) as caught:
        get_accelerator("TPU-v9000")
    assert caught.value.field == "accelerator"
    assert "TPU-v9000" in caught.value.message


def test_unsupported_precisions_are_none() -> None:
    p100 = get_accelerator("P100")
    for precision in (Precision.BF16, Precision.TF32, Precision.FP8, Precision.INT8):
        assert not p100.supports(precision)
    assert p100.supports(Precision.FP32)
    assert not get_accelerator("A100-80GB").supports(Precision.FP8)
    assert get_accelerator("H100-SXM").supports(Precision.FP8)


def test_dense_not_sparse_for_nvidia_tensor_figures() -> None:
    # Datasheets print 989 (TF32) and 1979 (BF16) with sparsity for the H100 SXM.
    h100 = get_accelerator("H100-SXM")
    assert h100.tflops_for(Precision.TF32) == pytest.approx(494.5)
    assert h100.tflops_for(Precision.BF16) == pytest.approx(989.5)
    assert get_accelerator("A100-80GB").tflops_for(Precision.BF16) == pytest.approx(312)


def test_matches_helper() -> None:
    v100 = get_accelerator("V100-32GB")
    assert matches(v100, "v100m32")
    assert not matches(v100, "V100M16")


def test_catalog_index_is_a_copy() -> None:
    index = catalog_by_model()
    index.clear()
    assert get_accelerator("H100").model == "H100-SXM"
