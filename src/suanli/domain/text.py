"""The one rule for text a tenant sends: what characters it may hold, checked in one place.

Every free-text field (names, commands, titles, descriptions, references, CSV cells, ids in
paths) passes `clean_text` or `clean_line`, through the API's shared string types or the file
importers. PostgreSQL cannot store NUL, a lone surrogate cannot be encoded, and control
characters corrupt terminals, logs and spreadsheets, so all of them are refused here, before
any work is done, with the field named.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

from suanli.errors import InvalidInput
from suanli.i18n import msg

TEXT_ALLOWED_CONTROLS = frozenset("\t\n")  # multi-line text: tab and newline only
# Instants and calendar dates people can mean: anything outside is a typo or an attack on
# date arithmetic (year 1 minus a time zone, year 9999 plus a month).
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(2199, 12, 31)


# Bidirectional embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI)
# reorder what follows them wherever the text is shown, so a name or a command reads as
# something else in the portal, a terminal or a spreadsheet ("Trojan Source", CVE-2021-42574).
# The marks LRM, RLM and ALM stay allowed: they only hint, and right-to-left text needs them.
BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


def first_bad_character(value: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """The first character that is a control (other than `allowed`), a bidirectional
    control, a surrogate, or a non-character; None if there is none."""
    for char in value:
        if char in allowed:
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cs") or char in BIDI_CONTROLS or _is_noncharacter(char):
            return char
    return None


def _is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def describe(char: str) -> str:
    return f"U+{ord(char):04X}"


def clean_text(value: str, field: str) -> str:
    """Multi-line text: CR LF and lone CR become LF; tab and newline are the only controls."""
    normalised = value.replace("\r\n", "\n").replace("\r", "\n")
    _refuse_bad(normalised, field, TEXT_ALLOWED_CONTROLS)
    return normalised


def is_blank(value: str) -> bool:
    """Whether the text shows nothing: only spaces and invisible format characters (zero-width
    space, joiners, BOM, soft hyphen). A name of U+200B alone reads as empty everywhere."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in value)


def clean_line(value: str, field: str) -> str:
    """Single-line text (names, ids, references): no control character at all."""
    _refuse_bad(value, field, frozenset())
    return value


def _refuse_bad(value: str, field: str, allowed: frozenset[str]) -> None:
    bad = first_bad_character(value, allowed)
    if bad is None:
        return
    where = describe(bad)
    if "\t" in allowed:
        raise InvalidInput(
            msg(
                f"{field} 含有不允许的字符 {where}（只允许制表符和换行这两种控制字符）",
                f"{field} holds a character that is not allowed, {where} "
                "(tab and newline are the only control characters allowed)",
            ),
            field=field,
        )
    raise InvalidInput(
        msg(
            f"{field} 含有不允许的字符 {where}（控制字符、双向文字控制符、代理项和非字符都不允许）",
            f"{field} holds a character that is not allowed, {where} "
            "(no control characters, bidirectional controls, surrogates or non-characters)",
        ),
        field=field,
    )


def check_date(value: date, field: str) -> date:
    if not DATE_MIN <= value <= DATE_MAX:
        raise InvalidInput(
            msg(
                f"{field} 须在 {DATE_MIN.isoformat()} 至 {DATE_MAX.isoformat()} 之间",
                f"{field} must be between {DATE_MIN.isoformat()} and {DATE_MAX.isoformat()}",
            ),
            field=field,
        )
    return value


def check_instant(value: datetime, field: str) -> datetime:
    """An aware instant within the sane range (naive means UTC), converted to UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # Compare calendar dates first: astimezone() itself overflows at year 1 or 9999.
    check_date(value.date(), field)
    return value.astimezone(UTC)
