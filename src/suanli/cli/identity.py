"""Sign-in, users, API tokens, the review of organisations, and the audit log, over HTTP.

`suanli login` keeps a session (or, with --token, a token) in a file only its owner may read;
every other command then uses it when neither --token nor SUANLI_TOKEN is given.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from suanli.cli.common import (
    HTTP_TIMEOUT_S,
    SESSION_COOKIE,
    ApiClient,
    ApiUrlOption,
    JsonOption,
    LimitOption,
    OffsetOption,
    TokenOption,
    console,
    fail,
    forget_credentials,
    language_header,
    page_footer,
    print_json,
    save_credentials,
    settings_from_env,
)
from suanli.cli.render import Column, Field, code_word, print_record, print_table
from suanli.i18n import t

if TYPE_CHECKING:
    import httpx

users_app = typer.Typer(help="Users", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens", no_args_is_help=True)
review_app = typer.Typer(help="Review registrations", no_args_is_help=True)
audit_app = typer.Typer(help="Audit log", no_args_is_help=True)
PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="read the password from standard input (one line)"
)


def read_password(from_stdin: bool, prompt: str, *, confirm: bool = False) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


# ---------------------------------------------------------------------------------------------
# login / logout


def login(
    login_name: str | None = typer.Option(None, "--login", help="your login name"),
    password_stdin: bool = PASSWORD_STDIN,
    totp: str | None = typer.Option(None, "--totp", help="TOTP code, if you turned it on"),
    token: str | None = typer.Option(None, "--token", help="keep this API token instead"),
    api_url: str | None = ApiUrlOption,
) -> None:
    """Signs in and keeps the session (or --token) for later commands, readable by you only."""
    base = (api_url or settings_from_env().resolved_api_url).rstrip("/")
    if token:
        me = ApiClient(base, token).request("GET", "/v1/auth/me")
        path = save_credentials({"api_url": base, "token": token, "login": me["login"]})
        console.print(t(f"已保存令牌 ({me['login']}) 到 {path}", f"token kept in {path}"))
        return
    name = login_name or str(typer.prompt(t("登录名", "login")))
    password = read_password(password_stdin, t("密码", "password"))
    response = _post_login(base, name, password, totp)
    if response.status_code == 401 and response.json().get("error") == "totp_required":
        code = str(typer.prompt(t("动态口令", "TOTP code")))
        response = _post_login(base, name, password, code)
    if response.status_code >= 400:
        body = response.json()
        fail(f"HTTP {response.status_code}: {body.get('message')}", 3)
    body = response.json()
    path = save_credentials(
        {
            "api_url": base,
            "session": response.cookies.get(SESSION_COOKIE),
            "csrf_token": body["csrf_token"],
            "login": body["user"]["login"],
        }
    )
    user = body["user"]
    console.print(
        t(
            f"已登录: {user['display_name']} ({user['role']}, {user['org_name']})，凭据在 {path}",
            f"signed in as {user['display_name']} ({user['role']}, {user['org_name']}); "
            f"kept in {path}",
        )
    )


def _post_login(base: str, name: str, password: str, totp: str | None) -> httpx.Response:
    import httpx  # here, not at the top: the other commands' help starts without it

    body: dict[str, Any] = {"login": name, "password": password}
    if totp:
        body["totp"] = totp
    try:
        return httpx.post(
            f"{base}/v1/auth/login", json=body, headers=language_header(), timeout=HTTP_TIMEOUT_S
        )
    except httpx.HTTPError as error:
        fail(t(f"无法连接 API {base}：“{error}”", f"cannot reach the API at {base}: {error}"), 7)


def logout() -> None:
    """Ends the kept session on the server and forgets the credential file."""
    from suanli.cli.common import load_credentials

    stored = load_credentials()
    if stored and stored.get("session"):
        ApiClient(None, None).send("POST", "/v1/auth/logout")
    forgotten = forget_credentials()
    console.print(t("已退出", "signed out") if forgotten else t("本来就未登录", "not signed in"))


# ---------------------------------------------------------------------------------------------
# users


@users_app.command("me")
def users_me(
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Who you are signed in as."""
    me = ApiClient(api_url, token).request("GET", "/v1/auth/me")
    if json_output:
        print_json(me)
        return
    role = code_word(me["role"])
    console.print(f"{me['login']}  {me['display_name']}  {role}  {me['org_name']}", highlight=False)


