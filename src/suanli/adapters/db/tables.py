"""Core tables: organisations, users, tokens, pools, jobs, usage, idempotency, audit.

Other areas (ledger, vouchers, scenes, connections) define theirs in `tables_<area>.py` on the
same `Base`; `all_tables()` imports them so metadata is complete for Alembic and tests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from suanli.adapters.db.types import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class OrganisationRow(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    region: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    # pending (self-registered, awaiting review) → active | rejected; active ⇄ suspended
    state: Mapped[str] = mapped_column(String(12), default="active", server_default="active")
    state_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    credit_code: Mapped[str | None] = mapped_column(String(18), nullable=True)
    contact_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="", server_default="")
    contact_email: Mapped[str] = mapped_column(String(200), default="", server_default="")
    reviewed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (
        CheckConstraint("kind IN ('operator','provider','enterprise','agency')", name="org_kind"),
        CheckConstraint("state IN ('pending','active','rejected','suspended')", name="org_state"),
        Index("uq_org_credit_code", "credit_code", unique=True),  # one registration per code
    )


class OrganisationRelationRow(Base):
    __tablename__ = "organisation_relations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    from_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    to_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("from_org_id", "to_org_id", "kind", name="uq_org_relation"),
        CheckConstraint("from_org_id <> to_org_id", name="org_relation_not_self"),
    )


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    login: Mapped[str] = mapped_column(String(64))  # lower case, unique
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="admin")
    phone: Mapped[str] = mapped_column(String(40), default="", server_default="")
    email: Mapped[str] = mapped_column(String(200), default="", server_default="")
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)  # argon2id
    password_changed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    totp_secret: Mapped[str | None] = mapped_column(Text, nullable=True)  # Fernet ciphertext
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime]
    __table_args__ = (
        CheckConstraint("role IN ('admin','member','finance','viewer')", name="user_role"),
        Index("uq_user_login", "login", unique=True),
    )


class ApiTokenRow(Base):
    """A user's named API token: only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class PoolRow(Base):
    __tablename__ = "pools"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    accelerator_model: Mapped[str] = mapped_column(String(60))
    nodes: Mapped[int] = mapped_column(Integer)
    cards_per_node: Mapped[int] = mapped_column(Integer)
    region: Mapped[str] = mapped_column(String(200))
    price_fen_per_card_hour: Mapped[int] = mapped_column(BigInteger)
    software: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    backend: Mapped[str] = mapped_column(String(20), default="local")
    connection_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    # A local pool's machine (the scheduler's node name), set by the first launch on it; its
    # jobs launch and are watched only there. NULL for cluster pools: any leader reaches them.
    home: Mapped[str | None] = mapped_column(String(200), nullable=True)
    shareable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    cpus_per_node: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host_memory_gib_per_node: Mapped[float | None] = mapped_column(Float, nullable=True)
    __table_args__ = (
        CheckConstraint("nodes > 0", name="pool_nodes_positive"),
        CheckConstraint("cards_per_node > 0", name="pool_cards_positive"),
        CheckConstraint("price_fen_per_card_hour >= 0", name="pool_price_non_negative"),
        # Only among live pools: a deleted pool's name may be used again (it stays on history).
        Index(
            "uq_pool_name_live",
            "provider_id",
            "name",
            unique=True,
            postgresql_where=text("NOT deleted"),
            sqlite_where=text("NOT deleted"),
        ),
    )


class JobRow(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    submitted_by: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    pool_id: Mapped[str | None] = mapped_column(ForeignKey("pools.id"), nullable=True, index=True)
    node_cards: Mapped[list[Any]] = mapped_column(JSON, default=list)
    backend_job_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hold_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    submitted_at: Mapped[datetime]
    placed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    lost_since: Mapped[datetime | None] = mapped_column(nullable=True)
    # Bumped by every placement and re-queue: `queued -> placed` is a compare-and-set on
    # (state, version), so a stale reader can never place the job (services/runtime.py).
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # a fractional job's share of a card: {"node", "card", "milli"}; None for whole cards
    card_share: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # the pool's price when the job was placed: its usage is priced at this, whatever the
    # provider sets later; None while queued
    price_fen_per_card_hour: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    __table_args__ = (
        Index("ix_jobs_owner_state", "owner_id", "state"),
        # an enterprise's jobs list, newest first, pages without sorting all its jobs
        Index("ix_jobs_owner_submitted", "owner_id", "submitted_at"),
        # the scheduler's queue scan: queued jobs, oldest first, up to QUEUE_READ_MAX
        # (domain/scheduling/window.py)
        Index("ix_jobs_state_submitted", "state", "submitted_at"),
    )


def _whole_card_milli_seconds(context: Any) -> int:
    """A line written without milli_card_seconds is whole cards: card_seconds × 1000."""
    return int(context.get_current_parameters()["card_seconds"]) * 1000


class UsageRow(Base):
    """One metered line per finished job run: card-seconds priced once (invariant 10)."""

    __tablename__ = "usage_records"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"))
    accelerator_model: Mapped[str] = mapped_column(String(60))
    cards: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    card_seconds: Mapped[int] = mapped_column(BigInteger)
    price_fen_per_card_hour: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(40), default="local")
    created_at: Mapped[datetime]
    # the line is priced on milli_card_seconds (card-seconds × 1000 for whole cards, seconds ×
    # card_milli for a share of one card); card_seconds is that ÷ 1000, rounded down
    card_milli: Mapped[int] = mapped_column(Integer, default=1000, server_default="1000")
    milli_card_seconds: Mapped[int] = mapped_column(
        BigInteger, default=_whole_card_milli_seconds, server_default="0"
    )
    __table_args__ = (
        CheckConstraint("card_seconds >= 0", name="usage_card_seconds_non_negative"),
        CheckConstraint("amount_fen >= 0", name="usage_amount_non_negative"),
        CheckConstraint("milli_card_seconds >= 0", name="usage_milli_card_seconds_non_negative"),
        CheckConstraint("card_milli >= 1 AND card_milli <= 1000", name="usage_card_milli_range"),
        Index("ix_usage_records_ended", "ended_at"),  # the dashboard's utilisation window
    )


class IdempotencyRow(Base):
    __tablename__ = "idempotency_keys"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    principal_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    # "claimed" while the first request runs (status_code and response are None), then "done".
    state: Mapped[str] = mapped_column(String(10), default="done")
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime]


class AuditRow(Base):
    """One entry of the hash-chained, append-only audit log (domain/audit_chain.py): `detail`
    is the after summary, `seq` the position in the chain, given at commit."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
    actor_id: Mapped[str] = mapped_column(String(40), index=True)
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    credential: Mapped[str] = mapped_column(String(60), default="", server_default="")
    action: Mapped[str] = mapped_column(String(80), index=True)
    subject: Mapped[str] = mapped_column(String(80), index=True)
    about_org_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    client_address: Mapped[str] = mapped_column(String(64), default="", server_default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (Index("uq_audit_seq", "seq", unique=True),)


class AuditHeadRow(Base):
    """The chain's last position and hash: one row, locked by each appending transaction."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class SchedulerUsageRow(Base):
    """Decayed card-seconds per enterprise, for the fair-share policy."""

    __tablename__ = "scheduler_usage"
    owner_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    card_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime]


def all_tables() -> type[Base]:
    """Imports every area's tables so Base.metadata is complete; returns Base."""
    import importlib
    import pkgutil

    import suanli.adapters.db as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("tables_"):
            importlib.import_module(f"suanli.adapters.db.{module.name}")
    return Base
