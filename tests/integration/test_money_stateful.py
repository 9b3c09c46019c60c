"""A Hypothesis state machine drives the real service layer (wallets, jobs, the scheduling loop
on an in-memory cluster, settlement, vouchers) on a real database, SQLite and PostgreSQL, in
random interleavings. After every step the money invariants hold: the ledger balances, no
account is below zero, holds never exceed what they hold against, captures never exceed holds,
programs never pay more than they were funded, and every fen that came in from outside is
somewhere inside. Every refusal is a typed error that writes nothing; where the outcome is
predictable from the books (top-ups, payouts, refunds, fundings, cancels) it is predicted.

Each example runs on a database of its own (a copy of one migrated once), so that programs,
pools and the platform's accounts start empty and the invariants can be exact.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.adapters.backends.base import BackendState
from suanli.adapters.backends.fake import FakeBackend
from suanli.adapters.db.ledger_repo import transfers
from suanli.adapters.db.tables import JobRow, PoolRow, UsageRow
from suanli.adapters.db.tables_ledger import LedgerAccountRow, LedgerHoldRow
from suanli.adapters.db.tables_vouchers import (
    VoucherApplicationRow,
    VoucherGrantRow,
    VoucherProgramRow,
    VoucherRedemptionRow,
)
from suanli.bootstrap import App, bootstrap
from suanli.config import load_settings
from suanli.domain.jobs import TERMINAL_STATES, stored_milli_cards
from suanli.domain.ledger import (
    AccountKind,
    InsufficientFunds,
    InvalidAmount,
    InvalidTransfer,
    TransferCode,
    TransferFlags,
    UnknownAccount,
)
from suanli.domain.money import apply_basis_points, price_milli_card_seconds
from suanli.domain.vouchers import (
    BudgetShort,
    EnterpriseFacts,
    InvalidProgram,
    ProgramClosed,
    ProviderScope,
    RatioTier,
    Rules,
)
from suanli.errors import (
    Conflict,
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    QueueFull,
    SuanliError,
    Unplaceable,
)
from suanli.services import dashboard, jobs, ledger, organisations, pools, vouchers, wallets
from suanli.services.common import Principal
from tests.conftest import _create_and_drop_database
from tests.helpers import seed_migrated_sqlite

T = TypeVar("T")
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
OPERATOR = Principal("op", "platform", "operator")
CLUSTER = "fake-cluster"
CARDS_PER_NODE = 4
QUEUED_JOBS_MAX = 3  # small, so that a full queue is refused now and then
POOLS = (("pool-h100", "H100-SXM", 3_600), ("pool-ascend", "Ascend-910", 7_200))
ACTIVE_STATES = frozenset({"pending", "queued", "placed", "running"})
_LIVE = (BackendState.PENDING, BackendState.RUNNING)  # runs the cluster has not ended
POSTED = (int(TransferFlags.NONE), int(TransferFlags.POST_PENDING))
PROGRAM_NAMES = ("市算力券", "区算力券", "专项券")
FACTS_FOUNDED = date(2020, 1, 1)

MACHINE_SETTINGS = settings(
    # 50 keeps each engine near 30-50 s on 2 busy cores; raise it locally to search longer.
    max_examples=int(os.environ.get("SUANLI_TEST_MONEY_EXAMPLES", "50")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

picks = st.integers(min_value=0, max_value=10_000)  # an index into whatever exists, modulo
amounts = st.one_of(st.integers(-1, 0), st.integers(1, 60_000), st.sampled_from([1, 100, 999]))
refund_amounts = st.one_of(st.none(), st.integers(0, 3), st.integers(1, 60_000))


# ---------------------------------------------------------------------------------------------
# A database per example, on the engine the test is parametrised with


@contextmanager
def _sqlite_database(folder: Path) -> Iterator[str]:
    path = folder / f"{secrets.token_hex(6)}.db"
    seed_migrated_sqlite(path)
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[], AbstractContextManager[str]]:
    """Makes a migrated database per call: SQLite copies the migrated file, PostgreSQL the
    session's migrated template (missing PostgreSQL skips loudly, and fails under CI=true)."""
    if request.param == "sqlite":
        return functools.partial(_sqlite_database, tmp_path)
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    template: str = request.getfixturevalue("postgres_migrated_template")

    @contextmanager
    def postgres() -> Iterator[str]:
        name = f"m_{secrets.token_hex(6)}"
        with _create_and_drop_database(admin_url, name, f'TEMPLATE "{template}"') as url:
            # Commits need not wait for the disk: the database is thrown away, and the
            # test's thousands of small commits each waited for it (a tenth of the run).
            separator = "&" if "?" in url else "?"
            yield f"{url}{separator}options=-csynchronous_commit%3Doff"

    return postgres


# ---------------------------------------------------------------------------------------------
# Small pieces


class FixedClock:
    def __init__(self) -> None:
        self.moment = T0

    def now(self) -> datetime:
        return self.moment


