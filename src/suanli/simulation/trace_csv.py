"""Reading a trace file for the simulator: every row with its line number, read whole before
anything is built from it, or an error that names the file, the line and the column.

Each loader passes the wording of its cell errors (`CellError`), so its messages stay as its
users know them: `column_error` for the Philly, Gavel and packing lists, its own for the
Alibaba 2023 trace; the reading, the header check, the row limit and the integer check are
shared here. `read_text` is the one way every loader (CSV, Gavel's .trace and JSON) reads a
file: a regular file only (a named pipe would block forever), UTF-8 with or without a BOM,
and a refusal that says why in both languages (`file_problem`: the usual causes by name).
"""

from __future__ import annotations

import csv
import errno
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from suanli.errors import InvalidInput
from suanli.i18n import Msg, msg

if TYPE_CHECKING:
    from _csv import Reader

CellError = Callable[[Path, int, str, Msg], InvalidInput]
Row = tuple[int, dict[str, str]]
SHOWN_MAX = 60  # characters of a bad cell quoted in its error
# Why a file cannot be opened or written, by errno: the usual ones in both languages.
_OS_REASONS = {
    errno.ENOENT: msg("不存在", "does not exist"),
    errno.EISDIR: msg("是一个目录，不是文件", "is a folder, not a file"),
    errno.ENOTDIR: msg("路径中有一段不是目录", "a part of the path is not a folder"),
    errno.EACCES: msg("没有权限", "permission denied"),
    errno.EPERM: msg("没有权限", "permission denied"),
    errno.EEXIST: msg("已存在且不是目录", "exists and is not a folder"),
    errno.EROFS: msg("位于只读文件系统", "is on a read-only file system"),
    errno.ENOSPC: msg("磁盘空间不足", "no space left on the device"),
    errno.ENAMETOOLONG: msg("名字太长", "the name is too long"),
    errno.ELOOP: msg("符号链接循环", "has a loop of symbolic links"),
}
_LONG_CELL = "field larger than field limit"
_CSV_REASONS = {  # the csv module's own words -> ours
    _LONG_CELL: msg(
        f"有一个单元格超过 {csv.field_size_limit():,} 个字符",
        f"a cell is longer than {csv.field_size_limit():,} characters",
    ),
    "unexpected end of data": msg(
        "引号开始的单元格直到文件末尾都没有闭合", "a quoted cell is never closed"
    ),
    "',' expected after '\"'": msg(
        "闭合引号后须紧跟逗号", "a closing quote must be followed by a comma"
    ),
}


def file_problem(error: OSError) -> Msg:
    """Why `error` happened, in both languages: the common causes by name, else the OS's own
    text (quoted in the Chinese line)."""
    known = _OS_REASONS.get(error.errno or 0)
    if known is not None:
        return known
    text = error.strerror or str(error)
    return msg(f"“{text}”", text)


def os_reason(code: int) -> Msg:
    """The words for an errno this module knows (EISDIR, ENOTDIR, EACCES, ...)."""
    return _OS_REASONS[code]


def cannot_read(path: Path, problem: Msg, field: str, what: Msg | None = None) -> InvalidInput:
    """`cannot read <what> <path>: <problem>` in both languages."""
    zh, en = (what.zh + " ", what.en + " ") if what else ("", "")
    return InvalidInput(
        msg(f"无法读取 {zh}{path}：{problem.zh}", f"cannot read {en}{path}: {problem.en}"),
        field=field,
    )


def read_text(path: Path, field: str = "path", what: Msg | None = None) -> str:
    """The whole of a regular file as text: UTF-8, a leading byte-order mark dropped."""
    problem: Msg | None = None
    if path.is_dir():
        problem = os_reason(errno.EISDIR)
    elif path.exists() and not path.is_file():
        problem = msg(
            "不是普通文件（而是管道、设备等）", "is not a regular file (a pipe, a device)"
        )
    if problem is not None:
        raise cannot_read(path, problem, field, what)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise cannot_read(path, file_problem(error), field, what) from error
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problem = msg(f"第{line}行不是 UTF-8 文本", f"line {line} is not UTF-8 text")
        raise cannot_read(path, problem, field, what) from error


def text_lines(text: str) -> list[str]:
    """The lines of `text`, ended by \\n, \\r\\n or \\r only: str.splitlines also splits at
    form feeds, U+2028 and other separators, which would shift every later line number."""
    lines = io.StringIO(text, newline=None).read().split("\n")
    return lines[:-1] if lines and not lines[-1] else lines


def column_error(path: Path, line: int, column: str, problem: Msg) -> InvalidInput:
    """The usual cell error: `<file> line <n>: column <name> <problem>`, in both languages."""
    return InvalidInput(
        msg(
            f"{path.name} 第{line}行：列 `{column}` {problem.zh}",
            f"{path.name} line {line}: column {column} {problem.en}",
        ),
        field=column,
        line=line,
    )


