"""A private Ray head on 127.0.0.1, started and stopped by suanli itself (the demo, the tests).

It follows ../shared/INFRA.md: loopback only (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`), free
ports, its own temp dir, and `ray start --block` so the whole process tree stays ours and is
the only thing ever stopped. Production clusters are the provider's, never started here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from suanli.errors import BackendUnavailable
from suanli.i18n import msg

RAY_START_TIMEOUT_S = 60.0
STOP_GRACE_S = 3.0
POLL_S = 0.2
PROBE_TIMEOUT_S = 2.0
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
DEFAULT_RESOURCES: Mapping[str, float] = {"accelerator_type:H100": 8}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def short_temp_dir(prefix: str) -> Path:
    # Ray puts unix sockets under its temp dir: long paths overflow the 107-byte socket limit.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def kill_tree(process: psutil.Process | subprocess.Popen[bytes], sig: int) -> list[psutil.Process]:
    """Signals a process and every descendant it has now; returns them for waiting."""
    try:
        root = psutil.Process(process.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    for member in tree:
        with suppress(psutil.NoSuchProcess):
            member.send_signal(sig)
    return tree


def stop_tree(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the tree, then SIGKILL whatever is left after STOP_GRACE_S."""
    tree = kill_tree(process, signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=STOP_GRACE_S)
    for member in alive:
        with suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=STOP_GRACE_S)


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(POLL_S)
    raise TimeoutError(f"{what} not ready within {timeout_s:g}s")


def ray_executable() -> Path:
    """The `ray` command of this interpreter's environment (the 'ray' extra)."""
    beside = Path(sys.executable).parent / "ray"
    found = beside if beside.is_file() else shutil.which("ray")
    if found is None:
        raise BackendUnavailable(
            msg(
                "缺少 `ray` 命令：`pip install 'suanli[ray]'`（或 `'ray[default]'`）",
                "the `ray` command is missing: pip install 'suanli[ray]' (or 'ray[default]')",
            )
        )
    return Path(found)


@dataclass
class RayHead:
    """A Ray head run with `ray start --block`, so the whole process tree stays ours."""

    temp_dir: Path
    resources: Mapping[str, float]
    dashboard_port: int = field(default_factory=free_port)
    num_cpus: int = 2
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def start(self) -> None:
        args = [
            str(ray_executable()), "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", f"--port={free_port()}",
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard_port}",
            f"--num-cpus={self.num_cpus}", "--disable-usage-stats",
            f"--resources={json.dumps(dict(self.resources))}",
            f"--temp-dir={self.temp_dir}",
        ]  # fmt: skip
        log = (self.temp_dir / "ray-start.log").open("ab")
        env = {**os.environ, **LOOPBACK_ENV}
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until(self._ready, RAY_START_TIMEOUT_S, f"Ray head at {self.address}")

    def crash(self) -> None:
        """The cluster goes down at once, as on a power cut: SIGKILL to the whole tree."""
        if self.process is not None:
            psutil.wait_procs(kill_tree(self.process, signal.SIGKILL), timeout=STOP_GRACE_S)
            self.process.wait(timeout=STOP_GRACE_S)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_tree(self.process)
            self.process.wait(timeout=STOP_GRACE_S)
            self.process = None

    def _ready(self) -> bool:
        """A node is ALIVE and the autoscaler has reported usage (capacity is readable)."""
        if self.process is not None and self.process.poll() is not None:
            log = (self.temp_dir / "ray-start.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"ray start exited with {self.process.returncode}:\n{log}")
        try:
            nodes = httpx.get(self.address + "/api/v0/nodes", timeout=PROBE_TIMEOUT_S).json()
            listed = nodes["data"]["result"]["result"]
            status = httpx.get(self.address + "/api/cluster_status", timeout=PROBE_TIMEOUT_S)
            report = status.json()["data"]["clusterStatus"]["loadMetricsReport"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return False
        alive = any(node.get("state") == "ALIVE" for node in listed)
        return alive and bool(report.get("usageByNode"))


@contextmanager
def ray_head(
    temp_dir: Path | None = None, resources: Mapping[str, float] | None = None
) -> Iterator[RayHead]:
    """A running Ray head with custom resources (default 8 × `accelerator_type:H100`);
    stopped on the way out, whatever happens (Ctrl-C included)."""
    directory = temp_dir or short_temp_dir("suanli-ray-")
    head = RayHead(directory, resources or DEFAULT_RESOURCES)
    try:
        head.start()
        yield head
    finally:
        head.stop()
        if temp_dir is None:
            shutil.rmtree(directory, ignore_errors=True)
