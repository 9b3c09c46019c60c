"""Compute vouchers (算力券 / 智能券): programs whose subsidy rules are data, and the pure math that
decides, per order, which grant pays how much, or why it pays nothing.

Pure code: no database, no clock; times and facts come in as arguments. Money is integer fen and
a ratio is integer basis points (1 bp = 0.01%); a share of an amount is rounded DOWN to the fen,
so a program never pays a fraction of a fen beyond its ratio.

A grant is program budget set aside for one enterprise when the agency approves it (a ledger
transfer budget -> grant, refused by the budget account's no-overdraft flag when the budget is
short). So "what remains of the program budget" binds at approval, and at an order the grant's
remaining balance is at once what remains of the grant and of the budget behind it.

    errors (from suanli.errors)
    ├── InvalidProgram(InvalidInput)       422: a rule or figure out of range; names the field
    ├── NotEligible(InvalidInput)          422: an application the program's rules refuse
    ├── ProgramClosed(Conflict)            409: applying to or approving in an ended program
    ├── StackingConflict(Conflict)         409: overlapping validity where stacking is disallowed
    └── BudgetShort(LedgerError)           422: an approval beyond the unallocated budget
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from suanli.domain.calendar import BEIJING, beijing_date, shown
from suanli.domain.money import FEN_MAX
from suanli.domain.text import is_blank
from suanli.errors import Conflict, InvalidInput, LedgerError
from suanli.i18n import Msg, msg

RATIO_BP_MAX = 10_000  # 100%
RATIO_DECIMALS_MAX = 4  # a ratio is exact in basis points: 0.1234 at most
VALIDITY_DAYS_MAX = 366  # programs are annual: "per enterprise per year" is per program
TIERS_MAX = 16
SCOPE_ITEMS_MAX = 1_000  # providers, regions, blacklist entries per program
STACKED_PROGRAMS_MAX = 8  # grants considered for one order; a batch carries two transfers each
NAME_LENGTH_MAX = 200
REGION_LENGTH_MAX = 200
LOOKBACK_YEARS_MAX = 20
STARTUP_YEARS_MAX = 50
# ages and look-backs count Beijing calendar days


# ---------------------------------------------------------------------------------------------
# Errors


class InvalidProgram(InvalidInput):
    """A program figure or rule out of range; `field` names what to fix."""

    code = "invalid_program"


class NotEligible(InvalidInput):
    """The program's rules refuse this enterprise; `details['reasons']` lists every reason."""

    code = "not_eligible"


class ProgramClosed(Conflict):
    """The program's validity period has ended (or not begun, for approvals of orders)."""

    code = "program_closed"


class StackingConflict(Conflict):
    """Validity periods overlap for the same purchases where one program forbids stacking."""

    code = "stacking_conflict"


class BudgetShort(LedgerError):
    """An approval asks for more than the program's funded, unallocated budget."""

    code = "budget_short"

    def __init__(self, program_id: str, quota_fen: int, unallocated_fen: int) -> None:
        super().__init__(
            msg(
                f"补贴计划 {program_id} 已注资且未分配的只有 {unallocated_fen} 分，"
                f"放不下 {quota_fen} 分的额度（请先注资或少批一些）",
                f"program {program_id} has {unallocated_fen} fen funded and unallocated; "
                f"a quota of {quota_fen} fen does not fit (fund the program or grant less)",
            ),
            field="quota_fen",
            program_id=program_id,
            unallocated_fen=unallocated_fen,
        )


# ---------------------------------------------------------------------------------------------
# Ratios


def parse_ratio(value: str | int | Decimal, field: str) -> int:
    """'0.3' -> 3000 bp. Refuses anything outside 0..1 or finer than a basis point."""
    try:
        exact = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidProgram(
            msg(
                f"`{field}` 须为 0 至 1 之间的数，如 0.3",
                f"{field} must be a number from 0 to 1, e.g. 0.3",
            ),
            field=field,
        ) from None
    if not exact.is_finite() or not Decimal(0) <= exact <= Decimal(1):
        raise InvalidProgram(
            msg(
                f"`{field}` 须在 0 至 1 之间（收到 {value}）",
                f"{field} must be between 0 and 1 (got {value})",
            ),
            field=field,
        )
    scaled = exact * RATIO_BP_MAX
    if scaled != scaled.to_integral_value():
        raise InvalidProgram(
            msg(
                f"`{field}` 最多 {RATIO_DECIMALS_MAX} 位小数（整数个基点）",
                f"{field} has at most {RATIO_DECIMALS_MAX} decimals (whole basis points)",
            ),
            field=field,
        )
    return int(scaled)


