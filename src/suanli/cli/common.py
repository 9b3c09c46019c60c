"""What every CLI command shares: settings, typed-error handling, and the API client.

httpx, the settings (pydantic-settings) and pydantic's errors are imported where a command first
needs them, not here: `suanli jobs --help` and every other client command's help then start
without them (`tests/e2e/test_first_hour_cli.py` checks which modules a help imports).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from suanli.errors import SuanliError, exit_code_for_response
from suanli.i18n import current_language, t

if TYPE_CHECKING:
    import httpx
    from pydantic import ValidationError

    from suanli.config import Settings

P = ParamSpec("P")
R = TypeVar("R")
HTTP_TIMEOUT_S = 30.0
console = Console()
err_console = Console(stderr=True)

ApiUrlOption = typer.Option(None, "--api-url", envvar="SUANLI_API_URL", help="API base URL")
TokenOption = typer.Option(None, "--token", envvar="SUANLI_TOKEN", help="bearer token")
JsonOption = typer.Option(False, "--json", help="print JSON")
PAGE_LIMIT_MAX = 500  # the API's PAGE_SIZE_MAX
OffsetOption = typer.Option(0, "--offset", min=0, help="rows to skip")
LimitOption = typer.Option(50, "--limit", min=1, max=PAGE_LIMIT_MAX, help="rows on the page")


def page_footer(page: dict[str, Any]) -> str:
    """Which rows of the whole list a page shows: `1-50 of 120`."""
    first, last, total = page["offset"] + 1, page["offset"] + len(page["items"]), page["total"]
    if not page["items"]:
        return t(f"本页无(共 {total} 条)", f"none on this page ({total} in all)")
    return t(f"第 {first}-{last} 条，共 {total} 条", f"{first}-{last} of {total}")


def fail(message: str, exit_code: int = 2) -> NoReturn:
    # soft_wrap: one message, one line, whatever the width, so ids and paths stay whole
    err_console.print(
        f"[red]{t('错误', 'error')}:[/red] {escape(message)}", highlight=False, soft_wrap=True
    )
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
        except OSError as error:
            where = error.filename or ""
            fail(t(f"无法访问 {where}：“{error.strerror}”", f"{error.strerror}: {where}"), 2)
        except ValueError as error:  # a library's own wording, quoted in Chinese mode
            fail(t(f"值无效：“{error}”", str(error)), 2)

    return wrapper


def settings_from_env(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from suanli.config import load_settings

    try:
        return load_settings(**overrides)
    except ValidationError as error:
        fail(describe_settings_error(error))
    except ValueError as error:
        fail(t(f"配置无效: {error}", f"invalid settings: {error}"))


def describe_settings_error(error: ValidationError) -> str:
    """`SUANLI_LANGUAGE=fr: must be one of zh-CN, en`, one line per wrong setting."""
    lines = []
    for problem in error.errors():
        name = "SUANLI_" + "_".join(str(part) for part in problem["loc"]).upper()
        given = problem.get("input")
        shown = f"={given}" if isinstance(given, str | int | float) else ""
        lines.append(f"{name}{shown}: {setting_problem(name, problem)}")
    return t("配置无效: ", "invalid settings: ") + "; ".join(lines)


def setting_problem(name: str, problem: Any) -> str:
    from suanli.api.validation_messages import problem_message

    if name == "SUANLI_LANGUAGE":
        return t("只能是 zh-CN 或 en", "must be zh-CN or en")
    if problem.get("type") == "extra_forbidden":
        return t("没有这个设置", "no such setting")
    return problem_message(problem)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def language_header() -> dict[str, str]:
    """The server answers in the CLI's language (SUANLI_LANGUAGE, else zh-CN)."""
    return {"Accept-Language": current_language()}


