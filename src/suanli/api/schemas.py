"""Request and response bodies (XCreate, XUpdate, XPublic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from suanli.api.types import EnvName, EnvValue, Identifier, Line, Short, ShortKey, Text
from suanli.domain.jobs import (
    CARD_MILLI_WHOLE,
    CARDS_MAX,
    CPUS_MAX,
    DEADLINE_S_MAX,
    HOST_MEMORY_GIB_MAX,
    JOB_CLASS_LENGTH_MAX,
    RUN_TIME_S_MAX,
    reason_text,
)
from suanli.domain.money import FEN_MAX
from suanli.domain.pools import CPUS_PER_NODE_MAX, HOST_MEMORY_GIB_PER_NODE_MAX

T = TypeVar("T")


class Strict(BaseModel):
    """The base of every request body. No unknown field, and no type confusion: an integer
    field takes a JSON integer only (`true`, `"500"`, `5.0` and `1e3` are refused: integer
    fields take JSON integers only, whatever the fraction), a number field a JSON number
    (integers included; no string, no boolean, never NaN or Infinity), a boolean field `true`
    or `false` only. Each refusal is a 422 naming the field. Types JSON cannot carry (dates,
    instants, decimal ratios) opt out per type with `Strict(False)` and parse their text."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class FirstUser(Strict):
    """The first admin of an organisation the operator creates; without it, the first user
    signs in with the returned token only, until a password is set."""

    login: Line = Field(min_length=1, max_length=64)
    display_name: Line = Field(default="admin", min_length=1, max_length=200)
    password: Line = Field(min_length=1, max_length=129)


class OrganisationCreate(Strict):
    name: Line = Field(min_length=1, max_length=200)
    kind: Line = Field(pattern="^(provider|enterprise|agency)$")
    region: Line = Field(default="", max_length=200)
    credit_code: Line | None = Field(default=None, max_length=40, description="统一社会信用代码")
    admin: FirstUser | None = None


class OrganisationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    kind: str
    region: str
    state: str = Field(description="pending | active | rejected | suspended")
    state_reason: str
    credit_code: str | None
    contact_name: str
    contact_phone: str
    contact_email: str


class OrganisationRegistered(BaseModel):
    organisation: OrganisationPublic
    user_id: str
    token: str = Field(description="shown once; store it safely")


class RelationCreate(Strict):
    from_org: Identifier
    to_org: Identifier
    kind: Line = Field(max_length=40)


class PoolCreate(Strict):
    name: Line = Field(min_length=1, max_length=200)
    accelerator_model: Line = Field(min_length=1, max_length=60)
    nodes: int = Field(ge=1, le=100_000)
    cards_per_node: int = Field(ge=1, le=64)
    region: Line = Field(min_length=1, max_length=200, examples=["浙江/杭州/余杭"])
    price_fen_per_card_hour: int = Field(ge=0, le=10_000_000)
    software: dict[ShortKey, Short] = Field(
        default_factory=dict, max_length=30, examples=[{"CUDA": "12.4"}]
    )
    labels: dict[ShortKey, Short] = Field(default_factory=dict, max_length=30)
    backend: Line = Field(default="local", pattern="^(local|ray|slurm)$")
    connection_id: Identifier | None = None
    provider_id: Identifier | None = Field(default=None, description="operator only")
    shareable: bool = Field(
        default=True, description="sells shares of a card (card_milli); false: whole cards only"
    )
    cpus_per_node: int | None = Field(default=None, ge=1, le=CPUS_PER_NODE_MAX)
    host_memory_gib_per_node: float | None = Field(
        default=None, gt=0, le=HOST_MEMORY_GIB_PER_NODE_MAX
    )


class PoolUpdate(Strict):
    name: Line | None = Field(default=None, min_length=1, max_length=200)
    nodes: int | None = Field(default=None, ge=1, le=100_000)
    cards_per_node: int | None = Field(default=None, ge=1, le=64)
    region: Line | None = Field(default=None, min_length=1, max_length=200)
    price_fen_per_card_hour: int | None = Field(default=None, ge=0, le=10_000_000)
    software: dict[ShortKey, Short] | None = Field(default=None, max_length=30)
    labels: dict[ShortKey, Short] | None = Field(default=None, max_length=30)
    shareable: bool | None = None
    cpus_per_node: int | None = Field(default=None, ge=1, le=CPUS_PER_NODE_MAX)
    host_memory_gib_per_node: float | None = Field(
        default=None, gt=0, le=HOST_MEMORY_GIB_PER_NODE_MAX
    )


