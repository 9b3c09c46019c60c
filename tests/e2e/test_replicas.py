"""Several servers: one per SQLite data folder; on PostgreSQL, replicas with one leader."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"suanli serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    pytest.fail("suanli serve did not start")


def test_a_second_server_on_one_sqlite_folder_refuses_to_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "SUANLI_DATA_DIR": str(data_dir), "SUANLI_LANGUAGE": "en"}
    env.pop("SUANLI_DATABASE_URL", None)
    command = [sys.executable, "-m", "suanli.cli.main", "serve"]
    first = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", first)
        second = subprocess.run(
            [*command, "--port", str(free_port())],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert str(data_dir.resolve()) in second.stderr
        assert f"PID {first.pid}" in second.stderr
        assert "one server per SQLite data folder" in second.stderr
        chinese = subprocess.run(
            [*command, "--port", str(free_port())],
            env={**env, "SUANLI_LANGUAGE": "zh-CN"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert chinese.returncode != 0
        assert "已被另一个 suanli serve 进程使用" in chinese.stderr
        assert first.poll() is None  # the first one goes on serving
    finally:
        first.terminate()
        first.wait(timeout=15)
    # The lock dies with its holder: the folder is free again.
    again = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", again)
    finally:
        again.terminate()
        again.wait(timeout=15)
