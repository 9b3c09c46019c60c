"""`suanli bench api`: several `suanli serve --role api` replicas on one database, driven by
concurrent clients with a bounded, realistic mix (quotes and submits, job and pool lists, log
reads, statement reads), with `GET /healthz` in the same run as the baseline.

It starts its own servers on 127.0.0.1, works in a schema (PostgreSQL) or file (SQLite) of its
own, dropped afterwards, and checks the ledger at the end. No scheduler runs: submitted jobs
stay queued, so the figures are the API's alone.

The box is shared and noisy, so each run also gives figures that do not depend on how busy it
is: first a few seconds of `GET /healthz` alone (the same clients, the same replicas: what
the HTTP stack by itself can do now), then, for the mix, the CPU seconds each request cost in
the replicas, in this client, and in the PostgreSQL backends that served the replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa

from suanli.adapters.db.database import Database
from suanli.cli.bench_ledger import scratch_database
from suanli.cli.common import fail
from suanli.i18n import t
from suanli.services import ledger
from suanli.services.common import Clock, SystemClock
from suanli.services.organisations import bootstrap_operator
from suanli.services.wallets import demo_top_up

REQUESTS_MAX = 500_000
QUEUED_JOBS_MAX = REQUESTS_MAX  # more than a run can submit
BASELINE_S_MAX = 5.0  # the healthz-only phase: a quarter of the run, at most this
ENTERPRISES = 8
STARTUP_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
# op -> weight; healthz is the same-run baseline.
MIX = {
    "healthz": 10,
    "quote": 10,
    "submit": 15,
    "jobs_list": 25,
    "pools_list": 20,
    "job_logs": 10,
    "statement": 10,
}
JOB = {"name": "bench", "command": "true", "cards": 1, "max_run_time_s": 60}


@dataclass
class Target:
    urls: list[str]
    tokens: list[tuple[str, str]]  # (enterprise id, its token)
    job_by_org: dict[str, str] = field(default_factory=dict)  # one job each, for log reads


@dataclass(frozen=True)
class OpFigures:
    op: str
    count: int
    per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    p50_vs_healthz: float


def run_command(
    database_url: str, replicas: int, clients: int, seconds: float, json_output: bool
) -> None:
    """`suanli bench api` (its options are in cli/bench.py): prints per-operation rate, p50/p99
    and errors, and their ratio to GET /healthz."""
    load_before = os.getloadavg()[0]
    with scratch_database(database_url) as scratch, tempfile.TemporaryDirectory() as data_dir:
        url = _named(scratch)
        db = Database(url)
        try:
            with db.session() as session:
                operator = bootstrap_operator(session, SystemClock(), name="bench").token
            with replicas_running(url, Path(data_dir), replicas) as running:
                target = prepare(running.urls, operator, db)
                baseline_s = min(BASELINE_S_MAX, seconds / 4)
                healthz_only = asyncio.run(drive(target, clients, baseline_s, {"healthz": 1}))
                meter = CpuMeter(running.pids, db)
                samples = asyncio.run(drive(target, clients, seconds, MIX))
                cpu = meter.read(len(samples))
            report = ledger.run_check(db)
        finally:
            db.dispose()
    figures = summarise(samples, seconds)
    baseline_per_s = round(len(healthz_only) / baseline_s, 1)
    result = {
        "replicas": replicas,
        "clients": clients,
        "seconds": seconds,
        "engine": "sqlite" if url.startswith("sqlite") else "postgresql",
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "healthz_only_per_s": baseline_per_s,
        "ops": [asdict(f) for f in figures],
        "per_s_vs_healthz_only": {
            f.op: round(f.per_s / baseline_per_s, 3) if baseline_per_s else 0.0 for f in figures
        },
        "requests_per_s": round(len(samples) / seconds, 1),
        "cpu_ms_per_request": cpu,
        "errors": sum(f.errors for f in figures),
        "ledger_ok": report.ok,
    }
    if json_output:
        print(json.dumps(result))
    else:
        _print(result, figures)
    if not report.ok:
        fail(t("压测后账本不一致", "the ledger is inconsistent after the run"), 6)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _named(url: str) -> str:
    """PostgreSQL: the replicas' connections carry a name of this run, so that the CPU of the
    backends serving them can be found (pg_stat_activity.application_name)."""
    if url.startswith("sqlite"):
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}application_name={APPLICATION_NAME}"


APPLICATION_NAME = f"suanli-bench-{os.getpid()}"


@dataclass
class Running:
    urls: list[str]
    pids: list[int]


class CpuMeter:
    """CPU seconds spent from now to `read`: in the replicas, in this process (the clients),
    and in the PostgreSQL backends of this run (readable when they run on this machine)."""

    def __init__(self, replica_pids: list[int], db: Database) -> None:
        self.replicas = [psutil.Process(pid) for pid in replica_pids]
        self.db = db
        self.client_started = time.process_time()
        self.replicas_started = _cpu_s(self.replicas)
        self.backends_started = self._backends()

    def _backends(self) -> dict[int, float]:
        if self.db.is_sqlite:
            return {}
        with self.db.engine.connect() as connection:
            pids = connection.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                {"name": APPLICATION_NAME},
            ).scalars()
            found = {}
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    found[int(pid)] = _cpu_s([psutil.Process(int(pid))])
            return found

    def read(self, requests: int) -> dict[str, float | None]:
        replicas = _cpu_s(self.replicas) - self.replicas_started
        client = time.process_time() - self.client_started
        backends = self._backends()
        postgres = sum(
            spent - self.backends_started.get(pid, 0.0) for pid, spent in backends.items()
        )
        per = 1000 / max(requests, 1)
        return {
            "replicas": round(replicas * per, 3),
            "client": round(client * per, 3),
            "postgres": round(postgres * per, 3) if backends else None,
        }


def _cpu_s(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


@contextmanager
def replicas_running(url: str, data_dir: Path, count: int) -> Iterator[Running]:
    env = {**os.environ, "SUANLI_DATABASE_URL": url, "SUANLI_DATA_DIR": str(data_dir)}
    env["SUANLI_LANGUAGE"] = "en"
    # API-only replicas start no job, so every submit stays queued: past the per-enterprise
    # limit on queued jobs the bench would time refusals instead of submits.
    env["SUANLI_MAX_QUEUED_JOBS_PER_ENTERPRISE"] = str(QUEUED_JOBS_MAX)
    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(count):
            port = _free_port()
            argv = [sys.executable, "-m", "suanli.cli.main", "serve", "--role", "api"]
            processes.append(
                subprocess.Popen(
                    [*argv, "--port", str(port)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for process, base in zip(processes, urls, strict=True):
            _wait_healthy(process, base)
        yield Running(urls, [process.pid for process in processes])
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_healthy(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            fail(t("服务进程启动失败", "a server process exited at start-up"), 1)
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    fail(t("服务进程未能按时启动", "a server did not start in time"), 1)


def prepare(urls: list[str], operator: str, db: Database) -> Target:
    """A provider with a pool, funded enterprises, and a few jobs for log reads."""
    with httpx.Client(base_url=urls[0], timeout=REQUEST_TIMEOUT_S) as client:
        auth = {"Authorization": f"Bearer {operator}"}
        provider = _created(client, "/v1/organisations", auth, _org("bench-provider", "provider"))
        pool = {
            "name": "bench-h100",
            "accelerator_model": "H100-SXM",
            "nodes": 4,
            "cards_per_node": 8,
            "region": "浙江/杭州/余杭",
            "price_fen_per_card_hour": 3600,
            "provider_id": provider["organisation"]["id"],
        }
        _created(client, "/v1/pools", auth, pool)
        tokens = []
        for index in range(ENTERPRISES):
            made = _created(
                client, "/v1/organisations", auth, _org(f"bench-e{index}", "enterprise")
            )
            org_id = made["organisation"]["id"]
            demo_top_up(_HasDb(db), org_id, amount_fen=10**11)
            tokens.append((org_id, made["token"]))
        target = Target(urls, tokens)
        for org_id, token in tokens:
            job = _created(client, "/v1/jobs", {"Authorization": f"Bearer {token}"}, JOB)
            target.job_by_org[org_id] = job["id"]
    return target


@dataclass
class _HasDb:
    db: Database
    clock: Clock = field(default_factory=SystemClock)


def _org(name: str, kind: str) -> dict[str, str]:
    return {"name": name, "kind": kind, "region": "浙江/杭州"}


def _created(client: httpx.Client, path: str, headers: dict[str, str], body: Any) -> Any:
    reply = client.post(path, json=body, headers=headers)
    if reply.status_code != 201:
        fail(f"{path}: {reply.status_code} {reply.text[:300]}", 1)
    return reply.json()


async def drive(
    target: Target, clients: int, seconds: float, mix: dict[str, int]
) -> list[tuple[str, float, bool]]:
    samples: list[tuple[str, float, bool]] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        await asyncio.gather(
            *(_client(client, target, index, deadline, samples, mix) for index in range(clients))
        )
    return samples


async def _client(
    client: httpx.AsyncClient,
    target: Target,
    index: int,
    deadline: float,
    samples: list[tuple[str, float, bool]],
    mix: dict[str, int],
) -> None:
    chooser = random.Random(index)
    ops, weights = list(mix), list(mix.values())
    org_id, token = target.tokens[index % len(target.tokens)]
    headers = {"Authorization": f"Bearer {token}"}
    turn = index
    while time.monotonic() < deadline and len(samples) < REQUESTS_MAX:
        op = chooser.choices(ops, weights)[0]
        base = target.urls[turn % len(target.urls)]  # round robin over the replicas
        turn += 1
        started = time.perf_counter()
        try:
            ok = await _one(client, base, op, headers, org_id, target)
        except httpx.HTTPError:
            ok = False
        samples.append((op, time.perf_counter() - started, ok))


async def _one(
    client: httpx.AsyncClient,
    base: str,
    op: str,
    headers: dict[str, str],
    org_id: str,
    target: Target,
) -> bool:
    if op == "healthz":
        reply = await client.get(f"{base}/healthz")
    elif op == "quote":
        reply = await client.post(f"{base}/v1/jobs/quote", json=JOB, headers=headers)
    elif op == "submit":
        keyed = {**headers, "Idempotency-Key": str(uuid.uuid4())}
        reply = await client.post(f"{base}/v1/jobs", json=JOB, headers=keyed)
    elif op == "jobs_list":
        reply = await client.get(f"{base}/v1/jobs", params={"limit": 20}, headers=headers)
    elif op == "pools_list":
        reply = await client.get(f"{base}/v1/pools", headers=headers)
    elif op == "job_logs":
        own = target.job_by_org[org_id]
        reply = await client.get(f"{base}/v1/jobs/{own}/logs", headers=headers)
    else:
        path = f"{base}/v1/wallets/{org_id}/statement"
        reply = await client.get(path, params={"limit": 20}, headers=headers)
    return 200 <= reply.status_code < 300


def summarise(samples: list[tuple[str, float, bool]], seconds: float) -> list[OpFigures]:
    by_op: dict[str, list[tuple[float, bool]]] = {op: [] for op in MIX}
    for op, latency, ok in samples:
        by_op[op].append((latency, ok))
    baseline = _percentile(sorted(lat for lat, _ in by_op["healthz"]), 0.5) or 1e-9
    figures = []
    for op, values in by_op.items():
        latencies = sorted(lat for lat, _ in values)
        p50 = _percentile(latencies, 0.5)
        figures.append(
            OpFigures(
                op=op,
                count=len(values),
                per_s=round(len(values) / seconds, 1),
                p50_ms=round(p50 * 1000, 1),
                p99_ms=round(_percentile(latencies, 0.99) * 1000, 1),
                errors=sum(1 for _, ok in values if not ok),
                p50_vs_healthz=round(p50 / baseline, 2),
            )
        )
    return figures


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _print(result: dict[str, Any], figures: list[OpFigures]) -> None:
    load = result["load_average"]
    print(
        t(
            f"{result['replicas']} 个副本, {result['clients']} 个客户端, {result['seconds']} 秒"
            f" ({result['engine']}), 负载 {load[0]} → {load[1]}",
            f"{result['replicas']} replicas, {result['clients']} clients, {result['seconds']} s"
            f" ({result['engine']}), load average {load[0]} → {load[1]}",
        )
    )
    print(
        t(
            f"  基线: 单独 GET /healthz {result['healthz_only_per_s']}/s",
            f"  baseline: GET /healthz alone {result['healthz_only_per_s']}/s",
        )
    )
    ratios = result["per_s_vs_healthz_only"]
    for f in figures:
        print(
            f"  {f.op:<11} {f.per_s:>8.1f}/s  p50 {f.p50_ms:>7.1f} ms  p99 {f.p99_ms:>7.1f} ms"
            f"  errors {f.errors}  ×{f.p50_vs_healthz} healthz p50"
            f"  ×{ratios[f.op]} healthz-alone rate"
        )
    cpu = result["cpu_ms_per_request"]
    postgres = "-" if cpu["postgres"] is None else cpu["postgres"]
    print(
        t(
            f"  每个请求的 CPU 毫秒: 副本 {cpu['replicas']}, 客户端 {cpu['client']},"
            f" PostgreSQL {postgres}",
            f"  CPU ms per request: replicas {cpu['replicas']}, client {cpu['client']},"
            f" PostgreSQL {postgres}",
        )
    )
    ok = (
        t("账本一致", "ledger consistent") if result["ledger_ok"] else t("账本不一致", "LEDGER BAD")
    )
    print(f"  {ok}")