def row_error(path: Path, line: int, error: InvalidInput, column: str = "") -> InvalidInput:
    """`error` (raised while building the row's job or pool) with the file, the line and the
    column, where one is named, in front."""
    text = error.text if isinstance(error.text, Msg) else msg(error.text, error.text)
    zh, en = (f"列 `{column}`：", f"column {column}: ") if column else ("", "")
    return InvalidInput(
        msg(f"{path.name} 第{line}行：{zh}{text.zh}", f"{path.name} line {line}: {en}{text.en}"),
        field=column or error.field or "row",
        line=line,
    )


def shown(cell: str) -> str:
    """A cell as a message quotes it: repr, cut to SHOWN_MAX characters (a 100 KiB cell would
    bury the message)."""
    return repr(cell) if len(cell) <= SHOWN_MAX else repr(cell[:SHOWN_MAX]) + "…"


def read_rows(
    path: Path,
    required: tuple[str, ...],
    *,
    rows_max: int,
    bad: CellError,
    field: str = "path",
) -> list[Row]:
    """All rows of `path` with their line numbers; a bad file or row stops with its place.
    Every row must have as many fields as the header, used by the loader or not."""
    text = read_text(path, field)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _header(reader, path, text)
    missing = [column for column in required if column not in header]
    if missing:
        raise InvalidInput(
            msg(
                f"{path.name} 第1行：缺少列 {'、'.join(missing)}",
                f"{path.name} line 1: missing column(s) {', '.join(missing)}",
            ),
            field="header",
        )
    rows: list[Row] = []
    for cells in _records(reader, path, text, header):
        if len(rows) >= rows_max:
            raise InvalidInput(
                msg(f"{path.name}：超过 {rows_max} 行", f"{path.name}: more than {rows_max} rows"),
                field="rows",
            )
        if len(cells) != len(header):
            problem = msg(
                f"有 {len(cells)} 个字段，表头有 {len(header)} 个",
                f"has {len(cells)} fields, the header {len(header)}",
            )
            raise bad(path, reader.line_num, "row", problem)
        rows.append((reader.line_num, dict(zip(header, cells, strict=True))))
    return rows


def _header(reader: Reader, path: Path, text: str) -> list[str]:
    """The first non-blank record (none: an empty header, so every column is missing)."""
    return next(_records(reader, path, text, []), [])


def _records(reader: Reader, path: Path, text: str, header: list[str]) -> Iterator[list[str]]:
    """The non-blank records; malformed CSV stops at the line where its record began."""
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _malformed(path, start, str(error), text, header) from None
        if cells:
            yield cells


def _malformed(path: Path, line: int, reason: str, text: str, header: list[str]) -> InvalidInput:
    problem = next(
        (ours for theirs, ours in _CSV_REASONS.items() if reason.startswith(theirs)),
        msg(f"“{reason}”", reason),
    )
    column = _long_cell_column(text, line, header) if reason.startswith(_LONG_CELL) else None
    where_zh, where_en = (f"列 `{column}` ", f"column {column}: ") if column else ("", "")
    return InvalidInput(
        msg(
            f"{path.name} 第{line}行：{where_zh}不是有效的 CSV：{problem.zh}",
            f"{path.name} line {line}: {where_en}not valid CSV: {problem.en}",
        ),
        field=column or "row",
        line=line,
    )


def _long_cell_column(text: str, line: int, header: list[str]) -> str | None:
    """The column of the over-long cell on `line` (one that starts there and ends on it)."""
    lines = text_lines(text)
    lengths = _cell_lengths(lines[line - 1]) if 0 < line <= len(lines) else []
    longest = max(range(len(lengths)), key=lengths.__getitem__, default=None)
    if longest is None or lengths[longest] <= csv.field_size_limit():
        return None
    return header[longest] if longest < len(header) else f"{longest + 1}"


def _cell_lengths(raw: str) -> list[int]:
    """The characters of each comma-separated cell of one line, quotes counted: enough to
    tell which cell is past the csv module's limit, which stops it from parsing the line."""
    lengths, length, quoted = [], 0, False
    for char in raw:
        if char == "," and not quoted:
            lengths.append(length)
            length = 0
            continue
        quoted ^= char == '"'
        length += 1
    return [*lengths, length]


def int_cell(
    row: dict[str, str], column: str, line: int, path: Path, bounds: tuple[int, int], bad: CellError
) -> int:
    """The cell as an integer within `bounds` (inclusive), or `bad`'s error for it."""
    text, (low, high) = row[column].strip(), bounds
    try:
        value = int(text)
    except ValueError:
        cell = shown(text)
        raise bad(
            path, line, column, msg(f"须为整数，收到 {cell}", f"must be an integer, got {cell}")
        ) from None
    if not low <= value <= high:
        got = str(value) if len(text) <= SHOWN_MAX else shown(text)
        problem = msg(
            f"须在 {low} 至 {high} 之间，收到 {got}", f"must be in [{low}, {high}], got {got}"
        )
        raise bad(path, line, column, problem)
    return value
