"""Property tests of the ledger's pure rules, against an in-memory ledger built on them.

`MemoryLedger` is also the model the database tests compare the real ledger with.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanli.domain.ledger import (
    BALANCE_FEN_MAX,
    BATCH_SIZE_MAX,
    DEFAULT_FLAGS,
    LEDGER_CNY,
    TRANSFER_FEN_MAX,
    Account,
    AccountFlags,
    AccountKind,
    AmountOverflow,
    Balance,
    CreditLimitExceeded,
    CurrencyMismatch,
    Hold,
    HoldAlreadyEnded,
    HoldExpired,
    HoldState,
    InsufficientFunds,
    InvalidAmount,
    InvalidTransfer,
    LedgerError,
    PostExceedsHold,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRequest,
    UnknownAccount,
    UnknownHold,
    account_id_for,
    account_violations,
    check_limits,
    ledger_for_currency,
    ledger_totals_violations,
    plan_batch,
    plan_expiry,
    rebuild_balances,
    require_amount,
    resolve_replay,
)
from suanli.errors import IdempotencyConflict

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
EXTERNAL = "cny:external_clearing"


# ---------------------------------------------------------------------------------------------
# The model


@dataclass
class MemoryLedger:
    """A ledger kept in dicts, applying exactly the domain's rules; the reference model."""

    accounts: dict[str, Account] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)
    transfers: dict[str, Transfer] = field(default_factory=dict)

    def open(self, account_id: str, kind: AccountKind, ledger: int = LEDGER_CNY) -> None:
        self.accounts[account_id] = Account(account_id, ledger, kind, DEFAULT_FLAGS[kind])

    def submit(self, requests: Sequence[TransferRequest], now: datetime) -> list[Transfer]:
        stored = {r.id: self.transfers[r.id] for r in requests if r.id in self.transfers}
        try:
            plan = plan_batch(requests, self.accounts, self.holds, now)
        except LedgerError:
            replay = resolve_replay(requests, stored)
            if replay is not None:
                return replay
            raise
        replay = resolve_replay(requests, stored)
        if replay is not None:
            return replay
        for account_id, balance in plan.balances.items():
            self.accounts[account_id] = replace(self.accounts[account_id], balance=balance)
        for hold in [*plan.holds_created, *plan.holds_ended]:
            self.holds[hold.id] = hold
        self.transfers.update({t.id: t for t in plan.transfers})
        return plan.transfers

    def expire(self, now: datetime) -> list[Transfer]:
        due = [h for h in self.holds.values() if h.state is HoldState.PENDING and h.expired_at(now)]
        if not due:
            return []
        plan = plan_expiry(due[:BATCH_SIZE_MAX], self.accounts, now)
        for account_id, balance in plan.balances.items():
            self.accounts[account_id] = replace(self.accounts[account_id], balance=balance)
        for hold in plan.holds_ended:
            self.holds[hold.id] = hold
        self.transfers.update({t.id: t for t in plan.transfers})
        return plan.transfers

    def snapshot(self) -> tuple[dict[str, Account], dict[str, Hold], dict[str, Transfer]]:
        return dict(self.accounts), dict(self.holds), dict(self.transfers)


def assert_invariants(model: MemoryLedger) -> None:
    """Invariants 2, 5, 6 and 7 of DESIGN.md §4, on the model's whole state."""
    rebuilt = rebuild_balances(model.transfers.values(), model.holds)
    for account in model.accounts.values():
        assert account_violations(account, rebuilt.get(account.id, Balance())) == []
    totals = Balance()
    for account in model.accounts.values():
        totals = totals.add(
            dp=account.balance.debits_pending,
            dpo=account.balance.debits_posted,
            cp=account.balance.credits_pending,
            cpo=account.balance.credits_posted,
        )
    assert ledger_totals_violations({LEDGER_CNY: totals}) == []
    endings = [t for t in model.transfers.values() if t.pending_id is not None]
    assert len({t.pending_id for t in endings}) == len(endings), "a hold ended twice"
    for hold in model.holds.values():
        ended_by = [t.id for t in endings if t.pending_id == hold.id]
        assert (hold.state is HoldState.PENDING) == (ended_by == [])
        assert ended_by in ([], [hold.ended_by])


