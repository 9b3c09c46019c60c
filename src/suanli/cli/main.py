"""The `suanli` command: one Typer app; each area lives in its own module."""

from __future__ import annotations

import typer

from suanli.cli import bench, connections, identity, ledger, scenes, simulate, vouchers
from suanli.cli.client import jobs_app, orgs_app, pools_app
from suanli.cli.demo import demo_command
from suanli.cli.platform import admin_app, catalog_app, db_app, serve

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
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(catalog_app, name="catalog")
app.add_typer(orgs_app, name="orgs")
app.add_typer(pools_app, name="pools")
app.add_typer(jobs_app, name="jobs")
app.add_typer(identity.users_app, name="users")
app.add_typer(identity.tokens_app, name="tokens")
app.add_typer(identity.audit_app, name="audit")
orgs_app.add_typer(identity.review_app, name="review")
orgs_app.command("register")(identity.orgs_register)
orgs_app.command("suspend")(identity.orgs_suspend)
orgs_app.command("reinstate")(identity.orgs_reinstate)
app.command("login")(identity.login)
app.command("logout")(identity.logout)
app.command("serve")(serve)
app.command("demo")(demo_command)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