def ratio_text(ratio_bp: int) -> str:
    """3000 -> '0.3', 1250 -> '0.125': exact, for APIs and exports."""
    text = str(Decimal(ratio_bp) / RATIO_BP_MAX)
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent_text(ratio_bp: int) -> str:
    """3000 -> '30%', 1250 -> '12.5%': for notes people read."""
    return ratio_text(ratio_bp * 100) + "%" if ratio_bp % 100 else f"{ratio_bp // 100}%"


def share_of(amount_fen: int, ratio_bp: int) -> int:
    """amount × ratio, rounded down to the fen: the budget never pays past its ratio."""
    return amount_fen * ratio_bp // RATIO_BP_MAX


def _require_ratio_bp(ratio_bp: int, field: str) -> int:
    if isinstance(ratio_bp, bool) or not isinstance(ratio_bp, int):
        raise InvalidProgram(
            msg(f"`{field}` 须为整数个基点", f"{field} must be whole basis points"), field=field
        )
    if not 0 <= ratio_bp <= RATIO_BP_MAX:
        raise InvalidProgram(
            msg(f"`{field}` 须在 0 至 1 之间", f"{field} must be between 0 and 1"), field=field
        )
    return ratio_bp


def _require_fen(amount_fen: object, field: str, *, allow_none: bool = False) -> None:
    if amount_fen is None and allow_none:
        return
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise InvalidProgram(
            msg(f"`{field}` 须为整数（单位：分）", f"{field} must be an integer number of fen"),
            field=field,
        )
    if not 0 < amount_fen <= FEN_MAX:
        raise InvalidProgram(
            msg(
                f"`{field}` 须在 1 至 {FEN_MAX} 分之间",
                f"{field} must be between 1 and {FEN_MAX} fen",
            ),
            field=field,
        )


# ---------------------------------------------------------------------------------------------
# Vocabulary


class Category(StrEnum):
    """What a program pays for; a 智能券 (smart) covers compute, model and corpus purchases."""

    COMPUTE = "compute"
    MODEL = "model"
    CORPUS = "corpus"
    SMART = "smart"

    def covers(self, purchase: Category) -> bool:
        return self is Category.SMART or self is purchase

    def overlaps(self, other: Category) -> bool:
        return Category.SMART in (self, other) or self is other


class ProviderScope(StrEnum):
    ALL = "all"
    LIST = "list"  # only the listed provider organisations
    REGION = "region"  # only pools in one of the listed regions (prefixes: 浙江/杭州)


class Refusal(StrEnum):
    """Why a grant pays nothing on an order; shown on statements and in agency reports."""

    CATEGORY_NOT_COVERED = "category_not_covered"
    OUTSIDE_VALIDITY = "outside_validity"
    PROVIDER_NOT_ELIGIBLE = "provider_not_eligible"
    RELATED_PARTY = "related_party"
    ENTERPRISE_REGION = "enterprise_region"
    NOT_SME = "not_sme"
    BLACKLISTED = "blacklisted"
    BAD_CREDIT = "bad_credit"
    ALREADY_CLAIMED = "already_claimed"
    STACKING_DISALLOWED = "stacking_disallowed"
    COMBINED_RATIO_REACHED = "combined_ratio_reached"
    GRANT_EXHAUSTED = "grant_exhausted"
    ZERO_RATIO = "zero_ratio"
    BELOW_ONE_FEN = "below_one_fen"  # the share at a non-zero ratio rounds down to 0 fen
    NOTHING_TO_PAY = "nothing_to_pay"

    @property
    def text(self) -> Msg:
        return REFUSAL_MESSAGES[self]

    @property
    def message(self) -> str:
        """In the reader's language: refusals are stored as codes and worded when read."""
        return str(REFUSAL_MESSAGES[self])


