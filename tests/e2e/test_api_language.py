"""Every refusal speaks the caller's language (Accept-Language), in one language per line.

Two sweeps: named refusals of each kind (bad field, not found, forbidden, money rule,
conflict, no credential), and a walk over every operation of the OpenAPI document, refused by
a missing credential, an unknown id or a malformed body, for each kind of caller."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import City, build_city, make_app
from tests.language import has_chinese, has_chinese_outside_quotes, mixed_lines, python_reprs

LANGUAGES = ("zh-CN", "en")
UNKNOWN_ID = "x_404"  # an id token: allowed beside Chinese text, and found nowhere
MALFORMED_BODY = {"unknown_field_x": 1}


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    app = make_app(tmp_path)
    yield build_city(app)
    app.close()


def texts_of(body: dict[str, Any]) -> list[str]:
    """What a person reads in an error answer: the message and any worded details."""
    found = [str(body.get("message", ""))]
    for value in (body.get("details") or {}).values():
        items = value if isinstance(value, list) else [value]
        found.extend(item for item in items if isinstance(item, str) and " " in item)
    return found  # strings without a space in details are ids and codes, not wording


def assert_in_language(body: dict[str, Any], language: str, where: str) -> None:
    assert set(body) >= {"error", "message"}, f"{where}: {body}"
    for text in texts_of(body):
        assert not python_reprs(text), f"{where}: a Python repr: {text!r}"
        if language == "en":
            assert not has_chinese_outside_quotes(text), f"{where}: Chinese in en: {text!r}"
        else:
            assert has_chinese(text), f"{where}: not Chinese: {text!r}"
            assert not mixed_lines(text), f"{where}: {mixed_lines(text)}"


def refuse(city: City, language: str, method: str, path: str, token: str | None, body: Any = None):  # type: ignore[no-untyped-def]
    headers = {"Accept-Language": language}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return city.client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_kind_of_refusal_answers_in_the_asked_language(city: City, language: str) -> None:
    spec = {"name": "j", "command": "true", "cards": 1, "max_run_time_s": 60}
    existing = {"name": "prov-a", "kind": "provider", "region": "浙江/杭州"}
    cases = [
        ("bad field", "POST", "/v1/jobs", city.enterprise, {**spec, "cards": -1}, 422),
        ("unknown field", "POST", "/v1/jobs", city.enterprise, {**spec, "colour": 1}, 422),
        ("not found", "GET", f"/v1/jobs/{UNKNOWN_ID}", city.enterprise, None, 404),
        ("forbidden", "POST", "/v1/jobs", city.provider, spec, 403),
        ("money rule", "POST", "/v1/jobs", city.enterprise, spec, 422),
        ("conflict", "POST", "/v1/organisations", city.operator, existing, 409),
        ("no credential", "GET", "/v1/jobs", None, None, 401),
        ("unknown route", "GET", "/v1/no-such-thing", city.enterprise, None, 404),
    ]
    for name, method, path, token, body, status in cases:
        reply = refuse(city, language, method, path, token, body)
        assert reply.status_code == status, f"{name}: {reply.status_code} {reply.text}"
        assert_in_language(reply.json(), language, name)


def operations(city: City) -> list[tuple[str, str]]:
    schema = city.client.get("/openapi.json").json()
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", UNKNOWN_ID, path))
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_operation_refuses_in_the_asked_language(city: City, language: str) -> None:
    walked = refused = 0
    callers = {
        "anonymous": None,
        "enterprise": city.enterprise,
        "provider": city.provider,
        "agency": city.agency,
    }
    for method, path in operations(city):
        for caller, token in callers.items():
            body = MALFORMED_BODY if method in {"POST", "PUT", "PATCH"} else None
            reply = refuse(city, language, method, path, token, body)
            walked += 1
            if 400 <= reply.status_code < 500 and reply.headers["content-type"].startswith(
                "application/json"
            ):
                refused += 1
                assert_in_language(reply.json(), language, f"{caller} {method} {path}")
    assert walked > 200 and refused > walked // 2, (walked, refused)


# -- every answer, not only refusals --------------------------------------------------------
# A city whose tenants typed Latin text only, but for what has no Latin form: the divisions a
# region names (the shipped table is Chinese only) and the operator's name from build_city.
# Industries are typed in Chinese on purpose: a taxonomy label is vocabulary, not data, and
# an English answer names it in English. So any other Chinese in an English answer is UI text.
TENANT_CHINESE = ("浙江/杭州/余杭", "浙江/杭州", "运营方")
# Answers that may carry Chinese in English: the catalogue's aliases are the names people type
# for a chip (昇腾910), and a scenes export is the list as stored, for re-import.
CHINESE_ALLOWED = {("/v1/catalog/accelerators", "aliases"), ("/v1/scenes/export/{kind}", "")}
OPPORTUNITIES_CSV = (
    "id,title,description,industry,tags,region,org\n"
    "OPP-1,weld grading,grade weld radiographs,智能制造,vision;quality,Hangzhou,Acme Works\n"
    "OPP-2,part inspection,inspect cast car parts,汽车制造业,vision,Ningbo,Beta Motors\n"
    "OPP-3,solar forecast,forecast photovoltaic output,光伏,energy,Hangzhou,Delta Power\n"
    "OPP-4,code review,review code,C65,software,Hangzhou,Zeta Soft\n"
    "OPP-5,odd one,something else,martian mining,misc,Hangzhou,Epsilon\n"
    "OPP-6,blank industry,no industry given,,misc,Hangzhou,Eta\n"
)
CAPABILITIES_CSV = (
    "id,title,description,industry,tags,region,org\n"
    "CAP-1,vision inspection,weld and cast defect detection,manufacturing,vision,Hangzhou,Acme AI\n"
    "CAP-2,risk models,credit risk models,金融,risk,Hangzhou,Beta AI\n"
)
# What an English reader sees for each stored industry (the stored label never changes).
INDUSTRIES_EN = {
    "OPP-1": "smart manufacturing",
    "OPP-2": "automobiles",
    "OPP-3": "electricity and heat production and supply",
    "OPP-4": "software and IT services",
    "OPP-5": "martian mining",
    "OPP-6": "other",
    "CAP-1": "smart manufacturing",
    "CAP-2": "finance",
}


def ok(reply: Any) -> Any:
    assert reply.status_code in (200, 201), reply.text
    return reply.json()


def seeded_ids(city: City) -> dict[str, list[str]]:
    """Data in every area (jobs in each end state, money, vouchers, both scene lists, pairs,
    challenges, users and tokens); the ids the GET operations' paths take."""
    from datetime import UTC, date, datetime, timedelta

    from suanli.services.scenes import lexical_only_matcher
    from tests.helpers import fund

    city.client.app.state.scene_matcher = lexical_only_matcher()  # type: ignore[attr-defined]
    fund(city.app, city.enterprise_id)
    agency_id = ok(city.get(city.agency, "/v1/me"))["org_id"]
    today = datetime.now(UTC).date()
    program = ok(
        city.post(
            city.agency,
            "/v1/vouchers/programs",
            {
                "name": "city compute voucher",
                "category": "compute",
                "budget_fen": 1_000_000_000,
                "valid_from": (today - timedelta(days=1)).isoformat(),
                "valid_until": (today + timedelta(days=300)).isoformat(),
                "base_ratio": "0.3",
                "tiers": [{"ratio": "0.5", "sme": True, "label": "SME"}],
                "cap_per_enterprise_fen": 800_000_000,
            },
        )
    )
    funding = {"amount_fen": 1_000_000, "external_reference": "treasury-1"}
    ok(city.post(city.agency, f"/v1/vouchers/programs/{program['id']}/funding", funding))
    facts = {"is_sme": True, "region": "浙江/杭州/余杭", "founded_on": "2021-03-01"}
    applied = ok(
        city.post(
            city.enterprise,
            f"/v1/vouchers/programs/{program['id']}/applications",
            {**facts, "requested_fen": 100_000, "note": "please"},
        )
    )
    approve = f"/v1/vouchers/applications/{applied['id']}/approve"
    ok(city.post(city.agency, approve, {"quota_fen": 100_000}))
    refused = ok(
        city.post(
            city.other_enterprise,
            f"/v1/vouchers/programs/{program['id']}/applications",
            {**facts, "requested_fen": 100_000},
        )
    )
    reject = f"/v1/vouchers/applications/{refused['id']}/reject"
    ok(city.post(city.agency, reject, {"reason": "not eligible"}))
    jobs = [
        ok(city.post(city.enterprise, "/v1/jobs", {"name": n, "command": c, "cards": 1}))["id"]
        for n, c in (("ok-job", "echo hello"), ("failing-job", "exit 3"))
    ]
    for _ in range(300):
        city.app.runtime.tick()
        states = {ok(city.get(city.enterprise, f"/v1/jobs/{job}"))["state"] for job in jobs}
        if states <= {"succeeded", "failed"}:
            break
    cancelled = ok(city.post(city.enterprise, "/v1/jobs", {"name": "c", "command": "sleep 9"}))
    ok(city.post(city.enterprise, f"/v1/jobs/{cancelled['id']}/cancel", {}))
    for kind, token, text in (
        ("opportunities", city.agency, OPPORTUNITIES_CSV),
        ("capabilities", city.enterprise, CAPABILITIES_CSV),
    ):
        body = {"kind": kind, "filename": f"{kind}.csv", "content": text, "batch": 1}
        ok(city.post(token, "/v1/scenes/import", body))
    pair = ok(
        city.post(
            city.agency, "/v1/scenes/pairs", {"opportunity_id": "OPP-1", "capability_id": "CAP-1"}
        )
    )
    ok(city.post(city.enterprise, f"/v1/scenes/pairs/{pair['id']}/stage", {"stage": "interested"}))
    top_up = {"amount_fen": 1_000_000, "external_reference": "grant-1"}
    ok(city.post(city.operator, f"/v1/scenes/agencies/{agency_id}/top-ups", top_up))
    challenge = ok(
        city.post(
            city.agency,
            "/v1/scenes/challenges",
            {
                "opportunity_id": "OPP-2",
                "goal": "grade welds",
                "reward_fen": 300_000,
                "deadline": (date.today() + timedelta(days=30)).isoformat(),
                "criteria": [{"name": "approach", "weight_percent": 100}],
            },
        )
    )
    proposals = f"/v1/scenes/challenges/{challenge['id']}/proposals"
    ok(city.post(city.enterprise, proposals, {"summary": "our plan"}))
    user = {
        "login": "ent.dev",
        "display_name": "Dev",
        "role": "member",
        "password": "tea-kettle-42x",
    }
    ok(city.post(city.enterprise, "/v1/users", user))
    ok(city.post(city.enterprise, "/v1/tokens", {"name": "ci", "scopes": ["read"]}))
    wallets = ok(city.get(city.operator, f"/v1/wallets/{city.enterprise_id}/balances"))
    return {
        "job_id": [*jobs, cancelled["id"]],
        "pool_id": [city.pool_id],
        "org_id": [city.enterprise_id, agency_id, city.provider_id],
        "program_id": [program["id"]],
        "application_id": [applied["id"], refused["id"]],
        "pair_id": [pair["id"]],
        "challenge_id": [challenge["id"]],
        "kind": ["opportunities", "capabilities"],
        "item_id": list(INDUSTRIES_EN),
        "month": [datetime.now(UTC).astimezone().strftime("%Y-%m")],
        "account_id": [wallet["account_id"] for wallet in wallets],
        "user_id": [row["id"] for row in ok(city.get(city.enterprise, "/v1/users"))["items"]],
        "connection_id": [UNKNOWN_ID],  # a connection needs a live cluster: refused, unchecked
    }


