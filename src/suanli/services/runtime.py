"""The live scheduling loop: sync running jobs with their backends, then place the queue.

It calls the same domain policy the simulator replays (`get_policy(...).place`), which picks
the node and card within a pool with the packing policy `SUANLI_PACKING_POLICY` names,
measuring fragmentation against the recent requests this loop keeps (`Runtime.requests`).
Each step is a short unit of work, so the API keeps serving while the loop runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suanli.adapters.backends.base import (
    BACKEND_TERMINAL,
    BackendState,
    JobStatus,
    LaunchRequest,
    Usage,
)
from suanli.adapters.backends.registry import BackendRegistry
from suanli.adapters.db.database import Database
from suanli.adapters.db.ledger_repo import transact
from suanli.adapters.db.tables import JobRow, PoolRow, UsageRow
from suanli.config import Settings
from suanli.domain.jobs import CARD_MILLI_WHOLE, JobState, stored_milli_cards, transition
from suanli.domain.money import price_milli_card_seconds
from suanli.domain.scheduling.fairness import USAGE_HALF_LIFE_S, decayed_usage_from_lines
from suanli.domain.scheduling.feasibility import explain_unplaceable, feasible_pools
from suanli.domain.scheduling.host import NO_ASK
from suanli.domain.scheduling.model import (
    CardShare,
    ClusterState,
    Placement,
    PoolView,
    QueuedJob,
    RunningJob,
)
from suanli.domain.scheduling.performance import PerformanceModel
from suanli.domain.scheduling.policies import PRIORITY_ORDER, PolicyOptions, Round, get_policy
from suanli.domain.scheduling.request_window import RequestWindow
from suanli.domain.scheduling.window import QUEUE_READ_MAX, round_window
from suanli.errors import (
    BackendError,
    BackendUnavailable,
    InvalidInput,
    SuanliError,
    Unplaceable,
    because,
    cause_of,
)
from suanli.i18n import Msg, msg, stored
from suanli.services import connections, ledger, orphans, settlement, vouchers
from suanli.services.common import Clock, Principal
from suanli.services.jobs import spec_from_dict
from suanli.services.leadership import Leadership, NotLeader
from suanli.services.pools import pool_views

log = logging.getLogger(__name__)
ACTIVE_STATES = (JobState.PLACED.value, JobState.RUNNING.value)
USAGE_WINDOW_S = 4 * USAGE_HALF_LIFE_S  # older runs weigh under 1/16: ignored
USAGE_LINES_MAX = 100_000  # jobs considered per tick; the rest wait for the next one
SUBMIT_ATTEMPTS_MAX = 3
REASON_CHARS_MAX = 1_000
_ENDED_BEFORE_CANCEL = msg(
    "已请求取消，但作业在停止前已自行结束", "cancel requested, but the job ended on its own first"
)
_PRICE_ABOVE_HOLD = msg(
    "资源池价格在提交后上调，冻结金额已不足以支付最长运行时间；请重新报价并提交",
    "the pool's price rose after submission and the hold no longer covers the maximum run "
    "time; quote and submit again",
)
# How often tick() checks every cluster connection's health and capacity (by the injected clock).
CONNECTION_POLL_INTERVAL_S = 5.0
# How often tick() expires ledger holds past their timeout and the grants of ended voucher
# programs; both are also available on demand (API and CLI).
HOUSEKEEPING_INTERVAL_S = 60.0
# The loop acts for the platform itself; the audit log names it so.
RUNTIME_PRINCIPAL = Principal(user_id="system:runtime", org_id="system", org_kind="operator")


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    backends: BackendRegistry
    connection_poll_interval_s: float = CONNECTION_POLL_INTERVAL_S
    housekeeping_interval_s: float = HOUSEKEEPING_INTERVAL_S
    # Set when several servers share the database: only the lease holder acts, and each of its
    # writes checks the lease in its own transaction. None: this process is the only one.
    leadership: Leadership | None = None
    _last_poll_at: datetime | None = field(default=None, init=False, repr=False)
    _last_housekeeping_at: datetime | None = field(default=None, init=False, repr=False)
    # The recent requests (bounded) the packing policy measures fragmentation against; kept
    # across ticks, shown each queued job once. A new leader starts learning afresh.
    requests: RequestWindow = field(default_factory=RequestWindow, init=False, repr=False)

    def __post_init__(self) -> None:
        # Cluster credentials are decrypted with this deployment's key (<data_dir>/secret.key).
        connections.remember_key_dir(self.db, self.settings.data_dir)

    @property
    def _fenced_db(self) -> Database:
        """The database as the loop writes to it: each unit of work checks the lease first."""
        if self.leadership is None:
            return self.db
        return self.db.fenced(self.leadership.fence)

    @contextmanager
    def _unit(self) -> Iterator[Session]:
        """A unit of work of the loop, fenced by the lease when there is one."""
        with self._fenced_db.session() as session:
            yield session

    def leading(self) -> bool:
        return self.leadership is None or self.leadership.leading()

    def tick(self) -> list[Placement]:
        """One loop iteration; returns the placements made (tests call this directly)."""
        self.poll_connections_if_due()
        self.housekeep_if_due()
        # A silent cluster makes each request wait out the backend's timeout (Slurm: 30 s), so
        # it is asked once per round; its other jobs count as unreachable without a request.
        silent: set[str] = set()
        self.sync_active_jobs(silent)
        return self.schedule_queue(silent)

    def housekeep_if_due(self) -> None:
        """Expired holds release their money, and ended programs take back unused grants,
        without anyone having to ask (TigerBeetle expires pending transfers the same way)."""
        now = self.clock.now()
        last = self._last_housekeeping_at
        if last is not None and (now - last).total_seconds() < self.housekeeping_interval_s:
            return
        self._last_housekeeping_at = now
        fenced = self._fenced_db  # each batch's transaction checks the lease
        try:
            ledger.expire_holds(fenced, self.clock)
            transact(
                fenced,
                lambda session: vouchers.expire_grants(session, self.clock, RUNTIME_PRINCIPAL),
            )
        except NotLeader:
            raise
        except Exception:  # housekeeping must not stop the scheduling loop
            log.exception("housekeeping (hold expiry, grant expiry) failed")

    def poll_connections_if_due(self) -> None:
        """Cluster health and capacity at a bounded rate: an unreachable cluster's pools stop
        receiving jobs, and come back when it answers again."""
        now = self.clock.now()
        last = self._last_poll_at
        if last is not None and (now - last).total_seconds() < self.connection_poll_interval_s:
            return
        self._last_poll_at = now
        fenced = self._fenced_db  # a deposed leader records no reading and cancels no run
        try:
            connections.poll_connections(fenced, self.backends, self.clock)
            orphans.reap_orphans(fenced, self.backends, self.clock)
        except NotLeader:
            raise
        except Exception:  # a poll failure must not stop the scheduling loop
            log.exception("cluster connection poll failed")

    # -- syncing -----------------------------------------------------------------------
    def sync_active_jobs(self, silent: set[str] | None = None) -> None:
        """Reads each active job's state from its cluster; `silent` collects the connections
        that did not answer this round, and is not asked again within it."""
        silent = set() if silent is None else silent
        with self.db.session() as session:
            ids = list(session.scalars(select(JobRow.id).where(JobRow.state.in_(ACTIVE_STATES))))
        for job_id in ids:
            try:
                self._sync_one(job_id, silent)
            except NotLeader:
                raise
            except Exception:  # one bad job must not stop the loop for everyone
                log.exception("sync of job %s failed", job_id)

    def _sync_one(self, job_id: str, silent: set[str]) -> None:
        with self._unit() as session:
            job = session.get(JobRow, job_id)
            if job is None or job.state not in ACTIVE_STATES or job.pool_id is None:
                return
            pool = assert_pool(session.get(PoolRow, job.pool_id), job)
            if pool.connection_id in silent or not self._at_home(pool):
                self._mark_unreachable(session, job, pool)
                return
            try:  # a connection that can no longer be built counts as unreachable, too
                backend = self.backends.for_pool(pool.backend, pool.connection_id)
                status = backend.status(job.backend_job_id or "")
            except BackendUnavailable:
                _note_silent(silent, pool)
                self._mark_unreachable(session, job, pool)
                return
            job.lost_since = None
            self._enforce_limits(job, status, backend)
            self._advance(session, job, pool, status, backend)

    def _enforce_limits(self, job: JobRow, status: JobStatus, backend: object) -> None:
        if status.state in BACKEND_TERMINAL:
            return
        if job.reason == "cancel requested":
            backend.cancel(job.backend_job_id or "")  # type: ignore[attr-defined]
            return
        started = job.started_at
        limit_s = int(job.spec["max_run_time_s"])
        if started is not None and (self.clock.now() - started).total_seconds() > limit_s:
            job.reason = "timed out"
            backend.cancel(job.backend_job_id or "")  # type: ignore[attr-defined]

    def _advance(
        self, session: Session, job: JobRow, pool: PoolRow, status: JobStatus, backend: object
    ) -> None:
        if status.state == BackendState.RUNNING and job.state == JobState.PLACED.value:
            job.state = transition(JobState.PLACED, JobState.RUNNING).value
            job.started_at = status.started_at or self.clock.now()
        if status.state == BackendState.LOST:
            self._handle_lost(
                session, job, msg("后端已不认识这个作业", "the backend no longer knows the job")
            )
            return
        if status.state in BACKEND_TERMINAL:
            usage = backend.usage(job.backend_job_id or "")  # type: ignore[attr-defined]
            self._finish(session, job, pool, status, usage)

    def _finish(
        self, session: Session, job: JobRow, pool: PoolRow, status: JobStatus, usage: Usage | None
    ) -> None:
        target = _final_state(job, status)
        if job.reason == "cancel requested" and target != JobState.CANCELLED:
            job.reason = stored(_ENDED_BEFORE_CANCEL, REASON_CHARS_MAX)  # not "cancelling"
        if job.state == JobState.PLACED.value and target != JobState.CANCELLED:
            job.state = transition(JobState.PLACED, JobState.RUNNING).value
        job.state = transition(JobState(job.state), target).value
        job.exit_code = status.exit_code
        job.finished_at = status.ended_at or self.clock.now()
        job.started_at = job.started_at or status.started_at
        if usage is None or job.started_at is None:
            settlement.release_job_hold(session, self.settings, self.clock, job)
            return
        line = meter(session, self.clock, job, pool, usage)
        settlement.settle_job(session, self.settings, self.clock, job, line)

    def _mark_unreachable(self, session: Session, job: JobRow, pool: PoolRow) -> None:
        now = self.clock.now()
        job.lost_since = job.lost_since or now
        if (now - job.lost_since).total_seconds() < self.settings.backend_lost_grace_s:
            return
        why = msg(
            "资源池的集群超过宽限期仍无法连接",
            "the pool's cluster was unreachable past the grace period",
        )
        if orphans.record_orphan(session, job.id, pool.connection_id, job.backend_job_id, now):
            why = msg(
                f"{why.zh}；集群恢复应答后会取消它在那里的运行",
                f"{why.en}; its run there is cancelled when the cluster answers again",
            )
        self._handle_lost(session, job, why)

    def _handle_lost(self, session: Session, job: JobRow, why: Msg) -> None:
        """Never charge for unproven time; re-queue if it never started or may restart."""
        if job.reason in ("cancel requested", "timed out"):
            self._end_lost_unrestartable(session, job, why)  # its owner wants it over, not re-run
            return
        restart = job.started_at is None or bool(job.spec.get("restartable"))
        job.state = transition(JobState(job.state), JobState.LOST).value
        if restart:
            job.state = transition(JobState.LOST, JobState.QUEUED).value
            job.reason = stored(
                msg(f"已重新排队：{why.zh}", f"re-queued: {why.en}"), REASON_CHARS_MAX
            )
            job.pool_id, job.node_cards, job.backend_job_id = None, [], None
            job.card_share, job.price_fen_per_card_hour = None, None
            job.started_at, job.placed_at, job.lost_since = None, None, None
            job.version += 1
            return
        job.state = transition(JobState.LOST, JobState.FAILED).value
        job.reason = stored(
            msg(
                f"作业在提供方丢失，不收费：{why.zh}",
                f"lost by the provider, not charged: {why.en}",
            ),
            REASON_CHARS_MAX,
        )
        job.finished_at = self.clock.now()
        settlement.release_job_hold(session, self.settings, self.clock, job)

    def _end_lost_unrestartable(self, session: Session, job: JobRow, why: Msg) -> None:
        target = JobState.CANCELLED if job.reason == "cancel requested" else JobState.TIMED_OUT
        if target == JobState.TIMED_OUT and job.state == JobState.PLACED.value:
            job.state = transition(JobState.PLACED, JobState.RUNNING).value
        job.state = transition(JobState(job.state), target).value
        ended = "已取消" if target == JobState.CANCELLED else "已超时"
        job.reason = stored(
            msg(
                f"{ended}；其集群已丢失，因此不收费：{why.zh}",
                f"{target.value}; its cluster was lost, so nothing was charged: {why.en}",
            ),
            REASON_CHARS_MAX,
        )
        job.finished_at = self.clock.now()
        settlement.release_job_hold(session, self.settings, self.clock, job)

    # -- placing -----------------------------------------------------------------------
    def schedule_queue(self, silent: set[str] | None = None) -> list[Placement]:
        """Places what the policy picks; a placement on a connection in `silent` (one that did
        not answer this round) is skipped, and its job waits in the queue for the next."""
        silent = set() if silent is None else silent
        unreadable: list[tuple[str, Exception]] = []
        with self.db.session() as session:
            state, queue = cluster_snapshot(session, self.clock.now(), unreadable)
        for job_id, error in unreadable:
            self._fail_unlaunchable(job_id, error)
        state.requests = self.requests
        queue = self._without_hopeless(state, queue)
        if not queue:
            return []
        options = PolicyOptions(
            packing=self.settings.packing_policy,
            packing_whole_cards=self.settings.packing_whole_cards,
        )
        policy = get_policy(self.settings.scheduler_policy, options=options)
        order = str(getattr(policy, "queue_order", PRIORITY_ORDER))
        queue = round_window(queue, options.queue_scan_max, order)  # as the simulator's
        placements = policy.place(state, queue, self.clock.now().timestamp())
        return [placement for placement in placements if self._launch_isolated(placement, silent)]

    def _without_hopeless(self, state: ClusterState, queue: list[QueuedJob]) -> list[QueuedJob]:
        """Fails, with its reason, each queued job no pool could ever take, even empty: its
        pools were deleted or changed, or its budget is under the cost on every pool that
        fits (the simulator rejects such a job on arrival). Left queued, a few hundred of them
        would fill every round's window (the oldest `queue_scan_max` jobs) and hide every
        later job of every tenant."""
        round_ = Round(state, PerformanceModel(), self.clock.now().timestamp())
        kept: list[QueuedJob] = []
        for job in queue:
            try:
                hopeless = round_.hopeless(job)
            except Exception as error:  # its own fault, or a bug: never the whole round's
                log.exception("queued job %s could not be checked", job.id)
                self._fail_unlaunchable(job.id, error)
                continue
            if hopeless:
                self._fail_unlaunchable(job.id, _why_hopeless(job, state))
            else:
                kept.append(job)
        return kept

    def _launch_isolated(self, placement: Placement, silent: set[str]) -> bool:
        """One job's launch: whatever goes wrong with it stays with it, and the round goes on
        for every other tenant's jobs."""
        try:
            return self._launch(placement, silent)
        except NotLeader:
            raise
        except Exception as error:  # the job's own fault, or a bug: never the whole loop's
            log.exception("launch of job %s failed", placement.job_id)
            self._fail_unlaunchable(placement.job_id, error)
            return False

    def _fail_unlaunchable(self, job_id: str, error: Exception) -> None:
        """A launch that raised is rolled back; the job is then failed on its own, with the
        reason, and its hold released (nothing ran, nothing is charged)."""
        why = _why(error)
        try:
            with self._unit() as session:
                job = session.get(JobRow, job_id)
                if job is None or job.state != JobState.QUEUED.value:
                    return
                job.state = transition(JobState.QUEUED, JobState.PLACED).value
                self._end_failed_launch(session, job, why)
        except NotLeader:
            raise
        except Exception:
            log.exception("could not record the failed launch of job %s", job_id)

    def _launch(self, placement: Placement, silent: set[str]) -> bool:
        """Places and submits one job; False when it was not placed after all."""
        with self._unit() as session:
            job = session.get(JobRow, placement.job_id)
            pool = session.get(PoolRow, placement.pool_id)
            if job is None or pool is None or job.state != JobState.QUEUED.value:
                return False
            if pool.connection_id in silent or not self._claim_home(pool):
                return False
            if not _compare_and_set_placed(session, job):
                return False  # someone else moved it since it was read
            job.state = transition(JobState.QUEUED, JobState.PLACED).value
            job.pool_id, job.node_cards = pool.id, [list(nc) for nc in placement.node_cards]
            job.card_share = share_to_dict(placement.share)
            job.placed_at, job.attempts = self.clock.now(), job.attempts + 1
            job.price_fen_per_card_hour = pool.price_fen_per_card_hour
            if not settlement.hold_covers(session, job, pool.price_fen_per_card_hour):
                self._end_failed_launch(session, job, _PRICE_ABOVE_HOLD)
                return False
            return self._submit(session, job, pool, silent)

    def _at_home(self, pool: PoolRow) -> bool:
        """A local pool's runs live on its machine: elsewhere they count as unreachable."""
        return pool.backend != "local" or pool.home in (None, self.settings.node_name)

    def _claim_home(self, pool: PoolRow) -> bool:
        """The first launch on a local pool makes this machine its home; only there it runs."""
        if pool.backend == "local" and pool.home is None:
            pool.home = self.settings.node_name
        return self._at_home(pool)

    def _submit(self, session: Session, job: JobRow, pool: PoolRow, silent: set[str]) -> bool:
        request = LaunchRequest(
            job_id=job.id,
            command=str(job.spec["command"]),
            cards=int(job.spec["cards"]),
            accelerator_model=pool.accelerator_model,
            max_run_time_s=int(job.spec["max_run_time_s"]),
            node_cards=tuple((int(n), int(c)) for n, c in job.node_cards),
            env={str(k): str(v) for k, v in (job.spec.get("env") or {}).items()},
            attempt=job.attempts,
            card_milli=_card_milli(job.spec),
            card_index=int(job.card_share["card"]) if job.card_share else None,
        )
        try:
            backend = self.backends.for_pool(pool.backend, pool.connection_id)
            job.backend_job_id = backend.submit(request)
        except BackendUnavailable as error:
            _note_silent(silent, pool)
            self._submit_unreachable(session, job, pool, error)
            return False
        except InvalidInput as error:  # the job itself cannot be launched: no retry helps
            self._end_failed_launch(session, job, _why(error))
            return False
        except BackendError as error:
            self._submit_failed(session, job, _why(error))
            return False
        return True

    def _submit_unreachable(
        self, session: Session, job: JobRow, pool: PoolRow, error: BackendUnavailable
    ) -> None:
        """The cluster, not the job, is at fault: stop placing on the pool until the next poll
        finds it healthy, and put the job back without spending one of its attempts. The submit
        may have reached the cluster all the same: what it started there is looked up then."""
        orphans.record_unanswered_submit(session, job.id, pool.connection_id, self.clock.now())
        pool.available = False
        job.state = transition(JobState.PLACED, JobState.QUEUED).value
        job.pool_id, job.node_cards, job.placed_at = None, [], None
        job.card_share, job.price_fen_per_card_hour = None, None
        job.attempts = max(0, job.attempts - 1)
        job.version += 1
        requeued = msg(
            "已重新排队：资源池的集群无法连接", "re-queued: the pool's cluster is unreachable"
        )
        job.reason = stored(because(requeued, cause_of(error)), REASON_CHARS_MAX)

    def _submit_failed(self, session: Session, job: JobRow, why: Msg) -> None:
        if job.attempts < SUBMIT_ATTEMPTS_MAX:
            job.state = transition(JobState.PLACED, JobState.QUEUED).value
            job.pool_id, job.node_cards, job.card_share = None, [], None
            job.price_fen_per_card_hour = None
            job.version += 1
            job.reason = stored(
                msg(f"提交失败，将重试：{why.zh}", f"submit failed, will retry: {why.en}"),
                REASON_CHARS_MAX,
            )
            return
        job.state = transition(JobState.PLACED, JobState.FAILED).value
        job.reason = stored(
            msg(
                f"提供方的后端拒绝了作业，不收费：{why.zh}",
                f"the provider's backend refused the job, not charged: {why.en}",
            ),
            REASON_CHARS_MAX,
        )
        job.finished_at = self.clock.now()
        settlement.release_job_hold(session, self.settings, self.clock, job)

    def _end_failed_launch(self, session: Session, job: JobRow, why: Msg) -> None:
        job.state = transition(JobState(job.state), JobState.FAILED).value
        job.reason = stored(
            msg(
                f"作业无法启动，不收费：{why.zh}",
                f"the job could not be launched, not charged: {why.en}",
            ),
            REASON_CHARS_MAX,
        )
        job.pool_id, job.node_cards, job.card_share = None, [], None
        job.price_fen_per_card_hour = None
        job.finished_at = self.clock.now()
        settlement.release_job_hold(session, self.settings, self.clock, job)

    # -- background thread ---------------------------------------------------------------
    def run_forever(self, stop: threading.Event) -> None:
        while not stop.wait(self.settings.scheduler_interval_s):
            if not self.leading():
                continue  # a standby: the leader's lease is watched by the lease thread
            try:
                self.tick()
            except NotLeader as error:
                log.warning("scheduler stepped down: %s", error)
            except Exception:
                log.exception("scheduler tick failed")


