"""Runs the platform gave up on while their cluster was unreachable.

When a cluster stops answering past the grace period, its jobs are declared lost: not charged,
and re-queued elsewhere when they may restart. The cluster may still hold the run, though:
Slurm keeps its jobs across a controller restart, so the run would go on unpaid and, for a
re-queued job, run twice. Each such run is recorded here and cancelled on its cluster at the
first poll that finds the cluster healthy again.

A submit whose reply never came (a timeout) may also have left a run behind, under an id the
platform never learned. Such a run is recorded without an id; once the cluster answers, the
runs it holds for the job are looked up by the job's id, and all but the one the job now uses
are cancelled ('absent' when the submit never got through).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.adapters.backends.base import Backend
from suanli.adapters.backends.registry import BackendRegistry
from suanli.adapters.db.database import Database
from suanli.adapters.db.tables import JobRow, PoolRow
from suanli.adapters.db.tables_connections import ClusterConnectionRow, OrphanRunRow
from suanli.errors import BackendUnavailable, SuanliError
from suanli.services.common import Clock

log = logging.getLogger(__name__)
REAP_PER_POLL_MAX = 100  # cancels per poll; the rest wait for the next poll
CANCEL_ATTEMPTS_MAX = 5  # refusals from a healthy cluster before the platform stops trying
ORPHAN_STATES = ("pending", "cancelled", "adopted", "abandoned", "absent")


def record_orphan(
    session: Session,
    job_id: str,
    connection_id: str | None,
    backend_job_id: str | None,
    now: datetime,
) -> bool:
    """Remembers a run to cancel later; False when there is nothing a cluster could hold."""
    if connection_id is None or not backend_job_id:
        return False
    known = session.scalar(
        select(OrphanRunRow).where(
            OrphanRunRow.connection_id == connection_id,
            OrphanRunRow.backend_job_id == backend_job_id,
        )
    )
    if known is not None:  # engines reuse a job's id on a retry: the new run needs cancelling
        known.job_id, known.state, known.attempts, known.last_error = job_id, "pending", 0, ""
        known.lost_at, known.resolved_at = now, None
    else:
        session.add(_pending(job_id, connection_id, backend_job_id, now))
    return True


def record_unanswered_submit(
    session: Session, job_id: str, connection_id: str | None, now: datetime
) -> bool:
    """Remembers a submit that got no reply: it may have started a run of unknown id."""
    if connection_id is None:
        return False
    known = session.scalar(
        select(OrphanRunRow.id).where(
            OrphanRunRow.connection_id == connection_id,
            OrphanRunRow.job_id == job_id,
            OrphanRunRow.backend_job_id.is_(None),
            OrphanRunRow.state == "pending",
        )
    )
    if known is None:  # one lookup per job and cluster covers any number of lost replies
        session.add(_pending(job_id, connection_id, None, now))
    return True


def _pending(
    job_id: str, connection_id: str, backend_job_id: str | None, now: datetime
) -> OrphanRunRow:
    return OrphanRunRow(
        job_id=job_id,
        connection_id=connection_id,
        backend_job_id=backend_job_id,
        state="pending",
        attempts=0,
        last_error="",
        lost_at=now,
    )


def reap_orphans(db: Database, registry: BackendRegistry, clock: Clock) -> int:
    """Cancels pending orphan runs on clusters the last poll found healthy; returns how many
    were cancelled. A cluster that refuses too often, or was removed, is given up on (logged)."""
    with db.session() as session:
        query = (
            select(OrphanRunRow, ClusterConnectionRow)
            .join(ClusterConnectionRow, ClusterConnectionRow.id == OrphanRunRow.connection_id)
            .where(OrphanRunRow.state == "pending")
            .where(ClusterConnectionRow.deleted.is_(True) | ClusterConnectionRow.healthy.is_(True))
            .order_by(OrphanRunRow.id)
            .limit(REAP_PER_POLL_MAX)
        )
        return sum(
            _reap(session, orphan, connection, registry, clock.now())
            for orphan, connection in session.execute(query).all()
        )


def _reap(
    session: Session,
    orphan: OrphanRunRow,
    connection: ClusterConnectionRow,
    registry: BackendRegistry,
    now: datetime,
) -> int:
    """Settles one pending orphan row; returns how many runs were cancelled."""
    if connection.deleted:
        _give_up(orphan, "the cluster connection was removed", now)
        return 0
    if orphan.backend_job_id is not None and _adopted(session, orphan):
        orphan.state, orphan.resolved_at = "adopted", now
        return 0
    try:
        backend = registry.for_pool(connection.kind, connection.id)
        state, cancelled = _cancel_runs(session, orphan, backend)
    except BackendUnavailable:
        return 0  # down again since the poll: try at the next one, without counting it
    except SuanliError as error:
        orphan.attempts += 1
        orphan.last_error = error.message[:500]
        if orphan.attempts >= CANCEL_ATTEMPTS_MAX:
            _give_up(orphan, error.message, now)
        return 0
    orphan.state, orphan.resolved_at = state, now
    return cancelled


def _cancel_runs(session: Session, orphan: OrphanRunRow, backend: Backend) -> tuple[str, int]:
    """Cancels the orphan's run, or for an unanswered submit every live run of the job but the
    one the job now uses; returns the row's new state and how many runs were cancelled."""
    if orphan.backend_job_id is not None:
        backend.cancel(orphan.backend_job_id)
        log.info("cancelled orphan run %s of job %s", orphan.backend_job_id, orphan.job_id)
        return "cancelled", 1
    live = backend.live_runs(orphan.job_id)
    current = _current_run(session, orphan.job_id, orphan.connection_id)
    strays = [run for run in live if run != current]
    for run in strays:
        backend.cancel(run)
    if strays:  # the row keeps no id: a cancelled run's id may belong to another orphan row
        log.info("cancelled runs %s of the unanswered submit of job %s", strays, orphan.job_id)
        return "cancelled", len(strays)
    return ("adopted" if current in live else "absent"), 0


def _adopted(session: Session, orphan: OrphanRunRow) -> bool:
    """True when a re-placement of the job took the surviving run over (a submit that found
    it still running): that run is paid for again and must not be cancelled."""
    return _current_run(session, orphan.job_id, orphan.connection_id) == orphan.backend_job_id


def _current_run(session: Session, job_id: str, connection_id: str) -> str | None:
    """The run the job uses now on this cluster, if it is placed or running there."""
    return session.scalar(
        select(JobRow.backend_job_id)
        .join(PoolRow, PoolRow.id == JobRow.pool_id)
        .where(JobRow.id == job_id)
        .where(JobRow.state.in_(("placed", "running")))
        .where(PoolRow.connection_id == connection_id)
    )


def _give_up(orphan: OrphanRunRow, why: str, now: datetime) -> None:
    orphan.state, orphan.resolved_at, orphan.last_error = "abandoned", now, why[:500]
    log.warning(
        "gave up cancelling run %s of lost job %s on %s: %s",
        orphan.backend_job_id, orphan.job_id, orphan.connection_id, why,
    )  # fmt: skip


def orphan_counts(session: Session) -> dict[str, int]:
    """Orphan runs by state, every state present (for /metrics)."""
    rows = session.execute(
        select(OrphanRunRow.state, func.count()).group_by(OrphanRunRow.state)
    ).all()
    counts = dict.fromkeys(ORPHAN_STATES, 0)
    counts.update({state: int(count) for state, count in rows})
    return counts
