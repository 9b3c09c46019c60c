"""CLI commands for scenes."""

from __future__ import annotations

import typer

app = typer.Typer(help="scenes", no_args_is_help=True)