def _compare_and_set_placed(session: Session, job: JobRow) -> bool:
    """Claims the queued job at the version read: True for exactly one claimant."""
    claimed = session.execute(
        update(JobRow)
        .where(
            JobRow.id == job.id,
            JobRow.state == JobState.QUEUED.value,
            JobRow.version == job.version,
        )
        .values(version=JobRow.version + 1)
    )
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


def _note_silent(silent: set[str], pool: PoolRow) -> None:
    if pool.connection_id is not None:  # the operator's local pools have no cluster to skip
        silent.add(pool.connection_id)


def assert_pool(pool: PoolRow | None, job: JobRow) -> PoolRow:
    if pool is None:
        raise BackendError(
            msg(
                f"作业 {job.id} 指向的资源池 {job.pool_id} 不存在",
                f"job {job.id} points at a missing pool {job.pool_id}",
            )
        )
    return pool


def _final_state(job: JobRow, status: JobStatus) -> JobState:
    if status.state == BackendState.CANCELLED:
        return JobState.TIMED_OUT if job.reason == "timed out" else JobState.CANCELLED
    return JobState.SUCCEEDED if status.state == BackendState.SUCCEEDED else JobState.FAILED


def meter(session: Session, clock: Clock, job: JobRow, pool: PoolRow, usage: Usage) -> UsageRow:
    """The priced usage line: milli-card-seconds × price (per card-hour ÷ 1000), rounded
    half-up once, capped by the spec. The engine reports whole cards × seconds; a share of a
    card holds one card, so its seconds are weighed by card_milli."""
    per_card = _card_milli(job.spec) or CARD_MILLI_WHOLE
    cap = int(job.spec["max_run_time_s"]) * stored_milli_cards(job.spec)
    milli_card_seconds = min(usage.card_seconds * per_card, cap)
    price = job.price_fen_per_card_hour
    if price is None:  # placed before the price was recorded (revision 0014)
        price = pool.price_fen_per_card_hour
    line = UsageRow(
        job_id=job.id,
        owner_id=job.owner_id,
        provider_id=pool.provider_id,
        pool_id=pool.id,
        accelerator_model=pool.accelerator_model,
        cards=usage.cards,
        started_at=usage.started_at,
        ended_at=usage.ended_at,
        card_seconds=milli_card_seconds // CARD_MILLI_WHOLE,
        card_milli=per_card,
        milli_card_seconds=milli_card_seconds,
        price_fen_per_card_hour=price,
        amount_fen=price_milli_card_seconds(milli_card_seconds, price),
        source=usage.source,
        created_at=clock.now(),
    )
    session.add(line)
    session.flush()
    return line


