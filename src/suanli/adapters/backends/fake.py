"""An in-memory backend for unit tests: jobs advance only when the test says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from suanli.adapters.backends.base import (
    BACKEND_TERMINAL,
    BackendState,
    Health,
    JobStatus,
    LaunchRequest,
    LogChunk,
    Usage,
)
from suanli.errors import BackendError, BackendUnavailable
from suanli.i18n import msg


@dataclass
class _FakeJob:
    request: LaunchRequest
    state: BackendState = BackendState.PENDING
    exit_code: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    log: str = ""


@dataclass
class FakeBackend:
    kind: str = "fake"
    reachable: bool = True
    free_cards: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, _FakeJob] = field(default_factory=dict)
    cancels: int = 0  # runs this cluster stopped on request
    refuse_cancel: bool = False  # answers, but refuses to cancel (a misconfigured cluster)
    lose_submit_replies: bool = False  # takes a submit, then the reply never arrives
    calls: dict[str, int] = field(default_factory=dict)  # requests received, by method

    def _require_reachable(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if not self.reachable:
            raise BackendUnavailable(msg("模拟集群已停机", "fake cluster is down"))

    def submit(self, request: LaunchRequest) -> str:
        self._require_reachable("submit")
        backend_id = f"fake-{request.job_id}"
        self.jobs[backend_id] = _FakeJob(request)
        if self.lose_submit_replies:
            raise BackendUnavailable(
                msg(
                    "模拟集群接受了作业，但回复丢失",
                    "fake cluster took the job but its reply was lost",
                )
            )
        return backend_id

    def start(self, backend_id: str, at: datetime) -> None:
        job = self.jobs[backend_id]
        job.state, job.started_at = BackendState.RUNNING, at

    def finish(self, backend_id: str, at: datetime, exit_code: int = 0) -> None:
        job = self.jobs[backend_id]
        job.ended_at, job.exit_code = at, exit_code
        job.state = BackendState.SUCCEEDED if exit_code == 0 else BackendState.FAILED

    def status(self, backend_job_id: str) -> JobStatus:
        self._require_reachable("status")
        job = self.jobs.get(backend_job_id)
        if job is None:
            return JobStatus(BackendState.LOST)
        return JobStatus(job.state, job.exit_code, job.started_at, job.ended_at)

    def logs(self, backend_job_id: str, offset: int = 0) -> LogChunk:
        text = self.jobs[backend_job_id].log[offset:]
        return LogChunk(text=text, next_offset=offset + len(text))

    def cancel(self, backend_job_id: str) -> None:
        self._require_reachable("cancel")
        if self.refuse_cancel:
            raise BackendError(
                msg(
                    f"模拟集群拒绝取消 {backend_job_id}",
                    f"fake cluster refuses to cancel {backend_job_id}",
                )
            )
        job = self.jobs.get(backend_job_id)
        if job is not None and job.state not in BACKEND_TERMINAL:  # as the real engines do
            job.state = BackendState.CANCELLED
            self.cancels += 1

    def live_runs(self, job_id: str) -> list[str]:
        self._require_reachable("live_runs")
        backend_id = f"fake-{job_id}"
        job = self.jobs.get(backend_id)
        return [backend_id] if job is not None and job.state not in BACKEND_TERMINAL else []

    def usage(self, backend_job_id: str) -> Usage | None:
        job = self.jobs.get(backend_job_id)
        if job is None or job.started_at is None or job.ended_at is None:
            return None
        return Usage(job.started_at, job.ended_at, job.request.cards, source="fake")

    def capacity(self) -> dict[str, int]:
        self._require_reachable("capacity")
        return dict(self.free_cards)

    def health(self) -> Health:
        down = msg("模拟集群已停机", "fake cluster is down")
        return Health(ok=self.reachable, message="" if self.reachable else down)
