"""Provider cluster connections: add (checked against the live cluster), list, check, remove,
and the periodic health and capacity poll that marks a connection's pools available or not.

Network I/O (health, capacity) always runs outside a unit of work: on SQLite a transaction
holds the single write lock, and a slow cluster must never stall the rest of the platform.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from suanli.adapters.backends.base import Backend
from suanli.adapters.backends.cluster_identity import (
    check_ray_address,
    cluster_key,
    shown,
    split_netloc,
    split_url,
)
from suanli.adapters.backends.connections import ConnectionRecord, build_backend
from suanli.adapters.backends.registry import BackendRegistry, ConnectionFactory
from suanli.adapters.db.database import Database
from suanli.adapters.db.tables import JobRow, OrganisationRow, PoolRow
from suanli.adapters.db.tables_connections import ClusterConnectionRow
from suanli.adapters.secrets import SECRET_BYTES_MAX, SecretBox, load_secret_box
from suanli.domain.accelerators import get_accelerator
from suanli.domain.jobs import TERMINAL_STATES
from suanli.domain.text import is_blank
from suanli.errors import (
    BackendError,
    BackendUnavailable,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SuanliError,
    UnknownAccelerator,
)
from suanli.i18n import Msg, msg, render, render_stored, stored
from suanli.services.common import Clock, Page, PageResult, Principal, audit, new_id, paginate

log = logging.getLogger(__name__)
NAME_CHARS_MAX = 200
POLL_CONNECTIONS_MAX = 1_000  # connections read per poll; more is a deployment to shard
CHECK_WORKERS_MAX = 8  # clusters checked at once: one slow cluster must not delay the rest
ERROR_CHARS_MAX = 1_000
SLURM_CONF_NAME = "slurm.conf"
KEY_CHARS_MAX = 60  # of an option's or a credential's name
OPTION_CHARS_MAX = 4_096  # of an option's value, as JSON: a path, or a map of a few models
# Options that run or trust things on the suanli host itself, never set through the API.
HOST_OPTIONS = {
    "allow_root": msg(
        "作业不会经由 API 以 root 身份运行（`allow_root` 仅供测试）",
        "jobs never run as root through the API (allow_root is for tests only)",
    ),
    "bin_dir": msg(
        "只有平台运营方可以让 suanli 使用别处的 Slurm 客户端程序（`bin_dir`）",
        "only the operator may point suanli at other Slurm client binaries",
    ),
}


# -- create -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewConnection:
    """A validated request, not yet checked against the cluster."""

    provider_id: str
    name: str
    record: ConnectionRecord
    cluster_key: str


def create_connection(
    db: Database, data_dir: Path, clock: Clock, caller: Principal, fields: dict[str, Any]
) -> ClusterConnectionRow:
    """Validates, checks the live cluster (health and capacity), then stores; on any failure
    nothing is stored and the error names the field to fix."""
    with db.session() as session:
        new = prepare_connection(session, caller, fields)
    backend = build_backend(new.record)
    capacity = verify_cluster(backend, new.record)
    options = _with_discovered_names(new.record, capacity)
    capacity = _canonical_capacity(capacity, options)
    box = load_secret_box(data_dir) if new.record.credentials else None
    with db.session() as session:
        _require_unique_name(session, new.provider_id, new.name)
        _require_unclaimed_cluster(session, new.cluster_key)
        row = _store(session, clock, new, options, capacity, box)
        if caller.is_operator:  # the operator is the reviewer: what it connects is approved
            _mark_reviewed(row, caller, clock, "approved", "")
        audit(session, clock, caller, "connection.create", row.id, kind=row.kind, name=row.name)
    return row


def prepare_connection(
    session: Session, caller: Principal, fields: dict[str, Any]
) -> NewConnection:
    provider_id = _owner_for_create(session, caller, fields.get("provider_id"))
    name = _name(fields.get("name"))
    _require_unique_name(session, provider_id, name)
    kind = str(fields.get("kind") or "")
    credentials = {str(k): str(v) for k, v in (fields.get("credentials") or {}).items()}
    _require_small(dict(fields.get("options") or {}), credentials)
    options = _checked_options(kind, dict(fields.get("options") or {}), caller)
    record = ConnectionRecord(
        id=new_id("conn"),
        kind=kind,
        address=str(fields.get("address") or ""),
        options=options,
        credentials=credentials,
    )
    if record.kind == "ray":
        check_ray_address(record.address)
    _require_local_paths(record)
    key = cluster_key(record.kind, record.address, record.options)
    _require_unclaimed_cluster(session, key)
    return NewConnection(provider_id, name, record, key)


def _owner_for_create(session: Session, caller: Principal, provider_id: object) -> str:
    if caller.org_kind == "provider":
        if provider_id not in (None, caller.org_id):
            raise PermissionDenied(
                msg("提供方只能接入自己的集群", "a provider connects its own clusters only"),
                field="provider_id",
            )
        return caller.org_id
    _require_provider_side(caller)
    owner = session.get(OrganisationRow, str(provider_id)) if provider_id else None
    if owner is None or owner.kind != "provider":
        raise InvalidInput(
            msg(
                "`provider_id` 须为算力提供方机构", "provider_id must name a provider organisation"
            ),
            field="provider_id",
        )
    return owner.id


def _name(value: object) -> str:
    if not isinstance(value, str) or is_blank(value) or len(value) > NAME_CHARS_MAX:
        raise InvalidInput(
            msg(
                f"名称须为 1..{NAME_CHARS_MAX} 个字符",
                f"name must be 1..{NAME_CHARS_MAX} characters",
            ),
            field="name",
        )
    return value.strip()


def _require_unique_name(session: Session, provider_id: str, name: str) -> None:
    existing = session.scalar(
        select(ClusterConnectionRow.id).where(
            ClusterConnectionRow.provider_id == provider_id,
            ClusterConnectionRow.name == name,
            ClusterConnectionRow.deleted.is_(False),
        )
    )
    if existing is not None:
        raise Conflict(
            msg(f"已有名为 {name!r} 的集群接入", f"a cluster connection named {name!r} exists"),
            field="name",
        )


def _require_unclaimed_cluster(session: Session, key: str) -> None:
    """A cluster (and partition) is sold by one provider only: whoever claims it second,
    by whatever spelling of the address, is refused, without saying who holds it."""
    claimed = session.scalar(
        select(ClusterConnectionRow.id).where(
            ClusterConnectionRow.cluster_key == key,
            ClusterConnectionRow.deleted.is_(False),
            ClusterConnectionRow.review_state != "rejected",
        )
    )
    if claimed is not None:
        raise Conflict(
            msg(
                "这个集群（及分区）已被接入平台；一个集群只能由一个服务商接入",
                "this cluster (and partition) is already connected to the platform; "
                "a cluster belongs to one provider",
            ),
            field="address",
        )


def _require_provider_side(caller: Principal) -> None:
    """Providers and the operator only; the refusal names who is asking (`organisation`)."""
    if caller.org_kind != "provider" and not caller.is_operator:
        raise PermissionDenied(
            msg(
                "只有算力提供方（或平台运营方）可以管理集群接入",
                "only providers (or the operator) manage cluster connections",
            ),
            field="organisation",
        )


def _require_small(options: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
    """Sizes are checked before anything else reads the values, and long before any of them
    is sent to a cluster: what cannot be stored is refused first, naming what is too big."""
    _require_short_names(options, "options")
    _require_short_names(credentials, "credentials")
    for name, value in options.items():
        if len(json.dumps(value, ensure_ascii=False)) > OPTION_CHARS_MAX:
            raise InvalidInput(
                msg(
                    f"选项 `{name}` 的值超过 {OPTION_CHARS_MAX} 个字符（按 JSON 计）",
                    f"option {name} is over {OPTION_CHARS_MAX} characters (as JSON)",
                ),
                field=f"options.{name}",
            )
    # Measured as SecretBox.seal measures it: whatever passes here can be sealed.
    if len(json.dumps(dict(credentials), sort_keys=True).encode()) > SECRET_BYTES_MAX:
        raise InvalidInput(
            msg(
                f"凭据合计超过 {SECRET_BYTES_MAX} 字节（按 JSON 计）",
                f"credentials are over {SECRET_BYTES_MAX} bytes in all (as JSON)",
            ),
            field="credentials",
        )


def _require_short_names(values: Mapping[str, Any], where: str) -> None:
    for name in values:
        if len(name) > KEY_CHARS_MAX:
            raise InvalidInput(
                msg(
                    f"`{where}` 的键最多 {KEY_CHARS_MAX} 个字符：{shown(name)!r}",
                    f"{where} names are at most {KEY_CHARS_MAX} characters: {shown(name)!r}",
                ),
                field=where,
            )


def _checked_options(kind: str, options: dict[str, Any], caller: Principal) -> dict[str, Any]:
    """Refuses host-level options and puts accelerator names in their catalog spelling."""
    for option, why in HOST_OPTIONS.items():
        if option in options and not (option == "bin_dir" and caller.is_operator):
            raise InvalidInput(why, field=f"options.{option}")
    if kind == "ray" and isinstance(options.get("accelerator_names"), Mapping):
        names = options["accelerator_names"]
        options["accelerator_names"] = {
            _catalog_model(str(model), "options.accelerator_names"): name
            for model, name in names.items()
        }
    if kind == "slurm":
        declared = options.get("accelerator_model") or options.get("gres_type")
        if isinstance(declared, str) and declared:
            options["accelerator_model"] = _catalog_model(declared, "options.accelerator_model")
    return options


def _catalog_model(name: str, field: str) -> str:
    try:
        # no catalog name is that long: cut short, it fails the same and is echoed short
        return get_accelerator(shown(name)).model
    except UnknownAccelerator as error:
        raise InvalidInput(
            msg(
                f"{error.message}（资源池须使用目录中的型号，请说明集群的卡是哪一种）",
                f"{error.message} (pools name catalog models; say which one the cluster has)",
            ),
            field=field,
        ) from error


def _require_local_paths(record: ConnectionRecord) -> None:
    """A Slurm connection uses files on this host: name a missing one before asking Slurm."""
    if record.kind != "slurm":
        return
    if record.address:
        _require_slurm_conf(Path(record.address))
    if not Path(str(record.options["log_dir"])).is_dir():
        raise InvalidInput(
            msg(
                f"`log_dir` {shown(str(record.options['log_dir']))!r} 不是 suanli 主机上的目录",
                f"log_dir {shown(str(record.options['log_dir']))!r} is not a directory on the "
                "suanli host",
            ),
            field="options.log_dir",
        )


def _require_slurm_conf(path: Path) -> None:
    # Slurm's clients echo the lines of a file they cannot parse: only a file named
    # slurm.conf (after symlinks) may be named, never e.g. the secret key or /etc/shadow.
    named = path.is_absolute() and path.name == SLURM_CONF_NAME
    if not named or path.resolve().name != SLURM_CONF_NAME:
        raise InvalidInput(
            msg(
                f"地址须为 suanli 主机上名为 {SLURM_CONF_NAME} 的文件的绝对路径"
                "（留空则用系统默认）",
                f"address must be the absolute path of a file named {SLURM_CONF_NAME} "
                "on the suanli host (or empty for the system default)",
            ),
            field="address",
        )
    if not path.is_file():
        raise InvalidInput(
            msg(
                f"suanli 主机上 {str(path)!r} 处没有 {SLURM_CONF_NAME}",
                f"no {SLURM_CONF_NAME} at {str(path)!r} on the suanli host",
            ),
            field="address",
        )


def verify_cluster(backend: Backend, record: ConnectionRecord) -> dict[str, int]:
    """The cluster answers, takes the credentials and offers cards; else a typed error."""
    try:
        capacity = backend.capacity()
    except BackendError as error:
        raise creation_error(error, record) from error
    health = backend.health()
    if not health.ok:
        raise BackendError.caused_by(
            msg("集群状态异常", "the cluster is not healthy"), health.message, field="address"
        )
    if not capacity:
        raise InvalidInput(
            msg(
                "集群没有提供加速卡（Ray 集群须把卡声明为自定义资源 accelerator_type:<型号>）",
                "the cluster offers no accelerator cards (Ray: declare them as the custom "
                "resource accelerator_type:<model>)",
            ),
            field="address",
        )
    _require_mapped_models_offered(record, capacity)
    return capacity


def creation_error(error: BackendError, record: ConnectionRecord) -> SuanliError:
    """What the provider must fix: the cluster answered no (422) or did not answer (502)."""
    if isinstance(error, BackendUnavailable):
        where_zh, where_en = record.address or "默认地址", record.address or "the default"
        return BackendError.caused_by(
            msg(
                f"无法连接 {where_zh} 的 {record.kind} 集群",
                f"cannot reach the {record.kind} cluster at {where_en}",
            ),
            error,  # its cause only: its own message says again that the cluster is unreachable
            field="address",
        )
    fields = {
        "credentials": "credentials",
        "partition": "options.partition",
        "accelerator_model": "options.gres_type",
    }
    if error.field in fields:
        return InvalidInput(error.message, field=fields[error.field])
    return BackendError(error.message, field="address")


def _require_mapped_models_offered(record: ConnectionRecord, capacity: Mapping[str, int]) -> None:
    names = record.options.get("accelerator_names") or {}
    missing = sorted(model for model in names if model not in capacity)
    if missing:
        raise InvalidInput(
            msg(
                f"Ray 集群没有 {'、'.join(missing)} 的资源"
                f"（它提供：{'、'.join(sorted(capacity))}）",
                f"the Ray cluster has no resource for {', '.join(missing)} "
                f"(it offers {', '.join(sorted(capacity))})",
            ),
            field="options.accelerator_names",
        )


def _with_discovered_names(record: ConnectionRecord, capacity: Mapping[str, int]) -> dict[str, Any]:
    """Ray resources named like a catalog model (accelerator_type:H100) map to that model, so a
    pool can say H100-SXM without the provider writing accelerator_names by hand."""
    options = dict(record.options)
    if record.kind != "ray":
        return options
    names = dict(options.get("accelerator_names") or {})
    for resource in capacity:
        if resource in names or resource in names.values():
            continue
        try:
            model = get_accelerator(resource).model
        except UnknownAccelerator:
            continue
        if model != resource and model not in names:
            names[model] = resource
    if names:
        options["accelerator_names"] = names
    return options


def _canonical_capacity(capacity: Mapping[str, int], options: Mapping[str, Any]) -> dict[str, int]:
    renamed = {name: model for model, name in (options.get("accelerator_names") or {}).items()}
    return {renamed.get(name, name): int(cards) for name, cards in capacity.items()}


def _store(
    session: Session,
    clock: Clock,
    new: NewConnection,
    options: dict[str, Any],
    capacity: dict[str, int],
    box: SecretBox | None,
) -> ClusterConnectionRow:
    now = clock.now()
    row = ClusterConnectionRow(
        id=new.record.id,
        provider_id=new.provider_id,
        name=new.name,
        kind=new.record.kind,
        address=new.record.address,
        options=options,
        credentials=box.seal(new.record.credentials) if box is not None else None,
        healthy=True,
        last_checked_at=now,
        last_error="",
        capacity=capacity,
        created_at=now,
        review_state="pending",
        review_reason="",
        cluster_key=new.cluster_key,
    )
    session.add(row)
    session.flush()
    return row


# -- review (入驻审核) ----------------------------------------------------------------------------
REVIEW_REASON_CHARS_MAX = 1_000


def review_connection(
    session: Session,
    clock: Clock,
    caller: Principal,
    connection_id: str,
    *,
    approve: bool,
    reason: str = "",
) -> ClusterConnectionRow:
    """The operator approves a provider's pending connection (its pools may then be listed and
    sold) or rejects it with a reason (its cluster is free to be claimed again)."""
    if not caller.is_operator:
        raise PermissionDenied(
            msg("只有平台运营方审核集群接入", "only the operator reviews cluster connections"),
            field="organisation",
        )
    row = get_connection(session, caller, connection_id)
    if row.review_state != "pending":
        raise Conflict(
            msg(
                f"集群接入 {connection_id} 已审核（{row.review_state}）",
                f"cluster connection {connection_id} was already reviewed ({row.review_state})",
            ),
            field="connection_id",
        )
    if not approve and is_blank(reason):
        raise InvalidInput(msg("驳回须写明原因", "a rejection needs a reason"), field="reason")
    _mark_reviewed(row, caller, clock, "approved" if approve else "rejected", reason.strip())
    action = "connection.approve" if approve else "connection.reject"
    audit(
        session, clock, caller, action, row.id, about_org=row.provider_id,
        reason=row.review_reason,
    )  # fmt: skip
    return row


def _mark_reviewed(
    row: ClusterConnectionRow, caller: Principal, clock: Clock, state: str, reason: str
) -> None:
    row.review_state, row.review_reason = state, reason[:REVIEW_REASON_CHARS_MAX]
    row.reviewed_by, row.reviewed_at = caller.user_id, clock.now()


# -- read and remove ----------------------------------------------------------------------------
def public_view(row: ClusterConnectionRow) -> dict[str, Any]:
    """Everything but the credentials: only whether there are any."""
    return {
        "id": row.id,
        "provider_id": row.provider_id,
        "name": row.name,
        "kind": row.kind,
        "address": _without_password(row.address),
        "options": dict(row.options or {}),
        "has_credentials": row.credentials is not None,
        "healthy": row.healthy,
        "last_checked_at": row.last_checked_at,
        "last_error": render_stored(row.last_error),  # in the reader's language
        "capacity": dict(row.capacity or {}),
        "created_at": row.created_at,
        "review_state": row.review_state,
        "review_reason": row.review_reason,
    }


def _without_password(address: str) -> str:
    """A password in a URL stored before such addresses were refused is never shown again."""
    userinfo, _, _ = split_netloc(split_url(address).netloc)
    if userinfo is None or ":" not in userinfo:
        return address
    return address.replace(f"{userinfo}@", f"{userinfo.partition(':')[0]}:***@", 1)


REVIEW_STATES = ("pending", "approved", "rejected")


def list_connections(
    session: Session, caller: Principal, page: Page, review_state: str | None = None
) -> PageResult[ClusterConnectionRow]:
    """A provider's own connections; every provider's for the operator (`review_state=
    "pending"`: its review queue, oldest first)."""
    _require_provider_side(caller)
    query = (
        select(ClusterConnectionRow)
        .where(ClusterConnectionRow.deleted.is_(False))
        .order_by(ClusterConnectionRow.created_at, ClusterConnectionRow.id)
    )
    if not caller.is_operator:
        query = query.where(ClusterConnectionRow.provider_id == caller.org_id)
    if review_state is not None:
        query = query.where(ClusterConnectionRow.review_state == review_state)
    return paginate(session, query, page)


def provider_names(session: Session, rows: list[ClusterConnectionRow]) -> dict[str, str]:
    """The names of the providers owning `rows` (one page: bounded by the page size)."""
    ids = {row.provider_id for row in rows}
    if not ids:
        return {}
    found = session.execute(
        select(OrganisationRow.id, OrganisationRow.name).where(OrganisationRow.id.in_(ids))
    )
    return {org_id: name for org_id, name in found}


def get_connection(session: Session, caller: Principal, connection_id: str) -> ClusterConnectionRow:
    """Another provider's connection is indistinguishable from a missing one (404)."""
    _require_provider_side(caller)
    row = session.get(ClusterConnectionRow, connection_id)
    if row is None or row.deleted or not (caller.is_operator or row.provider_id == caller.org_id):
        raise NotFound(
            msg(f"没有集群接入 {connection_id}", f"cluster connection {connection_id} not found"),
            field="connection_id",
        )
    return row


