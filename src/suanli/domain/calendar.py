"""Beijing time, the one calendar of the platform (UTC+8, no daylight saving).

The rule (docs/architecture.md): a calendar date a person types is a Beijing date and stays a
date (`2026-12-06`); an instant is stored as UTC and shown with +08:00. Months of statements,
validity dates, deadlines and ages all count Beijing calendar days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "CST")


def in_beijing(instant: datetime) -> datetime:
    """The same instant, shown in Beijing time (a naive value is taken as UTC)."""
    aware = instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
    return aware.astimezone(BEIJING)


def beijing_date(instant: datetime) -> date:
    """The Beijing calendar date of an instant: what a person in the city calls that day."""
    return in_beijing(instant).date()


def beijing_midnight(day: date) -> datetime:
    """The instant a Beijing calendar day starts."""
    return datetime(day.year, day.month, day.day, tzinfo=BEIJING)


def shown(instant: datetime) -> str:
    """An instant for messages and files: `2026-12-06 00:00:00+08:00`."""
    return in_beijing(instant).isoformat(sep=" ", timespec="seconds")
