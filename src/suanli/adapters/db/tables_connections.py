"""Provider cluster connections (Ray, Slurm): where a provider's pools run their jobs.

`credentials` holds only Fernet ciphertext (adapters.secrets), never the secret itself.
`pools.connection_id` points here; the service checks it (same provider, live row), not the DB.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from suanli.adapters.db.tables import Base

CONNECTION_KINDS_SQL = "'ray','slurm'"
LIVE_CONNECTION_SQL = "NOT deleted AND review_state <> 'rejected'"


class ClusterConnectionRow(Base):
    __tablename__ = "cluster_connections"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(500))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    credentials: Mapped[str | None] = mapped_column(Text, nullable=True)  # ciphertext or None
    healthy: Mapped[bool] = mapped_column(Boolean, default=False)
    last_checked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    capacity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # model -> free cards
    created_at: Mapped[datetime]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # A provider's new connection sells nothing until the operator approves it (入驻审核).
    review_state: Mapped[str] = mapped_column(String(10), default="pending")
    review_reason: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The cluster (and partition) it points at, canonical: one live claim per cluster.
    cluster_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    __table_args__ = (
        CheckConstraint(f"kind IN ({CONNECTION_KINDS_SQL})", name="connection_kind"),
        CheckConstraint(
            "review_state IN ('pending','approved','rejected')", name="connection_review_state"
        ),
        Index(
            "uq_connection_cluster_live",
            "cluster_key",
            unique=True,
            postgresql_where=text(LIVE_CONNECTION_SQL),
            sqlite_where=text(LIVE_CONNECTION_SQL),
        ),
    )


ORPHAN_STATES_SQL = "'pending','cancelled','adopted','abandoned','absent'"


class OrphanRunRow(Base):
    """A run the platform gave up on while its cluster was unreachable. The cluster may still
    hold it (Slurm keeps jobs across a controller restart), running unpaid and, for a
    re-queued job, twice; it is cancelled there once the cluster answers again."""

    __tablename__ = "orphan_runs"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("cluster_connections.id"), index=True)
    # None: a submit whose reply was lost, so the run's id (if it exists) is looked up by job.
    backend_job_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    lost_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (
        CheckConstraint(f"state IN ({ORPHAN_STATES_SQL})", name="orphan_state"),
        UniqueConstraint("connection_id", "backend_job_id", name="uq_orphan_run"),
    )
