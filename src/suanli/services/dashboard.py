"""The city dashboard (城市大屏): the market's numbers in one read, each from an aggregate query.

Every figure equals what the detailed APIs report (`tests/e2e/test_dashboard.py` compares
them): cards as the catalogue lists them, jobs as the jobs list counts them, GMV as the
settlement clearing account has paid out, vouchers paid as the programs' reports total, and
the scenes pipeline as its statistics. Figures are aggregates only: no organisation's name.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.orm import Session

from suanli.adapters.db.tables import JobRow, PoolRow, UsageRow
from suanli.adapters.db.tables_ledger import LedgerAccountRow, LedgerTransferRow
from suanli.adapters.db.tables_scenes import (
    SceneCapabilityRow,
    SceneOpportunityRow,
    ScenePairRow,
)
from suanli.domain.accelerators import get_accelerator
from suanli.domain.jobs import JobState
from suanli.domain.ledger import AccountKind, TransferCode
from suanli.domain.scenes import PipelineStage
from suanli.errors import InvalidInput
from suanli.i18n import msg
from suanli.services import ledger

BASIS_POINTS = 10_000
UTILISATION_BUCKETS = 24
# The series is read as of the last whole minute (SUANLI_DASHBOARD_UTILISATION_STEP_S): its
# partial last bucket then moves once a minute, not on every 5 s refresh, so a wall screen
# redraws that chart only when a minute has passed (a city's utilisation needs no finer grain).
UTILISATION_STEP_S = 60
WINDOW_HOURS_DEFAULT = 24
WINDOW_HOURS_MAX = 24 * 7
ACTIVE_JOBS_READ_MAX = 200_000  # placed or running jobs read for busy cards (each holds a card)
ACTIVE_STATES = (JobState.PLACED.value, JobState.RUNNING.value)


@dataclass(frozen=True)
class VendorCards:
    vendor: str
    domestic: bool
    pools: int
    cards: int
    busy_cards: int


@dataclass(frozen=True)
class UtilisationBucket:
    start: datetime
    end: datetime
    used_card_seconds: int
    capacity_card_seconds: int

    @property
    def utilisation_bp(self) -> int:
        if self.capacity_card_seconds <= 0:
            return 0
        return self.used_card_seconds * BASIS_POINTS // self.capacity_card_seconds


@dataclass(frozen=True)
class Dashboard:
    at: datetime
    vendors: list[VendorCards]
    utilisation: list[UtilisationBucket]
    jobs_by_state: dict[str, int]
    gmv_fen: int
    vouchers_paid_fen: int
    pipeline: dict[str, int]
    opportunities: int
    capabilities: int

    @property
    def cards(self) -> int:
        return sum(vendor.cards for vendor in self.vendors)

    @property
    def domestic_cards(self) -> int:
        return sum(vendor.cards for vendor in self.vendors if vendor.domestic)

    @property
    def domestic_share_bp(self) -> int:
        # rounded half up, as the portal's chart rounds it (truncated, 16 of 1,090 read 1.46 %
        # beside the chart's 1.47 %)
        if not self.cards:
            return 0
        return (2 * self.domestic_cards * BASIS_POINTS + self.cards) // (2 * self.cards)

    @property
    def busy_cards(self) -> int:
        return sum(vendor.busy_cards for vendor in self.vendors)


def window_hours(value: int) -> int:
    if not 1 <= value <= WINDOW_HOURS_MAX:
        raise InvalidInput(
            msg(
                f"`hours` 须在 1 至 {WINDOW_HOURS_MAX} 之间",
                f"hours must be in [1, {WINDOW_HOURS_MAX}]",
            ),
            field="hours",
        )
    return value


def dashboard(
    session: Session,
    now: datetime,
    hours: int = WINDOW_HOURS_DEFAULT,
    step_s: int = UTILISATION_STEP_S,
) -> Dashboard:
    """Reads every figure in the caller's one transaction (one snapshot on PostgreSQL's
    REPEATABLE READ; on the default READ COMMITTED, figures are each current when read)."""
    hours = window_hours(hours)
    vendors = vendor_cards(session)
    capacity = sum(vendor.cards for vendor in vendors)
    return Dashboard(
        at=now,
        vendors=vendors,
        utilisation=utilisation(session, utilisation_as_of(now, step_s), hours, capacity),
        jobs_by_state=jobs_by_state(session),
        gmv_fen=gmv_fen(session),
        vouchers_paid_fen=vouchers_paid_fen(session),
        pipeline=pipeline_stages(session),
        opportunities=_live_items(session, SceneOpportunityRow),
        capabilities=_live_items(session, SceneCapabilityRow),
    )


# ---------------------------------------------------------------- cards


def vendor_cards(session: Session) -> list[VendorCards]:
    """Live pools' cards per vendor (as the catalogue lists them) and the cards held now by
    placed or running jobs (as the catalogue's free cards subtract them)."""
    listed = select(
        PoolRow.accelerator_model,
        func.count(),
        func.coalesce(func.sum(PoolRow.nodes * PoolRow.cards_per_node), 0),
    ).where(PoolRow.deleted.is_(False))
    totals: dict[str, list[int]] = {}
    domestic: dict[str, bool] = {}
    for model, pools, cards in session.execute(listed.group_by(PoolRow.accelerator_model)):
        accelerator = get_accelerator(model)
        domestic[accelerator.vendor] = accelerator.domestic
        entry = totals.setdefault(accelerator.vendor, [0, 0, 0])
        entry[0] += int(pools)
        entry[1] += int(cards)
    for vendor, cards in _busy_cards_by_vendor(session).items():
        if vendor in totals:
            totals[vendor][2] += cards
    items = [
        VendorCards(vendor, domestic[vendor], pools, cards, busy)
        for vendor, (pools, cards, busy) in totals.items()
    ]
    return sorted(items, key=lambda item: (-item.cards, item.vendor))


def _busy_cards_by_vendor(session: Session) -> dict[str, int]:
    held = (
        select(PoolRow.accelerator_model, JobRow.node_cards)
        .join(PoolRow, PoolRow.id == JobRow.pool_id)
        .where(JobRow.state.in_(ACTIVE_STATES), PoolRow.deleted.is_(False))
        .limit(ACTIVE_JOBS_READ_MAX)
    )
    busy: dict[str, int] = {}
    for model, node_cards in session.execute(held):
        vendor = get_accelerator(model).vendor
        busy[vendor] = busy.get(vendor, 0) + sum(int(cards) for _, cards in node_cards or [])
    return busy


# ---------------------------------------------------------------- utilisation


def utilisation(
    session: Session, now: datetime, hours: int, capacity_cards: int
) -> list[UtilisationBucket]:
    """Card-seconds used per bucket of the window (finished runs from their usage lines,
    running jobs up to now) over the cards listed now. Buckets align to whole multiples of
    their length, so a refreshing screen shows the same buckets; the last one is partial, up
    to `now` (the dashboard passes `utilisation_as_of(now)`)."""
    bucket_s = hours * 3600 // UTILISATION_BUCKETS
    now_s = now.timestamp()
    end_s = math.ceil(now_s / bucket_s) * bucket_s
    starts = [end_s - bucket_s * (UTILISATION_BUCKETS - i) for i in range(UTILISATION_BUCKETS)]
    used = _finished_card_seconds(session, starts, bucket_s, now_s)
    for started_s, cards in _running_runs(session):
        for i, start in enumerate(starts):
            used[i] += cards * _overlap(started_s, now_s, start, min(start + bucket_s, now_s))
    return [
        UtilisationBucket(
            start=_instant(start),
            end=_instant(start + bucket_s),
            used_card_seconds=int(used[i]),
            capacity_card_seconds=int(capacity_cards * max(0.0, min(bucket_s, now_s - start))),
        )
        for i, start in enumerate(starts)
    ]


def utilisation_as_of(now: datetime, step_s: int = UTILISATION_STEP_S) -> datetime:
    """The instant the series is read to: `now` rounded down to a whole multiple of `step_s`."""
    epoch_s = now.timestamp()
    return _instant(epoch_s - epoch_s % step_s)


def _instant(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def _overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


def _finished_card_seconds(
    session: Session, starts: list[int], bucket_s: int, now_s: float
) -> list[float]:
    """One scan of the usage lines that end inside the window, one SUM per bucket."""
    dialect = session.get_bind().dialect.name
    started = _epoch(dialect, UsageRow.started_at)
    ended = _epoch(dialect, UsageRow.ended_at)
    sums = [
        func.coalesce(
            func.sum(
                UsageRow.cards * _sql_overlap(dialect, started, ended, s, min(bucket_s, now_s - s))
            ),
            0,
        )
        for s in starts
    ]
    window_start = _instant(starts[0])
    query = select(*sums).where(
        UsageRow.ended_at > window_start, UsageRow.started_at < _instant(now_s)
    )
    row = session.execute(query).one()
    return [float(value) for value in row]


def _epoch(dialect: str, column: Any) -> ColumnElement[Any]:
    """Seconds since 1970 of a stored naive-UTC timestamp, on either engine."""
    if dialect == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0


def _sql_overlap(
    dialect: str,
    started: ColumnElement[Any],
    ended: ColumnElement[Any],
    start: int,
    length: float,
) -> ColumnElement[Any]:
    greatest, least = (
        (func.greatest, func.least) if dialect == "postgresql" else (func.max, func.min)
    )
    low, high = literal(float(start)), literal(float(start + length))
    return greatest(literal(0.0), least(ended, high) - greatest(started, low))


def _running_runs(session: Session) -> list[tuple[float, int]]:
    """Running jobs' start (epoch seconds) and cards: their usage line comes when they end."""
    query = (
        select(JobRow.started_at, JobRow.node_cards)
        .where(JobRow.state == JobState.RUNNING.value, JobRow.started_at.is_not(None))
        .limit(ACTIVE_JOBS_READ_MAX)
    )
    return [
        (started.timestamp(), sum(int(cards) for _, cards in node_cards or []))
        for started, node_cards in session.execute(query)
    ]


# ---------------------------------------------------------------- jobs, money, scenes


def jobs_by_state(session: Session) -> dict[str, int]:
    """Every state listed, zeros included, as `GET /v1/jobs?state=` totals them."""
    counts = dict(session.execute(select(JobRow.state, func.count()).group_by(JobRow.state)).all())
    return {state.value: int(counts.get(state.value, 0)) for state in JobState}


def gmv_fen(session: Session) -> int:
    """Gross settled charges: what the settlement clearing account has paid out to providers'
    receivables and the platform's fee (its posted debits). Refunds are not deducted."""
    clearing = session.get(LedgerAccountRow, ledger.CLEARING_ACCOUNT_ID)
    return int(clearing.debits_posted) if clearing is not None else 0


def vouchers_paid_fen(session: Session) -> int:
    """The sum of every program's report total `paid_fen`: funded less what remains in the
    budgets and in the grants (services/vouchers.py `program_totals`)."""
    funded = session.scalar(
        select(func.coalesce(func.sum(LedgerTransferRow.amount_fen), 0)).where(
            LedgerTransferRow.debit_account_id == ledger.EXTERNAL_ACCOUNT_ID,
            LedgerTransferRow.code == int(TransferCode.VOUCHER_FUNDING),
        )
    )
    held = session.scalar(
        select(
            func.coalesce(
                func.sum(LedgerAccountRow.credits_posted - LedgerAccountRow.debits_posted), 0
            )
        ).where(
            LedgerAccountRow.kind.in_(
                (AccountKind.VOUCHER_PROGRAM_BUDGET.value, AccountKind.VOUCHER_GRANT.value)
            )
        )
    )
    budgets = select(LedgerAccountRow.id).where(
        LedgerAccountRow.kind == AccountKind.VOUCHER_PROGRAM_BUDGET.value
    )
    clawed_back = session.scalar(  # refunded fundings: funded is net of them, as in the reports
        select(func.coalesce(func.sum(LedgerTransferRow.amount_fen), 0)).where(
            LedgerTransferRow.credit_account_id == ledger.EXTERNAL_ACCOUNT_ID,
            LedgerTransferRow.debit_account_id.in_(budgets),
        )
    )
    return int(funded or 0) - int(clawed_back or 0) - int(held or 0)


def pipeline_stages(session: Session) -> dict[str, int]:
    query = select(ScenePairRow.stage, func.count()).group_by(ScenePairRow.stage)
    counts = dict(session.execute(query).all())
    return {stage.value: int(counts.get(stage.value, 0)) for stage in PipelineStage}


def _live_items(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).where(model.deleted.is_(False))) or 0)


# ---------------------------------------------------------------- a short-lived cache


class DashboardCache:
    """Keeps each window's dashboard for `ttl_s`, so a wall of screens refreshing every few
    seconds (and anyone on the public page) costs the database one read per window per ttl."""

    def __init__(self, ttl_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._kept: dict[int, tuple[float, Dashboard]] = {}

    def get(self, hours: int, build: Callable[[], Dashboard]) -> Dashboard:
        now = self._monotonic()
        with self._lock:
            kept = self._kept.get(hours)
        if kept is not None and now - kept[0] < self._ttl_s:
            return kept[1]
        fresh = build()
        with self._lock:
            self._kept[hours] = (now, fresh)
        return fresh
