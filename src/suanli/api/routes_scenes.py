"""The scenario exchange over HTTP: the two lists (CRUD, import, export, matches), the 对接
pipeline and 揭榜挂帅 challenges. Thin: parse, call one service in a retried unit of work,
render. Rules (who may do what) live in services/scenes.py and services/scenes_deals.py."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from suanli.adapters.db.ledger_repo import transact
from suanli.adapters.db.tables_scenes import (
    SceneChallengeRow,
    SceneOpportunityRow,
    SceneProposalRow,
    SceneReviewRow,
)
from suanli.adapters.matching.industry import industry_label
from suanli.api.deps import AppState, CurrentPrincipal, PageParams
from suanli.api.schemas import PageOf, Strict
from suanli.api.schemas_scenes import (
    AgencyTopUpPublic,
    CandidatePublic,
    CapabilityExtra,
    ChallengePublic,
    CriterionPublic,
    ImportProblemPublic,
    ImportPublic,
    ImportReportPublic,
    IndexStatusPublic,
    ItemPublic,
    ItemRef,
    MatchesPublic,
    OpportunityExtra,
    PairConsents,
    PairContacts,
    PairEventPublic,
    PairPublic,
    PipelineStatsPublic,
    ProposalPublic,
    ReviewPublic,
)
from suanli.api.types import CalendarDate, Fen, Line, Text
from suanli.domain.scenes import (
    INDUSTRY_FILTER_CHARS_MAX,
    TOP_K_MAX,
    PipelineStage,
    pipeline_stage_label,
)
from suanli.errors import InvalidInput
from suanli.i18n import msg
from suanli.services import scenes, scenes_deals
from suanli.services.common import PageResult, Principal
from suanli.services.scenes import ItemFilters, SceneMatcher, SceneRow

M = TypeVar("M")

router = APIRouter(prefix="/v1/scenes", tags=["scenes"])

Text200 = Annotated[Line, Field(max_length=200)]
Kind = Literal["opportunities", "capabilities"]
Status = Annotated[str, Field(pattern="^(open|matched|closed)$")]
# One query parameter for every list that filters by industry (the lists, export, storefront),
# so they accept the same names.
IndustryFilter = Annotated[
    str | None,
    Query(
        max_length=INDUSTRY_FILTER_CHARS_MAX,
        description=(
            "any name of one industry, case and spaces ignored: a GB/T 4754 code (C, 36, C36), "
            "its Chinese or English name (汽车制造业, automobiles), or a platform name or alias "
            "(智能制造, smart manufacturing, 银行); other words find the items labelled with "
            "them, as typed"
        ),
        examples=["智能制造"],
    ),
]
EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ItemFields(Strict):
    title: Line = Field(min_length=1, max_length=200, examples=["铝合金压铸件表面缺陷在线检测"])
    description: Text = Field(default="", max_length=5_000)
    industry: Line = Field(max_length=40, examples=["智能制造"])
    tags: list[Text200] = Field(default_factory=list, max_length=32)
    region: Line = Field(default="", max_length=200, examples=["宁波市北仑区"])
    org: Line = Field(default="", max_length=200, description="the 单位 as it is written")
    batch: int | None = Field(default=None, ge=1, le=10_000, description="第N批")
    status: Status = "open"
    contact: Line = Field(default="", max_length=500, description="shown after both consent")


class OpportunityCreate(ItemFields):
    id: Line | None = Field(default=None, max_length=64, description="the list's 编号")
    budget_fen: Fen | None = Field(default=None, ge=0)
    deadline: CalendarDate | None = None
    org_id: Line | None = Field(default=None, description="operator only")


class CapabilityCreate(ItemFields):
    id: Line | None = Field(default=None, max_length=64, description="the list's 编号")
    maturity: Line | None = Field(default=None, pattern="^(prototype|pilot|production)$")
    deployment_modes: list[Annotated[Line, Field(pattern="^(on_premise|cloud|edge|hybrid)$")]] = (
        Field(default_factory=list, max_length=4)
    )
    accelerators: list[Text200] = Field(default_factory=list, max_length=32)
    org_id: Line | None = Field(default=None, description="operator only")


class ItemUpdate(Strict):
    title: Line | None = Field(default=None, min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=5_000)
    industry: Line | None = Field(default=None, max_length=40)
    tags: list[Text200] | None = Field(default=None, max_length=32)
    region: Line | None = Field(default=None, max_length=200)
    org: Line | None = Field(default=None, max_length=200)
    batch: int | None = Field(default=None, ge=1, le=10_000)
    status: Status | None = None
    contact: Line | None = Field(default=None, max_length=500)
    budget_fen: Fen | None = Field(default=None, ge=0)
    deadline: CalendarDate | None = None
    maturity: Line | None = Field(default=None, pattern="^(prototype|pilot|production)$")
    accelerators: list[Text200] | None = Field(default=None, max_length=32)


class ImportCreate(Strict):
    kind: Kind
    filename: Line = Field(max_length=200, examples=["opportunities.csv"])
    content: Text | None = Field(default=None, description="CSV text (UTF-8)")
    content_base64: Line | None = Field(default=None, description="raw bytes: XLSX, GBK CSV")
    skip_invalid: bool = False
    batch: int | None = Field(default=None, ge=1, le=10_000, description="for rows without one")
    org_id: Line | None = Field(default=None, description="operator only: publish for them")


class PairCreate(Strict):
    opportunity_id: Line = Field(max_length=64)
    capability_id: Line = Field(max_length=64)
    score: float | None = Field(default=None, ge=0, le=1)
    why: Text = Field(default="", max_length=2_000)


class PairMove(Strict):
    stage: Line = Field(
        pattern="^(interested|negotiating|signed|delivered|closed)$", examples=["interested"]
    )


class CriterionCreate(Strict):
    name: Line = Field(min_length=1, max_length=200)
    weight_percent: int = Field(ge=1, le=100)


class ChallengeCreate(Strict):
    opportunity_id: Line = Field(max_length=64)
    goal: Text = Field(min_length=1, max_length=5_000)
    reward_fen: Fen = Field(gt=0)
    deadline: CalendarDate
    criteria: list[CriterionCreate] = Field(min_length=1, max_length=20)


class ProposalCreate(Strict):
    summary: Text = Field(min_length=1, max_length=10_000)
    capability_id: Line | None = Field(default=None, max_length=64)


class ReviewCreate(Strict):
    proposal_id: Line = Field(max_length=40)
    scores: dict[Line, Annotated[int, Field(ge=0, le=100)]] = Field(max_length=20)
    comment: Text = Field(default="", max_length=2_000)


class AgencyTopUp(Strict):
    amount_fen: Fen = Field(gt=0)
    external_reference: Line = Field(min_length=1, max_length=200, examples=["财政拨付-2025-017"])


class AwardCreate(Strict):
    proposal_id: Line = Field(max_length=40)


# ---------------------------------------------------------------- rendering


def item_public(row: SceneRow, caller: Principal) -> ItemPublic:
    extra: OpportunityExtra | CapabilityExtra
    if isinstance(row, SceneOpportunityRow):
        kind = "opportunities"
        extra = OpportunityExtra(budget_fen=row.budget_fen, deadline=row.deadline)
    else:
        kind = "capabilities"
        extra = CapabilityExtra.model_validate(
            {
                "maturity": row.maturity,
                "deployment_modes": row.deployment_modes,
                "accelerators": row.accelerators,
            }
        )
    current = row.vector is not None and row.vector_text_sha256 == row.text_sha256
    return ItemPublic(
        id=row.id,
        kind=kind,
        org_id=row.org_id,
        org=row.org_name,
        title=row.title,
        description=row.description,
        industry=industry_label(row.industry),
        tags=list(row.tags),
        region=row.region,
        batch=row.batch,
        status=row.status,
        contact=row.contact if scenes.can_see_contact(caller, row) else None,
        has_vector=current,
        extra=extra,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _page(result: PageResult[Any], convert: Callable[[Any], M]) -> PageOf[M]:
    items = [convert(item) for item in result.items]
    return PageOf[M](items=items, total=result.total, offset=result.offset, limit=result.limit)


def pair_public(view: scenes_deals.PairView) -> PairPublic:
    pair = view.pair
    contacts = view.contacts()
    return PairPublic(
        id=pair.id,
        opportunity=ItemRef(id=view.opportunity.id, title=view.opportunity.title),
        capability=ItemRef(id=view.capability.id, title=view.capability.title),
        stage=pair.stage,
        stage_label=pipeline_stage_label(PipelineStage(pair.stage)),
        score=pair.score,
        why=pair.why,
        consents=PairConsents(
            opportunity=pair.opportunity_consent_at, capability=pair.capability_consent_at
        ),
        contacts=PairContacts(**contacts) if contacts is not None else None,
        history=[
            PairEventPublic.model_validate(
                {"from": e.from_stage, "to": e.to_stage, "actor_id": e.actor_id, "at": e.at}
            )
            for e in view.history
        ],
    )


def challenge_public(row: SceneChallengeRow) -> ChallengePublic:
    return ChallengePublic(
        id=row.id,
        opportunity_id=row.opportunity_id,
        agency_id=row.agency_id,
        goal=row.goal,
        reward_fen=row.reward_fen,
        deadline=row.deadline,
        criteria=[CriterionPublic.model_validate(c) for c in row.criteria],
        state=row.state,
        hold_transfer_id=row.hold_transfer_id,
        winner_proposal_id=row.winner_proposal_id,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


def proposal_public(view: scenes_deals.ProposalView) -> ProposalPublic:
    proposal: SceneProposalRow = view.proposal
    return ProposalPublic(
        id=proposal.id,
        challenge_id=proposal.challenge_id,
        enterprise_id=proposal.enterprise_id,
        enterprise_name=view.enterprise_name,
        capability_id=proposal.capability_id,
        summary=proposal.summary,
        reviews=view.reviews,
        score=view.score,
        created_at=proposal.created_at,
    )


def review_public(row: SceneReviewRow) -> ReviewPublic:
    return ReviewPublic(
        id=row.id,
        proposal_id=row.proposal_id,
        reviewer_id=row.reviewer_id,
        scores=row.scores,
        score=row.total_centi / 100,
        comment=row.comment,
        created_at=row.created_at,
    )


def matcher_of(request: Request) -> SceneMatcher:
    """One matcher per API (its embedder loads on first use); tests may set their own."""
    state = request.app.state
    if getattr(state, "scene_matcher", None) is None:
        state.scene_matcher = SceneMatcher()
    matcher: SceneMatcher = state.scene_matcher
    return matcher


# ---------------------------------------------------------------- import and export


def _upload_bytes(body: ImportCreate) -> bytes:
    if (body.content is None) == (body.content_base64 is None):
        raise InvalidInput(
            msg(
                "`content` 和 `content_base64` 须且只能给一个",
                "give exactly one of content or content_base64",
            ),
            field="content",
        )
    if body.content is not None:
        return body.content.encode("utf-8")
    try:
        return base64.b64decode(body.content_base64 or "", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            msg("`content_base64` 不是有效的 Base64", "content_base64 is not valid base64"),
            field="content_base64",
        ) from None


@router.post("/import", status_code=201)
def import_items(body: ImportCreate, caller: CurrentPrincipal, app: AppState) -> ImportPublic:
    """All or nothing unless skip_invalid; the report lists every row, field and problem."""
    upload = (body.filename, _upload_bytes(body))
    result = transact(
        app.db,
        lambda session: scenes.import_items(
            session,
            app.clock,
            caller,
            scenes.require_kind(body.kind),
            upload,
            skip_invalid=body.skip_invalid,
            batch=body.batch,
            org_id=body.org_id,
        ),
    )
    report = result.report
    return ImportPublic(
        kind=result.kind,
        created=len(result.created),
        updated=len(result.updated),
        ids=[*result.created, *result.updated],
        report=ImportReportPublic(
            path=report.path,
            kind=report.kind,
            rows=report.rows,
            errors=len(report.errors),
            warnings=len(report.warnings),
            problems=[
                ImportProblemPublic(
                    row=p.row, field=p.field, severity=p.severity, problem=p.message
                )
                for p in report.problems
            ],
        ),
    )


@router.get("/export/{kind}", response_model=None)
def export_items(
    kind: Kind,
    caller: CurrentPrincipal,
    app: AppState,
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv",
    industry: IndustryFilter = None,
    status: Annotated[str | None, Query(pattern="^(open|matched|closed)$")] = None,
    batch: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> Response:
    filters = ItemFilters(industry=industry, status=status, batch=batch)
    fmt: scenes.ExportFormat = "xlsx" if format == "xlsx" else "csv"
    with app.db.session() as session:
        data = scenes.export_items(session, scenes.require_kind(kind), fmt, filters)
    disposition = f'attachment; filename="{kind}.{format}"'
    return Response(
        data, media_type=EXPORT_TYPES[format], headers={"Content-Disposition": disposition}
    )


# ---------------------------------------------------------------- 对接 pipeline


@router.post("/pairs", status_code=201)
def recommend_pair(body: PairCreate, caller: CurrentPrincipal, app: AppState) -> PairPublic:
    view = transact(
        app.db,
        lambda session: scenes_deals.recommend_pair(
            session,
            app.clock,
            caller,
            body.opportunity_id,
            body.capability_id,
            score=body.score,
            why=body.why,
        ),
    )
    return pair_public(view)


@router.get("/pairs")
def list_pairs(
    caller: CurrentPrincipal,
    app: AppState,
    page: PageParams,
    stage: Annotated[str | None, Query(max_length=20)] = None,
) -> PageOf[PairPublic]:
    wanted = _stage(stage) if stage is not None else None
    with app.db.session() as session:
        return _page(scenes_deals.list_pairs(session, caller, page, wanted), pair_public)


def _stage(text: str) -> PipelineStage:
    try:
        return PipelineStage(text)
    except ValueError:
        choices = ", ".join(stage.value for stage in PipelineStage)
        raise InvalidInput(
            msg(f"阶段须为以下之一：{choices}", f"stage must be one of {choices}"), field="stage"
        ) from None


@router.get("/pairs/{pair_id}")
def get_pair(pair_id: str, caller: CurrentPrincipal, app: AppState) -> PairPublic:
    with app.db.session() as session:
        return pair_public(scenes_deals.get_pair(session, caller, pair_id))


@router.post("/pairs/{pair_id}/stage")
def move_pair(pair_id: str, body: PairMove, caller: CurrentPrincipal, app: AppState) -> PairPublic:
    view = transact(
        app.db,
        lambda session: scenes_deals.move_pair(
            session, app.clock, caller, pair_id, _stage(body.stage)
        ),
    )
    return pair_public(view)


@router.post("/pairs/{pair_id}/consent")
def consent(pair_id: str, caller: CurrentPrincipal, app: AppState) -> PairPublic:
    view = transact(
        app.db, lambda session: scenes_deals.consent(session, app.clock, caller, pair_id)
    )
    return pair_public(view)


@router.get("/pipeline/stats")
def pipeline_stats(caller: CurrentPrincipal, app: AppState) -> PipelineStatsPublic:
    with app.db.session() as session:
        counts = scenes_deals.stage_counts(session, caller)
    labels = {stage.value: pipeline_stage_label(stage) for stage in PipelineStage}
    return PipelineStatsPublic(stages=counts, labels=labels, total=sum(counts.values()))


# ---------------------------------------------------------------- 揭榜挂帅 challenges


@router.post("/agencies/{agency_id}/top-ups", status_code=201)
def top_up_agency(
    agency_id: str, body: AgencyTopUp, caller: CurrentPrincipal, app: AppState, response: Response
) -> AgencyTopUpPublic:
    """The operator records an agency's payment into the wallet challenge rewards come from;
    the same `external_reference` again answers 200 with `already_recorded: true`."""
    transfer_id, already = transact(
        app.db,
        lambda session: scenes_deals.top_up_agency(
            session, app.clock, caller, agency_id, body.amount_fen, body.external_reference
        ),
    )
    if already:
        response.status_code = 200
    return AgencyTopUpPublic(
        transfer_id=transfer_id,
        agency_id=agency_id,
        amount_fen=body.amount_fen,
        already_recorded=already,
    )


@router.post("/challenges", status_code=201)
def post_challenge(
    body: ChallengeCreate, caller: CurrentPrincipal, app: AppState
) -> ChallengePublic:
    """An agency posts; the reward is held on its wallet in the same transaction."""
    values = body.model_dump()
    row = transact(
        app.db, lambda session: scenes_deals.post_challenge(session, app.clock, caller, values)
    )
    return challenge_public(row)


@router.get("/challenges")
def list_challenges(
    caller: CurrentPrincipal,
    app: AppState,
    page: PageParams,
    state: Annotated[str | None, Query(pattern="^(open|reviewing|awarded|cancelled)$")] = None,
) -> PageOf[ChallengePublic]:
    """A page of the challenges, newest first."""
    with app.db.session() as session:
        return _page(scenes_deals.list_challenges(session, page, state), challenge_public)


@router.get("/challenges/{challenge_id}")
def get_challenge(challenge_id: str, caller: CurrentPrincipal, app: AppState) -> ChallengePublic:
    with app.db.session() as session:
        return challenge_public(scenes_deals.get_challenge(session, challenge_id))


@router.post("/challenges/{challenge_id}/proposals", status_code=201)
def apply(
    challenge_id: str, body: ProposalCreate, caller: CurrentPrincipal, app: AppState
) -> ProposalPublic:
    def work(session: Any) -> scenes_deals.ProposalView:
        proposal = scenes_deals.apply(
            session, app.clock, caller, challenge_id, body.summary, body.capability_id
        )
        return scenes_deals.proposal_views(session, [proposal])[0]  # with its enterprise's name

    return proposal_public(transact(app.db, work))


@router.get("/challenges/{challenge_id}/proposals")
def list_proposals(
    challenge_id: str, caller: CurrentPrincipal, app: AppState, page: PageParams
) -> PageOf[ProposalPublic]:
    """A page of the proposals, in the order they came in, with their review scores."""
    with app.db.session() as session:
        result = scenes_deals.list_proposals(session, caller, challenge_id, page)
        return _page(result, proposal_public)


@router.post("/challenges/{challenge_id}/reviews", status_code=201)
def review(
    challenge_id: str, body: ReviewCreate, caller: CurrentPrincipal, app: AppState
) -> ReviewPublic:
    row = transact(
        app.db,
        lambda session: scenes_deals.review(
            session, app.clock, caller, challenge_id, body.proposal_id, body.scores, body.comment
        ),
    )
    return review_public(row)


@router.post("/challenges/{challenge_id}/award")
def award(
    challenge_id: str, body: AwardCreate, caller: CurrentPrincipal, app: AppState
) -> ChallengePublic:
    """Posts the hold and pays the winner's wallet in one ledger batch."""
    row = transact(
        app.db,
        lambda session: scenes_deals.award(
            session, app.clock, caller, challenge_id, body.proposal_id
        ),
    )
    return challenge_public(row)