def delete_connection(
    session: Session, clock: Clock, caller: Principal, connection_id: str
) -> list[str]:
    """Removes the connection and its pools; refused while any of those pools has a live job.
    Returns the ids of the pools removed with it."""
    row = get_connection(session, caller, connection_id)
    pools = list(
        session.scalars(
            select(PoolRow).where(PoolRow.connection_id == row.id, PoolRow.deleted.is_(False))
        )
    )
    _require_no_active_jobs(session, [pool.id for pool in pools], row.id)
    row.deleted, row.healthy = True, False
    for pool in pools:
        pool.deleted, pool.available = True, False  # soft: usage lines keep pointing at them
    audit(
        session, clock, caller, "connection.delete", row.id, about_org=row.provider_id,
        pools=[p.id for p in pools],
    )  # fmt: skip
    return [pool.id for pool in pools]


def _require_no_active_jobs(session: Session, pool_ids: list[str], connection_id: str) -> None:
    if not pool_ids:
        return
    active = session.scalar(
        select(JobRow.id)
        .where(
            JobRow.pool_id.in_(pool_ids),
            JobRow.state.not_in([state.value for state in TERMINAL_STATES]),
        )
        .limit(1)
    )
    if active is not None:
        raise Conflict(
            msg(
                f"集群接入 {connection_id} 的资源池还有进行中的作业（如 {active}），"
                "请等其结束或先取消",
                f"cluster connection {connection_id} has pools with active jobs (e.g. {active}); "
                "wait for them to finish or cancel them",
            ),
            field="connection_id",
        )


