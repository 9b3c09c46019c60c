"""Scenario exchange use cases on stored lists: publish and curate opportunities and
capabilities, import and export them as files, and match stored items in either direction.

Who may do what (the operator curates everything):
- opportunities are published by agencies and enterprises; capabilities by enterprises;
  any other kind of organisation gets PermissionDenied (403);
- the lists are public to every signed-in user (that is the point of the exchange), but
  `contact` is shown only to the owner and the operator (pairs reveal it after consent);
- writing another organisation's item is PermissionDenied (403): the item is public, so a
  "not found" would only mislead.

Vectors: each row stores sha256 of its matchable text and the vector computed from the text
with that hash. Matching embeds only rows whose two hashes differ (new or edited text) and
stores the result, so an unchanged text is never embedded twice.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from sqlalchemy import Select, Text, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from suanli.adapters.db.tables import OrganisationRow
from suanli.adapters.db.tables_scenes import SceneCapabilityRow, SceneOpportunityRow
from suanli.adapters.matching import (
    Candidate,
    Embedder,
    IndexedList,
    MatchEngine,
    VectorCache,
    load_default_embedder,
)
from suanli.adapters.matching.engine import semantic_text
from suanli.adapters.matching.industry import load_taxonomy
from suanli.domain.scenes import (
    TOP_K_MAX,
    Capability,
    DeploymentMode,
    ItemStatus,
    MatchDirection,
    Maturity,
    Opportunity,
    SceneItem,
    resolve_industry,
)
from suanli.errors import (
    Conflict,
    InvalidInput,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    SuanliError,
)
from suanli.i18n import msg, t
from suanli.services import scenes_files
from suanli.services.common import Clock, Page, PageResult, Principal, audit, new_id, paginate
from suanli.services.scenes_files import EmbedderLoader, ItemKind, ValidationReport

SceneRow = SceneOpportunityRow | SceneCapabilityRow
ExportFormat = Literal["csv", "xlsx"]
IMPORT_BYTES_MAX = 5 * 1024 * 1024  # one request's upload, held in memory: 5 MiB
IMPORT_ROWS_MAX = 5_000  # rows per import request; larger lists go in batches (第N批)
MATCH_CANDIDATES_MAX = 20_000  # open items indexed per match request
EXPORT_ROWS_MAX = 20_000
CONTACT_CHARS_MAX = 500
MODELS: dict[str, type[SceneOpportunityRow] | type[SceneCapabilityRow]] = {
    "opportunities": SceneOpportunityRow,
    "capabilities": SceneCapabilityRow,
}
_KIND_ZH = {"opportunities": "需求", "capabilities": "能力"}
PUBLISHERS: dict[str, tuple[str, ...]] = {
    "opportunities": ("agency", "enterprise"),
    "capabilities": ("enterprise",),
}
ID_PREFIXES = {"opportunities": "OPP", "capabilities": "CAP"}
SINGULAR: dict[str, str] = {"opportunities": "opportunity", "capabilities": "capability"}
OTHER_KIND: dict[str, ItemKind] = {
    "opportunities": "capabilities",
    "capabilities": "opportunities",
}


def require_kind(kind: str) -> ItemKind:
    if kind not in MODELS:
        raise InvalidInput(
            msg(
                "类型须为 `opportunities` 或 `capabilities`",
                "kind must be opportunities or capabilities",
            ),
            field="kind",
        )
    return "opportunities" if kind == "opportunities" else "capabilities"


def text_sha256(item: SceneItem) -> str:
    return hashlib.sha256(semantic_text(item).encode()).hexdigest()


# ---------------------------------------------------------------- rows <-> domain


def to_item(row: SceneRow) -> SceneItem:
    """The domain value of a stored row (validated again on the way out)."""
    common: dict[str, Any] = {
        "id": row.id,
        "title": row.title,
        "description": row.description,
        "industry": row.industry,
        "tags": tuple(row.tags),
        "region": row.region,
        "org": row.org_name,
        "batch": row.batch,
        "status": ItemStatus(row.status),
    }
    if isinstance(row, SceneOpportunityRow):
        return Opportunity(**common, budget_fen=row.budget_fen, deadline=row.deadline)
    return Capability(
        **common,
        maturity=Maturity(row.maturity) if row.maturity else None,
        # dict.fromkeys: a row stored before repeats were refused still reads
        deployment_modes=tuple(dict.fromkeys(DeploymentMode(m) for m in row.deployment_modes)),
        accelerators=tuple(row.accelerators),
    )


def _write_item(row: SceneRow, item: SceneItem) -> None:
    """Copies the item onto the row; a changed text drops the stored vector."""
    row.title, row.description, row.industry = item.title, item.description, item.industry
    row.tags, row.region, row.org_name = list(item.tags), item.region, item.org
    row.batch, row.status = item.batch, item.status.value
    if isinstance(row, SceneOpportunityRow) and isinstance(item, Opportunity):
        row.budget_fen, row.deadline = item.budget_fen, item.deadline
    if isinstance(row, SceneCapabilityRow) and isinstance(item, Capability):
        row.maturity = item.maturity.value if item.maturity else None
        row.deployment_modes = [mode.value for mode in item.deployment_modes]
        row.accelerators = list(item.accelerators)
    digest = text_sha256(item)
    if digest != row.text_sha256:
        row.text_sha256 = digest
        row.vector = row.vector_model = row.vector_text_sha256 = None


def build_item(kind: ItemKind, values: dict[str, Any]) -> SceneItem:
    """A domain item from API values; a platform alias becomes its canonical industry name,
    any other label is kept as written (the open taxonomy places it, or it gives no signal)."""
    model = Opportunity if kind == "opportunities" else Capability
    _refuse_other_kinds_fields(kind, model, values)
    data = dict(values)
    if "industry" in data:
        data["industry"] = resolve_industry(str(data["industry"]))[0]
    for name in ("tags", "accelerators", "deployment_modes"):
        if name in data:
            data[name] = tuple(data[name])
    if "status" in data:
        data["status"] = ItemStatus(data["status"])
    if data.get("maturity") is not None:
        data["maturity"] = Maturity(data["maturity"])
    if "deployment_modes" in data:
        data["deployment_modes"] = tuple(DeploymentMode(m) for m in data["deployment_modes"])
    return model(**data)


def _refuse_other_kinds_fields(
    kind: ItemKind, model: type[SceneItem], values: dict[str, Any]
) -> None:
    """One PATCH body serves both kinds, so `maturity` may reach an opportunity or
    `budget_fen` a capability: refused naming the field, never passed on to the model."""
    known = {f.name for f in fields(model)}
    for name in values:
        if name not in known:
            raise InvalidInput(
                msg(f"{_KIND_ZH[kind]}没有 `{name}` 字段", f"{kind} have no field {name}"),
                field=name,
            )


# ---------------------------------------------------------------- access


def require_publisher(caller: Principal, kind: ItemKind) -> None:
    allowed = PUBLISHERS[kind]
    if not caller.is_operator and caller.org_kind not in allowed:
        raise PermissionDenied(
            msg(
                f"{_KIND_ZH.get(kind, kind)}只能由 "
                f"{' 或 '.join(f'`{org}`' for org in allowed)} 类机构发布",
                f"{kind} are published by {' or '.join(allowed)} organisations",
            ),
            field="kind",
        )


def _find(session: Session, kind: ItemKind, item_id: str) -> SceneRow | None:
    row = session.get(MODELS[kind], item_id)
    return cast(SceneRow | None, row)


def get_row(session: Session, kind: ItemKind, item_id: str) -> SceneRow:
    row = _find(session, kind, item_id)
    if row is None or row.deleted:
        raise NotFound(
            msg(f"没有{_KIND_ZH.get(kind, kind)} {item_id!r}", f"no {SINGULAR[kind]} {item_id!r}"),
            field="id",
        )
    return row


def owned_row(session: Session, caller: Principal, kind: ItemKind, item_id: str) -> SceneRow:
    """The row the caller may write. The lists are public, so another tenant's row is refused
    as someone else's (403), not hidden as missing."""
    row = get_row(session, kind, item_id)
    if not caller.is_operator and row.org_id != caller.org_id:
        raise PermissionDenied(
            msg(
                f"{_KIND_ZH.get(kind, kind)} {item_id!r} 属于另一家机构",
                f"{SINGULAR[kind]} {item_id!r} belongs to another organisation",
            ),
            field="id",
        )
    return row