def funded(*wallets: str, amount_fen: int = 10_000) -> MemoryLedger:
    model = MemoryLedger()
    model.open(EXTERNAL, AccountKind.EXTERNAL_CLEARING)
    for index, wallet in enumerate(wallets):
        model.open(wallet, AccountKind.ENTERPRISE_WALLET)
        model.submit([top_up(f"fund-{index}", wallet, amount_fen)], T0)
    return model


def top_up(transfer_id: str, wallet: str, amount_fen: int) -> TransferRequest:
    return TransferRequest(transfer_id, amount_fen, TransferCode.TOP_UP, EXTERNAL, wallet)


def move(transfer_id: str, debit: str, credit: str, amount_fen: int) -> TransferRequest:
    return TransferRequest(transfer_id, amount_fen, TransferCode.TRANSFER, debit, credit)


def hold(
    transfer_id: str, debit: str, credit: str, amount_fen: int, timeout_s: int = 0
) -> TransferRequest:
    return TransferRequest(
        transfer_id,
        amount_fen,
        TransferCode.JOB_HOLD,
        debit,
        credit,
        flags=TransferFlags.PENDING,
        timeout_s=timeout_s,
    )


def post(transfer_id: str, pending_id: str, amount_fen: int) -> TransferRequest:
    return TransferRequest(
        transfer_id,
        amount_fen,
        TransferCode.JOB_CAPTURE,
        flags=TransferFlags.POST_PENDING,
        pending_id=pending_id,
    )


def void(transfer_id: str, pending_id: str) -> TransferRequest:
    return TransferRequest(
        transfer_id,
        0,
        TransferCode.JOB_RELEASE,
        flags=TransferFlags.VOID_PENDING,
        pending_id=pending_id,
    )


# ---------------------------------------------------------------------------------------------
# Random operation sequences: the invariants hold after every step, refusals change nothing

WALLETS = ("w1", "w2", "w3")


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, tuple[object, ...]]]:
    steps: list[tuple[str, tuple[object, ...]]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=40))):
        kind = draw(
            st.sampled_from(["top_up", "move", "hold", "post", "void", "expire", "replay", "batch"])
        )
        a, b = draw(st.sampled_from(WALLETS)), draw(st.sampled_from(WALLETS))
        amount = draw(st.integers(min_value=-5, max_value=3_000))
        steps.append((kind, (a, b, amount, draw(st.integers(0, 3)), draw(st.integers(0, 10_000)))))
    return steps


