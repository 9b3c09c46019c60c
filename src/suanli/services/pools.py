"""Pools: providers list them; the scheduler reads them as domain `PoolView`s."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.adapters.db.tables import JobRow, OrganisationRow, PoolRow
from suanli.domain.accelerators import get_accelerator
from suanli.domain.divisions import canonical_region
from suanli.domain.jobs import TERMINAL_STATES, JobState
from suanli.domain.pools import Pool, Region
from suanli.domain.scheduling.model import PoolView
from suanli.domain.text import is_blank
from suanli.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from suanli.i18n import msg
from suanli.services.common import Clock, Page, PageResult, Principal, audit, new_id, paginate
from suanli.services.connections import require_pool_connection

EDITABLE_FIELDS: tuple[str, ...] = (
    "name",
    "nodes",
    "cards_per_node",
    "region",
    "price_fen_per_card_hour",
    "software",
    "labels",
    "shareable",
    "cpus_per_node",
    "host_memory_gib_per_node",
)


def to_domain(row: PoolRow) -> Pool:
    accelerator = get_accelerator(row.accelerator_model)
    return Pool(
        id=row.id,
        provider_id=row.provider_id,
        name=row.name,
        accelerator_model=accelerator.model,
        nodes=row.nodes,
        cards_per_node=row.cards_per_node,
        region=Region.parse(row.region),
        price_fen_per_card_hour=row.price_fen_per_card_hour,
        software={str(k): str(v) for k, v in (row.software or {}).items()},
        labels={str(k): str(v) for k, v in (row.labels or {}).items()},
        backend=row.backend,
        vendor=accelerator.vendor,
        memory_gib=accelerator.memory_gib,
        shareable=bool(row.shareable),
        cpus_per_node=row.cpus_per_node,
        host_memory_gib_per_node=row.host_memory_gib_per_node,
    )


def pool_views(session: Session) -> list[PoolView]:
    rows = session.scalars(select(PoolRow).where(PoolRow.deleted.is_(False)).order_by(PoolRow.id))
    return [
        PoolView(to_domain(row), get_accelerator(row.accelerator_model), available=row.available)
        for row in rows
    ]


def _validated(fields: dict[str, Any], base: PoolRow | None = None) -> Pool:
    """Builds the domain Pool from the merged fields so every rule is checked in one place."""
    merged = {key: getattr(base, key) for key in EDITABLE_FIELDS} if base else {}
    merged.update(fields)
    model = fields.get("accelerator_model", base.accelerator_model if base else "")
    accelerator = get_accelerator(str(model))
    return Pool(
        id=base.id if base else "new",
        provider_id=base.provider_id if base else "new",
        name=_name(merged.get("name")),
        accelerator_model=accelerator.model,
        nodes=merged.get("nodes", 1),
        cards_per_node=merged.get("cards_per_node", 1),
        region=_region(fields, merged),
        price_fen_per_card_hour=merged.get("price_fen_per_card_hour", -1),
        software=dict(merged.get("software") or {}),
        labels=dict(merged.get("labels") or {}),
        backend=fields.get("backend", base.backend if base else "local"),
        shareable=merged.get("shareable", True),
        cpus_per_node=merged.get("cpus_per_node"),
        host_memory_gib_per_node=merged.get("host_memory_gib_per_node"),
    )


def _region(fields: dict[str, Any], merged: dict[str, Any]) -> Region:
    """A region being set must be a real division (so region filters find the pool); one kept
    from before is taken as stored."""
    text = str(merged.get("region") or "")
    return Region.parse(canonical_region(text) if "region" in fields else text)


def _name(value: object) -> str:
    if not isinstance(value, str) or is_blank(value) or len(value) > 200:
        raise InvalidInput(
            msg("名称须为 1..200 个字符", "name must be 1..200 characters"), field="name"
        )
    return value.strip()


def _owner_for_create(session: Session, caller: Principal, provider_id: str | None) -> str:
    if caller.org_kind == "provider":
        if provider_id not in (None, caller.org_id):
            raise PermissionDenied(
                msg("提供方只能为自己登记资源池", "a provider lists pools for itself only"),
                field="provider_id",
            )
        return caller.org_id
    if not caller.is_operator:
        raise PermissionDenied(
            msg(
                "只有算力提供方（或平台运营方）可以登记资源池",
                "only providers (or the operator) list pools",
            ),
            field="organisation",
        )
    owner = session.get(OrganisationRow, provider_id) if provider_id else None
    if owner is None or owner.kind not in ("provider", "operator"):
        raise InvalidInput(
            msg(
                "`provider_id` 须为算力提供方机构", "provider_id must name a provider organisation"
            ),
            field="provider_id",
        )
    return owner.id


def create_pool(
    session: Session, clock: Clock, caller: Principal, fields: dict[str, Any]
) -> PoolRow:
    requested_provider = fields.pop("provider_id", None)
    pool = _validated(fields)
    provider_id = _owner_for_create(session, caller, requested_provider)
    if pool.backend == "local" and not caller.is_operator:
        raise PermissionDenied(
            msg(
                "本机资源池可以运行任意命令，只有平台运营方可以创建",
                "local pools run arbitrary commands: only the operator creates them",
            ),
            field="backend",
        )
    if pool.backend in ("ray", "slurm") and not fields.get("connection_id"):
        raise InvalidInput(
            msg(
                "Ray 或 Slurm 资源池需要 `connection_id`",
                "a ray or slurm pool needs a connection_id",
            ),
            field="connection_id",
        )
    connection = None
    if pool.backend in ("ray", "slurm"):
        # Same provider, same kind, and the cluster really has this model (not the DB's job).
        connection = require_pool_connection(
            session, provider_id, pool.backend, str(fields["connection_id"]), pool.accelerator_model
        )
    _require_unique_name(session, provider_id, pool.name, None)
    row = PoolRow(
        id=new_id("pool"),
        provider_id=provider_id,
        name=pool.name,
        accelerator_model=pool.accelerator_model,
        nodes=pool.nodes,
        cards_per_node=pool.cards_per_node,
        region=pool.region.label(),
        price_fen_per_card_hour=pool.price_fen_per_card_hour,
        software=pool.software,
        labels=pool.labels,
        backend=pool.backend,
        connection_id=connection.id if connection is not None else None,
        available=connection.healthy if connection is not None else True,
        created_at=clock.now(),
        shareable=pool.shareable,
        cpus_per_node=pool.cpus_per_node,
        host_memory_gib_per_node=pool.host_memory_gib_per_node,
    )
    session.add(row)
    session.flush()
    audit(
        session, clock, caller, "pool.create", row.id, about_org=provider_id, name=row.name,
        accelerator_model=row.accelerator_model, nodes=row.nodes,
        cards_per_node=row.cards_per_node, price_fen_per_card_hour=row.price_fen_per_card_hour,
        backend=row.backend, shareable=row.shareable,
    )  # fmt: skip
    return row


def _require_unique_name(
    session: Session, provider_id: str, name: str, pool_id: str | None
) -> None:
    query = select(PoolRow.id).where(
        PoolRow.provider_id == provider_id, PoolRow.name == name, PoolRow.deleted.is_(False)
    )
    existing = session.scalar(query)
    if existing is not None and existing != pool_id:
        raise Conflict(
            msg(
                f"该提供方已有名为 {name!r} 的资源池",
                f"a pool named {name!r} exists for this provider",
            ),
            field="name",
        )


def get_pool(session: Session, caller: Principal, pool_id: str) -> PoolRow:
    """Anyone may read the public catalogue of pools; deleted pools are gone."""
    row = session.get(PoolRow, pool_id)
    if row is None or row.deleted:
        raise NotFound(msg(f"没有资源池 {pool_id}", f"pool {pool_id} not found"), field="pool_id")
    return row


def _owned_pool(session: Session, caller: Principal, pool_id: str) -> PoolRow:
    row = get_pool(session, caller, pool_id)
    if not caller.is_operator and row.provider_id != caller.org_id:
        # The catalogue shows the pool to everyone, so "not found" would mislead.
        raise PermissionDenied(
            msg(
                f"资源池 {pool_id} 属于另一家机构",
                f"pool {pool_id} belongs to another organisation",
            ),
            field="pool_id",
        )
    return row


def sees_internals(caller: Principal, row: PoolRow) -> bool:
    """A pool's internals (backend, connection, labels, the jobs on it) are its provider's and
    the operator's; everyone else sees its public face in the catalogue (算力超市)."""
    return caller.is_operator or row.provider_id == caller.org_id