def _about(caller: Principal, owner: str) -> str | None:
    """The audit entry's other organisation: the owner, when the operator acts for it."""
    return owner if owner != caller.org_id else None


def can_see_contact(caller: Principal, row: SceneRow) -> bool:
    return caller.is_operator or row.org_id == caller.org_id


def _owner_org(session: Session, caller: Principal, org_id: str | None) -> str:
    """The caller's organisation; the operator may publish on behalf of another one."""
    if org_id is None or org_id == caller.org_id:
        return caller.org_id
    if not caller.is_operator:
        raise PermissionDenied(
            msg(
                "只有平台运营方可以代其他机构发布",
                "only the operator publishes for another organisation",
            ),
            field="org_id",
        )
    if session.get(OrganisationRow, org_id) is None:
        raise NotFound(msg(f"没有机构 {org_id!r}", f"no organisation {org_id!r}"), field="org_id")
    return org_id


# ---------------------------------------------------------------- CRUD


def create_item(
    session: Session,
    clock: Clock,
    caller: Principal,
    kind: ItemKind,
    values: dict[str, Any],
    *,
    contact: str = "",
    org_id: str | None = None,
) -> SceneRow:
    require_publisher(caller, kind)
    owner = _owner_org(session, caller, org_id)
    data = {"id": f"{ID_PREFIXES[kind]}-{new_id('x')[2:]}", **values}
    item = build_item(kind, data)
    if _find(session, kind, item.id) is not None:
        raise Conflict(
            msg(
                f"{_KIND_ZH.get(kind, kind)} {item.id!r} 已存在",
                f"{SINGULAR[kind]} {item.id!r} already exists",
            ),
            field="id",
        )
    row = _new_row(kind, item.id, owner, caller, clock)
    _write_item(row, item)
    row.contact = _require_contact(contact)
    session.add(row)
    session.flush()
    audit(session, clock, caller, f"scenes.{kind}.create", item.id, about_org=_about(caller, owner))
    return row