class ErrorLog(logging.Handler):
    """The scheduling loop logs and swallows what goes wrong in one job: collected here, so a
    settlement that raised inside the loop fails the test instead of hiding."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Books:
    """Everything the invariants read, in one snapshot."""

    accounts: dict[str, LedgerAccountRow]
    transfers: dict[str, Any]  # id -> row of ledger_transfers
    holds: dict[str, LedgerHoldRow]
    jobs: list[JobRow]
    usage: dict[str, UsageRow]
    redemptions: list[VoucherRedemptionRow]
    grants: list[VoucherGrantRow]
    programs: list[VoucherProgramRow]

    def posted(self, account_id: str) -> int:
        row = self.accounts.get(account_id)
        return 0 if row is None else row.credits_posted - row.debits_posted

    def available(self, account_id: str) -> int:
        row = self.accounts.get(account_id)
        return 0 if row is None else self.posted(account_id) - row.debits_pending

    def refunded(self, transfer_id: str) -> int:
        return sum(
            t.amount_fen
            for t in self.transfers.values()
            if t.code == TransferCode.REFUND and t.reference == transfer_id
        )


@dataclass
class TopUp:
    org: int
    amount: int


@dataclass
class Model:
    """What the test itself knows, independent of the ledger's balances."""

    outside_fen: int = 0  # money in from outside, net of what went back out
    clearing_fen: int = 0  # left in clearing by transfer-by-transfer refunds of a settlement
    top_ups: dict[str, TopUp] = field(default_factory=dict)  # bank reference -> top-up
    funded: dict[str, int] = field(default_factory=dict)  # program id -> net funding
    programs: list[str] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    jobs: list[tuple[str, int]] = field(default_factory=list)  # job id, owner index
    relations: set[tuple[int, int]] = field(default_factory=set)  # enterprise, provider


def _pick(items: list[T], index: int) -> T:
    return items[index % len(items)]


def _expect(outcome: object, predicted: type[SuanliError] | None) -> None:
    if predicted is None:
        assert not isinstance(outcome, SuanliError), f"refused unexpectedly: {outcome!r}"
    else:
        assert isinstance(outcome, predicted), f"expected {predicted.__name__}, got {outcome!r}"


def _mistakes() -> dict[str, tuple[Callable[[MoneyMachine, Session, int], object], type]]:
    """Each wrong call, and the error it must meet."""
    return {
        "top up a provider": (
            lambda m, s, fen: wallets.top_up(
                s, m.clock, OPERATOR, org_id=m.providers[0].org_id, amount_fen=fen,
                external_reference=m.reference("bank"),
            ),
            InvalidInput,
        ),
        "top up nobody": (
            lambda m, s, fen: wallets.top_up(
                s, m.clock, OPERATOR, org_id="org_nobody", amount_fen=fen,
                external_reference=m.reference("bank"),
            ),
            NotFound,
        ),
        "pay out an enterprise": (
            lambda m, s, fen: wallets.payout(
                s, m.clock, OPERATOR, provider_id=m.enterprises[0].org_id, amount_fen=fen,
                external_reference=m.reference("pay"),
            ),
            InvalidInput,
        ),
        "top up as an enterprise": (
            lambda m, s, fen: wallets.top_up(
                s, m.clock, m.enterprises[0], org_id=m.enterprises[0].org_id, amount_fen=fen,
                external_reference=m.reference("bank"),
            ),
            PermissionDenied,
        ),
        "refund nothing": (
            lambda m, s, fen: wallets.refund(
                s, m.clock, OPERATOR, transfer_id="topup:nothing", reason="x", amount_fen=fen
            ),
            NotFound,
        ),
        "fund no program": (
            lambda m, s, fen: vouchers.fund_program(
                s, m.clock, m.agency, program_id="vpr_nothing", amount_fen=fen,
                external_reference="财政-9",
            ),
            NotFound,
        ),
        "submit as a provider": (
            lambda m, s, fen: jobs.submit_job(
                s, m.app.settings, m.clock, m.providers[0],
                jobs.requested_spec({"name": "x", "command": "true"}),
            ),
            PermissionDenied,
        ),
        "expire grants as an enterprise": (
            lambda m, s, fen: vouchers.expire_grants(s, m.clock, m.enterprises[0]),
            PermissionDenied,
        ),
    }  # fmt: skip


MISTAKES = _mistakes()


# ---------------------------------------------------------------------------------------------
# The machine


