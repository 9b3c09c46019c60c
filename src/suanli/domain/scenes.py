"""The scenario exchange (场景对接, "两张清单") as pure values: opportunities, capabilities,
the industry vocabulary, the 对接 pipeline and 揭榜挂帅 challenge state machines.

Everything here validates itself when built and raises `InvalidInput` naming the field, so a
file importer, the API and the database mapper all get the same rules. No I/O, no clock: the
time of a pipeline move is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import TypeVar

from suanli.domain.industry import label_key
from suanli.domain.money import require_fen
from suanli.domain.text import check_date, clean_text, is_blank
from suanli.errors import InvalidInput, InvalidTransition
from suanli.i18n import msg, t

ID_CHARS_MAX = 64
TITLE_CHARS_MAX = 200
DESCRIPTION_CHARS_MAX = 5_000
TEXT_FIELD_CHARS_MAX = 200  # region, org, one tag, one accelerator name
INDUSTRY_CHARS_MAX = 40  # an industry label as written (the stored column's width)
# A filter may name an industry by its longest GB/T English name (68 characters).
INDUSTRY_FILTER_CHARS_MAX = 100
TAGS_MAX = 32
ACCELERATORS_MAX = 32
# Matching and its evaluation: the engine, the API and the CLI's options share these (here, so
# the CLI's help needs no engine).
TOP_K_MAX = 1_000  # candidates one match may return per item
FOLDS_MIN = 2  # cross-validation folds of an evaluation
FOLDS_MAX = 20
SEED_DEFAULT = 20_261_206  # which queries fall in which fold
# Separators seen in real lists: ASCII and full-width semicolons and commas, and 顿号.
TAG_SEPARATORS = re.compile(r"[;；、,，]")
# An id travels in URL paths (/v1/scenes/opportunities/{id}): letters (any script), digits and
# - _ . only, led by a letter or digit, so "a/b", "../x", "?" or "#" never make an item that no
# GET, PATCH or DELETE can reach.
_ID_PATTERN = re.compile(r"[^\W_][\w.-]*")
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class Industry:
    """One entry of the industry vocabulary; `aliases` are other labels lists use for it."""

    name: str
    name_en: str
    aliases: tuple[str, ...] = ()


INDUSTRY_OTHER = "其他"
INDUSTRIES: tuple[Industry, ...] = (
    Industry("智能制造", "smart manufacturing", ("制造", "制造业", "工业", "manufacturing")),
    Industry("金融", "finance", ("金融业", "银行", "保险", "证券", "financial services")),
    Industry("医疗健康", "healthcare", ("医疗", "卫生健康", "医药", "health", "medical")),
    Industry("交通出行", "transport", ("交通", "交通运输", "轨道交通", "transportation")),
    Industry("能源", "energy", ("能源电力", "电力", "新能源", "power")),
    Industry("农业", "agriculture", ("农业农村", "农林牧渔", "farming")),
    Industry("教育", "education", ("教育培训", "高校")),
    Industry("政务服务", "government services", ("政务", "数字政府", "government")),
    Industry("零售消费", "retail", ("零售", "商贸", "电商", "消费", "commerce")),
    Industry("物流", "logistics", ("物流仓储", "快递", "港口", "supply chain")),
    Industry("生态环保", "environment", ("环保", "生态环境", "environmental protection")),
    Industry("文化旅游", "culture and tourism", ("文旅", "文化", "旅游", "tourism")),
    Industry("公共安全", "public safety", ("应急管理", "安防", "应急", "security")),
    Industry("城市建设", "urban construction", ("城市治理", "建筑", "住建", "construction")),
    Industry("信息技术", "information technology", ("信息技术服务", "软件", "人工智能", "it")),
    Industry(INDUSTRY_OTHER, "other", ("其它", "other")),
)
_INDUSTRY_LOOKUP: Mapping[str, str] = {
    label_key(label): industry.name
    for industry in INDUSTRIES
    for label in (industry.name, industry.name_en, *industry.aliases)
}


def resolve_industry(label: str) -> tuple[str, bool]:
    """(name to store, in the platform vocabulary). A platform label or alias gives its
    canonical name (case and spaces ignored); any other label is kept as written (trimmed),
    never coerced to 其他, so the open taxonomy (domain.industry) can still place it; an empty
    label gives 其他."""
    cleaned = label.strip()
    canonical = _INDUSTRY_LOOKUP.get(label_key(cleaned))
    if canonical is not None:
        return canonical, True
    return (cleaned or INDUSTRY_OTHER), False


def industry_english(name: str) -> str:
    """English name of a canonical industry (the name itself if unknown)."""
    return next((item.name_en for item in INDUSTRIES if item.name == name), name)


def split_tags(text: str) -> tuple[str, ...]:
    """Splits on ; ； 、 , ， and trims; drops empties and repeats, keeping first order."""
    seen: dict[str, None] = {}
    for part in TAG_SEPARATORS.split(text):
        tag = part.strip()
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


class ItemStatus(StrEnum):
    OPEN = "open"
    MATCHED = "matched"
    CLOSED = "closed"


class Maturity(StrEnum):
    PROTOTYPE = "prototype"
    PILOT = "pilot"
    PRODUCTION = "production"


class DeploymentMode(StrEnum):
    ON_PREMISE = "on_premise"
    CLOUD = "cloud"
    EDGE = "edge"
    HYBRID = "hybrid"


class MatchDirection(StrEnum):
    """o2c: for each opportunity, rank capabilities; c2o: the reverse."""

    O2C = "o2c"
    C2O = "c2o"


# Chinese labels used in spreadsheets, accepted when parsing and shown in Chinese output.
STATUS_LABELS = {ItemStatus.OPEN: "开放", ItemStatus.MATCHED: "已匹配", ItemStatus.CLOSED: "已关闭"}
MATURITY_LABELS = {
    Maturity.PROTOTYPE: "原型验证",
    Maturity.PILOT: "试点应用",
    Maturity.PRODUCTION: "规模应用",
}
DEPLOYMENT_LABELS = {
    DeploymentMode.ON_PREMISE: "私有化部署",
    DeploymentMode.CLOUD: "公有云",
    DeploymentMode.EDGE: "边缘",
    DeploymentMode.HYBRID: "混合云",
}


def _parse_label(text: str, enum: type[E], labels: Mapping[E, str], name: str) -> E:
    """Accepts the enum value or its Chinese label; raises InvalidInput naming `name`."""
    cleaned = text.strip()
    for member in enum:
        if cleaned.casefold() == member.value or cleaned == labels[member]:
            return member
    choices = ", ".join(f"{member.value}/{labels[member]}" for member in enum)
    raise InvalidInput(
        msg(
            f"`{name}`：未知取值 {cleaned!r}；可选：{choices}",
            f"{name}: unknown value {cleaned!r}; choose one of {choices}",
        ),
        field=name,
    )


def parse_status(text: str) -> ItemStatus:
    return _parse_label(text, ItemStatus, STATUS_LABELS, "status")


def parse_maturity(text: str) -> Maturity:
    return _parse_label(text, Maturity, MATURITY_LABELS, "maturity")


def parse_deployment_modes(text: str) -> tuple[DeploymentMode, ...]:
    """A file's cell: repeats dropped after labels are read ("cloud；公有云" is one mode)."""
    modes = split_tags(text)
    return tuple(
        dict.fromkeys(
            _parse_label(m, DeploymentMode, DEPLOYMENT_LABELS, "deployment_modes") for m in modes
        )
    )