def allocated_cards(session: Session, pool_ids: list[str]) -> dict[str, int]:
    """Cards held right now by placed or running jobs, per pool (for the catalogue's free
    cards), read from the placements themselves; a card holding shares counts as held."""
    if not pool_ids:
        return {}
    active = (JobState.PLACED.value, JobState.RUNNING.value)
    rows = session.execute(
        select(JobRow.pool_id, JobRow.node_cards, JobRow.card_share).where(
            JobRow.pool_id.in_(pool_ids), JobRow.state.in_(active)
        )
    )
    held: dict[str, int] = {}
    shared: set[tuple[str, int, int]] = set()
    for pool_id, node_cards, share in rows:
        held[pool_id] = held.get(pool_id, 0) + sum(int(cards) for _, cards in node_cards or [])
        if share:
            shared.add((pool_id, int(share["node"]), int(share["card"])))
    for pool_id, _, _ in shared:
        held[pool_id] = held.get(pool_id, 0) + 1
    return held


def list_pools(
    session: Session, caller: Principal, page: Page, mine: bool = False
) -> PageResult[PoolRow]:
    query = (
        select(PoolRow).where(PoolRow.deleted.is_(False)).order_by(PoolRow.created_at, PoolRow.id)
    )
    if mine:
        query = query.where(PoolRow.provider_id == caller.org_id)
    return paginate(session, query, page)


