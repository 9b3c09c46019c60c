"""`suanli simulate`: trace-driven replay through the live policy code."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the `simulate` command to the root app."""