def cluster_snapshot(
    session: Session, now: datetime, unreadable: list[tuple[str, Exception]] | None = None
) -> tuple[ClusterState, list[QueuedJob]]:
    """Builds the policy's inputs from the database: free cards per node and the queue. A
    queued job whose stored spec no longer reads is left out, and noted in `unreadable`. A
    pool whose active jobs no longer fit its declared shape is closed for the round, so
    one provider's inconsistent pool never stops the scheduling of every other pool."""
    views = pool_views(session)
    active = list(session.scalars(select(JobRow).where(JobRow.state.in_(ACTIVE_STATES))))
    state, running, misfits = _occupied(views, active, now)
    if misfits:
        log.error("pools left out of this round, their jobs no longer fit them: %s", misfits)
        # closed like an unreachable pool: nothing lands on it, yet the jobs that need it
        # are not failed as hopeless (`_without_hopeless` counts unavailable pools)
        closed = [replace(view, available=False) if view.pool.id in misfits else view
                  for view in views]  # fmt: skip
        state, running, _ = _occupied(closed, active, now)
    state.running = tuple(running)
    state.usage_by_owner = recent_usage(session, now, running)
    queued = session.scalars(
        select(JobRow)
        .where(JobRow.state == JobState.QUEUED.value)
        .order_by(JobRow.submitted_at, JobRow.id)
        .limit(QUEUE_READ_MAX)
    )
    notes = unreadable if unreadable is not None else []
    queue = [item for job in queued if (item := _queued_or_none(job, notes)) is not None]
    return state, queue


