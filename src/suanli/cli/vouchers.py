"""`suanli vouchers ...`: programs (create, list, show, fund), apply, applications, approve,
reject, grants, report and expire. Thin: every command is one call to a running API."""

from __future__ import annotations

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
    page_footer,
    print_json,
)
from suanli.cli.render import (
    Column,
    code_word,
    note_already_recorded,
    print_table,
    words,
    yuan,
)
from suanli.domain.money import format_yuan
from suanli.domain.vouchers import Refusal
from suanli.i18n import t

app = typer.Typer(help="Compute vouchers", no_args_is_help=True)
programs_app = typer.Typer(help="Voucher programs (agencies)", no_args_is_help=True)
app.add_typer(programs_app, name="programs")

TIER_HELP = (
    "RATIO[,sme|non-sme][,domestic|non-domestic][,spend<=FEN][,startup<=YEARS][,label=TEXT]; "
    "repeatable, first match wins"
)


def parse_tier(text: str) -> dict[str, Any]:
    """'0.5,sme,spend<=50000000,label=SME' -> the API's tier object."""
    ratio, *conditions = [part.strip() for part in text.split(",")]
    tier: dict[str, Any] = {"ratio": ratio}
    flags = {"sme": ("sme", True), "non-sme": ("sme", False)}
    flags |= {"domestic": ("domestic", True), "non-domestic": ("domestic", False)}
    for condition in conditions:
        if condition in flags:
            key, value = flags[condition]
            tier[key] = value
        elif condition.startswith("spend<="):
            tier["yearly_spend_max_fen"] = _int(condition.removeprefix("spend<="), "--tier")
        elif condition.startswith("startup<="):
            tier["startup_age_max_years"] = _int(condition.removeprefix("startup<="), "--tier")
        elif condition.startswith("label="):
            tier["label"] = condition.removeprefix("label=")
        else:
            fail(t(f"无法识别的档位条件 {condition!r}", f"unknown tier condition {condition!r}"))
    return tier


