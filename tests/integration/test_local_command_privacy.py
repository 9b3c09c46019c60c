"""A local job's command never appears in any process's arguments: `ps` shows every process's
arguments to every user, and a tenant's command may carry its secrets (a token in an export).
The wrapper reads it from a 0600 file of the job's user instead."""

from __future__ import annotations

import os
import time
from pathlib import Path

from suanli.adapters.backends.base import BackendState, LaunchRequest
from suanli.adapters.backends.local import LocalBackend
from tests.helpers import per_job_user_modes, wait_final

SECRET = "hf_SECRET_OF_TENANT_B"


def session_arguments(session_id: int) -> list[str]:
    """The arguments of every process in the session (the job's wrapper leads its own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == session_id:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


@per_job_user_modes()
def test_a_running_jobs_command_is_in_no_process_arguments(
    tmp_path: Path, isolate_users: bool
) -> None:
    backend = LocalBackend(tmp_path / "jobs", isolate_users=isolate_users)
    command = f"export HF_TOKEN={SECRET}; echo $HF_TOKEN | wc -c; sleep 1.5; echo done"
    backend.submit(LaunchRequest("job_secret", command, 1, "H100-SXM", 60, attempt=1))
    wrapper = backend._jobs["job_secret"].process.pid
    time.sleep(0.5)
    seen = session_arguments(wrapper)
    assert any("suanli-job" in args for args in seen), seen  # the wrapper was found
    assert not any(SECRET in args for args in seen), seen
    script = next((backend.work_root / "job_secret").glob(".suanli-command-*"))
    assert script.stat().st_mode & 0o777 == 0o600
    if isolate_users:  # while it runs; its folder is handed back to the server at the end
        assert script.stat().st_uid != os.geteuid()  # the job's user's, not the server's
    assert wait_final(backend, "job_secret") == BackendState.SUCCEEDED
    assert backend.logs("job_secret").text.split() == [str(len(SECRET) + 1), "done"]


def test_a_link_left_at_the_command_files_name_is_replaced_not_written_through(
    tmp_path: Path,
) -> None:
    """The folder is the job's: an earlier attempt may leave a link to a server file there."""
    backend = LocalBackend(tmp_path / "jobs")
    target = tmp_path / "server-file"
    target.write_text("untouched")
    folder = backend.work_root / "job_link"
    folder.mkdir(parents=True)
    (folder / ".suanli-command-2").symlink_to(target)
    backend.submit(LaunchRequest("job_link", "echo second", 1, "H100-SXM", 60, attempt=2))
    assert wait_final(backend, "job_link") == BackendState.SUCCEEDED
    assert target.read_text() == "untouched"
    assert "second" in backend.logs("job_link").text
