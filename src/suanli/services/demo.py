"""The demo city: fictional providers, pools, enterprises and jobs (all names are made up)."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from suanli.adapters.db.tables import JobRow, OrganisationRow, PoolRow, UsageRow
from suanli.bootstrap import App
from suanli.errors import Unplaceable
from suanli.services import connections as connection_service
from suanli.services import jobs as job_service
from suanli.services import pools as pool_service
from suanli.services.common import Principal
from suanli.services.organisations import (
    IssuedToken,
    bootstrap_operator,
    create_organisation,
    create_user_with_token,
)

FICTION = "（虚构）"
PROVIDERS = ("钱塘智算" + FICTION, "之江云算力" + FICTION, "西溪国产算力中心" + FICTION)
ENTERPRISES = (
    "良渚医疗影像" + FICTION,
    "运河智能制造" + FICTION,
    "湖畔大模型" + FICTION,
    "滨江金融科技" + FICTION,
)
# provider index, name, model, nodes, cards per node, region, fen per card-hour, software
POOLS = (
    (0, "h100-a", "H100-SXM", 1, 8, "浙江/杭州/余杭", 2800, {"CUDA": "12.4"}),
    (0, "4090-a", "RTX-4090", 2, 4, "浙江/杭州/余杭", 320, {"CUDA": "12.4"}),
    (1, "a100-b", "A100-80GB", 1, 8, "浙江/杭州/滨江", 1500, {"CUDA": "12.2"}),
    (1, "l40s-b", "L40S", 1, 4, "浙江/杭州/滨江", 700, {"CUDA": "12.2"}),
    (2, "910-c", "Ascend-910", 1, 8, "浙江/杭州/西湖", 900, {"CANN": "8.0"}),
    (2, "mlu-c", "MLU370-X8", 1, 4, "浙江/湖州/德清", 450, {"Neuware": "2.7"}),
)
# Plain Python, so any `python3` runs it: a local job may run as a user of its own that cannot
# reach the service's virtual environment (adapters/backends/local.py).
WORK = (
    "import random, time; n = 60; a = [[random.random() for _ in range(n)] for _ in range(n)]\n"
    "for i in range({steps}):\n"
    "    a = [[sum(x * y for x, y in zip(r, c)) / n for c in zip(*a)] for r in a]\n"
    "    time.sleep({pause})\n"
    "    norm = sum(x * x for r in a for x in r) ** 0.5\n"
    "    print(f'step {{i + 1}}/{steps} norm={{norm:.3f}}', flush=True)\n"
)


def _command(steps: int, pause: float = 0.2) -> str:
    script = WORK.format(steps=steps, pause=pause)
    return f'python3 -c "{script}"'


# enterprise index, spec
JOBS: tuple[tuple[int, dict[str, Any]], ...] = (
    (0, {"name": "ct-segmentation", "cards": 2, "precision": "fp16", "steps": 8}),
    (0, {"name": "ct-inference", "cards": 1, "precision": "int8", "steps": 5}),
    (1, {"name": "defect-detect", "cards": 4, "cards_per_node": 4, "steps": 10}),
    (1, {"name": "ascend-port", "cards": 4, "software": ["CANN"], "steps": 6}),
    (
        2,
        {
            "name": "llm-pretrain",
            "cards": 8,
            "cards_per_node": 8,
            "precision": "bf16",
            "min_memory_gib": 80,
            "accelerators": ["H100-SXM"],
            "steps": 14,
        },
    ),
    (
        2,
        {
            "name": "llm-sft",
            "cards": 8,
            "cards_per_node": 8,
            "accelerators": ["H100-SXM"],
            "precision": "bf16",
            "steps": 6,
        },
    ),  # must queue behind llm-pretrain
    (2, {"name": "llm-eval", "cards": 2, "min_memory_gib": 40, "steps": 5}),
    (3, {"name": "risk-model", "cards": 1, "region": "浙江/杭州", "steps": 6}),
    (3, {"name": "ocr-cambricon", "cards": 2, "vendors": ["Cambricon"], "steps": 5}),
    (3, {"name": "fraud-graph", "cards": 2, "precision": "fp32", "steps": 7}),
    (
        1,
        {
            "name": "fp8-giant",
            "cards": 16,
            "cards_per_node": 8,
            "precision": "fp8",
            "min_memory_gib": 141,
            "steps": 3,
        },
    ),  # fits nowhere: refused with reasons
)

# `suanli demo --with-ray`: a local Ray head offers H800 cards (a model no local pool has), the
# first provider connects it and lists a pool there, and these jobs can only run on it.
RAY_RESOURCES = {"accelerator_type:H800": 8}
RAY_POOL = ("h800-ray", "H800-SXM", 1, 8, "浙江/杭州/余杭", 2400, {"CUDA": "12.4", "Ray": "2.x"})
RAY_JOBS: tuple[tuple[int, dict[str, Any]], ...] = (
    (2, {"name": "llm-distill-ray", "cards": 4, "accelerators": ["H800-SXM"], "steps": 6}),
    (0, {"name": "ct-train-ray", "cards": 2, "accelerators": ["H800-SXM"], "steps": 5}),
)


@dataclass
class DemoCity:
    operator: IssuedToken
    providers: list[IssuedToken] = field(default_factory=list)
    enterprises: list[IssuedToken] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    agency: IssuedToken | None = None  # publishes the demo's scenario opportunities

    def tokens(self) -> dict[str, Any]:
        """Every demo organisation's admin token, so each README example can be tried."""
        return {
            "operator": self.operator.token,
            "agency": self.agency.token if self.agency else None,
            "providers": [provider.token for provider in self.providers],
            "enterprises": [enterprise.token for enterprise in self.enterprises],
        }


