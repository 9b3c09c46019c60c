"""Hand-built pools, accelerators and jobs for scheduling tests."""

from __future__ import annotations

from typing import Any

from suanli.domain.accelerators import Accelerator, Precision, get_accelerator
from suanli.domain.jobs import JobSpec
from suanli.domain.pools import Pool, Region
from suanli.domain.scheduling.model import (
    ClusterState,
    Placement,
    PoolView,
    QueuedJob,
    RunningJob,
)

HANGZHOU = Region("Zhejiang", "Hangzhou")


def chip(
    model: str,
    *,
    fp32: float | None = 10.0,
    bandwidth_gbs: float | None = 1000.0,
    vendor: str = "TestVendor",
    memory_gib: float | None = 32,
    stack: str = "CUDA",
    **tflops: float | None,
) -> Accelerator:
    figures: dict[Precision, float | None] = {precision: None for precision in Precision}
    figures[Precision.FP32] = fp32
    figures.update({Precision(name): value for name, value in tflops.items()})
    return Accelerator(
        vendor=vendor,
        model=model,
        domestic=False,
        memory_gib=memory_gib,
        memory_bandwidth_gbs=bandwidth_gbs,
        tflops=figures,
        interconnect=None,
        software_stack=stack,
    )


def view(
    pool_id: str,
    accelerator: Accelerator | str,
    *,
    nodes: int = 1,
    cards_per_node: int = 8,
    price: int = 1000,
    region: Region = HANGZHOU,
    software: dict[str, str] | None = None,
    available: bool = True,
    shareable: bool = True,
    cpus_per_node: int | None = None,
    host_memory_gib_per_node: float | None = None,
) -> PoolView:
    found = get_accelerator(accelerator) if isinstance(accelerator, str) else accelerator
    pool = Pool(
        id=pool_id,
        provider_id="provider",
        name=pool_id,
        accelerator_model=found.model,
        nodes=nodes,
        cards_per_node=cards_per_node,
        region=region,
        price_fen_per_card_hour=price,
        software=software or {},
        shareable=shareable,
        cpus_per_node=cpus_per_node,
        host_memory_gib_per_node=host_memory_gib_per_node,
    )
    return PoolView(pool=pool, accelerator=found, available=available)


def job(
    job_id: str,
    *,
    cards: int = 1,
    cards_per_node: int | None = None,
    submitted_at_s: float = 0.0,
    runtime_s: float = 3600.0,
    owner: str = "acme",
    reference: str | None = None,
    **spec_fields: Any,
) -> QueuedJob:
    spec = JobSpec(
        name=job_id,
        command="train",
        cards=cards,
        cards_per_node=cards_per_node or cards,
        **spec_fields,
    )
    return QueuedJob(job_id, owner, spec, submitted_at_s, runtime_s, reference)


def running(
    state: ClusterState,
    job_id: str,
    pool_id: str,
    node_cards: tuple[tuple[int, int], ...],
    *,
    priority: int = 50,
    preemptible: bool = False,
    started_at_s: float = 0.0,
    end_s: float = 3600.0,
    owner: str = "other",
) -> RunningJob:
    """Starts a job on the state the way the live loop and the simulator do."""
    cards = sum(c for _, c in node_cards)
    per_node = node_cards[0][1]
    spec = JobSpec(
        name=job_id,
        command="x",
        cards=cards,
        cards_per_node=per_node,
        priority=priority,
        preemptible=preemptible,
    )
    started = RunningJob(job_id, owner, pool_id, spec, started_at_s, end_s, node_cards)
    state.apply(Placement(job_id, pool_id, node_cards))
    state.add_running(started)
    return started
