"""The Backend interface every engine implements, and the values it exchanges.

Public methods are what the runtime calls; implementations raise BackendError or
BackendUnavailable (never a bare exception) so the runtime can tell a lost cluster from a
failed job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from suanli.i18n import Msg

LOG_CHUNK_BYTES_MAX = 256 * 1024
LOG_OFFSET_MAX = 2**40  # 1 TiB: past any job's log, and within what every filesystem can seek


class BackendState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"  # the engine no longer knows the job


BACKEND_TERMINAL = frozenset(
    {BackendState.SUCCEEDED, BackendState.FAILED, BackendState.CANCELLED, BackendState.LOST}
)


@dataclass(frozen=True)
class LaunchRequest:
    job_id: str
    command: str
    cards: int
    accelerator_model: str
    max_run_time_s: int
    node_cards: tuple[tuple[int, int], ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    # Which placement of the job this is (1, 2, ...); 0 when unknown. A backend that sees the
    # same job and attempt twice returns the run it already has (a leader died before
    # recording it), instead of starting a second one.
    attempt: int = 0
    card_milli: int | None = None  # 1..999: a share of one card (cards is then 1)
    card_index: int | None = None  # the scheduler's label of the shared card on its node


def cards_env(request: LaunchRequest) -> dict[str, str]:
    """SUANLI_CARDS (the card indices the job may use) and SUANLI_CARD_MILLI (thousandths of
    each card it holds: 1000 for whole cards), as every backend sets them."""
    if request.card_milli is not None:
        card = request.card_index if request.card_index is not None else 0
        return {"SUANLI_CARDS": str(card), "SUANLI_CARD_MILLI": str(request.card_milli)}
    cards = ",".join(str(i) for i in range(request.cards))
    return {"SUANLI_CARDS": cards, "SUANLI_CARD_MILLI": "1000"}


@dataclass(frozen=True)
class JobStatus:
    state: BackendState
    exit_code: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    message: str = ""


@dataclass(frozen=True)
class LogChunk:
    text: str
    next_offset: int


@dataclass(frozen=True)
class Usage:
    """What the engine itself recorded: the only time the platform may charge for."""

    started_at: datetime
    ended_at: datetime
    cards: int
    source: str

    @property
    def card_seconds(self) -> int:
        # Whole seconds only, rounded down: never charge for time that cannot be proven.
        seconds = max(0, int((self.ended_at - self.started_at).total_seconds()))
        return seconds * self.cards


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str | Msg = ""  # stored with a connection when not ok: in both languages


class Backend(Protocol):
    kind: str

    def submit(self, request: LaunchRequest) -> str: ...

    def status(self, backend_job_id: str) -> JobStatus: ...

    def logs(self, backend_job_id: str, offset: int = 0) -> LogChunk: ...

    def cancel(self, backend_job_id: str) -> None: ...

    def live_runs(self, job_id: str) -> list[str]:
        """Ids of the pending or running runs this cluster holds for the platform's job
        `job_id` (found by the name the platform gave them), excluding runs asked to stop.
        It finds the run of a submit whose reply was lost."""
        ...

    def usage(self, backend_job_id: str) -> Usage | None: ...

    def capacity(self) -> dict[str, int]: ...

    def health(self) -> Health: ...
