"""The ledger's rules, after TigerBeetle: accounts with pending and posted totals and limit flags,
immutable transfers between two accounts of one ledger, two-phase holds, linked batches.

Pure code: no database, no clock. `plan_batch` applies a batch to the accounts and holds it is
given and returns exactly what to write; the database adapter locks, plans, then writes that.
Every batch is linked: all of its transfers happen, or none (and the error names the first).

    LedgerError (suanli.errors, HTTP 422)
    ├── InvalidTransfer            malformed request: flags, same account twice, batch shape
    │   └── InvalidAmount          zero, negative or not an integer number of fen
    ├── AmountOverflow             an amount or a running total beyond its maximum
    ├── UnknownAccount
    ├── UnknownHold
    ├── CurrencyMismatch           the transfer's ledger (currency) differs from an account's
    ├── BalanceLimitExceeded
    │   ├── InsufficientFunds      debits would exceed credits (carries missing_fen)
    │   └── CreditLimitExceeded    credits would exceed debits (carries excess_fen)
    ├── HoldAlreadyEnded           post or void of a hold already posted, voided or expired
    │   └── HoldExpired            its timeout passed before the post or void
    ├── PostExceedsHold            a post larger than the hold
    └── LedgerInvariantBroken      stored state no valid transfer can produce (a bug)
    IdempotencyConflict (suanli.errors, HTTP 409): a transfer id reused with other content
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum, IntFlag, StrEnum
from typing import Any

from suanli.domain.money import FEN_MAX
from suanli.errors import IdempotencyConflict, LedgerError
from suanli.i18n import Msg, msg, t

LEDGER_CNY = 156  # ISO 4217 numeric code: one ledger per currency, as in TigerBeetle
CURRENCY_BY_LEDGER: Mapping[int, str] = {LEDGER_CNY: "CNY"}
TRANSFER_FEN_MAX = FEN_MAX
# Each total stays below 2**62 so that the sum of two totals (in CHECK constraints) fits a BIGINT.
BALANCE_FEN_MAX = 2**62 - 1
BATCH_SIZE_MAX = 64
TIMEOUT_S_MAX = 366 * 24 * 3600
ID_LENGTH_MAX = 100
TEXT_LENGTH_MAX = 200


# ---------------------------------------------------------------------------------------------
# Errors


class InvalidTransfer(LedgerError):
    """The transfer request is malformed; `field` names what to fix."""

    code = "invalid_transfer"


class InvalidAmount(InvalidTransfer):
    """An amount that is zero, negative or not an integer number of fen: bad input, so the
    CLI exits 2 as for any other (a money rule, such as a short wallet, exits 6)."""

    code = "invalid_amount"
    exit_code = 2


class AmountOverflow(LedgerError):
    """An amount or an account total would pass its maximum (a bug or an attack, never trade)."""

    code = "amount_overflow"


class UnknownAccount(LedgerError):
    """No account with this id."""

    code = "unknown_account"

    def __init__(self, account_id: str) -> None:
        super().__init__(
            msg(f"没有账户 {account_id!r}", f"no account {account_id!r}"),
            field="account_id",
            account_id=account_id,
        )
        self.account_id = account_id


class UnknownHold(LedgerError):
    """No pending transfer (hold) with this id."""

    code = "unknown_hold"

    def __init__(self, pending_id: str) -> None:
        super().__init__(
            msg(f"没有冻结 {pending_id!r}", f"no hold {pending_id!r}"),
            field="pending_id",
            pending_id=pending_id,
        )
        self.pending_id = pending_id


class CurrencyMismatch(LedgerError):
    """A transfer's ledger (currency) differs from the ledger of one of its accounts."""

    code = "currency_mismatch"


class BalanceLimitExceeded(LedgerError):
    """A transfer would break an account's limit flag."""

    code = "balance_limit_exceeded"

    def __init__(self, message: str | Msg, *, account_id: str, **details: Any) -> None:
        super().__init__(message, field="amount_fen", account_id=account_id, **details)
        self.account_id = account_id


class InsufficientFunds(BalanceLimitExceeded):
    """Debits would exceed credits: the account lacks `missing_fen`."""

    code = "insufficient_funds"

    def __init__(self, account_id: str, missing_fen: int) -> None:
        super().__init__(
            msg(
                f"账户 {account_id} 余额不足，还差 {missing_fen} 分",
                f"insufficient funds in {account_id}: {missing_fen} fen missing",
            ),
            account_id=account_id,
            missing_fen=missing_fen,
        )
        self.missing_fen = missing_fen


