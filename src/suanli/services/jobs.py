"""Jobs: submit (check, quote, hold, queue), read with tenant isolation, cancel, logs, usage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.adapters.db.tables import JobRow, OrganisationRow, PoolRow, UsageRow
from suanli.config import Settings
from suanli.domain.accelerators import Precision
from suanli.domain.divisions import canonical_region
from suanli.domain.jobs import TERMINAL_STATES, JobSpec, JobState, transition
from suanli.domain.money import price_milli_card_seconds
from suanli.domain.pools import Region
from suanli.domain.scheduling.feasibility import explain_unplaceable, feasible_pools
from suanli.domain.scheduling.model import PoolView
from suanli.errors import InvalidInput, NotFound, PermissionDenied, QueueFull, Unplaceable
from suanli.i18n import Msg, msg
from suanli.services import ledger, settlement
from suanli.services.common import Clock, Page, PageResult, Principal, audit, new_id, paginate
from suanli.services.pools import pool_views

SPEC_FIELDS = frozenset(JobSpec.__dataclass_fields__)


def spec_from_dict(data: dict[str, Any]) -> JobSpec:
    """Builds a JobSpec from JSON-like input; every problem names its field."""
    unknown = set(data) - SPEC_FIELDS
    if unknown:
        raise InvalidInput(
            msg(
                f"作业不认识这些字段：{'、'.join(sorted(unknown))}",
                f"unknown job fields {sorted(unknown)}",
            ),
            field=sorted(unknown)[0],
        )
    values = dict(data)
    for key in ("software", "accelerators", "vendors"):
        values[key] = _str_tuple(values.get(key, ()), key)
    values["precision"] = _precision(values.get("precision"))
    if values.get("region") is not None and not isinstance(values["region"], Region):
        values["region"] = Region.parse(str(values["region"]))
    try:
        return JobSpec(**values)
    except TypeError as error:
        raise InvalidInput(
            msg(f"作业规格无效：{error}", f"bad job spec: {error}"), field="spec"
        ) from error


def requested_spec(data: dict[str, Any]) -> JobSpec:
    """A spec as a tenant sends it: spec_from_dict, and a wanted region that is a real division
    (a typo such as `hangzhou` would match no pool and queue for ever)."""
    values = dict(data)
    if values.get("region"):
        values["region"] = canonical_region(str(values["region"]))
    return spec_from_dict(values)


def spec_to_dict(spec: JobSpec) -> dict[str, Any]:
    data = asdict(spec)
    data["precision"] = spec.precision.value if spec.precision else None
    data["region"] = spec.region.label() if spec.region else None
    for key in ("software", "accelerators", "vendors"):
        data[key] = list(data[key])
    return data


def _str_tuple(value: object, field_name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(
            msg(f"`{field_name}` 须为字符串列表", f"{field_name} must be a list of strings"),
            field=field_name,
        )
    return tuple(v.strip() for v in value)


def _precision(value: object) -> Precision | None:
    if value in (None, ""):
        return None
    try:
        return Precision(str(value).lower())
    except ValueError:
        choices = ", ".join(p.value for p in Precision)
        raise InvalidInput(
            msg(f"精度须为以下之一：{choices}", f"precision must be one of {choices}"),
            field="precision",
        ) from None


@dataclass(frozen=True)
class Quote:
    feasible_pools: list[dict[str, Any]]  # the QUOTE_POOLS_MAX cheapest
    min_fen: int
    max_fen: int
    reasons: list[str]
    feasible_pools_total: int = 0  # all of them; min_fen and max_fen are over all


# A quote lists the cheapest pools only: a market of a thousand pools would answer 600 KB and
# draw a thousand rows on every keystroke of the portal's submit form.
QUOTE_POOLS_MAX = 50


def quote(session: Session, spec: JobSpec) -> Quote:
    """The price range of a spec over its feasible pools, at its maximum run time."""
    views = pool_views(session)
    feasible = feasible_pools(spec, views)
    if not feasible:
        return Quote([], 0, 0, [str(reason) for reason in explain_unplaceable(spec, views)])
    lines = [_quote_line(spec, view) for view in feasible]
    lines.sort(key=lambda line: (line["max_cost_fen"], line["pool_id"]))
    costs = [line["max_cost_fen"] for line in lines]
    return Quote(lines[:QUOTE_POOLS_MAX], min(costs), max(costs), [], len(lines))


def _quote_line(spec: JobSpec, view: PoolView) -> dict[str, Any]:
    price = view.pool.price_fen_per_card_hour
    return {
        "pool_id": view.pool.id,
        "pool": view.pool.name,
        "accelerator": view.pool.accelerator_model,
        "region": view.pool.region.label(),
        "price_fen_per_card_hour": price,
        "max_cost_fen": price_milli_card_seconds(spec.max_run_time_s * spec.milli_cards, price),
    }


def submit_job(
    session: Session, settings: Settings, clock: Clock, caller: Principal, spec: JobSpec
) -> JobRow:
    """Refuses what no pool could ever run; holds the maximum cost; queues the job."""
    if caller.org_kind != "enterprise":
        raise PermissionDenied(
            msg("只有企业可以提交作业", "only enterprises submit jobs"), field="organisation"
        )
    limit = settings.max_queued_jobs_per_enterprise
    _require_room_in_the_queue(session, limit, caller.org_id, including_this_job=False)
    views = pool_views(session)
    feasible = feasible_pools(spec, views)
    if not feasible:
        reasons = explain_unplaceable(spec, views)
        raise Unplaceable(
            msg("；".join(r.zh for r in reasons), "; ".join(r.en for r in reasons)),
            field="spec",
            reasons=reasons,
        )
    _refuse_a_zero_budget_without_a_free_pool(spec, feasible)
    job = JobRow(
        id=new_id("job"),
        owner_id=caller.org_id,
        submitted_by=caller.user_id,
        name=spec.name,
        spec=spec_to_dict(spec),
        state=JobState.PENDING.value,
        submitted_at=clock.now(),
    )
    cap = _price_cap(session, job, spec, feasible)
    job.spec = spec_to_dict(replace(spec, max_price_fen_per_card_hour=cap))
    hold = settlement.plan_job_hold(session, job, cap)
    # Queued with its hold in one insert; the hold itself moves last, since it locks the
    # clearing account that every submit shares (until the commit). All or nothing as before.
    job.hold_fen = hold.wallet_fen
    job.state = transition(JobState.PENDING, JobState.QUEUED).value
    session.add(job)
    session.flush()
    settlement.apply_job_hold(session, clock, job, hold)
    _require_room_in_the_queue(session, limit, caller.org_id, including_this_job=True)
    audit(
        session, clock, caller, "job.submit", job.id, name=job.name, cards=spec.cards,
        card_milli=spec.card_milli, max_run_time_s=spec.max_run_time_s, hold_fen=job.hold_fen,
    )  # fmt: skip
    return job


PRICE_CAP_TRIES_MAX = 16  # distinct prices tried, dearest first, for the default cap


def _price_cap(session: Session, job: JobRow, spec: JobSpec, feasible: list[PoolView]) -> int:
    """The dearest price per card-hour the job may run at, which its hold covers. Asked for:
    that. Otherwise the dearest feasible pool's, unless the wallet cannot hold that much:
    then the dearest it can. One provider's costly listing must not refuse every other
    tenant's small job for want of funds; the job just never runs on the pools above its cap
    (invariant 10). When no price is affordable, the cheapest: the refusal then says how
    much is missing for the least the job can cost."""
    if spec.max_price_fen_per_card_hour is not None:
        return spec.max_price_fen_per_card_hour
    prices = sorted({view.pool.price_fen_per_card_hour for view in feasible}, reverse=True)
    available = _wallet_available_fen(session, job.owner_id)
    for price in prices[:PRICE_CAP_TRIES_MAX]:
        if settlement.plan_job_hold(session, job, price).wallet_fen <= available:
            return price
    return prices[-1]


def _wallet_available_fen(session: Session, owner_id: str) -> int:
    wallet = ledger.wallet_id(owner_id)
    account = ledger.repository(session).accounts([wallet]).get(wallet)
    return 0 if account is None else account.balance.available_fen


def _require_room_in_the_queue(
    session: Session, limit: int, owner_id: str, *, including_this_job: bool
) -> None:
    """At most `limit` of an enterprise's jobs wait in the queue at once. Checked twice: first
    unlocked, before any work, so a full queue is refused without taking the locks every
    submit shares; then, with this submit's job written, under a lock on the organisation's
    row held to the commit, which is the check that binds: two submits of one enterprise
    count one after the other (on PostgreSQL, under READ COMMITTED, the later one's count
    sees the earlier one's committed job; SQLite's single writer serialises them anyway).
    It is taken after the hold, whose clearing-account lock already orders every submit that
    holds money, so it adds little wait of its own; other tenants never wait on it."""
    if including_this_job:
        lock = select(OrganisationRow.id).where(OrganisationRow.id == owner_id)
        # FOR NO KEY UPDATE: a plain FOR UPDATE waits on the key-share lock that inserting a
        # job (its owner's foreign key) takes, and two submits deadlocked on it and the hold.
        session.execute(lock.with_for_update(key_share=True))
    waiting = (
        select(func.count())
        .select_from(JobRow)
        .where(JobRow.owner_id == owner_id, JobRow.state == JobState.QUEUED.value)
    )
    queued = (session.scalar(waiting) or 0) - (1 if including_this_job else 0)
    if queued < limit:
        return
    raise QueueFull(
        msg(
            f"本企业排队中的作业已有 {queued} 个，达到上限 {limit} 个；"
            "请等待作业开始运行，或取消一些排队的作业",
            f"this enterprise has {queued} queued jobs, at the limit of {limit}; "
            "wait for some to start, or cancel some",
        ),
        limit=limit,
        queued=queued,
    )


def _refuse_a_zero_budget_without_a_free_pool(spec: JobSpec, feasible: list[PoolView]) -> None:
    """A budget of 0 fen fits only a pool priced at 0: on any other pool every run costs more
    than nothing. Without a free pool that fits, such a job could never run; it is refused
    here instead of queued (and failed later by the loop). Any positive budget may fit."""
    if spec.budget_fen != 0 or any(view.pool.price_fen_per_card_hour == 0 for view in feasible):
        return
    raise InvalidInput(
        msg(
            "`budget_fen` 为 0 分时只有免费资源池能运行，而没有符合要求的免费资源池；"
            "预算须至少为 1 分，或不设预算",
            "budget_fen 0 fits only a free pool, and no free pool meets the job's requirements; "
            "give a budget of at least 1 fen, or none",
        ),
        field="budget_fen",
    )


def _visible(caller: Principal) -> Any:
    if caller.is_operator:
        return select(JobRow)
    if caller.org_kind == "provider":
        mine = select(PoolRow.id).where(PoolRow.provider_id == caller.org_id)
        return select(JobRow).where(JobRow.pool_id.in_(mine))
    return select(JobRow).where(JobRow.owner_id == caller.org_id)


def get_job(session: Session, caller: Principal, job_id: str) -> JobRow:
    """Another tenant's job is indistinguishable from a missing one (404)."""
    row = session.scalar(_visible(caller).where(JobRow.id == job_id))
    if row is None:
        raise NotFound(msg(f"没有作业 {job_id}", f"job {job_id} not found"), field="job_id")
    return row