REFUSAL_MESSAGES: Mapping[Refusal, Msg] = {
    Refusal.CATEGORY_NOT_COVERED: msg(
        "券种不覆盖此类采购", "the program does not cover this purchase"
    ),
    Refusal.OUTSIDE_VALIDITY: msg("不在有效期内", "outside the program's validity period"),
    Refusal.PROVIDER_NOT_ELIGIBLE: msg("服务商不在范围内", "the provider is not eligible"),
    Refusal.RELATED_PARTY: msg("关联方交易不补贴", "no subsidy between related parties"),
    Refusal.ENTERPRISE_REGION: msg("注册地不符", "registered outside the program's region"),
    Refusal.NOT_SME: msg("仅限中小企业", "only for SMEs"),
    Refusal.BLACKLISTED: msg("列入黑名单", "the enterprise is blacklisted"),
    Refusal.BAD_CREDIT: msg("近年有不良信用记录", "a bad-credit record within the look-back"),
    Refusal.ALREADY_CLAIMED: msg("同一合同只能申领一次", "one claim per contract"),
    Refusal.STACKING_DISALLOWED: msg("不可与其他补贴叠加", "no other subsidy on the same contract"),
    Refusal.COMBINED_RATIO_REACHED: msg("叠加比例已达上限", "the combined ratio cap is reached"),
    Refusal.GRANT_EXHAUSTED: msg("额度已用完", "the grant is used up"),
    Refusal.ZERO_RATIO: msg("补贴比例为零", "the applicable ratio is zero"),
    Refusal.BELOW_ONE_FEN: msg(
        "按比例计算的补贴不足 1 分", "the subsidy at this ratio is less than 1 fen"
    ),
    Refusal.NOTHING_TO_PAY: msg("无应付金额", "nothing to pay"),
}


class Limit(StrEnum):
    """Which term of min(ratio × amount, per-order cap, grant remaining, combined cap) bound."""

    RATIO = "ratio"
    ORDER_CAP = "order_cap"
    GRANT_REMAINING = "grant_remaining"
    COMBINED_RATIO = "combined_ratio"


# ---------------------------------------------------------------------------------------------
# Facts


@dataclass(frozen=True)
class EnterpriseFacts:
    """What an enterprise declares when it applies (and the agency checks)."""

    is_sme: bool
    region: str  # registration region, 'province/city/district'
    founded_on: date
    bad_credit_on: date | None = None  # the latest bad-credit record, if any

    def __post_init__(self) -> None:
        if is_blank(self.region) or len(self.region) > REGION_LENGTH_MAX:
            raise InvalidInput(
                msg(
                    f"地区须为 1..{REGION_LENGTH_MAX} 个字符，如 浙江/杭州/余杭",
                    f"region must be 1..{REGION_LENGTH_MAX} characters, e.g. '浙江/杭州/余杭'",
                ),
                field="region",
            )
        if self.bad_credit_on is not None and self.bad_credit_on < self.founded_on:
            raise InvalidInput(
                msg("`bad_credit_on` 早于 `founded_on`", "bad_credit_on precedes founded_on"),
                field="bad_credit_on",
            )

    def require_past(self, today: date) -> None:
        """Declared facts are past events: a founding or a record dated after `today` (the
        Beijing date the application is made) is a typing mistake, refused naming the field."""
        for name, day in (("founded_on", self.founded_on), ("bad_credit_on", self.bad_credit_on)):
            if day is not None and day > today:
                raise InvalidInput(
                    msg(f"{name} {day} 晚于今天 {today}", f"{name} {day} is after today, {today}"),
                    field=name,
                )


@dataclass(frozen=True)
class Order:
    """One purchase, as a program sees it. `yearly_spend_fen` is the enterprise's spend on the
    platform this calendar year before this order."""

    enterprise_id: str
    provider_id: str
    provider_region: str
    category: Category
    amount_fen: int
    domestic: bool  # the accelerator's 国产 flag, from the catalog
    at: datetime  # aware
    yearly_spend_fen: int = 0
    related: bool = False  # a declared relationship links enterprise and provider

    @property
    def day(self) -> date:
        return self.at.astimezone(BEIJING).date()


def within_region(region: str, prefixes: Iterable[str]) -> bool:
    """True when 'a/b/c' lies inside one of the prefixes (whole parts: 浙江/杭 is not 浙江/杭州)."""
    parts = [part.strip() for part in region.split("/")]
    for prefix in prefixes:
        wanted = [part.strip() for part in prefix.split("/") if part.strip()]
        if wanted and parts[: len(wanted)] == wanted:
            return True
    return False