def get_variants(operation: dict[str, Any]) -> list[dict[str, str]]:
    """Each format a GET answers in (and each CSV section of a report), from its parameters."""
    variants: list[dict[str, str]] = [{}]
    for parameter in operation.get("parameters", []):
        pattern = parameter.get("schema", {}).get("pattern", "")
        if parameter["name"] == "format" and pattern.startswith("^("):
            variants = [{"format": value} for value in pattern[2:-2].split("|")]
    if any(p["name"] == "section" for p in operation.get("parameters", [])):
        sections = ("burn_down", "by_enterprise", "by_provider", "by_vendor", "refused")
        variants += [{"format": "csv", "section": section} for section in sections]
    return variants


def strings_of(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(where, text) for every string of a JSON answer, its object keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{where}.{key}", str(key)
            yield from strings_of(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from strings_of(item, f"{where}[]")
    elif isinstance(value, str):
        yield where, value


def texts_of_answer(reply: Any) -> Iterator[tuple[str, str]]:
    kind = reply.headers.get("content-type", "")
    if kind.startswith("application/json"):
        yield from strings_of(reply.json())
    elif "spreadsheetml" in kind:
        import io

        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(reply.content), read_only=True)
        for sheet in book.worksheets:
            yield f"sheet {sheet.title}", sheet.title
            for row in sheet.iter_rows(values_only=True):
                yield from ((f"sheet {sheet.title}", str(c)) for c in row if c is not None)
    else:
        yield from (("line", line) for line in reply.text.splitlines())


def chinese_vocabulary(text: str) -> bool:
    for tenant in TENANT_CHINESE:
        text = text.replace(tenant, " ")
    return has_chinese(text)


def test_every_get_answer_in_english_holds_no_chinese_but_tenant_text(city: City) -> None:
    """A walk over every GET of the OpenAPI document, for each kind of caller and each format
    it answers in, with Accept-Language: en: the only Chinese left is what tenants typed."""
    ids = seeded_ids(city)
    schema = city.client.get("/openapi.json").json()
    tokens = {
        "anonymous": None,
        "operator": city.operator,
        "enterprise": city.enterprise,
        "agency": city.agency,
        "provider": city.provider,
    }
    answered: set[str] = set()
    found: list[str] = []
    for template, item in schema["paths"].items():
        if "get" not in item:
            continue
        paths = [template]
        for name in re.findall(r"\{([^}]+)\}", template):
            paths = [p.replace(f"{{{name}}}", v) for p in paths for v in ids.get(name, ["x"])]
        for path in paths:
            for params in get_variants(item["get"]):
                for caller, token in tokens.items():
                    headers = {"Accept-Language": "en"}
                    if token is not None:
                        headers["Authorization"] = f"Bearer {token}"
                    reply = city.client.get(path, params=params, headers=headers)
                    assert reply.status_code < 500, f"{caller} GET {path}: {reply.text}"
                    if reply.status_code != 200:
                        continue
                    answered.add(template)
                    for where, text in texts_of_answer(reply):
                        allowed = any(
                            template == t_ and part in where for t_, part in CHINESE_ALLOWED
                        )
                        if chinese_vocabulary(text) and not allowed:
                            found.append(f"{caller} GET {path} {params} {where}: {text[:80]!r}")
    assert not sorted(set(found)), "\n".join(sorted(set(found))[:40])
    unanswered = {p for p, item in schema["paths"].items() if "get" in item} - answered
    assert unanswered <= {
        "/v1/connections/{connection_id}",
        "/v1/connections/{connection_id}/capacity",
    }, unanswered


@pytest.mark.parametrize("language", LANGUAGES)
def test_industries_and_stages_are_named_in_the_readers_language(city: City, language: str) -> None:
    """A taxonomy label (智能制造, 汽车制造业, an alias such as 光伏, a code such as C65) is the
    platform's vocabulary: shown in the reader's language, the stored label unchanged; a label
    nothing knows is the tenant's own words, shown as typed."""
    seeded_ids(city)
    headers = {**city.headers(city.agency), "Accept-Language": language}
    for kind in ("opportunities", "capabilities"):
        listed = city.client.get(f"/v1/scenes/{kind}", headers=headers).json()["items"]
        public = city.client.get(f"/v1/public/scenes/{kind}", headers=headers).json()["items"]
        for items in (listed, public):
            shown = {item["id"]: item["industry"] for item in items}
            expected = {key: value for key, value in INDUSTRIES_EN.items() if key in shown}
            assert len(expected) == len(shown) > 0
            if language == "en":
                assert shown == expected
            else:
                assert shown["OPP-1" if kind == "opportunities" else "CAP-1"] == "智能制造"
                assert all(has_chinese(v) or v == "martian mining" for v in shown.values()), shown
    one = city.client.get("/v1/scenes/opportunities/OPP-4", headers=headers).json()
    assert one["industry"] == (
        "software and IT services" if language == "en" else "软件和信息技术服务业"
    )
    exported = city.client.get("/v1/scenes/export/opportunities", headers=headers).text
    assert "智能制造" in exported and "汽车制造业" in exported  # the file keeps what is stored
    pairs = city.client.get("/v1/scenes/pairs", headers=headers).json()["items"]
    stats = city.client.get(
        "/v1/scenes/pipeline/stats",
        headers=city.headers(city.operator) | {"Accept-Language": language},
    ).json()
    if language == "en":
        assert [pair["stage_label"] for pair in pairs] == ["Interested"]
        assert stats["labels"]["recommended"] == "Recommended"
    else:
        assert [pair["stage_label"] for pair in pairs] == ["意向"]
        assert stats["labels"]["recommended"] == "推荐"
    agency_id = city.get(city.agency, "/v1/me").json()["org_id"]
    statement = city.client.get(f"/v1/wallets/{agency_id}/statement", headers=headers).json()
    memos = {line["memo"] for line in statement["items"] if line["memo"]}
    assert memos == (
        {"challenge reward funds", "challenge reward hold"}
        if language == "en"
        else {"揭榜挂帅奖金拨付", "揭榜挂帅奖金冻结"}
    )


ACCEPT_LANGUAGE_VARIANTS = [
    ("en-US,en;q=0.9", "en"),
    ("EN", "en"),
    ("en_GB", "en"),
    ("zh-TW", "zh-CN"),  # Chinese, though only the simplified script is written
    ("zh-Hant-TW,en;q=0.5", "zh-CN"),
    ("fr", None),  # nothing supported: the server's default
    ("*", None),
    ("fr, *;q=0.5", None),
    ("zh-CN;q=0.1, en;q=0.9", "en"),
    ("en;q=0", None),  # q=0: "not English"
    ("en;q=abc, zh-CN;q=0.2", "zh-CN"),
    ("en;level=1;q=0.5, zh-CN;q=0.8", "zh-CN"),
    ("EN;Q=0.9, zh;q=0.5", "en"),
    (";;;,,", None),
    ("en," + ",".join(f"x-{n};q=0.5" for n in range(600)), "en"),  # 5 kB and more
    ("x" * 5_000, None),
]


@pytest.mark.parametrize("server_default", ["zh-CN", "en"])
def test_any_accept_language_picks_a_language_and_never_fails(
    city: City, server_default: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The best supported language of the header; none (fr, *, q=0, noise): the server's
    SUANLI_LANGUAGE, zh-CN unless set. Never a 500, whatever the header's size or bytes."""
    monkeypatch.setenv("SUANLI_LANGUAGE", server_default)
    for header, language in ACCEPT_LANGUAGE_VARIANTS:
        expected = language or server_default
        for token, path in (
            (city.enterprise, f"/v1/jobs/{UNKNOWN_ID}"),
            (None, "/v1/public/overview"),
        ):
            headers = {"Accept-Language": header}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            reply = city.client.get(path, headers=headers)
            assert reply.status_code in (200, 404), (header[:40], reply.text)
            assert reply.headers["content-language"] == expected, header[:40]
            if reply.status_code == 404:
                assert_in_language(reply.json(), expected, header[:40])
    raw = city.client.get(
        "/v1/public/overview", headers={"Accept-Language": "fr-ç,zh".encode("latin-1")}
    )
    assert raw.status_code == 200 and raw.headers["content-language"] == "zh-CN"