@users_app.command("list")
def users_list(
    org_id: str | None = typer.Option(None, "--org", help="operator: another organisation"),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Lists your organisation's users (admins), a page at a time."""
    params: dict[str, Any] = {"offset": offset, "limit": limit}
    if org_id:
        params["org_id"] = org_id
    page = ApiClient(api_url, token).request("GET", "/v1/users", params=params)
    if json_output:
        print_json(page)
        return
    columns = (
        Column(t("编号", "id"), is_id=True),
        Column(t("登录名", "login")),
        Column(t("姓名", "name"), fold=True),
        Column(t("角色", "role")),
        Column(t("状态", "state")),
    )
    rows = [
        (
            u["id"],
            u["login"],
            u["display_name"],
            code_word(u["role"]),
            t("停用", "disabled") * u["disabled"],
        )
        for u in page["items"]
    ]
    print_table(columns, rows, page_footer(page))


@users_app.command("create")
def users_create(
    login_name: str = typer.Option(..., "--login"),
    display_name: str = typer.Option(..., "--name"),
    role: str = typer.Option("member", "--role", help="admin | member | finance | viewer"),
    phone: str = typer.Option("", "--phone"),
    email: str = typer.Option("", "--email"),
    org_id: str | None = typer.Option(None, "--org", help="operator: another organisation"),
    password_stdin: bool = PASSWORD_STDIN,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Adds a user with a first password (they change it with `suanli users password`)."""
    password = read_password(password_stdin, t("初始密码", "first password"), confirm=True)
    body = {
        "login": login_name,
        "display_name": display_name,
        "role": role,
        "password": password,
        "phone": phone,
        "email": email,
        "org_id": org_id,
    }
    _print_user(ApiClient(api_url, token).request("POST", "/v1/users", json=body), json_output)


@users_app.command("update")
def users_update(
    user_id: str,
    role: str | None = typer.Option(None, "--role"),
    display_name: str | None = typer.Option(None, "--name"),
    disabled: bool | None = typer.Option(None, "--disable/--enable"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Changes a user's role or name, or disables (ends its sessions) or enables it."""
    body = {"role": role, "display_name": display_name, "disabled": disabled}
    body = {key: value for key, value in body.items() if value is not None}
    if not body:
        fail(t("没有要修改的字段", "nothing to change: --role, --name or --disable/--enable"))
    user = ApiClient(api_url, token).request("PATCH", f"/v1/users/{user_id}", json=body)
    _print_user(user, json_output)


@users_app.command("reset-password")
def users_reset_password(
    user_id: str,
    password_stdin: bool = PASSWORD_STDIN,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """An admin sets a user's password; that user's sessions end."""
    password = read_password(password_stdin, t("新密码", "new password"), confirm=True)
    body = {"new_password": password}
    path = f"/v1/users/{user_id}/password"
    _print_sessions_ended(ApiClient(api_url, token).request("POST", path, json=body), json_output)


@users_app.command("sign-out")
def users_sign_out(
    user_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Ends every session of a user."""
    ended = ApiClient(api_url, token).request("POST", f"/v1/users/{user_id}/sign-out")
    _print_sessions_ended(ended, json_output)


@users_app.command("password")
def users_password(
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="two lines: the current password, then the new one"
    ),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Changes your own password; your other sessions end."""
    current = read_password(password_stdin, t("当前密码", "current password"))
    new = read_password(password_stdin, t("新密码", "new password"), confirm=True)
    body = {"current_password": current, "new_password": new}
    ended = ApiClient(api_url, token).request("POST", "/v1/auth/password", json=body)
    _print_sessions_ended(ended, json_output)


@users_app.command("sign-out-everywhere")
def users_sign_out_everywhere(
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Ends all your sessions, everywhere (API tokens stay valid)."""
    ended = ApiClient(api_url, token).request("POST", "/v1/auth/sign-out-everywhere")
    _print_sessions_ended(ended, json_output)


USER_FIELDS = (
    Field("id", "编号", "id"),
    Field("login", "登录名", "login"),
    Field("display_name", "姓名", "name"),
    Field("role", "角色", "role", code_word),
    Field("disabled", "已停用", "disabled"),
)


def _print_user(user: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(user)
        return
    print_record(user, USER_FIELDS)


def _print_sessions_ended(result: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(result)
        return
    ended = result["sessions_ended"]
    console.print(t(f"已结束 {ended} 个会话", f"{ended} session(s) ended"))


# ---------------------------------------------------------------------------------------------
# tokens


@tokens_app.command("create")
def tokens_create(
    name: str = typer.Option(..., "--name"),
    scopes: list[str] = typer.Option(
        None, "--scope", help="read, write, jobs, wallet, vouchers, scenes, pools; repeatable"
    ),
    days: int = typer.Option(90, "--days", help="expiry, 1..365 days"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Creates one of your API tokens; it is printed once."""
    body = {"name": name, "scopes": scopes or ["read", "write"], "expires_in_days": days}
    issued = ApiClient(api_url, token).request("POST", "/v1/tokens", json=body)
    if json_output:
        print_json(issued)
        return
    console.print(
        t(
            f"{issued['id']} ({', '.join(issued['scopes'])})，到期 {issued['expires_at']}；"
            "令牌只显示这一次:",
            f"{issued['id']} ({', '.join(issued['scopes'])}), expires {issued['expires_at']}; "
            "the token is shown once:",
        )
    )
    print(issued["token"])


@tokens_app.command("list")
def tokens_list(
    user_id: str | None = typer.Option(None, "--user", help="admins: a user of yours"),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Lists your tokens (never the tokens themselves): scopes, expiry, last use; a page at a
    time."""
    params: dict[str, Any] = {"offset": offset, "limit": limit}
    if user_id:
        params["user_id"] = user_id
    page = ApiClient(api_url, token).request("GET", "/v1/tokens", params=params)
    if json_output:
        print_json(page)
        return
    columns = (
        Column(t("编号", "id"), is_id=True),
        Column(t("名称", "name"), fold=True),
        Column(t("权限", "scopes"), fold=True),
        Column(t("到期", "expires")),
        Column(t("最近使用", "last used")),
        Column(t("状态", "state")),
        Column(t("前缀", "prefix")),
    )
    rows = [
        (
            row["id"],
            row["name"],
            ",".join(code_word(scope) for scope in row["scopes"]),
            row["expires_at"][:10],
            (row["last_used_at"] or "—")[:16],
            t("已撤销", "revoked") if row["revoked"] else "",
            row["prefix"] + "…",
        )
        for row in page["items"]
    ]
    print_table(columns, rows, page_footer(page))


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: str, api_url: str | None = ApiUrlOption, token: str | None = TokenOption
) -> None:
    """Revokes a token at once."""
    ApiClient(api_url, token).request("DELETE", f"/v1/tokens/{token_id}")
    console.print(t(f"已撤销 {token_id}", f"revoked {token_id}"))


# ---------------------------------------------------------------------------------------------
# organisations: self-registration, review, suspension


def orgs_register(
    name: str = typer.Option(..., "--name", help="legal name"),
    kind: str = typer.Option(..., "--kind", help="enterprise | provider"),
    credit_code: str = typer.Option(..., "--credit-code", help="unified social credit code"),
    region: str = typer.Option(..., "--region", help="province/city/district"),
    contact_name: str = typer.Option(..., "--contact-name"),
    contact_phone: str = typer.Option("", "--contact-phone"),
    contact_email: str = typer.Option("", "--contact-email"),
    admin_login: str = typer.Option(..., "--admin-login"),
    admin_name: str = typer.Option(..., "--admin-name"),
    password_stdin: bool = PASSWORD_STDIN,
    api_url: str | None = ApiUrlOption,
) -> None:
    """Registers your enterprise or provider (no sign-in needed); it waits for review."""
    password = read_password(password_stdin, t("管理员密码", "admin password"), confirm=True)
    body = {
        "name": name,
        "kind": kind,
        "credit_code": credit_code,
        "region": region,
        "contact": {"name": contact_name, "phone": contact_phone, "email": contact_email},
        "admin": {"login": admin_login, "display_name": admin_name, "password": password},
    }
    result = ApiClient(api_url, None, anonymous=True).request(
        "POST", "/v1/registrations", json=body
    )
    org = result["organisation"]
    state = code_word(org["state"])
    console.print(
        t(
            f"已提交: {org['id']}（{state}），等待平台审核",
            f"registered {org['id']} ({state}); waiting for the operator's review",
        )
    )


@review_app.command("list")
def review_list(
    state: str = typer.Option("pending", "--state", help="pending | rejected | active"),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """The organisations waiting for review (operator), a page at a time, oldest first."""
    params = {"state": state, "offset": offset, "limit": limit}
    page = ApiClient(api_url, token).request("GET", "/v1/organisations", params=params)
    if json_output:
        print_json(page)
        return
    for org in page["items"]:
        console.print(
            f"{org['id']}  {org['kind']:<10} {org['credit_code'] or '-'}  {org['name']}  "
            f"{org['contact_name']} {org['contact_phone']}"
        )


@review_app.command("approve")
def review_approve(
    org_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Approves a registration: the organisation may act from now on."""
    org = ApiClient(api_url, token).request("POST", f"/v1/organisations/{org_id}/approve")
    _print_org(org, json_output)


@review_app.command("reject")
def review_reject(
    org_id: str,
    reason: str = typer.Option(..., "--reason"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Rejects a registration with a reason the applicant sees."""
    path = f"/v1/organisations/{org_id}/reject"
    _print_org(
        ApiClient(api_url, token).request("POST", path, json={"reason": reason}), json_output
    )


def orgs_suspend(
    org_id: str,
    reason: str = typer.Option(..., "--reason"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Suspends an organisation: its sessions and tokens stop at once."""
    path = f"/v1/organisations/{org_id}/suspend"
    _print_org(
        ApiClient(api_url, token).request("POST", path, json={"reason": reason}), json_output
    )


def orgs_reinstate(
    org_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Lifts a suspension."""
    org = ApiClient(api_url, token).request("POST", f"/v1/organisations/{org_id}/reinstate")
    _print_org(org, json_output)


ORG_FIELDS = (
    Field("id", "编号", "id"),
    Field("name", "名称", "name"),
    Field("kind", "类型", "kind", code_word),
    Field("region", "地区", "region"),
    Field("state", "状态", "state", code_word),
    Field("state_reason", "原因", "reason"),
)


def _print_org(org: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(org)
        return
    print_record(org, ORG_FIELDS)


# ---------------------------------------------------------------------------------------------
# audit


def _filters(
    actor: str | None, org: str | None, action: str | None, since: str | None, until: str | None
) -> dict[str, Any]:
    values = {"actor_id": actor, "org_id": org, "action": action, "since": since, "until": until}
    return {key: value for key, value in values.items() if value is not None}


ActorOpt = typer.Option(None, "--actor", help="a user id")
OrgOpt = typer.Option(None, "--org", help="an organisation id")
ActionOpt = typer.Option(None, "--action", help="exact, or a prefix ending in '.'")
SinceOpt = typer.Option(None, "--since", help="ISO time with zone, e.g. 2025-07-01T00:00+08:00")
UntilOpt = typer.Option(None, "--until")


@audit_app.command("list")
def audit_list(
    actor: str | None = ActorOpt,
    org: str | None = OrgOpt,
    action: str | None = ActionOpt,
    since: str | None = SinceOpt,
    until: str | None = UntilOpt,
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """The entries you may see, newest first."""
    params = {**_filters(actor, org, action, since, until), "offset": offset, "limit": limit}
    page = ApiClient(api_url, token).request("GET", "/v1/audit", params=params)
    if json_output:
        print_json(page)
        return
    for entry in page["items"]:
        console.print(
            f"{entry['seq']:>6}  {entry['at'][:19]}  {entry['action']:<28} {entry['object']}  "
            f"{entry['actor_id']}",
            highlight=False,
        )
    console.print(t(f"共 {page['total']} 条", f"{page['total']} in all"))


@audit_app.command("export")
def audit_export(
    output: Path = typer.Option(..., "--output", "-o", help="file to write"),
    format: str = typer.Option("csv", "--format", help="csv | xlsx"),
    actor: str | None = ActorOpt,
    org: str | None = OrgOpt,
    action: str | None = ActionOpt,
    since: str | None = SinceOpt,
    until: str | None = UntilOpt,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Writes the entries you may see to a CSV or XLSX file, in chain order."""
    params = {**_filters(actor, org, action, since, until), "format": format}
    content = ApiClient(api_url, token).download("/v1/audit/export", params=params)
    output.write_bytes(content)
    console.print(t(f"已写入 {output}", f"wrote {output}"))


@audit_app.command("head")
def audit_head(
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Prints the chain's head (position and hash): keep it outside the platform."""
    head = ApiClient(api_url, token).request("GET", "/v1/audit/head")
    if json_output:
        print_json(head)
        return
    print(f"{head['seq']}:{head['hash']}")


@audit_app.command("verify")
def audit_verify(
    expect: str | None = typer.Option(
        None, "--expect", help="a head kept earlier, SEQ:HASH, that must still be in the chain"
    ),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Recomputes the whole chain; exits 6 naming the first entry edited, deleted or moved."""
    params: dict[str, Any] = {}
    if expect:
        seq, _, digest = expect.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            fail(t("--expect 须为 序号:哈希", "--expect must be SEQ:HASH"))
        params = {"seq": int(seq), "hash": digest}
    report = ApiClient(api_url, token).request("GET", "/v1/audit/verify", params=params)
    if json_output:
        print_json(report)
    if report["ok"]:
        if not json_output:
            console.print(
                t(
                    f"审计链完好: {report['entries']} 条，"
                    f"链头 {report['head_seq']}:{report['head_hash']}",
                    f"the chain holds: {report['entries']} entries, head "
                    f"{report['head_seq']}:{report['head_hash']}",
                ),
                highlight=False,
            )
        return
    problem = report["problem"]
    seq, kind = problem["seq"], problem["kind"]
    fail(
        t(
            f"{problem['message']}（序号 {seq}，`{kind}`）",
            f"{problem['message']} (seq {seq}, {kind})",
        ),
        6,
    )


def build_orgs_app() -> typer.Typer:
    """`suanli orgs`: the organisation commands of client.py plus registration and review."""
    from suanli.cli.client import orgs_app

    if not any(group.name == "review" for group in orgs_app.registered_groups):
        orgs_app.add_typer(review_app, name="review")
        orgs_app.command("register")(orgs_register)
        orgs_app.command("suspend")(orgs_suspend)
        orgs_app.command("reinstate")(orgs_reinstate)
    return orgs_app
