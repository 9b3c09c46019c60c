"""The CSV formula guard is reversible: whatever a stored text starts with (a formula lead,
apostrophes, or apostrophes before a lead), taking the guard off gives it back exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from suanli.services.spreadsheets import FORMULA_LEADS, csv_safe, csv_unescaped

LEADS = "".join(FORMULA_LEADS)


@given(st.text(alphabet=f"'{LEADS}a 视", max_size=8))
def test_taking_the_guard_off_gives_back_any_text(value: str) -> None:
    assert csv_unescaped(csv_safe(value)) == value


@given(st.text(alphabet=f"'{LEADS}a 视", max_size=8))
def test_no_guarded_cell_starts_with_a_formula_lead(value: str) -> None:
    assert not csv_safe(value).startswith(FORMULA_LEADS)


def test_a_text_with_apostrophes_before_a_lead_gets_one_more_and_plain_ones_none() -> None:
    assert csv_safe("'=already") == "''=already"
    assert csv_unescaped("''=already") == "'=already"
    assert [csv_safe(value) for value in ("'quoted", "'", "''", "a'=")] == [
        "'quoted",
        "'",
        "''",
        "a'=",
    ]