def request_for(
    step: tuple[str, tuple[object, ...]], n: int, model: MemoryLedger
) -> list[TransferRequest] | None:
    kind, (a, b, amount, timeout, pick) = step
    assert isinstance(a, str) and isinstance(b, str) and isinstance(amount, int)
    assert isinstance(timeout, int) and isinstance(pick, int)
    holds = sorted(model.holds)
    if kind == "top_up":
        return [top_up(f"t{n}", a, amount)]
    if kind == "move":
        return [move(f"t{n}", a, b, amount)]
    if kind == "hold":
        return [hold(f"t{n}", a, "clearing", amount, timeout_s=timeout)]
    if kind in ("post", "void") and holds:
        target = holds[pick % len(holds)]
        return [post(f"t{n}", target, amount) if kind == "post" else void(f"t{n}", target)]
    if kind == "batch":
        return [
            hold(f"t{n}a", a, "clearing", amount),
            post(f"t{n}b", f"t{n}a", max(1, amount // 2)),
        ]
    if kind == "replay" and model.transfers:
        first = sorted(model.transfers)[pick % len(model.transfers)]
        stored = model.transfers[first]
        if stored.flags & TransferFlags.EXPIRE_PENDING:
            return None
        return [
            TransferRequest(
                stored.id,
                stored.amount_fen + (amount % 2),  # sometimes the same content, sometimes not
                TransferCode(stored.code),
                stored.debit_account_id,
                stored.credit_account_id,
                flags=stored.flags,
                pending_id=stored.pending_id,
                timeout_s=stored.timeout_s,
            )
        ]
    return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations())
def test_random_operations_keep_every_invariant_and_refusals_write_nothing(
    steps: list[tuple[str, tuple[object, ...]]],
) -> None:
    model = funded(*WALLETS, amount_fen=5_000)
    model.open("clearing", AccountKind.SETTLEMENT_CLEARING)
    now = T0
    for n, step in enumerate(steps):
        now += timedelta(seconds=1)
        if step[0] == "expire":
            model.expire(now)
            assert_invariants(model)
            continue
        requests = request_for(step, n, model)
        if requests is None:
            continue
        before = model.snapshot()
        try:
            model.submit(requests, now)
        except (LedgerError, IdempotencyConflict):
            assert model.snapshot() == before, "a refused batch changed something"
        assert_invariants(model)


# ---------------------------------------------------------------------------------------------
# Amounts


@given(st.one_of(st.integers(max_value=0), st.booleans(), st.floats(), st.text(max_size=3)))
def test_zero_negative_and_non_integer_amounts_are_refused(amount: object) -> None:
    with pytest.raises(InvalidAmount):
        require_amount(amount)


@given(st.integers(min_value=TRANSFER_FEN_MAX + 1))
def test_amounts_beyond_the_maximum_overflow(amount: int) -> None:
    with pytest.raises(AmountOverflow):
        require_amount(amount)


@given(st.integers(min_value=1, max_value=TRANSFER_FEN_MAX))
def test_every_positive_amount_up_to_the_maximum_is_accepted(amount: int) -> None:
    assert require_amount(amount) == amount


def test_a_running_total_beyond_its_maximum_is_an_overflow_not_a_wrap() -> None:
    account = Account("x", LEDGER_CNY, AccountKind.EXTERNAL_CLEARING, AccountFlags.NONE)
    with pytest.raises(AmountOverflow):
        check_limits(account, Balance(debits_posted=BALANCE_FEN_MAX + 1))
    check_limits(account, Balance(debits_posted=BALANCE_FEN_MAX))


# ---------------------------------------------------------------------------------------------
# Limits


@given(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=1, max_value=20_000),
)
def test_insufficient_funds_names_exactly_the_missing_amount(
    funding: int, held: int, amount: int
) -> None:
    model = funded("w", amount_fen=funding) if funding else funded()
    if not funding:
        model.open("w", AccountKind.ENTERPRISE_WALLET)
    model.open("clearing", AccountKind.SETTLEMENT_CLEARING)
    if 0 < held <= funding:
        model.submit([hold("h", "w", "clearing", held)], T0)
    available = model.accounts["w"].balance.available_fen
    request = move("m", "w", "clearing", amount)
    if amount <= available:
        model.submit([request], T0)
        assert model.accounts["w"].balance.available_fen == available - amount
        return
    with pytest.raises(InsufficientFunds) as refused:
        model.submit([request], T0)
    assert refused.value.missing_fen == amount - available
    assert refused.value.to_dict()["details"]["missing_fen"] == amount - available


def test_credits_must_not_exceed_debits_caps_an_account_from_the_other_side() -> None:
    model = funded("w")
    model.accounts["cap"] = Account(
        "cap", LEDGER_CNY, AccountKind.VOUCHER_GRANT, AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    )
    with pytest.raises(CreditLimitExceeded) as refused:
        model.submit([move("m", "w", "cap", 10)], T0)
    assert refused.value.excess_fen == 10


# ---------------------------------------------------------------------------------------------
# Holds: post, partial post, void, expiry; each ends once


@given(st.integers(min_value=1, max_value=5_000), st.data())
def test_a_partial_post_captures_its_amount_and_releases_the_rest(
    held: int, data: st.DataObject
) -> None:
    captured = data.draw(st.integers(min_value=1, max_value=held))
    model = funded("w", amount_fen=5_000)
    model.open("clearing", AccountKind.SETTLEMENT_CLEARING)
    model.submit([hold("h", "w", "clearing", held)], T0)
    assert model.accounts["w"].balance.available_fen == 5_000 - held
    model.submit([post("p", "h", captured)], T0)
    wallet = model.accounts["w"].balance
    assert (wallet.debits_pending, wallet.available_fen) == (0, 5_000 - captured)
    assert model.accounts["clearing"].balance.credits_posted == captured
    assert model.holds["h"].state is HoldState.POSTED and model.holds["h"].posted_fen == captured
    assert_invariants(model)