def years_after(start: date, years: int) -> date:
    """The same calendar day `years` later (29 February becomes 28 February)."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


# ---------------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True)
class RatioTier:
    """A ratio that applies when every condition set on it holds (None: no condition)."""

    ratio_bp: int
    label: str = ""
    sme: bool | None = None
    domestic: bool | None = None  # True: domestic accelerators only; False: non-domestic only
    yearly_spend_max_fen: int | None = None  # this year's spend including the order, at most
    startup_age_max_years: int | None = None  # founded fewer than this many years before

    def __post_init__(self) -> None:
        _require_ratio_bp(self.ratio_bp, "tiers.ratio")
        _require_fen(self.yearly_spend_max_fen, "tiers.yearly_spend_max_fen", allow_none=True)
        age = self.startup_age_max_years
        if age is not None and not 1 <= age <= STARTUP_YEARS_MAX:
            raise InvalidProgram(
                msg(
                    f"`startup_age_max_years` 须为 1..{STARTUP_YEARS_MAX}",
                    f"startup_age_max_years must be 1..{STARTUP_YEARS_MAX}",
                ),
                field="tiers",
            )
        if len(self.label) > NAME_LENGTH_MAX:
            raise InvalidProgram(
                msg("档位名称最多 200 个字符", "a tier label is at most 200 characters"),
                field="tiers",
            )

    def matches(self, facts: EnterpriseFacts, order: Order) -> bool:
        if self.sme is not None and facts.is_sme != self.sme:
            return False
        if self.domestic is not None and order.domestic != self.domestic:
            return False
        spend_max = self.yearly_spend_max_fen
        if spend_max is not None and order.yearly_spend_fen + order.amount_fen > spend_max:
            return False
        age_max = self.startup_age_max_years
        return age_max is None or order.day < years_after(facts.founded_on, age_max)


@dataclass(frozen=True)
class Rules:
    """A program's subsidy rules, stored as data (JSON) and validated when built."""

    base_ratio_bp: int
    cap_per_enterprise_fen: int  # per enterprise per year (a program lasts at most a year)
    tiers: tuple[RatioTier, ...] = ()  # the first matching tier wins; none matching: base
    cap_per_order_fen: int | None = None
    provider_scope: ProviderScope = ProviderScope.ALL
    provider_ids: tuple[str, ...] = ()
    provider_regions: tuple[str, ...] = ()
    enterprise_regions: tuple[str, ...] = ()  # registration region prefixes; empty: anywhere
    sme_only: bool = False
    blacklist: tuple[str, ...] = ()  # enterprise organisation ids
    bad_credit_lookback_years: int | None = None  # Beijing: none in the past 3 years
    stacking_allowed: bool = True
    max_combined_ratio_bp: int = RATIO_BP_MAX  # all stacked programs together, at most
    stack_order: int = 0  # lower first (a city's voucher before a district's)

    def __post_init__(self) -> None:
        _require_ratio_bp(self.base_ratio_bp, "base_ratio")
        _require_ratio_bp(self.max_combined_ratio_bp, "max_combined_ratio")
        _require_fen(self.cap_per_enterprise_fen, "cap_per_enterprise_fen")
        _require_fen(self.cap_per_order_fen, "cap_per_order_fen", allow_none=True)
        if len(self.tiers) > TIERS_MAX:
            raise InvalidProgram(
                msg(f"最多 {TIERS_MAX} 个比例档位", f"at most {TIERS_MAX} ratio tiers"),
                field="tiers",
            )
        self._check_scope()
        lookback = self.bad_credit_lookback_years
        if lookback is not None and not 1 <= lookback <= LOOKBACK_YEARS_MAX:
            raise InvalidProgram(
                msg(
                    f"`bad_credit_lookback_years` 须为 1..{LOOKBACK_YEARS_MAX}",
                    f"bad_credit_lookback_years must be 1..{LOOKBACK_YEARS_MAX}",
                ),
                field="bad_credit_lookback_years",
            )
        if not -1000 <= self.stack_order <= 1000:
            raise InvalidProgram(
                msg("`stack_order` 须在 -1000 至 1000 之间", "stack_order must be -1000..1000"),
                field="stack_order",
            )

    def _check_scope(self) -> None:
        for name in ("provider_ids", "provider_regions", "enterprise_regions", "blacklist"):
            items: tuple[str, ...] = getattr(self, name)
            if len(items) > SCOPE_ITEMS_MAX or any(
                is_blank(item) or len(item) > REGION_LENGTH_MAX for item in items
            ):
                raise InvalidProgram(
                    msg(
                        f"`{name}` 最多 {SCOPE_ITEMS_MAX} 个非空项",
                        f"{name}: at most {SCOPE_ITEMS_MAX} non-empty entries",
                    ),
                    field=name,
                )
        if self.provider_scope is ProviderScope.LIST and not self.provider_ids:
            raise InvalidProgram(
                msg("按提供方名单限定时需要 `provider_ids`", "a provider list needs provider_ids"),
                field="provider_ids",
            )
        if self.provider_scope is ProviderScope.REGION and not self.provider_regions:
            raise InvalidProgram(
                msg("按地区限定时需要 `provider_regions`", "a region scope needs provider_regions"),
                field="provider_regions",
            )

    def ratio_for(self, facts: EnterpriseFacts, order: Order) -> tuple[int, str]:
        """The ratio (bp) and the name of the tier that sets it."""
        for tier in self.tiers:
            if tier.matches(facts, order):
                return tier.ratio_bp, tier.label or f"tier {percent_text(tier.ratio_bp)}"
        return self.base_ratio_bp, "base"

    def provider_eligible(self, provider_id: str, provider_region: str) -> bool:
        if self.provider_scope is ProviderScope.LIST:
            return provider_id in self.provider_ids
        if self.provider_scope is ProviderScope.REGION:
            return within_region(provider_region, self.provider_regions)
        return True

    def to_dict(self) -> dict[str, Any]:
        """JSON for storage: ratios stay integer basis points."""
        data: dict[str, Any] = {
            name: getattr(self, name) for name in self.__dataclass_fields__ if name != "tiers"
        }
        data["provider_scope"] = self.provider_scope.value
        for name in ("provider_ids", "provider_regions", "enterprise_regions", "blacklist"):
            data[name] = list(data[name])
        data["tiers"] = [dict(tier.__dict__) for tier in self.tiers]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rules:
        values = dict(data)
        values["tiers"] = tuple(RatioTier(**tier) for tier in values.get("tiers", ()))
        values["provider_scope"] = ProviderScope(values.get("provider_scope", "all"))
        for name in ("provider_ids", "provider_regions", "enterprise_regions", "blacklist"):
            values[name] = tuple(values.get(name, ()))
        return cls(**values)


