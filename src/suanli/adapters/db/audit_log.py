"""Appending to the hash-chained audit log, at commit.

`services.common.audit()` queues an entry on the session; just before that session commits,
`append_queued` locks the one `audit_head` row, numbers the queued entries after it, chains
their hashes and moves the head. The head lock is the last lock the transaction takes and is
held only through its commit, so concurrent writers line up into one chain without a deadlock
cycle (whatever they locked before, nobody waits for them while holding the head). A
transaction that rolls back drops its queue, and its entries never existed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.orm import Session, sessionmaker

from suanli.adapters.db.tables import AuditHeadRow, AuditRow
from suanli.domain.audit_chain import GENESIS_HASH, AuditEntry, seal

QUEUE_KEY = "suanli_audit_queue"
HEAD_ID = 1


@dataclass(frozen=True)
class QueuedEntry:
    at: datetime
    actor_id: str
    org_id: str
    credential: str
    action: str
    subject: str
    about_org_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any]
    request_id: str
    client_address: str


def queue_entry(session: Session, entry: QueuedEntry) -> None:
    session.info.setdefault(QUEUE_KEY, []).append(entry)
    tracker = _tracker.get()
    if tracker is not None:
        tracker.audited = True


def install(sessions: sessionmaker[Session]) -> None:
    """Every session of this factory appends its queued entries when it commits."""
    event.listen(sessions, "before_commit", append_queued)
    event.listen(sessions, "after_soft_rollback", _drop_queue)
    event.listen(sessions, "after_flush", _note_writes)


# ---------------------------------------------------------------------------------------------
# The net under "every write appends an entry": within `tracking_writes()` (the API wraps each
# request in it), every ORM flush notes the tables it changed, and `queue_entry` notes that an
# entry was queued. A write request that changed something and queued nothing is a bug the API
# reports (api/context.py), and the fuzz test fails on.

BOOKKEEPING_TABLES = frozenset({"login_throttle", "idempotency_keys", "audit_log", "audit_head"})
BOOKKEEPING_COLUMNS = frozenset({"last_used_at", "last_seen_at"})  # touched by every request


@dataclass
class WriteTracker:
    audited: bool = False
    changed: set[str] = field(default_factory=set)


_tracker: ContextVar[WriteTracker | None] = ContextVar("suanli_write_tracker", default=None)


@contextmanager
def tracking_writes() -> Iterator[WriteTracker]:
    tracker = WriteTracker()
    token = _tracker.set(tracker)
    try:
        yield tracker
    finally:
        _tracker.reset(token)


def _note_writes(session: Session, _flush_context: Any) -> None:
    tracker = _tracker.get()
    if tracker is None:
        return
    for obj in [*session.new, *session.deleted]:
        tracker.changed.add(_table(obj))
    for obj in session.dirty:
        columns = {attr.key for attr in inspect(obj).attrs if attr.history.has_changes()}
        if columns - BOOKKEEPING_COLUMNS:
            tracker.changed.add(_table(obj))
    tracker.changed -= BOOKKEEPING_TABLES


def _table(obj: Any) -> str:
    return str(getattr(obj, "__tablename__", type(obj).__name__))


def append_queued(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint: the entries wait for the real commit
    queued: list[QueuedEntry] = session.info.pop(QUEUE_KEY, [])
    if not queued:
        return
    head = _locked_head(session)
    seq, previous = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    entries = []
    for item in queued:
        seq += 1
        entry = seal(AuditEntry(seq=seq, prev_hash=previous, **item.__dict__))
        entries.append(entry)
        previous = entry.hash
    if head is not None and session.get_bind().dialect.name == "postgresql":
        # One statement for the entries and the head: the head's lock, held to the commit,
        # serialises every writer, so each round trip under it counts (profiled: a submit
        # waited on this lock longer than it worked).
        appended = insert(AuditRow).values([_values(entry) for entry in entries]).cte("appended")
        session.execute(
            update(AuditHeadRow)
            .where(AuditHeadRow.id == HEAD_ID)
            .values(seq=seq, hash=previous)
            .add_cte(appended)
        )
        return
    for entry in entries:
        session.add(_row(entry))
    if head is None:
        session.add(AuditHeadRow(id=HEAD_ID, seq=seq, hash=previous))
    else:
        session.execute(
            update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).values(seq=seq, hash=previous)
        )
    session.flush()


def _locked_head(session: Session) -> AuditHeadRow | None:
    # populate_existing: the row as it is now, after waiting for the lock, not as this
    # session may have cached it earlier in the transaction.
    return session.scalar(
        select(AuditHeadRow)
        .where(AuditHeadRow.id == HEAD_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _row(entry: AuditEntry) -> AuditRow:
    return AuditRow(**_values(entry))


def _values(entry: AuditEntry) -> dict[str, Any]:
    return dict(
        seq=entry.seq,
        at=entry.at,
        actor_id=entry.actor_id,
        org_id=entry.org_id,
        credential=entry.credential,
        action=entry.action,
        subject=entry.subject,
        about_org_id=entry.about_org_id,
        before=entry.before,
        detail=entry.after,
        request_id=entry.request_id,
        client_address=entry.client_address,
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )


def entry_of(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        actor_id=row.actor_id,
        org_id=row.org_id,
        credential=row.credential,
        action=row.action,
        subject=row.subject,
        about_org_id=row.about_org_id,
        before=row.before,
        after=row.detail,
        request_id=row.request_id,
        client_address=row.client_address,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _drop_queue(session: Session, previous_transaction: Any) -> None:
    if not getattr(previous_transaction, "nested", False):
        session.info.pop(QUEUE_KEY, None)