class MoneyMachine(RuleBasedStateMachine):
    databases: Callable[[], AbstractContextManager[str]]  # set by the test (engine)

    def __init__(self) -> None:
        super().__init__()
        self.closing = ExitStack()
        self.clock = FixedClock()
        self.fake = FakeBackend(kind="fake")
        self.errors = ErrorLog()
        self.model = Model()
        self.books_read: Books | None = None
        self.serial = itertools.count()
        try:
            self._open()
        except BaseException:
            self.closing.close()  # teardown is not called when construction fails
            raise

    def _open(self) -> None:
        self.app = self._app(self.closing.enter_context(self.databases()))
        self.closing.callback(self.app.close)
        self.app.backends.register(CLUSTER, self.fake)
        logging.getLogger("suanli").addHandler(self.errors)
        self.closing.callback(logging.getLogger("suanli").removeHandler, self.errors)
        self._city()

    def _app(self, url: str) -> App:
        data_dir = Path(tempfile.mkdtemp(prefix="suanli-money-"))
        self.closing.callback(shutil.rmtree, data_dir, ignore_errors=True)
        config = load_settings(
            data_dir=data_dir,
            database_url=url,
            max_queued_jobs_per_enterprise=QUEUED_JOBS_MAX,
        )
        return bootstrap(config, clock=self.clock, migrate=False)

    def _city(self) -> None:
        with self.app.db.session() as session:

            def org(name: str, kind: str) -> str:
                return organisations.create_organisation(
                    session, self.clock, name=name, kind=kind
                ).id

            self.enterprises = [
                Principal(f"u-e{n}", org(f"企业{n}", "enterprise"), "enterprise") for n in range(2)
            ]
            self.providers = [
                Principal(f"u-p{n}", org(f"算力商{n}", "provider"), "provider") for n in range(2)
            ]
            self.agency = Principal("u-a", org("经信局", "agency"), "agency")
            for provider, (pool_id, model, price) in zip(self.providers, POOLS, strict=True):
                session.add(_pool(pool_id, provider.org_id, model, price, self.clock.now()))

    def teardown(self) -> None:
        try:
            report = ledger.run_check(self.app.db)
            assert report.ok, report.violations
            self._reports_agree_with_the_books()
        finally:
            self.closing.close()

    def _reports_agree_with_the_books(self) -> None:
        """The agencies' reports and the city dashboard read the same money as the books:
        totals, the burn-down's last day, and the subsidy by enterprise, provider and vendor."""
        books = self.books()
        paid = 0
        with self.app.db.session() as session:
            for program in books.programs:
                totals = _program_totals(books, program)
                if program.deleted:  # no money ever touched it; its report is gone with it
                    assert totals == vouchers.ProgramTotals(0, 0, 0, 0), program.id
                    continue
                report = vouchers.program_report(session, self.agency, program.id)
                assert report.totals == totals, program.id
                if report.burn_down:
                    last = report.burn_down[-1]
                    assert (last.funded_fen, last.paid_fen, last.remaining_fen) == (
                        totals.funded_fen, totals.paid_fen, totals.remaining_fen,
                    )  # fmt: skip
                for breakdown in (report.by_enterprise, report.by_provider, report.by_vendor):
                    assert sum(item.subsidy_fen for item in breakdown) == totals.paid_fen
                paid += totals.paid_fen
            assert dashboard.vouchers_paid_fen(session) == paid

    # -- running service calls -------------------------------------------------------------

    def attempt(self, action: Callable[[Session], T]) -> T | SuanliError:
        """The action in one unit of work: its result, or the typed error it was refused
        with, which must have written nothing. Anything else fails the test."""
        before = len(self.books().transfers)  # read for the invariants already, mostly
        self.books_read = None  # whatever the action does, the books are read afresh after it
        try:
            with self.app.db.session() as session:
                return action(session)
        except SuanliError as error:
            event(f"refused: {type(error).__name__}")  # --hypothesis-show-statistics
            assert self._transfer_count() == before, f"{error!r} wrote transfers"
            return error
        except Exception as error:
            raise AssertionError(
                f"refused with {type(error).__name__}, not a typed error: {error}"
            ) from error

    def _transfer_count(self) -> int:
        with self.app.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(transfers)) or 0)

    def books(self) -> Books:
        if self.books_read is None:
            with self.app.db.session() as session:
                self.books_read = _read_books(session)
        return self.books_read

    def reference(self, prefix: str) -> str:
        return f"{prefix}-{next(self.serial)}"

    def _note_refund(self, refund: Any) -> None:
        """Where a refund moved money relative to the outside world and to clearing."""
        for account, sign in ((refund.debit_account_id, 1), (refund.credit_account_id, -1)):
            if account == ledger.EXTERNAL_ACCOUNT_ID:
                self.model.outside_fen += sign * refund.amount_fen
            if account == ledger.CLEARING_ACCOUNT_ID:
                self.model.clearing_fen -= sign * refund.amount_fen

    # -- the start, and wallets -------------------------------------------------------------

    @initialize(
        wallets=st.tuples(*[st.sampled_from([0, 3_000, 200_000])] * 2),
        ratio=st.sampled_from([None, 2_500, 5_000, 10_000]),
        sme=st.booleans(),
        days=st.sampled_from([1, 30]),
        jobs=st.integers(0, 3),
    )
    def a_city_in_motion(
        self,
        wallets: tuple[int, int],
        ratio: int | None,
        sme: bool,
        days: int,
        jobs: int,
    ) -> None:
        """Most examples start with money in the wallets, half with a program that pays the
        first enterprise, and some with jobs placed: 25 steps then reach settlements."""
        for org, amount in enumerate(wallets):
            if amount:
                self._top_up(org, amount, self.reference("bank"))
        if ratio is not None:
            self._a_granted_program(ratio, sme, days)
        for n in range(jobs):
            self._submit({"cards": 1, "max_run_time_s": (600, 60)[n % 2]}, n % 2)
        if jobs:
            self._tick()

    def _a_granted_program(self, ratio: int, sme: bool, days: int) -> None:
        rules = _rules(ratio, 20_000, sme_ratio=8_000)
        program = self._create_program("首期算力券", 50_000, rules, days)
        assert not isinstance(program, SuanliError), repr(program)
        self.model.programs.append(program.id)
        self.model.funded[program.id] = 0
        self._fund(program.id, 50_000, "财政-0")
        facts = EnterpriseFacts(is_sme=sme, region="浙江/杭州", founded_on=FACTS_FOUNDED)
        application = self.attempt(
            lambda s: vouchers.apply(
                s, self.clock, self.enterprises[0], program_id=program.id, facts=facts,
                requested_fen=20_000,
            )
        )  # fmt: skip
        assert not isinstance(application, SuanliError), repr(application)
        self._approve(application.id, 20_000)

    @rule(org=st.integers(0, 1), amount=amounts, reused=st.booleans(), pick=picks)
    def top_up(self, org: int, amount: int, reused: bool, pick: int) -> None:
        known = sorted(self.model.top_ups)
        reference = _pick(known, pick) if reused and known else self.reference("bank")
        self._top_up(org, amount, reference)

    def _top_up(self, org: int, amount: int, reference: str) -> None:
        """Credits a wallet, predicting a bad amount, a replay and a reused bank reference."""
        earlier = self.model.top_ups.get(reference)
        predicted: type[SuanliError] | None = None
        if amount <= 0:
            predicted = InvalidAmount
        elif earlier is not None and (earlier.org, earlier.amount) != (org, amount):
            predicted = IdempotencyConflict
        wallet = ledger.wallet_id(self.enterprises[org].org_id)
        posted_before = self.books().posted(wallet)
        outcome = self.attempt(
            lambda s: wallets.top_up(
                s, self.clock, OPERATOR, org_id=self.enterprises[org].org_id,
                amount_fen=amount, external_reference=reference,
            )
        )  # fmt: skip
        _expect(outcome, predicted)
        if predicted is None and earlier is None:
            self.model.top_ups[reference] = TopUp(org, amount)
            self.model.outside_fen += amount
        elif predicted is None:
            assert self.books().posted(wallet) == posted_before, "a replay credited again"

    @rule(provider=st.integers(0, 1), amount=amounts)
    def pay_out(self, provider: int, amount: int) -> None:
        receivable = ledger.receivable_id(self.providers[provider].org_id)
        predicted: type[SuanliError] | None = None
        if amount <= 0:
            predicted = InvalidAmount
        elif receivable not in self.books().accounts:
            predicted = UnknownAccount
        elif amount > self.books().available(receivable):
            predicted = InsufficientFunds
        outcome = self.attempt(
            lambda s: wallets.payout(
                s, self.clock, OPERATOR, provider_id=self.providers[provider].org_id,
                amount_fen=amount, external_reference=self.reference("pay"),
            )
        )  # fmt: skip
        _expect(outcome, predicted)
        if predicted is None:
            self.model.outside_fen -= amount

    @rule(mistake=st.sampled_from(sorted(MISTAKES)), amount=st.integers(1, 1_000))
    def money_sent_the_wrong_way(self, mistake: str, amount: int) -> None:
        """Money aimed at the wrong organisation, at nothing, or by the wrong caller: refused
        with the typed error each mistake deserves, writing nothing."""
        outcome = self.attempt(lambda s: MISTAKES[mistake][0](self, s, amount))
        _expect(outcome, MISTAKES[mistake][1])

    @rule(what=st.sampled_from(["any", "top-up", "funding"]), pick=picks, amount=refund_amounts)
    def refund_a_transfer(self, what: str, pick: int, amount: int | None) -> None:
        """Any transfer (a payout, a part of a settlement, a hold, a refund), a top-up, or a
        funding (the treasury's clawback). Whether it may be refunded, and for how much, is
        predicted from the books."""
        codes = {"top-up": TransferCode.TOP_UP, "funding": TransferCode.VOUCHER_FUNDING}
        candidates = sorted(
            (t for t in self.books().transfers.values() if what == "any" or t.code == codes[what]),
            key=lambda t: t.id,
        )
        if candidates:
            self._refund(_pick(candidates, pick), amount)

    def _refund(self, original: Any, amount: int | None) -> None:
        predicted = _refund_refusal(self.books(), original, amount)
        outcome = self.attempt(
            lambda s: wallets.refund(
                s, self.clock, OPERATOR, transfer_id=original.id, reason="test",
                amount_fen=amount, idempotency_key=self.reference("refund"),
            )
        )  # fmt: skip
        _expect(outcome, predicted)
        if predicted is None:
            self._note_refund(outcome)
            if original.code == TransferCode.VOUCHER_FUNDING:
                program = self._program_of_budget(original.credit_account_id)
                self.model.funded[program] -= outcome.amount_fen  # type: ignore[union-attr]

    def _program_of_budget(self, budget_id: str) -> str:
        return str(self.books().accounts[budget_id].reference)

    # -- jobs --------------------------------------------------------------------------------

    @rule(
        org=st.integers(0, 1),
        cards=st.sampled_from([1, 1, 2, 5]),
        run_s=st.sampled_from([60, 600, 3_600]),
        model=st.sampled_from([None, None, "H100-SXM", "Ascend-910"]),
        price_cap=st.sampled_from([None, None, None, 1_800, 3_600]),
        restartable=st.booleans(),
        loop_runs=st.booleans(),
    )
    def submit_job(
        self,
        org: int,
        cards: int,
        run_s: int,
        model: str | None,
        price_cap: int | None,
        restartable: bool,
        loop_runs: bool,
    ) -> None:
        values = {
            "cards": cards, "max_run_time_s": run_s, "accelerators": [model] if model else [],
            "restartable": restartable, "max_price_fen_per_card_hour": price_cap,
        }  # fmt: skip
        self._submit(values, org)
        if loop_runs:
            self._tick()

    def _submit(self, values: dict[str, Any], org: int) -> None:
        """Submits a job; a refusal is one of the four a submit may meet, and a hold never
        exceeds what the wallet had available."""
        spec = {"name": "train", "command": "true", **values}
        available = self.books().available(ledger.wallet_id(self.enterprises[org].org_id))
        outcome = self.attempt(
            lambda s: jobs.submit_job(
                s, self.app.settings, self.clock, self.enterprises[org], jobs.requested_spec(spec)
            )
        )
        if isinstance(outcome, SuanliError):
            assert isinstance(outcome, InsufficientFunds | QueueFull | Unplaceable | InvalidInput)
            return
        assert outcome.hold_fen <= available, "held more than the wallet had"
        self.model.jobs.append((outcome.id, org))

    @precondition(lambda self: bool(self.model.jobs))
    @rule(pick=picks, stranger=st.booleans())
    def cancel_job(self, pick: int, stranger: bool) -> None:
        job_id, owner = _pick(self.model.jobs, pick)
        caller = self.enterprises[1 - owner if stranger else owner]
        state = next(job.state for job in self.books().jobs if job.id == job_id)
        predicted: type[SuanliError] | None = None
        if stranger:
            predicted = NotFound  # another tenant's job answers exactly like a missing one
        elif state not in ACTIVE_STATES:
            predicted = InvalidTransition
        outcome = self.attempt(
            lambda s: jobs.request_cancel(s, self.app.settings, self.clock, caller, job_id)
        )
        _expect(outcome, predicted)

    def _tick(self) -> None:
        """One round of the live loop: sync (settling what ended), then place the queue. The
        cluster's own events are followed by one, as the loop runs every few seconds."""
        self.books_read = None
        self.app.runtime.tick()
        assert not self.errors.records, [r.getMessage() for r in self.errors.records]

    @rule(
        seconds=st.sampled_from([0, 1, 59, 600, 3_601, 86_400, 8 * 86_400]),
        cluster_works=st.booleans(),
        exit_code=st.sampled_from([0, 0, 1]),
    )
    def time_passes(self, seconds: int, cluster_works: bool, exit_code: int) -> None:
        """Time passes and the loop runs (enforcing run-time limits, ending programs). When
        the cluster works meanwhile, every waiting run starts and every running one ends."""
        self._pass(seconds, cluster_works, exit_code)

    @rule(seconds=st.sampled_from([0, 30, 600]), exit_code=st.sampled_from([0, 0, 1]))
    def the_cluster_works(self, seconds: int, exit_code: int) -> None:
        """`time_passes` with the cluster at work, a second rule so that runs move on in most
        examples (Hypothesis picks among rules evenly)."""
        self._pass(seconds, True, exit_code)

    def _pass(self, seconds: int, cluster_works: bool, exit_code: int) -> None:
        started = self.clock.now()
        self.clock.moment += timedelta(seconds=seconds)
        for backend_id, run in sorted(self.fake.jobs.items()) if cluster_works else []:
            if run.state == BackendState.PENDING:
                self.fake.start(backend_id, started)
            elif run.state == BackendState.RUNNING:
                self.fake.finish(backend_id, self.clock.now(), exit_code)
        self._tick()

    @rule(
        pick=picks,
        outcome=st.sampled_from(["succeeds", "succeeds", "fails", "is lost"]),
        after_s=st.integers(0, 4_000),
    )
    def cluster_advances_a_run(self, pick: int, outcome: str, after_s: int) -> None:
        """One run moves on: a waiting run starts now, a running one ends `after_s` later
        (past its limit, too), or the cluster loses either. Then the loop sees it."""
        live = sorted(k for k, j in self.fake.jobs.items() if j.state in _LIVE)
        if not live:
            return
        backend_id = _pick(live, pick)
        if outcome == "is lost":
            del self.fake.jobs[backend_id]
        elif self.fake.jobs[backend_id].state == BackendState.PENDING:
            self.fake.start(backend_id, self.clock.now())
        else:
            self.clock.moment += timedelta(seconds=after_s)
            self.fake.finish(backend_id, self.clock.now(), 0 if outcome == "succeeds" else 1)
        self._tick()

    @rule(pool=st.integers(0, 1), price=st.sampled_from([0, 1_800, 3_600, 7_200, 14_400]))
    def reprice_a_pool(self, pool: int, price: int) -> None:
        pool_id = POOLS[pool][0]
        outcome = self.attempt(
            lambda s: pools.update_pool(
                s, self.clock, self.providers[pool], pool_id, {"price_fen_per_card_hour": price}
            )
        )
        _expect(outcome, None)

    @precondition(lambda self: bool(self.model.jobs))
    @rule(pick=picks)
    def refund_a_job(self, pick: int) -> None:
        job_id, _ = _pick(self.model.jobs, pick)
        settled = any(
            t.id in (f"job:{job_id}:capture", f"job:{job_id}:provider")
            or (t.id.startswith(f"job:{job_id}:voucher:") and t.flags == TransferFlags.POST_PENDING)
            for t in self.books().transfers.values()
        )
        outcome = self.attempt(
            lambda s: wallets.refund_job(s, self.clock, OPERATOR, job_id=job_id, reason="SLA")
        )
        if not settled:
            _expect(outcome, NotFound)
        elif isinstance(outcome, SuanliError):
            assert isinstance(outcome, InvalidTransfer | InsufficientFunds), repr(outcome)

    # -- vouchers ------------------------------------------------------------------------------

    @rule(
        name=st.sampled_from(PROGRAM_NAMES),
        budget=st.sampled_from([5_000, 50_000]),
        cap=st.sampled_from([1_000, 10_000, 60_000]),
        ratio=st.sampled_from([0, 2_500, 5_000, 10_000]),
        sme_ratio=st.sampled_from([None, 8_000]),
        per_order=st.sampled_from([None, 300]),
        stacking=st.booleans(),
        combined=st.sampled_from([10_000, 6_000]),
        days=st.sampled_from([1, 7, 30]),
        first_provider_only=st.booleans(),
    )
    def create_program(
        self,
        name: str,
        budget: int,
        cap: int,
        ratio: int,
        sme_ratio: int | None,
        per_order: int | None,
        stacking: bool,
        combined: int,
        days: int,
        first_provider_only: bool,
    ) -> None:
        outcome: VoucherProgramRow | SuanliError
        try:  # rules out of range are refused as they are built, before the service is called
            rules = _rules(
                ratio, cap, sme_ratio=sme_ratio, per_order=per_order, stacking=stacking,
                combined=combined,
                provider_ids=(self.providers[0].org_id,) if first_provider_only else (),
            )  # fmt: skip
            outcome = self._create_program(name, budget, rules, days)
        except SuanliError as error:
            outcome = error
        if isinstance(outcome, SuanliError):
            assert isinstance(outcome, InvalidProgram | Conflict), repr(outcome)
            return
        assert cap <= budget
        self.model.programs.append(outcome.id)
        self.model.funded[outcome.id] = 0

    def _create_program(
        self, name: str, budget: int, rules: Rules, days: int
    ) -> VoucherProgramRow | SuanliError:
        now = self.clock.now()
        return self.attempt(
            lambda s: vouchers.create_program(
                s, self.clock, self.agency, name=name, category="compute", budget_fen=budget,
                valid_from=now - timedelta(hours=1), valid_until=now + timedelta(days=days),
                rules=rules,
            )
        )  # fmt: skip

    @precondition(lambda self: bool(self.model.programs))
    @rule(pick=picks, amount=amounts, reference=st.sampled_from(["财政-1", "财政-2", "财政-3"]))
    def fund_program(self, pick: int, amount: int, reference: str) -> None:
        self._fund(_pick(self.model.programs, pick), amount, reference)

    def _fund(self, program_id: str, amount: int, reference: str) -> None:
        """Funds a program, predicting a bad amount, a replay, a reused treasury reference and
        funding beyond the declared budget."""
        transfer_id = ledger.derived_transfer_id("vfund", program_id, reference)
        earlier = self.books().transfers.get(transfer_id)
        budget = next(p.budget_fen for p in self.books().programs if p.id == program_id)
        predicted: type[SuanliError] | None = None
        if program_id in self.model.deleted:
            predicted = NotFound
        elif amount <= 0:
            predicted = InvalidInput
        elif earlier is not None and earlier.amount_fen != amount:
            predicted = IdempotencyConflict
        elif earlier is None and self.model.funded[program_id] + amount > budget:
            predicted = InvalidProgram
        outcome = self.attempt(
            lambda s: vouchers.fund_program(
                s, self.clock, self.agency, program_id=program_id, amount_fen=amount,
                external_reference=reference,
            )
        )  # fmt: skip
        _expect(outcome, predicted)
        if predicted is None and earlier is None:
            self.model.funded[program_id] += amount
            self.model.outside_fen += amount

    @precondition(lambda self: bool(self.model.programs))
    @rule(
        org=st.integers(0, 1),
        pick=picks,
        requested=st.sampled_from([500, 5_000, 70_000]),
        sme=st.booleans(),
    )
    def apply_for_vouchers(self, org: int, pick: int, requested: int, sme: bool) -> None:
        program_id = _pick(self.model.programs, pick)
        facts = EnterpriseFacts(is_sme=sme, region="浙江/杭州", founded_on=FACTS_FOUNDED)
        outcome = self.attempt(
            lambda s: vouchers.apply(
                s, self.clock, self.enterprises[org], program_id=program_id, facts=facts,
                requested_fen=requested,
            )
        )  # fmt: skip
        if isinstance(outcome, SuanliError):
            allowed = Conflict | InvalidInput | NotFound  # open already, closed, not eligible
            assert isinstance(outcome, allowed), repr(outcome)

    @rule(pick=picks, quota=st.sampled_from([1, 500, 5_000, 70_000]), reject=st.booleans())
    def decide_an_application(self, pick: int, quota: int, reject: bool) -> None:
        with self.app.db.session() as session:
            pending = sorted(
                session.scalars(
                    select(VoucherApplicationRow.id).where(VoucherApplicationRow.state == "pending")
                )
            )
        if not pending:
            return
        application_id = _pick(pending, pick)
        if reject:
            outcome: object = self.attempt(
                lambda s: vouchers.reject(
                    s, self.clock, self.agency, application_id=application_id, reason="no"
                )
            )
            _expect(outcome, NotFound if self._deleted_application(application_id) else None)
            return
        self._approve(application_id, quota)

    def _deleted_application(self, application_id: str) -> bool:
        with self.app.db.session() as session:
            application = session.get(VoucherApplicationRow, application_id)
            assert application is not None
            return application.program_id in self.model.deleted

    def _approve(self, application_id: str, quota: int) -> None:
        with self.app.db.session() as session:
            application = session.get(VoucherApplicationRow, application_id)
            assert application is not None
            program = session.get(VoucherProgramRow, application.program_id)
            assert program is not None
        unallocated = self.books().available(vouchers.budget_spec(program).id)
        outcome = self.attempt(
            lambda s: vouchers.approve(
                s, self.clock, self.agency, application_id=application_id, quota_fen=quota
            )
        )
        if isinstance(outcome, BudgetShort):
            assert quota > unallocated
        elif isinstance(outcome, SuanliError):
            allowed = InvalidProgram | ProgramClosed | InvalidInput | NotFound | Conflict
            assert isinstance(outcome, allowed), repr(outcome)
        else:
            assert quota <= unallocated, "a grant beyond the unallocated budget"

    @precondition(lambda self: bool(self.model.programs))
    @rule(pick=picks)
    def delete_program(self, pick: int) -> None:
        program_id = _pick(self.model.programs, pick)
        row = next(p for p in self.books().programs if p.id == program_id)
        budget = self.books().accounts.get(vouchers.budget_spec(row).id)
        touched = budget is not None and any(
            (budget.debits_pending, budget.debits_posted, budget.credits_pending,
             budget.credits_posted)
        )  # fmt: skip
        predicted: type[SuanliError] | None = None
        if program_id in self.model.deleted:
            predicted = NotFound
        elif touched:
            predicted = Conflict
        outcome = self.attempt(
            lambda s: vouchers.delete_program(s, self.clock, self.agency, program_id)
        )
        _expect(outcome, predicted)
        if predicted is None:
            self.model.deleted.add(program_id)

    @precondition(lambda self: bool(self.model.programs))
    @rule(pick=picks, org=st.sampled_from([None, 0, 1]))
    def blacklist(self, pick: int, org: int | None) -> None:
        program_id = _pick(self.model.programs, pick)
        listed = [] if org is None else [self.enterprises[org].org_id]
        outcome = self.attempt(
            lambda s: vouchers.update_program(
                s, self.clock, self.agency, program_id, blacklist=listed
            )
        )
        _expect(outcome, NotFound if program_id in self.model.deleted else None)

    @rule(by_operator=st.booleans())
    def expire_grants(self, by_operator: bool) -> None:
        caller = OPERATOR if by_operator else self.agency
        outcome = self.attempt(lambda s: vouchers.expire_grants(s, self.clock, caller))
        _expect(outcome, None)

    @rule(org=st.integers(0, 1), provider=st.integers(0, 1))
    def relate(self, org: int, provider: int) -> None:
        """A declared relationship stops subsidies between the two (invariant 13); it is
        declared once, and a second time refused."""
        outcome = self.attempt(
            lambda s: organisations.declare_relation(
                s, self.clock, OPERATOR, from_org=self.enterprises[org].org_id,
                to_org=self.providers[provider].org_id, kind="parent_subsidiary",
            )
        )  # fmt: skip
        _expect(outcome, Conflict if (org, provider) in self.model.relations else None)
        self.model.relations.add((org, provider))

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def the_ledger_balances(self) -> None:
        rows = self.books().accounts.values()
        assert sum(r.credits_posted - r.debits_posted for r in rows) == 0
        assert sum(r.credits_pending for r in rows) == sum(r.debits_pending for r in rows)

    @invariant()
    def every_fen_from_outside_is_accounted_for(self) -> None:
        """Wallets, receivables, the fee, budgets, grants and clearing hold exactly what came
        in from outside, net of what went out (as the test counted it, not the ledger)."""
        books = self.books()
        inside = sum(
            books.posted(account_id)
            for account_id, row in books.accounts.items()
            if row.kind != AccountKind.EXTERNAL_CLEARING.value
        )
        assert inside == self.model.outside_fen
        assert -books.posted(ledger.EXTERNAL_ACCOUNT_ID) == self.model.outside_fen

    @invariant()
    def no_account_is_below_zero_nor_held_beyond_it(self) -> None:
        for account_id, row in self.books().accounts.items():
            if row.kind == AccountKind.EXTERNAL_CLEARING.value:
                continue
            assert self.books().posted(account_id) >= 0, account_id
            assert row.debits_pending <= self.books().posted(account_id), account_id

    @invariant()
    def clearing_holds_only_the_pending_holds(self) -> None:
        books = self.books()
        pending = sum(h.amount_fen for h in books.holds.values() if h.state == "pending")
        clearing = books.accounts.get(ledger.CLEARING_ACCOUNT_ID)
        assert (clearing.credits_pending if clearing else 0) == pending
        assert books.posted(ledger.CLEARING_ACCOUNT_ID) == self.model.clearing_fen

    @invariant()
    def a_hold_lives_exactly_as_long_as_its_job(self) -> None:
        books = self.books()
        held_by_wallet: dict[str, int] = {}
        for job in books.jobs:
            active = job.state in ACTIVE_STATES
            hold = books.holds.get(f"job:{job.id}:hold")
            if job.hold_fen > 0:
                assert hold is not None and hold.amount_fen == job.hold_fen, job.id
                assert (hold.state == "pending") == active, (job.id, job.state, hold.state)
            if active:
                wallet = ledger.wallet_id(job.owner_id)
                held_by_wallet[wallet] = held_by_wallet.get(wallet, 0) + job.hold_fen
        for wallet, account in books.accounts.items():
            if account.kind == AccountKind.ENTERPRISE_WALLET.value:
                assert account.debits_pending == held_by_wallet.get(wallet, 0), wallet
        states = {job.id: job.state for job in books.jobs}
        for reserved in books.redemptions:
            active = states[reserved.job_id] in ACTIVE_STATES
            assert (reserved.state == "held") == active, reserved.job_id

    @invariant()
    def jobs_are_charged_what_was_metered_within_their_holds(self) -> None:
        books = self.books()
        reserved: dict[str, list[VoucherRedemptionRow]] = {}
        for row in books.redemptions:
            reserved.setdefault(row.job_id, []).append(row)
        for job in books.jobs:
            _check_job_charge(
                books, job, reserved.get(job.id, []), self.app.settings.platform_fee_bp
            )

    @invariant()
    def programs_never_pay_more_than_they_were_funded(self) -> None:
        books = self.books()
        for program in books.programs:
            totals = _program_totals(books, program)
            assert totals.funded_fen == self.model.funded[program.id], program.id
            assert 0 <= totals.funded_fen <= program.budget_fen, program.id
            assert min(totals.remaining_fen, totals.committed_fen, totals.paid_fen) >= 0
            assert totals.paid_fen == _paid_by_grants(books, program.id), program.id
        for grant in books.grants:
            program = next(p for p in books.programs if p.id == grant.program_id)
            assert grant.quota_fen <= program.rules["cap_per_enterprise_fen"]
            assert _paid_by_grant(books, grant.account_id) <= grant.quota_fen, grant.id


