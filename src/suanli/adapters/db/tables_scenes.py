"""Scenario exchange tables: the two lists (opportunities, capabilities), 对接 pairs with their
stage history, and 揭榜挂帅 challenges with proposals and reviews.

Money never lives here: a challenge's reward is a ledger hold named by `hold_transfer_id`.
Each item keeps the hash of its matchable text and, beside it, the vector computed from the
text with that hash: a vector is recomputed only when the two hashes differ.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from suanli.adapters.db.tables import Base

ITEM_STATUSES_SQL = "'open','matched','closed'"
PAIR_STAGES_SQL = "'recommended','interested','negotiating','signed','delivered','closed'"
CHALLENGE_STATES_SQL = "'draft','open','reviewing','awarded','cancelled'"


class _SceneItemColumns:
    """Columns both lists share (the fields the matcher reads, plus ownership and vectors)."""

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the list's 编号
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    org_name: Mapped[str] = mapped_column(String(200), default="")  # the 单位 column as written
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    industry: Mapped[str] = mapped_column(String(40), index=True)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    region: Mapped[str] = mapped_column(String(200), default="")
    batch: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    contact: Mapped[str] = mapped_column(String(500), default="")  # shown after both consent
    text_sha256: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float32, L2-normed
    vector_model: Mapped[str | None] = mapped_column(String(80), nullable=True)
    vector_text_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SceneOpportunityRow(_SceneItemColumns, Base):
    __tablename__ = "scene_opportunities"
    budget_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    deadline: Mapped[date | None] = mapped_column(Date, nullable=True)
    __table_args__ = (
        CheckConstraint(f"status IN ({ITEM_STATUSES_SQL})", name="scene_opportunity_status"),
        CheckConstraint("budget_fen IS NULL OR budget_fen >= 0", name="scene_opportunity_budget"),
    )


class SceneCapabilityRow(_SceneItemColumns, Base):
    __tablename__ = "scene_capabilities"
    maturity: Mapped[str | None] = mapped_column(String(20), nullable=True)
    deployment_modes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    accelerators: Mapped[list[Any]] = mapped_column(JSON, default=list)
    __table_args__ = (
        CheckConstraint(f"status IN ({ITEM_STATUSES_SQL})", name="scene_capability_status"),
    )


class ScenePairRow(Base):
    """One opportunity-capability pair in the 对接 pipeline; consents gate the contacts."""

    __tablename__ = "scene_pairs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    opportunity_id: Mapped[str] = mapped_column(ForeignKey("scene_opportunities.id"), index=True)
    capability_id: Mapped[str] = mapped_column(ForeignKey("scene_capabilities.id"), index=True)
    stage: Mapped[str] = mapped_column(String(20), index=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    why: Mapped[str] = mapped_column(Text, default="")
    opportunity_consent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    capability_consent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("opportunity_id", "capability_id", name="uq_scene_pair"),
        CheckConstraint(f"stage IN ({PAIR_STAGES_SQL})", name="scene_pair_stage"),
    )


class ScenePairEventRow(Base):
    """Append-only: who moved a pair from which stage to which, and when."""

    __tablename__ = "scene_pair_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pair_id: Mapped[str] = mapped_column(ForeignKey("scene_pairs.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(20), nullable=True)  # None: created
    to_stage: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(String(40))
    actor_org_id: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime]


class SceneChallengeRow(Base):
    __tablename__ = "scene_challenges"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    opportunity_id: Mapped[str] = mapped_column(ForeignKey("scene_opportunities.id"), index=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    goal: Mapped[str] = mapped_column(Text)
    reward_fen: Mapped[int] = mapped_column(BigInteger)
    deadline: Mapped[date] = mapped_column(Date)
    criteria: Mapped[list[Any]] = mapped_column(JSON)  # [{"name", "weight_percent"}]
    state: Mapped[str] = mapped_column(String(20), index=True)
    hold_transfer_id: Mapped[str] = mapped_column(String(100))
    winner_proposal_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (
        CheckConstraint("reward_fen > 0", name="scene_challenge_reward_positive"),
        CheckConstraint(f"state IN ({CHALLENGE_STATES_SQL})", name="scene_challenge_state"),
    )


class SceneProposalRow(Base):
    __tablename__ = "scene_proposals"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    challenge_id: Mapped[str] = mapped_column(ForeignKey("scene_challenges.id"), index=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    capability_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    summary: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("challenge_id", "enterprise_id", name="uq_scene_proposal"),)


class SceneReviewRow(Base):
    """One reviewer's scores (0..100 per criterion) and the weighted total in hundredths."""

    __tablename__ = "scene_reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("scene_proposals.id"))
    reviewer_id: Mapped[str] = mapped_column(String(40))
    reviewer_org_id: Mapped[str] = mapped_column(String(40))
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    total_centi: Mapped[int] = mapped_column(Integer)  # sum(score × weight%): 0..10000
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("proposal_id", "reviewer_id", name="uq_scene_review"),
        CheckConstraint("total_centi BETWEEN 0 AND 10000", name="scene_review_total_range"),
        Index("ix_scene_reviews_proposal", "proposal_id"),
    )
