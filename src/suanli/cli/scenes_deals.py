"""`suanli scenes pairs ...` (对接) and `suanli scenes challenges ...` (揭榜挂帅): thin
wrappers of the /v1/scenes API, printing a summary, or the API's answer with --json."""

from __future__ import annotations

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
    page_footer,
    print_json,
)
from suanli.cli.render import (
    Column,
    Field,
    code_word,
    note_already_recorded,
    print_record,
    print_table,
    words,
    yuan,
)
from suanli.i18n import t

pairs_app = typer.Typer(
    help="Pairs: recommend, move through the stages, consent", no_args_is_help=True
)
challenges_app = typer.Typer(
    help="Challenges: post, propose, review, award, cancel", no_args_is_help=True
)
API = "/v1/scenes"
STAGES = ("interested", "negotiating", "signed", "delivered", "closed")


# ---------------------------------------------------------------- stored matches

MATCH_TIMEOUT_S = 600.0  # the first request embeds the whole other list (tens of seconds)
TOP_MAX = 50


def matches_command(
    kind: str = typer.Argument(..., help="opportunities | capabilities"),
    item_id: str = typer.Argument(..., help="a stored item's id"),
    top: int = typer.Option(10, "--top", min=1, max=TOP_MAX, help="candidates per item"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """The best open items of the other list for a stored item, each with score and reasons."""
    if kind not in ("opportunities", "capabilities"):
        fail(t("应为 `opportunities` 或 `capabilities`", "kind: opportunities or capabilities"))
    path = f"{API}/{kind}/{item_id}/matches"
    client = ApiClient(api_url, token)
    waiting = t(
        "匹配中(首次请求要为另一张清单建立索引，可能需要几十秒)…",
        "matching (the first request indexes the other list; it can take tens of seconds)…",
    )
    with err_console.status(waiting):
        found = client.request("GET", path, params={"top": top}, timeout=MATCH_TIMEOUT_S)
    if json_output:
        print_json(found)
        return
    err_console.print(_index_line(found["index_status"]), highlight=False)
    columns = (
        Column(t("候选", "candidate"), is_id=True),
        Column(t("得分", "score")),
        Column(t("名称", "title"), fold=True),
        Column(t("理由", "why"), fold=True),
    )
    rows = [(c["id"], f"{c['score']:.3f}", c["title"], c["why"]) for c in found["candidates"]]
    print_table(columns, rows, f"{item_id} ({found['mode']})")


def _index_line(status: dict[str, Any]) -> str:
    items, embedded, seconds = status["items"], status["embedded"], status["seconds"]
    if status["built"]:
        return t(
            f"索引: 本次新建，{items} 条，新嵌入 {embedded} 条，用时 {seconds:.1f} 秒",
            f"index: built now, {items} items, {embedded} embedded, {seconds:.1f} s",
        )
    return t(f"索引: 复用，{items} 条", f"index: reused, {items} items")


# ---------------------------------------------------------------- pairs (对接)


@pairs_app.command("recommend")
def pairs_recommend(
    opportunity: str = typer.Option(..., "--opportunity", help="opportunity id"),
    capability: str = typer.Option(..., "--capability", help="capability id"),
    score: float | None = typer.Option(None, "--score", min=0, max=1, help="match score, 0..1"),
    why: str = typer.Option("", "--why", help="why they fit"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Recommends an opportunity and a capability to each other (stage: recommended)."""
    body: dict[str, Any] = {"opportunity_id": opportunity, "capability_id": capability, "why": why}
    if score is not None:
        body["score"] = score
    pair = ApiClient(api_url, token).request("POST", f"{API}/pairs", json=body)
    _print_pair(pair, json_output)


@pairs_app.command("stage")
def pairs_stage(
    pair_id: str,
    stage: str = typer.Argument(..., help="interested | negotiating | signed | delivered | closed"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Moves a pair one stage forward, or closes it."""
    if stage not in STAGES:
        fail(t(f"`stage` 只能是 {'、'.join(STAGES)}", f"stage must be one of {', '.join(STAGES)}"))
    path = f"{API}/pairs/{pair_id}/stage"
    _print_pair(ApiClient(api_url, token).request("POST", path, json={"stage": stage}), json_output)


@pairs_app.command("consent")
def pairs_consent(
    pair_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Gives your side's consent; once both sides consent the contacts are revealed."""
    pair = ApiClient(api_url, token).request("POST", f"{API}/pairs/{pair_id}/consent")
    _print_pair(pair, json_output)


@pairs_app.command("show")
def pairs_show(
    pair_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Shows one pair: its stage, both consents and, once revealed, the contacts."""
    _print_pair(ApiClient(api_url, token).request("GET", f"{API}/pairs/{pair_id}"), json_output)


@pairs_app.command("list")
def pairs_list(
    stage: str | None = typer.Option(None, "--stage", help="recommended, interested, ..."),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """The pairs you may see, a page at a time."""
    params: dict[str, Any] = {"offset": offset, "limit": limit}
    if stage:
        params["stage"] = stage
    page = ApiClient(api_url, token).request("GET", f"{API}/pairs", params=params)
    if json_output:
        print_json(page)
        return
    columns = (
        Column(t("编号", "id"), is_id=True),
        Column(t("阶段", "stage")),
        Column(t("机会", "opportunity"), is_id=True),
        Column(t("能力", "capability"), is_id=True),
        Column(t("得分", "score")),
    )
    rows = [
        (p["id"], _stage_label(p), p["opportunity"]["id"], p["capability"]["id"], words(p["score"]))
        for p in page["items"]
    ]
    print_table(columns, rows, t(f"对接 (共 {page['total']})", f"Pairs ({page['total']} in all)"))


@pairs_app.command("stats")
def pairs_stats(
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """How many pairs are at each stage."""
    stats = ApiClient(api_url, token).request("GET", f"{API}/pipeline/stats")
    if json_output:
        print_json(stats)
        return
    for stage, count in stats["stages"].items():
        label = stats["labels"].get(stage, stage)
        console.print(f"{t(label, stage)}  {count}", highlight=False)
    console.print(t(f"合计  {stats['total']}", f"total  {stats['total']}"), highlight=False)


def _stage_label(pair: dict[str, Any]) -> str:
    return t(pair["stage_label"], pair["stage"])


def _print_pair(pair: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(pair)
        return
    opportunity, capability = pair["opportunity"], pair["capability"]
    consents = pair["consents"]
    print_record(
        {
            "id": pair["id"],
            "stage": _stage_label(pair),
            "opportunity": f"{opportunity['id']}  {opportunity['title']}",
            "capability": f"{capability['id']}  {capability['title']}",
            "consents": t(
                f"机会方 {_consented(consents['opportunity'])}, "
                f"能力方 {_consented(consents['capability'])}",
                f"opportunity side {_consented(consents['opportunity'])}, "
                f"capability side {_consented(consents['capability'])}",
            ),
            "contacts": _contacts(pair["contacts"]),
        },
        PAIR_FIELDS,
    )


PAIR_FIELDS = (
    Field("id", "编号", "id"),
    Field("stage", "阶段", "stage"),
    Field("opportunity", "机会", "opportunity"),
    Field("capability", "能力", "capability"),
    Field("consents", "同意", "consents"),
    Field("contacts", "联系方式", "contacts"),
)


def _consented(at: Any) -> str:
    return t("已同意", "yes") if at else t("未同意", "not yet")


def _contacts(contacts: Any) -> str:
    """Both sides' contacts once revealed; before that, why they are not shown."""
    if not contacts:
        return t("双方同意后显示", "shown once both sides consent")
    if isinstance(contacts, dict):
        shown = (f"{code_word(side)}: {words(value)}" for side, value in contacts.items())
        return "; ".join(shown)
    return words(contacts)


# ---------------------------------------------------------------- challenges (揭榜挂帅)


@challenges_app.command("fund")
def challenges_fund(
    agency: str = typer.Option(..., "--agency", help="agency organisation id"),
    amount_fen: int = typer.Option(..., "--amount-fen", help="integer fen"),
    reference: str = typer.Option(..., "--reference", help="the treasury transfer's reference"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Records money an agency received for rewards (operator)."""
    body = {"amount_fen": amount_fen, "external_reference": reference}
    path = f"{API}/agencies/{agency}/top-ups"
    result = ApiClient(api_url, token).request("POST", path, json=body)
    if json_output:
        print_json(result)
        return
    if result.get("already_recorded"):
        note_already_recorded(result, reference)
        return
    console.print(
        t(f"已入账 {yuan(amount_fen)} ({agency})", f"recorded {yuan(amount_fen)} for {agency}"),
        highlight=False,
    )


@challenges_app.command("post")
def challenges_post(
    opportunity: str = typer.Option(..., "--opportunity", help="opportunity id"),
    goal: str = typer.Option(..., "--goal", help="what must be achieved"),
    reward_fen: int = typer.Option(..., "--reward-fen", help="integer fen, held at once"),
    deadline: str = typer.Option(..., "--deadline", help="YYYY-MM-DD"),
    criterion: list[str] = typer.Option(..., "--criterion", help="NAME=WEIGHT%, repeatable"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Posts a challenge (agency); the reward is held on the agency's wallet."""
    body = {
        "opportunity_id": opportunity,
        "goal": goal,
        "reward_fen": reward_fen,
        "deadline": deadline,
        "criteria": [
            {"name": name, "weight_percent": weight}
            for name, weight in _named_numbers(criterion, "--criterion").items()
        ],
    }
    challenge = ApiClient(api_url, token).request("POST", f"{API}/challenges", json=body)
    _print_challenge(challenge, json_output)


@challenges_app.command("propose")
def challenges_propose(
    challenge_id: str,
    summary: str = typer.Option(..., "--summary", help="your proposal"),
    capability: str | None = typer.Option(None, "--capability", help="capability id"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Proposes a solution to an open challenge (enterprise)."""
    body: dict[str, Any] = {"summary": summary}
    if capability:
        body["capability_id"] = capability
    path = f"{API}/challenges/{challenge_id}/proposals"
    proposal = ApiClient(api_url, token).request("POST", path, json=body)
    if json_output:
        print_json(proposal)
        return
    console.print(
        t(f"已提交方案 {proposal['id']}", f"proposal {proposal['id']} submitted"), highlight=False
    )


@challenges_app.command("review")
def challenges_review(
    challenge_id: str,
    proposal: str = typer.Option(..., "--proposal", help="proposal id"),
    score: list[str] = typer.Option(..., "--score", help="CRITERION=0..100, repeatable"),
    comment: str = typer.Option("", "--comment"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Scores a proposal on each criterion; the first review closes the challenge to proposals."""
    body = {"proposal_id": proposal, "scores": _named_numbers(score, "--score"), "comment": comment}
    path = f"{API}/challenges/{challenge_id}/reviews"
    review = ApiClient(api_url, token).request("POST", path, json=body)
    if json_output:
        print_json(review)
        return
    console.print(
        t(f"已评审 {proposal}: {review['score']} 分", f"reviewed {proposal}: {review['score']}"),
        highlight=False,
    )


@challenges_app.command("award")
def challenges_award(
    challenge_id: str,
    proposal: str = typer.Option(..., "--proposal", help="proposal id"),
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Awards a reviewed proposal (the posting agency); the reward is paid to the winner."""
    path = f"{API}/challenges/{challenge_id}/award"
    body = {"proposal_id": proposal}
    _print_challenge(ApiClient(api_url, token).request("POST", path, json=body), json_output)


@challenges_app.command("cancel")
def challenges_cancel(
    challenge_id: str,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """Cancels a challenge (the posting agency); the held reward returns."""
    path = f"{API}/challenges/{challenge_id}/cancel"
    _print_challenge(ApiClient(api_url, token).request("POST", path), json_output)


@challenges_app.command("list")
def challenges_list(
    state: str | None = typer.Option(
        None, "--state", help="open | reviewing | awarded | cancelled"
    ),
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """The challenges with their state, a page at a time, newest first."""
    params: dict[str, Any] = {"offset": offset, "limit": limit}
    if state:
        params["state"] = state
    page = ApiClient(api_url, token).request("GET", f"{API}/challenges", params=params)
    if json_output:
        print_json(page)
        return
    columns = (
        Column(t("编号", "id"), is_id=True),
        Column(t("状态", "state")),
        Column(t("奖金", "reward"), justify="right"),
        Column(t("截止", "deadline")),
        Column(t("目标", "goal"), fold=True),
    )
    rows = [
        (c["id"], code_word(c["state"]), yuan(c["reward_fen"]), str(c["deadline"]), c["goal"])
        for c in page["items"]
    ]
    print_table(columns, rows, f"{t('揭榜任务', 'Challenges')} {page_footer(page)}")


@challenges_app.command("proposals")
def challenges_proposals(
    challenge_id: str,
    offset: int = OffsetOption,
    limit: int = LimitOption,
    api_url: str | None = ApiUrlOption,
    token: str | None = TokenOption,
    json_output: bool = JsonOption,
) -> None:
    """The proposals to a challenge with their review scores, a page at a time."""
    path = f"{API}/challenges/{challenge_id}/proposals"
    params = {"offset": offset, "limit": limit}
    answer = ApiClient(api_url, token).request("GET", path, params=params)
    if json_output:
        print_json(answer)
        return
    columns = (
        Column(t("编号", "id"), is_id=True),
        Column(t("企业", "enterprise"), is_id=True),
        Column(t("得分", "score")),
        Column(t("方案", "summary"), fold=True),
    )
    rows = [(p["id"], p["enterprise_id"], words(p["score"]), p["summary"]) for p in answer["items"]]
    print_table(columns, rows, f"{t('方案', 'Proposals')} {page_footer(answer)}")


CHALLENGE_FIELDS = (
    Field("id", "编号", "id"),
    Field("state", "状态", "state", code_word),
    Field("opportunity_id", "机会", "opportunity"),
    Field("goal", "目标", "goal"),
    Field("reward_fen", "奖金", "reward", yuan),
    Field("deadline", "截止日期", "deadline"),
    Field("winner_proposal_id", "获奖方案", "winning proposal"),
)


def _print_challenge(challenge: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(challenge)
        return
    print_record(challenge, CHALLENGE_FIELDS)


def _named_numbers(values: list[str], option: str) -> dict[str, int]:
    """NAME=NUMBER options (repeatable), naming the option on a malformed one."""
    named: dict[str, int] = {}
    for value in values:
        name, _, number = value.rpartition("=")
        number = number.strip().removesuffix("%")
        if not name.strip() or not number.strip().isdigit():
            fail(
                t(
                    f"{option} 需要 名称=整数 格式: {value}",
                    f"{option} needs NAME=INTEGER: {value}",
                )
            )
        named[name.strip()] = int(number)
    return named
