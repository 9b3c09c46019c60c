"""The ledger on SQLAlchemy Core: a batch is lock, plan (the pure domain rules), write.

PostgreSQL: the batch's holds, then its accounts, are locked with SELECT ... FOR UPDATE in sorted
id order, so concurrent batches serialise per account and cannot deadlock among themselves.
SQLite: the single writer (BEGIN IMMEDIATE) serialises every batch. The hot path uses Core
statements built once, executemany for the account totals and RETURNING on the insert.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, Select, Table, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from suanli.adapters.db.database import Database
from suanli.adapters.db.tables_ledger import LedgerAccountRow, LedgerHoldRow, LedgerTransferRow
from suanli.domain.ledger import (
    BALANCE_FEN_MAX,
    DEFAULT_FLAGS,
    LEDGER_CNY,
    Account,
    AccountFlags,
    AccountKind,
    Balance,
    Hold,
    HoldState,
    IdempotencyConflict,
    LedgerError,
    LedgerInvariantBroken,
    Transfer,
    TransferFlags,
    TransferRequest,
    UnknownAccount,
    Violation,
    account_id_for,
    account_violations,
    accounts_named,
    alone_deltas,
    ledger_totals_violations,
    new_hold,
    plan_batch,
    plan_expiry,
    require_batch_shape,
    resolve_replay,
    written_alone,
)
from suanli.i18n import msg

T = TypeVar("T")
RETRY_ATTEMPTS_MAX = 6
RETRY_BACKOFF_S = 0.005  # doubled per attempt, with jitter: 5 ms .. 160 ms
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected
EXPIRY_BATCH_MAX = 64
VIOLATIONS_LISTED_MAX = 1000  # a broken ledger is reported, not dumped whole

accounts = cast(Table, LedgerAccountRow.__table__)
transfers = cast(Table, LedgerTransferRow.__table__)
holds = cast(Table, LedgerHoldRow.__table__)

_ACCOUNT_COLUMNS = (
    accounts.c.id,
    accounts.c.ledger,
    accounts.c.kind,
    accounts.c.flags,
    accounts.c.debits_pending,
    accounts.c.debits_posted,
    accounts.c.credits_pending,
    accounts.c.credits_posted,
    accounts.c.owner_id,
    accounts.c.reference,
)
_ADD_TOTALS = (
    update(accounts)
    .where(accounts.c.id == bindparam("b_id"))
    .values(
        debits_pending=accounts.c.debits_pending + bindparam("b_dp"),
        debits_posted=accounts.c.debits_posted + bindparam("b_dpo"),
        credits_pending=accounts.c.credits_pending + bindparam("b_cp"),
        credits_posted=accounts.c.credits_posted + bindparam("b_cpo"),
    )
)
_END_HOLD = (
    update(holds)
    .where(holds.c.id == bindparam("b_id"), holds.c.state == HoldState.PENDING.value)
    .values(
        state=bindparam("b_state"),
        posted_fen=bindparam("b_posted"),
        ended_by=bindparam("b_ended_by"),
        ended_at=bindparam("b_ended_at"),
    )
)

# One plain or pending transfer in one statement (PostgreSQL): lock both accounts in id order,
# apply the limit rules (the CHECK constraints' formulas) to the new totals, and only if they hold
# insert the transfer (ON CONFLICT: a replay inserts nothing), open its hold and write the totals.
# It returns the locked rows as they were, so a refusal is explained by the domain rules exactly.
_SINGLE_SQL = f"""
WITH locked AS (
  SELECT id, ledger, kind, flags, debits_pending, debits_posted, credits_pending, credits_posted,
         owner_id, reference
  FROM ledger_accounts WHERE id IN (%(debit)s, %(credit)s) ORDER BY id FOR UPDATE),
next AS (
  SELECT id, ledger, flags,
    debits_pending + CASE WHEN id = %(debit)s THEN %(dp)s ELSE 0 END AS dp,
    debits_posted + CASE WHEN id = %(debit)s THEN %(dpo)s ELSE 0 END AS dpo,
    credits_pending + CASE WHEN id = %(credit)s THEN %(cp)s ELSE 0 END AS cp,
    credits_posted + CASE WHEN id = %(credit)s THEN %(cpo)s ELSE 0 END AS cpo
  FROM locked),