def list_jobs(
    session: Session, caller: Principal, page: Page, state: str | None = None
) -> PageResult[JobRow]:
    query = _visible(caller).order_by(JobRow.submitted_at.desc(), JobRow.id)
    if state is not None:
        if state not in {s.value for s in JobState}:
            raise InvalidInput(
                msg(f"未知状态 {state!r}", f"unknown state {state!r}"), field="state"
            )
        query = query.where(JobRow.state == state)
    return paginate(session, query, page)


def request_cancel(
    session: Session, settings: Settings, clock: Clock, caller: Principal, job_id: str
) -> JobRow:
    """Queued jobs cancel at once (hold voided); running ones are stopped by the runtime."""
    job = get_job(session, caller, job_id)
    if caller.org_kind == "provider":
        raise PermissionDenied(
            msg("算力提供方不能取消客户的作业", "providers cannot cancel their customers' jobs"),
            field="job_id",
        )
    current = JobState(job.state)
    transition(current, JobState.CANCELLED)  # raises on terminal states
    if current in (JobState.PENDING, JobState.QUEUED):
        job.state = JobState.CANCELLED.value
        job.finished_at = clock.now()
        settlement.release_job_hold(session, settings, clock, job)
    else:
        job.reason = "cancel requested"
    session.flush()
    audit(
        session, clock, caller, "job.cancel", job.id, about_org=job.owner_id,
        before={"state": current.value}, state=job.state,
    )  # fmt: skip
    return job


def get_usage(session: Session, caller: Principal, job_id: str) -> UsageRow:
    job = get_job(session, caller, job_id)
    usage = session.scalar(select(UsageRow).where(UsageRow.job_id == job.id))
    if usage is None:
        raise NotFound(_no_usage(job_id, job.state), field="job_id")
    return usage


def _no_usage(job_id: str, state: str) -> Msg:
    """'Yet' only while the job may still run: an ended job without a line never gets one."""
    if JobState(state) in TERMINAL_STATES:
        return msg(
            f"作业 {job_id} 已结束(状态 `{state}`)且没有用量记录: 未计费",
            f"job {job_id} ended {state} and has no usage: nothing was billed",
        )
    return msg(
        f"作业 {job_id} 还没有用量记录(状态 `{state}`)，结束后才有",
        f"job {job_id} has no usage yet (state {state}); it comes when the job ends",
    )