def reset_data_dir(app_data_dir: Any) -> None:
    """The demo always starts from an empty city."""
    shutil.rmtree(app_data_dir, ignore_errors=True)


def build_city(app: App) -> DemoCity:
    with app.db.session() as session:
        city = DemoCity(
            operator=bootstrap_operator(session, app.clock, name="平台运营方" + FICTION)
        )
        for name in PROVIDERS:
            org = create_organisation(
                session, app.clock, name=name, kind="provider", region="浙江/杭州"
            )
            city.providers.append(
                create_user_with_token(session, app.clock, org_id=org.id, name="admin")
            )
        for name in ENTERPRISES:
            org = create_organisation(
                session, app.clock, name=name, kind="enterprise", region="浙江/杭州"
            )
            city.enterprises.append(
                create_user_with_token(session, app.clock, org_id=org.id, name="admin")
            )
        operator = Principal(city.operator.user_id, city.operator.org_id, "operator")
        for provider, name, model, nodes, per_node, region, price, software in POOLS:
            fields = {
                "name": name,
                "accelerator_model": model,
                "nodes": nodes,
                "cards_per_node": per_node,
                "region": region,
                "price_fen_per_card_hour": price,
                "software": software,
                "provider_id": city.providers[provider].org_id,
                "backend": "local",
            }
            pool_service.create_pool(session, app.clock, operator, fields)
    fund_enterprises(app, city)
    load_demo_scenes(app, city)
    return city


def load_demo_scenes(app: App, city: DemoCity) -> None:
    """The scenario exchange's demo lists (fictional); vectors are embedded on first match."""
    from suanli.services.scenes_demo import load_demo_lists

    city.agency = load_demo_lists(app, city.enterprises)


def fund_enterprises(app: App, city: DemoCity) -> None:
    """Tops up each enterprise wallet once the ledger exists (no-op before)."""
    try:
        from suanli.services.wallets import demo_top_up
    except ImportError:
        return
    for enterprise in city.enterprises:
        demo_top_up(app, enterprise.org_id, amount_fen=5_000_000)


OPERATOR_REVIEWER = Principal("system:demo", "system", "operator")