@router.post("/challenges/{challenge_id}/cancel")
def cancel(challenge_id: str, caller: CurrentPrincipal, app: AppState) -> ChallengePublic:
    row = transact(
        app.db, lambda session: scenes_deals.cancel(session, app.clock, caller, challenge_id)
    )
    return challenge_public(row)


# ---------------------------------------------------------------- the two lists (last: `/{kind}`
# would otherwise shadow /pairs, /challenges and /export)


def _create(app: AppState, caller: Principal, kind: scenes.ItemKind, body: Any) -> ItemPublic:
    values = body.model_dump(exclude={"contact", "org_id"}, exclude_none=True)
    row = transact(
        app.db,
        lambda session: scenes.create_item(
            session, app.clock, caller, kind, values, contact=body.contact, org_id=body.org_id
        ),
    )
    return item_public(row, caller)


@router.post("/opportunities", status_code=201)
def create_opportunity(
    body: OpportunityCreate, caller: CurrentPrincipal, app: AppState
) -> ItemPublic:
    return _create(app, caller, "opportunities", body)


@router.post("/capabilities", status_code=201)
def create_capability(
    body: CapabilityCreate, caller: CurrentPrincipal, app: AppState
) -> ItemPublic:
    return _create(app, caller, "capabilities", body)


def _list(
    app: AppState, caller: Principal, kind: scenes.ItemKind, page: Any, filters: ItemFilters
) -> PageOf[ItemPublic]:
    with app.db.session() as session:
        result = scenes.list_items(session, kind, page, filters)
        return _page(result, lambda row: item_public(row, caller))