# ---------------------------------------------------------------------------------------------
# Programs


@dataclass(frozen=True)
class Program:
    """An agency's voucher program. Validity is [valid_from, valid_until), aware datetimes."""

    id: str
    agency_id: str
    name: str
    category: Category
    budget_fen: int
    valid_from: datetime
    valid_until: datetime
    rules: Rules

    def __post_init__(self) -> None:
        if is_blank(self.name) or len(self.name) > NAME_LENGTH_MAX:
            raise InvalidProgram(
                msg(
                    f"名称须为 1..{NAME_LENGTH_MAX} 个字符",
                    f"name must be 1..{NAME_LENGTH_MAX} characters",
                ),
                field="name",
            )
        _require_fen(self.budget_fen, "budget_fen")
        if self.valid_from.tzinfo is None or self.valid_until.tzinfo is None:
            raise InvalidProgram(
                msg("有效期须带时区", "validity needs time zones"), field="valid_from"
            )
        if self.valid_until <= self.valid_from:
            raise InvalidProgram(
                msg("`valid_until` 须晚于 `valid_from`", "valid_until must be after valid_from"),
                field="valid_until",
            )
        if self.valid_until - self.valid_from > timedelta(days=VALIDITY_DAYS_MAX):
            raise InvalidProgram(
                msg(
                    f"补贴计划最长 {VALIDITY_DAYS_MAX} 天（按年度预算）",
                    f"a program lasts at most {VALIDITY_DAYS_MAX} days (an annual budget)",
                ),
                field="valid_until",
            )
        cap = self.rules.cap_per_enterprise_fen
        if cap > self.budget_fen:
            raise InvalidProgram(
                msg(
                    f"每家企业上限 {cap} 分超过预算 {self.budget_fen} 分",
                    f"cap_per_enterprise_fen {cap} exceeds the budget of {self.budget_fen} fen",
                ),
                field="cap_per_enterprise_fen",
            )
        per_order = self.rules.cap_per_order_fen
        if per_order is not None and per_order > cap:
            raise InvalidProgram(
                msg(
                    "`cap_per_order_fen` 超过 `cap_per_enterprise_fen`",
                    "cap_per_order_fen exceeds cap_per_enterprise_fen",
                ),
                field="cap_per_order_fen",
            )

    def valid_at(self, moment: datetime) -> bool:
        return self.valid_from <= moment < self.valid_until

    def ended_at(self, moment: datetime) -> bool:
        return moment >= self.valid_until

    def overlaps(self, other: Program) -> bool:
        """Same purchases covered during a common moment."""
        in_time = self.valid_from < other.valid_until and other.valid_from < self.valid_until
        return in_time and self.category.overlaps(other.category)

    def stacking_conflict(self, other: Program) -> bool:
        forbids = not (self.rules.stacking_allowed and other.rules.stacking_allowed)
        return self.id != other.id and forbids and self.overlaps(other)


