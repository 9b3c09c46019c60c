"""Spreadsheets that open safely: every stored text is written as text.

openpyxl stores a string that starts with "=" as a formula, which Excel or WPS would run when
an agency opens an export (formula injection), and it refuses control characters outright.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet.worksheet import Worksheet

REPLACEMENT = "\ufffd"  # what stands for a character a workbook cannot hold


def append_text_row(sheet: Worksheet, values: Iterable[Any]) -> None:
    """Appends one row; strings stay strings, numbers stay numbers."""
    sheet.append([_storable(value) for value in values])
    for cell in sheet[sheet.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"


def _storable(value: Any) -> Any:
    return ILLEGAL_CHARACTERS_RE.sub(REPLACEMENT, value) if isinstance(value, str) else value
