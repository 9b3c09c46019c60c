"""One scheduling leader among any number of `suanli serve` processes on one PostgreSQL.

A lease row (`scheduler_leases`) names the holder, a fencing epoch and an expiry read from
the database's own clock. A process takes the lease when it has expired (the epoch grows by
one), renews it every `lease_renew_s`, and acts only while its last renewal is younger than
the lease. Every write of the scheduling loop checks, in its own transaction, that the lease
still carries this process's epoch (`fence`): a leader that was paused or cut off and wakes
up after a standby took over finds a newer epoch and writes nothing. The check locks the
lease row until the transaction ends, so a takeover waits for a write in flight.

On SQLite there is one server per data folder (adapters/db/folder_lock.py): it always leads.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from suanli.adapters.db.database import Database
from suanli.adapters.db.tables_replicas import SCHEDULER_LEASE

log = logging.getLogger(__name__)
NOW_S = "EXTRACT(EPOCH FROM clock_timestamp())"
ENSURE_ROW = text(
    "INSERT INTO scheduler_leases (name, holder, epoch, expires_at_s) "
    "VALUES (:name, '', 0, 0) ON CONFLICT (name) DO NOTHING"
)
ACQUIRE = text(
    f"UPDATE scheduler_leases SET holder = :me, epoch = epoch + 1, expires_at_s = {NOW_S} + :ttl "
    f"WHERE name = :name AND expires_at_s < {NOW_S} RETURNING epoch"
)
RENEW = text(
    f"UPDATE scheduler_leases SET expires_at_s = {NOW_S} + :ttl "
    "WHERE name = :name AND holder = :me AND epoch = :epoch"
)
RELEASE = text(
    "UPDATE scheduler_leases SET expires_at_s = 0 "
    "WHERE name = :name AND holder = :me AND epoch = :epoch"
)
# A transaction that holds the lease row locked (any fenced write, a renewal) is ended by the
# database once its client has been silent for a lease time: a leader cut off from the network
# in the middle of one would otherwise keep the row locked until TCP gives up (hours), and no
# standby could take the lease. One round trip with the fence itself.
BOUND_IDLE = "SELECT set_config('idle_in_transaction_session_timeout', :idle_ms, true)"
ACQUIRE_LOCK_WAIT_MS = 1000
# Only once the lease has expired: the holder has not renewed for a lease time, so it no
# longer acts; what is left of it is a transaction that keeps the row locked.
END_STALE_HOLDER = text(
    "SELECT pg_terminate_backend(l.pid) FROM scheduler_leases s "
    "JOIN pg_locks l ON l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' "
    "AND l.transactionid::text = s.xmax::text "
    f"WHERE s.name = :name AND s.expires_at_s < {NOW_S} AND s.xmax::text <> '0' "
    "AND l.pid <> pg_backend_pid()"
)
FENCE = text(
    f"WITH bounded AS ({BOUND_IDLE}) "
    "UPDATE scheduler_leases SET holder = holder FROM bounded "
    "WHERE name = :name AND holder = :me AND epoch = :epoch"
)


class NotLeader(Exception):
    """This process no longer holds the lease: the loop's writes stop here."""


def process_identity(node_name: str) -> str:
    """Who holds the lease: the machine, the process and a nonce (pids are reused)."""
    return f"{node_name}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class Leadership:
    db: Database
    holder: str
    ttl_s: float
    renew_s: float
    epoch: int | None = None
    _valid_until: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def leading(self) -> bool:
        with self._lock:
            return self.epoch is not None and time.monotonic() < self._valid_until

    def step(self) -> None:
        """Takes the lease when free, or renews it; a database error only lets it age."""
        started = time.monotonic()
        try:
            if self.epoch is None:
                self._acquire(started)
            else:
                self._renew(started)
        except Exception as error:  # the database is away: the lease ages, a standby takes it
            log.warning("scheduler lease: %s", type(error).__name__)

    def _acquire(self, started: float) -> None:
        try:
            with self.db.engine.begin() as connection:
                connection.execute(text(BOUND_IDLE), {"idle_ms": self._idle_ms})
                connection.execute(text(f"SET LOCAL lock_timeout = {ACQUIRE_LOCK_WAIT_MS}"))
                connection.execute(ENSURE_ROW, {"name": SCHEDULER_LEASE})
                epoch = connection.execute(
                    ACQUIRE, {"me": self.holder, "ttl": self.ttl_s, "name": SCHEDULER_LEASE}
                ).scalar()
        except OperationalError:
            self._end_stale_holder()  # the next step takes the lease
            raise
        if epoch is not None:
            with self._lock:
                self.epoch, self._valid_until = int(epoch), started + self.ttl_s
            log.info("leading the scheduler (epoch %s) as %s", epoch, self.holder)

    def _end_stale_holder(self) -> None:
        """The lease has expired, yet a transaction still holds its row locked: a leader cut
        off from the database in the middle of one (the database has not noticed; TCP may
        take hours). Its backend is ended, which rolls that transaction back."""
        with self.db.engine.begin() as connection:
            ended = connection.execute(END_STALE_HOLDER, {"name": SCHEDULER_LEASE}).all()
        if ended:
            log.warning("ended the expired leader's database session(s): %s", ended)

    def _renew(self, started: float) -> None:
        with self.db.engine.begin() as connection:
            connection.execute(text(BOUND_IDLE), {"idle_ms": self._idle_ms})
            renewed = connection.execute(RENEW, self._params(ttl=self.ttl_s)).rowcount
        with self._lock:
            if renewed == 1:
                self._valid_until = started + self.ttl_s
                return
            log.warning("lost the scheduler lease (epoch %s)", self.epoch)
            self.epoch = None

    def release(self) -> None:
        """Hands the lease over at once (a clean shutdown): a standby need not wait it out."""
        if self.epoch is None:
            return
        try:
            with self.db.engine.begin() as connection:
                connection.execute(RELEASE, self._params())
        except Exception as error:
            log.warning("could not release the scheduler lease: %s", type(error).__name__)
        with self._lock:
            self.epoch = None

    def fence(self, session: Session) -> None:
        """In the caller's transaction: the lease is still ours, or NotLeader (roll back)."""
        if self.epoch is None:
            raise NotLeader("not leading")
        if session.execute(FENCE, self._params(idle_ms=self._idle_ms)).rowcount != 1:  # type: ignore[attr-defined]
            with self._lock:
                self.epoch = None
            raise NotLeader("the scheduler lease moved to another process")

    @property
    def _idle_ms(self) -> str:
        return str(max(1000, int(self.ttl_s * 1000)))

    def _params(self, **extra: float | str) -> dict[str, object]:
        return {"name": SCHEDULER_LEASE, "me": self.holder, "epoch": self.epoch, **extra}

    def run(self, stop: threading.Event) -> None:
        """The lease thread: one step every `renew_s` until stopped, then the release."""
        while True:
            self.step()
            if stop.wait(self.renew_s):
                break
        self.release()
