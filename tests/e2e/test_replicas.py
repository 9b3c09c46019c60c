"""Several servers: one per SQLite data folder; on PostgreSQL, replicas with one leader."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import select

from suanli.adapters.db.tables import JobRow
from tests.conftest import require_component
from tests.helpers import City, build_city, fund, make_app, python_command, shared_temp_dir

STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], timeout_s: float = STARTUP_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
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
        assert "已被另一个 `suanli serve` 进程使用" in chinese.stderr
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


# -- several servers on one PostgreSQL ---------------------------------------------------
JOBS = 300
CARDS_PER_NODE = 8
TAKEOVER_MAX_S = 10.0
FINISH_TIMEOUT_S = 240.0


@dataclass
class Server:
    role: str
    url: str
    process: subprocess.Popen[bytes]

    def health(self) -> dict[str, Any] | None:
        if self.process.poll() is not None:
            return None
        try:
            return dict(httpx.get(f"{self.url}/healthz", timeout=2).json())
        except httpx.HTTPError:
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(
    env: dict[str, str], role: str, log: Path, timeout_s: float = STARTUP_TIMEOUT_S
) -> Server:
    port = free_port()
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "suanli.cli.main", "serve", "--role", role, "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(role, f"http://127.0.0.1:{port}", process)
    wait_healthy(server.url, process, timeout_s)
    return server


def wait_for_leader(servers: list[Server], timeout_s: float) -> Server:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for server in servers:
            health = server.health()
            if health is not None and health["leading"]:
                return server
        time.sleep(0.1)
    raise AssertionError(f"no leader within {timeout_s}s")


@pytest.fixture
def marker_dir() -> Iterator[Path]:
    """Open to every uid: as root, each local job runs as a user of its own."""
    path = shared_temp_dir("suanli-markers-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def replica_env(tmp_path: Path, postgres_schema_url: str) -> Iterator[dict[str, Any]]:
    """A migrated schema of its own, a city (tokens, a funded enterprise, one 8-card local
    pool) and the environment the servers share (one data folder: same machine)."""
    app = make_app(tmp_path, postgres_schema_url)
    city = build_city(app)
    fund(app, city.enterprise_id, amount_fen=1_000_000_000)
    app.close()
    env = {
        **os.environ,
        "SUANLI_DATA_DIR": str(tmp_path / "data"),
        "SUANLI_DATABASE_URL": postgres_schema_url,
        "SUANLI_LANGUAGE": "en",
        "SUANLI_SCHEDULER_INTERVAL_S": "0.2",
        "SUANLI_LEASE_TTL_S": "3",
        "SUANLI_LEASE_RENEW_S": "0.5",
    }
    yield {"env": env, "city": city, "log": tmp_path / "servers.log"}


def submit_all(servers: list[Server], token: str, bodies: list[dict[str, Any]]) -> list[str]:
    """Round robin over the servers alive; a refused connection moves on to the next."""
    ids: list[str] = []
    with httpx.Client(timeout=30) as client:
        for index, body in enumerate(bodies):
            for attempt in range(len(servers) * 3):
                server = servers[(index + attempt) % len(servers)]
                if server.process.poll() is not None:
                    continue
                try:
                    reply = client.post(
                        f"{server.url}/v1/jobs",
                        json=body,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except httpx.TransportError:
                    continue
                assert reply.status_code == 201, reply.text
                ids.append(reply.json()["id"])
                break
            else:
                raise AssertionError("no server took the submit")
    return ids


def marker_job(marker_dir: Path, index: int) -> dict[str, Any]:
    """Leaves one file per run (named by the job and the run's pid): a second run of a job,
    even as another user, leaves a second file."""
    code = (
        "import os,time;"
        f"open('{marker_dir}/'+os.environ['SUANLI_JOB_ID']+'.'+str(os.getpid()),'x');"
        "time.sleep(0.3)"
    )
    return {
        "name": f"marker-{index}",
        "command": python_command(code),
        "cards": 1,
        "max_run_time_s": 120,
    }


def test_replicas_fail_over_twice_and_every_job_runs_exactly_once(
    replica_env: dict[str, Any], marker_dir: Path
) -> None:
    env, city, log = replica_env["env"], replica_env["city"], replica_env["log"]
    first = start_server(env, "all", log)
    second = start_server(env, "all", log)
    api = start_server(env, "api", log)
    servers = [first, second, api]
    try:
        assert api.health() == {"status": "ok", "role": "api", "leading": False}
        bodies = [marker_job(marker_dir, index) for index in range(JOBS)]
        leader = wait_for_leader(servers, TAKEOVER_MAX_S)
        ids = submit_all(servers, city.enterprise, bodies[:100])
        wait_until_some_finished(city, ids, at_least=20)
        takeover_s, leader = kill_leader(leader, servers)
        assert takeover_s < TAKEOVER_MAX_S
        servers.append(start_server(env, "all", log))  # a fresh standby for the next failover
        ids += submit_all(servers, city.enterprise, bodies[100:200])
        wait_until_some_finished(city, ids, at_least=130)
        takeover_s, leader = kill_leader(leader, servers)
        assert takeover_s < TAKEOVER_MAX_S
        ids += submit_all(servers, city.enterprise, bodies[200:])
        jobs = wait_until_all_finished(city, ids)
    finally:
        for server in servers:
            server.stop()
    unsuccessful = {k: v["why"] for k, v in jobs.items() if v["state"] != "succeeded"}
    assert not unsuccessful, (unsuccessful, complaints(log))
    runs = {job_id: len(list(marker_dir.glob(f"{job_id}.*"))) for job_id in ids}
    assert sorted(set(runs.values())) == [1], {k: v for k, v in runs.items() if v != 1}
    assert peak_cards_per_node(jobs.values()) <= CARDS_PER_NODE
    check = subprocess.run(
        [sys.executable, "-m", "suanli.cli.main", "ledger", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def complaints(log: Path) -> list[str]:
    lines = log.read_text(errors="replace").splitlines()
    return [line for line in lines if not line.startswith("INFO")][-60:]


def kill_leader(leader: Server, servers: list[Server]) -> tuple[float, Server]:
    """SIGKILL, then how long until another process leads."""
    leader.process.send_signal(signal.SIGKILL)
    leader.process.wait(timeout=10)
    killed_at = time.monotonic()
    successor = wait_for_leader([s for s in servers if s is not leader], TAKEOVER_MAX_S + 5)
    return time.monotonic() - killed_at, successor


def _states(city: City, ids: list[str]) -> dict[str, dict[str, Any]]:
    with city.app.db.session() as session:
        rows = session.scalars(select(JobRow).where(JobRow.id.in_(ids))).all()
        return {
            row.id: {
                "state": row.state,
                "placed_at": row.placed_at,
                "finished_at": row.finished_at,
                "pool_id": row.pool_id,
                "node_cards": row.node_cards,
                "why": f"{row.reason} (exit {row.exit_code}, attempts {row.attempts})",
            }
            for row in rows
        }


def wait_until_some_finished(city: City, ids: list[str], at_least: int) -> None:
    deadline = time.monotonic() + FINISH_TIMEOUT_S
    while time.monotonic() < deadline:
        states = _states(city, ids)
        if sum(job["state"] in TERMINAL for job in states.values()) >= at_least:
            return
        time.sleep(0.3)
    raise AssertionError(f"fewer than {at_least} jobs finished")


def wait_until_all_finished(city: City, ids: list[str]) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + FINISH_TIMEOUT_S
    while time.monotonic() < deadline:
        states = _states(city, ids)
        if all(job["state"] in TERMINAL for job in states.values()):
            return states
        time.sleep(0.5)
    stuck = {k: v["state"] for k, v in _states(city, ids).items() if v["state"] not in TERMINAL}
    raise AssertionError(f"jobs still not finished: {stuck}")


TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")


def peak_cards_per_node(jobs: Any) -> int:
    """The most cards held at once on any node, from the placement records (placed until
    finished): a sweep over the start and end events, ends first at equal times."""
    events: list[tuple[Any, int, tuple[str, int]]] = []
    for job in jobs:
        for node, cards in job["node_cards"]:
            key = (str(job["pool_id"]), int(node))
            events.append((job["placed_at"], int(cards), key))
            events.append((job["finished_at"], -int(cards), key))
    events.sort(key=lambda event: (event[0], event[1]))
    held: dict[tuple[str, int], int] = {}
    peak = 0
    for _, delta, key in events:
        held[key] = held.get(key, 0) + delta
        peak = max(peak, held[key])
    return peak


# -- PostgreSQL restarts under load ------------------------------------------------------
PG_BIN = Path("/usr/lib/postgresql/15/bin")
LOAD_SECONDS_MAX = 60.0
SUBMITS_MAX = 400


@dataclass
class PrivatePostgres:
    """A throwaway cluster of this test's own (never the shared one), restartable at will."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.directory),
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def restart(self) -> None:
        self.ctl("-m", "fast", "-w", "stop")
        time.sleep(1.0)  # down for a moment, as a real restart is
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.ctl("-o", options, "-l", str(self.directory / "log"), "-w", "start")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    usable = os.geteuid() == 0 and (PG_BIN / "initdb").exists() and shutil.which("runuser")
    require_component(bool(usable), f"PostgreSQL binaries in {PG_BIN} and root (for runuser)")
    directory = shared_temp_dir("suanli-pg-")  # postgres must reach it
    shutil.chown(directory, "postgres", "postgres")
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(directory),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = PrivatePostgres(directory, free_port())
    server.start()
    yield server
    with contextlib.suppress(subprocess.SubprocessError):
        server.ctl("-m", "immediate", "stop")
    shutil.rmtree(directory, ignore_errors=True)


def submit_until_accepted(client: httpx.Client, url: str, token: str, statuses: list[int]) -> str:
    """One job, retried with its Idempotency-Key while the answer is 503 or no answer."""
    key = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    body = {"name": "steady", "command": "echo ok", "cards": 1, "max_run_time_s": 60}
    deadline = time.monotonic() + LOAD_SECONDS_MAX
    while time.monotonic() < deadline:
        try:
            reply = client.post(f"{url}/v1/jobs", json=body, headers=headers)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        statuses.append(reply.status_code)
        if reply.status_code == 503:
            assert reply.headers["Retry-After"].isdigit()
            assert reply.json()["error"] == "database_unavailable"
            time.sleep(0.2)
            continue
        if reply.status_code == 409 and reply.json()["error"] == "idempotency_in_progress":
            time.sleep(float(reply.headers["Retry-After"]))  # its first try is being released
            continue
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])
    raise AssertionError("a submit was never accepted")


