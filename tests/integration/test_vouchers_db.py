"""Vouchers on real SQLite and PostgreSQL through the service layer: holds that count the
subsidy, settlement in one batch, release, refund back to the grant, expiry and reclaim,
related parties, and agency reports whose totals equal the ledger's, the statements' and
each other's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from suanli.adapters.db.tables import AuditRow, JobRow, UsageRow
from suanli.adapters.db.tables_vouchers import VoucherGrantRow, VoucherRedemptionRow
from suanli.bootstrap import App
from suanli.domain.jobs import JobSpec
from suanli.domain.ledger import InvalidTransfer, TransferCode, TransferFlags, TransferRequest
from suanli.domain.money import apply_basis_points, price_card_seconds
from suanli.domain.vouchers import BEIJING, BudgetShort, EnterpriseFacts, RatioTier, Rules
from suanli.errors import Conflict, PermissionDenied
from suanli.services import (
    dashboard,
    jobs,
    ledger,
    organisations,
    settlement,
    vouchers,
    wallets,
)
from suanli.services.common import Page, Principal
from suanli.services.pools import create_pool, update_pool
from suanli.services.runtime import Runtime
from tests.helpers import make_app


@pytest.fixture(autouse=True)
def english_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the English wording of bilingual messages (the default is zh-CN;
    both languages are checked for every operation in tests/e2e/test_api_language.py)."""
    monkeypatch.setenv("SUANLI_LANGUAGE", "en")


OPERATOR = Principal("op", "platform", "operator")
PRICE = 360_000  # fen per card-hour: 100 fen per card-second
HOUR_FEN = price_card_seconds(3600, PRICE)


@dataclass
class Clock:
    moment: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.moment


@dataclass
class World:
    app: App
    clock: Clock
    agency: Principal
    provider_id: str
    other_provider_id: str
    pools: dict[str, str]  # accelerator -> pool id
    enterprises: list[Principal]
    program_id: str = ""

    def session(self) -> Any:
        return self.app.db.session()


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    app = make_app(tmp_path, database_url)
    clock = Clock()
    with app.db.session() as session:
        built = _build(session, app, clock)
    yield built
    app.close()


def _build(session: Any, app: App, clock: Clock) -> World:
    def org(name: str, kind: str) -> str:
        return organisations.create_organisation(session, clock, name=name, kind=kind).id

    agency = Principal("agency-user", org("经信局", "agency"), "agency")
    provider, other = org("钱塘智算", "provider"), org("西湖算力", "provider")
    pools = {}
    for accelerator, owner in (("Ascend-910", provider), ("H100-SXM", other)):
        fields = {
            "name": accelerator,
            "accelerator_model": accelerator,
            "nodes": 4,
            "cards_per_node": 8,
            "region": "浙江/杭州/余杭",
            "price_fen_per_card_hour": PRICE,
            "provider_id": owner,
        }
        pools[accelerator] = create_pool(session, clock, OPERATOR, fields).id
    enterprises = []
    for n in range(2):
        enterprise = Principal(f"e{n}", org(f"企业{n}", "enterprise"), "enterprise")
        wallets.top_up(
            session,
            clock,
            OPERATOR,
            org_id=enterprise.org_id,
            amount_fen=10**8,
            external_reference=f"bank-{n}",
        )
        enterprises.append(enterprise)
    return World(app, clock, agency, provider, other, pools, enterprises)


def open_program(world: World, **rules: Any) -> str:
    values: dict[str, Any] = {
        "base_ratio_bp": 3_000,
        "tiers": (RatioTier(5_000, "SME", sme=True),),
        "cap_per_enterprise_fen": 10 * HOUR_FEN,
    }
    with world.session() as session:
        program = vouchers.create_program(
            session,
            world.clock,
            world.agency,
            name="杭州市算力券",
            category="compute",
            budget_fen=100 * HOUR_FEN,
            valid_from=world.clock.now() - timedelta(days=1),
            valid_until=world.clock.now() + timedelta(days=30),
            rules=Rules(**(values | rules)),
        )
        vouchers.fund_program(
            session,
            world.clock,
            world.agency,
            program_id=program.id,
            amount_fen=100 * HOUR_FEN,
            external_reference="财政-1",
        )
    world.program_id = program.id
    return program.id


