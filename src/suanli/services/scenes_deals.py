"""What follows a match: the 对接 pipeline of one pair, and 揭榜挂帅 challenges whose reward
settles through the ledger.

Pipeline rules (the domain's state machine, plus who may move):
- a pair is recommended (推荐) by the operator or by the owner of either side;
- the owner of either side, or the operator, moves it one stage forward or closes it (终止);
- talks need contacts: moving to 洽谈 (negotiating) or beyond needs both sides' consent;
- contacts are shown to the two parties and the operator only once both sides consented.

Challenge rules: an agency posts one on its own opportunity, and the reward is held on its
wallet at once (PENDING); enterprises apply while it is open and before the deadline; the
first review closes applications (open -> reviewing); reviewers are the operator and the
posting agency; the agency awards a reviewed proposal, which posts the hold and pays the
winner's wallet; cancelling voids the hold. Transfer ids derive from the challenge id, so a
retried award or cancel is a replay, never a second payment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from suanli.adapters.db.ledger_repo import AccountSpec
from suanli.adapters.db.tables import OrganisationRow
from suanli.adapters.db.tables_scenes import (
    SceneCapabilityRow,
    SceneChallengeRow,
    SceneOpportunityRow,
    ScenePairEventRow,
    ScenePairRow,
    SceneProposalRow,
    SceneReviewRow,
)
from suanli.domain.calendar import beijing_date
from suanli.domain.ledger import (
    AccountKind,
    InsufficientFunds,
    TransferCode,
    TransferFlags,
    TransferRequest,
    UnknownAccount,
    require_amount,
)
from suanli.domain.scenes import (
    Challenge,
    ChallengeState,
    Criterion,
    PipelineStage,
    require_challenge_transition,
    require_pipeline_transition,
)
from suanli.domain.text import is_blank
from suanli.errors import Conflict, InvalidInput, InvalidTransition, NotFound, PermissionDenied
from suanli.i18n import msg
from suanli.services import ledger, organisations
from suanli.services.common import Clock, Page, PageResult, Principal, audit, new_id, paginate
from suanli.services.scenes import get_row

STAGES_NEEDING_CONSENT = frozenset(
    {PipelineStage.NEGOTIATING, PipelineStage.SIGNED, PipelineStage.DELIVERED}
)
PROPOSAL_CHARS_MAX = 10_000
COMMENT_CHARS_MAX = 2_000
SCORE_MAX = 100
# The ledger memos of a challenge's money, stored as these codes (a replay compares them) and
# worded in the reader's language when read (`MEMO_WORDS`, the API's statements).
REWARD_FUNDS_MEMO = "揭榜挂帅 reward funds"
REWARD_HOLD_MEMO = "揭榜挂帅 reward hold"
REWARD_MEMO = "揭榜挂帅 reward"
MEMO_WORDS = {
    REWARD_FUNDS_MEMO: msg("揭榜挂帅奖金拨付", "challenge reward funds"),
    REWARD_HOLD_MEMO: msg("揭榜挂帅奖金冻结", "challenge reward hold"),
    REWARD_MEMO: msg("揭榜挂帅奖金", "challenge reward"),
}


# ---------------------------------------------------------------- 对接 pipeline


@dataclass(frozen=True)
class PairView:
    pair: ScenePairRow
    opportunity: SceneOpportunityRow
    capability: SceneCapabilityRow
    history: tuple[ScenePairEventRow, ...]

    @property
    def contacts_revealed(self) -> bool:
        return bool(self.pair.opportunity_consent_at and self.pair.capability_consent_at)

    def contacts(self) -> dict[str, str] | None:
        if not self.contacts_revealed:
            return None
        return {"opportunity": self.opportunity.contact, "capability": self.capability.contact}


def _sides(
    caller: Principal, opportunity: SceneOpportunityRow, capability: SceneCapabilityRow
) -> set[str]:
    """The sides of a pair the caller's organisation owns (both when it owns both items)."""
    owned: set[str] = set()
    if opportunity.org_id == caller.org_id:
        owned.add("opportunity")
    if capability.org_id == caller.org_id:
        owned.add("capability")
    return owned


