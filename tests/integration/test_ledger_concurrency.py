"""Sixteen workers hammer a real PostgreSQL ledger for a bounded time with random transfers,
holds, posts, voids, expiries and duplicate deliveries of the same ids. Afterwards the ledger
check passes, no balance is beyond its limit and every hold ended exactly once."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import partial

import pytest
import sqlalchemy as sa

from suanli.adapters.db.database import Database
from suanli.adapters.db.ledger_repo import AccountSpec, LedgerRepository, transact
from suanli.adapters.db.migrate import upgrade
from suanli.domain.ledger import (
    AccountKind,
    LedgerError,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRequest,
    check_limits,
)
from suanli.errors import IdempotencyConflict
from suanli.services import ledger
from suanli.services.common import SystemClock
from tests.unit.test_ledger_domain import hold, move, post, top_up, void

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKERS = 16
RUN_S = 10.0
OPERATIONS_PER_WORKER_MAX = 3_000
WALLETS = 6  # few accounts, so that workers collide on them
HOLD_TIMEOUTS_S = (0, 0, 1, 2)


@dataclass
class Journal:
    """What the workers asked for and got, shared under a lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    issued: list[TransferRequest] = field(default_factory=list)
    results: dict[str, list[tuple[object, ...]]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    kinds: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    def record(self, kind: str, requests: list[TransferRequest], outcome: object) -> None:
        with self.lock:
            self.kinds[kind] += 1
            if isinstance(outcome, list):
                self.issued.extend(requests)
                for written in outcome:
                    self.results[written.id].append(content(written))
            else:
                for request in requests:
                    self.failures[request.id].append(str(outcome))

    def pick(self, rng: random.Random) -> TransferRequest | None:
        with self.lock:
            return rng.choice(self.issued[-200:]) if self.issued else None


def content(transfer: Transfer) -> tuple[object, ...]:
    return (
        transfer.code,
        transfer.debit_account_id,
        transfer.credit_account_id,
        transfer.amount_fen,
        int(transfer.flags),
        transfer.pending_id,
    )


@pytest.fixture
def db(postgres_schema_url: str) -> Iterator[Database]:
    upgrade(postgres_schema_url)
    database = Database(postgres_schema_url)
    yield database
    database.dispose()


def test_sixteen_workers_with_duplicate_deliveries_leave_a_consistent_ledger(db: Database) -> None:
    clock = SystemClock()
    wallets = _funded_wallets(db, clock)
    journal = Journal()
    deadline = time.monotonic() + RUN_S
    threads = [
        threading.Thread(target=_worker, args=(db, clock, wallets, journal, seed, deadline))
        for seed in range(WORKERS)
    ]
    threads.append(threading.Thread(target=_sweeper, args=(db, clock, deadline)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RUN_S + 60)
    assert not any(thread.is_alive() for thread in threads)
    assert journal.unexpected == []
    refused = Counter(reason for reasons in journal.failures.values() for reason in reasons)
    print(f"operations {dict(journal.kinds)}; refused {dict(refused)}")  # shown with -s
    _end_every_hold(db, clock)
    report = ledger.run_check(db)
    assert report.ok, report.violations[:10]
    _assert_within_limits(db)
    _assert_holds_ended_exactly_once(db)
    _assert_one_content_per_id(db, journal)
    assert sum(journal.kinds.values()) >= 500, journal.kinds
    assert journal.kinds["duplicate"] > 0 and journal.kinds["conflicting"] > 0


def _funded_wallets(db: Database, clock: SystemClock) -> list[str]:
    def work(session: sa.orm.Session) -> list[str]:
        repository = LedgerRepository.of(session)
        ids = [
            repository.ensure_account(
                AccountSpec(AccountKind.ENTERPRISE_WALLET, f"org_{i}"), clock.now()
            ).id
            for i in range(WALLETS)
        ]
        repository.submit([top_up(f"fund-{i}", w, 200_000) for i, w in enumerate(ids)], clock.now())
        return ids

    return transact(db, work)


def _worker(
    db: Database,
    clock: SystemClock,
    wallets: list[str],
    journal: Journal,
    seed: int,
    deadline: float,
) -> None:
    rng = random.Random(seed)
    for n in range(OPERATIONS_PER_WORKER_MAX):
        if time.monotonic() >= deadline:
            return
        kind, requests = _next_requests(rng, f"w{seed}-{n}", wallets, journal)
        if not requests:
            continue
        try:
            outcome: object = transact(db, partial(ledger.submit, clock=clock, requests=requests))
        except (LedgerError, IdempotencyConflict) as error:
            outcome = type(error).__name__
        except Exception as error:  # anything untyped is a bug: collected, then asserted empty
            with journal.lock:
                journal.unexpected.append(f"{kind} {requests}: {error!r}")
            continue
        journal.record(kind, requests, outcome)


def _next_requests(
    rng: random.Random, tag: str, wallets: list[str], journal: Journal
) -> tuple[str, list[TransferRequest]]:
    a, b = rng.sample(wallets, 2)
    roll = rng.random()
    if roll < 0.25:
        return "move", [move(tag, a, b, rng.randint(1, 40_000))]
    if roll < 0.32:
        return "top_up", [top_up(tag, a, rng.randint(1, 20_000))]
    if roll < 0.52:
        timeout = rng.choice(HOLD_TIMEOUTS_S)
        return "hold", [hold(tag, a, ledger.CLEARING_ACCOUNT_ID, rng.randint(1, 30_000), timeout)]
    earlier = journal.pick(rng)
    if earlier is None:
        return "none", []
    if roll < 0.67 and earlier.flags & TransferFlags.PENDING:
        return "settle", _settlement(tag, earlier, rng)
    if roll < 0.77 and earlier.flags & TransferFlags.PENDING:
        return "void", [void(tag, earlier.id)]
    if roll < 0.95:
        return "duplicate", [earlier]
    return "conflicting", [replace(earlier, amount_fen=earlier.amount_fen + 1)]


def _settlement(tag: str, pending: TransferRequest, rng: random.Random) -> list[TransferRequest]:
    captured = rng.randint(1, pending.amount_fen)
    fee = captured // 20
    batch = [post(f"{tag}-capture", pending.id, captured)]
    if fee:
        batch.append(
            TransferRequest(
                f"{tag}-fee",
                fee,
                TransferCode.PLATFORM_FEE,
                ledger.CLEARING_ACCOUNT_ID,
                ledger.REVENUE_ACCOUNT_ID,
            )
        )
    return batch


def _sweeper(db: Database, clock: SystemClock, deadline: float) -> None:
    while time.monotonic() < deadline:
        ledger.expire_holds(db, clock)
        time.sleep(0.3)


def _end_every_hold(db: Database, clock: SystemClock) -> None:
    """Lets the timed holds expire, sweeps them, then voids the holds that never time out."""
    time.sleep(max(HOLD_TIMEOUTS_S) + 0.2)
    ledger.expire_holds(db, clock)
    with db.engine.connect() as connection:
        pending = list(
            connection.scalars(sa.text("SELECT id FROM ledger_holds WHERE state = 'pending'"))
        )
    for start in range(0, len(pending), 50):
        voids = [void(f"final-{hold_id}", hold_id) for hold_id in pending[start : start + 50]]
        transact(db, partial(ledger.submit, clock=clock, requests=voids))


def _assert_within_limits(db: Database) -> None:
    with db.engine.connect() as connection:
        repository = LedgerRepository(connection)
        ids = list(connection.scalars(sa.text("SELECT id FROM ledger_accounts")))
        for account in repository.accounts(ids).values():
            check_limits(account, account.balance)  # raises on any broken limit
            assert min(account.balance.totals()) >= 0


def _assert_holds_ended_exactly_once(db: Database) -> None:
    with db.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT h.id, h.state, h.ended_by, count(e.id) AS endings, min(e.id) AS ending"
                " FROM ledger_holds h LEFT JOIN ledger_transfers e ON e.pending_id = h.id"
                " GROUP BY h.id, h.state, h.ended_by"
            )
        ).all()
    assert rows, "no hold was ever opened"
    for row in rows:
        assert row.state != "pending", row
        assert row.endings == 1 and row.ending == row.ended_by, row


def _assert_one_content_per_id(db: Database, journal: Journal) -> None:
    with db.engine.connect() as connection:
        stored = LedgerRepository(connection).transfers(journal.results)
    for transfer_id, seen in journal.results.items():
        assert len(set(seen)) == 1, f"{transfer_id} answered with different contents: {seen}"
        assert content(stored[transfer_id]) == seen[0]
    never_written = set(journal.failures) - set(journal.results)
    with db.engine.connect() as connection:
        assert LedgerRepository(connection).transfers(never_written) == {}
