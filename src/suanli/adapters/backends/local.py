"""The local backend: runs a job's command as a subprocess in a directory of its own.

It runs arbitrary commands on this machine, so only the operator's own "local" pools use it.
Jobs live in this process: after a restart their ids are unknown and report LOST.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from suanli.adapters.backends.base import (
    LOG_CHUNK_BYTES_MAX,
    BackendState,
    Health,
    JobStatus,
    LaunchRequest,
    LogChunk,
    Usage,
)
from suanli.errors import BackendError, NotFound

KILL_GRACE_S = 3.0


@dataclass
class _LocalJob:
    process: subprocess.Popen[bytes]
    cards: int
    log_path: Path
    started_at: datetime
    ended_at: datetime | None = None
    cancelled: bool = False


class LocalBackend:
    kind = "local"

    def __init__(self, jobs_dir: Path) -> None:
        self.jobs_dir = jobs_dir
        self._jobs: dict[str, _LocalJob] = {}
        self._lock = threading.Lock()

    def submit(self, request: LaunchRequest) -> str:
        workdir = self.jobs_dir / request.job_id
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = workdir / "output.log"
        env = {**os.environ, **request.env}
        env["SUANLI_CARDS"] = ",".join(str(i) for i in range(request.cards))
        env["SUANLI_ACCELERATOR"] = request.accelerator_model
        env["SUANLI_JOB_ID"] = request.job_id
        with log_path.open("ab") as log:
            try:
                process = subprocess.Popen(
                    ["/bin/sh", "-c", request.command],
                    cwd=workdir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,  # its own process group, so cancel kills children
                )
            except OSError as error:
                raise BackendError(f"could not start the job: {error}") from error
        with self._lock:
            self._jobs[request.job_id] = _LocalJob(
                process, request.cards, log_path, datetime.now(UTC)
            )
        return request.job_id

    def status(self, backend_job_id: str) -> JobStatus:
        job = self._jobs.get(backend_job_id)
        if job is None:
            return JobStatus(BackendState.LOST, message="unknown to this process (restarted?)")
        code = job.process.poll()
        if code is None:
            return JobStatus(BackendState.RUNNING, started_at=job.started_at)
        if job.ended_at is None:
            job.ended_at = datetime.now(UTC)
        state = _final_state(code, job.cancelled)
        return JobStatus(state, exit_code=code, started_at=job.started_at, ended_at=job.ended_at)

    def logs(self, backend_job_id: str, offset: int = 0) -> LogChunk:
        path = self.jobs_dir / backend_job_id / "output.log"
        if not path.is_file():
            raise NotFound(f"no log for job {backend_job_id}", field="job_id")
        with path.open("rb") as handle:
            handle.seek(max(0, offset))
            data = handle.read(LOG_CHUNK_BYTES_MAX)
        return LogChunk(text=data.decode("utf-8", errors="replace"), next_offset=offset + len(data))

    def cancel(self, backend_job_id: str) -> None:
        job = self._jobs.get(backend_job_id)
        if job is None or job.process.poll() is not None:
            return
        job.cancelled = True
        _terminate_group(job.process)

    def live_runs(self, job_id: str) -> list[str]:
        job = self._jobs.get(job_id)  # a local run's id is the job's id
        running = job is not None and not job.cancelled and job.process.poll() is None
        return [job_id] if running else []

    def usage(self, backend_job_id: str) -> Usage | None:
        job = self._jobs.get(backend_job_id)
        if job is None or job.process.poll() is None:
            return None
        ended = job.ended_at or datetime.now(UTC)
        return Usage(job.started_at, ended, job.cards, source="local")

    def capacity(self) -> dict[str, int]:
        return {}  # the local machine has no accelerators of its own; pools declare them

    def health(self) -> Health:
        return Health(ok=True, message="local subprocesses")

    def shutdown(self) -> None:
        for job_id in list(self._jobs):
            self.cancel(job_id)


def _final_state(exit_code: int, cancelled: bool) -> BackendState:
    if cancelled:
        return BackendState.CANCELLED
    return BackendState.SUCCEEDED if exit_code == 0 else BackendState.FAILED


def _terminate_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=KILL_GRACE_S)
    except ProcessLookupError:
        pass
