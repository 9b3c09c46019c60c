"""`suanli bench ledger`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the ledger benchmark command to the bench group."""
