"""The CLI speaks one language per line, the one SUANLI_LANGUAGE names, against a real
`suanli serve`: its own words, the server's refusals (asked for in that language), the import
reports and the simulator's. A line mixing the two (`已导入 124 条新opportunities`), a Python
repr (`{'succeeded': 10}`) or an English `error:` in Chinese mode fails here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def _market(
    env: dict[str, str], *shape: str
) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """A provider, an enterprise and an agency (tokens and ids by kind, the operator's too)
    and the provider's L40S pool at 720 fen per card-hour (`shape`: its nodes and cards)."""
    tokens, ids = {"operator": env["SUANLI_TOKEN"]}, {}
    for name, kind in (("p1", "provider"), ("e1", "enterprise"), ("a1", "agency")):
        made = json.loads(
            cli(env, "orgs", "create", "--name", name, "--kind", kind, "--json").stdout
        )
        tokens[kind], ids[kind] = made["token"], made["organisation"]["id"]
    pool = cli(
        env,
        *("pools", "create", "--name", "l40s", "--accelerator", "L40S", *shape),
        *("--region", "浙江/杭州", "--price-fen", "720", "--provider-id", ids["provider"]),
        "--json",
    )
    return tokens, ids, dict(json.loads(pool.stdout))


def test_every_cli_line_is_in_the_asked_language(server: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    tokens, ids, _ = _market(server, "--nodes", "1", "--cards-per-node", "4")
    tokens["nobody"] = ""
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


# Chinese that tenants typed (a region names a division, and the shipped table is Chinese
# only) or the platform named (the operator's default name): data, in either language.
TENANT_CHINESE = ("浙江/杭州", "平台运营方")


def _codes_worded_by_the_cli() -> set[str]:
    """Every API code the CLI has words for: shown raw in a Chinese answer, it is untranslated.
    (Codes whose Chinese word is the code itself, product names such as Ray, are left out.)"""
    from suanli.cli.render import CODE_WORDS
    from suanli.cli.vouchers import CATEGORY_WORDS, RULE_FIELDS, SCOPE_WORDS
    from suanli.domain.ledger import TRANSFER_CODE_WORDS

    tables = {**CODE_WORDS, **CATEGORY_WORDS, **TRANSFER_CODE_WORDS}
    worded = {code for code, (zh, _) in tables.items() if zh != code}
    return worded | set(SCOPE_WORDS) | set(RULE_FIELDS) | {"base_ratio_bp", "ratio_bp"}


def test_codes_and_labels_are_worded_in_the_asked_language(
    server: dict[str, str],  # noqa: F811
) -> None:
    """Lists and records (organisations, users, tokens, a pool, a statement, voucher programs,
    scene pairs) show the API's codes as words of the asked language: no `enterprise`,
    `top_up` or `base_ratio_bp` in Chinese, no Chinese label in English."""
    import re
    from datetime import UTC, datetime, timedelta

    import httpx

    tokens, ids, pool = _market(server)
    as_ = {who: {**server, "SUANLI_TOKEN": token} for who, token in tokens.items()}
    me = json.loads(cli(as_["enterprise"], "users", "me", "--json").stdout)
    cli(as_["enterprise"], "users", "update", me["id"], "--name", "Wang Wei")  # not `admin`
    topup = ("ledger", "topup", "--org", ids["enterprise"], "--amount-fen", "100000")
    cli(as_["operator"], *topup, "--reference", "wire-1")
    today = datetime.now(UTC).date()
    program = json.loads(
        cli(
            as_["agency"],
            *("vouchers", "programs", "create", "--name", "city voucher", "--budget-fen", "900"),
            *("--valid-from", str(today), "--valid-until", str(today + timedelta(days=30))),
            *("--ratio", "0.3", "--tier", "0.5,sme", "--cap-per-enterprise-fen", "100", "--json"),
        ).stdout
    )
    cli(as_["enterprise"], "tokens", "create", "--name", "ci", "--scope", "read")
    client = httpx.Client(base_url=server["SUANLI_API_URL"], timeout=30)
    for kind, token, row in (
        ("opportunities", tokens["agency"], "OPP-1,weld grading,grade welds,智能制造,v,Hz,Acme"),
        ("capabilities", tokens["enterprise"], "CAP-1,vision,weld defects,manufacturing,v,Hz,Beta"),
    ):
        text = f"id,title,description,industry,tags,region,org\n{row}\n"
        body = {"kind": kind, "filename": "x.csv", "content": text, "batch": 1}
        reply = client.post(
            "/v1/scenes/import", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert reply.status_code == 201, reply.text
    pair = ("scenes", "pairs", "recommend", "--opportunity", "OPP-1", "--capability", "CAP-1")
    cli(as_["agency"], *pair)
    reads = [
        ("operator", ["orgs", "list"]),
        ("enterprise", ["users", "me"]),
        ("enterprise", ["tokens", "list"]),
        ("operator", ["pools", "show", pool["id"]]),
        ("operator", ["ledger", "statement", "--org", ids["enterprise"]]),
        ("agency", ["vouchers", "programs", "list"]),
        ("agency", ["vouchers", "programs", "show", program["id"]]),
        ("operator", ["scenes", "pairs", "list"]),
        ("operator", ["scenes", "pairs", "stats"]),
    ]
    codes = _codes_worded_by_the_cli()
    for language in ("zh-CN", "en"):
        for who, args in reads:
            done = cli({**as_[who], "SUANLI_LANGUAGE": language, "COLUMNS": "200"}, *args)
            shown = f"suanli {' '.join(args)} [{language}]"
            output = done.stdout
            assert not mixed_lines(output), f"{shown}: {mixed_lines(output)}"
            if language == "zh-CN":
                raw = sorted(set(re.findall(r"[a-z_]+", output)) & codes)
                assert not raw, f"{shown}: untranslated codes {raw}:\n{output}"
            else:
                for tenant in TENANT_CHINESE:
                    output = output.replace(tenant, "")
                assert not has_chinese(output), f"{shown}: Chinese in English:\n{output}"