@router.get("/{kind}")
def list_items(
    kind: Kind,
    caller: CurrentPrincipal,
    app: AppState,
    page: PageParams,
    industry: IndustryFilter = None,
    status: Annotated[str | None, Query(pattern="^(open|matched|closed)$")] = None,
    batch: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    org_id: Annotated[str | None, Query(max_length=40)] = None,
) -> PageOf[ItemPublic]:
    filters = ItemFilters(industry=industry, status=status, batch=batch, org_id=org_id)
    return _list(app, caller, scenes.require_kind(kind), page, filters)


@router.get("/{kind}/{item_id}")
def get_item(kind: Kind, item_id: str, caller: CurrentPrincipal, app: AppState) -> ItemPublic:
    with app.db.session() as session:
        return item_public(scenes.get_row(session, scenes.require_kind(kind), item_id), caller)


@router.patch("/{kind}/{item_id}")
def update_item(
    kind: Kind, item_id: str, body: ItemUpdate, caller: CurrentPrincipal, app: AppState
) -> ItemPublic:
    changes = body.model_dump(exclude_unset=True)
    if None in changes.values():
        field = next(name for name, value in changes.items() if value is None)
        raise InvalidInput(
            msg(f"`{field}` 不能设为空值", f"{field} cannot be set to null"), field=field
        )
    row = transact(
        app.db,
        lambda session: scenes.update_item(
            session, app.clock, caller, scenes.require_kind(kind), item_id, dict(changes)
        ),
    )
    return item_public(row, caller)