# -- pools on a connection ----------------------------------------------------------------------
def require_pool_connection(
    session: Session, provider_id: str, backend_kind: str, connection_id: str, model: str
) -> ClusterConnectionRow:
    """The connection a new pool names: the same provider's, of the pool's backend kind, and
    its cluster has the pool's accelerator model (from the last capacity read)."""
    row = session.get(ClusterConnectionRow, connection_id)
    if row is None or row.deleted or row.provider_id != provider_id:
        raise InvalidInput(
            msg(
                f"该提供方没有集群接入 {connection_id}",
                f"no cluster connection {connection_id} for this provider",
            ),
            field="connection_id",
        )
    if row.kind != backend_kind:
        raise InvalidInput(
            msg(
                f"集群接入 {connection_id} 的类型是 `{row.kind}`，不是 `{backend_kind}`",
                f"connection {connection_id} is a {row.kind} cluster, not {backend_kind}",
            ),
            field="backend",
        )
    if row.review_state != "approved":
        raise InvalidInput(
            msg(
                f"集群接入 {connection_id} 尚未通过平台审核（{row.review_state}），"
                "通过后才能在其上创建算力池",
                f"cluster connection {connection_id} is not approved by the operator yet "
                f"({row.review_state}); pools can be listed on it once it is",
            ),
            field="connection_id",
        )
    if model not in (row.capacity or {}):
        offered = ", ".join(sorted(row.capacity or {})) or "nothing readable yet"
        raise InvalidInput(
            msg(
                f"集群接入 {connection_id} 的集群没有 {model} 卡（它提供：{offered}）；"
                "Ray 用 options.accelerator_names 映射型号，Slurm 用 options.accelerator_model",
                f"the cluster of connection {connection_id} has no {model} cards (it offers "
                f"{offered}); Ray: map the model with options.accelerator_names, Slurm: "
                "options.accelerator_model",
            ),
            field="accelerator_model",
        )
    return row


