"""A local job's log keeps at most `log_max_bytes` of its output (Settings.job_log_max_bytes):
the job goes on and ends as it would, and the rest of its output never reaches the disk."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from suanli.adapters.backends.base import BackendState, LaunchRequest
from suanli.adapters.backends.local import LOG_DRAIN_S, LocalBackend
from tests.helpers import per_job_user_modes, wait_final
from tests.integration.test_tenant_isolation import _processes_running

LIMIT = 4096
WRITTEN = 8 * 1024 * 1024  # far past the limit, and past any pipe's buffer


@per_job_user_modes()
def test_output_past_the_limit_is_dropped_and_the_job_ends_as_it_would(
    tmp_path: Path, isolate_users: bool
) -> None:
    """Before: the log was the job's stdout itself, so a job could fill the disk with it."""
    backend = LocalBackend(tmp_path / "jobs", isolate_users=isolate_users, log_max_bytes=LIMIT)
    command = f"head -c {WRITTEN} /dev/zero | tr '\\0' x; echo; echo the-end; exit 7"
    backend.submit(LaunchRequest("job_big", command, 1, "H100-SXM", 60, attempt=1))
    assert wait_final(backend, "job_big") == BackendState.FAILED
    assert backend.status("job_big").exit_code == 7  # ran to its end: never blocked, no SIGPIPE
    log = (tmp_path / "jobs" / "job_big.log").read_bytes()
    kept, _, note = log.partition(b"\n")
    assert kept == b"x" * LIMIT
    assert len(log) < LIMIT + 300, len(log)
    assert b"the-end" not in log
    text = note.decode()
    assert f"上限 {LIMIT} 字节" in text and f"limit of {LIMIT} bytes" in text, text
    assert backend.logs("job_big").text.startswith("x" * LIMIT)


def test_output_within_the_limit_is_kept_whole_and_read_at_once(tmp_path: Path) -> None:
    """The log is whole when the run is first seen ended (its copier drained first)."""
    backend = LocalBackend(tmp_path / "jobs", log_max_bytes=LIMIT)
    command = "printf 'a%.0s' $(seq 1 4000); echo; echo last-line"
    backend.submit(LaunchRequest("job_small", command, 1, "H100-SXM", 60, attempt=1))
    assert wait_final(backend, "job_small") == BackendState.SUCCEEDED
    text = backend.logs("job_small").text
    assert text == "a" * 4000 + "\nlast-line\n"


def test_the_attempts_of_a_job_share_one_limit(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "jobs", log_max_bytes=LIMIT)
    for attempt in (1, 2):
        command = f"head -c {3 * LIMIT // 4} /dev/zero | tr '\\0' {attempt}"
        backend.submit(LaunchRequest("job_twice", command, 1, "H100-SXM", 60, attempt=attempt))
        assert wait_final(backend, "job_twice") == BackendState.SUCCEEDED
    log = (tmp_path / "jobs" / "job_twice.log").read_bytes()
    assert log.startswith(b"1" * (3 * LIMIT // 4) + b"2" * (LIMIT // 4) + b"\n[suanli]"), log[:80]
    assert len(log) < LIMIT + 300


def test_output_held_open_by_a_process_that_left_the_run_does_not_keep_it_going(
    tmp_path: Path,
) -> None:
    """Without a user per job, a `setsid` child survives its run and keeps the run's output
    open: the run still reads ended, LOG_DRAIN_S after it is first seen ended."""
    if shutil.which("setsid") is None:
        pytest.skip("needs setsid")
    backend = LocalBackend(tmp_path / "jobs", isolate_users=False, log_max_bytes=LIMIT)
    seconds = f"9200.{os.getpid()}"
    command = f"setsid sleep {seconds} & echo started"
    backend.submit(LaunchRequest("job_leaver", command, 1, "H100-SXM", 60, attempt=1))
    try:
        began = time.monotonic()
        assert wait_final(backend, "job_leaver") == BackendState.SUCCEEDED
        assert time.monotonic() - began < LOG_DRAIN_S + 3
        assert backend.logs("job_leaver").text == "started\n"
    finally:
        for pid in _processes_running(f"sleep {seconds}"):  # never leave it running
            os.kill(pid, signal.SIGKILL)


def test_a_running_jobs_log_is_written_as_it_comes(tmp_path: Path) -> None:
    """Each read of the run's output reaches the log at once: a log can be followed live."""
    backend = LocalBackend(tmp_path / "jobs", log_max_bytes=LIMIT)
    backend.submit(LaunchRequest("job_live", "echo early; sleep 30", 1, "H100-SXM", 60))
    try:
        deadline = time.monotonic() + 5
        while backend.logs("job_live").text != "early\n" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert backend.logs("job_live").text == "early\n"
    finally:
        backend.cancel("job_live")
        wait_final(backend, "job_live")