class CreditLimitExceeded(BalanceLimitExceeded):
    """Credits would exceed debits by `excess_fen` (e.g. a budget spent beyond its funding)."""

    code = "credit_limit_exceeded"

    def __init__(self, account_id: str, excess_fen: int) -> None:
        super().__init__(
            msg(
                f"账户 {account_id} 的贷方将超过借方 {excess_fen} 分",
                f"credits of {account_id} would exceed its debits by {excess_fen} fen",
            ),
            account_id=account_id,
            excess_fen=excess_fen,
        )
        self.excess_fen = excess_fen


class HoldAlreadyEnded(LedgerError):
    """A post or void of a hold that was already posted, voided or expired."""

    code = "hold_already_ended"

    def __init__(self, pending_id: str, state: str, message: str | None = None) -> None:
        text = message or f"hold {pending_id} has already ended ({state})"
        super().__init__(text, field="pending_id", pending_id=pending_id, state=state)
        self.pending_id = pending_id
        self.state = state


class HoldExpired(HoldAlreadyEnded):
    """The hold's timeout passed before the post or void arrived."""

    code = "hold_expired"

    def __init__(self, pending_id: str) -> None:
        super().__init__(pending_id, "expired", f"hold {pending_id} has expired")


class LedgerInvariantBroken(LedgerError):
    """Stored state that no sequence of valid transfers can produce: a bug, never user input."""

    code = "ledger_invariant_broken"

    def __init__(self, message: str | Msg, subject_id: str) -> None:
        super().__init__(message, subject_id=subject_id)
        self.subject_id = subject_id


class PostExceedsHold(LedgerError):
    """A post asks for more than the hold holds."""

    code = "post_exceeds_hold"


# ---------------------------------------------------------------------------------------------
# Vocabulary


class AccountKind(StrEnum):
    ENTERPRISE_WALLET = "enterprise_wallet"  # prepaid balance of an enterprise
    PROVIDER_RECEIVABLE = "provider_receivable"  # what the platform owes a provider
    PLATFORM_REVENUE = "platform_revenue"  # the platform's fees
    EXTERNAL_CLEARING = "external_clearing"  # money outside the platform (bank, payment gateway)
    # Holds sit here between capture and the split to provider and fee; always nets to zero.
    SETTLEMENT_CLEARING = "settlement_clearing"
    VOUCHER_PROGRAM_BUDGET = "voucher_program_budget"  # an agency program's remaining budget
    VOUCHER_GRANT = "voucher_grant"  # one enterprise's granted, unspent vouchers


class AccountFlags(IntFlag):
    NONE = 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1  # no overdraft: a credit-normal balance stays >= 0
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2  # a debit-normal balance stays >= 0


_BOTH_LIMITS = (
    AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
)

# Every kind but the external account is credit-normal: the platform owes its balance to someone.
DEFAULT_FLAGS: Mapping[AccountKind, AccountFlags] = {
    kind: AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    for kind in AccountKind
    if kind is not AccountKind.EXTERNAL_CLEARING
} | {AccountKind.EXTERNAL_CLEARING: AccountFlags.NONE}


class TransferCode(IntEnum):
    """Why money moved; statements and invoices group by it."""

    TOP_UP = 1
    JOB_HOLD = 10
    JOB_CAPTURE = 11  # post of a job hold: the metered amount
    JOB_RELEASE = 12  # void of a job hold: cancelled before start, or the provider's fault
    PROVIDER_SHARE = 13
    PLATFORM_FEE = 14
    PAYOUT = 20
    REFUND = 30
    HOLD_EXPIRED = 40
    TRANSFER = 50  # generic movement (operator adjustments, tests, benchmarks)
    VOUCHER_FUNDING = 60
    VOUCHER_GRANT = 61
    VOUCHER_REDEMPTION = 62
    VOUCHER_RETURN = 63