# -- health and capacity ------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterReading:
    connection_id: str
    healthy: bool
    capacity: dict[str, int] | None  # None: not readable this time (keep the last figures)
    error: str | Msg = ""  # stored in both languages (i18n.stored), rendered when read


def read_cluster(connection_id: str, backend: Backend) -> ClusterReading:
    """Health, then capacity; never raises (a cluster problem is a reading, not a crash)."""
    health = backend.health()
    if not health.ok:
        return ClusterReading(connection_id, False, None, health.message)
    try:
        capacity = backend.capacity()
    except BackendError as error:
        reachable = not isinstance(error, BackendUnavailable) and error.field != "credentials"
        return ClusterReading(connection_id, reachable, None, error.text)
    return ClusterReading(connection_id, True, dict(capacity))


def poll_connections(
    db: Database,
    registry: BackendRegistry,
    clock: Clock,
    connection_ids: Iterable[str] | None = None,
) -> list[ClusterReading]:
    """Checks every live approved connection (or those named), records health and capacity,
    and marks each connection's pools available only while its cluster is healthy and has
    their model. A connection not yet approved (or rejected) is checked when it is created and
    when it is named, never by the periodic poll: until the operator has reviewed it, an
    address a provider typed must not have the server knock on it every few seconds."""
    with db.session() as session:
        query = select(ClusterConnectionRow.id, ClusterConnectionRow.kind).where(
            ClusterConnectionRow.deleted.is_(False)
        )
        if connection_ids is not None:
            query = query.where(ClusterConnectionRow.id.in_(list(connection_ids)))
        else:
            query = query.where(ClusterConnectionRow.review_state == "approved")
        targets = [(id_, kind) for id_, kind in session.execute(query.limit(POLL_CONNECTIONS_MAX))]
    readings = _read_all(registry, targets)
    with db.session() as session:
        for reading in readings:
            record_reading(session, clock, reading)
    return readings