def grant_to(world: World, enterprise: Principal, quota_fen: int, *, sme: bool = True) -> str:
    facts = EnterpriseFacts(is_sme=sme, region="浙江/杭州", founded_on=date(2020, 1, 1))
    with world.session() as session:
        application = vouchers.apply(
            session,
            world.clock,
            enterprise,
            program_id=world.program_id,
            facts=facts,
            requested_fen=quota_fen,
        )
        grant = vouchers.approve(
            session, world.clock, world.agency, application_id=application.id, quota_fen=quota_fen
        )
        return grant.id


def submit(world: World, enterprise: Principal, accelerator: str = "Ascend-910") -> JobRow:
    spec = JobSpec(name="train", command="true", max_run_time_s=3600, accelerators=(accelerator,))
    with world.session() as session:
        return jobs.submit_job(session, world.app.settings, world.clock, enterprise, spec)


def settle(world: World, job: JobRow, card_seconds: int, accelerator: str = "Ascend-910") -> None:
    with world.session() as session:
        row = session.get(JobRow, job.id)
        pool_id = world.pools[accelerator]
        row.pool_id = pool_id
        provider = world.provider_id if accelerator == "Ascend-910" else world.other_provider_id
        now = world.clock.now()
        usage = UsageRow(
            job_id=job.id,
            owner_id=job.owner_id,
            provider_id=provider,
            pool_id=pool_id,
            accelerator_model=accelerator,
            cards=1,
            started_at=now - timedelta(seconds=card_seconds),
            ended_at=now,
            card_seconds=card_seconds,
            price_fen_per_card_hour=PRICE,
            amount_fen=price_card_seconds(card_seconds, PRICE),
            source="test",
            created_at=now,
        )
        session.add(usage)
        session.flush()
        settlement.settle_job(session, world.app.settings, world.clock, row, usage)


def grant_view(world: World, enterprise: Principal) -> vouchers.GrantView:
    with world.session() as session:
        page = vouchers.list_grants(session, enterprise, Page())
        (view,) = page.items
        return view


def wallet(world: World, enterprise: Principal) -> wallets.AccountView:
    with world.session() as session:
        views = wallets.balances(session, enterprise, enterprise.org_id)
        return next(v for v in views if v.kind == "enterprise_wallet")


def check_ok(world: World) -> None:
    report = ledger.run_check(world.app.db)
    assert report.ok, report.violations
    with world.session() as session:
        clearing = ledger.repository(session).account(ledger.CLEARING_ACCOUNT_ID).balance
    assert clearing.credit_balance_fen == 0  # every settlement split all it captured


def report(world: World) -> vouchers.ProgramReport:
    with world.session() as session:
        return vouchers.program_report(session, world.agency, world.program_id)


# ---------------------------------------------------------------------------------------------