def _require_text(value: str, name: str, chars_max: int, *, required: bool) -> None:
    clean_text(value, name)  # the shared character rule: no NUL, controls or surrogates
    if required and is_blank(value):
        raise InvalidInput(msg(f"`{name}` 不能为空", f"{name} must not be empty"), field=name)
    if len(value) > chars_max:
        raise InvalidInput(
            msg(
                f"`{name}` 超过 {chars_max} 个字符", f"{name} is longer than {chars_max} characters"
            ),
            field=name,
        )


def _require_id(value: str) -> None:
    _require_text(value, "id", ID_CHARS_MAX, required=True)
    if not _ID_PATTERN.fullmatch(value):
        raise InvalidInput(
            msg(
                f"编号 {value!r} 只能含字母、数字和 - _ .，且须以字母或数字开头",
                f"id {value!r} may hold only letters, digits and - _ ., "
                "starting with a letter or digit",
            ),
            field="id",
        )


def _require_list(values: tuple[str, ...], name: str, count_max: int) -> None:
    if len(values) > count_max:
        raise InvalidInput(
            msg(f"`{name}` 最多 {count_max} 项", f"{name}: at most {count_max} entries"), field=name
        )
    for value in values:
        _require_text(value, name, TEXT_FIELD_CHARS_MAX, required=True)


