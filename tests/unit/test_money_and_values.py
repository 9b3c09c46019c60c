"""Money rounding and the self-validating value objects (Pool, JobSpec, Region)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.domain.jobs import JobSpec
from suanli.domain.money import apply_basis_points, format_yuan, price_card_seconds, require_fen
from suanli.domain.pools import Pool, Region
from suanli.errors import InvalidInput


def test_pricing_rounds_half_up_once_per_line() -> None:
    assert price_card_seconds(1800, 1) == 1  # 0.5 fen rounds up
    assert price_card_seconds(1799, 1) == 0
    assert price_card_seconds(3600 * 8, 2800) == 22_400
    assert price_card_seconds(52, 2800) == 40  # 40.44 fen


@given(st.integers(0, 10**9), st.integers(0, 10**7))
def test_pricing_is_within_half_a_fen_of_the_exact_amount(card_seconds: int, price: int) -> None:
    exact_times_3600 = card_seconds * price
    priced = price_card_seconds(card_seconds, price)
    assert abs(priced * 3600 - exact_times_3600) <= 1800


def test_fee_in_basis_points_rounds_half_up() -> None:
    assert apply_basis_points(10_000, 500) == 500
    assert apply_basis_points(10, 500) == 1  # 0.5 → 1


@pytest.mark.parametrize("bad", [-1, 0, 1.5, "10", True, 10**16])
def test_require_fen_refuses_non_positive_non_integer_and_huge(bad: object) -> None:
    with pytest.raises(InvalidInput) as raised:
        require_fen(bad)
    assert raised.value.field == "amount_fen"


def test_format_yuan() -> None:
    assert format_yuan(123_456) == "¥1,234.56"
    assert format_yuan(-5) == "-¥0.05"


def _pool(**overrides: object) -> Pool:
    fields: dict[str, object] = {
        "id": "p",
        "provider_id": "o",
        "name": "n",
        "accelerator_model": "H100-SXM",
        "nodes": 1,
        "cards_per_node": 8,
        "region": Region("浙江", "杭州"),
        "price_fen_per_card_hour": 100,
    }
    fields.update(overrides)
    return Pool(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("nodes", 0), ("cards_per_node", 0), ("price_fen_per_card_hour", -1), ("backend", "k8s")],
)
def test_a_pool_refuses_bad_fields_naming_them(field: str, value: object) -> None:
    with pytest.raises(InvalidInput) as raised:
        _pool(**{field: value})
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cards", 0),
        ("cards", 5000),
        ("max_run_time_s", 0),
        ("priority", 101),
        ("name", " "),
        ("command", ""),
        ("objective", "cheap"),
        ("min_memory_gib", -1),
    ],
)
def test_a_job_spec_refuses_bad_fields_naming_them(field: str, value: object) -> None:
    with pytest.raises(InvalidInput) as raised:
        JobSpec(**{"name": "j", "command": "true", field: value})  # type: ignore[arg-type]
    assert raised.value.field == field


def test_cards_must_fill_whole_nodes() -> None:
    with pytest.raises(InvalidInput) as raised:
        JobSpec(name="j", command="true", cards=6, cards_per_node=4)
    assert raised.value.field == "cards"
    assert JobSpec(name="j", command="true", cards=6).cards_per_node == 6


def test_region_matching_treats_empty_parts_as_wildcards() -> None:
    pool_region = Region.parse("浙江/杭州/余杭")
    assert pool_region.matches(Region.parse("浙江"))
    assert pool_region.matches(Region.parse("浙江/杭州"))
    assert not pool_region.matches(Region.parse("浙江/宁波"))
    with pytest.raises(InvalidInput):
        Region.parse("a/b/c/d")
