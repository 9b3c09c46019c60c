"""The API's shared request types: every free-text field of every request body is one of these
string types, so the character rule of `domain.text` holds everywhere without a check per field;
and money is `Fen`, a JSON integer with a documented bound.

Numbers and booleans are strict (see `api.schemas.Strict`, the base of every request body): an
integer field takes a JSON integer only (not `true`, not `"500"`, not `5.0` or `1e3`), a
number field a JSON number (not a string or a boolean; never NaN or Infinity), a boolean field
`true` or `false` only. Dates and instants are the exception: JSON has no such type, so they
are read from their ISO text (`CalendarDate`, `Instant`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, Field, Strict, StringConstraints
from pydantic_core import PydanticCustomError

from suanli.domain.money import FEN_MAX
from suanli.domain.text import (
    DATE_MAX,
    DATE_MIN,
    TEXT_ALLOWED_CONTROLS,
    describe,
    first_bad_character,
)

BAD_CHARACTER = "text_character"  # the pydantic error type; api.errors translates it


def _checked(value: str, allowed: frozenset[str]) -> str:
    bad = first_bad_character(value, allowed)
    if bad is not None:
        raise PydanticCustomError(
            BAD_CHARACTER,
            "holds a character that is not allowed, {char}",
            {"char": describe(bad)},
        )
    return value


def _line(value: str) -> str:
    return _checked(value, frozenset())


def _text(value: str) -> str:
    return _checked(value.replace("\r\n", "\n").replace("\r", "\n"), TEXT_ALLOWED_CONTROLS)


# One line: names, ids, references, labels. No control character at all.
Line = Annotated[str, AfterValidator(_line)]
# Several lines: descriptions, commands, reasons. Tab and newline only (CR LF becomes LF).
Text = Annotated[str, AfterValidator(_text)]

# An id of an object (a job, an organisation, a connection): short, one line.
Identifier = Annotated[Line, StringConstraints(min_length=1, max_length=64)]
# A short key or value in a small map (software stack → version, label → value).
Short = Annotated[Line, StringConstraints(max_length=200)]
ShortKey = Annotated[Line, StringConstraints(min_length=1, max_length=60)]


def _env_name(value: str) -> str:
    if value.startswith("SUANLI_"):
        raise PydanticCustomError(
            "env_reserved", "SUANLI_ variables are set by the platform: {name}", {"name": value}
        )
    return value


# A POSIX environment variable name, outside the platform's own SUANLI_ namespace.
EnvName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"),
    AfterValidator(_env_name),
]
EnvValue = Annotated[Text, StringConstraints(max_length=4_000)]


def _calendar_date(value: date) -> date:
    if not DATE_MIN <= value <= DATE_MAX:
        raise PydanticCustomError(
            "date_range",
            "must be between {low} and {high}",
            {"low": DATE_MIN.isoformat(), "high": DATE_MAX.isoformat()},
        )
    return value


def _instant(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise PydanticCustomError("timezone_aware", "needs a time zone, e.g. +08:00", {})
    _calendar_date(value.date())  # before any conversion: year 1 or 9999 overflows one
    return value


# A calendar date a person typed (Beijing calendar), in a sane range. Read from its text
# (`2025-07-01`) in a strict request body too: JSON has no date type.
CalendarDate = Annotated[date, Strict(False), AfterValidator(_calendar_date)]
# An instant with its time zone, in a sane range; from its ISO text, like a date.
Instant = Annotated[datetime, Strict(False), AfterValidator(_instant)]

# An amount of money in integer fen (分): a JSON integer (never a string, a boolean or a
# number with a fraction or an exponent), at most FEN_MAX (10**15 fen, 10 trillion yuan, below
# 2**53 so a JavaScript client reads it exactly). A field adds its own lower bound (ge=0, gt=0)
# or leaves it to the service, which words a refusal of its own (`invalid_amount`).
Fen = Annotated[int, Strict(), Field(le=FEN_MAX)]