def _view(session: Session, pair: ScenePairRow) -> PairView:
    opportunity = session.get(SceneOpportunityRow, pair.opportunity_id)
    capability = session.get(SceneCapabilityRow, pair.capability_id)
    if opportunity is None or capability is None:  # foreign keys make this unreachable
        raise NotFound(
            msg(f"配对 {pair.id} 的一方条目已不存在", f"pair {pair.id} lost an item"), field="id"
        )
    events = session.scalars(
        select(ScenePairEventRow)
        .where(ScenePairEventRow.pair_id == pair.id)
        .order_by(ScenePairEventRow.id)
    )
    return PairView(pair, opportunity, capability, tuple(events))


def get_pair(session: Session, caller: Principal, pair_id: str) -> PairView:
    """Visible to the two parties and the operator; anyone else gets NotFound."""
    pair = session.get(ScenePairRow, pair_id)
    if pair is None:
        raise NotFound(msg(f"没有配对 {pair_id!r}", f"no pair {pair_id!r}"), field="id")
    view = _view(session, pair)
    if not caller.is_operator and not _sides(caller, view.opportunity, view.capability):
        raise NotFound(msg(f"没有配对 {pair_id!r}", f"no pair {pair_id!r}"), field="id")
    return view


def _record(
    session: Session, clock: Clock, caller: Principal, pair: ScenePairRow, before: str | None
) -> None:
    session.add(
        ScenePairEventRow(
            pair_id=pair.id,
            from_stage=before,
            to_stage=pair.stage,
            actor_id=caller.user_id,
            actor_org_id=caller.org_id,
            at=clock.now(),
        )
    )


