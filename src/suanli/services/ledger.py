"""Ledger use cases shared by wallets, settlement and vouchers: the platform's accounts, submitting
batches in the caller's unit of work, sweeping expired holds, and the full ledger check."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from suanli.adapters.db.database import Database
from suanli.adapters.db.ledger_repo import (
    EXPIRY_BATCH_MAX,
    AccountSpec,
    CheckReport,
    LedgerRepository,
    check_ledger,
    transact,
)
from suanli.adapters.db.tables_ledger import LedgerCheckRow
from suanli.domain.ledger import (
    LEDGER_CNY,
    PLATFORM_OWNER,
    Account,
    AccountKind,
    Transfer,
    TransferRequest,
    account_id_for,
)
from suanli.errors import IdempotencyConflict, PermissionDenied
from suanli.i18n import msg
from suanli.services.common import (
    Clock,
    Page,
    PageResult,
    Principal,
    audit,
    new_id,
    paginate,
)

EXPIRY_SWEEP_BATCHES_MAX = 100  # one sweep expires at most this many batches of due holds
CHECK_VIOLATIONS_KEPT = 50  # a recorded check keeps its first violations; the count is whole
ID_DIGEST_CHARS = 32

EXTERNAL_ACCOUNT_ID = account_id_for(LEDGER_CNY, AccountKind.EXTERNAL_CLEARING, PLATFORM_OWNER)
CLEARING_ACCOUNT_ID = account_id_for(LEDGER_CNY, AccountKind.SETTLEMENT_CLEARING, PLATFORM_OWNER)
REVENUE_ACCOUNT_ID = account_id_for(LEDGER_CNY, AccountKind.PLATFORM_REVENUE, PLATFORM_OWNER)


def wallet_id(org_id: str, ledger: int = LEDGER_CNY) -> str:
    return account_id_for(ledger, AccountKind.ENTERPRISE_WALLET, org_id)


def receivable_id(org_id: str, ledger: int = LEDGER_CNY) -> str:
    return account_id_for(ledger, AccountKind.PROVIDER_RECEIVABLE, org_id)


def derived_transfer_id(purpose: str, *parts: str) -> str:
    """A transfer id derived from what makes an operation unique (a bank reference, an
    Idempotency-Key), so the same operation delivered twice is one transfer (invariant 4)."""
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:ID_DIGEST_CHARS]
    return f"{purpose}:{digest}"


def repository(session: Session) -> LedgerRepository:
    return LedgerRepository.of(session)


def ensure_account(session: Session, clock: Clock, spec: AccountSpec) -> Account:
    return repository(session).ensure_account(spec, clock.now())


def submit(session: Session, clock: Clock, requests: Sequence[TransferRequest]) -> list[Transfer]:
    """Applies a linked batch inside the caller's unit of work (all or nothing)."""
    return repository(session).submit(list(requests), clock.now())


def submit_referenced(session: Session, clock: Clock, request: TransferRequest) -> Transfer:
    """One transfer whose id derives from the caller's external reference (a bank transfer's):
    the same reference again is a replay; for different money it is refused naming the
    reference the caller sent, not the transfer id derived from it."""
    try:
        (transfer,) = submit(session, clock, [request])
    except IdempotencyConflict:
        reference = request.reference
        raise IdempotencyConflict(
            msg(
                f"`external_reference` {reference} 已用于另一笔金额或账户不同的转账",
                f"external_reference {reference} was already used for a different transfer "
                "(another amount or account)",
            ),
            field="external_reference",
        ) from None
    return transfer


def submit_referenced_once(
    session: Session, clock: Clock, request: TransferRequest, lock_account_id: str
) -> tuple[Transfer, bool]:
    """`submit_referenced`, and whether the reference was already in the ledger (nothing moved
    again). That is read under `lock_account_id`'s row lock: concurrent duplicates queue
    there, and each after the first sees the first one's transfer, so exactly one is told it
    moved money (and only that one is audited)."""
    ledger_repository = repository(session)
    ledger_repository.accounts([lock_account_id], lock=True)
    replayed = bool(ledger_repository.transfers([request.id]))
    return submit_referenced(session, clock, request), replayed


def expire_holds(db: Database, clock: Clock, caller: Principal | None = None) -> int:
    """Expires every hold whose timeout has passed, a bounded batch per transaction. A person
    who asked for it (`caller`, through the API or CLI) is in the audit log, once per batch
    that expired something; the runtime's own sweep is not."""
    expired = 0
    for _ in range(EXPIRY_SWEEP_BATCHES_MAX):
        done = transact(db, lambda session: _expire_batch(session, clock, caller))
        expired += done
        if done < EXPIRY_BATCH_MAX:
            break
    return expired


def _expire_batch(session: Session, clock: Clock, caller: Principal | None) -> int:
    ledger = repository(session)
    due = ledger.due_hold_ids(clock.now())
    done = len(ledger.expire(due, clock.now())) if due else 0
    if done and caller is not None:
        audit(session, clock, caller, "ledger.expire_holds", "holds", holds=due[:done])
    return done


def run_check(db: Database) -> CheckReport:
    """`suanli ledger check`: rebuilds every balance from the transfers in one snapshot.

    PostgreSQL: a REPEATABLE READ, READ ONLY transaction. SQLite: a deferred read transaction
    on a separate engine, so that the check sees one snapshot without taking the write lock.
    """
    if db.is_sqlite:
        return _check_sqlite(db.url)
    with db.engine.connect() as connection:
        snapshot = connection.execution_options(isolation_level="REPEATABLE READ")
        with snapshot.begin():
            snapshot.execute(text("SET TRANSACTION READ ONLY"))
            return check_ledger(snapshot)


def _check_sqlite(url: str) -> CheckReport:
    engine = create_engine(url, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _manual_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we say BEGIN ourselves, below

    @event.listens_for(engine, "begin")
    def _deferred(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN DEFERRED")  # a WAL snapshot; writers go on

    try:
        with engine.connect() as connection, connection.begin():
            return check_ledger(connection)
    finally:
        engine.dispose()


def record_check(db: Database, clock: Clock, caller: Principal) -> LedgerCheckRow:
    """Runs the full check for the operator and records its outcome, so the console shows the
    ledger's status (the last check, and the ones before) without running it on every view."""
    if not caller.is_operator:
        raise PermissionDenied(
            msg("账本核对只由平台运营方进行", "the ledger check is the operator's")
        )
    started_at = clock.now()
    report = run_check(db)
    row = LedgerCheckRow(
        id=new_id("lchk"),
        started_at=started_at,
        finished_at=clock.now(),
        requested_by=caller.user_id,
        ok=report.ok,
        accounts_checked=report.accounts_checked,
        transfers_checked=report.transfers_checked,
        holds_checked=report.holds_checked,
        violation_count=len(report.violations),
        violations=[v.__dict__ for v in report.violations[:CHECK_VIOLATIONS_KEPT]],
    )
    with db.session() as session:
        session.add(row)
        audit(
            session, clock, caller, "ledger.check", row.id, ok=row.ok,
            violation_count=row.violation_count,
        )  # fmt: skip
    return row


def list_checks(session: Session, caller: Principal, page: Page) -> PageResult[LedgerCheckRow]:
    """Recorded checks, the newest first."""
    if not caller.is_operator:
        raise PermissionDenied(
            msg("账本核对只由平台运营方进行", "the ledger check is the operator's")
        )
    query = select(LedgerCheckRow).order_by(
        LedgerCheckRow.started_at.desc(), LedgerCheckRow.id.desc()
    )
    return paginate(session, query, page)