def _occupied(
    views: list[PoolView], active: list[JobRow], now: datetime
) -> tuple[ClusterState, list[RunningJob], list[str]]:
    """The pools with their active jobs' cards taken; and the pools some job no longer fits
    (its provider reshaped the pool under it), which the caller leaves out."""
    state = ClusterState.empty(views)
    known = set(state.free_per_node)
    running: list[RunningJob] = []
    misfits: list[str] = []
    for job in active:
        if job.pool_id not in known:
            continue
        node_cards = tuple((int(n), int(c)) for n, c in job.node_cards)
        share = share_from_dict(job.card_share)
        if not _take(state, job, node_cards, share):
            misfits.append(job.pool_id)
            known.discard(job.pool_id)
            continue
        try:
            running.append(_running(job, node_cards, share, now))
        except Exception:  # its cards stay taken; only its expected end is unknown
            log.exception("active job %s has a spec that cannot be read", job.id)
    return state, running, misfits


def _take(
    state: ClusterState,
    job: JobRow,
    node_cards: tuple[tuple[int, int], ...],
    share: CardShare | None,
) -> bool:
    """Takes the job's cards (and host CPU and memory if they still fit); False if its cards
    do not fit the pool as now declared."""
    assert job.pool_id is not None
    host = (int(job.spec.get("cpus") or 0), float(job.spec.get("host_memory_gib") or 0))
    placement = Placement(job.id, job.pool_id, node_cards, share=share, host=host)
    try:
        state.apply(placement)
        return True
    except InvalidInput:
        pass  # a refused placement takes nothing: try again without its host ask
    try:
        state.apply(replace(placement, host=NO_ASK))
    except InvalidInput:
        log.error("active job %s holds cards its pool %s no longer has", job.id, job.pool_id)
        return False
    # e.g. its provider lowered the pool's declared CPU or memory: its cards still count
    log.warning("active job %s holds more host CPU or memory than is declared", job.id)
    return True


