"""What every CLI command shares: settings, typed-error handling, and the API client."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from suanli.config import Settings, load_settings
from suanli.errors import SuanliError
from suanli.i18n import t

P = ParamSpec("P")
R = TypeVar("R")
HTTP_TIMEOUT_S = 30.0
console = Console()
err_console = Console(stderr=True)

ApiUrlOption = typer.Option(None, "--api-url", envvar="SUANLI_API_URL", help="API base URL")
TokenOption = typer.Option(None, "--token", envvar="SUANLI_TOKEN", help="bearer token")
JsonOption = typer.Option(False, "--json", help="print JSON")


def fail(message: str, exit_code: int = 2) -> NoReturn:
    err_console.print(f"[red]{t('错误', 'error')}:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(exit_code)


def handle_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Typed errors become a message on stderr and their exit code, never a traceback."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except SuanliError as error:
            where = f" [{error.field}]" if error.field else ""
            fail(f"{error.message}{where}", error.exit_code)
        except (ValueError, OSError) as error:
            fail(str(error), 2)

    return wrapper


def settings_from_env(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ValueError as error:
        fail(t(f"配置无效: {error}", f"invalid settings: {error}"))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


class ApiClient:
    """A small httpx client for the CLI commands that talk to a running `suanli serve`."""

    def __init__(self, api_url: str | None, token: str | None) -> None:
        settings = settings_from_env()
        self.base_url = (api_url or settings.resolved_api_url).rstrip("/")
        self.token = token or settings.token
        if not self.token:
            fail(
                t(
                    "需要令牌: 使用 --token 或设置 SUANLI_TOKEN",
                    "a token is required: --token or SUANLI_TOKEN",
                ),
                3,
            )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        try:
            response = httpx.request(
                method, self.base_url + path, headers=headers, timeout=HTTP_TIMEOUT_S, **kwargs
            )
        except httpx.HTTPError as error:
            fail(
                t(
                    f"无法连接 API {self.base_url}: {error}",
                    f"cannot reach the API at {self.base_url}: {error}",
                ),
                7,
            )
        if response.status_code >= 400:
            _fail_from_response(response)
        return response.json() if response.content else None


def _fail_from_response(response: httpx.Response) -> NoReturn:
    try:
        body = response.json()
        message = body.get("message", response.text)
        field = body.get("field")
    except ValueError:
        message, field = response.text, None
    where = f" [{field}]" if field else ""
    codes = {401: 3, 403: 3, 404: 4, 409: 5}
    fail(f"HTTP {response.status_code}: {message}{where}", codes.get(response.status_code, 2))


def parse_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """KEY=VALUE options (repeatable) into a dict, naming the option on error."""
    pairs: dict[str, str] = {}
    for value in values or []:
        key, sep, item = value.partition("=")
        if not sep or not key.strip():
            fail(
                t(
                    f"{option} 需要 KEY=VALUE 格式: {value!r}",
                    f"{option} needs KEY=VALUE: {value!r}",
                )
            )
        pairs[key.strip()] = item.strip()
    return pairs