# Why money moved, in each language, keyed by the code as the API spells it (`job_capture`):
# the one table the CLI and the monthly statement word transfer codes with, so the two never
# drift apart (the portal words them in its locale files). The API itself keeps the codes.
TRANSFER_CODE_WORDS: Mapping[str, tuple[str, str]] = {
    "top_up": ("充值", "top-up"),
    "job_hold": ("作业冻结", "job hold"),
    "job_capture": ("作业扣款", "job charge"),
    "job_release": ("冻结释放", "hold released"),
    "provider_share": ("作业分成", "job share"),
    "platform_fee": ("平台服务费", "platform fee"),
    "payout": ("结算打款", "payout"),
    "refund": ("退款", "refund"),
    "hold_expired": ("冻结过期", "hold expired"),
    "transfer": ("调整", "adjustment"),
    "voucher_funding": ("算力券拨款", "voucher funding"),
    "voucher_grant": ("算力券发放", "voucher grant"),
    "voucher_redemption": ("算力券兑付", "voucher redemption"),
    "voucher_return": ("算力券退回", "voucher return"),
}


def transfer_code_word(code: str) -> str:
    """A transfer code (`job_capture`) in the reader's language; a code this table lacks (a
    newer server's, or a number no code names) is shown as written rather than hidden."""
    zh, en = TRANSFER_CODE_WORDS.get(code, (code, code))
    return t(zh, en)


class TransferFlags(IntFlag):
    NONE = 0
    PENDING = 1
    POST_PENDING = 2
    VOID_PENDING = 4
    EXPIRE_PENDING = 8  # written only by the expiry sweep, never by a client


ENDING_FLAGS = (
    TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING | TransferFlags.EXPIRE_PENDING
)
_CLIENT_FLAG_CHOICES = frozenset(
    {
        TransferFlags.NONE,
        TransferFlags.PENDING,
        TransferFlags.POST_PENDING,
        TransferFlags.VOID_PENDING,
    }
)