def _new_row(kind: ItemKind, item_id: str, owner: str, caller: Principal, clock: Clock) -> SceneRow:
    now = clock.now()
    return MODELS[kind](
        id=item_id,
        org_id=owner,
        created_by=caller.user_id,
        created_at=now,
        updated_at=now,
        text_sha256="",
        deleted=False,
        contact="",
    )


def _require_contact(contact: str) -> str:
    if len(contact) > CONTACT_CHARS_MAX:
        raise InvalidInput(
            msg(
                f"联系方式超过 {CONTACT_CHARS_MAX} 个字符",
                f"contact is longer than {CONTACT_CHARS_MAX}",
            ),
            field="contact",
        )
    return contact.strip()


def update_item(
    session: Session,
    clock: Clock,
    caller: Principal,
    kind: ItemKind,
    item_id: str,
    changes: dict[str, Any],
) -> SceneRow:
    """Applies the changes (domain-validated as a whole); a changed text drops the vector."""
    row = owned_row(session, caller, kind, item_id)
    contact = changes.pop("contact", None)
    current = to_item(row)
    values = {f.name: getattr(current, f.name) for f in fields(current)}
    item = build_item(kind, {**values, **changes, "id": row.id})
    _write_item(row, item)
    if contact is not None:
        row.contact = _require_contact(contact)
    row.updated_at = clock.now()
    audit(
        session, clock, caller, f"scenes.{kind}.update", item_id,
        about_org=_about(caller, row.org_id), fields=sorted(changes),
    )  # fmt: skip
    return row


