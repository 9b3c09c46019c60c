"""Regions people type are checked against China's administrative divisions (issue 14.11)."""

from __future__ import annotations

import pytest

from suanli.domain.divisions import canonical_region
from suanli.errors import InvalidInput


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("浙江/杭州/余杭", "浙江/杭州/余杭"),
        ("浙江省/杭州市/余杭区", "浙江/杭州/余杭"),
        ("浙江 / 杭州", "浙江/杭州"),
        ("北京/海淀", "北京/北京/海淀"),
        ("北京市/北京市/海淀区", "北京/北京/海淀"),
        ("重庆/巫山", "重庆/重庆/巫山"),
        ("吉林/延边朝鲜族自治州", "吉林/延边"),
        ("贵州/黔东南", "贵州/黔东南"),
        ("广东/深圳/南山", "广东/深圳/南山"),
        ("香港", "香港"),
    ],
)
def test_full_names_short_names_and_municipalities_read_as_one_region(
    typed: str, canonical: str
) -> None:
    assert canonical_region(typed) == canonical


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("hangzhou", "hangzhou"),
        ("浙江/hangzhou", "浙江"),
        ("浙江/杭州/朝阳", "浙江/杭州"),
        ("浙江//余杭", "province[/city[/district]]"),
        ("a/b/c/d", "province[/city[/district]]"),
    ],
)
def test_a_region_that_is_no_division_is_refused_saying_where(typed: str, said: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        canonical_region(typed, "region")
    assert refused.value.field == "region"
    assert said in refused.value.text.en  # type: ignore[union-attr]
