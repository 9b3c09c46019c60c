"""CLI commands for ledger."""

from __future__ import annotations

import typer

app = typer.Typer(help="ledger", no_args_is_help=True)