def delete_item(
    session: Session, clock: Clock, caller: Principal, kind: ItemKind, item_id: str
) -> None:
    """Soft delete: pairs and challenges keep pointing at the row; it leaves every list."""
    row = owned_row(session, caller, kind, item_id)
    row.deleted, row.status, row.updated_at = True, ItemStatus.CLOSED.value, clock.now()
    about = _about(caller, row.org_id)
    audit(session, clock, caller, f"scenes.{kind}.delete", item_id, about_org=about)


@dataclass(frozen=True)
class ItemFilters:
    industry: str | None = None
    status: str | None = None
    batch: int | None = None
    org_id: str | None = None


def _filtered(session: Session, kind: ItemKind, filters: ItemFilters) -> Select[Any]:
    model = MODELS[kind]
    query = select(model).where(model.deleted.is_(False)).order_by(model.id)
    if filters.industry is not None:
        query = query.where(model.industry.in_(_labels_meaning(session, kind, filters.industry)))
    if filters.status is not None:
        query = query.where(model.status == ItemStatus(filters.status).value)
    if filters.batch is not None:
        query = query.where(model.batch == filters.batch)
    if filters.org_id is not None:
        query = query.where(model.org_id == filters.org_id)
    return query


def _labels_meaning(session: Session, kind: ItemKind, industry: str) -> list[str]:
    """The stored labels that mean the same industry as `industry`. Labels are stored as
    written (汽车, 汽车制造业 and C36 are one division; a tenant's own words too), so the
    taxonomy says which match, not SQL equality; a list has few distinct labels."""
    taxonomy = load_taxonomy()
    wanted = taxonomy.canonical(industry)
    stored = session.scalars(select(MODELS[kind].industry).distinct())
    return [label for label in stored if taxonomy.canonical(label) == wanted]


def list_items(
    session: Session, kind: ItemKind, page: Page, filters: ItemFilters
) -> PageResult[Any]:
    return paginate(session, _filtered(session, kind, filters), page)


# ---------------------------------------------------------------- import and export


@dataclass(frozen=True)
class ImportResult:
    kind: ItemKind
    created: tuple[str, ...]
    updated: tuple[str, ...]
    report: ValidationReport


def _load_upload(
    kind: ItemKind, filename: str, data: bytes, skip_invalid: bool
) -> scenes_files.LoadResult[SceneItem]:
    """Validates an upload with the file importer's rules (same messages, rows, fields)."""
    if len(data) > IMPORT_BYTES_MAX:
        raise LimitExceeded(
            msg(
                f"上传文件有 {len(data)} 字节，超过 {IMPORT_BYTES_MAX} 字节（5 MiB）的上限",
                f"upload is {len(data)} bytes, over the {IMPORT_BYTES_MAX}-byte (5 MiB) limit",
            ),
            field="file",
        )
    suffix = Path(filename).suffix.lower()
    if suffix not in scenes_files.SUFFIXES:
        raise InvalidInput(
            msg("文件名须以 .csv 或 .xlsx 结尾", "filename must end in .csv or .xlsx"),
            field="filename",
        )
    shown_as = Path(filename).name
    with tempfile.TemporaryDirectory(prefix="suanli-import-") as folder:
        path = Path(folder) / f"{kind}{suffix}"
        path.write_bytes(data)
        try:
            result = scenes_files.load_items(
                path, kind, skip_invalid=skip_invalid, shown_as=shown_as
            )
        except (InvalidInput, LimitExceeded) as error:
            raise _without_path(error, str(path), shown_as) from None
    report = replace(result.report, path=shown_as)
    if report.rows > IMPORT_ROWS_MAX:
        raise LimitExceeded(
            msg(f"每次最多导入 {IMPORT_ROWS_MAX} 行", f"at most {IMPORT_ROWS_MAX} rows per import"),
            field="rows",
        )
    return scenes_files.LoadResult(result.items, report, result.contacts)