def require_no_stacking_conflict(program: Program, others: Iterable[Program]) -> None:
    """Refuses a program whose validity overlaps another's where either forbids stacking."""
    for other in others:
        if program.stacking_conflict(other):
            raise StackingConflict(
                msg(
                    f"补贴计划 {other.name!r}（{other.id}）在 {beijing_date(other.valid_from)} 至 "
                    f"{beijing_date(other.valid_until)} 覆盖相同的采购，且不允许叠加；"
                    "请选不重叠的日期，或让两者都允许叠加",
                    f"program {other.name!r} ({other.id}) covers the same purchases from "
                    f"{beijing_date(other.valid_from)} to {beijing_date(other.valid_until)}, "
                    "and stacking is "
                    "disallowed; choose non-overlapping dates or allow stacking on both",
                ),
                field="valid_from",
                program_id=other.id,
            )


def eligibility_refusals(
    rules: Rules, enterprise_id: str, facts: EnterpriseFacts, on: date
) -> list[Refusal]:
    """Every reason the program's rules refuse this enterprise on `on` (empty: eligible)."""
    found: list[Refusal] = []
    if rules.enterprise_regions and not within_region(facts.region, rules.enterprise_regions):
        found.append(Refusal.ENTERPRISE_REGION)
    if rules.sme_only and not facts.is_sme:
        found.append(Refusal.NOT_SME)
    if enterprise_id in rules.blacklist:
        found.append(Refusal.BLACKLISTED)
    lookback = rules.bad_credit_lookback_years
    last_bad = facts.bad_credit_on
    if lookback is not None and last_bad is not None and on < years_after(last_bad, lookback):
        found.append(Refusal.BAD_CREDIT)
    return found


def require_eligible(
    program: Program, enterprise_id: str, facts: EnterpriseFacts, at: datetime
) -> None:
    """An application: the program must be open and the enterprise eligible."""
    if program.ended_at(at):
        raise ProgramClosed(
            msg(
                f"补贴计划 {program.name!r} 已于 {shown(program.valid_until)} 结束",
                f"program {program.name!r} ended on {shown(program.valid_until)}",
            ),
            field="program_id",
        )
    refusals = eligibility_refusals(
        program.rules, enterprise_id, facts, at.astimezone(BEIJING).date()
    )
    if refusals:
        raise NotEligible(
            msg("；".join(r.text.zh for r in refusals), "; ".join(r.text.en for r in refusals)),
            field="facts",
            reasons=[r.value for r in refusals],
        )


def require_quota(program: Program, quota_fen: int, field: str = "quota_fen") -> int:
    """An approval's quota (or an application's request, named by `field`): positive and no
    larger than the per-enterprise cap."""
    _require_fen(quota_fen, field)
    cap = program.rules.cap_per_enterprise_fen
    if quota_fen > cap:
        raise InvalidProgram(
            msg(
                f"额度 {quota_fen} 分超过每家企业 {cap} 分的上限",
                f"{field} {quota_fen} exceeds the cap of {cap} fen per enterprise",
            ),
            field=field,
        )
    return quota_fen


# ---------------------------------------------------------------------------------------------
# Redemption


@dataclass(frozen=True)
class GrantState:
    """One approved grant as an order sees it. `remaining_fen` is what it may still pay on this
    order: its available balance at submit, what the order holds on it at settlement."""

    program: Program
    grant_id: str
    facts: EnterpriseFacts
    remaining_fen: int
    already_claimed: bool = False  # this order was already subsidised by this program


@dataclass(frozen=True)
class SubsidyLine:
    program_id: str
    program_name: str
    grant_id: str
    ratio_bp: int
    tier: str
    wanted_fen: int  # ratio × amount, before any limit
    subsidy_fen: int
    limit: Limit | None = None
    refusal: Refusal | None = None

    @property
    def note(self) -> Msg:
        """For statements, in both languages (stored so, and shown in the reader's)."""
        name = self.program_name
        if self.refusal is not None:
            return msg(f"{name}：{self.refusal.text.zh}", f"{name}: {self.refusal.text.en}")
        tier = _tier_text(self.tier)
        zh = f"{name} {percent_text(self.ratio_bp)}（{tier.zh}）"
        en = f"{name} {percent_text(self.ratio_bp)} ({tier.en})"
        if self.limit is not None and self.limit is not Limit.RATIO:
            limit = LIMIT_TEXTS[self.limit]
            zh, en = f"{zh}，受{limit.zh}限制", f"{en}, limited by {limit.en}"
        return msg(zh, en)

    @property
    def outcome(self) -> str:
        """One word for storage and reports: the refusal, or the limit that bound."""
        if self.refusal is not None:
            return self.refusal.value
        return (self.limit or Limit.RATIO).value