def _queued_or_none(job: JobRow, unreadable: list[tuple[str, Exception]]) -> QueuedJob | None:
    """A stored spec that no longer reads (written by an older version, edited by hand) keeps
    its job out of the round rather than stopping the round for everyone."""
    try:
        return queued_job(job)
    except Exception as error:
        log.warning("queued job %s has a spec that cannot be read: %s", job.id, error)
        unreadable.append((job.id, error))
        return None


def recent_usage(session: Session, now: datetime, running: list[RunningJob]) -> dict[str, float]:
    """Decayed card-seconds per enterprise for the `fair` policy: metered runs in a bounded
    window, plus what running jobs have used so far (as the simulator's meter counts them)."""
    since = now - timedelta(seconds=USAGE_WINDOW_S)
    rows = session.execute(
        select(UsageRow.owner_id, UsageRow.card_seconds, UsageRow.ended_at)
        .where(UsageRow.ended_at >= since)
        .limit(USAGE_LINES_MAX)
    )
    now_s = now.timestamp()
    lines = [(owner, float(seconds), ended.timestamp()) for owner, seconds, ended in rows]
    lines += [
        (job.owner_id, job.spec.milli_cards / 1000 * max(0.0, now_s - job.started_at_s), now_s)
        for job in running
    ]
    return decayed_usage_from_lines(lines, now_s)


