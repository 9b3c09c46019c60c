"""With a user per job the local backend closes its data directory to other users (0700); a
system or shared directory is refused instead, before anything is created or changed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import pytest

from suanli.adapters.backends.local import LocalBackend
from suanli.errors import InvalidInput


@pytest.mark.skipif(os.geteuid() != 0, reason="a user per job needs root")
@pytest.mark.parametrize("data_dir", ["/", "/tmp", "/srv", "/var/lib", "/usr/local"])
def test_a_system_data_directory_is_refused_and_left_as_it_was(data_dir: str) -> None:
    """With a user per job the data directory becomes 0700: for `/` that closed the machine
    to every other user (it happened to this project's own test machine)."""
    jobs_dir = Path(data_dir) / f"suanli-test-jobs-{os.getpid()}"
    before = os.stat(data_dir).st_mode & 0o7777
    try:
        with pytest.raises(InvalidInput, match="system or shared directory") as refused:
            LocalBackend(jobs_dir, isolate_users=True)
        assert refused.value.field == "data_dir"
        assert os.stat(data_dir).st_mode & 0o7777 == before
        assert not jobs_dir.exists()
        digest = hashlib.sha256(str(jobs_dir.resolve()).encode()).hexdigest()[:12]
        assert not (Path(tempfile.gettempdir()) / f"suanli-work-{digest}").exists()
    finally:  # a regression must not leave the machine broken for the tests after it
        os.chmod(data_dir, before)
        with contextlib.suppress(OSError):
            jobs_dir.rmdir()


@pytest.mark.skipif(os.geteuid() != 0, reason="a user per job needs root")
def test_a_data_directory_two_levels_down_is_locked_down(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "data" / "jobs", isolate_users=True)
    assert backend.isolates_users
    assert os.stat(tmp_path / "data").st_mode & 0o777 == 0o700
