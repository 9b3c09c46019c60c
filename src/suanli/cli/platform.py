"""Commands that run on this machine against the database: db, admin, catalog, serve.

The database, bootstrap and service modules (SQLAlchemy, Alembic, NumPy, FastAPI...) are
imported inside the commands that use them, so `--help` and `catalog` start without them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from suanli.cli.common import JsonOption, console, handle_errors, print_json, settings_from_env
from suanli.cli.render import Column, print_table
from suanli.domain.accelerators import CATALOG, CATALOG_VERSION, Precision
from suanli.i18n import t

db_app = typer.Typer(help="Database", no_args_is_help=True)
admin_app = typer.Typer(help="Administration", no_args_is_help=True)
catalog_app = typer.Typer(help="Accelerator catalog", no_args_is_help=True)

DataDirOption = typer.Option(None, "--data-dir", envvar="SUANLI_DATA_DIR", help="data directory")


@db_app.command("upgrade")
@handle_errors
def db_upgrade(data_dir: Path | None = DataDirOption) -> None:
    """Runs the migrations to the newest schema (SQLite or PostgreSQL)."""
    from suanli.adapters.db.migrate import upgrade

    settings = settings_from_env(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    console.print(t("数据库已升级到最新版本", "database upgraded to head"))


@admin_app.command("bootstrap")
@handle_errors
def admin_bootstrap(
    name: str = typer.Option("平台运营方", "--name", help="operator organisation name"),
    login: str = typer.Option("admin", "--login", help="the first operator admin's login"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="also set its password, read from standard input"
    ),
    data_dir: Path | None = DataDirOption,
    json_output: bool = JsonOption,
) -> None:
    """Creates the operator organisation and its first admin, and prints that admin's API
    token (shown once); with --password-stdin the admin can also sign in (suanli login)."""
    from suanli.bootstrap import bootstrap
    from suanli.services.organisations import bootstrap_operator

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    app = bootstrap(settings_from_env(data_dir=data_dir))
    try:
        with app.db.session() as session:
            issued = bootstrap_operator(
                session, app.clock, name=name, login=login, password=password
            )
    finally:
        app.close()
    if json_output:
        print_json(
            {
                "org_id": issued.org_id,
                "user_id": issued.user_id,
                "login": login,
                "token": issued.token,
            }
        )
        return
    console.print(
        t("运营方已创建。令牌只显示这一次:", "operator created; the token is shown once:")
    )
    print(issued.token)


@admin_app.command("set-password")
@handle_errors
def admin_set_password(
    login: str = typer.Option(..., "--login"),
    password_stdin: bool = typer.Option(False, "--password-stdin"),
    data_dir: Path | None = DataDirOption,
) -> None:
    """On the platform's own machine: sets a user's password (a locked-out operator admin);
    the user's sessions end."""
    from suanli.bootstrap import bootstrap
    from suanli.services.accounts import set_password_locally

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = str(
            typer.prompt(t("新密码", "new password"), hide_input=True, confirmation_prompt=True)
        )
    app = bootstrap(settings_from_env(data_dir=data_dir))
    try:
        with app.db.session() as session:
            user = set_password_locally(session, app.clock, login, password)
    finally:
        app.close()
    console.print(t(f"已为 {user.login} 设置密码", f"password set for {user.login}"))


@catalog_app.command("accelerators")
def catalog_accelerators(json_output: bool = JsonOption) -> None:
    """Lists the accelerator catalog with its sources."""
    if json_output:
        from suanli.api.routes_core import catalog_entry

        print_json(
            {"version": CATALOG_VERSION, "accelerators": [catalog_entry(a) for a in CATALOG]}
        )
        return
    precisions = ("bf16", "fp16", "fp8", "int8", "fp32", "tf32")  # the most asked first
    columns = (
        Column(t("型号", "model"), is_id=True),
        Column(t("厂商", "vendor")),
        Column(t("国产", "domestic")),
        Column("GiB", justify="right"),
        *[Column(p, justify="right") for p in precisions],
        Column("GB/s", justify="right"),
        Column(t("软件栈", "stack"), fold=True),
    )
    rows = [
        (
            a.model,
            a.vendor,
            "✓" if a.domestic else "",
            _figure(a.memory_gib),
            *[_figure(a.tflops.get(Precision(p))) for p in precisions],
            _figure(a.memory_bandwidth_gbs),
            a.software_stack,
        )
        for a in CATALOG
    ]
    title = t(
        f"加速卡目录 v{CATALOG_VERSION} (算力单位 TFLOPS)",
        f"Accelerator catalog v{CATALOG_VERSION} (TFLOPS)",
    )
    print_table(columns, rows, title)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@handle_errors
def serve(
    host: str | None = typer.Option(None, "--host", envvar="SUANLI_API_HOST"),
    port: int | None = typer.Option(None, "--port", envvar="SUANLI_API_PORT"),
    data_dir: Path | None = DataDirOption,
    role: str = typer.Option(
        "all",
        "--role",
        envvar="SUANLI_ROLE",
        help="all: API and scheduler; api: API only (any number of replicas); scheduler: "
        "the scheduling loop, one leader elected among such processes (PostgreSQL); it "
        "answers /healthz and /metrics only",
    ),
) -> None:
    """Runs the API, the scheduling loop and the local backend (see --role)."""
    from suanli.bootstrap import bootstrap
    from suanli.services.server import check_role, serve_forever, single_server_lock

    check_role(role)
    settings = settings_from_env(data_dir=data_dir, api_host=host, api_port=port)
    with single_server_lock(settings):
        serve_forever(bootstrap(settings), role)