def queued_job(job: JobRow) -> QueuedJob:
    spec = spec_from_dict(job.spec)
    return QueuedJob(
        id=job.id,
        owner_id=job.owner_id,
        spec=spec,
        submitted_at_s=job.submitted_at.timestamp(),
        reference_runtime_s=float(spec.max_run_time_s),
        # The run-time limit is the only estimate the live loop has; it refers to the first
        # accepted model when the user named one (else the performance model's reference).
        reference_model=spec.accelerators[0] if spec.accelerators else None,
    )


def _running(
    job: JobRow, node_cards: tuple[tuple[int, int], ...], share: CardShare | None, now: datetime
) -> RunningJob:
    spec = spec_from_dict(job.spec)
    started = (job.started_at or job.placed_at or now).timestamp()
    return RunningJob(
        id=job.id,
        owner_id=job.owner_id,
        pool_id=str(job.pool_id),
        spec=spec,
        started_at_s=started,
        expected_end_s=started + spec.max_run_time_s,
        node_cards=node_cards,
        share=share,
    )


def _why_hopeless(job: QueuedJob, state: ClusterState) -> InvalidInput:
    """Why no pool can ever take the job: the requirements no pool meets, else its budget."""
    if not feasible_pools(job.spec, state.pools):
        reasons = explain_unplaceable(job.spec, state.pools)
        why = msg("；".join(r.zh for r in reasons), "; ".join(r.en for r in reasons))
        return Unplaceable(why, field="spec", reasons=reasons)
    budget = job.spec.budget_fen
    return InvalidInput(
        msg(
            f"预算 `budget_fen`（{budget} 分）低于每个可用资源池的预计费用",
            f"budget_fen ({budget} fen) is under the expected cost on every pool that fits",
        ),
        field="budget_fen",
    )


def _why(error: Exception) -> Msg:
    """An error's wording in both languages, to store with the job (an unexpected error is
    named by its type only: its text may hold anything)."""
    if isinstance(error, SuanliError):
        text = error.text
        return text if isinstance(text, Msg) else Msg(text, text)
    return Msg(type(error).__name__, type(error).__name__)


def share_to_dict(share: CardShare | None) -> dict[str, int] | None:
    return None if share is None else {"node": share.node, "card": share.card, "milli": share.milli}


def share_from_dict(stored: dict[str, Any] | None) -> CardShare | None:
    if not stored:
        return None
    return CardShare(int(stored["node"]), int(stored["card"]), int(stored["milli"]))


def _card_milli(spec: dict[str, Any]) -> int | None:
    """A stored spec's share of a card (1000 means a whole card), or None for whole cards."""
    milli = spec.get("card_milli")
    return None if milli is None or int(milli) >= CARD_MILLI_WHOLE else int(milli)