def _without_path(error: InvalidInput | LimitExceeded, path: str, shown_as: str) -> SuanliError:
    """The same error with the server's temporary path replaced by the upload's name."""
    message = error.message.replace(path, shown_as)
    return type(error)(message, field=error.field, **error.details)


def import_items(
    session: Session,
    clock: Clock,
    caller: Principal,
    kind: ItemKind,
    upload: tuple[str, bytes],
    *,
    skip_invalid: bool = False,
    batch: int | None = None,
    org_id: str | None = None,
) -> ImportResult:
    """All or nothing in the caller's transaction: an invalid row (unless skip_invalid) or an
    id owned by another organisation aborts the whole import. The owner's own ids are updated."""
    require_publisher(caller, kind)
    owner = _owner_org(session, caller, org_id)
    loaded = _load_upload(kind, upload[0], upload[1], skip_invalid)
    _refuse_batch_conflict(loaded.items, batch)
    created: list[str] = []
    updated: list[str] = []
    for item in loaded.items:
        if batch is not None:
            item = replace(item, batch=batch)
        row = _find(session, kind, item.id)
        if row is not None and row.org_id != owner:
            raise Conflict(
                msg(
                    f"编号 {item.id!r} 属于另一家机构",
                    f"id {item.id!r} belongs to another organisation",
                ),
                field="id",
            )
        if row is None:
            row = _new_row(kind, item.id, owner, caller, clock)
            session.add(row)
            created.append(item.id)
        else:
            row.deleted, row.updated_at = False, clock.now()
            updated.append(item.id)
        _write_item(row, item)
        if item.id in loaded.contacts:
            row.contact = _require_contact(loaded.contacts[item.id])
    session.flush()
    audit(
        session, clock, caller, f"scenes.{kind}.import", kind, about_org=_about(caller, owner),
        created=len(created),
    )  # fmt: skip
    return ImportResult(kind, tuple(created), tuple(updated), loaded.report)


def _refuse_batch_conflict(items: Sequence[SceneItem], batch: int | None) -> None:
    """The batch given with the import and the file's batch column must not disagree: neither
    silently wins (an import that moved rows to another batch lost them from that batch)."""
    if batch is None:
        return
    for item in items:
        if item.batch is not None and item.batch != batch:
            raise InvalidInput(
                msg(
                    f"导入指定了第{batch}批，但文件的批次列把 {item.id} 列为第{item.batch}批；"
                    "请去掉其中之一",
                    f"the import says batch {batch} but the file's batch column puts {item.id} "
                    f"in batch {item.batch}; drop one of the two",
                ),
                field="batch",
            )


def export_items(
    session: Session, kind: ItemKind, fmt: ExportFormat, filters: ItemFilters
) -> bytes:
    """The filtered list as CSV (UTF-8 with BOM) or XLSX, in the import's English headers."""
    if fmt not in ("csv", "xlsx"):
        raise InvalidInput(
            msg("格式须为 CSV 或 XLSX", "format must be csv or xlsx"), field="format"
        )
    rows = list(session.scalars(_filtered(session, kind, filters).limit(EXPORT_ROWS_MAX + 1)))
    if len(rows) > EXPORT_ROWS_MAX:
        raise LimitExceeded(
            msg(
                f"每次最多导出 {EXPORT_ROWS_MAX} 行，请加筛选条件",
                f"at most {EXPORT_ROWS_MAX} rows per export; filter",
            ),
            field="rows",
        )
    with tempfile.TemporaryDirectory(prefix="suanli-export-") as folder:
        path = Path(folder) / f"{kind}.{fmt}"
        scenes_files.write_items(path, [to_item(row) for row in rows])
        return path.read_bytes()


