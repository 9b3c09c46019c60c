"""Commands that talk to a running `suanli serve` over HTTP: orgs, pools, jobs."""

from __future__ import annotations

import sys
import time
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
    err_console,
    fail,
    parse_pairs,
    print_json,
)
from suanli.cli.render import (
    Column,
    Field,
    code_word,
    job_state,
    print_record,
    print_table,
    words,
    yuan,
)
from suanli.domain.money import format_yuan
from suanli.i18n import t

orgs_app = typer.Typer(help="Organisations", no_args_is_help=True)
pools_app = typer.Typer(help="Compute pools", no_args_is_help=True)
jobs_app = typer.Typer(help="Jobs", no_args_is_help=True)
FOLLOW_POLL_S = 1.0
FOLLOW_MAX_S = 24 * 3600
JOB_DID_NOT_SUCCEED_EXIT = 8  # `jobs logs --follow`: the job ended failed, timed out, lost, ...


@orgs_app.command("create")
def orgs_create(
    name: str = typer.Option(..., "--name"),
    kind: str = typer.Option(..., "--kind", help="provider | enterprise | agency"),
    region: str = typer.Option("", "--region"),
    credit_code: str | None = typer.Option(
        None, "--credit-code", help="unified social credit code"
    ),
    admin_login: str | None = typer.Option(
        None, "--admin-login", help="the first admin's login (with --password-stdin)"
    ),
    admin_name: str = typer.Option("admin", "--admin-name"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="the first admin's password, from standard input"
    ),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Creates an organisation, active at once (operator; the only way to create an agency),
    and prints its first admin's token (shown once)."""
    body: dict[str, Any] = {"name": name, "kind": kind, "region": region}
    if credit_code:
        body["credit_code"] = credit_code
    if admin_login:
        if not password_stdin:
            fail(t("--admin-login 需要 --password-stdin", "--admin-login needs --password-stdin"))
        password = sys.stdin.readline().rstrip("\n")
        body["admin"] = {"login": admin_login, "display_name": admin_name, "password": password}
    result = ApiClient(api_url, token).request("POST", "/v1/organisations", json=body)
    if json_output:
        print_json(result)
        return
    console.print(f"{result['organisation']['id']}  {name} ({kind})")
    console.print(t("令牌(只显示一次):", "token (shown once):"))
    print(result["token"])


@orgs_app.command("list")
def orgs_list(
    kind: str | None = typer.Option(None, "--kind", help="provider | enterprise | agency"),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Lists organisations you may see, a page at a time."""
    params: dict[str, Any] = {"offset": offset, "limit": limit}
    if kind:
        params["kind"] = kind
    page = ApiClient(api_url, token).request("GET", "/v1/organisations", params=params)
    if json_output:
        print_json(page)
        return
    columns = (
        Column(t("编号", "id"), is_id=True),
        Column(t("类型", "kind")),
        Column(t("状态", "state")),
        Column(t("名称", "name"), fold=True),
    )
    rows = [
        (org["id"], code_word(org["kind"]), code_word(org["state"]), org["name"])
        for org in page["items"]
    ]
    print_table(columns, rows)
    console.print(f"{page['offset'] + len(page['items'])}/{page['total']}")


@orgs_app.command("relate")
def orgs_relate(
    from_org: str = typer.Option(..., "--from"),
    to_org: str = typer.Option(..., "--to"),
    kind: str = typer.Option(..., "--kind", help="parent_subsidiary | same_legal_representative"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Declares a relationship between two organisations."""
    body = {"from_org": from_org, "to_org": to_org, "kind": kind}
    result = ApiClient(api_url, token).request("POST", "/v1/organisations/relations", json=body)
    if json_output:
        print_json(result)
        return
    console.print(
        t(
            f"已声明关系: {from_org} → {to_org} ({kind})",
            f"relationship declared: {from_org} → {to_org} ({kind})",
        ),
        highlight=False,
    )


@pools_app.command("create")
def pools_create(
    name: str = typer.Option(..., "--name"),
    accelerator: str = typer.Option(..., "--accelerator", help="catalog model, e.g. H100-SXM"),
    nodes: int = typer.Option(1, "--nodes"),
    cards_per_node: int = typer.Option(8, "--cards-per-node"),
    region: str = typer.Option(..., "--region", help="province/city/district"),
    price_fen: int = typer.Option(..., "--price-fen", help="fen per card-hour"),
    software: list[str] = typer.Option(None, "--software", help="STACK=VERSION, repeatable"),
    label: list[str] = typer.Option(None, "--label", help="KEY=VALUE, repeatable"),
    backend: str = typer.Option("local", "--backend", help="local | ray | slurm"),
    connection_id: str | None = typer.Option(None, "--connection-id"),
    provider_id: str | None = typer.Option(None, "--provider-id", help="operator only"),
    shareable: bool = typer.Option(
        True, "--shareable/--no-shareable", help="sell shares of a card (--card-milli jobs)"
    ),
    cpus_per_node: int | None = typer.Option(None, "--cpus-per-node"),
    host_memory_gib_per_node: float | None = typer.Option(None, "--host-memory-gib-per-node"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Lists a pool of accelerators at a price per card-hour."""
    body: dict[str, Any] = {
        "name": name,
        "accelerator_model": accelerator,
        "nodes": nodes,
        "cards_per_node": cards_per_node,
        "region": region,
        "price_fen_per_card_hour": price_fen,
        "software": parse_pairs(software, "--software"),
        "labels": parse_pairs(label, "--label"),
        "backend": backend,
        "connection_id": connection_id,
        "provider_id": provider_id,
        "shareable": shareable,
        "cpus_per_node": cpus_per_node,
        "host_memory_gib_per_node": host_memory_gib_per_node,
    }
    _print_pool(ApiClient(api_url, token).request("POST", "/v1/pools", json=body), json_output)


POOL_FIELDS = (
    Field("id", "编号", "id"),
    Field("name", "名称", "name"),
    Field("provider_id", "服务商", "provider"),
    Field("accelerator_model", "加速卡", "accelerator"),
    Field("size", "规模(节点×卡)", "nodes × cards"),
    Field("vendor", "厂商", "vendor"),
    Field("domestic", "国产", "domestic"),
    Field("region", "地区", "region"),
    Field("price_fen_per_card_hour", "每卡时价格", "price per card-hour", yuan),
    Field("software", "软件栈", "software"),
    Field("free_cards", "空闲卡数", "free cards"),
    Field("available", "可用", "available"),
    Field("shareable", "按份出售", "sells card shares"),
    Field("backend", "后端", "backend", code_word),
    Field("connection_id", "集群接入", "connection"),
)


def _print_pool(pool: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(pool)
        return
    print_record({**pool, "size": f"{pool['nodes']} × {pool['cards_per_node']}"}, POOL_FIELDS)


@pools_app.command("list")
def pools_list(
    mine: bool = typer.Option(False, "--mine"),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Lists pools, a page at a time."""
    params = {"mine": mine, "offset": offset, "limit": limit}
    page = ApiClient(api_url, token).request("GET", "/v1/pools", params=params)
    if json_output:
        print_json(page)
        return
    columns = (
        Column(t("编号", "id"), is_id=True),
        Column(t("加速卡", "accelerator")),
        Column(t("卡数", "cards")),
        Column(t("每卡时", "per card-h"), justify="right"),
        Column(t("名称", "name"), fold=True),
        Column(t("地区", "region")),
    )
    rows = [
        (
            pool["id"],
            pool["accelerator_model"],
            f"{pool['nodes']}×{pool['cards_per_node']}",
            format_yuan(pool["price_fen_per_card_hour"]),
            pool["name"],
            pool["region"],
        )
        for pool in page["items"]
    ]
    print_table(columns, rows, t(f"资源池 (共 {page['total']})", f"Pools ({page['total']} in all)"))


@pools_app.command("show")
def pools_show(
    pool_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Shows one pool."""
    _print_pool(ApiClient(api_url, token).request("GET", f"/v1/pools/{pool_id}"), json_output)


@pools_app.command("update")
def pools_update(
    pool_id: str,
    price_fen: int | None = typer.Option(None, "--price-fen"),
    nodes: int | None = typer.Option(None, "--nodes"),
    name: str | None = typer.Option(None, "--name"),
    shareable: bool | None = typer.Option(None, "--shareable/--no-shareable"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Changes a pool's price, size, name or whether it sells shares of a card."""
    body = {"price_fen_per_card_hour": price_fen, "nodes": nodes, "name": name}
    body["shareable"] = shareable
    body = {k: v for k, v in body.items() if v is not None}
    if not body:
        fail(
            t(
                "没有要修改的字段：请给出 --price-fen、--nodes、--name 或 --shareable",
                "nothing to update: give --price-fen, --nodes, --name or --shareable",
            )
        )
    pool = ApiClient(api_url, token).request("PATCH", f"/v1/pools/{pool_id}", json=body)
    _print_pool(pool, json_output)


@pools_app.command("delete")
def pools_delete(
    pool_id: str, api_url: str | None = ApiUrlOption, token: str | None = TokenOption
) -> None:
    """Removes a pool with no active jobs."""
    ApiClient(api_url, token).request("DELETE", f"/v1/pools/{pool_id}")
    console.print(t(f"已删除 {pool_id}", f"deleted {pool_id}"))


def _spec_options(
    name: str,
    command: str,
    cards: int,
    cards_per_node: int,
    min_memory_gib: float,
    precision: str | None,
    software: list[str] | None,
    accelerator: list[str] | None,
    vendor: list[str] | None,
    region: str | None,
    max_run_time_s: int,
    priority: int,
    objective: str,
) -> dict[str, Any]:
    return {
        "name": name,
        "command": command,
        "cards": cards,
        "cards_per_node": cards_per_node,
        "min_memory_gib": min_memory_gib,
        "precision": precision,
        "software": software or [],
        "accelerators": accelerator or [],
        "vendors": vendor or [],
        "region": region,
        "max_run_time_s": max_run_time_s,
        "priority": priority,
        "objective": objective,
    }


NameOpt = typer.Option(..., "--name")
CommandOpt = typer.Option(..., "--command", help="shell command to run")
CardsOpt = typer.Option(1, "--cards")
PerNodeOpt = typer.Option(0, "--cards-per-node", help="0 = all cards on one node")
MemoryOpt = typer.Option(0.0, "--min-memory-gib")
PrecisionOpt = typer.Option(None, "--precision", help="fp32|tf32|bf16|fp16|fp8|int8")
SoftwareOpt = typer.Option(None, "--software", help="accepted stack, repeatable")
AcceleratorOpt = typer.Option(None, "--accelerator", help="accepted model, repeatable")
VendorOpt = typer.Option(None, "--vendor", help="accepted vendor, repeatable")
RegionOpt = typer.Option(None, "--region")
RunTimeOpt = typer.Option(3600, "--max-run-time-s")
PriorityOpt = typer.Option(50, "--priority")
ObjectiveOpt = typer.Option("default", "--objective", help="default|cost|time|deadline")
CardMilliOpt = typer.Option(
    None, "--card-milli", help="thousandths of one card, 1..1000 (with --cards 1)"
)
CpusOpt = typer.Option(0, "--cpus", help="host CPU cores per node")
HostMemoryOpt = typer.Option(0.0, "--host-memory-gib", help="host memory per node")
MaxPriceOpt = typer.Option(
    None,
    "--max-price-fen",
    help="never run on a pool dearer than this many fen per card-hour (the hold covers it)",
)


def _share_options(
    card_milli: int | None, cpus: int, host_memory_gib: float, max_price_fen: int | None
) -> dict[str, Any]:
    """The share of a card, the host resources and the price cap; the API checks ranges."""
    return {
        "card_milli": card_milli, "cpus": cpus, "host_memory_gib": host_memory_gib,
        "max_price_fen_per_card_hour": max_price_fen,
    }  # fmt: skip


@jobs_app.command("submit")
def jobs_submit(
    name: str = NameOpt,
    command: str = CommandOpt,
    cards: int = CardsOpt,
    cards_per_node: int = PerNodeOpt,
    min_memory_gib: float = MemoryOpt,
    precision: str | None = PrecisionOpt,
    software: list[str] = SoftwareOpt,
    accelerator: list[str] = AcceleratorOpt,
    vendor: list[str] = VendorOpt,
    region: str | None = RegionOpt,
    max_run_time_s: int = RunTimeOpt,
    priority: int = PriorityOpt,
    objective: str = ObjectiveOpt,
    card_milli: int | None = CardMilliOpt,
    cpus: int = CpusOpt,
    host_memory_gib: float = HostMemoryOpt,
    max_price_fen: int | None = MaxPriceOpt,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Submits a job; refused with one reason per requirement if no pool could ever run it."""
    body = _spec_options(
        name,
        command,
        cards,
        cards_per_node,
        min_memory_gib,
        precision,
        software,
        accelerator,
        vendor,
        region,
        max_run_time_s,
        priority,
        objective,
    )
    body.update(_share_options(card_milli, cpus, host_memory_gib, max_price_fen))
    job = ApiClient(api_url, token).request("POST", "/v1/jobs", json=body)
    if json_output:
        print_json(job)
        return
    console.print(
        t(f"已提交 {job['id']} ({job['state']})", f"submitted {job['id']} ({job['state']})")
    )


@jobs_app.command("quote")
def jobs_quote(
    name: str = typer.Option("quote", "--name"),
    command: str = typer.Option("true", "--command"),
    cards: int = CardsOpt,
    cards_per_node: int = PerNodeOpt,
    min_memory_gib: float = MemoryOpt,
    precision: str | None = PrecisionOpt,
    software: list[str] = SoftwareOpt,
    accelerator: list[str] = AcceleratorOpt,
    vendor: list[str] = VendorOpt,
    region: str | None = RegionOpt,
    max_run_time_s: int = RunTimeOpt,
    card_milli: int | None = CardMilliOpt,
    cpus: int = CpusOpt,
    host_memory_gib: float = HostMemoryOpt,
    max_price_fen: int | None = MaxPriceOpt,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Shows the price range of a spec over its feasible pools before submitting."""
    body = _spec_options(
        name,
        command,
        cards,
        cards_per_node,
        min_memory_gib,
        precision,
        software,
        accelerator,
        vendor,
        region,
        max_run_time_s,
        50,
        "default",
    )
    body.update(_share_options(card_milli, cpus, host_memory_gib, max_price_fen))
    result = ApiClient(api_url, token).request("POST", "/v1/jobs/quote", json=body)
    if json_output:
        print_json(result)
        return
    if not result["feasible_pools"]:
        fail("; ".join(result["reasons"]), 2)
    console.print(f"{format_yuan(result['min_fen'])} – {format_yuan(result['max_fen'])}")
    for line in result["feasible_pools"]:
        console.print(
            f"  {line['pool_id']}  {line['accelerator']:<12} {format_yuan(line['max_cost_fen'])}"
        )
    listed, total = len(result["feasible_pools"]), result.get("feasible_pools_total", 0)
    if total > listed:
        console.print(
            t(
                f"  （最便宜的 {listed} 个，共 {total} 个资源池）",
                f"  (the {listed} cheapest of {total} pools)",
            )
        )


@jobs_app.command("list")
def jobs_list(
    state: str | None = typer.Option(None, "--state"),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Lists the jobs you may see, newest first."""
    params: dict[str, Any] = {"offset": offset, "limit": limit}
    if state:
        params["state"] = state
    page = ApiClient(api_url, token).request("GET", "/v1/jobs", params=params)
    if json_output:
        print_json(page)
        return
    columns = (
        Column(t("编号", "id"), is_id=True),
        Column(t("状态", "state")),
        Column(t("资源池", "pool"), is_id=True),
        Column(t("名称", "name"), fold=True),
    )
    rows = [
        (job["id"], job_state(job["state"]), job["pool_id"] or "—", job["name"])
        for job in page["items"]
    ]
    print_table(columns, rows, t(f"作业 (共 {page['total']})", f"Jobs ({page['total']} in all)"))


@jobs_app.command("show")
def jobs_show(
    job_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Shows one job."""
    job = ApiClient(api_url, token).request("GET", f"/v1/jobs/{job_id}")
    if json_output:
        print_json(job)
        return
    print_record(job, JOB_FIELDS)


JOB_FIELDS = (
    Field("id", "编号", "id"),
    Field("name", "名称", "name"),
    Field("state", "状态", "state", job_state),
    Field("reason", "说明", "reason"),
    Field("exit_code", "退出码", "exit code"),
    Field("pool_id", "资源池", "pool"),
    Field("spec", "规格", "spec", lambda spec: _spec_words(spec)),
    Field("hold_fen", "预留金额", "held", yuan),
    Field("submitted_at", "提交时间", "submitted"),
    Field("started_at", "开始时间", "started"),
    Field("finished_at", "结束时间", "finished"),
)


def _spec_words(spec: dict[str, Any]) -> str:
    cards = t(f"{spec.get('cards')} 张卡", f"{spec.get('cards')} cards")
    run_time = t(f"最长 {spec.get('max_run_time_s')} 秒", f"at most {spec.get('max_run_time_s')} s")
    wanted = [words(spec.get(key)) for key in ("accelerators", "software") if spec.get(key)]
    return ", ".join([cards, run_time, *wanted])


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Cancels a job (a queued one at once; a running one is stopped by the scheduler)."""
    job = ApiClient(api_url, token).request("POST", f"/v1/jobs/{job_id}/cancel")
    if json_output:
        print_json(job)
        return
    console.print(f"{job['id']}: {job['state']}", highlight=False)


@jobs_app.command("usage")
def jobs_usage(
    job_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Shows the priced usage line of a finished job."""
    usage = ApiClient(api_url, token).request("GET", f"/v1/jobs/{job_id}/usage")
    if json_output:
        print_json(usage)
        return
    print_record(usage, USAGE_FIELDS)


USAGE_FIELDS = (
    Field("job_id", "作业", "job"),
    Field("pool_id", "资源池", "pool"),
    Field("accelerator_model", "加速卡", "accelerator"),
    Field("cards", "卡数", "cards"),
    Field("started_at", "开始时间", "started"),
    Field("ended_at", "结束时间", "ended"),
    Field("card_seconds", "卡秒", "card-seconds"),
    Field("card_milli", "每卡份额（千分之）", "share of a card (milli)"),
    Field("milli_card_seconds", "计价的千分卡秒", "milli-card-seconds priced"),
    Field("price_fen_per_card_hour", "每卡时价格", "price per card-hour", yuan),
    Field("amount_fen", "金额", "amount", yuan),
    Field("source", "计时来源", "timed by", code_word),
)


@jobs_app.command("logs")
def jobs_logs(
    job_id: str,
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing until the job ends"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Prints a job's output; --follow keeps going until it finishes, then prints its final
    state and exits 8 unless it succeeded."""
    client = ApiClient(api_url, token)
    offset, deadline = 0, time.monotonic() + FOLLOW_MAX_S
    while True:
        chunk = client.request("GET", f"/v1/jobs/{job_id}/logs", params={"offset": offset})
        print(chunk["text"], end="", flush=True)
        offset = chunk["next_offset"]
        if not follow:
            return
        if chunk["finished"] and not chunk["text"]:
            break
        if time.monotonic() > deadline:
            fail(t("跟随超时，作业仍未结束", "stopped following: the job is still running"), 7)
        if not chunk["text"]:
            time.sleep(FOLLOW_POLL_S)
    _end_with_final_state(client.request("GET", f"/v1/jobs/{job_id}"))


def _end_with_final_state(job: dict[str, Any]) -> None:
    """One line on stderr (stdout stays the job's own output); exit 8 unless it succeeded."""
    state = job_state(job["state"])
    detail = "; ".join(
        part
        for part in (
            job.get("reason") or "",
            t(f"退出码 {job['exit_code']}", f"exit code {job['exit_code']}")
            if job.get("exit_code") is not None
            else "",
        )
        if part
    )
    line = t(f"作业 {job['id']} 已结束: {state}", f"job {job['id']} ended: {state}")
    err_console.print(line + (f" ({detail})" if detail else ""), highlight=False, soft_wrap=True)
    if job["state"] != "succeeded":
        raise typer.Exit(JOB_DID_NOT_SUCCEED_EXIT)
