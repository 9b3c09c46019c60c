"""The `suanli` command: one Typer app; each area lives in its own module."""

from __future__ import annotations

import typer

from suanli.cli import bench, connections, ledger, scenes, simulate, vouchers

app = typer.Typer(
    help="suanli 算力: a city's AI compute market / 城市算力交易平台",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(bench.app, name="bench")
app.add_typer(ledger.app, name="ledger")
app.add_typer(vouchers.app, name="vouchers")
app.add_typer(scenes.app, name="scenes")
app.add_typer(connections.app, name="connections")
simulate.register(app)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