# ---------------------------------------------------------------- matching


class SceneMatcher:
    """Loads the embedder once, on first use (never at import), and remembers a failure so a
    missing model costs one attempt, not one per request. It also keeps the last index of each
    list's open items, reused while a fingerprint of what the index reads is unchanged."""

    def __init__(self, loader: EmbedderLoader = load_default_embedder) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._loaded: tuple[Embedder | None, str | None] | None = None
        self._indexes: dict[tuple[str, str | None], tuple[str, IndexedList]] = {}
        self.index_builds = 0  # lists indexed from the database (a cache miss each)

    def embedder(self) -> tuple[Embedder | None, str | None]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._loader()
            return self._loaded

    def cached_index(self, kind: str, model: str | None, fingerprint: str) -> IndexedList | None:
        with self._lock:
            found = self._indexes.get((kind, model))
        return found[1] if found is not None and found[0] == fingerprint else None

    def keep_index(
        self, kind: str, model: str | None, fingerprint: str, index: IndexedList
    ) -> None:
        with self._lock:  # one entry per (list, model): the newest replaces the last
            self._indexes[(kind, model)] = (fingerprint, index)
            self.index_builds += 1


def lexical_only_matcher() -> SceneMatcher:
    return SceneMatcher(lambda: (None, t("按要求仅使用词法匹配", "lexical matching only")))


@dataclass(frozen=True)
class StoredMatch:
    id: str
    mode: str  # "fused" or "lexical-only"
    warning: str | None
    candidates: tuple[tuple[Candidate, SceneRow], ...]
    embedded: int  # texts embedded by this request (0 when every vector was current)
    index: IndexStatus


@dataclass(frozen=True)
class IndexStatus:
    """What this request did to the other list's index: the first request (or one after the
    list changed) builds it, embedding texts without a stored vector, and takes seconds."""

    built: bool  # False: an index kept from an earlier request was reused
    items: int  # open items indexed
    embedded: int  # texts embedded while building
    seconds: float


def _cache_from_rows(model_name: str, rows: Sequence[SceneRow]) -> VectorCache:
    cache = VectorCache(model_name, entries_max=max(len(rows), 1) + MATCH_CANDIDATES_MAX)
    for row in rows:
        current = row.vector_model == model_name and row.vector_text_sha256 == row.text_sha256
        if row.vector is not None and current:
            cache.put(semantic_text(to_item(row)), np.frombuffer(row.vector, np.float32))
    return cache


def _store_vectors(cache: VectorCache, rows: Sequence[SceneRow]) -> int:
    """Writes the vectors of rows whose text changed; returns how many were stored."""
    stored = 0
    for row in rows:
        if row.vector_model == cache.model_name and row.vector_text_sha256 == row.text_sha256:
            continue
        vector = cache.get(semantic_text(to_item(row)))
        if vector is not None:
            row.vector = np.asarray(vector, dtype=np.float32).tobytes()
            row.vector_model, row.vector_text_sha256 = cache.model_name, row.text_sha256
            stored += 1
    return stored


def _open_candidates(session: Session, kind: ItemKind) -> list[SceneRow]:
    model = MODELS[kind]
    query = (
        select(model)
        .where(model.deleted.is_(False), model.status == ItemStatus.OPEN.value)
        .order_by(model.id)
        .limit(MATCH_CANDIDATES_MAX)
    )
    return list(session.scalars(query))


