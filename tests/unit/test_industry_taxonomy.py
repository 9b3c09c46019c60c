"""The open industry taxonomy: GB/T 4754-2017 sections and divisions as shipped data, the
platform's labels as aliases, unknown labels kept as written and never an agreement, and
same-section as a weaker signal than the same division."""

from __future__ import annotations

import pytest

from suanli.adapters.matching import MatchEngine
from suanli.adapters.matching.industry import _rows, industry_label, load_taxonomy
from suanli.domain.industry import SAME_CODE, SAME_SECTION, UNRELATED, IndustryTaxonomy
from suanli.domain.scenes import (
    INDUSTRIES,
    INDUSTRY_FILTER_CHARS_MAX,
    Capability,
    MatchDirection,
    Opportunity,
    resolve_industry,
)
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


# ---------------------------------------------------------------- one industry, any of its names


def _names(taxonomy: IndustryTaxonomy, code: str) -> list[str]:
    """Every way a reader may name a class: its code (and C36 for a division), its Chinese
    and GB/T English names, and those again in another case with stray spaces."""
    item = taxonomy.classes[code]
    names = [code, item.name, item.name_en, f" {item.name_en.upper()} ", " ".join(item.name)]
    if code != item.section:
        names += [f"{item.section}{code}", f"{item.section.lower()} {code}"]
    return names


def test_every_name_of_every_class_means_one_canonical_industry() -> None:
    taxonomy = load_taxonomy()
    for code in taxonomy.classes:
        meant = {name: taxonomy.canonical(name) for name in _names(taxonomy, code)}
        assert len(set(meant.values())) == 1, meant


def _every_label() -> set[str]:
    taxonomy = load_taxonomy()
    labels = {name for code in taxonomy.classes for name in _names(taxonomy, code)}
    labels |= {row["label"] for row in _rows("aliases.csv")}
    return labels | {label for item in INDUSTRIES for label in (item.name, item.name_en)}


def test_filtering_by_the_label_a_reader_is_shown_means_the_stored_label() -> None:
    """An en reader sees 汽车制造业 as "automobiles" and 光伏 as a division's English name;
    typing back what is shown must find the item, in either language."""
    taxonomy = load_taxonomy()
    for label in _every_label():
        stored = resolve_industry(label)[0]
        for language in ("en", "zh-CN"):
            shown = industry_label(stored, language)
            assert taxonomy.canonical(shown) == taxonomy.canonical(stored), (label, shown)
            assert len(shown) <= INDUSTRY_FILTER_CHARS_MAX


def test_a_filter_means_what_storing_the_same_words_meant() -> None:
    """银行 is stored as 金融 (a platform alias), so it must find 金融 items, though the table
    alone files 银行 under 66."""
    taxonomy = load_taxonomy()
    for label in _every_label():
        assert taxonomy.canonical(label) == taxonomy.canonical(resolve_industry(label)[0])
    assert taxonomy.canonical("银行") == taxonomy.canonical("金融") == "J"
    assert taxonomy.code_of("银行") == "66"  # matching proximity keeps the table's reading


@pytest.mark.parametrize(("section", "division"), [("P", "83"), ("K", "70"), ("T", "97")])
def test_a_section_of_one_division_is_that_division(section: str, division: str) -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.canonical(section) == taxonomy.canonical(division) == division
    assert taxonomy.canonical("C") != taxonomy.canonical("36")  # C has many divisions


def test_words_the_taxonomy_does_not_know_mean_themselves_case_and_spaces_ignored() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.canonical(" 火星 采矿 ") == taxonomy.canonical("火星采矿") == "火星采矿"
    assert taxonomy.canonical("Mars  Mining") == taxonomy.canonical("mars mining")
    assert taxonomy.canonical("火星采矿") not in taxonomy.classes
    assert taxonomy.canonical("") == taxonomy.canonical("other") == taxonomy.canonical("其他")


def test_a_bare_table_keeps_labels_as_written() -> None:
    taxonomy = IndustryTaxonomy(
        [("A", "农、林、牧、渔业", "agriculture"), ("01", "农业", "crops")], {}
    )
    assert taxonomy.canonical(" Crops ") == taxonomy.canonical("A01") == "01"
    assert taxonomy.canonical("A") == "01"  # one division
