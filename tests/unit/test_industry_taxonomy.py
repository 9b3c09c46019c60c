"""The open industry taxonomy: GB/T 4754-2017 sections and divisions as shipped data, the
platform's labels as aliases, unknown labels kept as written and never an agreement, and
same-section as a weaker signal than the same division."""

from __future__ import annotations

import pytest

from suanli.adapters.matching import MatchEngine
from suanli.adapters.matching.industry import load_taxonomy
from suanli.domain.industry import SAME_CODE, SAME_SECTION, UNRELATED, IndustryTaxonomy
from suanli.domain.scenes import Capability, MatchDirection, Opportunity
from suanli.errors import InvalidInput
from tests.unit.test_matching import CharacterEmbedder


def test_the_shipped_table_has_every_section_and_division() -> None:
    taxonomy = load_taxonomy()
    sections = [code for code in taxonomy.classes if code.isalpha()]
    divisions = [code for code in taxonomy.classes if code.isdigit()]
    assert sections == list("ABCDEFGHIJKLMNOPQRST")
    assert divisions == [f"{number:02d}" for number in range(1, 98)]
    expected = {"01": "A", "36": "C", "44": "D", "65": "I", "83": "P", "85": "Q", "97": "T"}
    assert {code: taxonomy.section_of(code) for code in expected} == expected


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("智能制造", "C"),
        ("养老", "85"),
        ("具身智能", "34"),
        ("机器人", "34"),
        ("医疗健康", "84"),
        ("汽车制造业", "36"),
        ("C36", "36"),
        ("36", "36"),
        (" manufacturing ", "C"),
    ],
)
def test_platform_labels_names_and_codes_map_onto_the_table(label: str, code: str) -> None:
    assert load_taxonomy().code_of(label) == code


@pytest.mark.parametrize("label", ["火星采矿", "其他", "", "Z99"])
def test_a_label_that_maps_nowhere_has_no_code(label: str) -> None:
    assert load_taxonomy().code_of(label) is None


def test_agreement_counts_only_when_both_sides_are_known() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.proximity(None, None) == UNRELATED
    assert taxonomy.proximity("36", None) == UNRELATED


def test_same_section_is_weaker_than_the_same_division() -> None:
    taxonomy = load_taxonomy()
    same = taxonomy.proximity(taxonomy.code_of("养老"), taxonomy.code_of("社会工作"))
    section = taxonomy.proximity(taxonomy.code_of("养老"), taxonomy.code_of("医疗"))
    unrelated = taxonomy.proximity(taxonomy.code_of("养老"), taxonomy.code_of("金融"))
    assert (same, section, unrelated) == (SAME_CODE, SAME_SECTION, UNRELATED)
    assert SAME_CODE > SAME_SECTION > UNRELATED


def test_a_table_with_an_alias_to_a_missing_code_is_refused() -> None:
    with pytest.raises(InvalidInput):
        IndustryTaxonomy([("A", "农、林、牧、渔业", "agriculture")], {"养老": "85"})
    with pytest.raises(InvalidInput):
        IndustryTaxonomy([("01", "农业", "agriculture")], {})  # a division before any section


def test_an_unknown_label_is_kept_on_the_item_as_written() -> None:
    assert Capability(id="C1", title="t", industry="火星采矿").industry == "火星采矿"
    with pytest.raises(InvalidInput) as caught:
        Capability(id="C1", title="t", industry="行" * 41)
    assert caught.value.field == "industry"


def _why(need_industry: str, offer_industry: str) -> str:
    engine = MatchEngine(CharacterEmbedder())
    engine.index(
        [Opportunity(id="O1", title="独居老人跌倒检测", industry=need_industry)],
        [Capability(id="C1", title="跌倒检测雷达", industry=offer_industry)],
    )
    return engine.match(MatchDirection.O2C, top_k=1)[0].candidates[0].why


def test_two_unknown_labels_are_not_an_industry_agreement() -> None:
    why = _why("火星采矿", "火星采矿")
    assert "同行业" not in why and "同门类" not in why


def test_explanations_say_same_industry_or_same_section() -> None:
    assert "同行业：85 社会工作" in _why("养老", "社会工作")
    assert "同门类：Q 卫生和社会工作" in _why("养老", "医疗健康")
    assert "同行业" not in _why("养老", "金融") and "同门类" not in _why("养老", "金融")
