"""Scenario exchange values: tags, industries, items, the 对接 pipeline and challenges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.domain.scenes import (
    CHALLENGE_TRANSITIONS,
    INDUSTRIES,
    INDUSTRY_OTHER,
    PIPELINE_TRANSITIONS,
    Capability,
    Challenge,
    ChallengeState,
    Criterion,
    DeploymentMode,
    ItemStatus,
    Maturity,
    Opportunity,
    Pairing,
    PairingSide,
    PipelineStage,
    industry_english,
    parse_deployment_modes,
    parse_maturity,
    parse_status,
    require_challenge_transition,
    require_pipeline_transition,
    resolve_industry,
    split_tags,
)
from suanli.errors import InvalidInput, InvalidTransition

FORWARD = [
    PipelineStage.RECOMMENDED,
    PipelineStage.INTERESTED,
    PipelineStage.NEGOTIATING,
    PipelineStage.SIGNED,
    PipelineStage.DELIVERED,
]
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_tags_split_on_every_separator_and_are_trimmed() -> None:
    assert split_tags("视觉; 质检；缺陷、预测,维护 ，边缘") == (
        "视觉",
        "质检",
        "缺陷",
        "预测",
        "维护",
        "边缘",
    )


def test_tags_drop_empties_and_repeats_keeping_first_order() -> None:
    assert split_tags(" ;；a、、b,a，") == ("a", "b")
    assert split_tags("") == ()


@given(st.lists(st.text(alphabet="abc视觉 ;；、,，", max_size=8), max_size=6))
def test_split_tags_never_yields_separators_or_blanks(parts: list[str]) -> None:
    tags = split_tags("；".join(parts))
    assert all(tag and tag == tag.strip() for tag in tags)
    assert not any(sep in tag for tag in tags for sep in ";；、,，")
    assert split_tags("、".join(tags)) == tags


def test_the_vocabulary_has_at_least_twelve_industries_with_english_names_and_other() -> None:
    names = [industry.name for industry in INDUSTRIES]
    assert len(names) - 1 >= 12
    assert INDUSTRY_OTHER in names
    assert all(industry.name_en for industry in INDUSTRIES)
    assert industry_english("金融") == "finance"


@pytest.mark.parametrize(
    ("label", "expected"),
    [("智能制造", "智能制造"), ("制造业", "智能制造"), ("Finance", "金融"), (" 文旅 ", "文化旅游")],
)
def test_known_industry_labels_resolve_to_the_canonical_name(label: str, expected: str) -> None:
    assert resolve_industry(label) == (expected, True)


@pytest.mark.parametrize(("label", "kept"), [("火星采矿", "火星采矿"), (" 养老 ", "养老")])
def test_labels_outside_the_platform_vocabulary_are_kept_as_written(label: str, kept: str) -> None:
    assert resolve_industry(label) == (kept, False)


@pytest.mark.parametrize("label", ["", "  "])
def test_an_empty_industry_is_recorded_as_other(label: str) -> None:
    assert resolve_industry(label) == (INDUSTRY_OTHER, False)


def test_an_opportunity_with_an_empty_title_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        Opportunity(id="O1", title="  ", industry="金融")
    assert caught.value.field == "title"


@pytest.mark.parametrize("bad_id", ["", "O 1", "O\t1", "x" * 65])
def test_ids_must_be_short_and_free_of_spaces(bad_id: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Opportunity(id=bad_id, title="需求")
    assert caught.value.field == "id"


@pytest.mark.parametrize(
    "bad_id", ["a/b", "../../etc", "..", ".x", "-x", "_x", "a?b", "a#b", "a%2F", "a\\b", "a:b"]
)
def test_ids_hold_only_what_a_url_path_carries_as_one_segment(bad_id: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Capability(id=bad_id, title="能力")
    assert caught.value.field == "id"


@pytest.mark.parametrize("good_id", ["OPP-001", "CAP_1.2", "成都-2024.001", "9", "x" * 64])
def test_ids_of_letters_digits_dash_underscore_and_dot_are_valid(good_id: str) -> None:
    assert Opportunity(id=good_id, title="需求").id == good_id


def test_a_capability_names_each_deployment_mode_once() -> None:
    cloud = DeploymentMode.CLOUD
    with pytest.raises(InvalidInput) as caught:
        Capability(id="C1", title="能力", deployment_modes=(cloud, DeploymentMode.EDGE, cloud))
    assert caught.value.field == "deployment_modes"
    assert parse_deployment_modes("cloud；公有云；edge") == (cloud, DeploymentMode.EDGE)


def test_items_accept_only_canonical_industries() -> None:
    with pytest.raises(InvalidInput) as caught:
        Capability(id="C1", title="能力", industry="制造业")
    assert caught.value.field == "industry"


def test_a_budget_is_whole_non_negative_fen() -> None:
    assert Opportunity(id="O1", title="需求", budget_fen=0).budget_fen == 0
    with pytest.raises(InvalidInput):
        Opportunity(id="O1", title="需求", budget_fen=-1)


def test_tag_and_accelerator_lists_are_bounded() -> None:
    with pytest.raises(InvalidInput) as caught:
        Opportunity(id="O1", title="需求", tags=tuple(f"t{i}" for i in range(33)))
    assert caught.value.field == "tags"
    with pytest.raises(InvalidInput) as caught:
        Capability(id="C1", title="能力", accelerators=("",))
    assert caught.value.field == "accelerators"


def test_items_are_immutable_values() -> None:
    item = Opportunity(id="O1", title="需求", deadline=date(2026, 1, 1))
    with pytest.raises(AttributeError):
        item.title = "别的"  # type: ignore[misc]


def test_status_maturity_and_deployment_accept_english_values_and_chinese_labels() -> None:
    assert parse_status("已匹配") is ItemStatus.MATCHED
    assert parse_status("open") is ItemStatus.OPEN
    assert parse_maturity("试点应用") is Maturity.PILOT
    assert parse_deployment_modes("私有化部署；edge") == (
        DeploymentMode.ON_PREMISE,
        DeploymentMode.EDGE,
    )
    with pytest.raises(InvalidInput) as caught:
        parse_maturity("量产")
    assert caught.value.field == "maturity"


def test_the_pipeline_moves_forward_one_stage_at_a_time() -> None:
    for current, following in pairwise(FORWARD):
        assert require_pipeline_transition(current, following) is following


def _expected_legal(current: PipelineStage, target: PipelineStage) -> bool:
    if current in (PipelineStage.DELIVERED, PipelineStage.CLOSED):
        return False
    if target is PipelineStage.CLOSED:
        return True
    return target in FORWARD and FORWARD.index(target) == FORWARD.index(current) + 1


@pytest.mark.parametrize("current", list(PipelineStage))
@pytest.mark.parametrize("target", list(PipelineStage))
def test_only_the_next_stage_or_closing_is_legal(
    current: PipelineStage, target: PipelineStage
) -> None:
    legal = _expected_legal(current, target)
    assert (target in PIPELINE_TRANSITIONS[current]) is legal
    if legal:
        assert require_pipeline_transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition):
            require_pipeline_transition(current, target)


def test_a_pairing_records_who_moved_it_and_when() -> None:
    pairing = Pairing("O1", "C1").move(PipelineStage.INTERESTED, actor_id="u-ent", at=NOON)
    pairing = pairing.move(PipelineStage.NEGOTIATING, actor_id="u-gov", at=NOON + timedelta(days=2))
    assert pairing.stage is PipelineStage.NEGOTIATING
    assert [(c.from_stage, c.to_stage, c.actor_id) for c in pairing.history] == [
        (PipelineStage.RECOMMENDED, PipelineStage.INTERESTED, "u-ent"),
        (PipelineStage.INTERESTED, PipelineStage.NEGOTIATING, "u-gov"),
    ]


def test_a_pairing_refuses_skipping_stages_naive_times_and_time_travel() -> None:
    pairing = Pairing("O1", "C1")
    with pytest.raises(InvalidTransition):
        pairing.move(PipelineStage.SIGNED, actor_id="u", at=NOON)
    with pytest.raises(InvalidInput):
        pairing.move(PipelineStage.INTERESTED, actor_id="u", at=datetime(2026, 3, 1))
    moved = pairing.move(PipelineStage.INTERESTED, actor_id="u", at=NOON)
    with pytest.raises(InvalidInput):
        moved.move(PipelineStage.NEGOTIATING, actor_id="u", at=NOON - timedelta(seconds=1))


def test_contacts_are_revealed_only_after_both_sides_consent() -> None:
    pairing = Pairing("O1", "C1").consent(PairingSide.OPPORTUNITY)
    assert not pairing.contacts_revealed
    assert pairing.consent(PairingSide.CAPABILITY).contacts_revealed


def _challenge(**overrides: object) -> Challenge:
    fields: dict[str, object] = {
        "id": "CH1",
        "opportunity_id": "O1",
        "goal": "三个月内把漏检率降到 0.5% 以下",
        "reward_fen": 50_000_000,
        "deadline": date(2026, 6, 30),
        "criteria": (Criterion("技术方案", 60), Criterion("落地经验", 40)),
    }
    fields.update(overrides)
    return Challenge(**fields)  # type: ignore[arg-type]


def test_a_challenge_goes_from_draft_through_review_to_award() -> None:
    challenge = _challenge()
    for state in (ChallengeState.OPEN, ChallengeState.REVIEWING, ChallengeState.AWARDED):
        challenge = challenge.moved_to(state)
    assert challenge.state is ChallengeState.AWARDED
    assert CHALLENGE_TRANSITIONS[ChallengeState.AWARDED] == frozenset()


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (ChallengeState.DRAFT, ChallengeState.AWARDED),
        (ChallengeState.OPEN, ChallengeState.DRAFT),
        (ChallengeState.AWARDED, ChallengeState.CANCELLED),
        (ChallengeState.CANCELLED, ChallengeState.OPEN),
    ],
)
def test_illegal_challenge_moves_are_refused(
    current: ChallengeState, target: ChallengeState
) -> None:
    with pytest.raises(InvalidTransition):
        require_challenge_transition(current, target)


def test_a_challenge_needs_a_positive_reward_and_weights_summing_to_100() -> None:
    with pytest.raises(InvalidInput) as caught:
        _challenge(reward_fen=0)
    assert caught.value.field == "reward_fen"
    with pytest.raises(InvalidInput) as caught:
        _challenge(criteria=(Criterion("方案", 50), Criterion("经验", 40)))
    assert caught.value.field == "criteria"
