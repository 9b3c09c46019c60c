"""The `suanli` command: one Typer root whose areas are imported only when their command runs.

`suanli --help` lists the areas from the registry below without importing them, so it starts
in the time Typer itself takes (issue 14, item 9; `suanli bench cli` measures it). Help text is
chosen from SUANLI_LANGUAGE (zh-CN by default, en) when a command is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
import typer.main
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from suanli.cli.usage_errors import translate_help_option
from suanli.i18n import t


@dataclass(frozen=True)
class Area:
    """One top-level command: where it lives, and its one-line help in both languages."""

    name: str
    target: str  # "module:attribute": a Typer app, or a function taking no arguments for one
    help_zh: str
    help_en: str

    @property
    def help(self) -> str:
        return t(self.help_zh, self.help_en)


AREAS = (
    Area("demo", "suanli.cli.demo:demo_command", "创建演示城市并运行", "Run a demo city"),
    Area("serve", "suanli.cli.platform:serve", "启动 API 与调度", "Run the API and scheduler"),
    Area("login", "suanli.cli.identity:login", "登录", "Sign in"),
    Area("logout", "suanli.cli.identity:logout", "退出登录", "Sign out"),
    Area("orgs", "suanli.cli.identity:build_orgs_app", "机构", "Organisations"),
    Area("users", "suanli.cli.identity:users_app", "用户", "Users"),
    Area("tokens", "suanli.cli.identity:tokens_app", "访问令牌", "API tokens"),
    Area("audit", "suanli.cli.identity:audit_app", "审计日志", "Audit log"),
    Area("pools", "suanli.cli.client:pools_app", "算力资源池", "Compute pools"),
    Area("jobs", "suanli.cli.client:jobs_app", "作业", "Jobs"),
    Area("ledger", "suanli.cli.ledger:app", "账本与钱包", "Ledger and wallets"),
    Area("vouchers", "suanli.cli.vouchers:app", "算力券", "Compute vouchers"),
    Area("scenes", "suanli.cli.scenes:app", "场景对接", "Scenario exchange"),
    Area("connections", "suanli.cli.connections:app", "集群接入", "Cluster connections"),
    Area("catalog", "suanli.cli.platform:catalog_app", "加速卡目录", "Accelerator catalog"),
    Area("simulate", "suanli.cli.simulate:build_app", "调度仿真", "Replay a workload per policy"),
    Area("bench", "suanli.cli.bench:app", "基准测试", "Benchmarks"),
    Area("db", "suanli.cli.platform:db_app", "数据库", "Database"),
    Area("admin", "suanli.cli.platform:admin_app", "平台管理", "Administration"),
)
AREAS_BY_NAME = {area.name: area for area in AREAS}
COMPLETION_OPTIONS = ("install_completion", "show_completion")  # the root offers them once
COMPLETION_HELP = {
    "install_completion": (
        "为当前 shell 安装命令补全",
        "Install completion for the current shell.",
    ),
    "show_completion": (
        "显示当前 shell 的命令补全脚本，可复制或自定义安装",
        "Show completion for the current shell, to copy it or customize the installation.",
    ),
}


def load_area(area: Area) -> Any:
    """Imports an area and builds its click command, with help in the current language."""
    from suanli.cli.help_text import localise

    module_name, _, attribute = area.target.partition(":")
    target = getattr(importlib.import_module(module_name), attribute)
    if callable(target) and attribute.startswith("build_"):
        target = target()
    command: Any  # typer's vendored click types are private
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)  # a group even with one command: `db upgrade`
    else:
        single = typer.Typer(add_completion=False)
        single.command(area.name)(target)
        command = typer.main.get_command(single)
    command.name = area.name
    command.params = [p for p in command.params if p.name not in COMPLETION_OPTIONS]
    if isinstance(command, TyperGroup):
        command.help = area.help  # a single command keeps its own, longer help
    localise(command, area.name)
    return command


class LazyGroup(TyperGroup):
    """Lists areas from the registry; imports one only when it is resolved to run."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [area.name for area in AREAS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        loaded = self.commands.get(cmd_name)
        if loaded is not None:
            return loaded
        area = AREAS_BY_NAME.get(cmd_name)
        return None if area is None else TyperCommand(area.name, help=area.help)

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        for param in params:  # Typer words its completion options in English only
            wording = COMPLETION_HELP.get(str(param.name))
            if wording is not None:
                param.help = t(*wording)
        return params

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[Any, Any, list[str]]:
        area = AREAS_BY_NAME.get(args[0]) if args else None
        if area is not None and area.name not in self.commands:
            self.commands[area.name] = load_area(area)
        return super().resolve_command(ctx, args)


translate_help_option()

app = typer.Typer(
    cls=LazyGroup,
    help=t("suanli 算力: 城市算力交易平台", "suanli: a city's AI compute market"),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def root() -> None:
    # A root callback makes Typer build a group (LazyGroup) even though no command is registered.
    return None


def run() -> None:
    """The console entry point. Click's usage errors are reworded in the CLI's language (see
    usage_errors); every other outcome is what Typer does standalone."""
    import sys

    from suanli.cli.common import err_console
    from suanli.cli.usage_errors import Abort, UsageError, describe, help_line

    try:
        code = app(standalone_mode=False)
    except UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # the help was shown: nothing to add
            sys.exit(error.exit_code)
        label = t("错误", "error")
        err_console.print(f"[red]{label}:[/red] {escape(describe(error))}", highlight=False)
        err_console.print(help_line(error), highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except Abort:
        err_console.print(t("已中止", "aborted"))
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    run()
