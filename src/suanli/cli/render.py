"""How CLI answers look: tables whose ids are never cut, records as "label  value" lines, and
values as words (never a Python repr). `--json` bypasses all of it (common.print_json)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from suanli.domain.money import format_yuan
from suanli.i18n import t

console = Console()
CELL_PADDING = 2  # one space each side of a cell
NARROWEST_TEXT_COLUMN = 6  # below this a folded column stops being readable: drop it instead


@dataclass(frozen=True)
class Column:
    """A table column. `is_id` columns are always printed whole. Others are printed whole too,
    except `fold` ones (free text), which may wrap; what does not fit drops from the right."""

    header: str
    is_id: bool = False
    justify: str = "left"
    fold: bool = False


def print_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], title: str | None = None
) -> None:
    """Prints rows so that every id appears verbatim at the terminal's width."""
    kept = _columns_that_fit(columns, rows, console.width)
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for index in kept:
        column = columns[index]
        justify: Any = column.justify
        if column.fold:
            table.add_column(column.header, overflow="fold", justify=justify)
        else:
            width = _content_width(columns, rows, index)
            table.add_column(column.header, no_wrap=True, min_width=width, justify=justify)
    for row in rows:
        table.add_row(*(Text(str(row[index])) for index in kept))  # data, never markup
    console.print(table, highlight=False)
    if len(kept) < len(columns):
        hidden = ", ".join(columns[i].header for i in range(len(columns)) if i not in kept)
        console.print(
            t(
                f"(终端太窄，未显示: {hidden}；可用 --json)",
                f"(too narrow for: {hidden}; try --json)",
            ),
            highlight=False,
        )


def _content_width(columns: Sequence[Column], rows: Sequence[Sequence[str]], index: int) -> int:
    cells = [columns[index].header] + [str(row[index]) for row in rows]
    return max(cell_len(line) for cell in cells for line in cell.splitlines() or [""])


def _columns_that_fit(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int
) -> list[int]:
    """Every id column, then the others from the left while each still gets its width."""
    kept = [i for i, c in enumerate(columns) if c.is_id]
    used = sum(_content_width(columns, rows, i) + CELL_PADDING for i in kept)
    for index, column in enumerate(columns):
        if column.is_id:
            continue
        need = _content_width(columns, rows, index)
        need = min(need, NARROWEST_TEXT_COLUMN) if column.fold else need
        need += CELL_PADDING
        if used + need <= width:
            kept.append(index)
            used += need
    return sorted(kept)


def words(value: Any) -> str:
    """A value as a person reads it: {'succeeded': 10} → 'succeeded 10'; None → '—'."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return t("是", "yes") if value else t("否", "no")
    if isinstance(value, dict):
        pairs = (f"{code_word(key)} {words(item)}" for key, item in value.items())
        return ", ".join(pairs) or "—"
    if isinstance(value, list | tuple):
        return ", ".join(words(item) for item in value) or "—"
    return str(value)


JOB_STATES = {
    "pending": ("待处理", "pending"),
    "queued": ("排队中", "queued"),
    "placed": ("已分配", "placed"),
    "running": ("运行中", "running"),
    "succeeded": ("成功", "succeeded"),
    "failed": ("失败", "failed"),
    "cancelled": ("已取消", "cancelled"),
    "timed_out": ("超时", "timed out"),
    "lost": ("失联", "lost"),
    "rejected": ("已拒绝", "rejected"),
}


# The API's codes that a reader sees in tables and summaries, worded in each language; an
# unknown code (a new one, or a product name such as Ray) is shown as the API wrote it.
# Transfer codes are worded by suanli.domain.ledger.transfer_code_word instead: the monthly
# statement words them too, and `voucher_grant` is both an account kind and a transfer code.
CODE_WORDS: dict[str, tuple[str, str]] = {
    **JOB_STATES,
    "local": ("本地", "local"),
    "ray": ("Ray", "Ray"),
    "slurm": ("Slurm", "Slurm"),
    "operator": ("运营方", "operator"),
    "agency": ("主管部门", "agency"),
    "provider": ("算力供应方", "provider"),
    "enterprise": ("企业", "enterprise"),
    "admin": ("管理员", "admin"),
    "member": ("成员", "member"),
    "finance": ("财务", "finance"),
    "viewer": ("只读", "viewer"),
    "active": ("正常", "active"),
    "suspended": ("已暂停", "suspended"),
    "approved": ("已批准", "approved"),
    "expired": ("已过期", "expired"),
    "draft": ("草稿", "draft"),
    "open": ("揭榜中", "open"),
    "reviewing": ("评审中", "reviewing"),
    "awarded": ("已授予", "awarded"),
    "opportunity": ("场景机会", "opportunity"),
    "capability": ("场景能力", "capability"),
    "enterprise_wallet": ("企业钱包", "enterprise wallet"),
    "provider_receivable": ("供应方应收", "provider receivable"),
    "platform_revenue": ("平台收入", "platform revenue"),
    "external_clearing": ("外部清算", "external clearing"),
    "settlement_clearing": ("结算清算", "settlement clearing"),
    "voucher_program_budget": ("券种预算", "voucher program budget"),
    "voucher_grant": ("算力券额度", "voucher grant"),
    # what an API token may do
    "read": ("只读", "read"),
    "write": ("读写", "write"),
    "jobs": ("作业", "jobs"),
    "wallet": ("钱包", "wallet"),
    "vouchers": ("算力券", "vouchers"),
    "scenes": ("场景对接", "scenes"),
    "pools": ("资源池", "pools"),
}


def code_word(code: Any) -> str:
    """An API code (a state, kind, role, backend) in the reader's language."""
    zh, en = CODE_WORDS.get(str(code), (str(code), str(code)))
    return t(zh, en)


def job_state(state: Any) -> str:
    """A job state in the reader's language (--json keeps the API's word)."""
    zh, en = JOB_STATES.get(str(state), (str(state), str(state)))
    return t(zh, en)


def job_counts(counts: dict[str, int]) -> str:
    """{'succeeded': 10, 'failed': 1} → '成功 10, 失败 1' (or 'succeeded 10, failed 1')."""
    return ", ".join(f"{job_state(state)} {count}" for state, count in counts.items()) or "—"


def yuan(value: Any) -> str:
    return "—" if value is None else format_yuan(int(value))


@dataclass(frozen=True)
class Field:
    """One line of a record: which key, its label in both languages, how to show the value."""

    key: str
    zh: str
    en: str
    show: Callable[[Any], str] = words


def print_record(data: dict[str, Any], fields: Sequence[Field]) -> None:
    """Aligned `label  value` lines, one per field present in the answer."""
    present = [field for field in fields if field.key in data]
    labels = [t(field.zh, field.en) for field in present]
    width = max((console.measure(label).maximum for label in labels), default=0)
    for field, label in zip(present, labels, strict=True):
        padding = " " * (width - console.measure(label).maximum)
        console.print(
            f"{label}{padding}  {field.show(data[field.key])}", markup=False, highlight=False
        )


def note_already_recorded(result: dict[str, Any], reference: str) -> None:
    """Says so when a bank or treasury reference was recorded before: the API answered the
    first transfer again and moved no money (top-ups, payouts, fundings alike)."""
    if result.get("already_recorded"):
        console.print(
            t(
                f"参考号 {reference} 已记录过，未再次记账:",
                f"reference {reference} was already recorded; no money moved again:",
            ),
            highlight=False,
        )