def update_pool(
    session: Session, clock: Clock, caller: Principal, pool_id: str, fields: dict[str, Any]
) -> PoolRow:
    row = _owned_pool(session, caller, pool_id)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(
            msg(f"不能修改：{'、'.join(sorted(unknown))}", f"cannot update {sorted(unknown)}"),
            field=sorted(unknown)[0],
        )
    pool = _validated(fields, base=row)
    if pool.nodes < row.nodes or pool.cards_per_node < row.cards_per_node:
        # a running job's placement names node and card indices: any fewer nodes or fewer
        # cards per node can leave it pointing past the pool (a reshape of equal total, too)
        _require_no_active_jobs(session, row.id, "shrink")
    _require_unique_name(session, row.provider_id, pool.name, row.id)
    before = {key: getattr(row, key) for key in fields}
    for key in fields:
        value = getattr(pool, key)
        setattr(row, key, value.label() if isinstance(value, Region) else value)
    session.flush()
    after = {key: getattr(row, key) for key in fields}
    audit(
        session, clock, caller, "pool.update", row.id, about_org=row.provider_id,
        before=before, **after,
    )  # fmt: skip
    return row


def delete_pool(session: Session, clock: Clock, caller: Principal, pool_id: str) -> None:
    row = _owned_pool(session, caller, pool_id)
    _require_no_active_jobs(session, row.id, "delete")
    row.deleted = True  # soft: usage lines and statements keep pointing at it
    audit(session, clock, caller, "pool.delete", row.id, about_org=row.provider_id, name=row.name)


_VERB_ZH = {"shrink": "缩容", "delete": "删除"}


def _require_no_active_jobs(session: Session, pool_id: str, verb: str) -> None:
    active = session.scalar(
        select(JobRow.id)
        .where(JobRow.pool_id == pool_id, JobRow.state.not_in([s.value for s in TERMINAL_STATES]))
        .limit(1)
    )
    if active is not None:
        raise Conflict(
            msg(
                f"资源池还有进行中的作业（如 {active}），不能{_VERB_ZH.get(verb, verb)}",
                f"cannot {verb} a pool with active jobs (e.g. {active})",
            ),
            field="pool_id",
        )