class HoldState(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


def ledger_for_currency(currency: str) -> int:
    """Maps a currency code to its ledger; an unknown currency is a mix-up, not a new ledger."""
    for ledger, code in CURRENCY_BY_LEDGER.items():
        if code == currency.upper():
            return ledger
    held = sorted(CURRENCY_BY_LEDGER.values())
    raise CurrencyMismatch(
        msg(
            f"这里不收 {currency!r} 币种；请用以下之一：{'、'.join(held)}",
            f"currency {currency!r} is not held here; use one of {', '.join(held)}",
        ),
        field="currency",
    )


def account_id_for(ledger: int, kind: AccountKind, owner_id: str = "", reference: str = "") -> str:
    """The account's id, derived from what identifies it, so callers never need a lookup."""
    parts = [CURRENCY_BY_LEDGER[ledger].lower(), kind.value, owner_id, reference]
    account_id = ":".join(part for part in parts if part)
    return require_id(account_id, "account_id")


PLATFORM_OWNER = ""  # platform accounts have no owning organisation


# ---------------------------------------------------------------------------------------------
# Value objects


@dataclass(frozen=True)
class Balance:
    """An account's four running totals, in fen."""

    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    @property
    def credit_balance_fen(self) -> int:
        """Posted balance of a credit-normal account (a wallet: what the owner has)."""
        return self.credits_posted - self.debits_posted

    @property
    def available_fen(self) -> int:
        """What a credit-normal account may still spend: posted minus held."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    def add(self, *, dp: int = 0, dpo: int = 0, cp: int = 0, cpo: int = 0) -> Balance:
        return Balance(
            self.debits_pending + dp,
            self.debits_posted + dpo,
            self.credits_pending + cp,
            self.credits_posted + cpo,
        )

    def minus(self, other: Balance) -> Balance:
        return Balance(
            self.debits_pending - other.debits_pending,
            self.debits_posted - other.debits_posted,
            self.credits_pending - other.credits_pending,
            self.credits_posted - other.credits_posted,
        )

    def totals(self) -> tuple[int, int, int, int]:
        return (self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted)


@dataclass(frozen=True)
class Account:
    id: str
    ledger: int
    kind: AccountKind
    flags: AccountFlags
    balance: Balance = Balance()
    owner_id: str = ""
    reference: str = ""

    def __post_init__(self) -> None:
        both = (
            AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
            | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
        )
        if self.flags & both == both:
            raise InvalidTransfer(
                msg("账户不能同时带两种余额限制标志", "an account cannot carry both limit flags"),
                field="flags",
            )
        if self.ledger not in CURRENCY_BY_LEDGER:
            raise CurrencyMismatch(
                msg(f"未知账本 {self.ledger}", f"unknown ledger {self.ledger}"), field="ledger"
            )


@dataclass(frozen=True)
class TransferRequest:
    """What a client asks for. `id` is the client's idempotency id.

    A post or void names `pending_id`; its accounts may be omitted (taken from the hold). A void's
    amount may be 0 (the whole hold); a post's amount is what to capture, the rest is released.
    """

    id: str
    amount_fen: int
    code: TransferCode
    debit_account_id: str | None = None
    credit_account_id: str | None = None
    ledger: int = LEDGER_CNY
    flags: TransferFlags = TransferFlags.NONE
    pending_id: str | None = None
    timeout_s: int = 0  # holds only; 0 = never expires
    reference: str = ""  # external reference, job id, original transfer id
    memo: str = ""

    @property
    def ends_hold(self) -> bool:
        return bool(self.flags & ENDING_FLAGS)

    def matches(self, stored: Transfer) -> bool:
        """True when `stored` is what this request wrote first (a replay, invariant 4)."""
        same = (
            self.id == stored.id
            and self.code == stored.code
            and self.ledger == stored.ledger
            and self.flags == stored.flags
            and self.pending_id == stored.pending_id
            and self.timeout_s == stored.timeout_s
            and self.reference == stored.reference
            and self.memo == stored.memo
        )
        # A void may leave its amount (and any ending its accounts) to the hold.
        amount_ok = self.amount_fen == stored.amount_fen or (
            self.flags & TransferFlags.VOID_PENDING and self.amount_fen == 0
        )
        debit_ok = self.debit_account_id in (None, stored.debit_account_id)
        credit_ok = self.credit_account_id in (None, stored.credit_account_id)
        return bool(same and amount_ok and debit_ok and credit_ok)


@dataclass(frozen=True)
class Transfer:
    """A written transfer: immutable (invariant 3); corrections are new reversing transfers."""

    id: str
    ledger: int
    code: int
    debit_account_id: str
    credit_account_id: str
    amount_fen: int
    flags: TransferFlags
    pending_id: str | None
    timeout_s: int
    reference: str
    memo: str
    timestamp: datetime


@dataclass(frozen=True)
class Hold:
    """A pending transfer's state: it ends exactly once (invariant 5)."""

    id: str
    ledger: int
    code: int
    debit_account_id: str
    credit_account_id: str
    amount_fen: int
    expires_at: datetime | None
    state: HoldState = HoldState.PENDING
    posted_fen: int = 0
    ended_by: str | None = None
    ended_at: datetime | None = None

    def expired_at(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True)
class BatchPlan:
    """Exactly what one batch writes: transfers, balance deltas, new and ended holds."""

    transfers: list[Transfer]
    deltas: dict[str, Balance]  # account id -> change to add to its totals
    balances: dict[str, Balance]  # account id -> totals after the batch (for checks)
    holds_created: list[Hold]
    holds_ended: list[Hold]


# ---------------------------------------------------------------------------------------------
# Validation helpers


def require_amount(
    amount_fen: object, *, field: str = "amount_fen", allow_zero: bool = False
) -> int:
    """Returns a valid transfer amount or raises InvalidAmount / AmountOverflow."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise InvalidAmount(
            msg(f"`{field}` 须为整数（单位：分）", f"{field} must be an integer number of fen"),
            field=field,
        )
    if amount_fen < 0 or (amount_fen == 0 and not allow_zero):
        raise InvalidAmount(
            msg(
                f"`{field}` 须{'不小于 0' if allow_zero else '大于 0'} 分",
                f"{field} must be {'>= 0' if allow_zero else '> 0'} fen",
            ),
            field=field,
        )
    if amount_fen > TRANSFER_FEN_MAX:
        raise AmountOverflow(
            msg(f"`{field}` 超过 {TRANSFER_FEN_MAX} 分", f"{field} exceeds {TRANSFER_FEN_MAX} fen"),
            field=field,
        )
    return amount_fen


def require_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > ID_LENGTH_MAX:
        raise InvalidTransfer(
            msg(
                f"`{field}` 须为 1..{ID_LENGTH_MAX} 个字符",
                f"{field} must be 1..{ID_LENGTH_MAX} characters",
            ),
            field=field,
        )
    return value


def _require_request_shape(request: TransferRequest) -> None:
    require_id(request.id, "id")
    if request.flags not in _CLIENT_FLAG_CHOICES:
        raise InvalidTransfer(
            msg(
                "`flags` 须为以下之一：`none`、`pending`、`post_pending`、`void_pending`",
                "flags must be one of: none, pending, post_pending, void_pending",
            ),
            field="flags",
        )
    if not isinstance(request.timeout_s, int) or not 0 <= request.timeout_s <= TIMEOUT_S_MAX:
        raise InvalidTransfer(
            msg(
                f"`timeout_s` 须在 0 至 {TIMEOUT_S_MAX} 之间",
                f"timeout_s must be in [0, {TIMEOUT_S_MAX}]",
            ),
            field="timeout_s",
        )
    if request.timeout_s and not request.flags & TransferFlags.PENDING:
        raise InvalidTransfer(
            msg("只有冻结（`pending`）转账才有超时", "only a pending transfer has a timeout"),
            field="timeout_s",
        )
    if len(request.reference) > TEXT_LENGTH_MAX or len(request.memo) > TEXT_LENGTH_MAX:
        raise InvalidTransfer(
            msg(
                f"`reference` 和 `memo` 最多 {TEXT_LENGTH_MAX} 个字符",
                f"reference and memo are at most {TEXT_LENGTH_MAX} characters",
            )
        )
    if request.ledger not in CURRENCY_BY_LEDGER:
        raise CurrencyMismatch(
            msg(f"未知账本 {request.ledger}", f"unknown ledger {request.ledger}"), field="ledger"
        )
    if request.ends_hold:
        require_id(request.pending_id, "pending_id")
        require_amount(request.amount_fen, allow_zero=request.flags is TransferFlags.VOID_PENDING)
        return
    if request.pending_id is not None:
        raise InvalidTransfer(
            msg(
                "只有入账或撤销冻结时才能给 `pending_id`",
                "only a post or a void names a pending_id",
            ),
            field="pending_id",
        )
    require_amount(request.amount_fen)
    require_id(request.debit_account_id, "debit_account_id")
    require_id(request.credit_account_id, "credit_account_id")
    if request.debit_account_id == request.credit_account_id:
        raise InvalidTransfer(
            msg("借方账户和贷方账户不能相同", "debit and credit accounts must differ"),
            field="credit_account_id",
        )


def require_batch_shape(requests: Sequence[TransferRequest]) -> None:
    """A batch holds 1..BATCH_SIZE_MAX well-formed requests with distinct ids."""
    if not 1 <= len(requests) <= BATCH_SIZE_MAX:
        raise InvalidTransfer(
            msg(
                f"一批须含 1..{BATCH_SIZE_MAX} 笔转账",
                f"a batch holds 1..{BATCH_SIZE_MAX} transfers",
            ),
            field="transfers",
        )
    if len({request.id for request in requests}) != len(requests):
        raise InvalidTransfer(
            msg("同一批内的转账编号不能重复", "transfer ids within a batch must be distinct"),
            field="id",
        )
    for request in requests:
        _require_request_shape(request)


def accounts_named(requests: Iterable[TransferRequest], holds: Iterable[Hold]) -> set[str]:
    """Every account a batch touches: named by its requests or by the holds it ends."""
    named = {
        account_id
        for request in requests
        for account_id in (request.debit_account_id, request.credit_account_id)
        if account_id is not None
    }
    for hold in holds:
        named.update((hold.debit_account_id, hold.credit_account_id))
    return named


def check_limits(account: Account, balance: Balance) -> None:
    """Raises when `balance` breaks a flag of `account` or a total passes its maximum."""
    if min(balance.totals()) < 0:
        raise LedgerInvariantBroken(
            msg(f"账户 {account.id} 的余额将为负数", f"a total of {account.id} would go negative"),
            account.id,
        )
    if max(balance.totals()) > BALANCE_FEN_MAX:
        raise AmountOverflow(
            msg(
                f"账户 {account.id} 的余额将超过 {BALANCE_FEN_MAX} 分",
                f"a total of {account.id} would exceed {BALANCE_FEN_MAX} fen",
            )
        )
    if account.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS:
        missing = balance.debits_pending + balance.debits_posted - balance.credits_posted
        if missing > 0:
            raise InsufficientFunds(account.id, missing)
    if account.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS:
        excess = balance.credits_pending + balance.credits_posted - balance.debits_posted
        if excess > 0:
            raise CreditLimitExceeded(account.id, excess)


# ---------------------------------------------------------------------------------------------
# Planning a batch


class _Planner:
    """Applies a batch's requests in order to working copies of balances and holds."""

    def __init__(
        self, accounts: Mapping[str, Account], holds: Mapping[str, Hold], now: datetime
    ) -> None:
        self.accounts = accounts
        self.before = {account_id: account.balance for account_id, account in accounts.items()}
        self.balances = dict(self.before)
        self.holds = dict(holds)
        self.now = now
        self.transfers: list[Transfer] = []
        self.created: dict[str, Hold] = {}
        self.ended: dict[str, Hold] = {}

    def account(self, account_id: str, ledger: int) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            raise UnknownAccount(account_id)
        if account.ledger != ledger:
            raise CurrencyMismatch(
                msg(
                    f"账户 {account_id} 属于账本 {account.ledger}，而转账属于账本 {ledger}",
                    f"account {account_id} is on ledger {account.ledger}, the transfer on {ledger}",
                ),
                field="ledger",
                account_id=account_id,
            )
        return account

    def move(self, account: Account, **delta: int) -> None:
        balance = self.balances[account.id].add(**delta)
        check_limits(account, balance)
        self.balances[account.id] = balance

    def apply(self, request: TransferRequest) -> None:
        if request.ends_hold:
            self._end_hold(request)
        else:
            self._open(request)

    def _open(self, request: TransferRequest) -> None:
        debit = self.account(_named(request.debit_account_id, "debit_account_id"), request.ledger)
        credit = self.account(
            _named(request.credit_account_id, "credit_account_id"), request.ledger
        )
        amount = request.amount_fen
        if request.flags & TransferFlags.PENDING:
            self.move(debit, dp=amount)
            self.move(credit, cp=amount)
            self._create_hold(request)
        else:
            self.move(debit, dpo=amount)
            self.move(credit, cpo=amount)
        self._record(request, debit.id, credit.id, amount)

    def _create_hold(self, request: TransferRequest) -> None:
        hold = new_hold(request, self.now)
        self.holds[hold.id] = hold
        self.created[hold.id] = hold

    def _end_hold(self, request: TransferRequest) -> None:
        hold = self._live_hold(request)
        debit = self.account(hold.debit_account_id, request.ledger)
        credit = self.account(hold.credit_account_id, request.ledger)
        posted = _ending_amount(request, hold)
        self.move(debit, dp=-hold.amount_fen, dpo=posted)
        self.move(credit, cp=-hold.amount_fen, cpo=posted)
        state = _ending_state(request.flags)
        ended = replace(
            hold, state=state, posted_fen=posted, ended_by=request.id, ended_at=self.now
        )
        self.holds[hold.id] = ended
        if hold.id in self.created:
            self.created[hold.id] = ended
        else:
            self.ended[hold.id] = ended
        amount = posted if state is HoldState.POSTED else hold.amount_fen
        self._record(request, debit.id, credit.id, amount)

    def _live_hold(self, request: TransferRequest) -> Hold:
        pending_id = _named(request.pending_id, "pending_id")
        hold = self.holds.get(pending_id)
        if hold is None:
            raise UnknownHold(pending_id)
        if hold.state is not HoldState.PENDING:
            raise HoldAlreadyEnded(hold.id, hold.state.value)
        if hold.ledger != request.ledger:
            raise CurrencyMismatch(
                msg(
                    f"冻结 {hold.id} 属于账本 {hold.ledger}",
                    f"hold {hold.id} is on ledger {hold.ledger}",
                ),
                field="ledger",
            )
        if request.flags & TransferFlags.EXPIRE_PENDING:
            return hold
        if hold.expired_at(self.now):
            raise HoldExpired(hold.id)
        for given, held, field in (
            (request.debit_account_id, hold.debit_account_id, "debit_account_id"),
            (request.credit_account_id, hold.credit_account_id, "credit_account_id"),
        ):
            if given is not None and given != held:
                raise InvalidTransfer(
                    msg(f"`{field}` 与冻结时的不同", f"{field} differs from the hold's"),
                    field=field,
                )
        return hold

    def _record(self, request: TransferRequest, debit_id: str, credit_id: str, amount: int) -> None:
        self.transfers.append(written(request, debit_id, credit_id, amount, self.now))

    def plan(self) -> BatchPlan:
        deltas = {
            account_id: balance.minus(self.before[account_id])
            for account_id, balance in self.balances.items()
            if balance != self.before[account_id]
        }
        return BatchPlan(
            transfers=self.transfers,
            deltas=deltas,
            balances={account_id: self.balances[account_id] for account_id in deltas},
            holds_created=list(self.created.values()),
            holds_ended=list(self.ended.values()),
        )


def written(
    request: TransferRequest, debit_id: str, credit_id: str, amount_fen: int, now: datetime
) -> Transfer:
    """The transfer a request writes, once its accounts and amount are resolved."""
    return Transfer(
        id=request.id,
        ledger=request.ledger,
        code=int(request.code),
        debit_account_id=debit_id,
        credit_account_id=credit_id,
        amount_fen=amount_fen,
        flags=request.flags,
        pending_id=request.pending_id,
        timeout_s=request.timeout_s,
        reference=request.reference,
        memo=request.memo,
        timestamp=now,
    )


def written_alone(request: TransferRequest, now: datetime) -> Transfer:
    """What a plain or pending request writes: itself, as asked."""
    debit_id = _named(request.debit_account_id, "debit_account_id")
    credit_id = _named(request.credit_account_id, "credit_account_id")
    return written(request, debit_id, credit_id, request.amount_fen, now)


def new_hold(request: TransferRequest, now: datetime) -> Hold:
    """The hold a pending request opens; it expires `timeout_s` after `now` (0: never)."""
    expires_at = now + timedelta(seconds=request.timeout_s) if request.timeout_s else None
    return Hold(
        id=request.id,
        ledger=request.ledger,
        code=int(request.code),
        debit_account_id=_named(request.debit_account_id, "debit_account_id"),
        credit_account_id=_named(request.credit_account_id, "credit_account_id"),
        amount_fen=request.amount_fen,
        expires_at=expires_at,
    )


def alone_deltas(request: TransferRequest) -> tuple[Balance, Balance]:
    """The (debit, credit) change of a plain or pending request: it depends on nothing else."""
    amount = request.amount_fen
    if request.flags & TransferFlags.PENDING:
        return Balance(debits_pending=amount), Balance(credits_pending=amount)
    return Balance(debits_posted=amount), Balance(credits_posted=amount)


def _named(value: str | None, field: str) -> str:
    """Narrows an id that shape validation already required; raises rather than asserts."""
    if value is None:
        raise InvalidTransfer(msg(f"缺少 `{field}`", f"{field} is required"), field=field)
    return value


def _ending_amount(request: TransferRequest, hold: Hold) -> int:
    """What an ending posts: the requested amount for a post, nothing for a void or expiry."""
    if not request.flags & TransferFlags.POST_PENDING:
        if request.amount_fen not in (0, hold.amount_fen):
            raise InvalidAmount(
                msg("撤销冻结的金额须为 0 或冻结金额", "a void's amount is 0 or the hold's amount"),
                field="amount_fen",
            )
        return 0
    if request.amount_fen > hold.amount_fen:
        raise PostExceedsHold(
            msg(
                f"入账 {request.amount_fen} 分，超过冻结 {hold.id} 的 {hold.amount_fen} 分",
                f"post of {request.amount_fen} fen exceeds hold {hold.id} of {hold.amount_fen} fen",
            ),
            field="amount_fen",
            pending_id=hold.id,
            hold_fen=hold.amount_fen,
        )
    return request.amount_fen


def _ending_state(flags: TransferFlags) -> HoldState:
    if flags & TransferFlags.POST_PENDING:
        return HoldState.POSTED
    if flags & TransferFlags.VOID_PENDING:
        return HoldState.VOIDED
    return HoldState.EXPIRED


def plan_batch(
    requests: Sequence[TransferRequest],
    accounts: Mapping[str, Account],
    holds: Mapping[str, Hold],
    now: datetime,
) -> BatchPlan:
    """Applies a linked batch in order; raises on the first broken rule, planning nothing.

    `accounts` and `holds` must include every account and hold the batch names, as read under
    the batch's locks. Later requests see earlier ones (a hold may be opened and posted at once).
    """
    require_batch_shape(requests)
    planner = _Planner(accounts, holds, now)
    for request in requests:
        planner.apply(request)
    return planner.plan()


def expiry_request(hold: Hold) -> TransferRequest:
    """The transfer that expires `hold`; its id is derived so a repeated sweep is a replay."""
    return TransferRequest(
        id=f"expire:{hold.id}"[:ID_LENGTH_MAX],
        amount_fen=hold.amount_fen,
        code=TransferCode.HOLD_EXPIRED,
        ledger=hold.ledger,
        flags=TransferFlags.EXPIRE_PENDING,
        pending_id=hold.id,
    )


def plan_expiry(holds: Sequence[Hold], accounts: Mapping[str, Account], now: datetime) -> BatchPlan:
    """Expires the given pending holds whose timeout has passed (the sweep's batch)."""
    due = [hold for hold in holds if hold.state is HoldState.PENDING and hold.expired_at(now)]
    if not due or len(due) > BATCH_SIZE_MAX:
        raise InvalidTransfer(
            msg(
                f"一批到期处理须含 1..{BATCH_SIZE_MAX} 笔到期冻结",
                f"an expiry batch holds 1..{BATCH_SIZE_MAX} due holds",
            )
        )
    planner = _Planner(accounts, {hold.id: hold for hold in due}, now)
    for hold in due:
        planner.apply(expiry_request(hold))
    return planner.plan()


# ---------------------------------------------------------------------------------------------
# Idempotency


def resolve_replay(
    requests: Sequence[TransferRequest], stored: Mapping[str, Transfer]
) -> list[Transfer] | None:
    """None when no request was written before; the first results when all were, identically.

    Batches are atomic, so a batch seen in part, or with other content, is a different request
    reusing ids: a conflict (invariant 4).
    """
    if not stored:
        return None
    for request in requests:
        first = stored.get(request.id)
        if first is None or not request.matches(first):
            raise IdempotencyConflict(
                msg(
                    f"转账编号 {request.id!r} 已用于内容不同的转账",
                    f"transfer id {request.id!r} was used before with different content",
                ),
                field="id",
                transfer_id=request.id,
            )
    return [stored[request.id] for request in requests]


# ---------------------------------------------------------------------------------------------
# Rebuilding balances from transfers (invariant 7)


def transfer_effect(transfer: Transfer, hold: Hold | None) -> tuple[Balance, Balance]:
    """The (debit side, credit side) a transfer leaves on the totals, given its hold's state.

    A pending transfer counts as pending only while its hold is pending; an ending transfer
    counts its posted amount (a void or an expiry posts nothing).
    """
    amount = transfer.amount_fen
    if transfer.flags & TransferFlags.PENDING:
        if hold is None or hold.state is HoldState.PENDING:
            return Balance(debits_pending=amount), Balance(credits_pending=amount)
        return Balance(), Balance()
    if transfer.flags & (TransferFlags.VOID_PENDING | TransferFlags.EXPIRE_PENDING):
        return Balance(), Balance()
    return Balance(debits_posted=amount), Balance(credits_posted=amount)


def rebuild_balances(
    transfers: Iterable[Transfer], holds: Mapping[str, Hold]
) -> dict[str, Balance]:
    """Every account's totals, computed from the transfers and hold states alone."""
    totals: dict[str, Balance] = {}
    for transfer in transfers:
        debit, credit = transfer_effect(transfer, holds.get(transfer.id))
        for account_id, change in (
            (transfer.debit_account_id, debit),
            (transfer.credit_account_id, credit),
        ):
            base = totals.get(account_id, Balance())
            totals[account_id] = base.add(
                dp=change.debits_pending,
                dpo=change.debits_posted,
                cp=change.credits_pending,
                cpo=change.credits_posted,
            )
    return totals


@dataclass(frozen=True)
class Violation:
    """One broken invariant, naming the account (or hold) it was found on."""

    subject_id: str
    rule: str
    detail: str


def account_violations(account: Account, rebuilt: Balance) -> list[Violation]:
    """Compares stored totals with the rebuilt ones and checks the limit flags."""
    found: list[Violation] = []
    if account.balance != rebuilt:
        found.append(
            Violation(
                account.id,
                "balance_matches_transfers",
                f"stored {account.balance.totals()} but transfers give {rebuilt.totals()}",
            )
        )
    try:
        check_limits(account, account.balance)
    except LedgerError as error:
        found.append(Violation(account.id, "within_limits", error.message))
    return found


def ledger_totals_violations(balances: Mapping[int, Balance]) -> list[Violation]:
    """Per ledger, the sums of debits and credits agree, pending and posted alike (invariant 2)."""
    found: list[Violation] = []
    for ledger, total in balances.items():
        if total.debits_pending != total.credits_pending:
            found.append(Violation(f"ledger:{ledger}", "pending_debits_equal_credits", str(total)))
        if total.debits_posted != total.credits_posted:
            found.append(Violation(f"ledger:{ledger}", "posted_debits_equal_credits", str(total)))
    return found