def _open_fingerprint(session: Session, kind: ItemKind) -> str:
    """A digest of everything an index of the open items reads (ids, text hashes, tags,
    industry, region): equal digests mean an index built earlier is still exact."""
    model = MODELS[kind]
    # tags as the stored JSON text: decoding and re-encoding them was most of a warm request
    tags = sql_cast(model.tags, Text)
    query = (
        select(model.id, model.text_sha256, tags, model.industry, model.region)
        .where(model.deleted.is_(False), model.status == ItemStatus.OPEN.value)
        .order_by(model.id)
        .limit(MATCH_CANDIDATES_MAX)
    )
    digest = hashlib.sha256()
    for row in session.execute(query):
        # repr quotes and escapes each value (and tells None from "None"): no two different
        # rows hash alike, which a plain join of the values would not promise
        digest.update(repr(row).encode())
    return digest.hexdigest()


def _candidate_index(
    session: Session, matcher: SceneMatcher, engine: MatchEngine, kind: ItemKind
) -> tuple[IndexedList, IndexStatus]:
    """The open items of one list, indexed: reused when unchanged, else built from the
    database (embedding only texts without a current stored vector) and kept."""
    started = time.monotonic()
    model_name = engine.embedder.name if engine.embedder is not None else None
    fingerprint = _open_fingerprint(session, kind)
    cached = matcher.cached_index(kind, model_name, fingerprint)
    if cached is not None:
        return cached, IndexStatus(False, len(cached.ids), 0, time.monotonic() - started)
    rows = _open_candidates(session, kind)
    index, embedded = _index_rows(engine, rows)
    if engine.embedder is not None or model_name is None:  # a model failure is not kept
        matcher.keep_index(kind, model_name, fingerprint, index)
    return index, IndexStatus(True, len(rows), embedded, time.monotonic() - started)


def _index_rows(engine: MatchEngine, rows: Sequence[SceneRow]) -> tuple[IndexedList, int]:
    model = engine.embedder
    cache = _cache_from_rows(model.name, rows) if model is not None else None
    index = engine.index_list([to_item(row) for row in rows], cache)
    embedded = _store_vectors(cache, rows) if cache is not None and engine.embedder else 0
    return index, embedded


def match_stored(
    session: Session, matcher: SceneMatcher, kind: ItemKind, item_id: str, top_k: int = 10
) -> StoredMatch:
    """The top_k open items of the other list for one stored item, best first, explained."""
    if not 1 <= top_k <= TOP_K_MAX:
        raise InvalidInput(
            msg(f"`top` 须在 1 至 {TOP_K_MAX} 之间", f"top must be between 1 and {TOP_K_MAX}"),
            field="top",
        )
    query = get_row(session, kind, item_id)
    embedder, warning = matcher.embedder()
    engine = MatchEngine(embedder, warning=warning)
    others, status = _candidate_index(session, matcher, engine, OTHER_KIND[kind])
    asked, embedded_query = _index_rows(engine, [query])
    # the candidates' hubness is measured against the open items of the query's own list
    # (indexed and kept like the other list), not against the one query
    references: dict[str, IndexedList] = {}
    if engine.embedder is not None and others.ids:
        own, own_status = _candidate_index(session, matcher, engine, kind)
        references[kind] = own
        embedded_query += own_status.embedded
    if kind == "opportunities":
        engine.use(asked, others, references)
    else:
        engine.use(others, asked, references)
    direction = MatchDirection.O2C if kind == "opportunities" else MatchDirection.C2O
    found = engine.match(direction, top_k=top_k, query_ids=[item_id])[0] if others.ids else None
    chosen = found.candidates if found else ()
    by_id = _rows_by_id(session, OTHER_KIND[kind], [candidate.id for candidate in chosen])
    pairs = tuple((candidate, by_id[candidate.id]) for candidate in chosen)
    embedded = status.embedded + embedded_query
    return StoredMatch(item_id, engine.mode, engine.warning, pairs, embedded, status)


def _rows_by_id(session: Session, kind: ItemKind, ids: Sequence[str]) -> dict[str, SceneRow]:
    model = MODELS[kind]
    rows = cast(Sequence[SceneRow], session.scalars(select(model).where(model.id.in_(ids))).all())
    return {row.id: row for row in rows}
