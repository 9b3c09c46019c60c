"""Reading the audit log: pages with filters, CSV and XLSX exports, the head, and verification
of the whole chain.

Who sees what: the operator sees every entry; any other organisation sees the entries its own
users made and those about it (`about_org_id`: an application to its program, a proposal to
its challenge, its review or suspension by the operator)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session

from suanli.adapters.db.audit_log import entry_of
from suanli.adapters.db.tables import AuditHeadRow, AuditRow
from suanli.domain.audit_chain import GENESIS_HASH, ChainProblem, verify_chain
from suanli.errors import LimitExceeded
from suanli.i18n import msg
from suanli.services.common import Page, PageResult, Principal, paginate, require_ordered_range
from suanli.services.spreadsheets import append_text_row, csv_safe

EXPORT_ROWS_MAX = 100_000
VERIFY_BATCH = 1_000
COLUMNS = (
    "seq", "at", "actor_id", "org_id", "credential", "action", "object", "about_org_id",
    "before", "after", "request_id", "client_address", "prev_hash", "hash",
)  # fmt: skip


@dataclass(frozen=True)
class AuditFilters:
    actor_id: str | None = None
    org_id: str | None = None
    action: str | None = None  # an exact action, or a prefix ending in "." ("voucher.")
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def visible(caller: Principal) -> Select[Any]:
    query = select(AuditRow)
    if not caller.is_operator:
        query = query.where(
            or_(AuditRow.org_id == caller.org_id, AuditRow.about_org_id == caller.org_id)
        )
    return query


def _filtered(caller: Principal, filters: AuditFilters) -> Select[Any]:
    query = visible(caller)
    require_ordered_range(filters.since, filters.until, "since", "until", half_open=True)
    conditions = (
        (filters.actor_id, lambda v: AuditRow.actor_id == v),
        (filters.org_id, lambda v: or_(AuditRow.org_id == v, AuditRow.about_org_id == v)),
        (filters.subject, lambda v: AuditRow.subject == v),
        (filters.since, lambda v: AuditRow.at >= v),
        (filters.until, lambda v: AuditRow.at < v),
    )
    for value, condition in conditions:
        if value is not None:
            query = query.where(condition(value))
    if filters.action:
        action = filters.action
        query = query.where(
            AuditRow.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else AuditRow.action == action
        )
    return query


def list_entries(
    session: Session, caller: Principal, filters: AuditFilters, page: Page
) -> PageResult[Any]:
    """Newest first."""
    query = _filtered(caller, filters).order_by(AuditRow.seq.desc())
    return paginate(session, query, page)


def entry_public(row: AuditRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": row.at,
        "actor_id": row.actor_id,
        "org_id": row.org_id,
        "credential": row.credential,
        "action": row.action,
        "object": row.subject,
        "about_org_id": row.about_org_id,
        "before": row.before,
        "after": row.detail,
        "request_id": row.request_id,
        "client_address": row.client_address,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def _export_rows(session: Session, caller: Principal, filters: AuditFilters) -> Iterator[list[Any]]:
    query = _filtered(caller, filters).order_by(AuditRow.seq)
    for count, row in enumerate(session.scalars(query.limit(EXPORT_ROWS_MAX + 1)), start=1):
        if count > EXPORT_ROWS_MAX:
            raise LimitExceeded(
                msg(
                    f"导出超过 {EXPORT_ROWS_MAX} 条，请缩小时间范围",
                    f"more than {EXPORT_ROWS_MAX} entries; narrow since/until",
                ),
                field="since",
            )
        public = entry_public(row)
        yield [_cell(public[column]) for column in COLUMNS]


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def export_csv(session: Session, caller: Principal, filters: AuditFilters) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for values in _export_rows(session, caller, filters):
        writer.writerow([csv_safe(v) if isinstance(v, str) else v for v in values])
    return out.getvalue()


def export_xlsx(session: Session, caller: Principal, filters: AuditFilters) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=False)
    sheet = book.active
    sheet.title = "audit"
    append_text_row(sheet, COLUMNS)
    for values in _export_rows(session, caller, filters):
        append_text_row(sheet, values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head_seq: int
    head_hash: str
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def head(session: Session) -> tuple[int, str]:
    row = session.get(AuditHeadRow, 1)
    return (row.seq, row.hash) if row else (0, GENESIS_HASH)


def verify(session: Session, kept_head: tuple[int, str] | None = None) -> ChainReport:
    """Recomputes every hash in sequence order, in batches: the chain must hold, end at the
    platform's head record, and pass through `kept_head` (one held outside the platform)."""
    stored = head(session)
    heads = [pair for pair in (stored, kept_head) if pair is not None and pair[0] > 0]
    count, last, problem = verify_chain(
        _entries(session), heads=heads, seq_exists=_seq_exists(session)
    )
    if problem is None and (count, last) != stored:
        problem = ChainProblem(
            stored[0] + 1,
            "edited",
            msg(
                f"第 {stored[0]} 条之后还有不在链头记录里的条目",
                f"entries after {stored[0]} are not in the head record: added outside the log",
            ),
        )
    return ChainReport(count, stored[0], stored[1], problem)


def _entries(session: Session, upto: int | None = None) -> Iterator[Any]:
    after = 0
    while True:
        query = select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq)
        if upto is not None:
            query = query.where(AuditRow.seq <= upto)
        batch = list(session.scalars(query.limit(VERIFY_BATCH)))
        if not batch:
            return
        for row in batch:
            yield entry_of(row)
        after = batch[-1].seq
        session.expunge_all()  # a long log is read in constant memory


def _seq_exists(session: Session) -> Any:
    def check(seq: int) -> bool:
        return bool(session.scalar(select(exists().where(AuditRow.seq == seq))))

    return check