class PoolPublic(BaseModel):
    """A pool as the catalogue shows it. Its internals (backend, connection, labels) are filled
    in only for its provider and the operator; for anyone else they are null."""

    id: str
    provider_id: str
    name: str
    accelerator_model: str
    vendor: str
    domestic: bool = Field(description="国产: a domestic accelerator")
    nodes: int
    cards_per_node: int
    region: str
    price_fen_per_card_hour: int
    software: dict[str, Any]
    available: bool
    free_cards: int = Field(description="cards not held by a placed or running job now")
    shareable: bool = Field(default=True, description="takes jobs asking for card_milli")
    cpus_per_node: int | None = None
    host_memory_gib_per_node: float | None = None
    backend: str | None = Field(default=None, description="provider and operator only")
    connection_id: str | None = Field(default=None, description="provider and operator only")
    labels: dict[str, Any] | None = Field(default=None, description="provider and operator only")


class JobSpecIn(Strict):
    name: Line = Field(min_length=1, max_length=120)
    command: Text = Field(min_length=1, max_length=8000)
    cards: int = Field(default=1, ge=1, le=CARDS_MAX)
    cards_per_node: int = Field(default=0, ge=0, le=64, description="0 = all cards on one node")
    min_memory_gib: float = Field(default=0, ge=0, le=10_000)
    precision: Line | None = Field(default=None, max_length=20, examples=["bf16"])
    software: list[ShortKey] = Field(default_factory=list, max_length=20)
    accelerators: list[ShortKey] = Field(default_factory=list, max_length=50)
    vendors: list[ShortKey] = Field(default_factory=list, max_length=20)
    region: Line | None = Field(default=None, max_length=200)
    max_run_time_s: int = Field(default=3600, ge=1, le=RUN_TIME_S_MAX)
    priority: int = Field(default=50, ge=0, le=100)
    objective: Line = Field(default="default", pattern="^(default|cost|time|deadline)$")
    preemptible: bool = False
    restartable: bool = False
    job_class: Line | None = Field(default=None, max_length=JOB_CLASS_LENGTH_MAX)
    deadline_s: int | None = Field(default=None, ge=1, le=DEADLINE_S_MAX)
    budget_fen: int | None = Field(default=None, ge=0, le=FEN_MAX)
    max_price_fen_per_card_hour: int | None = Field(
        default=None,
        ge=0,
        le=FEN_MAX,
        description="never run on a pool dearer than this; the hold covers it. Default: the "
        "dearest pool that fits, or the dearest the wallet can hold for",
    )
    env: dict[EnvName, EnvValue] = Field(
        default_factory=dict,
        max_length=50,
        description="POSIX names, not SUANLI_*; the platform sets SUANLI_CARDS and others",
    )
    card_milli: int | None = Field(
        default=None,
        ge=1,
        le=CARD_MILLI_WHOLE,
        description="thousandths of one card (cards must be 1); 1000 = a whole card",
    )
    cpus: int = Field(default=0, ge=0, le=CPUS_MAX, description="host CPU cores per node")
    host_memory_gib: float = Field(
        default=0, ge=0, le=HOST_MEMORY_GIB_MAX, description="host memory per node"
    )


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    owner_id: str
    name: str
    state: str
    reason: str
    pool_id: str | None
    spec: dict[str, Any]
    card_share: dict[str, Any] | None = Field(
        default=None, description="a fractional job's share: node, card label, milli"
    )
    exit_code: int | None
    hold_fen: int
    price_fen_per_card_hour: int | None = Field(
        default=None,
        description="the pool's price when the job was placed: its usage is priced at this",
    )
    submitted_at: datetime
    placed_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @field_validator("reason", mode="before")
    @classmethod
    def _in_the_readers_language(cls, value: str | None) -> str:
        return reason_text(value)


class UsagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    job_id: str
    pool_id: str
    accelerator_model: str
    cards: int
    started_at: datetime
    ended_at: datetime
    card_seconds: int
    card_milli: int = Field(default=1000, description="1000 = whole cards; less: a share")
    milli_card_seconds: int = Field(default=0, description="what the line is priced on")
    price_fen_per_card_hour: int
    amount_fen: int
    source: str


class GrantSubsidyPublic(BaseModel):
    grant_id: str
    program_id: str
    program_name: str
    subsidy_fen: int
    note: str = Field(description="why a grant pays less than its ratio, or nothing")


class PoolSubsidyPublic(BaseModel):
    pool_id: str
    amount_fen: int = Field(description="the order at the job's maximum run time")
    enterprise_pays_fen: int
    grants: list[GrantSubsidyPublic]


class QuotePublic(BaseModel):
    feasible_pools: list[dict[str, Any]] = Field(
        description="the 50 cheapest feasible pools at the maximum run time, cheapest first"
    )
    feasible_pools_total: int = Field(
        default=0, description="how many pools are feasible; min_fen and max_fen cover them all"
    )
    min_fen: int
    max_fen: int
    reasons: list[str]
    vouchers: list[PoolSubsidyPublic] = Field(
        default_factory=list,
        description="an enterprise's active grants applied to each feasible pool; empty without",
    )


class PageOf(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class LogPublic(BaseModel):
    text: str
    next_offset: int
    finished: bool
