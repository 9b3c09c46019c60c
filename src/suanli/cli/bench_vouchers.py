"""`suanli bench vouchers`: a storm of concurrent orders (hold at submit, then settlement) by
enterprises whose grants, and the program budget behind them, cover only some of the subsidy
asked for. It prints the throughput and proves that nothing was overspent.

It works in a schema (PostgreSQL) or a file (SQLite) of its own, dropped afterwards, and never
touches the application's data. Workers are processes so that Python's GIL does not cap them.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from multiprocessing.synchronize import Barrier
from typing import Any

from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.adapters.db.database import Database
from suanli.adapters.db.ledger_repo import transact, transfers
from suanli.adapters.db.tables import JobRow, UsageRow
from suanli.adapters.db.tables_vouchers import VoucherGrantRow, VoucherProgramRow
from suanli.cli.bench import SETTLEMENTS_MAX
from suanli.cli.bench_ledger import check_database_url, scratch_database, yes_no
from suanli.cli.common import console, fail, print_json
from suanli.config import Settings, load_settings
from suanli.domain.jobs import JobSpec
from suanli.domain.ledger import TransferCode, TransferFlags
from suanli.domain.money import price_card_seconds
from suanli.domain.vouchers import EnterpriseFacts, Rules
from suanli.i18n import t
from suanli.services import jobs, ledger, settlement, vouchers, wallets
from suanli.services.common import Principal, SystemClock
from suanli.services.organisations import create_organisation
from suanli.services.pools import create_pool

ENTERPRISES_MAX = 50
WORKER_START_TIMEOUT_S = 120.0
STORM_TIMEOUT_S = 600.0
ERRORS_PER_WORKER_MAX = 100
PRICE_FEN_PER_CARD_HOUR = 100_000  # one card-hour of Ascend 910 at ¥1,000
MAX_RUN_TIME_S = 3600
RATIO = "0.5"
COVERED_SHARE_PERCENT = 40  # the budget covers about this share of the subsidy asked for
WALLET_FEN = 10**10
SYSTEM = Principal(user_id="bench", org_id="platform", org_kind="operator")


@dataclass(frozen=True)
class City:
    """What the storm needs to know; plain data, so that spawned workers receive it."""

    program_id: str
    pool_id: str
    provider_id: str
    enterprises: list[str]
    budget_fen: int
    quota_fen: int


@dataclass(frozen=True)
class StormResult:
    settlements: int
    budget_fen: int
    paid_fen: int
    overspent: bool
    settlements_per_s: float
    subsidised: int
    unsubsidised: int
    asked_fen: int
    workers: int
    errors: int
    ledger_ok: bool
    violations: list[str]
    engine: str


# ---------------------------------------------------------------------------------------------
# Setup: an agency's program, funded; enterprises granted equal quotas; wallets topped up


def _settings(url: str) -> Settings:
    # Its orders are settled without a run, so each stays queued: the per-enterprise limit on
    # queued jobs would refuse the storm's later orders.
    return load_settings(database_url=url, max_queued_jobs_per_enterprise=SETTLEMENTS_MAX)


def build_city(url: str, settlements: int) -> City:
    """Budget = the sum of the quotas = COVERED_SHARE_PERCENT of the subsidy the storm asks for
    at the largest usage; enterprises get equal shares of the orders."""
    enterprises = max(1, min(ENTERPRISES_MAX, settlements // 5))
    asked_per_order = price_card_seconds(MAX_RUN_TIME_S, PRICE_FEN_PER_CARD_HOUR) // 2
    per_enterprise = -(-settlements // enterprises) * asked_per_order
    quota = max(1, per_enterprise * COVERED_SHARE_PERCENT // 100)
    db = Database(url)
    try:
        return transact(db, lambda s: _setup(s, enterprises, quota))
    finally:
        db.dispose()


def _setup(session: Session, enterprise_count: int, quota_fen: int) -> City:
    clock = SystemClock()
    agency = create_organisation(session, clock, name="bench-agency", kind="agency")
    provider = create_organisation(session, clock, name="bench-provider", kind="provider")
    pool = create_pool(session, clock, SYSTEM, _pool_fields(provider.id))
    budget = quota_fen * enterprise_count
    agency_caller = Principal("bench-agency", agency.id, "agency")
    program = vouchers.create_program(
        session,
        clock,
        agency_caller,
        name="bench program",
        category="compute",
        budget_fen=budget,
        valid_from=clock.now() - timedelta(days=1),
        valid_until=clock.now() + timedelta(days=30),
        rules=Rules(base_ratio_bp=5_000, cap_per_enterprise_fen=quota_fen),
    )
    vouchers.fund_program(
        session,
        clock,
        agency_caller,
        program_id=program.id,
        amount_fen=budget,
        external_reference="bench-funding",
    )
    enterprises = [
        _granted_enterprise(session, agency_caller, program.id, n, quota_fen)
        for n in range(enterprise_count)
    ]
    return City(program.id, pool.id, provider.id, enterprises, budget, quota_fen)


def _pool_fields(provider_id: str) -> dict[str, Any]:
    return {
        "name": "bench-ascend",
        "accelerator_model": "Ascend-910",
        "nodes": 1_000,
        "cards_per_node": 8,
        "region": "浙江/杭州/余杭",
        "price_fen_per_card_hour": PRICE_FEN_PER_CARD_HOUR,
        "provider_id": provider_id,
    }


def _granted_enterprise(
    session: Session, agency: Principal, program_id: str, n: int, quota_fen: int
) -> str:
    clock = SystemClock()
    org = create_organisation(session, clock, name=f"bench-enterprise-{n}", kind="enterprise")
    facts = EnterpriseFacts(is_sme=True, region="浙江/杭州", founded_on=date(2020, 1, 1))
    me = Principal(f"bench-{n}", org.id, "enterprise")
    application = vouchers.apply(
        session, clock, me, program_id=program_id, facts=facts, requested_fen=quota_fen
    )
    vouchers.approve(session, clock, agency, application_id=application.id, quota_fen=quota_fen)
    wallets.top_up(
        session,
        clock,
        SYSTEM,
        org_id=org.id,
        amount_fen=WALLET_FEN,
        external_reference=f"bench-wallet-{n}",
    )
    return org.id


# ---------------------------------------------------------------------------------------------
# The storm (module-level functions, so that spawned processes can import them)


def one_order(db: Database, settings: Settings, city: City, enterprise_id: str, seed: int) -> None:
    """Submit (the hold counts the expected subsidy), then settle a metered usage line."""
    clock = SystemClock()
    caller = Principal(f"bench-{enterprise_id}", enterprise_id, "enterprise")
    spec = JobSpec(
        name="bench", command="true", max_run_time_s=MAX_RUN_TIME_S, accelerators=("Ascend-910",)
    )
    job = transact(db, lambda s: jobs.submit_job(s, settings, clock, caller, spec))
    card_seconds = random.Random(seed).randint(MAX_RUN_TIME_S // 2, MAX_RUN_TIME_S)

    def settle(session: Session) -> None:
        row = session.get(JobRow, job.id)
        if row is None:  # pragma: no cover - committed just above
            raise LookupError(job.id)
        row.pool_id = city.pool_id
        usage = _usage(row, city, card_seconds, clock.now())
        session.add(usage)
        session.flush()
        settlement.settle_job(session, settings, clock, row, usage)

    transact(db, settle)


def _usage(job: JobRow, city: City, card_seconds: int, now: datetime) -> UsageRow:
    return UsageRow(
        job_id=job.id,
        owner_id=job.owner_id,
        provider_id=city.provider_id,
        pool_id=city.pool_id,
        accelerator_model="Ascend-910",
        cards=1,
        started_at=now - timedelta(seconds=card_seconds),
        ended_at=now,
        card_seconds=card_seconds,
        price_fen_per_card_hour=PRICE_FEN_PER_CARD_HOUR,
        amount_fen=price_card_seconds(card_seconds, PRICE_FEN_PER_CARD_HOUR),
        source="bench",
        created_at=now,
    )


def run_worker(
    url: str, city: City, orders: list[tuple[str, int]], barrier: Barrier, results: Any
) -> None:
    db = Database(url)
    settings = _settings(url)
    barrier.wait(WORKER_START_TIMEOUT_S)
    started, done, errors = time.perf_counter(), 0, 0
    for enterprise_id, seed in orders:
        try:
            one_order(db, settings, city, enterprise_id, seed)
            done += 1
        except Exception:  # counted, not hidden: the result reports errors
            errors += 1
            if errors > ERRORS_PER_WORKER_MAX:
                break
    results.put((done, errors, time.perf_counter() - started))
    db.dispose()


def storm(url: str, city: City, settlements: int, workers: int) -> tuple[int, int, float]:
    """Runs `settlements` orders on `workers` processes; returns (done, errors, seconds)."""
    orders = [(city.enterprises[n % len(city.enterprises)], n) for n in range(settlements)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results = context.Queue()
    processes = [
        context.Process(
            target=run_worker,
            args=(url, city, orders[worker::workers], barrier, results),
            daemon=True,
        )
        for worker in range(workers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=STORM_TIMEOUT_S) for _ in range(workers)]
    for process in processes:
        process.join(timeout=30)
    return (
        sum(outcome[0] for outcome in outcomes),
        sum(outcome[1] for outcome in outcomes),
        max(outcome[2] for outcome in outcomes),
    )


# ---------------------------------------------------------------------------------------------
# Afterwards: what was paid, by whom, and whether any limit broke


@dataclass(frozen=True)
class Audit:
    paid_fen: int
    asked_fen: int
    subsidised: int
    unsubsidised: int
    overspent: list[str]  # a budget or a grant paid past its limit (invariant 11)
    violations: list[str]  # what `ledger check` found


def audit(url: str, city: City) -> Audit:
    """Reads the ledger (not the redemption rows) to prove invariant 11, then runs the check."""
    db = Database(url)
    try:
        with db.session() as session:
            found = _audit(session, city)
        report = ledger.run_check(db)
    finally:
        db.dispose()
    found.violations.extend(f"{v.subject_id}: {v.rule}: {v.detail}" for v in report.violations)
    return found


def _audit(session: Session, city: City) -> Audit:
    program = session.get(VoucherProgramRow, city.program_id)
    if program is None:  # pragma: no cover - created by the setup
        raise LookupError(city.program_id)
    totals = vouchers.program_totals(session, program)
    problems = []
    if totals.paid_fen > city.budget_fen or totals.funded_fen > city.budget_fen:
        problems.append(f"program paid {totals.paid_fen} of a budget of {city.budget_fen}")
    for grant_id, paid in _paid_per_grant(session, city.program_id).items():
        if paid > city.quota_fen:
            problems.append(f"grant {grant_id} paid {paid} above its quota {city.quota_fen}")
    subsidised, unsubsidised = order_counts(session)
    asked = session.scalar(select(func.coalesce(func.sum(UsageRow.amount_fen), 0))) or 0
    return Audit(totals.paid_fen, int(asked) // 2, subsidised, unsubsidised, problems, [])


def _paid_per_grant(session: Session, program_id: str) -> dict[str, int]:
    grants = {
        grant.account_id: grant.id
        for grant in session.scalars(
            select(VoucherGrantRow).where(VoucherGrantRow.program_id == program_id)
        )
    }
    query = (
        select(transfers.c.debit_account_id, func.sum(transfers.c.amount_fen))
        .where(
            transfers.c.debit_account_id.in_(grants),
            transfers.c.code == int(TransferCode.VOUCHER_REDEMPTION),
            transfers.c.flags == int(TransferFlags.POST_PENDING),
        )
        .group_by(transfers.c.debit_account_id)
    )
    return {grants[account]: int(total) for account, total in session.execute(query)}


def order_counts(session: Session) -> tuple[int, int]:
    paid_jobs = select(transfers.c.reference).where(
        transfers.c.code == int(TransferCode.VOUCHER_REDEMPTION),
        transfers.c.flags == int(TransferFlags.POST_PENDING),
    )
    settled = session.scalar(select(func.count()).select_from(UsageRow)) or 0
    subsidised = session.scalar(select(func.count()).where(UsageRow.job_id.in_(paid_jobs))) or 0
    return int(subsidised), int(settled) - int(subsidised)


def run_benchmark(url: str, settlements: int, workers: int) -> StormResult:
    with scratch_database(url) as scratch:
        city = build_city(scratch, settlements)
        done, errors, seconds = storm(scratch, city, settlements, workers)
        found = audit(scratch, city)
    return StormResult(
        settlements=done,
        budget_fen=city.budget_fen,
        paid_fen=found.paid_fen,
        overspent=bool(found.overspent),
        settlements_per_s=round(done / seconds, 1) if seconds > 0 else 0.0,
        subsidised=found.subsidised,
        unsubsidised=found.unsubsidised,
        asked_fen=found.asked_fen,
        workers=workers,
        errors=errors,
        ledger_ok=not found.violations,
        violations=(found.overspent + found.violations)[:20],
        engine=url.split(":", 1)[0],
    )


def run_command(database_url: str, settlements: int, workers: int, json_output: bool) -> None:
    """`suanli bench vouchers` (its options are in cli/bench.py)."""
    result = run_benchmark(check_database_url(database_url), settlements, workers)
    if json_output:
        print_json(asdict(result))
    else:
        _print_result(result)
    if result.overspent or not result.ledger_ok:
        broken = t("预算被超支或账本不一致：", "overspent or ledger broken: ")
        fail(broken + str(result.violations[:5]), 6)


LABELS_ZH = {  # StormResult's fields as the zh-CN table names them (en: the field names)
    "settlements": "结算笔数",
    "budget_fen": "预算（分）",
    "paid_fen": "已付补贴（分）",
    "overspent": "超支",
    "settlements_per_s": "每秒结算",
    "subsidised": "获补贴",
    "unsubsidised": "未获补贴",
    "asked_fen": "申请补贴（分）",
    "workers": "进程数",
    "errors": "错误",
    "ledger_ok": "账本一致",
    "engine": "数据库",
}


def _print_result(result: StormResult) -> None:
    table = Table(
        title=t(
            f"算力券结算风暴（{result.workers} 个进程）",
            f"Voucher settlement storm ({result.workers} workers)",
        )
    )
    table.add_column(t("指标", "measure"))
    table.add_column(t("数值", "value"), justify="right")
    for key, value in asdict(result).items():
        if key != "violations":
            table.add_row(t(LABELS_ZH.get(key, key), key), _shown(value))
    console.print(table)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return yes_no(value)
    return f"{value:,}" if isinstance(value, int | float) else str(value)