class ApiClient:
    """A small httpx client for the CLI commands that talk to a running `suanli serve`.

    The credential is, first found: --token, SUANLI_TOKEN, then what `suanli login` stored
    (a session, sent as its cookie with the CSRF token on writes, or a token)."""

    def __init__(self, api_url: str | None, token: str | None, *, anonymous: bool = False) -> None:
        settings = settings_from_env()
        stored = None if (token or settings.token) else load_credentials()
        stored_url = stored.get("api_url") if stored else None
        self.base_url = api_url or settings.api_url or stored_url or settings.resolved_api_url
        self.base_url = self.base_url.rstrip("/")
        self.token = token or settings.token or (stored or {}).get("token")
        self.session = (stored or {}).get("session")
        self.csrf_token = (stored or {}).get("csrf_token")
        if not (self.token or self.session or anonymous):
            fail(
                t(
                    "需要登录：运行 `suanli login`，或使用 --token / SUANLI_TOKEN",
                    "sign in first: suanli login, or --token / SUANLI_TOKEN",
                ),
                3,
            )

    def _auth_headers(self, method: str) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.session:
            headers = {"Cookie": f"{SESSION_COOKIE}={self.session}"}
            if method.upper() != "GET" and self.csrf_token:
                headers["X-CSRF-Token"] = self.csrf_token
            return headers
        return {}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.send(method, path, **kwargs)
        return response.json() if response.content else None

    def download(self, path: str, **kwargs: Any) -> bytes:
        return self.send("GET", path, **kwargs).content

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        path = quoted_path(path)
        headers = {
            **self._auth_headers(method),
            **language_header(),
            **kwargs.pop("headers", {}),
        }
        try:
            response = httpx.request(
                method,
                self.base_url + path,
                headers=headers,
                timeout=kwargs.pop("timeout", HTTP_TIMEOUT_S),
                **kwargs,
            )
        except httpx.HTTPError as error:
            fail(
                t(
                    f"无法连接 API {self.base_url}：“{error}”",
                    f"cannot reach the API at {self.base_url}: {error}",
                ),
                7,
            )
        if response.status_code >= 400:
            _fail_from_response(response)
        return response


def quoted_path(path: str) -> str:
    """The API path with each segment percent-encoded. Paths are built from what the user
    typed (a job id, an organisation id): `jobs show '../pools'` must not fetch the pool list,
    nor `x?y` turn into a query. Queries go in `params=`, never in the path."""
    from urllib.parse import quote

    segments = path.split("/")
    for segment in segments[1:]:
        if segment in (".", "..") or not segment:
            fail(t(f"无效的标识 {segment!r}", f"invalid identifier {segment!r}"), 2)
    return "/".join(quote(segment, safe="-._~:@!$&'()*+,;=") for segment in segments)


# ---------------------------------------------------------------------------------------------
# The credential `suanli login` keeps: a JSON file only its owner may read (0600, in a 0700
# folder), like ~/.ssh keys; a file others can read is refused, not used.

SESSION_COOKIE = "suanli_session"
CREDENTIALS_ENV = "SUANLI_CREDENTIALS_FILE"
PRIVATE_FILE_MODE = 0o600


def credentials_path() -> Path:
    explicit = os.environ.get(CREDENTIALS_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "suanli" / "credentials.json"


def save_credentials(values: dict[str, Any]) -> Path:
    path = credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(values, handle, ensure_ascii=False)
    os.chmod(temporary, PRIVATE_FILE_MODE)  # whatever the umask did
    os.replace(temporary, path)
    return path


def load_credentials() -> dict[str, Any] | None:
    path = credentials_path()
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    if status.st_mode & 0o077 or status.st_uid != os.getuid():
        fail(
            t(
                f"凭据文件 {path} 可被他人读取，已拒绝使用；请执行 `chmod 600` 或重新登录",
                f"the credential file {path} is readable by others; chmod 600 it or sign in again",
            ),
            3,
        )
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        fail(t(f"凭据文件 {path} 已损坏，请重新登录", f"{path} is damaged; sign in again"), 3)
    return values if isinstance(values, dict) else None


def forget_credentials() -> bool:
    try:
        credentials_path().unlink()
    except FileNotFoundError:
        return False
    return True


def _fail_from_response(response: httpx.Response) -> NoReturn:
    try:
        body = response.json()
        message = body.get("message", response.text)
        field, code = body.get("field"), body.get("error")
    except (ValueError, AttributeError):
        message, field, code = response.text, None, None
    where = f" [{field}]" if field else ""
    exit_code = exit_code_for_response(response.status_code, code)
    status = response.status_code
    fail(
        t(f"接口返回 HTTP {status}：{message}{where}", f"HTTP {status}: {message}{where}"),
        exit_code,
    )


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
