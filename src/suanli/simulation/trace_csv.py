"""Reading a trace CSV for the simulator: every row with its line number, read whole before
anything is built from it, or an error that names the file, the line and the column.

Each loader passes the wording of its cell errors (`CellError`), so its messages stay as its
users know them: `column_error` for the Philly, Gavel and packing lists, its own for the
Alibaba 2023 trace; the reading, the header check, the row limit and the integer check are
shared here.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from suanli.errors import InvalidInput
from suanli.i18n import Msg, msg

CellError = Callable[[Path, int, str, Msg], InvalidInput]
Row = tuple[int, dict[str, str]]


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


def read_rows(
    path: Path,
    required: tuple[str, ...],
    *,
    rows_max: int,
    bad: CellError,
    field: str = "path",
) -> list[Row]:
    """All rows of `path` with their line numbers; a bad file or row stops with its place."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(
            msg(f"无法读取 {path}：“{error}”", f"cannot read {path}: {error}"), field=field
        ) from error
    reader = csv.DictReader(text.splitlines())
    missing = [column for column in required if column not in (reader.fieldnames or ())]
    if missing:
        raise InvalidInput(
            msg(
                f"{path.name} 第1行：缺少列 {'、'.join(missing)}",
                f"{path.name} line 1: missing column(s) {', '.join(missing)}",
            ),
            field="header",
        )
    rows: list[Row] = []
    for count, row in enumerate(reader, start=1):
        if count > rows_max:
            raise InvalidInput(
                msg(f"{path.name}：超过 {rows_max} 行", f"{path.name}: more than {rows_max} rows"),
                field="rows",
            )
        if None in row or any(row.get(column) is None for column in required):
            raise bad(
                path, reader.line_num, "row", msg("列数不对", "has the wrong number of fields")
            )
        rows.append((reader.line_num, row))
    return rows


def int_cell(
    row: dict[str, str], column: str, line: int, path: Path, bounds: tuple[int, int], bad: CellError
) -> int:
    """The cell as an integer within `bounds` (inclusive), or `bad`'s error for it."""
    text, (low, high) = row[column].strip(), bounds
    try:
        value = int(text)
    except ValueError:
        raise bad(
            path, line, column, msg(f"须为整数，收到 {text!r}", f"must be an integer, got {text!r}")
        ) from None
    if not low <= value <= high:
        problem = msg(
            f"须在 {low} 至 {high} 之间，收到 {value}", f"must be in [{low}, {high}], got {value}"
        )
        raise bad(path, line, column, problem)
    return value
