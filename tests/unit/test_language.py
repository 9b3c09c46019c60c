"""One language per message, read from the source: every `msg(zh, en)` / `t(zh, en)` pair is
Chinese then English, neither mixes the two, and every error a user can meet is raised with
such a pair. A new English-only raise fails here, not in a user's terminal."""

from __future__ import annotations

import ast
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import PydanticKnownError
from pydantic_core.core_schema import ErrorType

from suanli.api.validation_messages import ZH_BY_TYPE, problem_message
from suanli.i18n import using_language
from tests.language import (
    english_words_beside_chinese,
    has_chinese,
    has_chinese_outside_quotes,
    mixed_lines,
    python_reprs,
)

SOURCE = Path(__file__).parents[2] / "src" / "suanli"
PLACEHOLDER = "0"  # what an f-string's `{value}` stands for when its text is read
# Raised with English text on purpose: programming errors and states no request can reach.
# Each entry: (module path under src/suanli, exception name) → why it is not translated.
INTERNAL_RAISES: dict[tuple[str, str], str] = {
    ("adapters/db/ledger_repo.py", "AssertionError"): "a loop invariant",
    ("adapters/backends/ray.py", "super().__init__"): "RayHttpError, worded as a BackendError",
    ("services/leadership.py", "NotLeader"): "a signal between replicas, never shown",
    ("cli/bench_dashboard.py", "RuntimeError"): "the benchmark's own server failed",
    ("services/scenes_train.py", "RuntimeError"): "a developer's training run, not a request",
    ("adapters/db/types.py", "ValueError"): "a programming error: a naive datetime",
    ("adapters/matching/embedding.py", "RuntimeError"): "a cache sizing bug",
    ("adapters/backends/ray_local.py", "TimeoutError"): "test and bench clusters only",
    ("adapters/backends/ray_local.py", "RuntimeError"): "test and bench clusters only",
    ("cli/bench_scenes.py", "RuntimeError"): "a programming error in the bench",
    ("services/scenes_files.py", "RuntimeError"): "a programming error: metrics always set",
    ("domain/accelerators.py", "ValueError"): "the shipped catalog's integrity, checked at import",
    ("domain/scheduling/placement.py", "ValueError"): "a placement bug: scratch over-allocated",
}
# Areas whose messages are not yet bilingual; the sweep empties this set, area by area.
NOT_YET_SWEPT: set[str] = set()


