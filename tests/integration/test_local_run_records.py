"""Local runs outlive the process that started them: the next scheduler on the machine (after
a failover or a restart) reads, meters and cancels them, and never starts an attempt twice."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from suanli.adapters.backends import local
from suanli.adapters.backends.base import BackendState, LaunchRequest
from suanli.adapters.backends.local import RUN_RECORD_SUFFIX, LocalBackend
from tests.helpers import shared_temp_dir, wait_final


@pytest.fixture
def marker_dir() -> Iterator[Path]:
    path = shared_temp_dir("suanli-runs-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def request(job_id: str, marker: Path, attempt: int = 1, sleep_s: float = 0.5) -> LaunchRequest:
    # One file per run ($$: the shell's pid): runs as different users cannot share a file.
    command = f"echo ran > {marker}/{job_id}.$$; sleep {sleep_s}; exit 3"
    return LaunchRequest(job_id, command, 1, "H100-SXM", 60, attempt=attempt)


def runs(marker_dir: Path, job_id: str) -> int:
    return len(list(marker_dir.glob(f"{job_id}.*")))


def test_another_process_reads_a_run_it_did_not_start_and_never_starts_it_again(
    tmp_path: Path, marker_dir: Path
) -> None:
    starter = LocalBackend(tmp_path / "jobs")
    starter.submit(request("job_a", marker_dir))
    successor = LocalBackend(tmp_path / "jobs")  # same machine, same data folder
    assert successor.status("job_a").state == BackendState.RUNNING
    assert successor.submit(request("job_a", marker_dir)) == "job_a"  # the same attempt
    assert wait_final(successor, "job_a") == BackendState.FAILED
    status = successor.status("job_a")
    assert status.exit_code == 3 and status.started_at and status.ended_at
    usage = successor.usage("job_a")
    assert usage is not None and usage.cards == 1
    assert runs(marker_dir, "job_a") == 1


def test_a_run_whose_starter_died_before_recording_it_is_adopted_not_restarted(
    tmp_path: Path, marker_dir: Path
) -> None:
    starter = LocalBackend(tmp_path / "jobs")
    starter.submit(request("job_b", marker_dir, sleep_s=1.0))
    os.unlink(tmp_path / "jobs" / f"job_b{RUN_RECORD_SUFFIX}")  # as if killed right after start
    successor = LocalBackend(tmp_path / "jobs")
    assert successor.status("job_b").state == BackendState.LOST  # nothing recorded
    successor.submit(request("job_b", marker_dir))  # the placement again, same attempt
    assert successor.status("job_b").state == BackendState.RUNNING
    assert wait_final(successor, "job_b") == BackendState.FAILED
    assert successor.status("job_b").exit_code == 3
    assert runs(marker_dir, "job_b") == 1
    successor.submit(request("job_b", marker_dir, attempt=2, sleep_s=0))  # a new placement runs
    assert wait_final(successor, "job_b") == BackendState.FAILED
    assert runs(marker_dir, "job_b") == 2


class LateStarterRace(LocalBackend):
    """The successor of a starter that died before recording its run, timed so that the
    starter's wrapper claims the attempt after the successor looked for a claim and before
    the successor's own wrapper tries: the race a loaded machine opens."""

    def __init__(self, jobs_dir: Path, original: LaunchRequest) -> None:
        super().__init__(jobs_dir)
        self.original = original

    def _start(self, *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        self._start_original()
        return super()._start(*args, **kwargs)

    def _start_original(self: Any) -> None:
        """The dead starter's run lands now: started, claimed, and its record lost."""
        LocalBackend(self.jobs_dir).submit(self.original)
        os.unlink(self.jobs_dir / f"{self.original.job_id}{RUN_RECORD_SUFFIX}")
        claim = self.work_root / self.original.job_id / f".suanli-run-{self.original.attempt}"
        deadline = time.monotonic() + 10
        while not (claim / "pid").is_file() and time.monotonic() < deadline:
            time.sleep(0.01)


def test_a_successor_that_loses_the_claim_race_adopts_the_run_that_won(
    tmp_path: Path, marker_dir: Path
) -> None:
    original = request("job_e", marker_dir, sleep_s=1.0)
    successor = LateStarterRace(tmp_path / "jobs", original)
    successor.submit(request("job_e", marker_dir))  # its own wrapper finds the claim taken
    assert wait_final(successor, "job_e") == BackendState.FAILED
    status = successor.status("job_e")
    assert status.exit_code == 3  # the command's own exit, not the lost claim's 75
    assert runs(marker_dir, "job_e") == 1
    assert successor.usage("job_e") is not None


class StarterClaimsFirst(LocalBackend):
    """As above, but the dead starter's wrapper claims the attempt before the successor
    prepares the job's folder (after the successor looked for a claim)."""

    def __init__(self, jobs_dir: Path, original: LaunchRequest) -> None:
        super().__init__(jobs_dir)
        self.original = original

    def _prepare_workdir(self, job_id: str) -> tuple[Path, int | None]:
        LateStarterRace._start_original(self)
        return super()._prepare_workdir(job_id)


def test_a_successor_never_takes_the_folder_from_a_run_that_claimed_it(
    tmp_path: Path, marker_dir: Path
) -> None:
    # With a user per job, the run that won keeps its folder: it writes its exit status
    original = request("job_f", marker_dir, sleep_s=0.5)
    successor = StarterClaimsFirst(tmp_path / "jobs", original)
    successor.submit(request("job_f", marker_dir))
    assert wait_final(successor, "job_f") == BackendState.FAILED
    assert successor.status("job_f").exit_code == 3
    assert runs(marker_dir, "job_f") == 1


def test_a_run_cancelled_by_another_process_ends_cancelled(
    tmp_path: Path, marker_dir: Path
) -> None:
    LocalBackend(tmp_path / "jobs").submit(request("job_c", marker_dir, sleep_s=30))
    successor = LocalBackend(tmp_path / "jobs")
    successor.cancel("job_c")
    assert wait_final(successor, "job_c") == BackendState.CANCELLED
    assert successor.live_runs("job_c") == []


def test_a_run_cancelled_by_another_process_is_killed_when_it_outlives_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a cancel of a run this process did not start sent SIGTERM only, every time it
    was asked; a run whose leader outlives SIGTERM (here: stopped by its own command, which
    ignores SIGTERM) ran on for ever. Now a cancel asked again past the grace sends SIGKILL."""
    monkeypatch.setattr(local, "KILL_GRACE_S", 0.5)
    command = "trap '' TERM; kill -STOP $PPID; sleep 30"
    LocalBackend(tmp_path / "jobs").submit(
        LaunchRequest("job_k", command, 1, "H100-SXM", 60, attempt=1)
    )
    record = json.loads((tmp_path / "jobs" / f"job_k{RUN_RECORD_SUFFIX}").read_text())
    wait_stopped(int(record["pid"]))
    successor = LocalBackend(tmp_path / "jobs")
    successor.cancel("job_k")
    time.sleep(0.2)
    assert successor.status("job_k").state == BackendState.RUNNING  # it outlived SIGTERM
    time.sleep(0.5)
    successor.cancel("job_k")  # the loop asks again each round until the run ends
    assert wait_final(successor, "job_k") == BackendState.CANCELLED
    assert successor.live_runs("job_k") == []


def wait_stopped(pid: int) -> None:
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, f"process {pid} never stopped"
        time.sleep(0.05)


def test_a_job_that_forges_its_claim_never_gets_another_process_adopted(tmp_path: Path) -> None:
    """The claim folder is the job's to write. A job that writes another process's pid there
    and exits 75 (as if it lost the claim race) must not get that process adopted as its run:
    its cancel and its time limit would then stop another tenant's job, or the server."""
    victim = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        forge = (
            f"V={victim.pid}; (while [ ! -e .suanli-exit-1 ]; do sleep 0.01; done;"
            " rm -f .suanli-exit-1; echo $V > .suanli-run-1/pid) &"
            " echo $V > .suanli-run-1/pid; sleep 0.3; exit 75"
        )
        backend = LocalBackend(tmp_path / "jobs")
        backend.submit(LaunchRequest("job_forge", forge, 1, "H100-SXM", 60, attempt=1))
        assert wait_final(backend, "job_forge") == BackendState.FAILED
        assert backend.status("job_forge").exit_code == 75
        backend.cancel("job_forge")
        time.sleep(0.5)
        assert victim.poll() is None  # still running: never signalled as the job's
    finally:
        victim.kill()
        victim.wait()


def test_a_claimed_run_that_already_ended_is_adopted_not_run_again(
    tmp_path: Path, marker_dir: Path
) -> None:
    """The successor of a starter that died before recording its run finds the run over: no
    process left to check, only its claim and exit file. It is adopted, never run twice."""
    starter = LocalBackend(tmp_path / "jobs")
    starter.submit(request("job_over", marker_dir, sleep_s=0))
    folder = starter.work_root / "job_over"
    deadline = time.monotonic() + 10
    while not (folder / ".suanli-exit-1").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    starter._jobs["job_over"].process.wait()  # reaped: its pid names no process now
    os.unlink(tmp_path / "jobs" / f"job_over{RUN_RECORD_SUFFIX}")
    successor = LocalBackend(tmp_path / "jobs")
    successor.submit(request("job_over", marker_dir))  # the same attempt again
    assert wait_final(successor, "job_over") == BackendState.FAILED
    assert successor.status("job_over").exit_code == 3  # the ended run's own exit
    assert runs(marker_dir, "job_over") == 1
