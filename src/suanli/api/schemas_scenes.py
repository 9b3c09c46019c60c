"""Response bodies of the scenario exchange (/v1/scenes): the two lists, imports, matches, the
对接 pipeline and 揭榜挂帅 challenges. The request bodies live with their routes."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from suanli.domain.scenes import DeploymentMode, Maturity


class OpportunityExtra(BaseModel):
    """The columns only an opportunity (需求) has."""

    model_config = ConfigDict(extra="forbid")

    budget_fen: int | None = Field(description="the budget it offers, in fen; null: not stated")
    deadline: date | None = Field(description="when it must be solved by; null: not stated")


class CapabilityExtra(BaseModel):
    """The columns only a capability (能力) has."""

    model_config = ConfigDict(extra="forbid")

    maturity: Maturity | None = Field(description="null: not stated")
    deployment_modes: list[DeploymentMode]
    accelerators: list[str] = Field(description="chips it supports, domestic adaptations included")


class ItemPublic(BaseModel):
    id: str
    kind: str
    org_id: str
    org: str
    title: str
    description: str
    industry: str
    tags: list[str]
    region: str
    batch: int | None
    status: str
    contact: str | None = Field(description="only for the owner and the operator")
    has_vector: bool
    extra: OpportunityExtra | CapabilityExtra = Field(
        description="the kind's own columns: OpportunityExtra for opportunities, "
        "CapabilityExtra for capabilities"
    )
    created_at: datetime
    updated_at: datetime


class ImportProblemPublic(BaseModel):
    row: int = Field(description="spreadsheet row, 1 = the header")
    field: str
    severity: str = Field(description="error | warning")
    problem: str


class ImportReportPublic(BaseModel):
    path: str
    kind: str
    rows: int = Field(description="item rows read, blank rows excluded")
    errors: int
    warnings: int
    problems: list[ImportProblemPublic]


class ImportPublic(BaseModel):
    kind: str
    created: int = Field(description="how many items were created")
    updated: int = Field(description="how many items were updated")
    ids: list[str] = Field(description="the created ids, then the updated ones")
    report: ImportReportPublic


class ItemRef(BaseModel):
    id: str
    title: str


class PairConsents(BaseModel):
    opportunity: datetime | None
    capability: datetime | None


class PairContacts(BaseModel):
    opportunity: str
    capability: str


class PairEventPublic(BaseModel):
    from_: str | None = Field(alias="from", description="null: the pair was created")
    to: str
    actor_id: str
    at: datetime


class PairPublic(BaseModel):
    id: str
    opportunity: ItemRef
    capability: ItemRef
    stage: str
    stage_label: str
    score: float | None
    why: str
    consents: PairConsents
    contacts: PairContacts | None = Field(description="once both sides have consented")
    history: list[PairEventPublic]


class PipelineStatsPublic(BaseModel):
    stages: dict[str, int] = Field(description="pairs per stage, every stage listed")
    labels: dict[str, str]
    total: int


class AgencyTopUpPublic(BaseModel):
    transfer_id: str
    agency_id: str
    amount_fen: int
    already_recorded: bool = Field(
        description="true: this reference was recorded before; nothing was credited again"
    )


class CriterionPublic(BaseModel):
    name: str
    weight_percent: int


class ChallengePublic(BaseModel):
    id: str
    opportunity_id: str
    agency_id: str
    goal: str
    reward_fen: int
    deadline: date
    criteria: list[CriterionPublic]
    state: str
    hold_transfer_id: str
    winner_proposal_id: str | None
    created_at: datetime
    decided_at: datetime | None


class ProposalPublic(BaseModel):
    id: str
    challenge_id: str
    enterprise_id: str
    enterprise_name: str = Field(description="the proposing enterprise's name")
    capability_id: str | None
    summary: str
    reviews: int = Field(description="how many reviews it has")
    score: float | None = Field(description="mean weighted score of its reviews (0..100)")
    created_at: datetime


class ReviewPublic(BaseModel):
    id: int
    proposal_id: str
    reviewer_id: str
    scores: dict[str, int]
    score: float
    comment: str
    created_at: datetime


class IndexStatusPublic(BaseModel):
    built: bool = Field(description="false: an index kept from an earlier request was reused")
    items: int
    embedded: int
    seconds: float


class CandidatePublic(BaseModel):
    id: str
    title: str
    org: str
    score: float
    why: str


class MatchesPublic(BaseModel):
    id: str
    mode: str = Field(description="fused | lexical-only")
    warning: str | None
    embedded: int
    index_status: IndexStatusPublic
    candidates: list[CandidatePublic]