def test_a_hold_ends_exactly_once_whatever_comes_next() -> None:
    model = funded("w")
    model.open("clearing", AccountKind.SETTLEMENT_CLEARING)
    model.submit([hold("h", "w", "clearing", 100)], T0)
    model.submit([void("v", "h")], T0)
    for late in (post("p", "h", 50), void("v2", "h")):
        with pytest.raises(HoldAlreadyEnded) as refused:
            model.submit([late], T0)
        assert refused.value.state == "voided"
    assert model.submit([void("v", "h")], T0)[0].id == "v"  # a replay, not a second ending


def test_a_post_larger_than_its_hold_is_refused() -> None:
    model = funded("w")
    model.open("clearing", AccountKind.SETTLEMENT_CLEARING)
    model.submit([hold("h", "w", "clearing", 100)], T0)
    with pytest.raises(PostExceedsHold):
        model.submit([post("p", "h", 101)], T0)
    with pytest.raises(InvalidAmount):
        model.submit([post("p", "h", 0)], T0)


def test_an_expired_hold_cannot_be_posted_and_the_sweep_releases_it() -> None:
    model = funded("w", amount_fen=1_000)
    model.open("clearing", AccountKind.SETTLEMENT_CLEARING)
    model.submit([hold("h", "w", "clearing", 600, timeout_s=30)], T0)
    assert model.expire(T0 + timedelta(seconds=29)) == []
    with pytest.raises(HoldExpired):
        model.submit([post("p", "h", 100)], T0 + timedelta(seconds=30))
    (expiry,) = model.expire(T0 + timedelta(seconds=30))
    assert expiry.flags is TransferFlags.EXPIRE_PENDING and expiry.pending_id == "h"
    assert model.accounts["w"].balance.available_fen == 1_000
    assert model.holds["h"].state is HoldState.EXPIRED
    assert_invariants(model)


def test_unknown_holds_and_accounts_and_ledgers_are_named() -> None:
    model = funded("w")
    with pytest.raises(UnknownHold):
        model.submit([post("p", "nope", 1)], T0)
    with pytest.raises(UnknownAccount) as unknown:
        model.submit([move("m", "w", "ghost", 1)], T0)
    assert unknown.value.account_id == "ghost"
    with pytest.raises(CurrencyMismatch):
        model.submit([replace(move("m", "w", EXTERNAL, 1), ledger=840)], T0)
    with pytest.raises(CurrencyMismatch):
        ledger_for_currency("USD")
    assert ledger_for_currency("cny") == LEDGER_CNY


@pytest.mark.parametrize(
    "request_",
    [
        move("same", "w", "w", 1),
        replace(
            move("flags", "w", EXTERNAL, 1),
            flags=TransferFlags.PENDING | TransferFlags.POST_PENDING,
        ),
        replace(
            move("expire", "w", EXTERNAL, 1), flags=TransferFlags.EXPIRE_PENDING, pending_id="x"
        ),
        replace(move("timeout", "w", EXTERNAL, 1), timeout_s=5),
        replace(move("pending-id", "w", EXTERNAL, 1), pending_id="x"),
        replace(move("", "w", EXTERNAL, 1)),
        replace(move("long-memo", "w", EXTERNAL, 1), memo="x" * 201),
    ],
)
def test_malformed_requests_are_refused_before_anything_is_planned(
    request_: TransferRequest,
) -> None:
    with pytest.raises(InvalidTransfer):
        funded("w").submit([request_], T0)


# ---------------------------------------------------------------------------------------------
# Linked batches and idempotency


@given(st.integers(min_value=0, max_value=6))
def test_a_linked_batch_that_fails_anywhere_writes_nothing(failing_at: int) -> None:
    model = funded("a", "b", amount_fen=1_000)
    batch = [move(f"m{i}", "a", "b", 10) for i in range(6)]
    if failing_at < len(batch):
        batch[failing_at] = move(f"m{failing_at}", "a", "b", 10_000)
    before = model.snapshot()
    if failing_at == len(batch):
        assert len(model.submit(batch, T0)) == 6
        return
    with pytest.raises(InsufficientFunds):
        model.submit(batch, T0)
    assert model.snapshot() == before