@dataclass(frozen=True, kw_only=True)
class SceneItem:
    """What opportunities and capabilities share; the matcher reads only these fields."""

    id: str
    title: str
    description: str = ""
    industry: str = INDUSTRY_OTHER
    tags: tuple[str, ...] = ()
    region: str = ""
    org: str = ""
    batch: int | None = None  # published in batches: 第N批
    status: ItemStatus = ItemStatus.OPEN

    def __post_init__(self) -> None:
        _require_id(self.id)
        _require_text(self.title, "title", TITLE_CHARS_MAX, required=True)
        _require_text(self.description, "description", DESCRIPTION_CHARS_MAX, required=False)
        _require_text(self.industry, "industry", INDUSTRY_CHARS_MAX, required=True)
        if resolve_industry(self.industry)[0] != self.industry:
            raise InvalidInput(
                msg(
                    f"行业 {self.industry!r} 不是标准行业名",
                    f"industry {self.industry!r} is not canonical",
                ),
                field="industry",
            )
        _require_list(self.tags, "tags", TAGS_MAX)
        _require_text(self.region, "region", TEXT_FIELD_CHARS_MAX, required=False)
        _require_text(self.org, "org", TEXT_FIELD_CHARS_MAX, required=False)
        if self.batch is not None and not 1 <= self.batch <= 10_000:
            raise InvalidInput(
                msg("批次须在 1 至 10000 之间", "batch must be between 1 and 10000"), field="batch"
            )


@dataclass(frozen=True, kw_only=True)
class Opportunity(SceneItem):
    """A need (场景机会) published by an agency or enterprise."""

    budget_fen: int | None = None
    deadline: date | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.deadline is not None:
            check_date(self.deadline, "deadline")
        if self.budget_fen is not None:
            require_fen(self.budget_fen, field="budget_fen", allow_zero=True)


@dataclass(frozen=True, kw_only=True)
class Capability(SceneItem):
    """A technology or product (场景能力) an enterprise offers."""

    maturity: Maturity | None = None
    deployment_modes: tuple[DeploymentMode, ...] = ()
    accelerators: tuple[str, ...] = ()  # chips it supports, domestic adaptations included

    def __post_init__(self) -> None:
        super().__post_init__()
        _require_list(self.accelerators, "accelerators", ACCELERATORS_MAX)
        if len(set(self.deployment_modes)) != len(self.deployment_modes):
            raise InvalidInput(
                msg("`deployment_modes` 不能重复", "deployment_modes must not repeat a mode"),
                field="deployment_modes",
            )


class PipelineStage(StrEnum):
    """对接 stages of one matched pair; CLOSED (终止) ends a pair that will not go on."""

    RECOMMENDED = "recommended"  # 推荐
    INTERESTED = "interested"  # 意向
    NEGOTIATING = "negotiating"  # 洽谈
    SIGNED = "signed"  # 签约
    DELIVERED = "delivered"  # 落地
    CLOSED = "closed"  # 终止


PIPELINE_STAGE_LABELS = {
    PipelineStage.RECOMMENDED: "推荐",
    PipelineStage.INTERESTED: "意向",
    PipelineStage.NEGOTIATING: "洽谈",
    PipelineStage.SIGNED: "签约",
    PipelineStage.DELIVERED: "落地",
    PipelineStage.CLOSED: "终止",
}
PIPELINE_STAGE_LABELS_EN = {
    PipelineStage.RECOMMENDED: "Recommended",
    PipelineStage.INTERESTED: "Interested",
    PipelineStage.NEGOTIATING: "Negotiating",
    PipelineStage.SIGNED: "Signed",
    PipelineStage.DELIVERED: "Delivered",
    PipelineStage.CLOSED: "Closed",
}


def pipeline_stage_label(stage: PipelineStage) -> str:
    """A stage's name in the reader's language (the API's `stage_label`)."""
    return t(PIPELINE_STAGE_LABELS[stage], PIPELINE_STAGE_LABELS_EN[stage])


# One step forward at a time (each stage is a real event someone records), or 终止 from any
# open stage. No way back: a reopened talk is a new pair, so history stays append-only.
PIPELINE_TRANSITIONS: Mapping[PipelineStage, frozenset[PipelineStage]] = {
    PipelineStage.RECOMMENDED: frozenset({PipelineStage.INTERESTED, PipelineStage.CLOSED}),
    PipelineStage.INTERESTED: frozenset({PipelineStage.NEGOTIATING, PipelineStage.CLOSED}),
    PipelineStage.NEGOTIATING: frozenset({PipelineStage.SIGNED, PipelineStage.CLOSED}),
    PipelineStage.SIGNED: frozenset({PipelineStage.DELIVERED, PipelineStage.CLOSED}),
    PipelineStage.DELIVERED: frozenset(),
    PipelineStage.CLOSED: frozenset(),
}


def require_pipeline_transition(current: PipelineStage, target: PipelineStage) -> PipelineStage:
    """Returns `target` if the move is legal, else raises InvalidTransition."""
    if target not in PIPELINE_TRANSITIONS[current]:
        allowed = ", ".join(sorted(PIPELINE_TRANSITIONS[current])) or "none"
        raise InvalidTransition(
            msg(
                f"撮合流程不能从 `{current}` 进入 `{target}`；可进入：{allowed}",
                f"pipeline cannot move from {current} to {target}; allowed: {allowed}",
            ),
            field="stage",
            current=current.value,
            target=target.value,
        )
    return target


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(msg(f"`{name}` 须带时区", f"{name} must carry a time zone"), field=name)


