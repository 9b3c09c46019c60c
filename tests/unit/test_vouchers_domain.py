"""The voucher rules, pure: cases built from published programs (Hangzhou, Shanghai, Shenzhen,
Beijing), the redemption math (min of ratio × amount, per-order cap, grant remaining, combined
cap), stacking, refusals as data, and the hold that must cover any settlement."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.domain.vouchers import (
    BEIJING,
    RATIO_BP_MAX,
    Category,
    EnterpriseFacts,
    GrantState,
    InvalidProgram,
    Limit,
    NotEligible,
    Order,
    Program,
    ProgramClosed,
    ProviderScope,
    RatioTier,
    Refusal,
    Rules,
    StackingConflict,
    eligibility_refusals,
    parse_ratio,
    percent_text,
    plan_hold,
    ratio_text,
    redeem,
    require_eligible,
    require_no_stacking_conflict,
    require_quota,
    settlement_split,
    share_of,
    within_region,
)
from suanli.errors import InvalidInput

YUAN = 100  # fen
START = datetime(2025, 1, 1, tzinfo=BEIJING)
ORDER_AT = datetime(2025, 6, 1, 10, tzinfo=BEIJING)
SME = EnterpriseFacts(is_sme=True, region="浙江/杭州/余杭", founded_on=date(2021, 3, 1))
LARGE = EnterpriseFacts(is_sme=False, region="浙江/杭州/滨江", founded_on=date(2001, 1, 1))


def program(
    rules: Rules,
    *,
    id: str = "p-city",
    name: str = "city",
    category: Category = Category.COMPUTE,
    budget_fen: int = 10**9 * YUAN,
    valid_from: datetime = START,
    valid_until: datetime = START + timedelta(days=365),
) -> Program:
    return Program(id, "agency", name, category, budget_fen, valid_from, valid_until, rules)


def order(amount_fen: int, **changes: object) -> Order:
    base = Order(
        enterprise_id="ent",
        provider_id="prov",
        provider_region="浙江/杭州/余杭",
        category=Category.COMPUTE,
        amount_fen=amount_fen,
        domestic=True,
        at=ORDER_AT,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def grant(
    of: Program, facts: EnterpriseFacts = LARGE, remaining_fen: int = 10**9 * YUAN
) -> GrantState:
    return GrantState(of, f"g-{of.id}", facts, remaining_fen)


def paid(redemption_order: Order, *grants: GrantState) -> list[int]:
    return [line.subsidy_fen for line in redeem(redemption_order, grants).lines]


# ---------------------------------------------------------------------------------------------
# Hangzhou: 30%; non-domestic 20%; SMEs within 500,000 yuan a year 50%; 8,000,000 yuan per
# enterprise per year; a district voucher stacks on the city's up to 60% combined.
# Modelled: the non-domestic tier comes first, so it caps an SME's non-domestic purchase too.

HANGZHOU = Rules(
    base_ratio_bp=3_000,
    tiers=(
        RatioTier(2_000, "non-domestic", domestic=False),
        RatioTier(5_000, "SME", sme=True, yearly_spend_max_fen=500_000 * YUAN),
    ),
    cap_per_enterprise_fen=8_000_000 * YUAN,
    max_combined_ratio_bp=6_000,
)
HANGZHOU_CITY = program(HANGZHOU)


def test_hangzhou_pays_30_percent_of_a_domestic_contract() -> None:
    assert paid(order(1_000_000 * YUAN), grant(HANGZHOU_CITY)) == [300_000 * YUAN]


def test_hangzhou_pays_20_percent_on_non_domestic_compute_even_to_an_sme() -> None:
    assert paid(order(100_000 * YUAN, domestic=False), grant(HANGZHOU_CITY)) == [20_000 * YUAN]
    assert paid(order(100_000 * YUAN, domestic=False), grant(HANGZHOU_CITY, SME)) == [20_000 * YUAN]


def test_hangzhou_pays_an_sme_50_percent_while_its_year_stays_within_500000_yuan() -> None:
    within = order(200_000 * YUAN, yearly_spend_fen=300_000 * YUAN)  # exactly 500,000 in all
    assert paid(within, grant(HANGZHOU_CITY, SME)) == [100_000 * YUAN]
    beyond = order(200_000 * YUAN, yearly_spend_fen=300_000 * YUAN + 1)
    (line,) = redeem(beyond, [grant(HANGZHOU_CITY, SME)]).lines
    assert (line.subsidy_fen, line.tier) == (60_000 * YUAN, "base")


def test_hangzhou_caps_an_enterprise_at_8_million_yuan_a_year() -> None:
    require_quota(HANGZHOU_CITY, 8_000_000 * YUAN)
    with pytest.raises(InvalidProgram) as refused:
        require_quota(HANGZHOU_CITY, 8_000_000 * YUAN + 1)
    assert refused.value.field == "quota_fen"
    big = order(30_000_000 * YUAN)  # 30% would be 9,000,000 yuan
    (line,) = redeem(big, [grant(HANGZHOU_CITY, remaining_fen=8_000_000 * YUAN)]).lines
    assert (line.subsidy_fen, line.limit) == (8_000_000 * YUAN, Limit.GRANT_REMAINING)


def hangzhou_district(ratio_bp: int = 3_000) -> Program:
    rules = Rules(
        base_ratio_bp=ratio_bp,
        cap_per_enterprise_fen=1_000_000 * YUAN,
        max_combined_ratio_bp=6_000,
        stack_order=1,
        provider_scope=ProviderScope.REGION,
        provider_regions=("浙江/杭州/余杭",),
    )
    return program(rules, id="p-district", name="余杭区", budget_fen=50_000_000 * YUAN)


def test_a_district_voucher_stacks_on_the_citys_up_to_60_percent_combined() -> None:
    city, district = grant(HANGZHOU_CITY), grant(hangzhou_district())
    assert paid(order(10_000 * YUAN), district, city) == [3_000 * YUAN, 3_000 * YUAN]
    sme_city, sme_district = grant(HANGZHOU_CITY, SME), grant(hangzhou_district(), SME)
    redemption = redeem(order(10_000 * YUAN), [sme_district, sme_city])
    assert [line.program_id for line in redemption.lines] == ["p-city", "p-district"]
    assert [line.subsidy_fen for line in redemption.lines] == [5_000 * YUAN, 1_000 * YUAN]
    assert redemption.lines[1].limit is Limit.COMBINED_RATIO
    assert redemption.subsidy_fen == share_of(10_000 * YUAN, 6_000)


def test_a_district_voucher_needs_a_provider_in_its_district() -> None:
    elsewhere = order(10_000 * YUAN, provider_region="浙江/杭州/滨江")
    redemption = redeem(elsewhere, [grant(HANGZHOU_CITY), grant(hangzhou_district())])
    assert redemption.lines[1].refusal is Refusal.PROVIDER_NOT_ELIGIBLE
    assert redemption.subsidy_fen == 3_000 * YUAN


def test_when_the_combined_cap_is_reached_the_next_voucher_is_refused_with_that_reason() -> None:
    generous = replace(HANGZHOU_CITY, rules=replace(HANGZHOU, base_ratio_bp=6_000))
    redemption = redeem(order(10_000 * YUAN), [grant(generous), grant(hangzhou_district())])
    assert redemption.lines[1].refusal is Refusal.COMBINED_RATIO_REACHED


# ---------------------------------------------------------------------------------------------
# Shanghai: compute, model and corpus vouchers with budgets of 600M, 300M and 100M yuan and
# ratios of 30%, 50% and 30%; model and corpus capped at 5,000,000 yuan; corpus from a
# non-related party only (invariant 12 applies that to every purchase).


def shanghai(category: Category, budget_yuan: int, ratio_bp: int, cap_yuan: int) -> Program:
    rules = Rules(base_ratio_bp=ratio_bp, cap_per_enterprise_fen=cap_yuan * YUAN)
    return program(
        rules,
        id=f"sh-{category.value}",
        name=f"上海{category.value}券",
        category=category,
        budget_fen=budget_yuan * YUAN,
    )


SH_COMPUTE = shanghai(Category.COMPUTE, 600_000_000, 3_000, 600_000_000)
SH_MODEL = shanghai(Category.MODEL, 300_000_000, 5_000, 5_000_000)
SH_CORPUS = shanghai(Category.CORPUS, 100_000_000, 3_000, 5_000_000)
SH_ALL = [grant(SH_COMPUTE), grant(SH_MODEL), grant(SH_CORPUS)]


def test_shanghai_pays_each_purchase_from_the_voucher_of_its_kind() -> None:
    for category, expected in (
        (Category.COMPUTE, [3_000, 0, 0]),
        (Category.MODEL, [0, 5_000, 0]),
        (Category.CORPUS, [0, 0, 3_000]),
    ):
        redemption = redeem(order(10_000 * YUAN, category=category), SH_ALL)
        by_program = {line.program_id: line.subsidy_fen for line in redemption.lines}
        assert [by_program[g.program.id] for g in SH_ALL] == [e * YUAN for e in expected]
        refusals = {line.refusal for line in redemption.lines if not line.subsidy_fen}
        assert refusals == {Refusal.CATEGORY_NOT_COVERED}


def test_shanghai_model_and_corpus_vouchers_are_capped_at_5_million_yuan() -> None:
    for capped in (SH_MODEL, SH_CORPUS):
        with pytest.raises(InvalidProgram):
            require_quota(capped, 5_000_000 * YUAN + 1)
    model_order = order(20_000_000 * YUAN, category=Category.MODEL)
    remaining = 5_000_000 * YUAN
    assert paid(model_order, grant(SH_MODEL, remaining_fen=remaining)) == [remaining]


def test_shanghai_corpus_bought_from_a_related_party_gets_nothing() -> None:
    corpus = order(10_000 * YUAN, category=Category.CORPUS, related=True)
    (line,) = redeem(corpus, [grant(SH_CORPUS)]).lines
    assert (line.subsidy_fen, line.refusal) == (0, Refusal.RELATED_PARTY)
    assert "related parties" in line.note.en and "关联方" in line.note.zh


def test_a_smart_voucher_covers_compute_model_and_corpus() -> None:
    smart = replace(SH_COMPUTE, id="smart", category=Category.SMART)
    for category in (Category.COMPUTE, Category.MODEL, Category.CORPUS):
        assert paid(order(1_000, category=category), grant(smart)) == [300]


def test_a_cap_above_the_budget_is_refused() -> None:
    with pytest.raises(InvalidProgram) as refused:
        shanghai(Category.MODEL, 1_000_000, 5_000, 5_000_000)
    assert refused.value.field == "cap_per_enterprise_fen"


# ---------------------------------------------------------------------------------------------
# Shenzhen: training vouchers up to 50%, 60% for startups, capped at 10,000,000 yuan.
# Modelled: a startup is an enterprise founded fewer than 3 years before the order.

SHENZHEN = program(
    Rules(
        base_ratio_bp=5_000,
        tiers=(RatioTier(6_000, "startup", startup_age_max_years=3),),
        cap_per_enterprise_fen=10_000_000 * YUAN,
    ),
    id="sz",
)


@pytest.mark.parametrize(
    ("founded_on", "expected_bp"),
    [
        (date(2023, 6, 2), 6_000),  # two years and a day short of three
        (date(2022, 6, 2), 6_000),  # the day before its third birthday
        (date(2022, 6, 1), 5_000),  # three years old on the order's day
        (date(2015, 1, 1), 5_000),
    ],
)
def test_shenzhen_pays_startups_60_percent_and_others_50(
    founded_on: date, expected_bp: int
) -> None:
    facts = EnterpriseFacts(is_sme=True, region="广东/深圳", founded_on=founded_on)
    (line,) = redeem(order(10_000 * YUAN), [grant(SHENZHEN, facts)]).lines
    assert line.ratio_bp == expected_bp


def test_shenzhen_caps_at_10_million_yuan() -> None:
    require_quota(SHENZHEN, 10_000_000 * YUAN)
    with pytest.raises(InvalidProgram):
        require_quota(SHENZHEN, 10_000_000 * YUAN + 1)


# ---------------------------------------------------------------------------------------------
# Beijing: one claim per contract, no other subsidy on the same contract, no bad-credit record
# in the past three years.

BEIJING_RULES = Rules(
    base_ratio_bp=3_000,
    cap_per_enterprise_fen=1_000_000 * YUAN,
    stacking_allowed=False,
    bad_credit_lookback_years=3,
)
BEIJING_PROGRAM = program(BEIJING_RULES, id="bj", name="北京算力券")


def test_beijing_refuses_a_second_claim_on_the_same_contract() -> None:
    claimed = replace(grant(BEIJING_PROGRAM), already_claimed=True)
    (line,) = redeem(order(1_000), [claimed]).lines
    assert line.refusal is Refusal.ALREADY_CLAIMED


def test_beijing_allows_no_other_subsidy_on_the_same_contract_whichever_comes_first() -> None:
    other_rules = replace(HANGZHOU, max_combined_ratio_bp=RATIO_BP_MAX, stack_order=1)
    other = program(other_rules, id="other")
    first = redeem(order(1_000), [grant(other), grant(BEIJING_PROGRAM)])
    assert [(line.program_id, line.subsidy_fen) for line in first.lines] == [
        ("bj", 300),
        ("other", 0),
    ]
    assert first.lines[1].refusal is Refusal.STACKING_DISALLOWED
    beijing_later = replace(BEIJING_PROGRAM, rules=replace(BEIJING_RULES, stack_order=2))
    second = redeem(order(1_000), [grant(other), grant(beijing_later)])
    assert [(line.program_id, line.subsidy_fen) for line in second.lines] == [
        ("other", 300),
        ("bj", 0),
    ]
    assert second.lines[1].refusal is Refusal.STACKING_DISALLOWED


def test_beijing_refuses_an_enterprise_with_bad_credit_in_the_past_three_years() -> None:
    on = ORDER_AT.date()
    recent = replace(LARGE, bad_credit_on=date(2022, 6, 2))  # 3 years less a day
    old = replace(LARGE, bad_credit_on=date(2022, 6, 1))
    assert eligibility_refusals(BEIJING_RULES, "ent", recent, on) == [Refusal.BAD_CREDIT]
    assert eligibility_refusals(BEIJING_RULES, "ent", old, on) == []
    (line,) = redeem(order(1_000), [grant(BEIJING_PROGRAM, recent)]).lines
    assert line.refusal is Refusal.BAD_CREDIT


def test_overlapping_programs_are_refused_where_stacking_is_disallowed() -> None:
    overlapping = program(HANGZHOU, id="hz", valid_from=START + timedelta(days=100))
    with pytest.raises(StackingConflict) as refused:
        require_no_stacking_conflict(overlapping, [BEIJING_PROGRAM])
    assert refused.value.details["program_id"] == "bj"
    next_year = program(
        HANGZHOU,
        id="hz2",
        valid_from=START + timedelta(days=365),
        valid_until=START + timedelta(days=730),
    )
    corpus = replace(overlapping, category=Category.CORPUS)
    smart = replace(overlapping, category=Category.SMART)
    require_no_stacking_conflict(next_year, [BEIJING_PROGRAM])  # [from, until): touching is fine
    require_no_stacking_conflict(corpus, [BEIJING_PROGRAM])  # other purchases
    with pytest.raises(StackingConflict):
        require_no_stacking_conflict(smart, [BEIJING_PROGRAM])  # a 智能券 covers compute too
    require_no_stacking_conflict(overlapping, [HANGZHOU_CITY])  # both stack: fine


# ---------------------------------------------------------------------------------------------
# Eligibility, validity, limits, refusals


def test_an_application_names_every_reason_it_is_refused() -> None:
    strict = program(
        replace(HANGZHOU, sme_only=True, enterprise_regions=("浙江/杭州",), blacklist=("ent",))
    )
    outsider = EnterpriseFacts(is_sme=False, region="上海/浦东", founded_on=date(2020, 1, 1))
    with pytest.raises(NotEligible) as refused:
        require_eligible(strict, "ent", outsider, ORDER_AT)
    assert refused.value.details["reasons"] == ["enterprise_region", "not_sme", "blacklisted"]
    require_eligible(strict, "other", SME, ORDER_AT)


def test_an_application_to_an_ended_program_is_refused() -> None:
    with pytest.raises(ProgramClosed):
        require_eligible(HANGZHOU_CITY, "ent", SME, START + timedelta(days=365))


def test_regions_match_whole_parts_only() -> None:
    assert within_region("浙江/杭州/余杭", ["浙江/杭州"])
    assert within_region("浙江/杭州", ["浙江"])
    assert not within_region("浙江/杭州", ["浙江/杭"])
    assert not within_region("浙江", ["浙江/杭州"])


def test_an_order_outside_the_validity_period_gets_nothing() -> None:
    for moment in (START - timedelta(seconds=1), START + timedelta(days=365)):
        (line,) = redeem(order(1_000, at=moment), [grant(HANGZHOU_CITY)]).lines
        assert line.refusal is Refusal.OUTSIDE_VALIDITY
    (line,) = redeem(order(1_000, at=START), [grant(HANGZHOU_CITY)]).lines
    assert line.subsidy_fen == 300


def test_a_provider_list_pays_only_listed_providers() -> None:
    listed = program(replace(HANGZHOU, provider_scope=ProviderScope.LIST, provider_ids=("p1",)))
    assert paid(order(1_000, provider_id="p1"), grant(listed)) == [300]
    (line,) = redeem(order(1_000, provider_id="p2"), [grant(listed)]).lines
    assert line.refusal is Refusal.PROVIDER_NOT_ELIGIBLE


def test_a_blacklisting_after_approval_still_refuses_at_the_order() -> None:
    listed = program(replace(HANGZHOU, blacklist=("ent",)))
    (line,) = redeem(order(1_000), [grant(listed)]).lines
    assert line.refusal is Refusal.BLACKLISTED


def test_the_subsidy_is_the_smallest_of_ratio_order_cap_grant_and_combined_room() -> None:
    capped = program(replace(HANGZHOU, cap_per_order_fen=250))
    (line,) = redeem(order(1_000), [grant(capped)]).lines
    assert (line.wanted_fen, line.subsidy_fen, line.limit) == (300, 250, Limit.ORDER_CAP)
    (line,) = redeem(order(1_000), [grant(capped, remaining_fen=100)]).lines
    assert (line.subsidy_fen, line.limit) == (100, Limit.GRANT_REMAINING)
    (line,) = redeem(order(1_000), [grant(capped, remaining_fen=0)]).lines
    assert (line.subsidy_fen, line.refusal) == (0, Refusal.GRANT_EXHAUSTED)


def test_shares_round_down_to_the_fen() -> None:
    assert share_of(333, 3_000) == 99  # 99.9 fen: the budget never pays past its ratio
    assert share_of(10**15, RATIO_BP_MAX) == 10**15
    assert paid(order(333), grant(HANGZHOU_CITY)) == [99]


def test_nothing_to_pay_and_a_zero_ratio_are_reasons_too() -> None:
    assert redeem(order(0), [grant(HANGZHOU_CITY)]).lines[0].refusal is Refusal.NOTHING_TO_PAY
    free = program(replace(HANGZHOU, base_ratio_bp=0, tiers=()))
    assert redeem(order(1_000), [grant(free)]).lines[0].refusal is Refusal.ZERO_RATIO


def test_a_zero_subsidy_names_its_real_reason_not_the_first_zero_term() -> None:
    half = program(replace(HANGZHOU, base_ratio_bp=5_000, tiers=()))
    (line,) = redeem(order(1), [grant(half)]).lines  # 50% of 1 fen rounds down to 0
    assert (line.subsidy_fen, line.refusal, line.limit) == (0, Refusal.BELOW_ONE_FEN, Limit.RATIO)
    assert "1 分" in line.note.zh and "less than 1 fen" in line.note.en
    (line,) = redeem(order(1), [grant(half, remaining_fen=0)]).lines  # used up, and 0 wanted
    assert (line.refusal, line.limit) == (Refusal.GRANT_EXHAUSTED, Limit.GRANT_REMAINING)
    assert "额度已用完" in line.note.zh and "zero" not in line.note.en
    free = program(replace(HANGZHOU, base_ratio_bp=0, tiers=()))
    (line,) = redeem(order(1), [grant(free, remaining_fen=0)]).lines
    assert line.refusal is Refusal.ZERO_RATIO  # a zero ratio is the reason, whatever else


def test_a_stacked_grant_past_the_combined_cap_says_so_even_on_a_tiny_order() -> None:
    city = program(replace(HANGZHOU, base_ratio_bp=6_000, tiers=()))
    district = program(replace(HANGZHOU, base_ratio_bp=1_000, tiers=(), stack_order=1), id="d")
    lines = redeem(order(3), [grant(city), grant(district)]).lines  # 60% of 3 = 1: room 0
    assert [(x.subsidy_fen, x.refusal) for x in lines] == [
        (1, None),
        (0, Refusal.COMBINED_RATIO_REACHED),
    ]
    roomy = program(replace(HANGZHOU, base_ratio_bp=1_000, tiers=(), max_combined_ratio_bp=10_000))
    wide = program(replace(HANGZHOU, base_ratio_bp=5_000, tiers=(), max_combined_ratio_bp=10_000))
    later = program(replace(roomy.rules, stack_order=1), id="later")
    lines = redeem(order(3), [grant(wide), grant(later)]).lines  # 10% of 3 fen: below 1 fen
    assert [(x.subsidy_fen, x.refusal) for x in lines] == [(1, None), (0, Refusal.BELOW_ONE_FEN)]


def test_every_refusal_has_a_bilingual_message() -> None:
    for refusal in Refusal:
        assert refusal.message and any(ord(c) > 0x4E00 for c in refusal.message)


def test_at_most_eight_grants_are_considered_for_one_order() -> None:
    with pytest.raises(InvalidInput):
        redeem(order(1_000), [grant(program(HANGZHOU, id=f"p{n}")) for n in range(9)])


# ---------------------------------------------------------------------------------------------
# Ratios and program validation


@pytest.mark.parametrize(
    ("text", "bp"), [("0.3", 3_000), ("1", 10_000), ("0", 0), ("0.1234", 1_234), ("0.50", 5_000)]
)
def test_a_ratio_is_exact_in_basis_points(text: str, bp: int) -> None:
    assert parse_ratio(text, "ratio") == bp
    assert parse_ratio(Decimal(text), "ratio") == bp


@pytest.mark.parametrize("text", ["1.5", "-0.1", "0.12345", "abc", "NaN", "Infinity", ""])
def test_a_ratio_outside_0_to_1_or_finer_than_a_basis_point_is_refused(text: str) -> None:
    with pytest.raises(InvalidProgram) as refused:
        parse_ratio(text, "base_ratio")
    assert refused.value.field == "base_ratio"


def test_ratios_print_exactly() -> None:
    assert [ratio_text(bp) for bp in (3_000, 1_250, 10_000, 0)] == ["0.3", "0.125", "1", "0"]
    assert [percent_text(bp) for bp in (3_000, 1_250, 1)] == ["30%", "12.5%", "0.01%"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"valid_until": START}, "valid_until"),
        ({"valid_until": START + timedelta(days=367)}, "valid_until"),
        ({"valid_from": datetime(2025, 1, 1)}, "valid_from"),
        ({"budget_fen": 0}, "budget_fen"),
        ({"name": " "}, "name"),
    ],
)
def test_a_program_validates_itself(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidProgram) as refused:
        replace(HANGZHOU_CITY, **changes)  # type: ignore[arg-type]
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"base_ratio_bp": 10_001}, "base_ratio"),
        ({"max_combined_ratio_bp": -1}, "max_combined_ratio"),
        ({"cap_per_enterprise_fen": 0}, "cap_per_enterprise_fen"),
        ({"provider_scope": ProviderScope.LIST}, "provider_ids"),
        ({"provider_scope": ProviderScope.REGION}, "provider_regions"),
        ({"bad_credit_lookback_years": 0}, "bad_credit_lookback_years"),
        ({"tiers": (RatioTier(1_000),) * 17}, "tiers"),
    ],
)
def test_rules_validate_themselves(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidProgram) as refused:
        replace(HANGZHOU, **changes)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_a_per_order_cap_above_the_per_enterprise_cap_is_refused() -> None:
    with pytest.raises(InvalidProgram) as refused:
        program(replace(HANGZHOU, cap_per_order_fen=HANGZHOU.cap_per_enterprise_fen + 1))
    assert refused.value.field == "cap_per_order_fen"


def test_rules_survive_storage_as_json() -> None:
    stored = replace(BEIJING_RULES, blacklist=("a",), tiers=HANGZHOU.tiers).to_dict()
    assert Rules.from_dict(stored) == replace(BEIJING_RULES, blacklist=("a",), tiers=HANGZHOU.tiers)
    assert stored["tiers"][0]["ratio_bp"] == 2_000  # basis points, never a float


# ---------------------------------------------------------------------------------------------
# Holds and settlement


def test_the_hold_counts_the_expected_subsidy_in_the_worst_case_over_pools() -> None:
    domestic, imported = order(1_000), order(1_200, domestic=False)
    plan = plan_hold([domestic, imported], [grant(HANGZHOU_CITY)])
    assert plan.wallet_fen == max(1_000 - 300, 1_200 - 240)
    assert plan.grant_fen == {"g-p-city": 300}


def test_an_sme_with_a_voucher_needs_half_the_balance() -> None:
    plan = plan_hold([order(10_000)], [grant(HANGZHOU_CITY, SME)])
    assert (plan.wallet_fen, plan.grant_fen["g-p-city"]) == (5_000, 5_000)


def test_the_enterprise_never_pays_beyond_its_hold_at_settlement() -> None:
    redemption = redeem(order(1_000), [grant(HANGZHOU_CITY)])
    assert settlement_split(1_000, redemption, 700).enterprise_fen == 700
    cut = settlement_split(1_000, redemption, 600)  # a price rose after submit
    assert (cut.charge_fen, cut.enterprise_fen, cut.grant_fen) == (900, 600, {"g-p-city": 300})


orders = st.builds(
    lambda amount, domestic, spend: order(amount, domestic=domestic, yearly_spend_fen=spend),
    st.integers(1, 10**10),
    st.booleans(),
    st.integers(0, 10**8),
)
ratios = st.integers(0, RATIO_BP_MAX)


@st.composite
def stacked_grants(draw: st.DrawFn) -> list[GrantState]:
    grants = []
    for n in range(draw(st.integers(1, 3))):
        rules = Rules(
            base_ratio_bp=draw(ratios),
            tiers=(RatioTier(draw(ratios), sme=True), RatioTier(draw(ratios), domestic=False)),
            cap_per_enterprise_fen=10**11,
            cap_per_order_fen=draw(st.none() | st.integers(1, 10**10)),
            stacking_allowed=draw(st.booleans()),
            max_combined_ratio_bp=draw(ratios),
            stack_order=draw(st.integers(0, 3)),
        )
        facts = draw(st.sampled_from([SME, LARGE]))
        grants.append(
            GrantState(program(rules, id=f"p{n}"), f"g{n}", facts, draw(st.integers(0, 10**10)))
        )
    return grants


@settings(max_examples=300, deadline=None)
@given(orders, stacked_grants(), st.integers(0, 100))
def test_whatever_the_rules_the_holds_cover_any_smaller_settlement(
    worst: Order, grants: list[GrantState], used_percent: int
) -> None:
    plan = plan_hold([worst], grants)
    actual = replace(worst, amount_fen=worst.amount_fen * used_percent // 100)
    reserved = [replace(g, remaining_fen=plan.grant_fen[g.grant_id]) for g in grants]
    redemption = redeem(actual, reserved)
    split = settlement_split(actual.amount_fen, redemption, plan.wallet_fen)
    assert 0 <= redemption.subsidy_fen <= actual.amount_fen
    assert split.charge_fen == actual.amount_fen  # the holds covered it: nothing cut
    for line in redemption.lines:
        assert 0 <= line.subsidy_fen <= plan.grant_fen[line.grant_id]
    paid_by = {line.program_id for line in redemption.lines if line.subsidy_fen}
    paying = [g.program for g in grants if g.program.id in paid_by]
    for one in paying:  # every paying program's combined cap holds for the whole stack
        assert redemption.subsidy_fen <= share_of(
            actual.amount_fen, one.rules.max_combined_ratio_bp
        )
    if any(not one.rules.stacking_allowed for one in paying):
        assert len(paying) == 1