def attach_ray(app: App, city: DemoCity, address: str) -> str:
    """The first provider connects the Ray cluster at `address` and lists a pool on it, as a
    provider does through the API (the cluster is checked first); returns the pool id."""
    provider = city.providers[0]
    caller = Principal(provider.user_id, provider.org_id, "provider")
    fields = {"name": "ray-h800" + FICTION, "kind": "ray", "address": address, "options": {}}
    connection = connection_service.create_connection(
        app.db, app.settings.data_dir, app.clock, caller, fields
    )
    with app.db.session() as session:  # the operator reviews it, as on a real platform
        connection_service.review_connection(
            session, app.clock, OPERATOR_REVIEWER, connection.id, approve=True
        )
    name, model, nodes, per_node, region, price, software = RAY_POOL
    pool = {
        "name": name,
        "accelerator_model": model,
        "nodes": nodes,
        "cards_per_node": per_node,
        "region": region,
        "price_fen_per_card_hour": price,
        "software": software,
        "backend": "ray",
        "connection_id": connection.id,
    }
    with app.db.session() as session:
        return pool_service.create_pool(session, app.clock, caller, pool).id


def submit_jobs(
    app: App, city: DemoCity, jobs: tuple[tuple[int, dict[str, Any]], ...] = JOBS
) -> None:
    for enterprise, raw in jobs:
        spec = dict(raw)
        spec["command"] = _command(int(spec.pop("steps")))
        spec.setdefault("max_run_time_s", 120)
        caller = Principal(
            city.enterprises[enterprise].user_id, city.enterprises[enterprise].org_id, "enterprise"
        )
        try:
            with app.db.session() as session:
                row = job_service.submit_job(
                    session, app.settings, app.clock, caller, job_service.spec_from_dict(spec)
                )
                city.job_ids.append(row.id)
        except Unplaceable as refused:
            city.rejected.append({"name": spec["name"], "reasons": refused.details["reasons"]})


@dataclass(frozen=True)
class DemoJobLine:
    """One line of the demo's live table."""

    name: str
    state: str
    pool: str  # the pool's name and model, or "" while queued
    cards: int
    hold_fen: int
    billed_fen: int | None  # None until the job is settled


def job_rows(app: App, job_ids: list[str]) -> list[DemoJobLine]:
    with app.db.session() as session:
        rows = session.execute(
            select(JobRow, PoolRow.name, PoolRow.accelerator_model, UsageRow.amount_fen)
            .outerjoin(PoolRow, PoolRow.id == JobRow.pool_id)
            .outerjoin(UsageRow, UsageRow.job_id == JobRow.id)
            .where(JobRow.id.in_(job_ids))
            .order_by(JobRow.submitted_at)
        ).all()
    return [
        DemoJobLine(
            name=job.name,
            state=job.state,
            pool=f"{pool_name} ({model})" if pool_name else "",
            cards=int(job.spec["cards"]),
            hold_fen=job.hold_fen,
            billed_fen=billed,
        )
        for job, pool_name, model, billed in rows
    ]


def summary(app: App, city: DemoCity) -> dict[str, Any]:
    with app.db.session() as session:
        states = Counter(session.scalars(select(JobRow.state)))
        usage = list(session.scalars(select(UsageRow)))
        names = dict(session.execute(select(OrganisationRow.id, OrganisationRow.name)).all())
        pools = session.scalar(select(func.count()).select_from(PoolRow)) or 0
        by_backend = Counter(
            session.scalars(select(PoolRow.backend).join(JobRow, JobRow.pool_id == PoolRow.id))
        )
    by_enterprise: Counter[str] = Counter()
    by_provider: Counter[str] = Counter()
    for line in usage:
        by_enterprise[names[line.owner_id]] += line.amount_fen
        by_provider[names[line.provider_id]] += line.amount_fen
    return {
        "providers": len(city.providers),
        "pools": pools,
        "enterprises": len(city.enterprises),
        "jobs": dict(sorted(states.items())),
        "jobs_by_backend": dict(sorted(by_backend.items())),
        "rejected": len(city.rejected),
        "rejected_reasons": city.rejected,
        "card_seconds": sum(line.card_seconds for line in usage),
        "billed_fen": sum(line.amount_fen for line in usage),
        "billed_fen_by_enterprise": dict(by_enterprise),
        "billed_fen_by_provider": dict(by_provider),
    }
