"""Job specs and the job state machine.

pending → queued → placed → running → succeeded | failed | cancelled | timed_out
Any non-terminal state may go to cancelled; placed/running may also go to `lost`
(the backend lost the job), and lost may go back to queued (re-queue elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from suanli.domain.accelerators import Precision
from suanli.domain.money import require_fen
from suanli.domain.pools import CARDS_PER_NODE_MAX, Region, require_int
from suanli.domain.text import clean_line, clean_text, is_blank
from suanli.errors import InvalidInput, InvalidTransition
from suanli.i18n import msg, render, render_stored

NAME_LENGTH_MAX = 120
COMMAND_LENGTH_MAX = 8_000
CARDS_MAX = 4096
CARD_MILLI_WHOLE = 1000  # a card is 1000 milli-cards; card_milli 1000 is one whole card
CPUS_MAX = 4096
HOST_MEMORY_GIB_MAX = 65_536
RUN_TIME_S_MAX = 30 * 24 * 3600
# A deadline ten years out is no deadline; a bigger number overflows the policies' float
# arithmetic (submitted_at_s + deadline_s) and would stop every tenant's round.
DEADLINE_S_MAX = 10 * 366 * 24 * 3600
PRIORITY_RANGE = (0, 100)
JOB_CLASS_LENGTH_MAX = 60
OBJECTIVES = ("default", "cost", "time", "deadline")
ENV_ENTRIES_MAX = 50
ENV_VALUE_LENGTH_MAX = 4_000
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
ENV_RESERVED = "SUANLI_"


class JobState(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    PLACED = "placed"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    LOST = "lost"
    REJECTED = "rejected"


TERMINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT, JobState.REJECTED}
)

_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.QUEUED, JobState.REJECTED, JobState.CANCELLED}),
    JobState.QUEUED: frozenset({JobState.PLACED, JobState.CANCELLED}),
    JobState.PLACED: frozenset(
        {JobState.RUNNING, JobState.CANCELLED, JobState.FAILED, JobState.LOST, JobState.QUEUED}
    ),
    JobState.RUNNING: frozenset(
        {
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
            JobState.TIMED_OUT,
            JobState.LOST,
            JobState.QUEUED,
        }
    ),
    JobState.LOST: frozenset({JobState.QUEUED, JobState.FAILED}),
}


def can_transition(current: JobState, target: JobState) -> bool:
    return target in _TRANSITIONS.get(current, frozenset())


def transition(current: JobState, target: JobState) -> JobState:
    """Returns `target` if the move is legal, else raises InvalidTransition."""
    if not can_transition(current, target):
        raise InvalidTransition(
            msg(
                f"作业不能从 `{current.value}` 变为 `{target.value}`",
                f"a job cannot go from {current.value} to {target.value}",
            ),
            field="state",
            current=current.value,
            target=target.value,
        )
    return target


@dataclass(frozen=True)
class JobSpec:
    """What an enterprise asks for. Immutable and validated when built."""

    name: str
    command: str
    cards: int = 1
    cards_per_node: int = 0  # 0 = all cards on one node
    min_memory_gib: float = 0
    precision: Precision | None = None
    software: tuple[str, ...] = ()  # accepted stacks, e.g. ("CUDA", "CANN"); empty = any
    accelerators: tuple[str, ...] = ()  # accepted models; empty = any
    vendors: tuple[str, ...] = ()  # accepted vendors; empty = any
    region: Region | None = None
    max_run_time_s: int = 3600
    priority: int = 50
    objective: str = "default"
    preemptible: bool = False
    restartable: bool = False
    job_class: str | None = None  # e.g. "llm-train-bf16"; used by the performance model
    deadline_s: int | None = None
    budget_fen: int | None = None
    # pools dearer than this never take the job: its hold covers this price and no more
    max_price_fen_per_card_hour: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    card_milli: int | None = None  # 1..999: a share of one card; None (or 1000): whole cards
    cpus: int = 0  # host CPU cores per node; 0 = no requirement
    host_memory_gib: float = 0  # host memory per node; 0 = no requirement

    def __post_init__(self) -> None:
        _require_text(self.name, NAME_LENGTH_MAX, "name")
        clean_line(self.name, "name")
        _require_text(self.command, COMMAND_LENGTH_MAX, "command")
        clean_text(self.command, "command")
        require_env(self.env)
        require_int(self.cards, 1, CARDS_MAX, "cards")
        self._check_share()
        if self.cards_per_node == 0 and isinstance(self.cards, int):
            object.__setattr__(self, "cards_per_node", min(self.cards, CARDS_PER_NODE_MAX))
        require_int(self.cards_per_node, 1, CARDS_PER_NODE_MAX, "cards_per_node")
        if self.cards % self.cards_per_node != 0:
            raise InvalidInput(
                msg(
                    "`cards` 须为 `cards_per_node` 的整数倍",
                    "cards must be a multiple of cards_per_node",
                ),
                field="cards",
            )
        if not 0 <= self.min_memory_gib <= 10_000:
            raise InvalidInput(
                msg(
                    "`min_memory_gib` 须在 0 至 10000 之间", "min_memory_gib must be in [0, 10000]"
                ),
                field="min_memory_gib",
            )
        self._check_types()
        require_int(self.max_run_time_s, 1, RUN_TIME_S_MAX, "max_run_time_s")
        require_int(self.priority, *PRIORITY_RANGE, "priority")
        if self.objective not in OBJECTIVES:
            raise InvalidInput(
                msg(
                    f"`objective` 须为以下之一：{'、'.join(OBJECTIVES)}",
                    f"objective must be one of {OBJECTIVES}",
                ),
                field="objective",
            )
        if self.deadline_s is not None:
            require_int(self.deadline_s, 1, DEADLINE_S_MAX, "deadline_s")
        if self.budget_fen is not None:  # compared with float costs: bounded like any amount
            require_fen(self.budget_fen, field="budget_fen", allow_zero=True)
        if self.max_price_fen_per_card_hour is not None:
            require_fen(
                self.max_price_fen_per_card_hour, field="max_price_fen_per_card_hour",
                allow_zero=True,
            )  # fmt: skip
        require_int(self.cpus, 0, CPUS_MAX, "cpus")
        memory = self.host_memory_gib
        if isinstance(memory, bool) or not isinstance(memory, int | float):
            raise InvalidInput(
                msg("`host_memory_gib` 须为数字", "host_memory_gib must be a number"),
                field="host_memory_gib",
            )
        if not 0 <= memory <= HOST_MEMORY_GIB_MAX:
            raise InvalidInput(
                msg(
                    f"`host_memory_gib` 须在 0 至 {HOST_MEMORY_GIB_MAX} 之间",
                    f"host_memory_gib must be in [0, {HOST_MEMORY_GIB_MAX}]",
                ),
                field="host_memory_gib",
            )

    def _check_types(self) -> None:
        """What the API's model already ensures, checked again for a stored spec: the policies
        hash job_class into cache keys, so a list there stopped every tenant's round."""
        job_class = self.job_class
        if job_class is not None and (
            not isinstance(job_class, str) or len(job_class) > JOB_CLASS_LENGTH_MAX
        ):
            raise InvalidInput(
                msg(
                    f"`job_class` 须为最多 {JOB_CLASS_LENGTH_MAX} 个字符的字符串",
                    f"job_class must be a string of at most {JOB_CLASS_LENGTH_MAX} characters",
                ),
                field="job_class",
            )
        if job_class is not None:
            clean_line(job_class, "job_class")
        for flag in ("preemptible", "restartable"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidInput(
                    msg(f"`{flag}` 须为布尔值", f"{flag} must be true or false"),
                    field=flag,
                )

    def _check_share(self) -> None:
        """card_milli asks for part of one card; 1000 is that whole card (stored as None)."""
        if self.card_milli is None:
            return
        require_int(self.card_milli, 1, CARD_MILLI_WHOLE, "card_milli")
        if self.cards != 1:
            raise InvalidInput(
                msg(
                    "`card_milli` 只能用于 1 张卡的作业：多卡作业的每张卡都是整卡",
                    "card_milli asks for part of one card: a job of several cards uses "
                    "whole cards only",
                ),
                field="card_milli",
            )
        if self.card_milli == CARD_MILLI_WHOLE:
            object.__setattr__(self, "card_milli", None)

    @property
    def nodes(self) -> int:
        return self.cards // self.cards_per_node

    @property
    def fractional(self) -> bool:
        """Asks for a share of one card (which may hold other shares), not whole cards."""
        return self.card_milli is not None

    @property
    def milli_cards(self) -> int:
        """What the job holds, in thousandths of a card: the unit of quotes and metering."""
        return self.card_milli if self.card_milli is not None else self.cards * CARD_MILLI_WHOLE


def stored_milli_cards(spec: Mapping[str, Any]) -> int:
    """`JobSpec.milli_cards` of a stored spec (specs stored before shares have no card_milli)."""
    milli = spec.get("card_milli")
    return int(milli) if milli is not None else int(spec["cards"]) * CARD_MILLI_WHOLE


def require_env(env: object) -> None:
    """At most ENV_ENTRIES_MAX variables, each a valid name with a clean value."""
    if not isinstance(env, dict):
        raise InvalidInput(msg("`env` 应为对象", "env must be an object"), field="env")
    if len(env) > ENV_ENTRIES_MAX:
        raise InvalidInput(
            msg(f"`env` 最多 {ENV_ENTRIES_MAX} 项", f"env holds at most {ENV_ENTRIES_MAX} entries"),
            field="env",
        )
    for key, value in env.items():
        require_env_entry(key, value)


def require_env_entry(key: object, value: object) -> None:
    """A portable variable name (POSIX: letters, digits, underscore, not a digit first, at most
    128), not in the platform's SUANLI_ namespace, and a clean one-string value. A name a shell
    would read as code (`A;touch x`) never reaches a launch script."""
    if not isinstance(key, str) or not ENV_NAME.fullmatch(key) or key.startswith(ENV_RESERVED):
        raise InvalidInput(
            msg(
                f"环境变量名 {key!r} 无效：只能用字母、数字和下划线，不能以数字开头，"
                f"最长 128 个字符，也不能以 {ENV_RESERVED} 开头",
                f"environment variable name {key!r} is not valid: letters, digits and "
                "underscore only, not a digit first, at most 128 characters, "
                f"not starting with {ENV_RESERVED}",
            ),
            field="env",
        )
    if not isinstance(value, str) or len(value) > ENV_VALUE_LENGTH_MAX:
        raise InvalidInput(
            msg(
                f"环境变量 {key} 的值应为最多 {ENV_VALUE_LENGTH_MAX} 个字符的字符串",
                f"environment variable {key} must be a string of at most "
                f"{ENV_VALUE_LENGTH_MAX} characters",
            ),
            field=f"env.{key}",
        )
    clean_text(value, f"env.{key}")


def _require_text(value: object, length_max: int, field_name: str) -> None:
    if not isinstance(value, str) or is_blank(value):
        raise InvalidInput(
            msg(f"`{field_name}` 须为非空字符串", f"{field_name} must be a non-empty string"),
            field=field_name,
        )
    if len(value) > length_max:
        raise InvalidInput(
            msg(
                f"`{field_name}` 超过 {length_max} 个字符",
                f"{field_name} is longer than {length_max} characters",
            ),
            field=field_name,
        )


# A job's reason is stored in both languages (see i18n.stored); two are markers the runtime
# reads back, kept as codes and worded here.
REASON_MARKERS = {
    "cancel requested": msg("已请求取消", "cancel requested"),
    "timed out": msg("运行超时", "timed out"),
}


def reason_text(stored_reason: str | None) -> str:
    """A job's stored reason in the reader's language."""
    marker = REASON_MARKERS.get(stored_reason or "")
    return render(marker) if marker is not None else render_stored(stored_reason)
