"""`suanli bench ledger`: ledger transfers/s, uncontended and on hot accounts, against a same-run
baseline of plain single-row INSERT+COMMIT transactions on the same database.

It works in a schema (PostgreSQL) or a file (SQLite) of its own, dropped afterwards, and never
touches the application's data. Workers are processes so that Python's GIL does not cap them.
"""

from __future__ import annotations

import functools
import multiprocessing
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.table import Table
from sqlalchemy.engine import make_url

from suanli.adapters.db.ledger_repo import (
    AccountSpec,
    LedgerRepository,
    check_ledger,
    with_retry,
)
from suanli.adapters.db.migrate import upgrade
from suanli.cli.common import console, fail, print_json
from suanli.domain.ledger import AccountKind, TransferCode, TransferRequest
from suanli.errors import InvalidInput
from suanli.i18n import Msg, msg, t

OPERATIONS_PER_WORKER_MAX = 2_000_000  # a bound on every loop, whatever the clock says
HOT_ACCOUNTS = 2
ROUNDS = 3  # baseline, uncontended and hot steps alternate this many times
FUNDING_FEN = 10**12  # each source account starts rich: a benchmark measures speed, not refusals
WORKER_START_TIMEOUT_S = 120.0
ERRORS_PER_WORKER_MAX = 100
EXTERNAL = "cny:external_clearing"
DATABASE_BACKENDS = ("postgresql", "sqlite")  # what scratch_database knows how to set up


@dataclass(frozen=True)
class BenchResult:
    workers: int
    seconds: float
    transfers_per_s: float
    transfers_per_s_hot: float
    baseline_tx_per_s: float
    ratio: float
    ratio_hot: float
    invariants_ok: bool
    transfers: int
    transfers_hot: int
    baseline_tx: int
    errors: int
    violations: list[str]
    engine: str


# ---------------------------------------------------------------------------------------------
# Its own schema


def check_database_url(url: str) -> str:
    """--database-url as the benchmarks take it: a PostgreSQL or SQLite URL whose driver is
    installed, checked before anything is set up. Errors name --database-url and never show
    a password."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise _bad_url(
            msg(
                "不是数据库 URL（例如 postgresql+psycopg://用户@主机/库 或 sqlite:///bench.db）",
                "is not a database URL (e.g. postgresql+psycopg://user@host/db or "
                "sqlite:///bench.db)",
            )
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() not in DATABASE_BACKENDS:
        raise _bad_url(
            msg(f"{shown}：只支持 PostgreSQL 和 SQLite", f"{shown}: only PostgreSQL and SQLite")
        )
    try:
        parsed.get_dialect()
    except sa.exc.NoSuchModuleError:
        raise _bad_url(
            msg(
                f"{shown}：没有安装驱动 {parsed.drivername}",
                f"{shown}: the driver {parsed.drivername} is not installed",
            )
        ) from None
    return url


def _bad_url(problem: Msg) -> InvalidInput:
    return InvalidInput(
        msg(f"数据库地址 --database-url 有误：{problem.zh}", f"--database-url: {problem.en}"),
        field="database_url",
    )


def _unreachable(url: str, error: sa.exc.DBAPIError) -> InvalidInput:
    shown = make_url(url).render_as_string(hide_password=True)
    reason = (str(error.orig) or type(error.orig).__name__).splitlines()[0]
    return _bad_url(msg(f"无法连接 {shown}：“{reason}”", f"cannot connect to {shown}: {reason}"))


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A throwaway schema (PostgreSQL) or file (SQLite), migrated to head; dropped afterwards."""
    if url.startswith("sqlite"):
        directory = Path(tempfile.mkdtemp(prefix="suanli-bench-"))
        try:
            scratch = f"sqlite:///{directory / 'bench.db'}"
            upgrade(scratch)
            yield scratch
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    schema = f"bench_ledger_{secrets.token_hex(4)}"
    admin = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.DBAPIError as error:  # nothing was made: the URL is wrong or the server down
        admin.dispose()
        raise _unreachable(url, error) from error
    try:
        separator = "&" if "?" in url else "?"
        scratch = f"{url}{separator}options=-csearch_path%3D{schema}"
        upgrade(scratch)
        yield scratch
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


