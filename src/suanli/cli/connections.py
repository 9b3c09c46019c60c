"""`suanli connections`: a provider attaches its Ray or Slurm cluster (thin, over the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from suanli.cli.common import (
    ApiClient,
    ApiUrlOption,
    JsonOption,
    LimitOption,
    OffsetOption,
    TokenOption,
    console,
    fail,
    parse_pairs,
    print_json,
)
from suanli.cli.render import Column, code_word, print_table, words
from suanli.i18n import t

app = typer.Typer(help="Cluster connections (Ray, Slurm)", no_args_is_help=True)
CREDENTIALS_FILE_BYTES_MAX = 16 * 1024


@app.command("add")
def add(
    name: str = typer.Option(..., "--name"),
    kind: str = typer.Option(..., "--kind", help="ray | slurm"),
    address: str = typer.Option(
        "", "--address", help="Ray: dashboard URL; Slurm: path of the cluster's slurm.conf"
    ),
    option: list[str] = typer.Option(
        None, "--option", "-o", help="KEY=VALUE, repeatable; VALUE may be JSON (5, true, {...})"
    ),
    credentials_file: Path | None = typer.Option(
        None, "--credentials-file", help='JSON file, e.g. {"token": "..."}; stored encrypted'
    ),
    provider_id: str | None = typer.Option(None, "--provider-id", help="operator only"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Connects a cluster; suanli checks it (health, credentials, capacity) before saving."""
    body = {
        "name": name,
        "kind": kind,
        "address": address,
        "options": _options(option),
        "credentials": _credentials(credentials_file),
        "provider_id": provider_id,
    }
    result = ApiClient(api_url, token).request("POST", "/v1/connections", json=body)
    _show(result, json_output)


@app.command("list")
def list_(
    review_state: str | None = typer.Option(
        None, "--review-state", help="pending | approved | rejected"
    ),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Lists your cluster connections with their health and free cards (the operator: every
    provider's; `--review-state pending` is its review queue)."""
    params: dict[str, Any] = {"offset": offset, "limit": limit}
    if review_state:
        params["review_state"] = review_state
    page = ApiClient(api_url, token).request("GET", "/v1/connections", params=params)
    if json_output:
        print_json(page)
        return
    columns = (
        Column(t("编号", "id"), is_id=True),
        Column(t("类型", "kind")),
        Column(t("健康", "healthy"), fold=True),
        Column(t("空闲卡", "free cards")),
        Column(t("名称", "name"), fold=True),
        Column(t("地址", "address"), fold=True),
    )
    rows = [
        (
            item["id"],
            code_word(item["kind"]),
            words(item["healthy"]) + ("" if item["healthy"] else f" {item['last_error'][:60]}"),
            _cards(item),
            item["name"],
            item["address"],
        )
        for item in page["items"]
    ]
    title = t(f"集群接入 (共 {page['total']})", f"Connections ({page['total']} in all)")
    print_table(columns, rows, title)


@app.command("show")
def show(
    connection_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Shows one connection (never its credentials)."""
    _show(ApiClient(api_url, token).request("GET", f"/v1/connections/{connection_id}"), json_output)


@app.command("check")
def check(
    connection_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Checks health and capacity now; exits 7 when the cluster is not healthy."""
    path = f"/v1/connections/{connection_id}/check"
    result = ApiClient(api_url, token).request("POST", path)
    _show(result, json_output)
    if not result["healthy"]:
        raise typer.Exit(7)


@app.command("approve")
def approve(
    connection_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Operator: approves a provider's pending connection, so pools can be listed on it."""
    path = f"/v1/connections/{connection_id}/approve"
    _show(ApiClient(api_url, token).request("POST", path, json={}), json_output)


@app.command("reject")
def reject(
    connection_id: str,
    reason: str = typer.Option(..., "--reason", help="why; the provider sees it"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Operator: rejects a provider's pending connection, with a reason."""
    path = f"/v1/connections/{connection_id}/reject"
    body = {"reason": reason}
    _show(ApiClient(api_url, token).request("POST", path, json=body), json_output)


@app.command("remove")
def remove(
    connection_id: str, api_url: str | None = ApiUrlOption, token: str | None = TokenOption
) -> None:
    """Removes a connection and its pools (refused while one of them runs a job)."""
    result = ApiClient(api_url, token).request("DELETE", f"/v1/connections/{connection_id}")
    removed = ", ".join(result["pools_removed"]) or t("无", "none")
    console.print(
        t(f"已移除 {result['id']}; 资源池: {removed}", f"removed {result['id']}; pools: {removed}")
    )


def _options(pairs: list[str] | None) -> dict[str, Any]:
    """KEY=VALUE into options; a VALUE that parses as JSON is taken as JSON (5, true, {...})."""
    options: dict[str, Any] = {}
    for key, raw in parse_pairs(pairs, "--option").items():
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


def _credentials(path: Path | None) -> dict[str, str]:
    # From a file, not a flag: a flag's value ends up in shell history and `ps`.
    if path is None:
        return {}
    text = _credentials_text(path)
    try:
        values = json.loads(text)
    except ValueError as error:
        fail(
            t(
                f"--credentials-file {path} 不是 JSON：{error}",
                f"--credentials-file {path} is not JSON: {error}",
            )
        )
    if not isinstance(values, dict):
        fail(
            t(
                f"--credentials-file {path} 应为 JSON 对象",
                f"--credentials-file {path} must hold a JSON object",
            )
        )
    return {str(key): str(value) for key, value in values.items()}


def _credentials_text(path: Path) -> str:
    """The file's text, or a message naming the option and exit 2: a missing file, a folder,
    one too big to be credentials or not UTF-8 is the user's to fix, never a traceback."""
    try:
        if not path.is_file():
            fail(
                t(
                    f"--credentials-file {path} 不存在或不是文件",
                    f"--credentials-file {path} does not exist or is not a file",
                )
            )
        with path.open("rb") as handle:
            data = handle.read(CREDENTIALS_FILE_BYTES_MAX + 1)
    except OSError as error:
        fail(
            t(
                f"无法读取 --credentials-file {path}：{error.strerror or error}",
                f"cannot read --credentials-file {path}: {error.strerror or error}",
            )
        )
    if len(data) > CREDENTIALS_FILE_BYTES_MAX:
        fail(
            t(
                f"--credentials-file {path} 超过 {CREDENTIALS_FILE_BYTES_MAX} 字节",
                f"--credentials-file {path} is over {CREDENTIALS_FILE_BYTES_MAX} bytes",
            )
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        fail(
            t(
                f"--credentials-file {path} 不是 UTF-8 文本",
                f"--credentials-file {path} is not UTF-8 text",
            )
        )


def _show(result: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(result)
        return
    state = (
        f"[green]{t('正常', 'healthy')}[/]"
        if result["healthy"]
        else f"[red]{t('异常', 'unhealthy')}[/] {result['last_error']}"
    )
    console.print(f"{result['id']}  {result['name']} ({result['kind']} {result['address']})")
    console.print(
        t(f"  {state}；空闲卡：{_cards(result)}", f"  {state}; free cards: {_cards(result)}")
    )
    review = result.get("review_state", "approved")
    if review != "approved":
        console.print(
            t(
                f"  平台审核: {review} {result.get('review_reason', '')}",
                f"  operator review: {review} {result.get('review_reason', '')}",
            )
        )


def _cards(item: dict[str, Any]) -> str:
    return ", ".join(f"{model} {cards}" for model, cards in sorted(item["capacity"].items()))
