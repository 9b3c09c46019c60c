"""Real PostgreSQL, real concurrency: 120 orders (hold at submit, then settlement) from 16
threads against a program whose budget covers only some of the subsidy they ask for; and 30
concurrent approvals against a budget that fits 10. Afterwards the program never paid more
than its budget, no grant paid past its quota, every order was paid in full by wallet and
vouchers together, and `ledger check` passes (invariant 11, enforced by the ledger's flags)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.adapters.db.database import Database
from suanli.adapters.db.ledger_repo import transact, transfers
from suanli.adapters.db.migrate import upgrade
from suanli.adapters.db.tables import UsageRow
from suanli.adapters.db.tables_ledger import LedgerAccountRow
from suanli.adapters.db.tables_vouchers import VoucherGrantRow, VoucherProgramRow
from suanli.cli import bench_vouchers
from suanli.config import load_settings
from suanli.domain.ledger import AccountKind, TransferCode, TransferFlags
from suanli.domain.vouchers import BudgetShort, EnterpriseFacts, Rules
from suanli.services import ledger, organisations, vouchers
from suanli.services.common import Principal, SystemClock

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SETTLEMENTS = 120
THREADS = 16
APPLICANTS = 30
FITTING = 10


def run_together(tasks: list[Callable[[], object]]) -> list[object]:
    """Runs the tasks on their own threads, all released at once; returns results or errors."""
    barrier = threading.Barrier(len(tasks))

    def run(task: Callable[[], object]) -> object:
        barrier.wait(timeout=60)
        try:
            return task()
        except Exception as error:  # collected and asserted on below
            return error

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        return list(pool.map(run, tasks))


def test_concurrent_settlements_never_overspend_the_budget_or_a_grant(
    postgres_schema_url: str,
) -> None:
    upgrade(postgres_schema_url)
    city = bench_vouchers.build_city(postgres_schema_url, SETTLEMENTS)
    db = Database(postgres_schema_url)
    settings = load_settings(database_url=postgres_schema_url)
    orders = [(city.enterprises[n % len(city.enterprises)], n) for n in range(SETTLEMENTS)]

    def worker(mine: list[tuple[str, int]]) -> Callable[[], object]:
        def run() -> int:
            for enterprise_id, seed in mine:
                bench_vouchers.one_order(db, settings, city, enterprise_id, seed)
            return len(mine)

        return run

    results = run_together([worker(orders[n::THREADS]) for n in range(THREADS)])
    assert results == [len(orders[n::THREADS]) for n in range(THREADS)]  # no order failed
    try:
        with db.session() as session:
            _assert_within_limits(session, city)
            _assert_every_order_paid_in_full(session)
        report = ledger.run_check(db)
    finally:
        db.dispose()
    assert report.ok, report.violations[:5]


def _assert_within_limits(session: Session, city: bench_vouchers.City) -> None:
    program = session.get(VoucherProgramRow, city.program_id)
    assert program is not None
    totals = vouchers.program_totals(session, program)
    assert totals.funded_fen == city.budget_fen
    assert 0 < totals.paid_fen <= city.budget_fen
    paid_per_account = dict(
        session.execute(
            select(transfers.c.debit_account_id, func.sum(transfers.c.amount_fen))
            .where(
                transfers.c.code == int(TransferCode.VOUCHER_REDEMPTION),
                transfers.c.flags == int(TransferFlags.POST_PENDING),
            )
            .group_by(transfers.c.debit_account_id)
        ).all()
    )
    grants = list(session.scalars(select(VoucherGrantRow)))
    assert len(grants) == len(city.enterprises)
    for grant in grants:
        assert int(paid_per_account.get(grant.account_id, 0)) <= grant.quota_fen
    accounts = session.scalars(
        select(LedgerAccountRow).where(
            LedgerAccountRow.kind.in_(
                (AccountKind.VOUCHER_GRANT.value, AccountKind.VOUCHER_PROGRAM_BUDGET.value)
            )
        )
    )
    for account in accounts:  # nothing left reserved, nothing negative
        assert account.debits_pending == 0
        assert account.credits_posted - account.debits_posted >= 0
    subsidised, unsubsidised = bench_vouchers.order_counts(session)
    assert subsidised > 0 and unsubsidised > 0  # the budget covered only some


def _assert_every_order_paid_in_full(session: Session) -> None:
    """Wallet capture + subsidies = the metered amount, for every order (nothing cut)."""
    paid = dict(
        session.execute(
            select(transfers.c.reference, func.sum(transfers.c.amount_fen))
            .where(
                transfers.c.code.in_(
                    (int(TransferCode.JOB_CAPTURE), int(TransferCode.VOUCHER_REDEMPTION))
                ),
                transfers.c.flags == int(TransferFlags.POST_PENDING),
            )
            .group_by(transfers.c.reference)
        ).all()
    )
    usage = session.execute(select(UsageRow.job_id, UsageRow.amount_fen)).all()
    assert len(usage) == SETTLEMENTS
    for job_id, amount in usage:
        assert int(paid[job_id]) == amount


def test_concurrent_approvals_never_allocate_more_than_the_budget(
    postgres_schema_url: str,
) -> None:
    upgrade(postgres_schema_url)
    db = Database(postgres_schema_url)
    clock = SystemClock()
    quota = 1_000_000
    agency, program_id, applications = transact(
        db, lambda session: _program_with_applicants(session, clock, quota)
    )

    def approval(application_id: str) -> Callable[[], object]:
        return lambda: transact(
            db,
            lambda session: (
                vouchers.approve(
                    session, clock, agency, application_id=application_id, quota_fen=quota
                ).id
            ),
        )

    try:
        results = run_together([approval(a) for a in applications])
        granted = [r for r in results if isinstance(r, str)]
        refused = [r for r in results if isinstance(r, BudgetShort)]
        assert (len(granted), len(refused)) == (FITTING, APPLICANTS - FITTING)
        with db.session() as session:
            program = session.get(VoucherProgramRow, program_id)
            assert program is not None
            totals = vouchers.program_totals(session, program)
        assert (totals.remaining_fen, totals.committed_fen) == (0, FITTING * quota)
        assert ledger.run_check(db).ok
    finally:
        db.dispose()


def _program_with_applicants(
    session: Session, clock: SystemClock, quota: int
) -> tuple[Principal, str, list[str]]:
    agency_org = organisations.create_organisation(session, clock, name="agency", kind="agency")
    agency = Principal("a", agency_org.id, "agency")
    program = vouchers.create_program(
        session,
        clock,
        agency,
        name="p",
        category="smart",
        budget_fen=FITTING * quota,
        valid_from=clock.now() - timedelta(days=1),
        valid_until=clock.now() + timedelta(days=1),
        rules=Rules(base_ratio_bp=3_000, cap_per_enterprise_fen=quota),
    )
    vouchers.fund_program(
        session,
        clock,
        agency,
        program_id=program.id,
        amount_fen=FITTING * quota,
        external_reference="budget",
    )
    facts = EnterpriseFacts(is_sme=True, region="浙江/杭州", founded_on=date(2020, 1, 1))
    applications = []
    for n in range(APPLICANTS):
        org = organisations.create_organisation(session, clock, name=f"e{n}", kind="enterprise")
        me = Principal(f"u{n}", org.id, "enterprise")
        application = vouchers.apply(
            session, clock, me, program_id=program.id, facts=facts, requested_fen=quota
        )
        applications.append(application.id)
    return agency, program.id, applications
