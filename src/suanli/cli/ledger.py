"""`suanli ledger ...`: `check` and `expire` work on the database directly (the operator, on the
server); top-up, balance, statement, payout, refund and monthly talk to a running API.

The database and the ledger service are imported inside `check` and `expire`, so `--help` and
the API commands start without SQLAlchemy.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.cells import cell_len

from suanli.cli.common import (
    ApiClient,
    ApiUrlOption,
    JsonOption,
    LimitOption,
    OffsetOption,
    TokenOption,
    console,
    err_console,
    fail,
    handle_errors,
    print_json,
    settings_from_env,
)
from suanli.cli.render import Column, code_word, note_already_recorded, print_table
from suanli.domain.ledger import transfer_code_word
from suanli.domain.money import format_yuan
from suanli.errors import LedgerError
from suanli.i18n import t

if TYPE_CHECKING:
    from suanli.adapters.db.database import Database

app = typer.Typer(help="Ledger and wallets", no_args_is_help=True)

DataDirOption = typer.Option(None, "--data-dir", envvar="SUANLI_DATA_DIR", help="data directory")
DatabaseUrlOption = typer.Option(
    None, "--database-url", envvar="SUANLI_DATABASE_URL", help="defaults to the settings' database"
)
VIOLATIONS_PRINTED_MAX = 50


def _database(data_dir: Path | None, database_url: str | None) -> Database:
    from suanli.adapters.db.database import Database

    settings = settings_from_env(data_dir=data_dir, database_url=database_url)
    return Database(settings.resolved_database_url)


@app.command("check")
@handle_errors
def check(
    json_output: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
    token: str | None = typer.Option(
        None, "--token", help="check through a running server's API, as the operator"
    ),
    api_url: str | None = typer.Option(None, "--api-url", help="API base URL (with --token)"),
) -> None:
    """Rebuilds every balance from the transfers and checks every invariant.

    On the database itself, or with --token through a running server (GET /v1/ledger/check).
    Exits 6, naming the account, on any violation."""
    if token or api_url:
        result = ApiClient(api_url, token).request("GET", "/v1/ledger/check")
    else:
        result = _check_locally(data_dir, database_url)
    if json_output:
        print_json(result)
    else:
        _print_check(result)
    if not result["ok"]:
        raise typer.Exit(LedgerError.exit_code)


def _check_locally(data_dir: Path | None, database_url: str | None) -> dict[str, Any]:
    from suanli.services import ledger

    db = _database(data_dir, database_url)
    try:
        report = ledger.run_check(db)
    finally:
        db.dispose()
    return {
        "ok": report.ok,
        "accounts_checked": report.accounts_checked,
        "transfers_checked": report.transfers_checked,
        "holds_checked": report.holds_checked,
        "violations": [v.__dict__ for v in report.violations],
    }


def _print_check(result: dict[str, Any]) -> None:
    accounts, transfers = result["accounts_checked"], result["transfers_checked"]
    holds = result["holds_checked"]
    counts = t(
        f"{accounts} 个账户, {transfers} 笔转账, {holds} 笔冻结",
        f"{accounts} accounts, {transfers} transfers, {holds} holds",
    )
    if result["ok"]:
        console.print(t(f"账本一致: {counts}", f"ledger consistent: {counts}"))
        return
    for violation in result["violations"][:VIOLATIONS_PRINTED_MAX]:
        err_console.print(
            f"[red]{violation['subject_id']}[/red]: {violation['rule']}: {violation['detail']}",
            highlight=False,
        )
    err_console.print(t(f"账本不一致 ({counts})", f"ledger INCONSISTENT ({counts})"))


@app.command("expire")
@handle_errors
def expire(
    data_dir: Path | None = DataDirOption, database_url: str | None = DatabaseUrlOption
) -> None:
    """Expires every hold whose timeout has passed (the scheduler loop may call this too)."""
    from suanli.services import ledger
    from suanli.services.common import SystemClock
    from suanli.services.organisations import CLI

    db = _database(data_dir, database_url)
    try:
        count = ledger.expire_holds(db, SystemClock(), CLI)
    finally:
        db.dispose()
    console.print(t(f"已过期 {count} 笔冻结", f"expired {count} holds"))


@app.command("topup")
def topup(
    org: str = typer.Option(..., "--org", help="enterprise organisation id"),
    amount_fen: int = typer.Option(..., "--amount-fen", help="integer fen"),
    reference: str = typer.Option(..., "--reference", help="the bank or gateway reference"),
    currency: str = typer.Option("CNY", "--currency"),
    memo: str = typer.Option("", "--memo"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Records money received for an enterprise (operator). The same reference twice is one."""
    body = {
        "amount_fen": amount_fen,
        "currency": currency,
        "external_reference": reference,
        "memo": memo,
    }
    result = ApiClient(api_url, token).request("POST", f"/v1/wallets/{org}/top-ups", json=body)
    if not json_output:
        note_already_recorded(result, reference)
    _print_transfer(result, json_output)


