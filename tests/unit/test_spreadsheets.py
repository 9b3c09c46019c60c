"""Exported workbooks hold stored text as text: no formulas, no characters a workbook refuses."""

from __future__ import annotations

import io

import openpyxl
from openpyxl import Workbook

from suanli.services.spreadsheets import append_text_row, csv_safe, csv_unescaped


def test_a_row_keeps_numbers_and_turns_formula_like_and_illegal_text_into_plain_text() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    append_text_row(sheet, ["=1+1", 42, "bell\x07", None, "@SUM(A1)"])
    out = io.BytesIO()
    workbook.save(out)
    reread = openpyxl.load_workbook(io.BytesIO(out.getvalue())).active
    assert reread is not None
    cells = next(reread.iter_rows(min_row=1, max_row=1))
    assert [cell.value for cell in cells] == ["=1+1", 42, "bell\ufffd", None, "@SUM(A1)"]
    assert [cell.data_type for cell in cells] == ["s", "n", "s", "n", "s"]


def test_csv_cells_that_a_spreadsheet_would_run_get_an_apostrophe_that_import_takes_off() -> None:
    risky = ["=1+1", "+86 571", "-x", "@SUM(A1)", "\tpad"]
    assert [csv_safe(value) for value in risky] == ["'" + value for value in risky]
    assert [csv_unescaped(csv_safe(value)) for value in risky] == risky
    plain = ["智能客服", "2026-12-04", "'quoted", ""]
    assert [csv_safe(value) for value in plain] == plain
    assert [csv_unescaped(value) for value in plain] == plain
