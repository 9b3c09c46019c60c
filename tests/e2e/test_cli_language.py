"""The CLI speaks one language per line, the one SUANLI_LANGUAGE names, against a real
`suanli serve`: its own words, the server's refusals (asked for in that language), the import
reports and the simulator's. A line mixing the two (`已导入 124 条新opportunities`), a Python
repr (`{'succeeded': 10}`) or an English `error:` in Chinese mode fails here."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli_against_server import cli, server  # noqa: F401 (fixture)
from tests.language import has_chinese, has_chinese_outside_quotes, mixed_lines, python_reprs

GOOD_CSV = (
    "编号,名称,描述,行业,标签,地区,单位,颜色\n"
    "N-1,焊缝缺陷识别,射线底片自动评级,智能制造,质检；视觉,浙江/杭州,示例单位（虚构）,红\n"
    "N-2,客服质检,通话录音合规检查,火星采矿,语音、合规,浙江/杭州,示例单位（虚构）,蓝\n"
)
BAD_CSV = "id,title,description,industry,tags,region,org\nX-1,,d,金融,a,浙江,o\n"


def commands(ids: dict[str, str], folder: Path) -> list[tuple[str, list[str], bool]]:
    """(who, arguments, refused?) for a representative walk through the CLI."""
    return [
        ("operator", ["orgs", "list"], False),
        ("operator", ["pools", "list"], False),
        ("enterprise", ["jobs", "quote", "--cards", "2"], False),
        (
            "enterprise",
            ["jobs", "submit", "--name", "j1", "--command", "true", "--cards", "2"],
            True,
        ),
        (
            "enterprise",
            ["jobs", "submit", "--name", "j1", "--command", "true", "--cards", "0"],
            True,
        ),
        ("enterprise", ["jobs", "show", "job_x404"], True),
        ("enterprise", ["jobs", "list"], False),
        ("provider", ["jobs", "submit", "--name", "j1", "--command", "true"], True),
        (
            "operator",
            [
                "pools",
                "create",
                "--name",
                "p9",
                "--accelerator",
                "H999",
                "--region",
                "浙江",
                "--price-fen",
                "1",
                "--provider-id",
                ids["provider"],
            ],
            True,
        ),
        ("agency", ["scenes", "import", "opportunities", str(folder / "bad.csv")], True),
        ("agency", ["scenes", "import", "opportunities", str(folder / "good.csv")], False),
        ("operator", ["simulate", "--fleet", "synthetic:x", "--workload", "synthetic:5"], True),
        ("nobody", ["jobs", "list", "--token", "nope"], True),
    ]


def test_every_cli_line_is_in_the_asked_language(server: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    tokens, ids = {"operator": server["SUANLI_TOKEN"], "nobody": ""}, {}
    for name, kind in (("p1", "provider"), ("e1", "enterprise"), ("a1", "agency")):
        made = json.loads(
            cli(server, "orgs", "create", "--name", name, "--kind", kind, "--json").stdout
        )
        tokens[kind], ids[kind] = made["token"], made["organisation"]["id"]
    cli(
        server,
        "pools",
        "create",
        "--name",
        "l40s",
        "--accelerator",
        "L40S",
        "--nodes",
        "1",
        "--cards-per-node",
        "4",
        "--region",
        "浙江/杭州",
        "--price-fen",
        "720",
        "--provider-id",
        ids["provider"],
    )
    (tmp_path / "good.csv").write_text(GOOD_CSV, encoding="utf-8")
    (tmp_path / "bad.csv").write_text(BAD_CSV, encoding="utf-8")
    for language in ("zh-CN", "en"):
        for who, args, refused in commands(ids, tmp_path):
            env = {**server, "SUANLI_LANGUAGE": language, "SUANLI_TOKEN": tokens[who]}
            if args[:2] == ["scenes", "import"]:
                args = [*args, "--batch", "1" if language == "zh-CN" else "2"]
            done = cli(env, *args, check=False)
            shown = f"suanli {' '.join(args)} [{language}]"
            output = done.stdout + done.stderr
            assert (done.returncode != 0) == refused, f"{shown}: {done.returncode}\n{output}"
            assert "Traceback" not in output, f"{shown}:\n{output}"
            assert not python_reprs(output), f"{shown}: {python_reprs(output)}"
            assert not mixed_lines(output), f"{shown}: {mixed_lines(output)}"
            if refused and language == "zh-CN":
                assert has_chinese(done.stderr), f"{shown}: not Chinese: {done.stderr}"
            if refused and language == "en":
                assert not has_chinese_outside_quotes(done.stderr), f"{shown}: {done.stderr}"