def _read_all(registry: BackendRegistry, targets: list[tuple[str, str]]) -> list[ClusterReading]:
    if not targets:
        return []

    def read(target: tuple[str, str]) -> ClusterReading:
        connection_id, kind = target
        try:
            backend = registry.for_pool(kind, connection_id)
        except SuanliError as error:  # e.g. the stored credentials no longer decrypt
            return ClusterReading(connection_id, False, None, error.text)
        return read_cluster(connection_id, backend)

    workers = min(CHECK_WORKERS_MAX, len(targets))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cluster-check") as pool:
        return list(pool.map(read, targets))


def record_reading(session: Session, clock: Clock, reading: ClusterReading) -> None:
    row = session.get(ClusterConnectionRow, reading.connection_id)
    if row is None or row.deleted:
        return
    if row.healthy and not reading.healthy:
        log.warning("cluster connection %s unreachable: %s", row.id, render(reading.error, "en"))
    row.healthy = reading.healthy
    row.last_checked_at = clock.now()
    row.last_error = stored(reading.error, ERROR_CHARS_MAX)
    if reading.capacity is not None:
        row.capacity = _canonical_capacity(reading.capacity, row.options or {})
    offered = row.capacity or {}
    for pool in session.scalars(
        select(PoolRow).where(PoolRow.connection_id == row.id, PoolRow.deleted.is_(False))
    ):
        pool.available = row.healthy and pool.accelerator_model in offered