allowed AS (
  SELECT count(*) = 2 AND coalesce(bool_and(
      ledger = %(ledger)s
      AND GREATEST(dp, dpo, cp, cpo) <= {BALANCE_FEN_MAX}
      AND ((flags & 1) = 0 OR dp + dpo <= cpo)
      AND ((flags & 2) = 0 OR cp + cpo <= dpo)), false) AS ok
  FROM next),
inserted AS (
  INSERT INTO ledger_transfers (id, ledger, code, flags, debit_account_id, credit_account_id,
    amount_fen, pending_id, timeout_s, reference, memo, created_at)
  SELECT %(id)s, %(ledger)s, %(code)s, %(flags)s, %(debit)s, %(credit)s, %(amount_fen)s, NULL,
    %(timeout_s)s, %(reference)s, %(memo)s, %(created_at)s
  WHERE (SELECT ok FROM allowed)
  ON CONFLICT (id) DO NOTHING
  RETURNING id),
held AS (
  INSERT INTO ledger_holds (id, ledger, code, debit_account_id, credit_account_id, amount_fen,
    expires_at, state, posted_fen, ended_by, ended_at)
  SELECT id, %(ledger)s, %(code)s, %(debit)s, %(credit)s, %(amount_fen)s, %(expires_at)s,
    'pending', 0, NULL, NULL
  FROM inserted WHERE %(pending)s
  RETURNING id),
written AS (
  UPDATE ledger_accounts AS a
  SET debits_pending = n.dp, debits_posted = n.dpo, credits_pending = n.cp, credits_posted = n.cpo
  FROM next AS n WHERE a.id = n.id AND EXISTS (SELECT 1 FROM inserted)
  RETURNING a.id)
SELECT (SELECT count(*) FROM inserted) AS inserted_count,
       (SELECT count(*) FROM written) AS written_count,
       (SELECT count(*) FROM held) AS held_count,
       locked.*
FROM locked
"""


# ---------------------------------------------------------------------------------------------
# Transactions with a bounded retry


def is_retryable(error: DBAPIError) -> bool:
    """Serialization failures and deadlocks (PostgreSQL) or a busy database (SQLite)."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(error.orig)


def with_retry(work: Callable[[], T], *, attempts_max: int = RETRY_ATTEMPTS_MAX) -> T:
    """Runs `work` (a whole transaction); on a retryable error runs it again, boundedly."""
    for attempt in range(1, attempts_max + 1):
        try:
            return work()
        except DBAPIError as error:
            if attempt == attempts_max or not is_retryable(error):
                raise
            time.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1) * (0.5 + random.random()))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def transact(db: Database, work: Callable[[Session], T]) -> T:
    """One unit of work, retried as a whole on serialization failure or deadlock."""

    def attempt() -> T:
        with db.session() as session:
            return work(session)

    return with_retry(attempt)


