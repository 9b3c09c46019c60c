"""/metrics in Prometheus format, read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from suanli.adapters.db.database import Database
from suanli.adapters.db.tables import JobRow, PoolRow
from suanli.api.deps import AppState, CurrentPrincipal
from suanli.domain.jobs import JobState
from suanli.errors import PermissionDenied
from suanli.i18n import msg
from suanli.services.orphans import orphan_counts

router = APIRouter()


class PlatformCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.db.session() as session:
            by_state = dict(
                session.execute(select(JobRow.state, func.count()).group_by(JobRow.state)).all()
            )
            pools = list(session.scalars(select(PoolRow).where(PoolRow.deleted.is_(False))))
            active = list(
                session.scalars(select(JobRow).where(JobRow.state.in_(["placed", "running"])))
            )
            orphans = orphan_counts(session)
        yield _jobs_by_state(by_state)
        queue = GaugeMetricFamily("suanli_queue_length", "Jobs waiting for placement")
        queue.add_metric([], by_state.get(JobState.QUEUED.value, 0))
        yield queue
        yield from _pool_cards(pools, active)
        yield _orphan_runs(orphans)


class RoleCollector(Collector):
    def __init__(self, role: str, leading: bool) -> None:
        self.role, self.is_leading = role, leading

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "suanli_scheduler_leading",
            "1 when this process leads the scheduling loop, by its role (all, api, scheduler)",
            labels=["role"],
        )
        family.add_metric([self.role], 1 if self.is_leading else 0)
        yield family


def _orphan_runs(counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "suanli_orphan_runs",
        "Runs given up while their cluster was unreachable, by state (pending: to cancel there)",
        labels=["state"],
    )
    for state, count in counts.items():
        family.add_metric([state], count)
    return family


def _jobs_by_state(by_state: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily("suanli_jobs", "Jobs by state", labels=["state"])
    for state in JobState:
        family.add_metric([state.value], by_state.get(state.value, 0))
    return family


def _pool_cards(pools: list[PoolRow], active: list[JobRow]) -> Iterator[GaugeMetricFamily]:
    allocated: dict[str, int] = {}
    for job in active:
        cards = sum(int(c) for _, c in job.node_cards)
        allocated[str(job.pool_id)] = allocated.get(str(job.pool_id), 0) + cards
    used = GaugeMetricFamily(
        "suanli_pool_allocated_cards", "Allocated cards per pool", labels=["pool", "accelerator"]
    )
    total = GaugeMetricFamily("suanli_pool_cards", "Cards per pool", labels=["pool", "accelerator"])
    for pool in pools:
        labels = [pool.id, pool.accelerator_model]
        used.add_metric(labels, allocated.get(pool.id, 0))
        total.add_metric(labels, pool.nodes * pool.cards_per_node)
    yield used
    yield total


@router.get("/metrics", tags=["ops"])
def metrics(app: AppState, caller: CurrentPrincipal) -> Response:
    if not caller.is_operator:
        raise PermissionDenied(
            msg(
                "监控指标仅供平台运营方使用（请用运营方令牌）",
                "metrics are for the operator's monitoring (use its token)",
            )
        )
    registry = CollectorRegistry()
    registry.register(PlatformCollector(app.db))
    registry.register(RoleCollector(app.role, app.leading()))
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")