def check_connection(
    db: Database, registry: BackendRegistry, clock: Clock, caller: Principal, connection_id: str
) -> ClusterConnectionRow:
    """Checks one connection now (as the poll would) and returns it as recorded."""
    with db.session() as session:
        get_connection(session, caller, connection_id)
    poll_connections(db, registry, clock, [connection_id])
    with db.session() as session:
        row = get_connection(session, caller, connection_id)
        audit(
            session, clock, caller, "connection.check", row.id, about_org=row.provider_id,
            healthy=row.healthy,
        )  # fmt: skip
        return row


def read_capacity(
    db: Database, registry: BackendRegistry, clock: Clock, caller: Principal, connection_id: str
) -> dict[str, Any]:
    """Free cards per model, read from the cluster now (502/503 when it cannot answer)."""
    with db.session() as session:
        row = get_connection(session, caller, connection_id)
        kind, options = row.kind, dict(row.options or {})
    capacity = _canonical_capacity(registry.for_pool(kind, connection_id).capacity(), options)
    with db.session() as session:
        row = get_connection(session, caller, connection_id)
        row.capacity, row.last_checked_at = capacity, clock.now()
        return {"connection_id": row.id, "capacity": capacity, "read_at": row.last_checked_at}


# -- backends for the registry --------------------------------------------------------------------
# bootstrap hands backend_factory only the Database; the Runtime, built beside it from the same
# Settings, records here where that deployment keeps its secret key (weakly: no leak in tests).
_KEY_DIRS: weakref.WeakKeyDictionary[Database, Path] = weakref.WeakKeyDictionary()


