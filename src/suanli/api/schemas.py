"""Request and response bodies (XCreate, XUpdate, XPublic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from suanli.domain.jobs import CARDS_MAX, RUN_TIME_S_MAX

T = TypeVar("T")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrganisationCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(provider|enterprise|agency)$")
    region: str = Field(default="", max_length=200)


class OrganisationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    kind: str
    region: str


class OrganisationRegistered(BaseModel):
    organisation: OrganisationPublic
    user_id: str
    token: str = Field(description="shown once; store it safely")


class RelationCreate(Strict):
    from_org: str
    to_org: str
    kind: str


class PoolCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    accelerator_model: str = Field(min_length=1, max_length=60)
    nodes: int = Field(ge=1, le=100_000)
    cards_per_node: int = Field(ge=1, le=64)
    region: str = Field(min_length=1, max_length=200, examples=["浙江/杭州/余杭"])
    price_fen_per_card_hour: int = Field(ge=0, le=10_000_000)
    software: dict[str, str] = Field(default_factory=dict, examples=[{"CUDA": "12.4"}])
    labels: dict[str, str] = Field(default_factory=dict)
    backend: str = Field(default="local", pattern="^(local|ray|slurm)$")
    connection_id: str | None = None
    provider_id: str | None = Field(default=None, description="operator only")


class PoolUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    nodes: int | None = Field(default=None, ge=1, le=100_000)
    cards_per_node: int | None = Field(default=None, ge=1, le=64)
    region: str | None = Field(default=None, min_length=1, max_length=200)
    price_fen_per_card_hour: int | None = Field(default=None, ge=0, le=10_000_000)
    software: dict[str, str] | None = None
    labels: dict[str, str] | None = None


class PoolPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    provider_id: str
    name: str
    accelerator_model: str
    nodes: int
    cards_per_node: int
    region: str
    price_fen_per_card_hour: int
    software: dict[str, Any]
    labels: dict[str, Any]
    backend: str
    available: bool


class JobSpecIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    command: str = Field(min_length=1, max_length=8000)
    cards: int = Field(default=1, ge=1, le=CARDS_MAX)
    cards_per_node: int = Field(default=0, ge=0, le=64, description="0 = all cards on one node")
    min_memory_gib: float = Field(default=0, ge=0, le=10_000)
    precision: str | None = Field(default=None, examples=["bf16"])
    software: list[str] = Field(default_factory=list, max_length=20)
    accelerators: list[str] = Field(default_factory=list, max_length=50)
    vendors: list[str] = Field(default_factory=list, max_length=20)
    region: str | None = Field(default=None, max_length=200)
    max_run_time_s: int = Field(default=3600, ge=1, le=RUN_TIME_S_MAX)
    priority: int = Field(default=50, ge=0, le=100)
    objective: str = Field(default="default", pattern="^(default|cost|time|deadline)$")
    preemptible: bool = False
    restartable: bool = False
    job_class: str | None = Field(default=None, max_length=60)
    deadline_s: int | None = Field(default=None, ge=1)
    budget_fen: int | None = Field(default=None, ge=0)
    env: dict[str, str] = Field(default_factory=dict, max_length=50)


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    owner_id: str
    name: str
    state: str
    reason: str
    pool_id: str | None
    spec: dict[str, Any]
    exit_code: int | None
    hold_fen: int
    submitted_at: datetime
    placed_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class UsagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    job_id: str
    pool_id: str
    accelerator_model: str
    cards: int
    started_at: datetime
    ended_at: datetime
    card_seconds: int
    price_fen_per_card_hour: int
    amount_fen: int
    source: str


class QuotePublic(BaseModel):
    feasible_pools: list[dict[str, Any]]
    min_fen: int
    max_fen: int
    reasons: list[str]


class PageOf(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class LogPublic(BaseModel):
    text: str
    next_offset: int
    finished: bool