def recommend_pair(
    session: Session,
    clock: Clock,
    caller: Principal,
    opportunity_id: str,
    capability_id: str,
    *,
    score: float | None = None,
    why: str = "",
) -> PairView:
    """Starts a pair at 推荐; by the operator or an owner of either side; one per pair."""
    opportunity = cast(SceneOpportunityRow, get_row(session, "opportunities", opportunity_id))
    capability = cast(SceneCapabilityRow, get_row(session, "capabilities", capability_id))
    if not caller.is_operator and not _sides(caller, opportunity, capability):
        raise PermissionDenied(
            msg(
                "只有平台运营方或任一方的所有者可以推荐配对",
                "only the operator or an owner of either side recommends a pair",
            ),
            field="organisation",
        )
    exists = select(ScenePairRow.id).where(
        ScenePairRow.opportunity_id == opportunity_id, ScenePairRow.capability_id == capability_id
    )
    if session.scalar(exists) is not None:
        raise Conflict(
            msg("这个配对已在撮合流程中", "this pair is already in the pipeline"),
            field="capability_id",
        )
    now = clock.now()
    pair = ScenePairRow(
        id=new_id("pair"),
        opportunity_id=opportunity_id,
        capability_id=capability_id,
        stage=PipelineStage.RECOMMENDED.value,
        score=score,
        why=why[:COMMENT_CHARS_MAX],
        created_by=caller.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(pair)
    session.flush()
    _record(session, clock, caller, pair, None)
    audit(
        session, clock, caller, "scenes.pair.recommend", pair.id,
        about_org=_counterpart(caller, opportunity, capability),
    )  # fmt: skip
    return _view(session, pair)


def move_pair(
    session: Session, clock: Clock, caller: Principal, pair_id: str, target: PipelineStage
) -> PairView:
    """One legal step (or 终止), recorded with who and when."""
    view = get_pair(session, caller, pair_id)
    pair = view.pair
    require_pipeline_transition(PipelineStage(pair.stage), target)
    if target in STAGES_NEEDING_CONSENT and not view.contacts_revealed:
        raise InvalidTransition(
            msg(
                f"进入 `{target}` 阶段需要双方都同意交换联系方式",
                f"moving to {target} needs both sides' consent to share contacts",
            ),
            field="stage",
            current=pair.stage,
            target=target.value,
        )
    before, pair.stage, pair.updated_at = pair.stage, target.value, clock.now()
    _record(session, clock, caller, pair, before)
    session.flush()
    audit(
        session, clock, caller, "scenes.pair.move", pair.id,
        about_org=_counterpart(caller, view.opportunity, view.capability), to=target.value,
    )  # fmt: skip
    return _view(session, pair)


def consent(session: Session, clock: Clock, caller: Principal, pair_id: str) -> PairView:
    """The caller's side(s) agree to share contacts; only a party can consent."""
    view = get_pair(session, caller, pair_id)
    sides = _sides(caller, view.opportunity, view.capability)
    if not sides:
        raise PermissionDenied(
            msg(
                "只有配对双方可以同意交换联系方式",
                "only the two parties consent to share their contacts",
            ),
            field="organisation",
        )
    now = clock.now()
    if "opportunity" in sides and view.pair.opportunity_consent_at is None:
        view.pair.opportunity_consent_at = now
    if "capability" in sides and view.pair.capability_consent_at is None:
        view.pair.capability_consent_at = now
    session.flush()
    audit(
        session, clock, caller, "scenes.pair.consent", pair_id,
        about_org=_counterpart(caller, view.opportunity, view.capability), sides=sorted(sides),
    )  # fmt: skip
    return _view(session, view.pair)


def _counterpart(
    caller: Principal, opportunity: SceneOpportunityRow, capability: SceneCapabilityRow
) -> str | None:
    """The audit entry's other organisation, so the other side of the pair reads it too: the
    side the caller does not own; none when it owns both; when the operator acts, the
    opportunity's owner (an entry names one organisation besides the actor's)."""
    sides = _sides(caller, opportunity, capability)
    if sides == {"opportunity"}:
        return capability.org_id
    if sides == {"capability"}:
        return opportunity.org_id
    return None if sides else opportunity.org_id


def _visible_pairs(caller: Principal) -> Select[Any]:
    query = select(ScenePairRow).order_by(ScenePairRow.created_at.desc(), ScenePairRow.id.desc())
    if caller.is_operator:
        return query
    return (
        query.join(SceneOpportunityRow, SceneOpportunityRow.id == ScenePairRow.opportunity_id)
        .join(SceneCapabilityRow, SceneCapabilityRow.id == ScenePairRow.capability_id)
        .where(
            or_(
                SceneOpportunityRow.org_id == caller.org_id,
                SceneCapabilityRow.org_id == caller.org_id,
            )
        )
    )


def list_pairs(
    session: Session, caller: Principal, page: Page, stage: PipelineStage | None = None
) -> PageResult[PairView]:
    """Newest first, so a pair just recommended is on the first page."""
    query = _visible_pairs(caller)
    if stage is not None:
        query = query.where(ScenePairRow.stage == stage.value)
    result = paginate(session, query, page)
    views = [_view(session, pair) for pair in result.items]
    return PageResult(views, result.total, result.offset, result.limit)


def stage_counts(session: Session, caller: Principal) -> dict[str, int]:
    """Pairs per stage, every stage listed (zeros included); the operator's view."""
    if not caller.is_operator:
        raise PermissionDenied(
            msg("撮合流程统计仅供平台运营方查看", "pipeline statistics are for the operator"),
            field="organisation",
        )
    counts = Counter(session.scalars(select(ScenePairRow.stage)))
    return {stage.value: counts.get(stage.value, 0) for stage in PipelineStage}


# ---------------------------------------------------------------- 揭榜挂帅 challenges


def top_up_agency(
    session: Session,
    clock: Clock,
    caller: Principal,
    agency_id: str,
    amount_fen: int,
    external_reference: str,
) -> tuple[str, bool]:
    """The operator records money an agency paid in for challenge rewards: external -> the
    agency's wallet. `wallets.top_up` serves enterprises only; the reference makes a replay
    one transfer. Returns the transfer id, and whether the reference was already recorded."""
    if not caller.is_operator:
        raise PermissionDenied(
            msg("由平台运营方登记主管部门的充值", "the operator records agency top-ups"),
            field="organisation",
        )
    org = session.get(OrganisationRow, agency_id)
    if org is None or org.kind != "agency":
        raise NotFound(
            msg(f"没有主管部门 {agency_id!r}", f"no agency {agency_id!r}"), field="agency_id"
        )
    if is_blank(external_reference):
        raise InvalidInput(
            msg("`external_reference` 不能为空", "external_reference must not be empty"),
            field="external_reference",
        )
    request = TransferRequest(
        id=ledger.derived_transfer_id("agency-topup", agency_id, external_reference),
        amount_fen=require_amount(amount_fen),
        code=TransferCode.TOP_UP,
        debit_account_id=ledger.EXTERNAL_ACCOUNT_ID,
        credit_account_id=ledger.wallet_id(agency_id),
        reference=external_reference,
        memo=REWARD_FUNDS_MEMO,
    )
    ledger.ensure_account(session, clock, AccountSpec(AccountKind.ENTERPRISE_WALLET, agency_id))
    transfer, replayed = ledger.submit_referenced_once(
        session, clock, request, ledger.wallet_id(agency_id)
    )
    if not replayed:
        audit(
            session, clock, caller, "scenes.agency.top_up", transfer.id, about_org=agency_id,
            amount_fen=amount_fen,
        )  # fmt: skip
    return transfer.id, replayed


def hold_transfer_id(challenge_id: str) -> str:
    return f"challenge:{challenge_id}:hold"


def _require_agency(caller: Principal) -> None:
    """Only an agency posts: the reward comes out of its own wallet (the operator has none)."""
    if caller.org_kind != "agency":
        raise PermissionDenied(
            msg("揭榜挂帅任务由主管部门发布", "challenges are posted by agencies"),
            field="organisation",
        )


def _criteria(raw: list[dict[str, Any]]) -> tuple[Criterion, ...]:
    criteria = tuple(Criterion(str(c["name"]), int(c["weight_percent"])) for c in raw)
    names = [c.name for c in criteria]
    if len(set(names)) != len(names) or not all(name.strip() for name in names):
        raise InvalidInput(
            msg(
                "评审指标名称不能为空，也不能重复", "criterion names must be non-empty and distinct"
            ),
            field="criteria",
        )
    return criteria


def post_challenge(
    session: Session, clock: Clock, caller: Principal, values: dict[str, Any]
) -> SceneChallengeRow:
    """Validates (domain rules), then holds the reward on the agency's wallet in the same
    transaction: a challenge without funds is never posted."""
    _require_agency(caller)
    opportunity = get_row(session, "opportunities", str(values["opportunity_id"]))
    if opportunity.org_id != caller.org_id:
        raise NotFound(
            msg(
                f"你没有编号为 {opportunity.id!r} 的需求",
                f"no opportunity {opportunity.id!r} of yours",
            ),
            field="opportunity_id",
        )
    challenge_id = new_id("chl")
    challenge = Challenge(
        id=challenge_id,
        opportunity_id=opportunity.id,
        goal=str(values["goal"]),
        reward_fen=values["reward_fen"],
        deadline=values["deadline"],
        criteria=_criteria(values["criteria"]),
    ).moved_to(ChallengeState.OPEN)
    if challenge.deadline <= beijing_date(clock.now()):
        raise InvalidInput(
            msg("截止日期须晚于今天", "deadline must be after today"), field="deadline"
        )
    row = SceneChallengeRow(
        id=challenge_id,
        opportunity_id=opportunity.id,
        agency_id=caller.org_id,
        goal=challenge.goal,
        reward_fen=challenge.reward_fen,
        deadline=challenge.deadline,
        criteria=[c.__dict__ for c in challenge.criteria],
        state=challenge.state.value,
        hold_transfer_id=hold_transfer_id(challenge_id),
        created_by=caller.user_id,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    _hold_reward(session, clock, row)
    audit(session, clock, caller, "scenes.challenge.post", row.id, reward_fen=row.reward_fen)
    return row


def _hold_reward(session: Session, clock: Clock, row: SceneChallengeRow) -> None:
    """Holds the reward; a short wallet names `reward_fen`, the field the agency asked for
    (the ledger's own error names its `amount_fen`, which no challenge request has)."""
    wallet = ledger.wallet_id(row.agency_id)
    try:
        ledger.submit(session, clock, [_hold_request(row)])
    except UnknownAccount as error:
        if error.account_id != wallet:
            raise
        short = InsufficientFunds(wallet, row.reward_fen)  # never topped up
        short.field = "reward_fen"
        raise short from error
    except InsufficientFunds as error:
        if error.account_id != wallet:
            raise
        error.field = "reward_fen"
        raise


def _hold_request(row: SceneChallengeRow) -> TransferRequest:
    return TransferRequest(
        id=row.hold_transfer_id,
        amount_fen=row.reward_fen,
        code=TransferCode.TRANSFER,
        debit_account_id=ledger.wallet_id(row.agency_id),
        credit_account_id=ledger.CLEARING_ACCOUNT_ID,
        flags=TransferFlags.PENDING,
        reference=row.id,
        memo=REWARD_HOLD_MEMO,
    )


def get_challenge(session: Session, challenge_id: str) -> SceneChallengeRow:
    """Challenges are public (enterprises must find them to apply)."""
    row = session.get(SceneChallengeRow, challenge_id)
    if row is None:
        raise NotFound(
            msg(f"没有揭榜任务 {challenge_id!r}", f"no challenge {challenge_id!r}"), field="id"
        )
    return row


def list_challenges(session: Session, page: Page, state: str | None = None) -> PageResult[Any]:
    """Newest first, so a challenge just posted is on the first page."""
    query = select(SceneChallengeRow).order_by(
        SceneChallengeRow.created_at.desc(), SceneChallengeRow.id.desc()
    )
    if state is not None:
        query = query.where(SceneChallengeRow.state == ChallengeState(state).value)
    return paginate(session, query, page)


def apply(
    session: Session,
    clock: Clock,
    caller: Principal,
    challenge_id: str,
    summary: str,
    capability_id: str | None = None,
) -> SceneProposalRow:
    """An enterprise's proposal, while the challenge is open and not past its deadline."""
    if caller.org_kind != "enterprise":
        raise PermissionDenied(
            msg("只有企业可以揭榜", "enterprises apply to challenges"), field="organisation"
        )
    row = get_challenge(session, challenge_id)
    if row.state != ChallengeState.OPEN.value or beijing_date(clock.now()) > row.deadline:
        raise Conflict(
            msg("这个揭榜任务当前不接受方案", "the challenge is not open for proposals"),
            field="state",
            state=row.state,
        )
    if is_blank(summary) or len(summary) > PROPOSAL_CHARS_MAX:
        raise InvalidInput(
            msg(
                f"方案摘要须为 1..{PROPOSAL_CHARS_MAX} 个字符",
                f"summary: 1..{PROPOSAL_CHARS_MAX} characters",
            ),
            field="summary",
        )
    if capability_id is not None:
        capability = get_row(session, "capabilities", capability_id)
        if capability.org_id != caller.org_id:
            raise NotFound(
                msg(
                    f"你没有编号为 {capability_id!r} 的能力",
                    f"no capability {capability_id!r} of yours",
                ),
                field="capability_id",
            )
    if session.scalar(_proposal_of(challenge_id, caller.org_id)) is not None:
        raise Conflict(
            msg(
                "每家企业对每个揭榜任务只能提交一份方案",
                "one proposal per enterprise per challenge",
            ),
            field="challenge_id",
        )
    proposal = SceneProposalRow(
        id=new_id("prop"),
        challenge_id=challenge_id,
        enterprise_id=caller.org_id,
        capability_id=capability_id,
        summary=summary,
        created_by=caller.user_id,
        created_at=clock.now(),
    )
    session.add(proposal)
    session.flush()
    audit(
        session, clock, caller, "scenes.challenge.apply", proposal.id,
        about_org=get_challenge(session, challenge_id).agency_id, challenge_id=challenge_id,
    )  # fmt: skip
    return proposal


def _proposal_of(challenge_id: str, org_id: str) -> Select[Any]:
    return select(SceneProposalRow.id).where(
        SceneProposalRow.challenge_id == challenge_id, SceneProposalRow.enterprise_id == org_id
    )


@dataclass(frozen=True)
class ProposalView:
    proposal: SceneProposalRow
    reviews: int
    score: float | None  # mean weighted score (0..100) of its reviews
    enterprise_name: str = ""  # the proposing enterprise's (proposal_views fills it in)


def list_proposals(
    session: Session, caller: Principal, challenge_id: str, page: Page
) -> PageResult[ProposalView]:
    """A page of the proposals, in the order they came in: all of them for the agency and the
    operator; an enterprise sees its own."""
    row = get_challenge(session, challenge_id)
    query = select(SceneProposalRow).where(SceneProposalRow.challenge_id == challenge_id)
    if not (caller.is_operator or caller.org_id == row.agency_id):
        query = query.where(SceneProposalRow.enterprise_id == caller.org_id)
    query = query.order_by(SceneProposalRow.created_at, SceneProposalRow.id)
    result = paginate(session, query, page)
    return PageResult(
        proposal_views(session, result.items), result.total, result.offset, result.limit
    )


def proposal_views(session: Session, proposals: Sequence[SceneProposalRow]) -> list[ProposalView]:
    """The proposals with their reviews' score and their enterprises' names (one query for
    the names of them all)."""
    names = organisations.names(session, (proposal.enterprise_id for proposal in proposals))
    return [
        replace(
            _proposal_view(session, proposal), enterprise_name=names.get(proposal.enterprise_id, "")
        )
        for proposal in proposals
    ]


def _proposal_view(session: Session, proposal: SceneProposalRow) -> ProposalView:
    totals = list(
        session.scalars(
            select(SceneReviewRow.total_centi).where(SceneReviewRow.proposal_id == proposal.id)
        )
    )
    score = round(sum(totals) / len(totals) / 100, 2) if totals else None
    return ProposalView(proposal, len(totals), score)


def _require_reviewer(caller: Principal, row: SceneChallengeRow) -> None:
    if not (caller.is_operator or caller.org_id == row.agency_id):
        raise PermissionDenied(
            msg(
                "评审人只能是平台运营方和发布任务的主管部门",
                "reviewers are the operator and the posting agency",
            ),
            field="organisation",
        )


def _proposal(session: Session, row: SceneChallengeRow, proposal_id: str) -> SceneProposalRow:
    proposal = session.get(SceneProposalRow, proposal_id)
    if proposal is None or proposal.challenge_id != row.id:
        raise NotFound(
            msg(
                f"这个揭榜任务没有方案 {proposal_id!r}",
                f"no proposal {proposal_id!r} on this challenge",
            ),
            field="proposal_id",
        )
    return proposal


def weighted_total_centi(criteria: list[dict[str, Any]], scores: dict[str, int]) -> int:
    """sum(score × weight%) over the criteria; every criterion scored 0..100, no extras."""
    names = {str(c["name"]) for c in criteria}
    if set(scores) != names:
        raise InvalidInput(
            msg(
                f"评分须恰好覆盖这些指标：{'、'.join(sorted(names))}",
                f"scores must cover exactly: {', '.join(sorted(names))}",
            ),
            field="scores",
        )
    for name, score in scores.items():
        if not 0 <= score <= SCORE_MAX:
            raise InvalidInput(
                msg(
                    f"`{name}` 的评分须为 0..{SCORE_MAX}",
                    f"score for {name} must be 0..{SCORE_MAX}",
                ),
                field="scores",
            )
    return sum(scores[str(c["name"])] * int(c["weight_percent"]) for c in criteria)


def review(
    session: Session,
    clock: Clock,
    caller: Principal,
    challenge_id: str,
    proposal_id: str,
    scores: dict[str, int],
    comment: str = "",
) -> SceneReviewRow:
    """One review per reviewer per proposal; the first review closes applications."""
    row = get_challenge(session, challenge_id)
    _require_reviewer(caller, row)
    if row.state == ChallengeState.OPEN.value:
        row.state = require_challenge_transition(
            ChallengeState.OPEN, ChallengeState.REVIEWING
        ).value
    if row.state != ChallengeState.REVIEWING.value:
        raise Conflict(
            msg(
                f"状态为 `{row.state}` 的揭榜任务不接受评审",
                f"a {row.state} challenge takes no reviews",
            ),
            field="state",
        )
    proposal = _proposal(session, row, proposal_id)
    if len(comment) > COMMENT_CHARS_MAX:
        raise InvalidInput(
            msg(
                f"评语超过 {COMMENT_CHARS_MAX} 个字符",
                f"comment is longer than {COMMENT_CHARS_MAX}",
            ),
            field="comment",
        )
    taken = select(SceneReviewRow.id).where(
        SceneReviewRow.proposal_id == proposal.id, SceneReviewRow.reviewer_id == caller.user_id
    )
    if session.scalar(taken) is not None:
        raise Conflict(
            msg("你已评审过这份方案", "you already reviewed this proposal"), field="proposal_id"
        )
    entry = SceneReviewRow(
        proposal_id=proposal.id,
        reviewer_id=caller.user_id,
        reviewer_org_id=caller.org_id,
        scores=dict(scores),
        total_centi=weighted_total_centi(row.criteria, scores),
        comment=comment,
        created_at=clock.now(),
    )
    session.add(entry)
    session.flush()
    audit(
        session, clock, caller, "scenes.challenge.review", proposal.id,
        about_org=row.agency_id, total_centi=entry.total_centi,
    )  # fmt: skip
    return entry


def award(
    session: Session, clock: Clock, caller: Principal, challenge_id: str, proposal_id: str
) -> SceneChallengeRow:
    """The posting agency awards a reviewed proposal: the hold is posted and the reward paid
    to the winner's wallet, in one ledger batch."""
    row = get_challenge(session, challenge_id)
    if caller.org_id != row.agency_id:
        raise PermissionDenied(
            msg(
                "只有发布任务的主管部门可以确定中标方案",
                "only the posting agency awards its challenge",
            ),
            field="organisation",
        )
    require_challenge_transition(ChallengeState(row.state), ChallengeState.AWARDED)
    proposal = _proposal(session, row, proposal_id)
    if _proposal_view(session, proposal).reviews == 0:
        raise Conflict(
            msg("方案须先经评审才能中标", "award a proposal only after it was reviewed"),
            field="proposal_id",
        )
    winner = ledger.ensure_account(
        session, clock, AccountSpec(AccountKind.ENTERPRISE_WALLET, proposal.enterprise_id)
    )
    ledger.submit(session, clock, _award_requests(row, winner.id))
    row.state, row.winner_proposal_id = ChallengeState.AWARDED.value, proposal.id
    row.decided_at = clock.now()
    audit(
        session, clock, caller, "scenes.challenge.award", row.id,
        about_org=proposal.enterprise_id, proposal_id=proposal.id,
        winner_org_id=proposal.enterprise_id, amount_fen=row.reward_fen,
    )  # fmt: skip
    return row


def _award_requests(row: SceneChallengeRow, winner_wallet: str) -> list[TransferRequest]:
    # Posts first: clearing receives the reward before it pays the winner (one atomic batch).
    return [
        TransferRequest(
            id=f"challenge:{row.id}:capture",
            amount_fen=row.reward_fen,
            code=TransferCode.TRANSFER,
            flags=TransferFlags.POST_PENDING,
            pending_id=row.hold_transfer_id,
            reference=row.id,
        ),
        TransferRequest(
            id=f"challenge:{row.id}:reward",
            amount_fen=row.reward_fen,
            code=TransferCode.TRANSFER,
            debit_account_id=ledger.CLEARING_ACCOUNT_ID,
            credit_account_id=winner_wallet,
            reference=row.id,
            memo=REWARD_MEMO,
        ),
    ]


def cancel(
    session: Session, clock: Clock, caller: Principal, challenge_id: str
) -> SceneChallengeRow:
    """The agency (or the operator) cancels; the reward hold is voided, nothing is paid."""
    row = get_challenge(session, challenge_id)
    if not (caller.is_operator or caller.org_id == row.agency_id):
        # The challenge is public, so hiding it behind a 404 would only mislead; award and
        # review refuse the same way.
        raise PermissionDenied(
            msg(
                "只有发布任务的主管部门可以撤销任务",
                "only the posting agency cancels its challenge",
            ),
            field="organisation",
        )
    require_challenge_transition(ChallengeState(row.state), ChallengeState.CANCELLED)
    void = TransferRequest(
        id=f"challenge:{row.id}:void",
        amount_fen=0,
        code=TransferCode.TRANSFER,
        flags=TransferFlags.VOID_PENDING,
        pending_id=row.hold_transfer_id,
        reference=row.id,
    )
    ledger.submit(session, clock, [void])
    row.state, row.decided_at = ChallengeState.CANCELLED.value, clock.now()
    audit(session, clock, caller, "scenes.challenge.cancel", row.id, about_org=row.agency_id)
    return row
