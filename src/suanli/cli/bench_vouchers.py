"""`suanli bench vouchers`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the vouchers benchmark command to the bench group."""