def transact_connection(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Like `transact`, on a bare Core connection (the benchmark's and tests' hot path)."""

    def attempt() -> T:
        with engine.begin() as connection:
            return work(connection)

    return with_retry(attempt)


# ---------------------------------------------------------------------------------------------
# Row mapping


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        ledger=row.ledger,
        kind=AccountKind(row.kind),
        flags=AccountFlags(row.flags),
        balance=Balance(
            row.debits_pending, row.debits_posted, row.credits_pending, row.credits_posted
        ),
        owner_id=row.owner_id,
        reference=row.reference,
    )


def _account_tuple(values: Sequence[Any]) -> Account:
    """An account from the driver's row: id, ledger, kind, flags, the four totals, owner, ref."""
    return Account(
        id=values[0],
        ledger=values[1],
        kind=AccountKind(values[2]),
        flags=AccountFlags(values[3]),
        balance=Balance(values[4], values[5], values[6], values[7]),
        owner_id=values[8],
        reference=values[9],
    )


def _naive_utc(moment: datetime | None) -> datetime | None:
    # The raw driver bypasses UTCDateTime: store naive UTC as it does.
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


def _single_params(request: TransferRequest, now: datetime) -> dict[str, Any]:
    debit, credit = alone_deltas(request)
    transfer = written_alone(request, now)
    hold = new_hold(request, now) if request.flags & TransferFlags.PENDING else None
    return {
        **_transfer_params(transfer),
        "flags": int(transfer.flags),
        "debit": transfer.debit_account_id,
        "credit": transfer.credit_account_id,
        "created_at": _naive_utc(now),
        "dp": debit.debits_pending,
        "dpo": debit.debits_posted,
        "cp": credit.credits_pending,
        "cpo": credit.credits_posted,
        "pending": hold is not None,
        "expires_at": _naive_utc(hold.expires_at) if hold else None,
    }


def _transfer(row: Any) -> Transfer:
    return Transfer(
        id=row.id,
        ledger=row.ledger,
        code=row.code,
        debit_account_id=row.debit_account_id,
        credit_account_id=row.credit_account_id,
        amount_fen=row.amount_fen,
        flags=TransferFlags(row.flags),
        pending_id=row.pending_id,
        timeout_s=row.timeout_s,
        reference=row.reference,
        memo=row.memo,
        timestamp=row.created_at,
    )


def _hold(row: Any) -> Hold:
    return Hold(
        id=row.id,
        ledger=row.ledger,
        code=row.code,
        debit_account_id=row.debit_account_id,
        credit_account_id=row.credit_account_id,
        amount_fen=row.amount_fen,
        expires_at=row.expires_at,
        state=HoldState(row.state),
        posted_fen=row.posted_fen,
        ended_by=row.ended_by,
        ended_at=row.ended_at,
    )


def _transfer_params(transfer: Transfer) -> dict[str, Any]:
    return {
        "id": transfer.id,
        "ledger": transfer.ledger,
        "code": transfer.code,
        "flags": int(transfer.flags),
        "debit_account_id": transfer.debit_account_id,
        "credit_account_id": transfer.credit_account_id,
        "amount_fen": transfer.amount_fen,
        "pending_id": transfer.pending_id,
        "timeout_s": transfer.timeout_s,
        "reference": transfer.reference,
        "memo": transfer.memo,
        "created_at": transfer.timestamp,
    }


def _hold_params(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "ledger": hold.ledger,
        "code": hold.code,
        "debit_account_id": hold.debit_account_id,
        "credit_account_id": hold.credit_account_id,
        "amount_fen": hold.amount_fen,
        "expires_at": hold.expires_at,
        "state": hold.state.value,
        "posted_fen": hold.posted_fen,
        "ended_by": hold.ended_by,
        "ended_at": hold.ended_at,
    }


# ---------------------------------------------------------------------------------------------
# The repository


@dataclass(frozen=True)
class AccountSpec:
    kind: AccountKind
    owner_id: str = ""
    reference: str = ""
    ledger: int = LEDGER_CNY
    flags: AccountFlags | None = None  # None: the kind's default

    @property
    def id(self) -> str:
        return account_id_for(self.ledger, self.kind, self.owner_id, self.reference)


class LedgerRepository:
    """Ledger reads and writes inside the caller's transaction (one batch = one transaction)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._insert = _insert_for(connection.dialect.name)
        self._single_statement = connection.dialect.name == "postgresql"

    @classmethod
    def of(cls, session: Session) -> LedgerRepository:
        return cls(session.connection())

    # -- accounts ---------------------------------------------------------------------------
    def ensure_account(self, spec: AccountSpec, now: datetime) -> Account:
        """Creates the account if it does not exist (idempotent by its derived id)."""
        flags = DEFAULT_FLAGS[spec.kind] if spec.flags is None else spec.flags
        values = {
            "id": spec.id,
            "ledger": spec.ledger,
            "kind": spec.kind.value,
            "flags": int(flags),
            "owner_id": spec.owner_id,
            "reference": spec.reference,
            "debits_pending": 0,
            "debits_posted": 0,
            "credits_pending": 0,
            "credits_posted": 0,
            "created_at": now,
        }
        statement = self._insert(accounts).values(values)
        self.connection.execute(statement.on_conflict_do_nothing(index_elements=["id"]))
        return self.account(spec.id)

    def accounts(self, account_ids: Iterable[str], *, lock: bool = False) -> dict[str, Account]:
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        query = select(*_ACCOUNT_COLUMNS).where(accounts.c.id.in_(ids)).order_by(accounts.c.id)
        if lock:
            query = query.with_for_update()
        return {row.id: _account(row) for row in self.connection.execute(query)}

    def account(self, account_id: str) -> Account:
        found = self.accounts([account_id]).get(account_id)
        if found is None:
            raise UnknownAccount(account_id)
        return found

    def accounts_of(self, owner_id: str) -> list[Account]:
        query = select(*_ACCOUNT_COLUMNS).where(accounts.c.owner_id == owner_id)
        return [_account(row) for row in self.connection.execute(query.order_by(accounts.c.id))]

    # -- transfers --------------------------------------------------------------------------
    def transfers(self, transfer_ids: Iterable[str]) -> dict[str, Transfer]:
        ids = sorted(set(transfer_ids))
        if not ids:
            return {}
        query = select(transfers).where(transfers.c.id.in_(ids))
        return {row.id: _transfer(row) for row in self.connection.execute(query)}

    def holds(self, hold_ids: Iterable[str], *, lock: bool = False) -> dict[str, Hold]:
        ids = sorted(set(hold_ids))
        if not ids:
            return {}
        query = select(holds).where(holds.c.id.in_(ids)).order_by(holds.c.id)
        if lock:
            query = query.with_for_update()
        return {row.id: _hold(row) for row in self.connection.execute(query)}

    def submit(self, requests: Sequence[TransferRequest], now: datetime) -> list[Transfer]:
        """Applies a linked batch (all or nothing) or returns the first result of a replay.

        Raises a LedgerError having written nothing, or IdempotencyConflict (after which the
        caller's transaction must roll back, as it does for any exception).
        """
        require_batch_shape(requests)
        if self._single_statement and len(requests) == 1 and not requests[0].ends_hold:
            return self._submit_alone(requests[0], now)
        return self._submit_planned(requests, now)

    def _submit_planned(self, requests: Sequence[TransferRequest], now: datetime) -> list[Transfer]:
        """The general path: lock holds then accounts in id order, plan, write."""
        held = self.holds((r.pending_id for r in requests if r.pending_id), lock=True)
        locked = self.accounts(accounts_named(requests, held.values()), lock=True)
        try:
            plan = plan_batch(requests, locked, held, now)
        except LedgerError:
            # A replay of a batch that succeeded returns its first result, whatever changed since.
            replay = resolve_replay(requests, self.transfers(r.id for r in requests))
            if replay is not None:
                return replay
            raise
        inserted = self._insert_transfers(plan.transfers)
        if inserted < len(plan.transfers):
            return self._replay_or_conflict(requests, inserted)
        self._add_totals(plan.deltas)
        if plan.holds_created:
            self.connection.execute(holds.insert(), [_hold_params(h) for h in plan.holds_created])
        if plan.holds_ended:
            self._end_holds(plan.holds_ended)
        return plan.transfers

    def _submit_alone(self, request: TransferRequest, now: datetime) -> list[Transfer]:
        """One plain or pending transfer in one round trip (PostgreSQL's hot path)."""
        # The driver's cursor, inside this same transaction: no per-statement SQLAlchemy overhead.
        cursor = self.connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(_SINGLE_SQL, _single_params(request, now))
            rows = cursor.fetchall()
        finally:
            cursor.close()
        if rows and rows[0][0] == 1:
            if rows[0][1] != 2 or rows[0][2] != int(bool(request.flags & TransferFlags.PENDING)):
                raise LedgerInvariantBroken(
                    msg("一笔转账只写入了一部分", "a transfer was written only in part"), request.id
                )
            return [written_alone(request, now)]
        locked = {row[3]: _account_tuple(row[3:]) for row in rows}
        return self._explain_refusal(request, locked, now)

    def _explain_refusal(
        self, request: TransferRequest, locked: Mapping[str, Account], now: datetime
    ) -> list[Transfer]:
        """Nothing was written: a rule refused it (raise the domain's error) or it is a replay."""
        try:
            plan_batch([request], locked, {}, now)
        except LedgerError:
            replay = resolve_replay([request], self.transfers([request.id]))
            if replay is not None:
                return replay
            raise
        replay = resolve_replay([request], self.transfers([request.id]))
        if replay is None:
            raise LedgerInvariantBroken(
                msg("数据库拒绝了规则允许的操作", "the database refused what the rules allow"),
                request.id,
            )
        return replay

    def _replay_or_conflict(
        self, requests: Sequence[TransferRequest], inserted: int
    ) -> list[Transfer]:
        if inserted:  # some ids were new and some not: a different batch reusing ids
            raise IdempotencyConflict(
                msg(
                    "这一批重复使用了之前一批的转账编号",
                    "a batch reused some transfer ids of an earlier batch",
                ),
                field="id",
            )
        replay = resolve_replay(requests, self.transfers(r.id for r in requests))
        if replay is None:  # pragma: no cover - the insert saw them, so they exist
            raise IdempotencyConflict(
                msg("转账编号冲突，但无法读取已有记录", "transfer ids collided but cannot be read"),
                field="id",
            )
        return replay

    def _insert_transfers(self, planned: Sequence[Transfer]) -> int:
        statement = (
            self._insert(transfers)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(transfers.c.id)
        )
        rows = self.connection.execute(statement, [_transfer_params(t) for t in planned])
        return len(rows.all())

    def _add_totals(self, deltas: Mapping[str, Balance]) -> None:
        params = [
            {
                "b_id": account_id,
                "b_dp": delta.debits_pending,
                "b_dpo": delta.debits_posted,
                "b_cp": delta.credits_pending,
                "b_cpo": delta.credits_posted,
            }
            for account_id, delta in sorted(deltas.items())
        ]
        if params:
            self.connection.execute(_ADD_TOTALS, params)

    def _end_holds(self, ended: Sequence[Hold]) -> None:
        params = [
            {
                "b_id": hold.id,
                "b_state": hold.state.value,
                "b_posted": hold.posted_fen,
                "b_ended_by": hold.ended_by,
                "b_ended_at": hold.ended_at,
            }
            for hold in ended
        ]
        self.connection.execute(_END_HOLD, params)

    # -- expiry -----------------------------------------------------------------------------
    def due_hold_ids(self, now: datetime, limit: int = EXPIRY_BATCH_MAX) -> list[str]:
        query = (
            select(holds.c.id)
            .where(holds.c.state == HoldState.PENDING.value, holds.c.expires_at <= now)
            .order_by(holds.c.expires_at, holds.c.id)
            .limit(min(limit, EXPIRY_BATCH_MAX))
        )
        return list(self.connection.scalars(query))

    def expire(self, hold_ids: Sequence[str], now: datetime) -> list[Transfer]:
        """Expires those of `hold_ids` still pending and due; returns the expiry transfers."""
        locked_holds = self.holds(hold_ids, lock=True)
        due = [
            h for h in locked_holds.values() if h.state is HoldState.PENDING and h.expired_at(now)
        ]
        if not due:
            return []
        locked = self.accounts(accounts_named((), due), lock=True)
        plan = plan_expiry(due, locked, now)
        if self._insert_transfers(plan.transfers) != len(plan.transfers):
            raise IdempotencyConflict(
                msg("到期转账编号已被占用", "an expiry transfer id is already taken"), field="id"
            )
        self._add_totals(plan.deltas)
        self._end_holds(plan.holds_ended)
        return plan.transfers


def _insert_for(dialect_name: str) -> Callable[..., Any]:
    """The dialect's INSERT (it alone has ON CONFLICT)."""
    if dialect_name == "postgresql":
        return postgresql.insert
    if dialect_name == "sqlite":
        return sqlite.insert
    raise LedgerError(
        msg(
            f"账本只能运行在 PostgreSQL 或 SQLite 上，不支持 {dialect_name}",
            f"the ledger runs on PostgreSQL or SQLite, not {dialect_name}",
        )
    )


# ---------------------------------------------------------------------------------------------
# Statements


@dataclass(frozen=True)
class StatementLine:
    transfer: Transfer
    direction: str  # "debit" or "credit", seen from the account
    hold_state: str | None  # for a pending transfer: its hold's state now


def statement_page(
    connection: Connection,
    account_id: str,
    since: datetime | None,
    until: datetime | None,
    offset: int,
    limit: int,
) -> tuple[list[StatementLine], int]:
    """Transfers touching the account in [since, until), oldest first; and their total count."""
    where = [
        or_(transfers.c.debit_account_id == account_id, transfers.c.credit_account_id == account_id)
    ]
    if since is not None:
        where.append(transfers.c.created_at >= since)
    if until is not None:
        where.append(transfers.c.created_at < until)
    total = connection.scalar(select(func.count()).select_from(transfers).where(*where)) or 0
    query = (
        select(transfers, holds.c.state.label("hold_state"))
        .outerjoin(holds, holds.c.id == transfers.c.id)
        .where(*where)
        .order_by(transfers.c.created_at, transfers.c.id)
        .offset(offset)
        .limit(limit)
    )
    lines = [
        StatementLine(
            transfer=_transfer(row),
            direction="debit" if row.debit_account_id == account_id else "credit",
            hold_state=row.hold_state,
        )
        for row in connection.execute(query)
    ]
    return lines, total


# ---------------------------------------------------------------------------------------------
# The check: every balance rebuilt from the transfers alone (invariant 7), every rule re-checked


@dataclass(frozen=True)
class CheckReport:
    accounts_checked: int
    transfers_checked: int
    holds_checked: int
    violations: list[Violation]

    @property
    def ok(self) -> bool:
        return not self.violations


_POSTED_FLAGS = (int(TransferFlags.NONE), int(TransferFlags.POST_PENDING))
_HOLD_STATE_BY_FLAGS = {
    int(TransferFlags.POST_PENDING): HoldState.POSTED,
    int(TransferFlags.VOID_PENDING): HoldState.VOIDED,
    int(TransferFlags.EXPIRE_PENDING): HoldState.EXPIRED,
}


def check_ledger(connection: Connection) -> CheckReport:
    """Rebuilds every account's totals from transfers and checks invariants 2, 3, 5, 6 and 7.

    Run it in one snapshot (REPEATABLE READ on PostgreSQL) so concurrent writers cannot skew it.
    """
    stored = {row.id: _account(row) for row in connection.execute(select(*_ACCOUNT_COLUMNS))}
    rebuilt = _rebuilt_balances(connection)
    violations: list[Violation] = []
    for account_id in sorted(set(stored) | set(rebuilt)):
        account = stored.get(account_id)
        if account is None:
            violations.append(Violation(account_id, "account_exists", "transfers name it"))
            continue
        violations += account_violations(account, rebuilt.get(account_id, Balance()))
    violations += ledger_totals_violations(_ledger_totals(connection))
    violations += _transfer_violations(connection)
    hold_count, hold_violations = _hold_violations(connection)
    transfer_count = connection.scalar(select(func.count()).select_from(transfers)) or 0
    return CheckReport(len(stored), transfer_count, hold_count, violations + hold_violations)


def _grouped_sums(connection: Connection, query: Select[Any]) -> dict[str, int]:
    # PostgreSQL sums BIGINT into NUMERIC (Decimal): int() is exact, no float involved.
    return {row[0]: int(row[1]) for row in connection.execute(query)}


def _rebuilt_balances(connection: Connection) -> dict[str, Balance]:
    ending = transfers.alias("ending")
    still_pending = ~select(ending.c.id).where(ending.c.pending_id == transfers.c.id).exists()
    posted = transfers.c.flags.in_(_POSTED_FLAGS)
    pending = (transfers.c.flags == int(TransferFlags.PENDING)) & still_pending
    sums = []
    for side in (transfers.c.debit_account_id, transfers.c.credit_account_id):
        for condition in (pending, posted):
            query = select(side, func.sum(transfers.c.amount_fen)).where(condition).group_by(side)
            sums.append(_grouped_sums(connection, query))
    debits_pending, debits_posted, credits_pending, credits_posted = sums
    ids = set().union(*sums)
    return {
        account_id: Balance(
            debits_pending.get(account_id, 0),
            debits_posted.get(account_id, 0),
            credits_pending.get(account_id, 0),
            credits_posted.get(account_id, 0),
        )
        for account_id in ids
    }


def _ledger_totals(connection: Connection) -> dict[int, Balance]:
    query = select(
        accounts.c.ledger,
        func.sum(accounts.c.debits_pending),
        func.sum(accounts.c.debits_posted),
        func.sum(accounts.c.credits_pending),
        func.sum(accounts.c.credits_posted),
    ).group_by(accounts.c.ledger)
    return {
        row[0]: Balance(int(row[1]), int(row[2]), int(row[3]), int(row[4]))
        for row in connection.execute(query)
    }


def _transfer_violations(connection: Connection) -> list[Violation]:
    """Amounts positive, both sides on the transfer's ledger, endings match their holds."""
    debit, credit = accounts.alias("debit_side"), accounts.alias("credit_side")
    wrong_ledger = (
        select(transfers.c.id)
        .join(debit, debit.c.id == transfers.c.debit_account_id)
        .join(credit, credit.c.id == transfers.c.credit_account_id)
        .where(or_(debit.c.ledger != transfers.c.ledger, credit.c.ledger != transfers.c.ledger))
    )
    pending = transfers.alias("pending_side")
    bad_ending = (
        select(transfers.c.id)
        .outerjoin(pending, pending.c.id == transfers.c.pending_id)
        .where(
            transfers.c.pending_id.is_not(None),
            or_(
                pending.c.id.is_(None),
                pending.c.flags != int(TransferFlags.PENDING),
                pending.c.debit_account_id != transfers.c.debit_account_id,
                pending.c.credit_account_id != transfers.c.credit_account_id,
                transfers.c.amount_fen > pending.c.amount_fen,
            ),
        )
    )
    checks = (
        ("amount_positive", select(transfers.c.id).where(transfers.c.amount_fen <= 0)),
        ("same_ledger", wrong_ledger),
        ("ending_matches_pending", bad_ending),
    )
    return [
        Violation(transfer_id, rule, "transfer breaks the rule")
        for rule, query in checks
        for transfer_id in connection.scalars(query.limit(VIOLATIONS_LISTED_MAX))
    ]


def _hold_violations(connection: Connection) -> tuple[int, list[Violation]]:
    """Each pending transfer has one hold, ended at most once, as its ending transfer says."""
    ending = transfers.alias("ending")
    query = (
        select(
            transfers.c.id,
            transfers.c.amount_fen,
            holds.c.id.label("hold_id"),
            holds.c.amount_fen.label("hold_fen"),
            holds.c.state,
            holds.c.posted_fen,
            holds.c.ended_by,
            ending.c.id.label("ending_id"),
            ending.c.flags.label("ending_flags"),
            ending.c.amount_fen.label("ending_fen"),
        )
        .outerjoin(holds, holds.c.id == transfers.c.id)
        .outerjoin(ending, ending.c.pending_id == transfers.c.id)
        .where(transfers.c.flags == int(TransferFlags.PENDING))
    )
    count, found = 0, list[Violation]()
    for row in connection.execute(query):
        count += 1
        problem = _hold_problem(row)
        if problem is not None and len(found) < VIOLATIONS_LISTED_MAX:
            found.append(Violation(row.id, "hold_ended_exactly_once", problem))
    orphans = select(holds.c.id).outerjoin(transfers, transfers.c.id == holds.c.id)
    for hold_id in connection.scalars(orphans.where(transfers.c.id.is_(None)).limit(10)):
        found.append(Violation(hold_id, "hold_has_pending_transfer", "no pending transfer"))
    return count, found


def _hold_problem(row: Any) -> str | None:
    if row.hold_id is None or row.hold_fen != row.amount_fen:
        return "the pending transfer has no matching hold"
    if row.ending_id is None:
        return None if row.state == HoldState.PENDING.value else f"{row.state} with no ending"
    expected = _HOLD_STATE_BY_FLAGS.get(row.ending_flags)
    if expected is None or row.state != expected.value or row.ended_by != row.ending_id:
        return f"state {row.state} disagrees with ending transfer {row.ending_id}"
    posted = row.ending_fen if expected is HoldState.POSTED else 0
    if row.posted_fen != posted:
        return f"posted {row.posted_fen} fen but the ending transfer says {posted}"
    return None