LIMIT_TEXTS: Mapping[Limit, Msg] = {
    Limit.RATIO: msg("补贴比例", "ratio"),
    Limit.ORDER_CAP: msg("单笔上限", "order_cap"),
    Limit.GRANT_REMAINING: msg("剩余额度", "grant_remaining"),
    Limit.COMBINED_RATIO: msg("叠加比例上限", "combined_ratio"),
}


def _tier_text(tier: str) -> Msg:
    """The built-in tier names in both languages; an agency's own label as it wrote it."""
    if tier == "base":
        return msg("基础档", "base")
    if tier.startswith("tier "):
        return msg(f"档位 {tier.removeprefix('tier ')}", tier)
    return Msg(tier, tier)


@dataclass(frozen=True)
class Redemption:
    amount_fen: int
    lines: tuple[SubsidyLine, ...]

    @property
    def subsidy_fen(self) -> int:
        return sum(line.subsidy_fen for line in self.lines)

    @property
    def enterprise_fen(self) -> int:
        return self.amount_fen - self.subsidy_fen

    def line_for(self, grant_id: str) -> SubsidyLine | None:
        return next((line for line in self.lines if line.grant_id == grant_id), None)

    @property
    def note(self) -> Msg:
        notes = [line.note for line in self.lines if line.subsidy_fen > 0] or [
            line.note for line in self.lines
        ]
        return msg("；".join(n.zh for n in notes), "; ".join(n.en for n in notes))


def stacking_order(grants: Iterable[GrantState]) -> list[GrantState]:
    """The defined order: stack_order, then the earlier program, then its id."""
    return sorted(
        grants,
        key=lambda g: (g.program.rules.stack_order, g.program.valid_from, g.program.id),
    )


def _refusal(order: Order, grant: GrantState) -> Refusal | None:
    """The first rule (cheapest to explain first) that refuses this grant on this order."""
    program, rules = grant.program, grant.program.rules
    if order.amount_fen <= 0:
        return Refusal.NOTHING_TO_PAY
    if not program.category.covers(order.category):
        return Refusal.CATEGORY_NOT_COVERED
    if not program.valid_at(order.at):
        return Refusal.OUTSIDE_VALIDITY
    if grant.already_claimed:
        return Refusal.ALREADY_CLAIMED
    if order.related:
        return Refusal.RELATED_PARTY
    if not rules.provider_eligible(order.provider_id, order.provider_region):
        return Refusal.PROVIDER_NOT_ELIGIBLE
    refusals = eligibility_refusals(rules, order.enterprise_id, grant.facts, order.day)
    return refusals[0] if refusals else None


@dataclass
class _Stack:
    """What the grants applied so far allow the next one."""

    paid_fen: int = 0
    combined_cap_bp: int = RATIO_BP_MAX
    exclusive: bool = False  # a program that forbids stacking has paid
    lines: list[SubsidyLine] = field(default_factory=list)


def redeem(order: Order, grants: Sequence[GrantState]) -> Redemption:
    """Applies the grants in stacking order; each pays min(ratio × amount, per-order cap,
    grant remaining, room under the combined-ratio cap), or nothing with a reason."""
    if len(grants) > STACKED_PROGRAMS_MAX:
        raise InvalidInput(
            msg(
                f"一笔订单最多叠加 {STACKED_PROGRAMS_MAX} 份发放额度",
                f"an order considers at most {STACKED_PROGRAMS_MAX} grants",
            ),
            field="grants",
        )
    stack = _Stack()
    for grant in stacking_order(grants):
        stack.lines.append(_apply(order, grant, stack))
    return Redemption(order.amount_fen, tuple(stack.lines))


