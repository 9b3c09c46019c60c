"""Real local clusters for the integration tests: a Ray head and a one-node Slurm cluster.

Both follow ../shared/INFRA.md: everything on 127.0.0.1, private temp dirs and free ports, so
that several test runs on one machine never meet. Only processes started here are stopped.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil

# The Ray head helper lives in the package (the demo starts one too); re-exported for tests.
from suanli.adapters.backends.ray_local import (
    LOOPBACK_ENV,
    STOP_GRACE_S,
    RayHead,
    free_port,
    kill_tree,
    ray_head,
    stop_tree,
    wait_until,
)
from tests.helpers import shared_temp_dir

__all__ = [
    "JOB_USER",
    "LOOPBACK_ENV",
    "RayHead",
    "SlurmCluster",
    "bearer_proxy",
    "ensure_job_user",
    "free_port",
    "ray_head",
    "slurm_cluster",
    "wait_until",
]

SLURM_START_TIMEOUT_S = 30.0
JOB_USER = "suanlijob"  # the unprivileged user Slurm jobs run as (production never uses root)


@contextmanager
def bearer_proxy(target: str, token: str) -> Iterator[str]:
    """An HTTP proxy on 127.0.0.1 that forwards to `target` only with `Bearer <token>`:
    how a provider guards a Ray Jobs API, which has no authentication of its own."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def _forward(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {token}":
                self._answer(401, b"missing or wrong bearer token", "text/plain")
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
            answer = httpx.request(
                self.command, target + self.path, content=body, headers=headers, timeout=30
            )
            content_type = answer.headers.get("Content-Type", "application/json")
            self._answer(answer.status_code, answer.content, content_type)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet in test output
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_GRACE_S)


# -- Slurm -------------------------------------------------------------------------------------
SHARDS_PER_GPU = 1000  # one shard per milli-card: --gres=shard:<card_milli>


@dataclass
class SlurmCluster:
    """munged (private socket), slurmctld and slurmd in the foreground, owned by this process."""

    root: Path
    gpus: int
    gres_type: str
    partition: str = "debug"
    job_user: str = JOB_USER
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def log_dir(self) -> Path:
        return self.root / "jobs"

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        for sub in ("dev", "state", "spool", "log", "munge", "jobs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for index in range(self.gpus):
            device = self.root / "dev" / f"nvidia{index}"
            if not device.exists():
                os.mknod(
                    device, 0o666 | 0o020000, os.makedev(1, 3)
                )  # a char device, like /dev/null
        user = pwd.getpwnam(self.job_user)
        os.chown(self.log_dir, user.pw_uid, user.pw_gid)
        shutil.chown(self.root / "munge", "munge", "munge")
        os.chmod(self.root, 0o755)
        self.conf.write_text(slurm_conf_text(self.root, self.gpus, self.gres_type, self.partition))
        last = self.gpus - 1
        # Each GPU also carries SHARDS_PER_GPU shards (Slurm 22.05+ GPU sharing): a share of a
        # card of m milli asks for m shards, all on one GPU.
        shards = "".join(
            f"Name=shard Count={SHARDS_PER_GPU} File={self.root}/dev/nvidia{index}\n"
            for index in range(self.gpus)
        )
        (self.root / "gres.conf").write_text(
            f"Name=gpu Type={self.gres_type} File={self.root}/dev/nvidia[0-{last}]\n{shards}"
        )

    def start(self) -> None:
        if "munged" not in self.processes:
            self._start_munged()
        self.start_controller()
        self.processes["slurmd"] = self._spawn(
            "slurmd", ["slurmd", "-D", "-f", str(self.conf), "-N", "localhost"]
        )
        wait_until(self._node_idle, SLURM_START_TIMEOUT_S, "Slurm node")

    def start_controller(self) -> None:
        args = ["slurmctld", "-D", "-f", str(self.conf)]
        self.processes["slurmctld"] = self._spawn("slurmctld", args)
        wait_until(self._controller_up, SLURM_START_TIMEOUT_S, "slurmctld")

    def wait_state_saved(self, since: float) -> None:
        """Until slurmctld has written its job state after `since` (time.time()): a crash
        from then on loses nothing, as on a real cluster between two saves."""
        state = self.root / "state" / "job_state"

        def saved() -> bool:
            return state.exists() and state.stat().st_mtime > since

        wait_until(saved, SLURM_START_TIMEOUT_S, "Slurm job state save")

    def crash_controller(self) -> None:
        """The controller dies at once (SIGKILL); running job steps survive, as in Slurm."""
        process = self.processes.pop("slurmctld", None)
        if process is not None:
            process.kill()
            process.wait(timeout=STOP_GRACE_S)

    def stop(self) -> None:
        if "slurmctld" in self.processes:
            self._run(["scancel", "--full", f"--partition={self.partition}"])
            wait_until(self._no_jobs, STOP_GRACE_S * 2, "Slurm jobs to end")
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.pop(name, None)
            if process is not None:
                stop_tree(process)
                process.wait(timeout=STOP_GRACE_S)
        self._stop_orphan_steps()

    def _stop_orphan_steps(self) -> None:
        """slurmstepd outlives slurmd by design; end those of this cluster (and only those)."""
        ours = []
        for process in psutil.process_iter(["name"]):
            with suppress(psutil.Error):
                named = process.info["name"] == "slurmstepd"
                if named and process.environ().get("SLURM_CONF") == str(self.conf):
                    ours.append(process)
        for process in ours:
            psutil.wait_procs(kill_tree(process, signal.SIGKILL), timeout=STOP_GRACE_S)

    def _start_munged(self) -> None:
        munge_dir = self.root / "munge"
        args = [
            "runuser", "-u", "munge", "--", "/usr/sbin/munged", "--foreground",
            f"--socket={munge_dir}/munge.socket", f"--pid-file={munge_dir}/munged.pid",
            f"--log-file={munge_dir}/munged.log", f"--seed-file={munge_dir}/munged.seed",
        ]  # fmt: skip
        self.processes["munged"] = self._spawn("munged", args)
        wait_until((munge_dir / "munge.socket").exists, SLURM_START_TIMEOUT_S, "munged")

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.root / "log" / f"{name}.out").open("ab")
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env())

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, capture_output=True, text=True, env=self.env(), timeout=20, check=False
        )

    def _controller_up(self) -> bool:
        self._require_alive("slurmctld")
        return "is UP" in self._run(["scontrol", "ping"]).stdout

    def _node_idle(self) -> bool:
        self._require_alive("slurmd")
        out = self._run(["sinfo", "-h", "-N", "-o", "%T"]).stdout.strip()
        return out in {"idle", "mixed", "allocated"}

    def _no_jobs(self) -> bool:
        return not self._run(["squeue", "-h", "-o", "%i"]).stdout.strip()

    def _require_alive(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is not None:
            log = (self.root / "log" / f"{name}.out").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log}")