# ---------------------------------------------------------------------------------------------
# Reading and judging the books


def _rules(
    ratio: int,
    cap: int,
    *,
    sme_ratio: int | None = None,
    per_order: int | None = None,
    stacking: bool = True,
    combined: int = 10_000,
    provider_ids: tuple[str, ...] = (),
) -> Rules:
    return Rules(
        base_ratio_bp=ratio,
        cap_per_enterprise_fen=cap,
        tiers=(RatioTier(sme_ratio, "SME", sme=True),) if sme_ratio else (),
        cap_per_order_fen=per_order,
        provider_scope=ProviderScope.LIST if provider_ids else ProviderScope.ALL,
        provider_ids=provider_ids,
        stacking_allowed=stacking,
        max_combined_ratio_bp=combined,
    )


def _pool(pool_id: str, provider_id: str, model: str, price: int, now: datetime) -> PoolRow:
    return PoolRow(
        id=pool_id, provider_id=provider_id, name=pool_id, accelerator_model=model, nodes=1,
        cards_per_node=CARDS_PER_NODE, region="浙江/杭州", price_fen_per_card_hour=price,
        software={}, labels={}, backend="fake", connection_id=CLUSTER, created_at=now,
    )  # fmt: skip


def _read_books(session: Session) -> Books:
    programs = list(session.scalars(select(VoucherProgramRow)))
    return Books(
        accounts={r.id: r for r in session.scalars(select(LedgerAccountRow))},
        transfers={r.id: r for r in session.execute(select(transfers))},
        holds={r.id: r for r in session.scalars(select(LedgerHoldRow))},
        jobs=list(session.scalars(select(JobRow))),
        usage={r.job_id: r for r in session.scalars(select(UsageRow))},
        redemptions=list(session.scalars(select(VoucherRedemptionRow))),
        grants=list(session.scalars(select(VoucherGrantRow))),
        programs=programs,
    )