def python_files() -> Iterator[Path]:
    for path in sorted(SOURCE.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def relative(path: Path) -> str:
    return path.relative_to(SOURCE).as_posix()


def text_of(node: ast.expr) -> str | None:
    """The literal text of a string or f-string (placeholders as `0`); None for other nodes."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            text_of(part) or "" if isinstance(part, ast.Constant) else PLACEHOLDER
            for part in node.values
        )
    return None


def translator_names(tree: ast.Module) -> set[str]:
    """The local names of suanli.i18n's `msg` and `t` in a module."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "suanli.i18n":
            names |= {
                alias.asname or alias.name for alias in node.names if alias.name in {"msg", "t"}
            }
    return names


def message_pairs() -> Iterator[tuple[str, int, str | None, str | None]]:
    for path in python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = translator_names(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in names
                and len(node.args) >= 2
            ):
                yield relative(path), node.lineno, text_of(node.args[0]), text_of(node.args[1])


PAIRS = list(message_pairs())


def test_the_scan_finds_the_message_pairs() -> None:
    assert len(PAIRS) > 300, len(PAIRS)
    assert {"InvalidInput", "LedgerError", "InsufficientFunds", "BackendError"} <= ERROR_CLASSES


@pytest.mark.parametrize(("where", "line", "zh", "en"), PAIRS, ids=lambda v: str(v)[:40])
def test_each_message_pair_is_chinese_then_english_and_neither_mixes(
    where: str, line: int, zh: str | None, en: str | None
) -> None:
    if zh is not None and any(char.isalpha() for char in zh):
        assert has_chinese(zh), f"{where}:{line}: the first text of msg()/t() is not Chinese"
        assert not mixed_lines(zh), f"{where}:{line}: {mixed_lines(zh)}"
    if en is not None:
        assert not has_chinese_outside_quotes(en), f"{where}:{line}: Chinese in English: {en!r}"


def error_classes() -> set[str]:
    """SuanliError and every class the source derives from it, by name."""
    bases: dict[str, set[str]] = {}
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = {
                    getattr(base, "id", getattr(base, "attr", "")) for base in node.bases
                }
    found = {"SuanliError"}
    while grown := {name for name, parents in bases.items() if parents & found} - found:
        found |= grown
    return found


ERROR_CLASSES = error_classes()


def english_raises() -> Iterator[tuple[str, int, str, str]]:
    """Every `raise X("text")`, `return SomeSuanliError(f"text")`, `super().__init__("text")`
    in an error class: a message in one language only."""
    for path in python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            call = node.exc if isinstance(node, ast.Raise) else None
            if isinstance(node, ast.Call) and _is_super_init(node):
                call = node  # an error class that words its own message
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ERROR_CLASSES:
                call = node  # an error built here and raised elsewhere
            if not isinstance(call, ast.Call):
                continue
            name = getattr(call.func, "id", getattr(call.func, "attr", "?"))
            if name == "__init__":
                name = "super().__init__"
            if not (name[:1].isupper() or name == "super().__init__"):  # a factory: own pair
                continue
            if name == "PydanticCustomError":  # worded by api/validation_messages.py, by type
                continue
            text = text_of(call.args[0]) if call.args else None
            if text is not None:
                yield relative(path), call.lineno, name, text


def _is_super_init(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and getattr(func.value.func, "id", None) == "super"
    )


def swept(where: str) -> bool:
    return not any(where == area or where.startswith(f"{area}/") for area in NOT_YET_SWEPT)


def test_user_facing_raises_carry_both_languages() -> None:
    offending = [
        f"{where}:{line}: raise {name}({text!r})"
        for where, line, name, text in english_raises()
        if (where, name) not in INTERNAL_RAISES and swept(where)
    ]
    assert not offending, "raise with msg(zh, en), or allow-list it as internal:\n" + "\n".join(
        offending
    )


def test_the_raise_scan_sees_an_english_only_raise(tmp_path: Path) -> None:
    """The scan itself: a single-language raise is found; a bilingual one is not."""
    tree = ast.parse(
        'raise NotFound(f"job {job_id} not found")\n'
        'raise NotFound(msg(f"没有作业 {job_id}", f"job {job_id} not found"))\n'
    )
    raises = [node for node in ast.walk(tree) if isinstance(node, ast.Raise)]
    texts = [text_of(r.exc.args[0]) for r in raises if isinstance(r.exc, ast.Call)]
    assert texts == ["job 0 not found", None]


@pytest.mark.parametrize(
    "line",
    [
        "已导入 124 条新opportunities",
        "警告: row 1, encoding: GBK",
        "作业 job_1 failed，原因未知",
        "错误: unknown column",
    ],
)
def test_the_detector_finds_mixed_lines(line: str) -> None:
    assert english_words_beside_chinese(line), line


@pytest.mark.parametrize(
    "line",
    [
        "已导入 124 条新需求",
        "警告：第1行，编码为 GBK",
        "没有作业 job_9dad5d52934a6",
        "`offset` 不能为负数",
        "Ray 集群没有 'A100-80GB' 卡",
        "请用 --json 查看完整结果，或访问 http://127.0.0.1:8000/docs",
        "suanli 主机上的 /etc/slurm/slurm.conf 不存在",
        "job 1 of pool l40s failed: exit code 3",
    ],
)
def test_the_detector_lets_one_language_lines_pass(line: str) -> None:
    assert not english_words_beside_chinese(line), english_words_beside_chinese(line)


def test_the_detector_finds_python_reprs() -> None:
    assert python_reprs("作业状态: {'succeeded': 10}")
    assert python_reprs("regions: ['浙江', '上海']")
    assert python_reprs("region: None")
    assert not python_reprs("作业状态：成功 10")


# -- request validation: pydantic words its errors in English; each type has a Chinese wording
def pydantic_context_keys(error_type: str) -> set[str]:
    """The context keys pydantic fills in for an error type (found by asking it)."""
    context: dict[str, Any] = {}
    for _ in range(12):
        try:
            template = PydanticKnownError(error_type, context or None).message_template  # type: ignore[arg-type]
            return set(context) | set(re.findall(r"\{(\w+)\}", template))
        except (KeyError, TypeError) as error:
            needed = re.search(r"'(\w+)' required in context", str(error))
            numeric = re.search(
                r"'(\w+)' context value must be a (?:[ui]\d+|usize|Option<usize>)", str(error)
            )
            if needed is not None:
                context[needed.group(1)] = "x"
            elif numeric is not None:
                context[numeric.group(1)] = 1
            else:
                raise
    raise AssertionError(error_type)


@pytest.mark.parametrize("error_type", typing.get_args(ErrorType))
def test_every_pydantic_error_type_has_a_chinese_wording(error_type: str) -> None:
    template = ZH_BY_TYPE.get(error_type)
    assert template is not None, f"api/validation_messages.py lacks {error_type!r}"
    placeholders = set(re.findall(r"\{(\w+)\}", template))
    assert has_chinese(template), template
    assert not mixed_lines(re.sub(r"\{\w+\}", PLACEHOLDER, template)), template
    assert placeholders <= pydantic_context_keys(error_type), (error_type, placeholders)
    with using_language("zh-CN"):
        shown = problem_message({"type": error_type, "ctx": dict.fromkeys(placeholders, "1")})
    assert has_chinese(shown) and "{" not in shown, shown


# -- the CLI: what it prints is worded through t(); a bare English literal is one language only
CLI_OUTPUT_CALLS = {"fail", "print", "echo", "secho", "BadParameter"}
CLI_ENGLISH_PREFIX = "cli/bench_"  # `suanli bench ...`: figures for developers
MARKUP = re.compile(r"\[/?[a-z ]*\]")


def cli_literals() -> Iterator[tuple[str, int, str]]:
    for path in python_files():
        where = relative(path)
        if not where.startswith("cli/") or where.startswith(CLI_ENGLISH_PREFIX):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            text = text_of(node.args[0]) if name in CLI_OUTPUT_CALLS else None
            if text is not None:
                yield where, node.lineno, MARKUP.sub(" ", text)


def test_the_cli_prints_no_bare_english_wording() -> None:
    """`error:` in zh mode, `free cards:` after a Chinese status: an English literal printed
    as is. The check reads each literal as if beside Chinese text."""
    offending = [
        f"{where}:{line}: {text!r} ({', '.join(words)})"
        for where, line, text in cli_literals()
        if (words := english_words_beside_chinese("中 " + text))
    ]
    assert not offending, "word it with t(zh, en):\n" + "\n".join(offending)
