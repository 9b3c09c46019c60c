"""Sign-in tables: server-side sessions and the failed-attempt counters behind the backoff.

Users, API tokens and the audit log are core tables (tables.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from suanli.adapters.db.tables import Base


class SessionRow(Base):
    """A browser or CLI session. The cookie holds a random value; only its SHA-256 is here.
    A session ends at logout, sign-out-everywhere, a password change, the organisation's
    suspension, or when it is idle or old past the limits (services/auth.py)."""

    __tablename__ = "user_sessions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    end_reason: Mapped[str] = mapped_column(String(40), default="")
    client_address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class LoginThrottleRow(Base):
    """Failed attempts in a row for one key: `account:<login>`, `address:<client>` or
    `register:<client>`. A known and an unknown login are counted alike."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime]
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