def _refund_refusal(books: Books, original: Any, amount: int | None) -> type[SuanliError] | None:
    """What `wallets.refund` must answer, worked out from the books alone."""
    ending = int(TransferFlags.PENDING | TransferFlags.VOID_PENDING | TransferFlags.EXPIRE_PENDING)
    if original.flags & ending or original.code == TransferCode.REFUND:
        return InvalidTransfer
    if amount is not None and amount <= 0:
        return InvalidAmount
    remaining = original.amount_fen - books.refunded(original.id)
    wanted = remaining if amount is None else amount
    if wanted <= 0 or wanted > remaining:
        return InvalidTransfer
    if original.code in (TransferCode.VOUCHER_GRANT, TransferCode.VOUCHER_RETURN):
        return InvalidTransfer
    unallocated = books.available(original.credit_account_id)
    if original.code == TransferCode.VOUCHER_FUNDING and wanted > unallocated:
        return InvalidTransfer  # a clawback takes only the unallocated budget
    payer = original.credit_account_id  # a refund debits what the original credited
    if payer != ledger.EXTERNAL_ACCOUNT_ID and wanted > books.available(payer):
        return InsufficientFunds
    return None


def _check_job_charge(
    books: Books, job: JobRow, reserved: list[VoucherRedemptionRow], fee_bp: int
) -> None:
    """Captured never exceeds the hold; the charge is the metered amount capped by the holds;
    the fee and the provider's share split exactly the charge."""
    found = books.transfers
    capture = found.get(f"job:{job.id}:capture")
    wallet_paid = capture.amount_fen if capture else 0
    assert wallet_paid <= job.hold_fen, job.id
    subsidy = 0
    for row in reserved:
        paid = found.get(vouchers.capture_id(job.id, row.grant_id))
        paid_fen = paid.amount_fen if paid is not None else 0
        assert paid_fen == (row.subsidy_fen if row.state == "settled" else 0), job.id
        assert paid_fen <= row.held_fen, job.id
        subsidy += paid_fen
    charge = wallet_paid + subsidy
    usage = books.usage.get(job.id)
    if usage is None:
        assert charge == 0, f"{job.id} charged without a usage line"
        return
    _check_usage_line(job, usage)
    metered = min(usage.amount_fen, job.hold_fen + sum(r.held_fen for r in reserved))
    assert wallet_paid == max(0, min(metered - subsidy, job.hold_fen)), job.id
    fee = found.get(f"job:{job.id}:fee")
    share = found.get(f"job:{job.id}:provider")
    assert (fee.amount_fen if fee else 0) == apply_basis_points(charge, fee_bp), job.id
    assert (share.amount_fen if share else 0) == charge - apply_basis_points(charge, fee_bp)