def _apply(order: Order, grant: GrantState, stack: _Stack) -> SubsidyLine:
    rules = grant.program.rules
    ratio_bp, tier = rules.ratio_for(grant.facts, order)
    wanted = share_of(order.amount_fen, ratio_bp)
    line = SubsidyLine(
        grant.program.id, grant.program.name, grant.grant_id, ratio_bp, tier, wanted, 0
    )
    refusal = _refusal(order, grant)
    if refusal is None and (stack.exclusive or (stack.paid_fen and not rules.stacking_allowed)):
        refusal = Refusal.STACKING_DISALLOWED
    if refusal is not None:
        return replace(line, refusal=refusal)
    cap_bp = min(stack.combined_cap_bp, rules.max_combined_ratio_bp)
    room = max(0, share_of(order.amount_fen, cap_bp) - stack.paid_fen)
    terms = [(wanted, Limit.RATIO), (room, Limit.COMBINED_RATIO)]
    terms.append((max(0, grant.remaining_fen), Limit.GRANT_REMAINING))
    if rules.cap_per_order_fen is not None:
        terms.append((rules.cap_per_order_fen, Limit.ORDER_CAP))
    subsidy, limit = min(terms, key=lambda term: term[0])  # ties keep the earlier term
    if subsidy == 0:
        capped = room == 0 and (stack.paid_fen > 0 or cap_bp == 0)  # others took the room
        refusal, limit = _zero_reason(ratio_bp, grant.remaining_fen, capped=capped)
        return replace(line, limit=limit, refusal=refusal)
    stack.paid_fen += subsidy
    stack.combined_cap_bp = cap_bp
    stack.exclusive = stack.exclusive or not rules.stacking_allowed
    return replace(line, subsidy_fen=subsidy, limit=limit)


def _zero_reason(ratio_bp: int, remaining_fen: int, *, capped: bool) -> tuple[Refusal, Limit]:
    """Why a grant pays 0, from the facts rather than from whichever zero term min() kept
    first: several terms are often 0 at once (a 1-fen order on a used-up grant), and only the
    one that truly explains it belongs on a statement."""
    if ratio_bp == 0:
        return Refusal.ZERO_RATIO, Limit.RATIO
    if remaining_fen <= 0:
        return Refusal.GRANT_EXHAUSTED, Limit.GRANT_REMAINING
    if capped:
        return Refusal.COMBINED_RATIO_REACHED, Limit.COMBINED_RATIO
    return Refusal.BELOW_ONE_FEN, Limit.RATIO  # ratio × amount (or the cap's) rounds to 0


# ---------------------------------------------------------------------------------------------
# Holds and settlement


@dataclass(frozen=True)
class HoldPlan:
    """What to hold at submit: the enterprise's share and each grant's, in the worst case over
    the pools the job may land on (the pool is chosen later, by the scheduler)."""

    wallet_fen: int
    grant_fen: dict[str, int]  # grant id -> amount to reserve on it
    redemptions: tuple[Redemption, ...]  # one per candidate order, for explanations


def plan_hold(orders: Sequence[Order], grants: Sequence[GrantState]) -> HoldPlan:
    """The wallet holds the largest enterprise share over the candidates; each grant reserves
    its largest subsidy. Whatever pool runs the job, both holds then cover the settlement."""
    if not orders:
        raise InvalidInput(
            msg("冻结至少需要一笔候选订单", "a hold needs at least one candidate order"),
            field="orders",
        )
    redemptions = tuple(redeem(order, grants) for order in orders)
    wallet = max(r.enterprise_fen for r in redemptions)
    reserve = {
        grant.grant_id: max(_line_fen(r, grant.grant_id) for r in redemptions) for grant in grants
    }
    return HoldPlan(wallet, reserve, redemptions)


def _line_fen(redemption: Redemption, grant_id: str) -> int:
    line = redemption.line_for(grant_id)
    return line.subsidy_fen if line else 0


@dataclass(frozen=True)
class Split:
    """How a settled charge is paid: by the enterprise's hold and by each grant."""

    charge_fen: int
    enterprise_fen: int
    grant_fen: dict[str, int]


def settlement_split(charge_fen: int, redemption: Redemption, wallet_hold_fen: int) -> Split:
    """The enterprise pays the charge less the subsidy, never beyond its hold (invariant 10):
    if a price rose after submit so that its share would pass the hold, the charge is cut to
    hold + subsidy (the provider bears the difference, as it does without vouchers)."""
    subsidy = redemption.subsidy_fen
    if subsidy > charge_fen:
        raise InvalidInput(
            msg("补贴不能超过费用", "a subsidy cannot exceed the charge"), field="subsidy_fen"
        )
    enterprise = min(charge_fen - subsidy, wallet_hold_fen)
    grants = {line.grant_id: line.subsidy_fen for line in redemption.lines}
    return Split(enterprise + subsidy, enterprise, grants)
