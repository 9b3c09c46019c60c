"""Commands that run on this machine against the database: db, admin, catalog, serve."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from suanli.adapters.db.migrate import upgrade
from suanli.bootstrap import bootstrap
from suanli.cli.common import JsonOption, console, handle_errors, print_json, settings_from_env
from suanli.domain.accelerators import CATALOG, CATALOG_VERSION, Precision
from suanli.i18n import t
from suanli.services.organisations import bootstrap_operator

db_app = typer.Typer(help="Database / 数据库", no_args_is_help=True)
admin_app = typer.Typer(help="Administration / 管理", no_args_is_help=True)
catalog_app = typer.Typer(help="Accelerator catalog / 加速卡目录", no_args_is_help=True)

DataDirOption = typer.Option(None, "--data-dir", envvar="SUANLI_DATA_DIR", help="data directory")


@db_app.command("upgrade")
@handle_errors
def db_upgrade(data_dir: Path | None = DataDirOption) -> None:
    """Runs the migrations to the newest schema (SQLite or PostgreSQL)."""
    settings = settings_from_env(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    console.print(t("数据库已升级到最新版本", "database upgraded to head"))


@admin_app.command("bootstrap")
@handle_errors
def admin_bootstrap(
    name: str = typer.Option("平台运营方", "--name", help="operator organisation name"),
    data_dir: Path | None = DataDirOption,
    json_output: bool = JsonOption,
) -> None:
    """Creates the operator organisation and prints its token (shown once)."""
    app = bootstrap(settings_from_env(data_dir=data_dir))
    try:
        with app.db.session() as session:
            issued = bootstrap_operator(session, app.clock, name=name)
    finally:
        app.close()
    if json_output:
        print_json({"org_id": issued.org_id, "user_id": issued.user_id, "token": issued.token})
        return
    console.print(
        t("运营方已创建。令牌只显示这一次:", "operator created; the token is shown once:")
    )
    print(issued.token)


@catalog_app.command("accelerators")
def catalog_accelerators(json_output: bool = JsonOption) -> None:
    """Lists the accelerator catalog with its sources."""
    if json_output:
        from suanli.api.routes_core import catalog_entry

        print_json(
            {"version": CATALOG_VERSION, "accelerators": [catalog_entry(a) for a in CATALOG]}
        )
        return
    table = Table(
        title=t(f"加速卡目录 v{CATALOG_VERSION}", f"Accelerator catalog v{CATALOG_VERSION}")
    )
    for column in (
        "vendor",
        "model",
        "国产",
        "GiB",
        "GB/s",
        *[p.value for p in Precision],
        "stack",
    ):
        table.add_column(column)
    for a in CATALOG:
        figures = [_figure(a.tflops.get(p)) for p in Precision]
        table.add_row(
            a.vendor,
            a.model,
            "✓" if a.domestic else "",
            _figure(a.memory_gib),
            _figure(a.memory_bandwidth_gbs),
            *figures,
            a.software_stack,
        )
    console.print(table)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def serve(
    host: str | None = typer.Option(None, "--host", envvar="SUANLI_API_HOST"),
    port: int | None = typer.Option(None, "--port", envvar="SUANLI_API_PORT"),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Runs the API, the scheduling loop and the local backend in one process."""
    from suanli.services.server import serve_forever

    settings = settings_from_env(data_dir=data_dir, api_host=host, api_port=port)
    serve_forever(bootstrap(settings))
