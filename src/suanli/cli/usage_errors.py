"""Click's own refusals (a bad option value, an unknown option or command, a missing option),
worded in the CLI's language. Click and Typer print them in English only, in a box; in zh-CN
mode that is a line in the wrong language. One line, `错误:` / `error:`, then where to look."""

from __future__ import annotations

import re
from typing import Any

from suanli.i18n import current_language, t

try:  # Typer 0.2x ships its own copy of Click; older ones use Click itself
    from typer._click import exceptions as click
except ImportError:  # pragma: no cover - depends on the installed Typer
    import click.exceptions as click  # type: ignore[no-redef]

UsageError: Any = click.UsageError
Abort: Any = click.__dict__.get("Abort") or __import__("typer").Abort

# Typer validates option values with pydantic-style sentences; the common ones, in Chinese
_VALUE_RULES_ZH: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"greater than or equal to (\S+)"), "须不小于 {0}"),
    (re.compile(r"greater than (\S+)"), "须大于 {0}"),
    (re.compile(r"less than or equal to (\S+)"), "须不大于 {0}"),
    (re.compile(r"less than (\S+)"), "须小于 {0}"),
    (re.compile(r"valid integer"), "须为整数"),
    (re.compile(r"valid number"), "须为数字"),
    (re.compile(r"valid boolean"), "须为 true 或 false"),
    (re.compile(r"does not exist"), "文件或目录不存在"),
    (re.compile(r"is a directory"), "是目录，不是文件"),
    (re.compile(r"is not one of|should be one of|one of"), "不在可选值之内"),
)


def describe(error: Any) -> str:
    """The refusal as one line in the current language."""
    if current_language() == "en":
        return error.format_message()
    if isinstance(error, click.NoSuchOption):
        hint = f"；是否想用 `{error.possibilities[0]}`？" if error.possibilities else ""
        return f"没有选项 `{error.option_name}`{hint}"
    if isinstance(error, click.MissingParameter):
        return f"缺少 {_hint(error)}"
    if isinstance(error, click.BadParameter):
        return f"{_hint(error)} 的值无效：{_value_rule_zh(error.message)}"
    command = re.search(r"No such command '([^']*)'", error.message)
    if command:
        close = re.search(r"Did you mean '([^']*)'", error.message)
        hint = f"；是否想用 `{close.group(1)}`？" if close else ""
        return f"没有命令 `{command.group(1)}`{hint}"
    return "命令用法有误"


def help_line(error: Any) -> str:
    path = error.ctx.command_path if error.ctx is not None else "suanli"
    return t(f"运行 `{path} --help` 查看用法", f"run `{path} --help` for usage")


def _hint(error: Any) -> str:
    if error.param_hint is not None:
        hint = error.param_hint
        return " / ".join(hint) if isinstance(hint, (list, tuple)) else str(hint)
    if error.param is not None and error.param.opts:
        return " / ".join(error.param.opts)
    return "参数"


def _value_rule_zh(message: str) -> str:
    for pattern, wording in _VALUE_RULES_ZH:
        found = pattern.search(message)
        if found:
            return wording.format(*found.groups())
    return "请检查取值"


def translate_help_option() -> None:
    """`--help`'s own line reads "Show this message and exit." whatever the language: Click
    builds that option itself. Its text is set in the CLI's language once it is built."""
    core = getattr(__import__("typer"), "_click", None)
    command_class = getattr(getattr(core, "core", None), "Command", None)
    original = getattr(command_class, "get_help_option", None)
    if original is None or getattr(original, "translated", False):
        return

    def get_help_option(self: Any, ctx: Any) -> Any:
        option = original(self, ctx)
        if option is not None:
            option.help = t("显示此帮助并退出", "Show this message and exit.")
        return option

    get_help_option.translated = True  # type: ignore[attr-defined]
    command_class.get_help_option = get_help_option  # type: ignore[union-attr]
