"""The ledger on real SQLite and PostgreSQL: it agrees with the in-memory model, refuses bad
input writing nothing, settles jobs with the worked example's figures, and its check finds
tampering by name."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from suanli.adapters.db.database import Database
from suanli.adapters.db.ledger_repo import (
    AccountSpec,
    LedgerRepository,
    check_ledger,
    transact,
    transact_connection,
)
from suanli.adapters.db.tables import JobRow, PoolRow, UsageRow
from suanli.cli.ledger import app as ledger_cli
from suanli.config import load_settings
from suanli.domain.ledger import (
    TRANSFER_FEN_MAX,
    AccountKind,
    AmountOverflow,
    CurrencyMismatch,
    HoldAlreadyEnded,
    InsufficientFunds,
    InvalidAmount,
    InvalidTransfer,
    LedgerError,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRequest,
    UnknownAccount,
)
from suanli.errors import IdempotencyConflict, NotFound
from suanli.services import ledger, settlement, wallets
from suanli.services.common import Page, Principal
from suanli.services.organisations import create_organisation
from tests.unit.test_ledger_domain import MemoryLedger, hold, move, post, top_up, void

T0 = datetime(2025, 7, 15, 2, 0, tzinfo=UTC)
OPERATOR = Principal(user_id="usr_op", org_id="org_op", org_kind="operator")


class FixedClock:
    def __init__(self, now: datetime = T0) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def submit(db: Database, requests: list[TransferRequest], now: datetime = T0) -> list[Transfer]:
    return transact_connection(db.engine, lambda c: LedgerRepository(c).submit(requests, now))


def open_accounts(db: Database, *specs: AccountSpec) -> list[str]:
    def work(connection: sa.Connection) -> list[str]:
        repository = LedgerRepository(connection)
        return [repository.ensure_account(spec, T0).id for spec in specs]

    return transact_connection(db.engine, work)


def transfer_count(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.scalar(sa.text("SELECT count(*) FROM ledger_transfers")) or 0)


def checked(db: Database) -> list[str]:
    report = ledger.run_check(db)
    return [f"{v.subject_id}: {v.rule}: {v.detail}" for v in report.violations]


# ---------------------------------------------------------------------------------------------
# The database ledger behaves exactly as the model


@pytest.mark.parametrize("seed", [1, 2])
def test_the_database_ledger_agrees_with_the_model_on_random_operations(
    db: Database, seed: int
) -> None:
    rng = random.Random(seed)
    wallet_ids = open_accounts(
        db, *(AccountSpec(AccountKind.ENTERPRISE_WALLET, f"org_{i}") for i in range(3))
    )
    model = MemoryLedger()
    model.open(ledger.EXTERNAL_ACCOUNT_ID, AccountKind.EXTERNAL_CLEARING)
    model.open(ledger.CLEARING_ACCOUNT_ID, AccountKind.SETTLEMENT_CLEARING)
    model.open(ledger.REVENUE_ACCOUNT_ID, AccountKind.PLATFORM_REVENUE)
    for wallet in wallet_ids:
        model.open(wallet, AccountKind.ENTERPRISE_WALLET)
    now = T0
    for n in range(250):
        now += timedelta(seconds=1)
        requests = _random_requests(rng, n, wallet_ids, model)
        expected = _outcome(model.submit, requests, now)
        actual = _outcome(functools.partial(submit, db), requests, now)
        assert actual == expected, f"step {n}: {requests}"
        if n % 25 == 0:
            model.expire(now)
            ledger.expire_holds(db, FixedClock(now))
    _assert_same_state(db, model)
    assert checked(db) == []


def _random_requests(
    rng: random.Random, n: int, wallets_: list[str], model: MemoryLedger
) -> list[TransferRequest]:
    a, b = rng.sample(wallets_, 2)
    amount = rng.choice([rng.randint(1, 900), rng.randint(-3, 0), rng.randint(900, 3000)])
    roll = rng.random()
    if roll < 0.15:
        return [top_up(f"t{n}", a, abs(amount) + 1)]
    if roll < 0.4:
        return [move(f"t{n}", a, b, amount)]
    if roll < 0.6:
        timeout = rng.choice([0, 0, 5, 40])
        return [hold(f"t{n}", a, ledger.CLEARING_ACCOUNT_ID, amount, timeout_s=timeout)]
    if roll < 0.8 and model.holds:
        target = rng.choice(sorted(model.holds))
        if rng.random() < 0.5:
            return [void(f"t{n}", target)]
        return [
            post(f"t{n}", target, rng.randint(1, 600)),
            move(
                f"t{n}f", ledger.CLEARING_ACCOUNT_ID, ledger.REVENUE_ACCOUNT_ID, rng.randint(1, 5)
            ),
        ]
    if model.transfers:  # a duplicate delivery, sometimes with other content
        first = model.transfers[rng.choice(sorted(model.transfers))]
        if first.pending_id is None and not first.flags & TransferFlags.PENDING:
            bump = rng.choice([0, 0, 1])
            return [
                move(
                    first.id,
                    first.debit_account_id,
                    first.credit_account_id,
                    first.amount_fen + bump,
                )
            ]
    return [move(f"t{n}", a, ledger.EXTERNAL_ACCOUNT_ID, amount)]


def _outcome(action: Any, *args: Any) -> Any:
    try:
        return [_comparable(t) for t in action(*args)]
    except (LedgerError, IdempotencyConflict) as error:
        return type(error).__name__, error.details


def _comparable(transfer: Transfer) -> tuple[Any, ...]:
    return (
        transfer.id,
        transfer.code,
        transfer.debit_account_id,
        transfer.credit_account_id,
        transfer.amount_fen,
        int(transfer.flags),
        transfer.pending_id,
        transfer.timestamp,
    )


def _assert_same_state(db: Database, model: MemoryLedger) -> None:
    with db.engine.connect() as connection:
        repository = LedgerRepository(connection)
        stored = repository.accounts(model.accounts)
        holds = repository.holds(model.holds)
        transfers = repository.transfers(model.transfers)
    assert {k: a.balance for k, a in stored.items()} == {
        k: a.balance for k, a in model.accounts.items()
    }
    assert {k: (h.state, h.posted_fen) for k, h in holds.items()} == {
        k: (h.state, h.posted_fen) for k, h in model.holds.items()
    }
    assert set(transfers) == set(model.transfers)


# ---------------------------------------------------------------------------------------------
# Bad input: a typed error, nothing written


def test_bad_input_gets_a_typed_error_and_writes_nothing(db: Database) -> None:
    (wallet,) = open_accounts(db, AccountSpec(AccountKind.ENTERPRISE_WALLET, "org_a"))
    submit(db, [top_up("fund", wallet, 1_000)])
    submit(db, [hold("h", wallet, ledger.CLEARING_ACCOUNT_ID, 400)])
    submit(db, [void("v", "h")])
    before = transfer_count(db)
    bad: list[tuple[list[TransferRequest], type[Exception]]] = [
        ([move("zero", wallet, ledger.EXTERNAL_ACCOUNT_ID, 0)], InvalidAmount),
        ([move("negative", wallet, ledger.EXTERNAL_ACCOUNT_ID, -5)], InvalidAmount),
        ([move("unknown", wallet, "cny:enterprise_wallet:ghost", 5)], UnknownAccount),
        ([post("late", "h", 100)], HoldAlreadyEnded),
        (
            [
                TransferRequest(
                    "usd", 5, TransferCode.TRANSFER, wallet, ledger.EXTERNAL_ACCOUNT_ID, ledger=840
                )
            ],
            CurrencyMismatch,
        ),
        ([move("huge", ledger.EXTERNAL_ACCOUNT_ID, wallet, TRANSFER_FEN_MAX + 1)], AmountOverflow),
        ([move("overdraw", wallet, ledger.EXTERNAL_ACCOUNT_ID, 1_001)], InsufficientFunds),
        (
            [top_up("a", wallet, 5), move("b", wallet, ledger.EXTERNAL_ACCOUNT_ID, 2_000)],
            InsufficientFunds,
        ),
        ([move("fund", wallet, ledger.EXTERNAL_ACCOUNT_ID, 1)], IdempotencyConflict),
    ]
    for requests, error in bad:
        with pytest.raises(error):
            submit(db, requests)
    assert transfer_count(db) == before
    assert checked(db) == []


def test_a_running_total_near_its_maximum_overflows_rather_than_wraps(db: Database) -> None:
    (wallet,) = open_accounts(db, AccountSpec(AccountKind.ENTERPRISE_WALLET, "org_big"))
    with db.engine.begin() as connection:  # forge a near-maximal total (the check will object)
        connection.execute(
            sa.text("UPDATE ledger_accounts SET credits_posted = :v WHERE id = :id"),
            {"v": 2**62 - 10, "id": wallet},
        )
    with pytest.raises(AmountOverflow):
        submit(db, [top_up("over", wallet, 11)])
    assert transfer_count(db) == 0


def test_the_constraints_refuse_an_overdraft_or_a_second_ending_even_from_raw_sql(
    db: Database,
) -> None:
    (wallet,) = open_accounts(db, AccountSpec(AccountKind.ENTERPRISE_WALLET, "org_raw"))
    submit(db, [top_up("fund", wallet, 100), hold("h", wallet, ledger.CLEARING_ACCOUNT_ID, 50)])
    submit(db, [void("v", "h")])
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE ledger_accounts SET debits_posted = 101 WHERE id = :id"), {"id": wallet}
        )
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO ledger_transfers (id, ledger, code, flags, debit_account_id,"
                " credit_account_id, amount_fen, pending_id, timeout_s, reference, memo,"
                " created_at)"
                " VALUES ('v2', 156, 12, 4, :w, :c, 50, 'h', 0, '', '', :t)"
            ),
            {"w": wallet, "c": ledger.CLEARING_ACCOUNT_ID, "t": T0.replace(tzinfo=None)},
        )


# ---------------------------------------------------------------------------------------------
# Settlement: the worked example of docs/money.md, figure by figure


@dataclass
class Market:
    db: Database
    clock: FixedClock
    enterprise_id: str
    provider_id: str
    pool_id: str


@pytest.fixture
def market(db: Database) -> Market:
    clock = FixedClock()

    def work(session: Any) -> Market:
        enterprise = create_organisation(session, clock, name="杭州某模型公司", kind="enterprise")
        provider = create_organisation(session, clock, name="某算力服务商", kind="provider")
        pool = PoolRow(
            id="pool_h100",
            provider_id=provider.id,
            name="h100",
            accelerator_model="H100-SXM",
            nodes=1,
            cards_per_node=8,
            region="浙江/杭州",
            price_fen_per_card_hour=1_500,
            created_at=clock.now(),
        )
        session.add(pool)
        return Market(db, clock, enterprise.id, provider.id, pool.id)

    return transact(db, work)


def make_job(market: Market, job_id: str, cards: int = 2, max_run_time_s: int = 3_600) -> JobRow:
    job = JobRow(
        id=job_id,
        owner_id=market.enterprise_id,
        submitted_by="usr_e",
        name=f"train {job_id}",
        spec={"cards": cards, "max_run_time_s": max_run_time_s, "command": "train"},
        state="queued",
        submitted_at=market.clock.now(),
    )
    transact(market.db, lambda session: session.add(job))
    return job


def metered(market: Market, job: JobRow, card_seconds: int) -> UsageRow:
    from suanli.domain.money import price_card_seconds

    usage = UsageRow(
        job_id=job.id,
        owner_id=job.owner_id,
        provider_id=market.provider_id,
        pool_id=market.pool_id,
        accelerator_model="H100-SXM",
        cards=int(job.spec["cards"]),
        started_at=market.clock.now() - timedelta(seconds=card_seconds // int(job.spec["cards"])),
        ended_at=market.clock.now(),
        card_seconds=card_seconds,
        price_fen_per_card_hour=1_500,
        amount_fen=price_card_seconds(card_seconds, 1_500),
        created_at=market.clock.now(),
    )
    transact(market.db, lambda session: session.add(usage))
    return usage


def hold_job(market: Market, job: JobRow, price: int = 1_500) -> int:
    settings = load_settings()

    def work(session: Any) -> int:
        row = session.get(JobRow, job.id)
        row.hold_fen = settlement.hold_for_job(session, settings, market.clock, row, price)
        return int(row.hold_fen)

    held = transact(market.db, work)
    job.hold_fen = held
    return held


def settle(market: Market, job: JobRow, usage: UsageRow) -> None:
    transact(
        market.db,
        lambda s: settlement.settle_job(s, load_settings(), market.clock, job, usage),
    )


def balances_of(market: Market, org_id: str) -> dict[str, tuple[int, int, int]]:
    views = transact(market.db, lambda s: wallets.balances(s, OPERATOR, org_id))
    return {v.kind: (v.posted_fen, v.pending_fen, v.available_fen) for v in views}


def platform(market: Market) -> dict[str, int]:
    views = transact(market.db, lambda s: wallets.platform_balances(s, OPERATOR))
    return {v.kind: v.posted_fen for v in views}


def test_the_worked_example_hold_capture_fee_and_payout_in_fen(market: Market) -> None:
    fund = transact(
        market.db,
        lambda s: wallets.top_up(
            s,
            market.clock,
            OPERATOR,
            org_id=market.enterprise_id,
            amount_fen=10_000,
            external_reference="ICBC-0001",
        ),
    )
    assert fund.amount_fen == 10_000
    job = make_job(market, "job_example")
    assert hold_job(market, job) == 3_000  # 2 cards × 1 h × 1,500 fen
    assert balances_of(market, market.enterprise_id)["enterprise_wallet"] == (10_000, 3_000, 7_000)
    usage = metered(market, job, card_seconds=5_400)  # 45 min on 2 cards = 1.5 card-hours
    assert usage.amount_fen == 2_250
    settle(market, job, usage)
    assert balances_of(market, market.enterprise_id)["enterprise_wallet"] == (7_750, 0, 7_750)
    assert balances_of(market, market.provider_id)["provider_receivable"] == (2_137, 0, 2_137)
    assert platform(market) == {
        "external_clearing": -10_000,
        "settlement_clearing": 0,
        "platform_revenue": 113,  # 5 % of 2,250 = 112.5, rounded half up
    }
    transact(
        market.db,
        lambda s: wallets.payout(
            s,
            market.clock,
            OPERATOR,
            provider_id=market.provider_id,
            amount_fen=2_137,
            external_reference="ICBC-PAY-0001",
        ),
    )
    assert balances_of(market, market.provider_id)["provider_receivable"] == (0, 0, 0)
    assert platform(market)["external_clearing"] == -7_863
    assert checked(market.db) == []


def test_a_job_is_refused_with_the_missing_amount_when_funds_are_short(market: Market) -> None:
    job = make_job(market, "job_poor")
    with pytest.raises(InsufficientFunds) as never_funded:
        hold_job(market, job)
    assert never_funded.value.missing_fen == 3_000
    transact(
        market.db,
        lambda s: wallets.top_up(
            s,
            market.clock,
            OPERATOR,
            org_id=market.enterprise_id,
            amount_fen=1_000,
            external_reference="pay-1",
        ),
    )
    with pytest.raises(InsufficientFunds) as short:
        hold_job(market, job)
    assert short.value.missing_fen == 2_000
    assert transfer_count(market.db) == 1


def test_settling_twice_charges_once_and_never_more_than_the_hold(market: Market) -> None:
    ledger_top_up(market, 10_000)
    job = make_job(market, "job_long", cards=1, max_run_time_s=600)
    assert hold_job(market, job) == 250
    usage = metered(market, job, card_seconds=700)  # ran past its limit: 292 fen metered
    settle(market, job, usage)
    settle(market, job, usage)
    assert balances_of(market, market.enterprise_id)["enterprise_wallet"] == (9_750, 0, 9_750)
    with pytest.raises(HoldAlreadyEnded):
        transact(
            market.db,
            lambda s: settlement.release_job_hold(s, load_settings(), market.clock, job),
        )
    assert checked(market.db) == []


def test_cancel_before_start_and_provider_faults_release_the_whole_hold(market: Market) -> None:
    ledger_top_up(market, 10_000)
    for job_id in ("job_cancelled", "job_lost"):
        job = make_job(market, job_id)
        hold_job(market, job)
        for _ in range(2):  # a release delivered twice is one release
            transact(
                market.db,
                partial(
                    settlement.release_job_hold,
                    settings=load_settings(),
                    clock=market.clock,
                    job=job,
                ),
            )
    assert balances_of(market, market.enterprise_id)["enterprise_wallet"] == (10_000, 0, 10_000)
    assert platform(market)["platform_revenue"] == 0


def ledger_top_up(market: Market, amount_fen: int, reference: str = "pay-top") -> Transfer:
    return transact(
        market.db,
        lambda s: wallets.top_up(
            s,
            market.clock,
            OPERATOR,
            org_id=market.enterprise_id,
            amount_fen=amount_fen,
            external_reference=reference,
        ),
    )


# ---------------------------------------------------------------------------------------------
# Wallet operations


def test_a_top_up_is_identified_by_its_bank_reference(market: Market) -> None:
    first = ledger_top_up(market, 500, "CMB-77")
    market.clock.advance(60)
    assert ledger_top_up(market, 500, "CMB-77") == first
    with pytest.raises(IdempotencyConflict):
        ledger_top_up(market, 600, "CMB-77")
    with pytest.raises(CurrencyMismatch):
        transact(
            market.db,
            lambda s: wallets.top_up(
                s,
                market.clock,
                OPERATOR,
                org_id=market.enterprise_id,
                amount_fen=5,
                external_reference="x",
                currency="USD",
            ),
        )
    assert balances_of(market, market.enterprise_id)["enterprise_wallet"] == (500, 0, 500)


def test_refunds_reverse_without_editing_and_never_exceed_the_original(market: Market) -> None:
    original = ledger_top_up(market, 1_000)

    def refund(amount: int | None, key: str) -> Transfer:
        return transact(
            market.db,
            lambda s: wallets.refund(
                s,
                market.clock,
                OPERATOR,
                transfer_id=original.id,
                reason="returned",
                amount_fen=amount,
                idempotency_key=key,
            ),
        )

    assert refund(300, "r1").amount_fen == 300
    assert refund(300, "r1").amount_fen == 300  # replay of the same key
    with pytest.raises(InvalidTransfer):
        refund(701, "r2")
    assert refund(None, "r3").amount_fen == 700
    assert balances_of(market, market.enterprise_id)["enterprise_wallet"] == (0, 0, 0)
    assert checked(market.db) == []


def test_refunds_without_a_key_at_one_instant_are_each_posted(market: Market) -> None:
    """Before: without an Idempotency-Key the refund was named by the clock, so a second
    partial refund at the same instant was taken for a replay of the first and not posted."""
    original = ledger_top_up(market, 1_000)

    def refund(amount: int) -> Transfer:
        return transact(
            market.db,
            lambda s: wallets.refund(
                s, market.clock, OPERATOR, transfer_id=original.id, reason="x", amount_fen=amount
            ),
        )

    first, second = refund(300), refund(200)
    assert first.id != second.id
    assert balances_of(market, market.enterprise_id)["enterprise_wallet"] == (500, 0, 500)
    assert checked(market.db) == []


def test_a_job_refund_reverses_its_whole_settlement_once(market: Market) -> None:
    ledger_top_up(market, 10_000)
    job = make_job(market, "job_refund")
    hold_job(market, job)
    settle(market, job, metered(market, job, card_seconds=5_400))

    def refund_job() -> list[Transfer]:
        return transact(
            market.db,
            lambda s: wallets.refund_job(s, market.clock, OPERATOR, job_id=job.id, reason="SLA"),
        )

    assert sum(t.amount_fen for t in refund_job() if t.id.endswith("capture")) == 2_250
    refund_job()
    assert balances_of(market, market.enterprise_id)["enterprise_wallet"] == (10_000, 0, 10_000)
    assert platform(market) == {
        "external_clearing": -10_000,
        "settlement_clearing": 0,
        "platform_revenue": 0,
    }
    assert checked(market.db) == []


def test_a_payout_beyond_the_receivable_is_refused(market: Market) -> None:
    with pytest.raises((InsufficientFunds, UnknownAccount)):
        transact(
            market.db,
            lambda s: wallets.payout(
                s,
                market.clock,
                OPERATOR,
                provider_id=market.provider_id,
                amount_fen=1,
                external_reference="x",
            ),
        )


def test_the_statement_pages_through_a_date_range(market: Market) -> None:
    for day in range(5):
        ledger_top_up(market, 100 + day, f"day-{day}")
        market.clock.advance(24 * 3600)
    account = ledger.wallet_id(market.enterprise_id)

    def page(offset: int, limit: int, since: datetime | None = None) -> Any:
        return transact(
            market.db,
            lambda s: wallets.statement(
                s, OPERATOR, account, Page(offset, limit), since, T0 + timedelta(days=4)
            ),
        )

    first, second = page(0, 2), page(2, 2)
    assert first.total == 4 and [line.transfer.amount_fen for line in first.items] == [100, 101]
    assert [line.transfer.amount_fen for line in second.items] == [102, 103]
    assert page(0, 10, T0 + timedelta(days=2)).total == 2
    stranger = Principal("usr_x", "org_x", "enterprise")
    with pytest.raises(NotFound):
        transact(market.db, lambda s: wallets.statement(s, stranger, account, Page()))


def test_the_monthly_statement_has_one_line_per_job_and_exports(market: Market) -> None:
    ledger_top_up(market, 100_000)
    for index, seconds in enumerate((5_400, 3_600)):
        job = make_job(market, f"job_m{index}")
        hold_job(market, job)
        settle(market, job, metered(market, job, card_seconds=seconds))
    statement = transact(
        market.db,
        lambda s: wallets.monthly_statement(s, OPERATOR, market.enterprise_id, "2025-07"),
    )
    assert [(line.job_id, line.card_hours, line.amount_fen) for line in statement.lines] == [
        ("job_m0", "1.5000", 2_250),
        ("job_m1", "1.0000", 1_500),
    ]
    assert all(
        line.subsidy_fen == 0 and line.unit_price_fen_per_card_hour == 1_500
        for line in statement.lines
    )
    assert (statement.opening_fen, statement.closing_fen) == (0, 100_000 - 3_750)
    csv_text = wallets.statement_csv(statement)
    assert csv_text.splitlines()[0].startswith("job_id,job_name,settled_at")
    assert "subsidy_fen" in csv_text.splitlines()[0] and "job_m1" in csv_text
    page = wallets.statement_html(statement)
    assert "<table" in page and "¥22.50" in page and "<script" not in page
    provider_view = transact(
        market.db,
        lambda s: wallets.monthly_statement(s, OPERATOR, market.provider_id, "2025-07"),
    )
    assert [line.payable_fen for line in provider_view.lines] == [2_137, 1_425]
    empty = transact(
        market.db,
        lambda s: wallets.monthly_statement(s, OPERATOR, market.enterprise_id, "2025-08"),
    )
    assert empty.lines == [] and empty.opening_fen == empty.closing_fen == 96_250


# ---------------------------------------------------------------------------------------------
# Expiry and the check


def test_expired_holds_are_swept_and_release_their_money(db: Database) -> None:
    (wallet,) = open_accounts(db, AccountSpec(AccountKind.ENTERPRISE_WALLET, "org_e"))
    submit(db, [top_up("fund", wallet, 1_000)])
    submit(
        db, [hold(f"h{i}", wallet, ledger.CLEARING_ACCOUNT_ID, 100, timeout_s=10) for i in range(3)]
    )
    clock = FixedClock(T0 + timedelta(seconds=9))
    assert ledger.expire_holds(db, clock) == 0
    clock.advance(1)
    assert ledger.expire_holds(db, clock) == 3
    assert ledger.expire_holds(db, clock) == 0
    with db.engine.connect() as connection:
        assert LedgerRepository(connection).account(wallet).balance.available_fen == 1_000
    assert checked(db) == []


def test_the_check_names_a_tampered_account_and_the_cli_exits_non_zero(
    db: Database, database_url: str
) -> None:
    (wallet,) = open_accounts(db, AccountSpec(AccountKind.ENTERPRISE_WALLET, "org_t"))
    submit(db, [top_up("fund", wallet, 1_000)])
    runner = CliRunner()
    healthy = runner.invoke(ledger_cli, ["check", "--json", "--database-url", database_url])
    assert healthy.exit_code == 0, healthy.output
    with db.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE ledger_accounts SET credits_posted = 999 WHERE id = :id"),
            {"id": wallet},
        )
    with db.engine.connect() as connection:
        report = check_ledger(connection)
    assert {v.subject_id for v in report.violations} >= {wallet}
    broken = runner.invoke(ledger_cli, ["check", "--database-url", database_url])
    assert broken.exit_code == 6
    assert wallet in broken.output
