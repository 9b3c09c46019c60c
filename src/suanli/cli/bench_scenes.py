"""`suanli bench scenes`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the scenes benchmark command to the bench group."""