def test_the_hold_counts_the_subsidy_and_settlement_pays_the_provider_in_one_batch(
    world: World,
) -> None:
    open_program(world)
    sme = world.enterprises[0]
    grant_to(world, sme, 10 * HOUR_FEN)
    job = submit(world, sme)
    assert job.hold_fen == HOUR_FEN // 2  # SME 50%: half the maximum cost on the wallet
    assert grant_view(world, sme).reserved_fen == HOUR_FEN // 2
    settle(world, job, 1800)
    amount = price_card_seconds(1800, PRICE)
    assert wallet(world, sme).posted_fen == 10**8 - amount // 2
    assert wallet(world, sme).pending_fen == 0
    view = grant_view(world, sme)
    assert (view.reserved_fen, view.balance_fen) == (0, 10 * HOUR_FEN - amount // 2)
    with world.session() as session:
        provider = ledger.repository(session).account(ledger.receivable_id(world.provider_id))
        fee = apply_basis_points(amount, world.app.settings.platform_fee_bp)
    assert provider.balance.credit_balance_fen == amount - fee  # paid in full, subsidy included
    check_ok(world)


def test_settling_twice_is_one_settlement(world: World) -> None:
    open_program(world)
    sme = world.enterprises[0]
    grant_to(world, sme, 10 * HOUR_FEN)
    job = submit(world, sme)
    settle(world, job, 1000)
    with world.session() as session:
        row = session.get(JobRow, job.id)
        usage = session.scalar(select(UsageRow).where(UsageRow.job_id == job.id))
        settlement.settle_job(session, world.app.settings, world.clock, row, usage)
    assert grant_view(world, sme).balance_fen == 10 * HOUR_FEN - 50_000
    check_ok(world)


def test_a_job_released_without_charge_gives_its_reservation_back(world: World) -> None:
    open_program(world)
    sme = world.enterprises[0]
    grant_to(world, sme, 10 * HOUR_FEN)
    job = submit(world, sme)
    with world.session() as session:
        row = session.get(JobRow, job.id)
        settlement.release_job_hold(session, world.app.settings, world.clock, row)
    view = grant_view(world, sme)
    assert (view.reserved_fen, view.available_fen) == (0, 10 * HOUR_FEN)
    assert wallet(world, sme).pending_fen == 0
    check_ok(world)


def test_a_job_on_a_free_pool_releases_its_empty_reservation_when_it_ends(world: World) -> None:
    """Shrunk by tests/integration/test_money_stateful.py: every pool repriced to 0, a job
    submitted with a price cap, run and settled for nothing. Settlement returned early on a
    zero hold, leaving the job's reservation `held` after the job had ended. (Holds were then
    sized at the pools' prices, so nothing was held; they are now sized at the cap, and a
    charge of nothing goes through the same release.)"""
    open_program(world)
    sme = world.enterprises[0]
    grant_to(world, sme, 10 * HOUR_FEN)
    with world.session() as session:
        for pool_id in world.pools.values():
            update_pool(session, world.clock, OPERATOR, pool_id, {"price_fen_per_card_hour": 0})
    spec = JobSpec(
        name="free", command="true", max_run_time_s=60, max_price_fen_per_card_hour=PRICE
    )
    with world.session() as session:
        job = jobs.submit_job(session, world.app.settings, world.clock, sme, spec)
    assert job.hold_fen > 0  # held at its cap: the pools may be repriced up to it
    with world.session() as session:
        row = session.get(JobRow, job.id)
        row.pool_id, row.price_fen_per_card_hour = world.pools["Ascend-910"], 0
        usage = UsageRow(
            job_id=job.id, owner_id=sme.org_id, provider_id=world.provider_id,
            pool_id=row.pool_id, accelerator_model="Ascend-910", cards=1,
            started_at=world.clock.now() - timedelta(seconds=60), ended_at=world.clock.now(),
            card_seconds=60, price_fen_per_card_hour=0, amount_fen=0, source="test",
            created_at=world.clock.now(),
        )  # fmt: skip
        session.add(usage)
        session.flush()
        settlement.settle_job(session, world.app.settings, world.clock, row, usage)
    with world.session() as session:
        states = session.scalars(
            select(VoucherRedemptionRow.state).where(VoucherRedemptionRow.job_id == job.id)
        )
        assert list(states) == ["released"]
    assert grant_view(world, sme).reserved_fen == 0
    check_ok(world)


def test_a_fully_subsidised_job_holds_nothing_on_the_wallet_and_refunds_to_the_grant(
    world: World,
) -> None:
    open_program(world, base_ratio_bp=10_000, tiers=())
    enterprise = world.enterprises[0]
    grant_to(world, enterprise, 10 * HOUR_FEN)
    job = submit(world, enterprise)
    assert job.hold_fen == 0
    settle(world, job, 600)
    assert wallet(world, enterprise).posted_fen == 10**8
    with world.session() as session:
        wallets.refund_job(session, world.clock, OPERATOR, job_id=job.id, reason="provider fault")
    assert grant_view(world, enterprise).balance_fen == 10 * HOUR_FEN
    check_ok(world)


def test_a_refund_returns_the_subsidy_to_the_grant_and_the_rest_to_the_wallet(
    world: World,
) -> None:
    open_program(world)
    sme = world.enterprises[0]
    grant_to(world, sme, 10 * HOUR_FEN)
    job = submit(world, sme)
    settle(world, job, 3600)
    with world.session() as session:
        done = wallets.refund_job(session, world.clock, OPERATOR, job_id=job.id, reason="fault")
    assert any(t.id.startswith(f"job:{job.id}:refund:voucher:") for t in done)
    assert wallet(world, sme).posted_fen == 10**8
    assert grant_view(world, sme).balance_fen == 10 * HOUR_FEN
    result = report(world)
    assert result.totals.paid_fen == 0
    assert [e.subsidy_fen for e in result.by_enterprise] == [0]
    check_ok(world)


def test_a_refunded_funding_is_net_everywhere_and_never_reaches_the_grants(
    world: World,
) -> None:
    """The treasury's clawback (a refund of a funding transfer) lowers funded in the totals,
    the burn-down and the dashboard alike; it takes only unallocated budget, whatever the
    grants hold or reserve."""
    program_id = open_program(world)  # funded 100 hours
    sme = world.enterprises[0]
    grant_to(world, sme, 10 * HOUR_FEN)
    settle(world, submit(world, sme), 3600)  # the SME's 50%: half an hour paid
    running = submit(world, sme)  # reserves another half hour on the grant
    funding_id = ledger.derived_transfer_id("vfund", program_id, "财政-1")
    with world.session() as session:
        wallets.refund(
            session, world.clock, OPERATOR, transfer_id=funding_id, reason="clawback",
            amount_fen=20 * HOUR_FEN,
        )  # fmt: skip
    totals = report(world).totals
    assert (totals.funded_fen, totals.paid_fen) == (80 * HOUR_FEN, HOUR_FEN // 2)
    assert totals.remaining_fen == 70 * HOUR_FEN and totals.committed_fen == 19 * HOUR_FEN // 2
    last = report(world).burn_down[-1]
    assert (last.funded_fen, last.paid_fen, last.remaining_fen) == (
        totals.funded_fen,
        totals.paid_fen,
        totals.remaining_fen,
    )
    with world.session() as session:
        assert dashboard.vouchers_paid_fen(session) == totals.paid_fen
    with pytest.raises(InvalidTransfer) as refused, world.session() as session:
        wallets.refund(
            session, world.clock, OPERATOR, transfer_id=funding_id, reason="clawback",
            amount_fen=70 * HOUR_FEN + 1,
        )  # fmt: skip
    assert refused.value.field == "amount_fen"
    assert report(world).totals == totals  # nothing written
    assert grant_view(world, sme).reserved_fen == running.hold_fen
    check_ok(world)


def test_no_subsidy_flows_between_related_parties(world: World) -> None:
    open_program(world)
    sme = world.enterprises[0]
    grant_to(world, sme, 10 * HOUR_FEN)
    with world.session() as session:
        organisations.declare_relation(
            session,
            world.clock,
            OPERATOR,
            from_org=sme.org_id,
            to_org=world.provider_id,
            kind="parent_subsidiary",
        )
    job = submit(world, sme)
    assert job.hold_fen == HOUR_FEN  # nothing expected: the only pool is a related party's
    settle(world, job, 1200)
    month = world.clock.now().astimezone(BEIJING).strftime("%Y-%m")
    with world.session() as session:
        statement = wallets.monthly_statement(session, sme, sme.org_id, month)
    (line,) = statement.lines
    assert line.subsidy_fen == 0 and "related parties" in line.subsidy_note
    assert [r.outcome for r in report(world).refused] == ["related_party"]
    check_ok(world)


def test_a_relationship_declared_twice_is_refused_as_a_conflict(world: World) -> None:
    """Shrunk by tests/integration/test_money_stateful.py: `relate(org=0, provider=0)` twice.
    The second declaration escaped as the database's unique-index error, not a typed one."""
    sme = world.enterprises[0]

    def relate() -> None:
        with world.session() as session:
            organisations.declare_relation(
                session, world.clock, OPERATOR, from_org=sme.org_id,
                to_org=world.provider_id, kind="parent_subsidiary",
            )  # fmt: skip

    relate()
    with pytest.raises(Conflict) as refused:
        relate()
    assert refused.value.field == "kind"
    with world.session() as session:
        assert organisations.are_related(session, sme.org_id, world.provider_id)


def test_an_approval_beyond_the_unallocated_budget_is_refused_and_writes_nothing(
    world: World,
) -> None:
    open_program(world, cap_per_enterprise_fen=100 * HOUR_FEN)
    first, second = world.enterprises
    grant_to(world, first, 60 * HOUR_FEN)
    with pytest.raises(BudgetShort) as refused:
        grant_to(world, second, 60 * HOUR_FEN)
    assert refused.value.details["unallocated_fen"] == 40 * HOUR_FEN
    with world.session() as session:
        assert session.scalar(select(func.count()).select_from(VoucherGrantRow)) == 1
    assert report(world).totals.remaining_fen == 40 * HOUR_FEN


def test_at_the_end_of_validity_unused_grants_return_to_the_program(world: World) -> None:
    open_program(world)
    sme = world.enterprises[0]
    grant_to(world, sme, 10 * HOUR_FEN)
    running = submit(world, sme)  # still holds half an hour's subsidy when the program ends
    world.clock.moment += timedelta(days=31)
    with world.session() as session:
        first = vouchers.expire_grants(session, world.clock, world.agency)
    assert first == vouchers.ExpiryResult(1, 10 * HOUR_FEN - HOUR_FEN // 2)
    settle(world, running, 1800)  # ordered in validity: the subsidy stands
    with world.session() as session:
        second = vouchers.expire_grants(session, world.clock, world.agency)
        again = vouchers.expire_grants(session, world.clock, world.agency)
    assert second == vouchers.ExpiryResult(0, HOUR_FEN // 2 - HOUR_FEN // 4)
    assert again == vouchers.ExpiryResult(0, 0)
    totals = report(world).totals
    assert (totals.committed_fen, totals.paid_fen) == (0, HOUR_FEN // 4)
    assert totals.remaining_fen == 100 * HOUR_FEN - HOUR_FEN // 4
    late = submit(world, sme)
    assert late.hold_fen == HOUR_FEN  # the program has ended: no subsidy expected
    check_ok(world)


def runtime_for(world: World) -> Runtime:
    """The live loop on the test's clock (no cluster is involved)."""
    return Runtime(world.app.settings, world.app.db, world.clock, world.app.backends)


def expiry_audits(world: World) -> list[tuple[str, dict[str, Any]]]:
    with world.session() as session:
        query = select(AuditRow.actor_id, AuditRow.detail).where(
            AuditRow.action == "voucher.expire"
        )
        return [(actor, dict(detail)) for actor, detail in session.execute(query)]


def test_the_live_loop_returns_unused_grants_when_a_program_ends_unasked(world: World) -> None:
    open_program(world)
    sme = world.enterprises[0]
    grant_id = grant_to(world, sme, 10 * HOUR_FEN)
    runtime = runtime_for(world)
    runtime.tick()  # inside validity: nothing to do, and nothing written to the audit log
    assert expiry_audits(world) == []
    world.clock.moment += timedelta(days=31)
    runtime.tick()
    with world.session() as session:
        assert session.get(VoucherGrantRow, grant_id).state == "expired"
    assert expiry_audits(world) == [
        ("system:runtime", {"grants_expired": 1, "reclaimed_fen": 10 * HOUR_FEN})
    ]
    world.clock.moment += timedelta(seconds=runtime.housekeeping_interval_s)
    runtime.tick()
    assert len(expiry_audits(world)) == 1  # nothing left to reclaim: no new entry
    check_ok(world)


def test_the_live_loop_expires_a_hold_past_its_timeout(world: World) -> None:
    enterprise = world.enterprises[0]
    before = available(world, enterprise)
    with world.session() as session:
        ledger.submit(
            session,
            world.clock,
            [
                TransferRequest(
                    "manual-hold", 400, TransferCode.JOB_HOLD, ledger.wallet_id(enterprise.org_id),
                    ledger.CLEARING_ACCOUNT_ID, flags=TransferFlags.PENDING, timeout_s=600,
                )
            ],
        )  # fmt: skip
    runtime = runtime_for(world)
    runtime.tick()
    assert available(world, enterprise) == before - 400
    world.clock.moment += timedelta(seconds=600)
    runtime.tick()
    assert available(world, enterprise) == before
    check_ok(world)


def available(world: World, enterprise: Principal) -> int:
    with world.session() as session:
        views = wallets.balances(session, OPERATOR, enterprise.org_id)
    return next(v.available_fen for v in views if v.kind == "enterprise_wallet")


def test_an_agency_cannot_expire_or_report_another_agencys_program(world: World) -> None:
    open_program(world)
    with world.session() as session:
        other = organisations.create_organisation(
            session, world.clock, name="数据局", kind="agency"
        )
    stranger = Principal("x", other.id, "agency")
    with world.session() as session, pytest.raises(PermissionDenied):
        vouchers.program_report(session, stranger, world.program_id)


def test_reports_reconcile_with_the_ledger_and_the_statements(world: World) -> None:
    open_program(world)
    sme, large = world.enterprises
    grant_to(world, sme, 2 * HOUR_FEN)
    grant_to(world, large, 5 * HOUR_FEN, sme=False)
    plan = [(sme, "Ascend-910", 3600), (sme, "H100-SXM", 1800), (large, "Ascend-910", 3000)]
    plan += [(large, "H100-SXM", 3600), (sme, "Ascend-910", 3600), (sme, "Ascend-910", 2400)]
    settled = []
    for enterprise, accelerator, seconds in plan:
        job = submit(world, enterprise, accelerator)
        settle(world, job, seconds, accelerator)
        settled.append(job)
    with world.session() as session:
        wallets.refund_job(session, world.clock, OPERATOR, job_id=settled[1].id, reason="fault")
    result = report(world)
    paid = result.totals.paid_fen
    assert paid > 0
    for breakdown in (result.by_enterprise, result.by_provider, result.by_vendor):
        assert sum(item.subsidy_fen for item in breakdown) == paid
    assert result.burn_down[-1].paid_fen == paid
    assert (
        result.totals.funded_fen == paid + result.totals.committed_fen + result.totals.remaining_fen
    )
    assert _ledger_subsidy(world) == paid
    # A statement line shows what the job's settlement paid; the refund is a later movement.
    assert _statement_subsidy(world) - _subsidy_of(world, settled[1].id) == paid
    domestic = sum(v.subsidy_fen for v in result.by_vendor if v.domestic)
    assert result.domestic_share_bp == domestic * 10_000 // paid
    assert {v.key for v in result.by_vendor} == {"Huawei", "NVIDIA"}
    check_ok(world)


def _ledger_subsidy(world: World) -> int:
    """Straight from the ledger: what left the program's grants, less what came back to them
    by refund (not by reclaim, which is unused money returning, never a payment)."""
    with world.session() as session:
        grants = list(session.scalars(select(VoucherGrantRow.account_id)))
        repo = ledger.repository(session)
        balances = repo.accounts(grants)
        quota = sum(g.quota_fen for g in session.scalars(select(VoucherGrantRow)))
        return quota - sum(a.balance.credit_balance_fen for a in balances.values())


def _statement_subsidy(world: World) -> int:
    month = world.clock.now().astimezone(BEIJING).strftime("%Y-%m")
    total = 0
    with world.session() as session:
        for enterprise in world.enterprises:
            statement = wallets.monthly_statement(session, enterprise, enterprise.org_id, month)
            total += statement.total_subsidy_fen
    return total


def _subsidy_of(world: World, job_id: str) -> int:
    with world.session() as session:
        query = select(func.coalesce(func.sum(VoucherRedemptionRow.subsidy_fen), 0))
        return int(session.scalar(query.where(VoucherRedemptionRow.job_id == job_id)) or 0)
