"""Spreadsheets that open safely: every stored text is written as text.

openpyxl stores a string that starts with "=" as a formula, which Excel or WPS would run when
an agency opens an export (formula injection), and it refuses control characters outright.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # openpyxl is imported when a workbook is written: CSV users never pay for it
    from openpyxl.worksheet.worksheet import Worksheet

REPLACEMENT = "\ufffd"  # what stands for a character a workbook cannot hold


def append_text_row(sheet: Worksheet, values: Iterable[Any]) -> None:
    """Appends one row; strings stay strings, numbers stay numbers."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    sheet.append([_storable(value, ILLEGAL_CHARACTERS_RE) for value in values])
    for cell in sheet[sheet.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"


def _storable(value: Any, illegal: re.Pattern[str]) -> Any:
    return illegal.sub(REPLACEMENT, value) if isinstance(value, str) else value


# A CSV cell starting with one of these is a formula to Excel and WPS (OWASP "CSV injection"):
# exports prefix it with an apostrophe, which the spreadsheet hides, and imports remove it.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def _guarded(value: str) -> bool:
    """Apostrophes (any number, none included) then a formula lead. A value that already
    starts with apostrophes before a lead ("'=x") gets one more, so that taking one off on
    import gives it back exactly; "'quoted" and every other text is written as it is."""
    return value.lstrip("'").startswith(FORMULA_LEADS)


def csv_safe(value: str) -> str:
    return "'" + value if _guarded(value) else value


def csv_unescaped(value: str) -> str:
    """The inverse of csv_safe: csv_unescaped(csv_safe(v)) == v for every text v."""
    return value[1:] if value.startswith("'") and _guarded(value[1:]) else value