def test_later_transfers_of_a_batch_see_the_earlier_ones() -> None:
    model = funded("a", amount_fen=100)
    model.open("b", AccountKind.ENTERPRISE_WALLET)
    model.submit([move("ab", "a", "b", 100), move("b-out", "b", EXTERNAL, 100)], T0)
    assert model.accounts["b"].balance.credit_balance_fen == 0


def test_duplicate_ids_in_one_batch_and_oversized_batches_are_refused() -> None:
    model = funded("a")
    with pytest.raises(InvalidTransfer):
        model.submit([move("x", "a", EXTERNAL, 1), move("x", "a", EXTERNAL, 2)], T0)
    with pytest.raises(InvalidTransfer):
        model.submit([move(f"m{i}", "a", EXTERNAL, 1) for i in range(BATCH_SIZE_MAX + 1)], T0)
    with pytest.raises(InvalidTransfer):
        model.submit([], T0)


@given(st.integers(min_value=1, max_value=1_000), st.integers(min_value=1, max_value=1_000))
def test_a_replay_returns_the_first_result_and_other_content_conflicts(
    first: int, second: int
) -> None:
    model = funded("a", amount_fen=1_000)
    (original,) = model.submit([move("m", "a", EXTERNAL, first)], T0)
    before = model.snapshot()
    assert model.submit([move("m", "a", EXTERNAL, first)], T0 + timedelta(hours=1)) == [original]
    if second != first:
        with pytest.raises(IdempotencyConflict):
            model.submit([move("m", "a", EXTERNAL, second)], T0)
    assert model.snapshot() == before


def test_a_batch_reusing_only_some_ids_is_a_conflict() -> None:
    model = funded("a")
    model.submit([move("m1", "a", EXTERNAL, 1)], T0)
    with pytest.raises(IdempotencyConflict):
        model.submit([move("m1", "a", EXTERNAL, 1), move("m2", "a", EXTERNAL, 1)], T0)


# ---------------------------------------------------------------------------------------------
# Rebuilding and ids


def test_balances_rebuild_from_transfers_after_a_long_random_history() -> None:
    rng = random.Random(7)
    model = funded(*WALLETS, amount_fen=50_000)
    model.open("clearing", AccountKind.SETTLEMENT_CLEARING)
    for n in range(2_000):
        a, b = rng.sample(WALLETS, 2)
        requests = [move(f"r{n}", a, b, rng.randint(1, 500))]
        if rng.random() < 0.3:
            requests = [hold(f"r{n}", a, "clearing", rng.randint(1, 500))]
        elif rng.random() < 0.3 and model.holds:
            requests = [post(f"r{n}", rng.choice(sorted(model.holds)), rng.randint(1, 50))]
        with contextlib.suppress(LedgerError):
            model.submit(requests, T0)
    assert_invariants(model)


def test_account_ids_are_derived_from_what_identifies_the_account() -> None:
    assert (
        account_id_for(LEDGER_CNY, AccountKind.ENTERPRISE_WALLET, "org_1")
        == "cny:enterprise_wallet:org_1"
    )
    assert account_id_for(LEDGER_CNY, AccountKind.EXTERNAL_CLEARING) == "cny:external_clearing"
    with pytest.raises(InvalidTransfer):
        account_id_for(LEDGER_CNY, AccountKind.VOUCHER_GRANT, "o" * 60, "p" * 60)


def test_an_account_cannot_carry_both_limit_flags() -> None:
    with pytest.raises(InvalidTransfer):
        Account("x", LEDGER_CNY, AccountKind.VOUCHER_GRANT, AccountFlags(3))


def test_every_transfer_code_has_words_in_both_languages() -> None:
    """The CLI and the monthly statement word codes from one table: a code missing from it
    would be printed raw, and an unknown one is shown as written rather than dropped."""
    from suanli.domain.ledger import TRANSFER_CODE_WORDS, TransferCode, transfer_code_word
    from suanli.i18n import using_language

    assert set(TRANSFER_CODE_WORDS) == {code.name.lower() for code in TransferCode}
    with using_language("zh-CN"):
        assert transfer_code_word("job_capture") == "作业扣款"
    with using_language("en"):
        assert transfer_code_word("job_capture") == "job charge"
        assert transfer_code_word("99") == "99"
