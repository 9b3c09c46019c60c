"""CLI commands for connections."""

from __future__ import annotations

import typer

app = typer.Typer(help="connections", no_args_is_help=True)
