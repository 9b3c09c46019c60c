"""CLI commands for vouchers."""

from __future__ import annotations

import typer

app = typer.Typer(help="vouchers", no_args_is_help=True)