_baseline_metadata = sa.MetaData()
_baseline = sa.Table(
    "bench_baseline",
    _baseline_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("worker", sa.Integer, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


# ---------------------------------------------------------------------------------------------
# Workers (module-level so that spawned processes can import them)


def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        from suanli.adapters.db.database import Database

        return Database(url).engine  # its single-writer setup (BEGIN IMMEDIATE, WAL)
    return sa.create_engine(url, pool_size=1, max_overflow=0)


_BASELINE_SQL = (
    "INSERT INTO bench_baseline (worker, n, amount_fen, created_at)"
    " VALUES (%(worker)s, %(n)s, %(amount_fen)s, %(created_at)s)"
)


def _baseline_operation(worker: int) -> Callable[[sa.Connection, int], None]:
    # The same execution path as the ledger's hot path (the driver's cursor inside a SQLAlchemy
    # transaction), so that the ratio compares the work done, not two client stacks.
    def insert(connection: sa.Connection, n: int) -> None:
        values = {"worker": worker, "n": n, "amount_fen": 1, "created_at": datetime.now(UTC)}
        if connection.dialect.name != "postgresql":
            connection.execute(_baseline.insert(), values)
            return
        values["created_at"] = values["created_at"].replace(tzinfo=None)  # type: ignore[attr-defined]
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(_BASELINE_SQL, values)
        cursor.close()

    return insert


def _transfer_operation(
    worker: int, phase: str, accounts: list[str]
) -> Callable[[sa.Connection, int], None]:
    def transfer(connection: sa.Connection, n: int) -> None:
        # Alternate direction so both accounts stay funded; ids are unique per phase and worker.
        debit, credit = (accounts[0], accounts[1]) if n % 2 == 0 else (accounts[1], accounts[0])
        request = TransferRequest(
            f"{phase}-{worker}-{n}", 1 + n % 7, TransferCode.TRANSFER, debit, credit
        )
        LedgerRepository(connection).submit([request], datetime.now(UTC))

    return transfer


def _warm_up(connection: sa.Connection, _n: int) -> None:
    connection.execute(sa.text("SELECT 1"))


def _one_transaction(
    connection: sa.Connection, operation: Callable[[sa.Connection, int], None], n: int
) -> None:
    with connection.begin():
        operation(connection, n)


def run_worker(
    url: str,
    worker: int,
    accounts: dict[str, list[str]],
    schedule: list[tuple[str, float]],
    barrier: Barrier,
    results: Any,
) -> None:
    """One process: warms up, then runs each step of the schedule when all workers are ready."""
    engine = _engine(url)
    with engine.connect() as connection:
        _one_transaction(connection, _warm_up, 0)
        for step, (kind, seconds) in enumerate(schedule):
            operation = (
                _baseline_operation(worker)
                if kind == "baseline"
                else _transfer_operation(worker, f"{kind}-{step}", accounts[kind])
            )
            barrier.wait(WORKER_START_TIMEOUT_S)
            results.put((step, kind, *_loop(connection, operation, seconds)))
    engine.dispose()


def _loop(
    connection: sa.Connection, operation: Callable[[sa.Connection, int], None], seconds: float
) -> tuple[int, int, float]:
    started = time.perf_counter()
    deadline, count, errors = started + seconds, 0, 0
    while count < OPERATIONS_PER_WORKER_MAX and time.perf_counter() < deadline:
        try:
            with_retry(functools.partial(_one_transaction, connection, operation, count))
            count += 1
        except Exception:  # counted, not hidden: the result reports errors
            errors += 1
            if errors > ERRORS_PER_WORKER_MAX:
                break
    return count, errors, time.perf_counter() - started


@dataclass
class PhaseTotals:
    operations: int = 0
    errors: int = 0
    seconds: float = 0.0

    @property
    def per_s(self) -> float:
        return self.operations / self.seconds if self.seconds > 0 else 0.0


def run_schedule(
    url: str, workers: int, schedule: list[tuple[str, float]], accounts: list[dict[str, list[str]]]
) -> dict[str, PhaseTotals]:
    """Runs the schedule on `workers` processes; sums operations and step times per kind."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results = context.Queue()
    processes = [
        context.Process(
            target=run_worker,
            args=(url, worker, accounts[worker], schedule, barrier, results),
            daemon=True,
        )
        for worker in range(workers)
    ]
    for process in processes:
        process.start()
    timeout_s = WORKER_START_TIMEOUT_S + 2 * sum(seconds for _, seconds in schedule)
    outcomes = [results.get(timeout=timeout_s) for _ in range(workers * len(schedule))]
    for process in processes:
        process.join(timeout=30)
    totals: dict[str, PhaseTotals] = {kind: PhaseTotals() for kind, _ in schedule}
    for step, (kind, _) in enumerate(schedule):
        mine = [outcome for outcome in outcomes if outcome[0] == step]
        totals[kind].operations += sum(outcome[2] for outcome in mine)
        totals[kind].errors += sum(outcome[3] for outcome in mine)
        totals[kind].seconds += max(outcome[4] for outcome in mine)  # the step lasted this long
    return totals


# ---------------------------------------------------------------------------------------------
# Setup, the three phases, the check


def _fund_accounts(url: str, owners: list[str]) -> list[str]:
    """Creates one funded wallet per owner; returns their ids."""
    engine = _engine(url)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        repository = LedgerRepository(connection)
        ids = [
            repository.ensure_account(AccountSpec(AccountKind.ENTERPRISE_WALLET, o), now).id
            for o in owners
        ]
        for index, account_id in enumerate(ids):
            funding = TransferRequest(
                f"fund-{index}", FUNDING_FEN, TransferCode.TOP_UP, EXTERNAL, account_id
            )
            repository.submit([funding], now)
        _baseline_metadata.create_all(connection)
    engine.dispose()
    return ids


def _count_transfers(url: str, prefix: str) -> int:
    engine = _engine(url)
    with engine.connect() as connection:
        query = sa.text("SELECT count(*) FROM ledger_transfers WHERE id LIKE :prefix")
        count = int(connection.scalar(query, {"prefix": prefix + "-%"}) or 0)
    engine.dispose()
    return count


def run_benchmark(url: str, workers: int, seconds: float) -> BenchResult:
    """Interleaves baseline, uncontended and hot steps in rounds so that load drifting on a
    shared machine falls on all three alike; each kind runs `seconds` in all."""
    kinds = ("baseline", "free", "hot")
    schedule = [(kind, seconds / ROUNDS) for _ in range(ROUNDS) for kind in kinds]
    with scratch_database(url) as scratch:
        owners = [f"bench-{w}-{side}" for w in range(workers) for side in "ab"]
        ids = _fund_accounts(scratch, [*owners, "bench-hot-a", "bench-hot-b"])
        hot = ids[-HOT_ACCOUNTS:]
        accounts = [{"free": ids[2 * w : 2 * w + 2], "hot": hot} for w in range(workers)]
        totals = run_schedule(scratch, workers, schedule, accounts)
        report = _check(scratch)
        done, done_hot = totals["free"].operations, totals["hot"].operations
        written = _count_transfers(scratch, "free") + _count_transfers(scratch, "hot")
        if written != done + done_hot:
            report.append(f"counted {done + done_hot} transfers but {written} were written")
    rate, rate_hot, baseline = totals["free"].per_s, totals["hot"].per_s, totals["baseline"].per_s
    return BenchResult(
        workers=workers,
        seconds=seconds,
        transfers_per_s=round(rate, 1),
        transfers_per_s_hot=round(rate_hot, 1),
        baseline_tx_per_s=round(baseline, 1),
        ratio=round(rate / baseline, 3) if baseline else 0.0,
        ratio_hot=round(rate_hot / baseline, 3) if baseline else 0.0,
        invariants_ok=not report,
        transfers=done,
        transfers_hot=done_hot,
        baseline_tx=totals["baseline"].operations,
        errors=sum(total.errors for total in totals.values()),
        violations=report,
        engine=url.split(":", 1)[0],
    )


def _check(url: str) -> list[str]:
    engine = _engine(url)
    options = {} if url.startswith("sqlite") else {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as connection, connection.begin():
        report = check_ledger(connection)
    engine.dispose()
    return [f"{v.subject_id}: {v.rule}: {v.detail}" for v in report.violations]


def run_command(database_url: str, workers: int, seconds: float, json_output: bool) -> None:
    """`suanli bench ledger` (its options are in cli/bench.py)."""
    result = run_benchmark(check_database_url(database_url), workers, seconds)
    if json_output:
        print_json(asdict(result))
    else:
        _print_result(result)
    if not result.invariants_ok:
        broken = t("账本不变量被破坏：", "ledger invariants broken: ")
        fail(broken + str(result.violations[:5]), 6)


def _print_result(result: BenchResult) -> None:
    table = Table(
        title=t(
            f"账本基准（{result.workers} 个进程，{result.seconds:g} 秒）",
            f"Ledger benchmark ({result.workers} workers, {result.seconds:g} s)",
        )
    )
    table.add_column(t("指标", "measure"))
    table.add_column(t("数值", "value"), justify="right")
    rows = (
        (t("每秒转账（无争用）", "transfers/s (uncontended)"), f"{result.transfers_per_s:,.1f}"),
        (
            t("每秒转账（热点账户）", "transfers/s (hot accounts)"),
            f"{result.transfers_per_s_hot:,.1f}",
        ),
        (
            t("基线：每秒 INSERT+COMMIT 事务", "baseline INSERT+COMMIT tx/s"),
            f"{result.baseline_tx_per_s:,.1f}",
        ),
        (t("比值（无争用 / 基线）", "ratio (uncontended / baseline)"), f"{result.ratio:.3f}"),
        (t("比值（热点 / 基线）", "ratio (hot / baseline)"), f"{result.ratio_hot:.3f}"),
        (t("不变量成立", "invariants ok"), yes_no(result.invariants_ok)),
    )
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


def yes_no(value: bool) -> str:
    return t("是", "yes") if value else t("否", "no")