def _check_usage_line(job: JobRow, usage: UsageRow) -> None:
    """Priced at the job's placement price, never past its run-time limit nor its price cap."""
    assert usage.price_fen_per_card_hour == job.price_fen_per_card_hour, job.id
    assert usage.price_fen_per_card_hour <= job.spec["max_price_fen_per_card_hour"], job.id
    limit = int(job.spec["max_run_time_s"]) * stored_milli_cards(job.spec)
    assert usage.milli_card_seconds <= limit, job.id
    expected = price_milli_card_seconds(usage.milli_card_seconds, usage.price_fen_per_card_hour)
    assert usage.amount_fen == expected, job.id
    assert job.state in {s.value for s in TERMINAL_STATES}, job.id


def _paid_by_grant(books: Books, grant_account: str) -> int:
    """What left a grant for providers, less what refunds brought back (never a reclaim)."""
    out = sum(
        t.amount_fen
        for t in books.transfers.values()
        if t.debit_account_id == grant_account
        and t.code == TransferCode.VOUCHER_REDEMPTION
        and t.flags in POSTED
    )
    back = sum(
        t.amount_fen
        for t in books.transfers.values()
        if t.credit_account_id == grant_account and t.code == TransferCode.REFUND
    )
    return out - back


def _program_totals(books: Books, program: VoucherProgramRow) -> vouchers.ProgramTotals:
    """A program's totals from the books: funded net of clawbacks, what its budget and its
    grants hold, and the rest, which went to providers."""
    budget = vouchers.budget_spec(program).id
    external = ledger.EXTERNAL_ACCOUNT_ID
    funded = sum(
        t.amount_fen if t.credit_account_id == budget else -t.amount_fen
        for t in books.transfers.values()
        if t.flags in POSTED and {t.debit_account_id, t.credit_account_id} == {external, budget}
    )
    committed = sum(
        books.posted(account_id)
        for account_id, row in books.accounts.items()
        if row.kind == AccountKind.VOUCHER_GRANT.value and row.reference == program.id
    )
    remaining = books.posted(budget)
    return vouchers.ProgramTotals(funded, remaining, committed, funded - remaining - committed)


def _paid_by_grants(books: Books, program_id: str) -> int:
    return sum(
        _paid_by_grant(books, grant.account_id)
        for grant in books.grants
        if grant.program_id == program_id
    )


# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)  # a failure is shrunk for minutes: the counterexample is the point
def test_money_invariants_hold_under_any_interleaving_of_the_services(
    fresh_databases: Callable[[], AbstractContextManager[str]],
) -> None:
    machine = type("Money", (MoneyMachine,), {"databases": staticmethod(fresh_databases)})
    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