def slurm_conf_text(root: Path, gpus: int, gres_type: str, partition: str) -> str:
    """INFRA.md's checked single-node configuration, on free ports and private paths."""
    lines = [
        "ClusterName=suanli",
        "SlurmctldHost=localhost(127.0.0.1)",
        f"SlurmctldPort={free_port()}",
        f"SlurmdPort={free_port()}",
        "SlurmUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root}/munge/munge.socket",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "MpiDefault=none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={root}/log/jobcomp.txt",
        "GresTypes=gpu,shard",
        "ReturnToService=2",
        "MessageTimeout=3",  # an absent controller is reported in seconds, not ~20 s
        "SlurmdParameters=config_overrides",  # CPUs=8 on a 2-core machine: room for parallel jobs
        f"StateSaveLocation={root}/state",
        f"SlurmdSpoolDir={root}/spool",
        f"SlurmctldPidFile={root}/state/slurmctld.pid",
        f"SlurmdPidFile={root}/spool/slurmd.pid",
        f"SlurmctldLogFile={root}/log/slurmctld.log",
        f"SlurmdLogFile={root}/log/slurmd.log",
        *_loopback_only(),
        "NodeName=localhost NodeAddr=127.0.0.1 CPUs=8 RealMemory=16000"
        f" Gres=gpu:{gres_type}:{gpus},shard:{gpus * SHARDS_PER_GPU}",
        f"PartitionName={partition} Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
    ]
    return "\n".join(lines) + "\n"


def _loopback_only() -> list[str]:
    # The daemons then bind the address this host's name resolves to instead of 0.0.0.0; only
    # safe where that is loopback (otherwise they would listen where clients do not connect).
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return []
    return (
        ["CommunicationParameters=NoInAddrAny,NoCtldInAddrAny"]
        if address.startswith("127.")
        else []
    )


def ensure_job_user(name: str = JOB_USER) -> None:
    """Creates the unprivileged system user jobs run as (needs root; idempotent)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
            timeout=30,
        )


@contextmanager
def slurm_cluster(
    tmp_dir: Path | None = None, gpus: int = 8, gres_type: str = "h100"
) -> Iterator[SlurmCluster]:
    """A running one-node Slurm cluster with `gpus` fake GPUs of GRES type `gres_type`."""
    root = tmp_dir or shared_temp_dir("suanli-slurm-")
    ensure_job_user()
    cluster = SlurmCluster(root, gpus, gres_type)
    try:
        cluster.write_config()
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        if tmp_dir is None:
            shutil.rmtree(root, ignore_errors=True)