def test_a_postgresql_restart_under_load_answers_503_never_500_and_loses_no_job(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    app = make_app(tmp_path, private_postgres.url)
    city = build_city(app)
    fund(app, city.enterprise_id, amount_fen=1_000_000_000)
    env = {
        **os.environ,
        "SUANLI_DATA_DIR": str(tmp_path / "data"),
        "SUANLI_DATABASE_URL": private_postgres.url,
        "SUANLI_LANGUAGE": "en",
        "SUANLI_SCHEDULER_INTERVAL_S": "0.2",
        "SUANLI_LEASE_TTL_S": "3",
        "SUANLI_LEASE_RENEW_S": "0.5",
    }
    server = start_server(env, "all", tmp_path / "server.log")
    statuses: list[int] = []
    accepted: list[str] = []
    # The restart runs beside the load, so requests keep arriving while the database is down.
    restart = threading.Thread(target=private_postgres.restart)
    try:
        with httpx.Client(timeout=30) as client:
            started = time.monotonic()
            while len(accepted) < SUBMITS_MAX and time.monotonic() - started < LOAD_SECONDS_MAX:
                accepted.append(
                    submit_until_accepted(client, server.url, city.enterprise, statuses)
                )
                reads = client.get(f"{server.url}/v1/jobs", headers=city.headers(city.enterprise))
                statuses.append(reads.status_code)
                if len(accepted) == 20:
                    restart.start()
                if len(accepted) >= 60 and not restart.is_alive():
                    break
        restart.join(timeout=120)
        restarted = not restart.is_alive()
        assert restarted
        assert 503 in statuses, "the restart was not seen by any request"
        assert all(code < 500 or code == 503 for code in statuses), sorted(set(statuses))
        app.db.engine.dispose()  # its pooled connections died with the restart
        jobs = wait_until_all_finished(city, accepted)
        assert {job["state"] for job in jobs.values()} == {"succeeded"}
        assert len(set(accepted)) == len(accepted)
    finally:
        server.stop()
        app.close()
    check = subprocess.run(
        [sys.executable, "-m", "suanli.cli.main", "ledger", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_sigterm_finishes_the_answer_and_hands_the_lease_over_at_once(
    replica_env: dict[str, Any],
) -> None:
    """A clean stop releases the lease: the standby leads long before the lease would expire."""
    env = {**replica_env["env"], "SUANLI_LEASE_TTL_S": "30"}
    log = replica_env["log"]
    first = start_server(env, "scheduler", log)
    leader = wait_for_leader([first], 10)
    second = start_server(env, "scheduler", log)
    try:
        assert second.health() == {"status": "ok", "role": "scheduler", "leading": False}
        tenants = httpx.get(f"{second.url}/v1/pools", timeout=5)  # not a scheduler's business
        assert tenants.status_code == 404 and tenants.json()["error"] == "not_found"
        leader.process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        assert leader.process.wait(timeout=25) == 0
        wait_for_leader([second], 10)
        assert time.monotonic() - stopped_at < 10  # not the 30 s a dead leader's lease lasts
    finally:
        first.stop()
        second.stop()


# -- a network cut between the leader and PostgreSQL --------------------------------------
class PausableProxy:
    """A TCP relay on 127.0.0.1 in front of PostgreSQL for one server: `cut()` stops every
    byte both ways without closing anything (as a partition does: the peers see silence,
    not a reset) and `heal()` lets what was held go on, as TCP retransmission would."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.flowing = threading.Event()
        self.flowing.set()
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while not self.stopped.is_set():
            try:
                data = source.recv(65536)
            except OSError:
                return
            while not self.flowing.wait(0.2):  # cut: hold the bytes, send nothing
                if self.stopped.is_set():
                    return
            if not data:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                return
            try:
                sink.sendall(data)
            except OSError:
                return

    def cut(self) -> None:
        self.flowing.clear()

    def heal(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.stopped.set()
        self.flowing.set()
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


def through(url: str, proxy: PausableProxy) -> str:
    """The same database URL, reached through the proxy."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))


def test_a_network_cut_leader_is_replaced_within_10s_and_runs_nothing_after(
    replica_env: dict[str, Any], marker_dir: Path
) -> None:
    """The leader's link to PostgreSQL goes silent (no reset, no error): a standby leads
    within 10 s, and when the link comes back the old leader finds a newer epoch and writes
    nothing; every job runs exactly once."""
    env, city, log = replica_env["env"], replica_env["city"], replica_env["log"]
    parts = urlsplit(env["SUANLI_DATABASE_URL"])
    proxy = PausableProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    cut_off = start_server(
        {**env, "SUANLI_DATABASE_URL": through(env["SUANLI_DATABASE_URL"], proxy)}, "all", log
    )
    servers = [cut_off]
    try:
        assert wait_for_leader([cut_off], TAKEOVER_MAX_S) is cut_off
        standby = start_server(env, "all", log)
        servers.append(standby)
        bodies = [marker_job(marker_dir, index) for index in range(24)]
        ids = submit_all([standby], city.enterprise, bodies[:12])
        wait_until_some_finished(city, ids, at_least=4)
        proxy.cut()
        cut_at = time.monotonic()
        assert wait_for_leader([standby], TAKEOVER_MAX_S + 5) is standby
        assert time.monotonic() - cut_at < TAKEOVER_MAX_S
        assert cut_off.health() == {"status": "ok", "role": "all", "leading": False}
        ids += submit_all([standby], city.enterprise, bodies[12:])
        proxy.heal()  # what the old leader had in flight reaches the database now
        jobs = wait_until_all_finished(city, ids)
        time.sleep(1.0)  # the old leader's next rounds, had it kept going
        assert cut_off.health() == {"status": "ok", "role": "all", "leading": False}
        assert standby.health() == {"status": "ok", "role": "all", "leading": True}
    finally:
        for server in servers:
            server.stop()
        proxy.close()
    unsuccessful = {k: v["why"] for k, v in jobs.items() if v["state"] != "succeeded"}
    assert not unsuccessful, (unsuccessful, complaints(log))
    runs = {job_id: len(list(marker_dir.glob(f"{job_id}.*"))) for job_id in ids}
    assert sorted(set(runs.values())) == [1], {k: v for k, v in runs.items() if v != 1}
    assert peak_cards_per_node(jobs.values()) <= CARDS_PER_NODE


# -- a rolling restart under load ----------------------------------------------------------
ROLLING_SUBMITS_MAX = 150
ROLLING_CLIENTS = 2
RESTART_TIMEOUT_S = 90.0


@dataclass
class Load:
    """Clients behind a load balancer's retry: a submit keeps its Idempotency-Key and moves
    to the next replica when one refuses the connection or closes it unanswered."""

    servers: list[Server]
    token: str
    stop: threading.Event
    statuses: list[int]
    accepted: dict[str, str]  # Idempotency-Key -> job id
    lock: threading.Lock

    def run(self, seed: int) -> None:
        turn = seed
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set() and len(self.accepted) < ROLLING_SUBMITS_MAX:
                key = str(uuid.uuid4())
                job_id = self._submit(client, key, turn)
                turn += 1
                if job_id is not None:
                    with self.lock:
                        self.accepted[key] = job_id
                self._read(client, turn)
                time.sleep(0.1)

    def _submit(self, client: httpx.Client, key: str, turn: int) -> str | None:
        body = {"name": "rolling", "command": "echo ok", "cards": 1, "max_run_time_s": 60}
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            server = self.servers[turn % len(self.servers)]
            turn += 1
            try:
                reply = client.post(f"{server.url}/v1/jobs", json=body, headers=headers)
            except httpx.TransportError:
                time.sleep(0.05)
                continue  # no answer: the same key on the next replica
            self.statuses.append(reply.status_code)
            if reply.status_code == 201:
                return str(reply.json()["id"])
            if reply.status_code in (409, 503):
                time.sleep(float(reply.headers.get("Retry-After", "1")))
                continue
            raise AssertionError(f"{reply.status_code}: {reply.text}")
        raise AssertionError("a submit was never accepted")

    def _read(self, client: httpx.Client, turn: int) -> None:
        server = self.servers[turn % len(self.servers)]
        try:
            reply = client.get(
                f"{server.url}/v1/jobs", headers={"Authorization": f"Bearer {self.token}"}
            )
        except httpx.TransportError:
            return
        self.statuses.append(reply.status_code)


def test_a_rolling_restart_under_load_loses_no_accepted_request(
    replica_env: dict[str, Any],
) -> None:
    """SIGTERM each replica in turn (the leader among them) while clients submit and read,
    and start it again: every answer is 2xx, 4xx or 503, every accepted job exists once and
    finishes, and the ledger checks."""
    env, city, log = replica_env["env"], replica_env["city"], replica_env["log"]
    servers = [start_server(env, role, log) for role in ("all", "all", "api")]
    load = Load(servers, city.enterprise, threading.Event(), [], {}, threading.Lock())
    clients = [
        threading.Thread(target=load.run, args=(seed,), daemon=True)
        for seed in range(ROLLING_CLIENTS)
    ]
    try:
        for client in clients:
            client.start()
        for index in range(len(servers)):
            time.sleep(1.0)
            old = servers[index]
            old.process.send_signal(signal.SIGTERM)
            assert old.process.wait(timeout=30) == 0  # drained and exited cleanly
            # Starting under the load (and the shared machine's) takes longer than alone.
            servers[index] = start_server(env, old.role, log, RESTART_TIMEOUT_S)
        wait_for_leader(servers, TAKEOVER_MAX_S)
        time.sleep(1.0)
        load.stop.set()
        for client in clients:
            client.join(timeout=90)
        assert not any(client.is_alive() for client in clients)
        assert load.accepted, "no submit went through"
        assert all(code < 500 or code == 503 for code in load.statuses), sorted(set(load.statuses))
        ids = list(load.accepted.values())
        assert len(set(ids)) == len(ids)  # a retried key never made a second job
        jobs = wait_until_all_finished(city, ids)
        assert set(jobs) == set(ids)
        assert {job["state"] for job in jobs.values()} == {"succeeded"}, complaints(log)
    finally:
        load.stop.set()
        for server in servers:
            server.stop()
    check = subprocess.run(
        [sys.executable, "-m", "suanli.cli.main", "ledger", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