@app.command("payout")
def payout(
    provider: str = typer.Option(..., "--provider", help="provider organisation id"),
    amount_fen: int = typer.Option(..., "--amount-fen"),
    reference: str = typer.Option(..., "--reference", help="the outgoing bank transfer"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Pays a provider from its receivable (operator)."""
    body = {"provider_id": provider, "amount_fen": amount_fen, "external_reference": reference}
    result = ApiClient(api_url, token).request("POST", "/v1/payouts", json=body)
    if not json_output:
        note_already_recorded(result, reference)
    _print_transfer(result, json_output)


@app.command("refund")
def refund(
    reason: str = typer.Option(..., "--reason"),
    transfer: str | None = typer.Option(None, "--transfer", help="reverse this transfer"),
    job: str | None = typer.Option(None, "--job", help="reverse this job's settlement"),
    amount_fen: int | None = typer.Option(None, "--amount-fen", help="default: all that is left"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Refunds by a reversing transfer (operator); nothing is ever edited."""
    body = {"transfer_id": transfer, "job_id": job, "amount_fen": amount_fen, "reason": reason}
    for result in ApiClient(api_url, token).request("POST", "/v1/refunds", json=body):
        _print_transfer(result, json_output)


def _print_transfer(result: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(result)
        return
    code, amount = transfer_code_word(result["code"]), format_yuan(result["amount_fen"])
    console.print(
        f"{result['id']}  {code}  {amount}  "
        f"{result['debit_account_id']} → {result['credit_account_id']}"
    )


@app.command("balance")
def balance(
    org: str = typer.Option(..., "--org"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Posted, pending (held) and available amounts of every account of an organisation."""
    accounts = ApiClient(api_url, token).request("GET", f"/v1/wallets/{org}/balances")
    if json_output:
        print_json(accounts)
        return
    columns = (
        Column(t("账户", "account"), is_id=True),
        Column(t("已入账", "posted"), justify="right"),
        Column(t("预留", "held"), justify="right"),
        Column(t("可用", "available"), justify="right"),
        Column(t("类型", "kind")),
    )
    rows = [
        (
            a["account_id"],
            format_yuan(a["posted_fen"]),
            format_yuan(a["pending_fen"]),
            format_yuan(a["available_fen"]),
            code_word(a["kind"]),
        )
        for a in accounts
    ]
    print_table(columns, rows, t("余额", "Balances"))


@app.command("statement")
def statement(
    org: str | None = typer.Option(None, "--org", help="the organisation's main account"),
    account: str | None = typer.Option(None, "--account", help="any account id"),
    since: str | None = typer.Option(None, "--since", help="ISO time with zone"),
    until: str | None = typer.Option(None, "--until", help="ISO time with zone"),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Transfers of an account, oldest first, a page at a time."""
    if (org is None) == (account is None):
        fail(t("请给出 --org 或 --account 之一", "give exactly one of --org and --account"))
    path = f"/v1/wallets/{org}/statement" if org else f"/v1/ledger/accounts/{account}/statement"
    params = {"offset": offset, "limit": limit, "since": since, "until": until}
    query = {key: value for key, value in params.items() if value is not None}
    page = ApiClient(api_url, token).request("GET", path, params=query)
    if json_output:
        print_json(page)
        return
    width = max((cell_len(transfer_code_word(line["code"])) for line in page["items"]), default=0)
    for line in page["items"]:
        code = transfer_code_word(line["code"])
        code += " " * (width - cell_len(code))
        console.print(
            f"{line['timestamp'][:19]}  {code} {format_yuan(line['signed_fen']):>14}"
            f"  {line['id']}  {line['reference']}",
            highlight=False,
        )
    console.print(f"{page['offset'] + len(page['items'])}/{page['total']}")


@app.command("monthly")
def monthly(
    org: str = typer.Option(..., "--org"),
    month: str = typer.Option(..., "--month", help="YYYY-MM (Beijing time)"),
    output_format: str = typer.Option("csv", "--format", help="csv | html | json"),
    output: Path | None = typer.Option(None, "--output", "-o", help="file (default: stdout)"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
) -> None:
    """The monthly statement: one line per job, with a subsidy column; CSV or printable HTML."""
    client = ApiClient(api_url, token)
    response = client.send(
        "GET", f"/v1/statements/{org}/{month}", params={"format": output_format}
    )  # a refusal is reported, typed, by send
    if output is None:
        print(response.text, end="")
        return
    output.write_text(response.text, encoding="utf-8")
    console.print(t(f"已写入 {output}", f"written to {output}"))
