"""scenario exchange tables: the two lists, 对接 pairs and stage history, 揭榜挂帅 challenges

Revision ID: 0004_scenes
Revises: 0003_vouchers
"""

import sqlalchemy as sa
from alembic import op

import suanli.adapters.db.types

revision = "0004_scenes"
down_revision = "0003_vouchers"
branch_labels = None
depends_on = None

UTC_DATETIME = suanli.adapters.db.types.UTCDateTime


def upgrade() -> None:
    _create_scene_capabilities()
    _create_scene_opportunities()
    _create_scene_challenges()
    _create_scene_pairs()
    _create_scene_pair_events()
    _create_scene_proposals()
    _create_scene_reviews()


def _create_scene_capabilities() -> None:
    op.create_table(
        "scene_capabilities",
        sa.Column("maturity", sa.String(length=20), nullable=True),
        sa.Column("deployment_modes", sa.JSON(), nullable=False),
        sa.Column("accelerators", sa.JSON(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("org_name", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("industry", sa.String(length=40), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(length=200), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("contact", sa.String(length=500), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=True),
        sa.Column("vector_model", sa.String(length=80), nullable=True),
        sa.Column("vector_text_sha256", sa.String(length=64), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME(), nullable=False),
        sa.CheckConstraint("status IN ('open','matched','closed')", name="scene_capability_status"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_scene_capabilities_batch"), "scene_capabilities", ["batch"], unique=False
    )
    op.create_index(
        op.f("ix_scene_capabilities_industry"), "scene_capabilities", ["industry"], unique=False
    )
    op.create_index(
        op.f("ix_scene_capabilities_org_id"), "scene_capabilities", ["org_id"], unique=False
    )


def _create_scene_opportunities() -> None:
    op.create_table(
        "scene_opportunities",
        sa.Column("budget_fen", sa.BigInteger(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("org_name", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("industry", sa.String(length=40), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(length=200), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("contact", sa.String(length=500), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=True),
        sa.Column("vector_model", sa.String(length=80), nullable=True),
        sa.Column("vector_text_sha256", sa.String(length=64), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open','matched','closed')", name="scene_opportunity_status"
        ),
        sa.CheckConstraint(
            "budget_fen IS NULL OR budget_fen >= 0", name="scene_opportunity_budget"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_scene_opportunities_batch"), "scene_opportunities", ["batch"], unique=False
    )
    op.create_index(
        op.f("ix_scene_opportunities_industry"), "scene_opportunities", ["industry"], unique=False
    )
    op.create_index(
        op.f("ix_scene_opportunities_org_id"), "scene_opportunities", ["org_id"], unique=False
    )


def _create_scene_challenges() -> None:
    op.create_table(
        "scene_challenges",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("opportunity_id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=40), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("reward_fen", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("hold_transfer_id", sa.String(length=100), nullable=False),
        sa.Column("winner_proposal_id", sa.String(length=40), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("decided_at", UTC_DATETIME(), nullable=True),
        sa.CheckConstraint(
            "state IN ('draft','open','reviewing','awarded','cancelled')",
            name="scene_challenge_state",
        ),
        sa.CheckConstraint("reward_fen > 0", name="scene_challenge_reward_positive"),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["organisations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["scene_opportunities.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_scene_challenges_agency_id"), "scene_challenges", ["agency_id"], unique=False
    )
    op.create_index(
        op.f("ix_scene_challenges_opportunity_id"),
        "scene_challenges",
        ["opportunity_id"],
        unique=False,
    )
    op.create_index(op.f("ix_scene_challenges_state"), "scene_challenges", ["state"], unique=False)


def _create_scene_pairs() -> None:
    op.create_table(
        "scene_pairs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("opportunity_id", sa.String(length=64), nullable=False),
        sa.Column("capability_id", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("opportunity_consent_at", UTC_DATETIME(), nullable=True),
        sa.Column("capability_consent_at", UTC_DATETIME(), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME(), nullable=False),
        sa.CheckConstraint(
            "stage IN ('recommended','interested','negotiating','signed','delivered','closed')",
            name="scene_pair_stage",
        ),
        sa.ForeignKeyConstraint(
            ["capability_id"],
            ["scene_capabilities.id"],
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["scene_opportunities.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("opportunity_id", "capability_id", name="uq_scene_pair"),
    )
    op.create_index(
        op.f("ix_scene_pairs_capability_id"), "scene_pairs", ["capability_id"], unique=False
    )
    op.create_index(
        op.f("ix_scene_pairs_opportunity_id"), "scene_pairs", ["opportunity_id"], unique=False
    )
    op.create_index(op.f("ix_scene_pairs_stage"), "scene_pairs", ["stage"], unique=False)


def _create_scene_pair_events() -> None:
    op.create_table(
        "scene_pair_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pair_id", sa.String(length=40), nullable=False),
        sa.Column("from_stage", sa.String(length=20), nullable=True),
        sa.Column("to_stage", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=40), nullable=False),
        sa.Column("actor_org_id", sa.String(length=40), nullable=False),
        sa.Column("at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pair_id"],
            ["scene_pairs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_scene_pair_events_pair_id"), "scene_pair_events", ["pair_id"], unique=False
    )


def _create_scene_proposals() -> None:
    op.create_table(
        "scene_proposals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("challenge_id", sa.String(length=40), nullable=False),
        sa.Column("enterprise_id", sa.String(length=40), nullable=False),
        sa.Column("capability_id", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["scene_challenges.id"],
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("challenge_id", "enterprise_id", name="uq_scene_proposal"),
    )
    op.create_index(
        op.f("ix_scene_proposals_challenge_id"), "scene_proposals", ["challenge_id"], unique=False
    )


def _create_scene_reviews() -> None:
    op.create_table(
        "scene_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("proposal_id", sa.String(length=40), nullable=False),
        sa.Column("reviewer_id", sa.String(length=40), nullable=False),
        sa.Column("reviewer_org_id", sa.String(length=40), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("total_centi", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.CheckConstraint("total_centi BETWEEN 0 AND 10000", name="scene_review_total_range"),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["scene_proposals.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("proposal_id", "reviewer_id", name="uq_scene_review"),
    )
    op.create_index("ix_scene_reviews_proposal", "scene_reviews", ["proposal_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_scene_reviews_proposal", table_name="scene_reviews")
    op.drop_table("scene_reviews")
    op.drop_index(op.f("ix_scene_proposals_challenge_id"), table_name="scene_proposals")
    op.drop_table("scene_proposals")
    op.drop_index(op.f("ix_scene_pair_events_pair_id"), table_name="scene_pair_events")
    op.drop_table("scene_pair_events")
    op.drop_index(op.f("ix_scene_pairs_stage"), table_name="scene_pairs")
    op.drop_index(op.f("ix_scene_pairs_opportunity_id"), table_name="scene_pairs")
    op.drop_index(op.f("ix_scene_pairs_capability_id"), table_name="scene_pairs")
    op.drop_table("scene_pairs")
    op.drop_index(op.f("ix_scene_challenges_state"), table_name="scene_challenges")
    op.drop_index(op.f("ix_scene_challenges_opportunity_id"), table_name="scene_challenges")
    op.drop_index(op.f("ix_scene_challenges_agency_id"), table_name="scene_challenges")
    op.drop_table("scene_challenges")
    op.drop_index(op.f("ix_scene_opportunities_org_id"), table_name="scene_opportunities")
    op.drop_index(op.f("ix_scene_opportunities_industry"), table_name="scene_opportunities")
    op.drop_index(op.f("ix_scene_opportunities_batch"), table_name="scene_opportunities")
    op.drop_table("scene_opportunities")
    op.drop_index(op.f("ix_scene_capabilities_org_id"), table_name="scene_capabilities")
    op.drop_index(op.f("ix_scene_capabilities_industry"), table_name="scene_capabilities")
    op.drop_index(op.f("ix_scene_capabilities_batch"), table_name="scene_capabilities")
    op.drop_table("scene_capabilities")