@router.delete("/{kind}/{item_id}", status_code=204)
def delete_item(kind: Kind, item_id: str, caller: CurrentPrincipal, app: AppState) -> Response:
    transact(
        app.db,
        lambda session: scenes.delete_item(
            session, app.clock, caller, scenes.require_kind(kind), item_id
        ),
    )
    return Response(status_code=204)


@router.get("/{kind}/{item_id}/matches")
def matches(
    kind: Kind,
    item_id: str,
    request: Request,
    caller: CurrentPrincipal,
    app: AppState,
    top: Annotated[int, Query(ge=1, le=TOP_K_MAX)] = 10,
) -> MatchesPublic:
    """The best open items of the other list, each with a score and an explanation."""
    matcher = matcher_of(request)
    found = transact(
        app.db,
        lambda session: scenes.match_stored(
            session, matcher, scenes.require_kind(kind), item_id, top
        ),
    )
    return MatchesPublic(
        id=found.id,
        mode=found.mode,
        warning=found.warning,
        embedded=found.embedded,
        index_status=IndexStatusPublic(
            built=found.index.built,
            items=found.index.items,
            embedded=found.index.embedded,
            seconds=round(found.index.seconds, 3),
        ),
        candidates=[
            CandidatePublic(id=c.id, title=row.title, org=row.org_name, score=c.score, why=c.why)
            for c, row in found.candidates
        ],
    )