@dataclass(frozen=True)
class StageChange:
    """Who moved a pair, from where to where, and when (time zone required)."""

    from_stage: PipelineStage
    to_stage: PipelineStage
    actor_id: str
    at: datetime

    def __post_init__(self) -> None:
        _require_text(self.actor_id, "actor_id", ID_CHARS_MAX, required=True)
        _require_aware(self.at, "at")


class PairingSide(StrEnum):
    OPPORTUNITY = "opportunity"
    CAPABILITY = "capability"


@dataclass(frozen=True)
class Pairing:
    """One opportunity-capability pair moving through the 对接 pipeline.

    Contact details are revealed only once both sides have consented; the stage history is
    append-only so the operator's per-stage counts can be rebuilt from it.
    """

    opportunity_id: str
    capability_id: str
    stage: PipelineStage = PipelineStage.RECOMMENDED
    history: tuple[StageChange, ...] = ()
    consents: frozenset[PairingSide] = field(default_factory=frozenset)

    def move(self, target: PipelineStage, *, actor_id: str, at: datetime) -> Pairing:
        """The pair after a legal move, with the change recorded; raises otherwise."""
        require_pipeline_transition(self.stage, target)
        if self.history and at < self.history[-1].at:
            raise InvalidInput(
                msg(
                    "阶段变更时间不能早于上一次变更",
                    "a stage change cannot predate the previous one",
                ),
                field="at",
            )
        change = StageChange(self.stage, target, actor_id, at)
        return replace(self, stage=target, history=(*self.history, change))

    def consent(self, side: PairingSide) -> Pairing:
        return replace(self, consents=self.consents | {side})

    @property
    def contacts_revealed(self) -> bool:
        return self.consents == frozenset(PairingSide)


class ChallengeState(StrEnum):
    """揭榜挂帅: posted (揭榜中), proposals reviewed, then awarded or cancelled."""

    DRAFT = "draft"  # 草稿
    OPEN = "open"  # 揭榜中
    REVIEWING = "reviewing"  # 评审中
    AWARDED = "awarded"  # 已授予
    CANCELLED = "cancelled"  # 已撤销


CHALLENGE_TRANSITIONS: Mapping[ChallengeState, frozenset[ChallengeState]] = {
    ChallengeState.DRAFT: frozenset({ChallengeState.OPEN, ChallengeState.CANCELLED}),
    ChallengeState.OPEN: frozenset({ChallengeState.REVIEWING, ChallengeState.CANCELLED}),
    ChallengeState.REVIEWING: frozenset({ChallengeState.AWARDED, ChallengeState.CANCELLED}),
    ChallengeState.AWARDED: frozenset(),
    ChallengeState.CANCELLED: frozenset(),
}


def require_challenge_transition(current: ChallengeState, target: ChallengeState) -> ChallengeState:
    """Returns `target` if the move is legal, else raises InvalidTransition."""
    if target not in CHALLENGE_TRANSITIONS[current]:
        raise InvalidTransition(
            msg(
                f"揭榜任务不能从 `{current}` 变为 `{target}`",
                f"challenge cannot move from {current} to {target}",
            ),
            field="state",
            current=current.value,
            target=target.value,
        )
    return target


@dataclass(frozen=True)
class Criterion:
    """One review criterion with its weight in percent."""

    name: str
    weight_percent: int


@dataclass(frozen=True, kw_only=True)
class Challenge:
    """A 揭榜挂帅 challenge built on an opportunity; the reward settles through the ledger."""

    id: str
    opportunity_id: str
    goal: str
    reward_fen: int
    deadline: date
    criteria: tuple[Criterion, ...]
    state: ChallengeState = ChallengeState.DRAFT

    def __post_init__(self) -> None:
        _require_id(self.id)
        _require_text(self.goal, "goal", DESCRIPTION_CHARS_MAX, required=True)
        check_date(self.deadline, "deadline")
        require_fen(self.reward_fen, field="reward_fen")
        if not self.criteria:
            raise InvalidInput(
                msg("揭榜任务至少需要一个评审指标", "a challenge needs at least one criterion"),
                field="criteria",
            )
        if any(c.weight_percent <= 0 for c in self.criteria):
            raise InvalidInput(
                msg("评审指标的权重须为正数", "criterion weights must be positive"),
                field="criteria",
            )
        if sum(c.weight_percent for c in self.criteria) != 100:
            raise InvalidInput(
                msg("评审指标的权重之和须为 100", "criterion weights must sum to 100"),
                field="criteria",
            )

    def moved_to(self, target: ChallengeState) -> Challenge:
        return replace(self, state=require_challenge_transition(self.state, target))
