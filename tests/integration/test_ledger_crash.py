"""SIGKILL a process in the middle of settlement batches, restart it, and check that nothing is
partial: each job has no hold, a pending hold, or a hold posted together with its capture,
provider share and fee. The restarted process finishes what the dead one left pending.

The worker is this module run as a program: `python -m tests.integration.test_ledger_crash URL TAG`.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from suanli.adapters.db.database import Database
from suanli.adapters.db.ledger_repo import transact
from suanli.adapters.db.tables import JobRow, OrganisationRow, PoolRow, UsageRow
from suanli.config import load_settings
from suanli.domain.jobs import JobSpec
from suanli.domain.money import apply_basis_points
from suanli.services import ledger, settlement, wallets
from suanli.services.common import Principal, SystemClock
from suanli.services.jobs import spec_to_dict

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 4
JOBS_PER_WORKER_MAX = 10_000
STARTUP_TIMEOUT_S = 60
ENTERPRISE, PROVIDER, POOL = "org_crash_ent", "org_crash_prov", "pool_crash"
PRICE_FEN_PER_CARD_HOUR = 1_000
JOB_HOLDS = "job:%:hold"  # LIKE pattern of the wallet holds settlement opens
OPERATOR = Principal("usr_op", "org_op", "operator")


# ---------------------------------------------------------------------------------------------
# The worker (a separate process, killed without warning)


def job_row(job_id: str) -> JobRow:
    """The job as the job service hands it to settlement (not stored: only money is tested)."""
    return JobRow(
        id=job_id,
        owner_id=ENTERPRISE,
        submitted_by="usr_crash",
        name=job_id,
        spec=spec_to_dict(JobSpec(name=job_id, command="train", cards=2, max_run_time_s=600)),
        state="queued",
        submitted_at=SystemClock().now(),
    )


def usage_for(job: JobRow) -> UsageRow:
    # The metered amount is a pure function of the job, so a retry settles exactly the same.
    digest = int(hashlib.sha256(job.id.encode()).hexdigest(), 16)
    now = SystemClock().now()
    return UsageRow(
        job_id=job.id,
        owner_id=ENTERPRISE,
        provider_id=PROVIDER,
        pool_id=POOL,
        accelerator_model="H100-SXM",
        cards=2,
        started_at=now,
        ended_at=now,
        card_seconds=0,
        price_fen_per_card_hour=PRICE_FEN_PER_CARD_HOUR,
        amount_fen=1 + digest % job.hold_fen,
        created_at=now,
    )


def settle_in_one_transaction(db: Database, job: JobRow, pause_s: float) -> None:
    def work(session: sa.orm.Session) -> None:
        settlement.settle_job(session, load_settings(), SystemClock(), job, usage_for(job))
        time.sleep(pause_s)  # widens the window in which a SIGKILL lands mid-transaction

    transact(db, work)


def recover(db: Database) -> int:
    """Settles every job whose hold a dead worker left pending (settlement is idempotent)."""
    with db.engine.connect() as connection:
        pending = connection.execute(
            sa.text(
                "SELECT id, amount_fen FROM ledger_holds"
                " WHERE state = 'pending' AND id LIKE :job_holds"
            ),
            {"job_holds": JOB_HOLDS},
        ).all()
    for hold_id, amount_fen in pending:
        job = job_row(hold_id.split(":")[1])
        job.hold_fen = amount_fen
        settle_in_one_transaction(db, job, 0)
    return len(pending)


def run_worker(url: str, tag: str) -> None:
    db = Database(url)
    print(f"recovered {recover(db)}", flush=True)
    rng = random.Random(tag)
    settings = load_settings()
    for n in range(JOBS_PER_WORKER_MAX):
        job = job_row(f"job_{tag}_{n}")

        def hold(session: sa.orm.Session, job: JobRow = job) -> int:
            return settlement.hold_for_job(
                session, settings, SystemClock(), job, PRICE_FEN_PER_CARD_HOUR
            )

        job.hold_fen = transact(db, hold)
        settle_in_one_transaction(db, job, rng.choice([0, 0.002, 0.01, 0.02]))
        print(f"settled {job.id}", flush=True)


# ---------------------------------------------------------------------------------------------
# The test


def _fund(url: str) -> None:
    db = Database(url)
    clock = SystemClock()

    def work(session: sa.orm.Session) -> None:
        for org_id, kind in ((ENTERPRISE, "enterprise"), (PROVIDER, "provider")):
            session.add(OrganisationRow(id=org_id, name=org_id, kind=kind, created_at=clock.now()))
        session.flush()
        session.add(
            PoolRow(
                id=POOL,
                provider_id=PROVIDER,
                name="h100",
                accelerator_model="H100-SXM",
                nodes=1,
                cards_per_node=8,
                region="浙江/杭州",
                price_fen_per_card_hour=PRICE_FEN_PER_CARD_HOUR,
                created_at=clock.now(),
            )
        )

    transact(db, work)
    transact(
        db,
        lambda s: wallets.top_up(
            s, clock, OPERATOR, org_id=ENTERPRISE, amount_fen=10**12, external_reference="crash"
        ),
    )
    db.dispose()


def _start(url: str, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.test_ledger_crash", url, tag],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"},
    )


def _kill_after_some_settlements(
    process: subprocess.Popen[str], count: int, delay_s: float
) -> tuple[int, int]:
    """Returns (jobs settled, holds a previous crash left pending and this run finished)."""
    assert process.stdout is not None
    settled, recovered, deadline = 0, 0, time.monotonic() + STARTUP_TIMEOUT_S
    while settled < count and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        settled += line.startswith("settled")
        recovered += int(line.split()[1]) if line.startswith("recovered") else 0
    time.sleep(delay_s)  # so the kill lands anywhere in the loop, not just after a print
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, process.stderr.read() if process.stderr else ""
    return settled, recovered


@pytest.mark.slow
def test_a_sigkill_mid_settlement_leaves_nothing_partial_and_a_restart_finishes(
    database_url: str,
) -> None:
    _fund(database_url)
    rng = random.Random(42)
    runs = [
        _kill_after_some_settlements(
            _start(database_url, f"r{round_}"), rng.randint(20, 60), rng.uniform(0.001, 0.03)
        )
        for round_ in range(ROUNDS)
    ]
    assert all(settled > 0 for settled, _ in runs), runs
    db = Database(database_url)
    try:
        _assert_no_partial_settlement(db)
        recovered = sum(found for _, found in runs) + recover(db)
        assert recovered > 0, "no kill landed between a hold and its settlement"
        _assert_no_partial_settlement(db)
        with db.engine.connect() as connection:
            pending = connection.scalar(
                sa.text("SELECT count(*) FROM ledger_holds WHERE state = 'pending'")
            )
        assert pending == 0
        report = ledger.run_check(db)
        assert report.ok, report.violations[:10]
    finally:
        db.dispose()


def _assert_no_partial_settlement(db: Database) -> None:
    """Per job: nothing, a pending hold, or a posted hold with capture + provider + fee."""
    with db.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT h.id, h.state, h.posted_fen,"
                " (SELECT count(*) FROM ledger_transfers t WHERE t.reference = substr(h.id, 5,"
                "   length(h.id) - 9) AND t.code IN (11, 13, 14)) AS parts,"
                " (SELECT coalesce(sum(t.amount_fen), 0) FROM ledger_transfers t"
                "   WHERE t.reference = substr(h.id, 5, length(h.id) - 9) AND t.code IN (13, 14))"
                "   AS split_fen"
                " FROM ledger_holds h WHERE h.id LIKE :job_holds"
            ),
            {"job_holds": JOB_HOLDS},
        ).all()
    assert rows, "no job was ever held"
    for hold_id, state, posted_fen, parts, split_fen in rows:
        if state == "pending":
            assert parts == 0, f"{hold_id} is pending but has settlement transfers"
            continue
        assert state == "posted", f"{hold_id}: {state}"
        fee_fen = apply_basis_points(posted_fen, load_settings().platform_fee_bp)
        expected_parts = 1 + (posted_fen - fee_fen > 0) + (fee_fen > 0)
        assert (parts, split_fen) == (expected_parts, posted_fen), f"{hold_id}: partial"


if __name__ == "__main__":
    run_worker(sys.argv[1], sys.argv[2])
