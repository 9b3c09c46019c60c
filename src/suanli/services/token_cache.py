"""A short-lived, bounded cache of verified API tokens, per process.

Every API request used to look its bearer token up in its own unit of work (BEGIN, a join of
token, user and organisation, COMMIT), and a keyed write did it twice (the Idempotency-Key
belongs to the caller). Profiled under `suanli bench api`, that was a third of a read's
round trips. A token verified here is trusted for `TTL_S` afterwards, keyed by the SHA-256 of
the token (the plain token is never kept).

What a cached entry cannot miss:
- a change made through this process: any commit that touched a token, a user or an
  organisation (a revocation, a disabled user, a suspension) drops every entry at once;
- the token's own expiry, read from the application's clock at each use;
- a change made by another replica: it is seen within `TTL_S` (documented in
  docs/deploy.md).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from suanli.adapters.db.audit_log import BOOKKEEPING_COLUMNS
from suanli.adapters.db.tables import ApiTokenRow, OrganisationRow, UserRow
from suanli.services.common import Principal

TTL_S = 2.0
ENTRIES_MAX = 10_000
_WATCHED = (ApiTokenRow, UserRow, OrganisationRow)
_TOUCHED = "suanli_touched_credentials"


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    expires_at: datetime  # the token's own expiry
    fresh_until: float  # monotonic
    generation: int


class TokenCache:
    def __init__(self, ttl_s: float = TTL_S, entries_max: int = ENTRIES_MAX) -> None:
        self.ttl_s = ttl_s
        self.entries_max = entries_max
        self._entries: dict[str, _Entry] = {}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, token_sha256: str, now: datetime) -> Principal | None:
        entry = self._entries.get(token_sha256)
        if entry is None:
            return None
        if (
            entry.generation != self._generation
            or time.monotonic() >= entry.fresh_until
            or now >= entry.expires_at
        ):
            self._entries.pop(token_sha256, None)
            return None
        return entry.principal

    def put(
        self, token_sha256: str, principal: Principal, expires_at: datetime, generation: int
    ) -> None:
        """`generation` is the one read before the token was looked up: a change committed
        since then keeps this (possibly stale) answer out of the cache."""
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) >= self.entries_max:
                self._entries.clear()
            self._entries[token_sha256] = _Entry(
                principal, expires_at, time.monotonic() + self.ttl_s, generation
            )

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


cache = TokenCache()


def _note_credential_writes(session: Session, _flush_context: Any) -> None:
    """A token, user or organisation was written (the last-used time alone does not count)."""
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, _WATCHED):
            session.info[_TOUCHED] = True
            return
    for obj in session.dirty:
        if not isinstance(obj, _WATCHED):
            continue
        state: Any = inspect(obj)
        columns = {attr.key for attr in state.attrs if attr.history.has_changes()}
        if columns - BOOKKEEPING_COLUMNS:
            session.info[_TOUCHED] = True
            return


def _after_commit(session: Session) -> None:
    if session.info.pop(_TOUCHED, False):
        cache.invalidate()


def _after_rollback(session: Session) -> None:
    session.info.pop(_TOUCHED, None)


event.listen(Session, "after_flush", _note_credential_writes)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_soft_rollback", lambda session, _previous: _after_rollback(session))