def _int(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        fail(t(f"{option} 需要整数: {text!r}", f"{option} needs an integer: {text!r}"))


def _split(values: str | None) -> list[str]:
    return [value.strip() for value in (values or "").split(",") if value.strip()]


@programs_app.command("create")
def create(
    name: str = typer.Option(..., "--name"),
    category: str = typer.Option("compute", "--category", help="compute | model | corpus | smart"),
    budget_fen: int = typer.Option(..., "--budget-fen", help="the annual budget, integer fen"),
    valid_from: str = typer.Option(..., "--valid-from", help="date (Beijing) or ISO time"),
    valid_until: str = typer.Option(..., "--valid-until", help="exclusive end"),
    ratio: str = typer.Option(..., "--ratio", help="base ratio, 0..1, e.g. 0.3"),
    tiers: list[str] | None = typer.Option(None, "--tier", help=TIER_HELP),
    cap_per_enterprise_fen: int = typer.Option(..., "--cap-per-enterprise-fen"),
    cap_per_order_fen: int | None = typer.Option(None, "--cap-per-order-fen"),
    providers: str | None = typer.Option(None, "--providers", help="eligible provider ids, a,b"),
    provider_regions: str | None = typer.Option(None, "--provider-regions", help="浙江/杭州,..."),
    enterprise_regions: str | None = typer.Option(None, "--enterprise-regions"),
    sme_only: bool = typer.Option(False, "--sme-only"),
    bad_credit_years: int | None = typer.Option(None, "--bad-credit-years"),
    no_stacking: bool = typer.Option(False, "--no-stacking", help="no other subsidy on an order"),
    max_combined_ratio: str = typer.Option("1", "--max-combined-ratio"),
    stack_order: int = typer.Option(0, "--stack-order", help="lower stacks first"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Creates a program (agency). Rules are data; see docs/vouchers.md."""
    scope = "list" if providers else "region" if provider_regions else "all"
    body = {
        "name": name,
        "category": category,
        "budget_fen": budget_fen,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "base_ratio": ratio,
        "tiers": [parse_tier(tier) for tier in tiers or []],
        "cap_per_enterprise_fen": cap_per_enterprise_fen,
        "cap_per_order_fen": cap_per_order_fen,
        "provider_scope": scope,
        "provider_ids": _split(providers),
        "provider_regions": _split(provider_regions),
        "enterprise_regions": _split(enterprise_regions),
        "sme_only": sme_only,
        "bad_credit_lookback_years": bad_credit_years,
        "stacking_allowed": not no_stacking,
        "max_combined_ratio": max_combined_ratio,
        "stack_order": stack_order,
    }
    program = ApiClient(api_url, token).request("POST", "/v1/vouchers/programs", json=body)
    _print_program(program, json_output)


@programs_app.command("list")
def list_programs(
    open_only: bool = typer.Option(False, "--open", help="only programs open now"),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """The programs (they are public), a page at a time, newest first."""
    params = {"open_only": open_only, "offset": offset, "limit": limit}
    page = ApiClient(api_url, token).request("GET", "/v1/vouchers/programs", params=params)
    if json_output:
        print_json(page)
        return
    columns = (
        Column(t("编号", "id"), is_id=True),
        Column(t("预算", "budget"), justify="right"),
        Column(t("基础比例", "base")),
        Column(t("起", "from")),
        Column(t("止", "until")),
        Column(t("名称", "name"), fold=True),
        Column(t("类别", "category")),
    )
    rows = [
        (
            p["id"],
            format_yuan(p["budget_fen"]),
            str(p["rules"]["base_ratio"]),
            p["valid_from"][:10],
            p["valid_until"][:10],
            p["name"],
            category_word(p["category"]),
        )
        for p in page["items"]
    ]
    print_table(columns, rows, f"{t('算力券', 'Voucher programs')} {page_footer(page)}")


@programs_app.command("show")
def show(
    program_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """A program with its rules and its ledger totals (funded, committed, paid, remaining)."""
    program = ApiClient(api_url, token).request("GET", f"/v1/vouchers/programs/{program_id}")
    _print_program(program, json_output)


def _print_program(program: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(program)
        return
    category = category_word(program["category"])
    console.print(f"{program['id']}  {program['name']}  ({category})", highlight=False)
    rules = program["rules"]
    for key, (zh, en, show) in RULE_FIELDS.items():
        if rules.get(key) not in (None, [], "", {}):
            console.print(f"  {t(zh, en)}: {show(rules[key])}", highlight=False)
    for number, tier in enumerate(rules.get("tiers") or [], start=1):
        console.print(f"  {t(f'分档 {number}', f'tier {number}')}: {_tier(tier)}", highlight=False)
    for key, value in rules.items():  # a rule this CLI does not know yet, as the API names it
        if key not in RULE_FIELDS and key not in SHOWN_ELSEWHERE and value not in (None, [], ""):
            console.print(f"  `{key}`: {words(value)}", highlight=False)
    totals = program.get("totals") or {}
    for key, (zh, en) in TOTAL_LABELS.items():
        if key in totals:
            console.print(f"  {t(zh, en)}: {format_yuan(totals[key])}", highlight=False)


CATEGORY_WORDS = {
    "compute": ("算力券", "compute voucher"),
    "model": ("模型券", "model voucher"),
    "corpus": ("语料券", "corpus voucher"),
    "smart": ("智能化改造券", "smart-upgrade voucher"),
}
SCOPE_WORDS = {
    "all": ("全部服务商", "all providers"),
    "list": ("指定服务商", "listed providers"),
    "region": ("指定地区的服务商", "providers in the listed regions"),
}


def category_word(code: str) -> str:
    zh, en = CATEGORY_WORDS.get(code, (code, code))
    return t(zh, en)


def _scope_word(code: Any) -> str:
    zh, en = SCOPE_WORDS.get(str(code), (str(code), str(code)))
    return t(zh, en)


def _ratio(value: Any) -> str:
    return str(value)


# A program's rules, worded: (label in Chinese, in English, how the value reads).
RULE_FIELDS: dict[str, tuple[str, str, Any]] = {
    "base_ratio": ("基础补贴比例", "base ratio", _ratio),
    "cap_per_enterprise_fen": ("每家企业上限", "cap per enterprise", yuan),
    "cap_per_order_fen": ("每单上限", "cap per order", yuan),
    "provider_scope": ("服务商范围", "providers", _scope_word),
    "provider_ids": ("指定服务商", "listed providers", words),
    "provider_regions": ("服务商地区", "provider regions", words),
    "enterprise_regions": ("企业所在地", "enterprise regions", words),
    "sme_only": ("仅限中小企业", "SMEs only", words),
    "blacklist": ("黑名单", "blacklist", words),
    "blacklist_size": ("黑名单企业数", "enterprises blacklisted", words),
    "bad_credit_lookback_years": ("不良信用追溯年数", "bad-credit look-back (years)", words),
    "stacking_allowed": ("可与其他补贴叠加", "stacks with other subsidies", words),
    "max_combined_ratio": ("叠加比例上限", "max combined ratio", _ratio),
    "stack_order": ("叠加顺序", "stack order", words),
}
# Shown by their ratio strings above, or line by line (tiers).
SHOWN_ELSEWHERE = frozenset({"base_ratio_bp", "max_combined_ratio_bp", "tiers"})
TIER_FIELDS: dict[str, tuple[str, str, Any]] = {
    "ratio": ("比例", "ratio", _ratio),
    "label": ("名称", "label", words),
    "sme": ("中小企业", "SME", words),
    "domestic": ("国产算力", "domestic", words),
    "yearly_spend_max_fen": ("年度采购额上限", "yearly spend at most", yuan),
    "startup_age_max_years": ("成立年限少于", "founded less than (years)", words),
}


def _tier(tier: dict[str, Any]) -> str:
    """The conditions a tier sets (an unset one is no condition), then its ratio."""
    parts = [
        f"{t(zh, en)} {show(tier[key])}"
        for key, (zh, en, show) in TIER_FIELDS.items()
        if tier.get(key) not in (None, "")
    ]
    return t("，", ", ").join(parts)


TOTAL_LABELS = {
    "funded_fen": ("已拨付", "funded"),
    "committed_fen": ("已发放未用", "committed"),
    "paid_fen": ("已支付", "paid"),
    "remaining_fen": ("未分配", "remaining"),
}


@programs_app.command("fund")
def fund(
    program_id: str,
    amount_fen: int = typer.Option(..., "--amount-fen"),
    reference: str = typer.Option(..., "--reference", help="the treasury transfer's reference"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Records budget received for a program (its agency or the operator)."""
    body = {"amount_fen": amount_fen, "external_reference": reference}
    path = f"/v1/vouchers/programs/{program_id}/funding"
    transfer = ApiClient(api_url, token).request("POST", path, json=body)
    if json_output:
        print_json(transfer)
        return
    note_already_recorded(transfer, reference)
    console.print(f"{transfer['id']}  {format_yuan(transfer['amount_fen'])}", highlight=False)


@app.command("apply")
def apply(
    program_id: str,
    sme: bool = typer.Option(..., "--sme/--not-sme", help="declare whether you are an SME"),
    region: str = typer.Option(..., "--region", help="registration region, 浙江/杭州/余杭"),
    founded_on: str = typer.Option(..., "--founded-on", help="YYYY-MM-DD"),
    requested_fen: int = typer.Option(..., "--requested-fen"),
    bad_credit_on: str | None = typer.Option(None, "--bad-credit-on", help="latest record"),
    note: str = typer.Option("", "--note"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Applies for a program's vouchers (enterprise), declaring your facts."""
    body = {
        "is_sme": sme,
        "region": region,
        "founded_on": founded_on,
        "bad_credit_on": bad_credit_on,
        "requested_fen": requested_fen,
        "note": note,
    }
    path = f"/v1/vouchers/programs/{program_id}/applications"
    _print_application(ApiClient(api_url, token).request("POST", path, json=body), json_output)


@app.command("applications")
def applications(
    program: str | None = typer.Option(None, "--program"),
    state: str | None = typer.Option(None, "--state", help="pending | approved | rejected"),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Applications you may see (your own, or those to your agency's programs), a page at a
    time."""
    params = {"program_id": program, "state": state, "offset": offset, "limit": limit}
    query = {key: value for key, value in params.items() if value is not None}
    page = ApiClient(api_url, token).request("GET", "/v1/vouchers/applications", params=query)
    if json_output:
        print_json(page)
        return
    columns = (
        Column(t("编号", "id"), is_id=True),
        Column(t("状态", "state")),
        Column(t("企业", "enterprise")),
        Column(t("申请额度", "requested"), justify="right"),
        Column(t("企业编号", "enterprise id"), is_id=True),
        Column(t("理由", "reason"), fold=True),
    )
    rows = [
        (
            item["id"],
            code_word(item["state"]),
            item.get("enterprise_name") or "",
            format_yuan(item["requested_fen"]),
            item["enterprise_id"],
            item["reason"],
        )
        for item in page["items"]
    ]
    print_table(columns, rows, f"{t('算力券申请', 'Voucher applications')} {page_footer(page)}")


def _print_application(item: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(item)
        return
    enterprise = item.get("enterprise_name") or item["enterprise_id"]
    console.print(
        f"{item['id']}  {code_word(item['state']):<9} {enterprise} ({item['enterprise_id']})  "
        f"{format_yuan(item['requested_fen'])}  {item['reason']}",
        highlight=False,
    )


@app.command("approve")
def approve(
    application_id: str,
    quota_fen: int = typer.Option(..., "--quota-fen", help="at most the cap per enterprise"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Approves an application with a quota (the owning agency only); opens the grant."""
    path = f"/v1/vouchers/applications/{application_id}/approve"
    grant = ApiClient(api_url, token).request("POST", path, json={"quota_fen": quota_fen})
    _print_grant(grant, json_output)


@app.command("reject")
def reject(
    application_id: str,
    reason: str = typer.Option(..., "--reason"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Rejects an application with a reason (the owning agency only)."""
    path = f"/v1/vouchers/applications/{application_id}/reject"
    result = ApiClient(api_url, token).request("POST", path, json={"reason": reason})
    _print_application(result, json_output)


@app.command("grants")
def grants(
    program: str | None = typer.Option(None, "--program"),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Grants with their balance, what running jobs reserve, and what is available, a page at
    a time."""
    query: dict[str, Any] = {"offset": offset, "limit": limit}
    if program:
        query["program_id"] = program
    page = ApiClient(api_url, token).request("GET", "/v1/vouchers/grants", params=query)
    if json_output:
        print_json(page)
        return
    _print_grants_table(page)


def _print_grants_table(page: dict[str, Any]) -> None:
    """Like the applications table: whose each grant is, by name, with the id beside it."""
    columns = (
        Column(t("编号", "id"), is_id=True),
        Column(t("状态", "state")),
        Column(t("企业", "enterprise")),
        Column(t("额度", "quota"), justify="right"),
        Column(t("可用", "available"), justify="right"),
        Column(t("预留", "reserved"), justify="right"),
        Column(t("企业编号", "enterprise id"), is_id=True),
        Column(t("计划", "program"), fold=True),
    )
    rows = [
        (
            grant["id"],
            code_word(grant["state"]),
            grant.get("enterprise_name") or "",
            format_yuan(grant["quota_fen"]),
            format_yuan(grant["available_fen"]),
            format_yuan(grant["reserved_fen"]),
            grant["enterprise_id"],
            grant["program_name"],
        )
        for grant in page["items"]
    ]
    print_table(columns, rows, f"{t('算力券额度', 'Voucher grants')} {page_footer(page)}")


def _print_grant(grant: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(grant)
        return
    quota, available = format_yuan(grant["quota_fen"]), format_yuan(grant["available_fen"])
    reserved = format_yuan(grant["reserved_fen"])
    enterprise = grant.get("enterprise_name") or grant["enterprise_id"]
    console.print(
        f"{grant['id']}  {grant['program_name']}  {enterprise} ({grant['enterprise_id']})  "
        + t(
            f"额度 {quota}  可用 {available}  预留 {reserved}",
            f"quota {quota}  available {available}  reserved {reserved}",
        )
        + f"  {code_word(grant['state'])}",
        highlight=False,
    )


@app.command("report")
def report(
    program_id: str,
    output_format: str = typer.Option("text", "--format", help="text | json | csv | xlsx"),
    section: str = typer.Option(
        "burn_down", "--section", help="csv: burn_down|by_enterprise|by_provider|by_vendor|refused"
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="file (xlsx needs one)"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """The agency report, from the ledger: burn-down, subsidy by enterprise/provider/vendor.

    Also the domestic share and refused subsidies with their reasons."""
    client = ApiClient(api_url, token)
    path = f"/v1/vouchers/programs/{program_id}/report"
    if json_output or output_format == "json":
        print_json(client.request("GET", path))
        return
    if output_format == "text":
        _print_report(client.request("GET", path))
        return
    if output_format == "xlsx" and output is None:
        fail(t("XLSX 格式需要 --output 文件", "xlsx needs --output FILE"))
    content = client.download(path, params={"format": output_format, "section": section})
    if output is None:
        print(content.decode("utf-8"), end="")
        return
    output.write_bytes(content)
    console.print(t(f"已写入 {output}", f"written to {output}"))


def _print_report(report: dict[str, Any]) -> None:
    """The report in a few lines: totals, the domestic share, who got the subsidy, refusals."""
    console.print(f"{report['program_name']}  {report['program_id']}", highlight=False)
    console.print(f"  {t('预算', 'budget')}: {format_yuan(report['budget_fen'])}", highlight=False)
    for key, (zh, en) in TOTAL_LABELS.items():
        console.print(f"  {t(zh, en)}: {format_yuan(report['totals'][key])}", highlight=False)
    share = report["domestic_share_bp"] / 100
    console.print(f"  {t('国产算力补贴占比', 'domestic share')}: {share:.1f}%", highlight=False)
    for section, zh, en in SUBSIDY_SECTIONS:
        console.print(t(f"{zh}:", f"{en}:"), highlight=False)
        for item in report[section] or [{"name": "—", "subsidy_fen": 0, "orders": 0}]:
            orders = t(f"{item['orders']} 单", f"{item['orders']} orders")
            line = f"  {item['name']}  {format_yuan(item['subsidy_fen'])}  {orders}"
            console.print(line, highlight=False)
    for refused in report["refused"]:
        wanted = format_yuan(refused["wanted_fen"])
        outcome = outcome_word(refused["outcome"])
        console.print(
            t(
                f"未补贴（{outcome}）: {refused['orders']} 单, 按比例应为 {wanted}",
                f"not subsidised ({outcome}): {refused['orders']} orders, {wanted}",
            ),
            highlight=False,
        )


def outcome_word(code: str) -> str:
    """Why an order got no subsidy, in the reader's language (the API gives the code)."""
    try:
        return Refusal(code).message
    except ValueError:
        return code


SUBSIDY_SECTIONS = (
    ("by_enterprise", "按企业补贴", "subsidy by enterprise"),
    ("by_provider", "按服务商补贴", "subsidy by provider"),
    ("by_vendor", "按芯片厂商补贴", "subsidy by vendor"),
)


@app.command("expire")
def expire(
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Returns what ended programs' grants hold unused to the programs (agency or operator)."""
    result = ApiClient(api_url, token).request("POST", "/v1/vouchers/expire")
    if json_output:
        print_json(result)
        return
    console.print(
        t(
            f"到期 {result['grants_expired']} 份额度, 收回 {format_yuan(result['reclaimed_fen'])}",
            f"expired {result['grants_expired']} grants, reclaimed "
            f"{format_yuan(result['reclaimed_fen'])}",
        )
    )