def remember_key_dir(db: Database, data_dir: Path) -> None:
    _KEY_DIRS[db] = data_dir


def backend_factory(db: Database, data_dir: Path | None = None) -> ConnectionFactory:
    """The registry's hook: connection id -> backend, decrypting credentials only here."""
    # Its own plain engine: the registry calls this inside other units of work, where a second
    # SQLite BEGIN IMMEDIATE would wait for the first one's write lock (30 s, then fail).
    reader = create_engine(db.url, poolclass=NullPool)

    def build(connection_id: str) -> Backend:
        with reader.connect() as connection:
            row = connection.execute(
                select(ClusterConnectionRow.__table__).where(
                    ClusterConnectionRow.id == connection_id
                )
            ).one_or_none()
        if row is None or row.deleted:
            raise BackendUnavailable(
                msg(
                    f"集群接入 {connection_id} 已不存在",
                    f"cluster connection {connection_id} no longer exists",
                )
            )
        try:
            sealed = row.credentials
            box = load_secret_box(data_dir or _key_dir(db)) if sealed else None
            credentials = box.open(sealed) if box is not None and sealed else {}
            options = dict(row.options or {})
            return build_backend(
                ConnectionRecord(connection_id, row.kind, row.address, options, credentials)
            )
        except SuanliError as error:  # a lost key or bad stored options: the pool cannot run
            raise BackendUnavailable(
                msg(
                    f"集群接入 {connection_id} 无法使用：{error.message}",
                    f"cluster connection {connection_id} cannot be used: {error.message}",
                )
            ) from error

    return build


def _key_dir(db: Database) -> Path:
    """The data dir recorded for `db`, else the one this process's settings name."""
    known = _KEY_DIRS.get(db)
    if known is not None:
        return known
    from suanli.config import load_settings

    try:
        return load_settings().data_dir
    except ValueError as error:
        raise BackendUnavailable(
            msg(f"找不到密钥：{error}", f"cannot locate the secret key: {error}")
        ) from error
