"""A local job writes no file larger than `file_max_bytes` (Settings.job_file_max_bytes): the
run's shell caps every file at that size (`ulimit -f`, which every child inherits), a writer
that passes it is stopped, and the log says why in both languages."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.adapters.backends.base import BackendState, LaunchRequest
from suanli.adapters.backends.local import FILE_LIMIT_EXIT, LocalBackend
from suanli.config import Settings
from tests.helpers import per_job_user_modes, wait_final

LIMIT = 256 * 1024  # a whole number of 512-byte blocks


@per_job_user_modes()
def test_a_file_past_the_limit_is_cut_and_its_writer_stopped(
    tmp_path: Path, isolate_users: bool
) -> None:
    """Before: a job could fill the disk (the database's, with SQLite) with one file."""
    backend = LocalBackend(tmp_path / "jobs", isolate_users=isolate_users, file_max_bytes=LIMIT)
    command = f"head -c {8 * LIMIT} /dev/zero > big.bin; echo after-the-write"
    backend.submit(LaunchRequest("job_fill", command, 1, "H100-SXM", 60, attempt=1))
    assert wait_final(backend, "job_fill") == BackendState.SUCCEEDED  # the shell went on
    written = backend.work_root / "job_fill" / "big.bin"
    assert written.stat().st_size == LIMIT
    log = backend.logs("job_fill").text
    assert "after-the-write" in log


def test_a_job_stopped_at_the_limit_fails_and_its_log_says_why(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "jobs", file_max_bytes=LIMIT)
    command = f"exec head -c {8 * LIMIT} /dev/zero > big.bin"
    backend.submit(LaunchRequest("job_cut", command, 1, "H100-SXM", 60, attempt=1))
    assert wait_final(backend, "job_cut") == BackendState.FAILED
    assert backend.status("job_cut").exit_code == FILE_LIMIT_EXIT
    assert (backend.work_root / "job_cut" / "big.bin").stat().st_size == LIMIT
    lines = backend.logs("job_cut").text.strip().splitlines()
    assert (
        lines[-2] == f"[suanli] 退出码 153：通常表示作业写入的文件超过了每个文件 {LIMIT} 字节的上限"
        "（SIGXFSZ）"
    )
    assert (
        lines[-1]
        == f"[suanli] exit code 153: usually a file written past the limit of {LIMIT} bytes"
        " per file (SIGXFSZ)"
    )


def test_files_within_the_limit_are_written_whole_and_a_plain_failure_has_no_note(
    tmp_path: Path,
) -> None:
    backend = LocalBackend(tmp_path / "jobs", file_max_bytes=LIMIT)
    command = f"head -c {LIMIT} /dev/zero > exact.bin; echo done; exit 3"
    backend.submit(LaunchRequest("job_fits", command, 1, "H100-SXM", 60, attempt=1))
    assert wait_final(backend, "job_fits") == BackendState.FAILED
    assert backend.status("job_fits").exit_code == 3
    assert (backend.work_root / "job_fits" / "exact.bin").stat().st_size == LIMIT
    assert backend.logs("job_fits").text == "done\n"


def test_the_limit_rounds_down_to_whole_blocks_and_the_setting_is_bounded(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "jobs", file_max_bytes=1000)
    blocks, zh, en = backend._file_limit()
    assert blocks == "1" and "512 字节" in zh and "512 bytes" in en
    with pytest.raises(ValueError, match="job_file_max_bytes"):
        Settings(job_file_max_bytes=100)
