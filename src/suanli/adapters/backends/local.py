"""The local backend: runs a job's command as a subprocess in a directory of its own.

It runs arbitrary commands on this machine, so only the operator's own "local" pools use it:
it is for demos and a trusted operator's own machine, not a multi-tenant sandbox. What it does
isolate (docs/clusters.md, "The local backend's boundary"):

- The job gets a minimal, explicit environment: never the service's own (database URL,
  secret key, tokens).
- When suanli runs as root, each job runs as a user of its own (an unprivileged uid from a
  reserved range, no login), in a 0700 working directory it owns under a root-owned 0711
  directory in /tmp (passable, not listable), with umask 077. The data directory (database,
  secret key, every job's log) becomes 0700: a job cannot read another job's files, the
  logs, the database or the key. When a job ends its directory goes back to the service's
  user, so a later job with the same uid cannot read it.
- When suanli does not run as root, jobs run as the service's user: directories are 0700
  against other users of the machine, but jobs can read each other's files. Use Ray or
  Slurm for tenants who must not see each other.

Each run is also recorded in `<jobs_dir>/<job id>.run.json` (its pid, the pid's start time,
its attempt), and a wrapper shell writes the command's exit status into the job's folder. So
another suanli process on the same machine and data folder (the next leader after a failover,
or the same server restarted) finds a run it did not start: it reports its state, cancels it,
meters it, and a second submit of the same attempt returns that run instead of starting the
command again. A run that ended with no exit status (killed with its server) reports LOST.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import secrets
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from suanli.adapters.backends.base import (
    LOG_CHUNK_BYTES_MAX,
    BackendState,
    Health,
    JobStatus,
    LaunchRequest,
    LogChunk,
    Usage,
    cards_env,
)
from suanli.domain.jobs import require_env_entry
from suanli.errors import BackendError, InvalidInput, NotFound
from suanli.i18n import msg

log = logging.getLogger(__name__)
# A cancelled run gets SIGTERM, then SIGKILL at the first look (cancel or status) this long
# after: the caller, the scheduling loop, never waits for a run to stop.
KILL_GRACE_S = 3.0
RECLAIM_ENTRIES_MAX = 200_000  # files handed back per ended job; the folder itself always is
JOB_PATH = "/usr/local/bin:/usr/bin:/bin"
# Job uids: far above any real account (Debian gives users 1000..59999, systemd up to 65535).
JOB_UID_BASE = 2_000_000
JOB_UID_SPAN = 1_000_000
RUN_RECORD_SUFFIX = ".run.json"
EXIT_FILE = ".suanli-exit-{tag}"
# `sh -c WRAPPER suanli-job COMMAND_FILE TAG BLOCKS NOTE_ZH NOTE_EN` (TAG: the attempt). The
# command is read from a 0600 file of the job's user in its folder, never passed as an
# argument: any user may read any process's arguments (`ps`), and a tenant's command may
# carry its secrets. The wrapper caps
# every file the run writes at BLOCKS × 512 bytes (`ulimit -f`, soft and hard, inherited by
# every child), claims the attempt (mkdir is atomic) and notes its own pid there, runs the
# command, and leaves its exit status in the job's folder, where a process that did not start
# the run can read it. A process that writes past the cap is killed by SIGXFSZ, which the
# shell reports as 153; the wrapper then adds the two notes (a line per language) to the log.
# A start of an attempt already claimed runs nothing (exit 75); submit() adopts the claimed
# run instead.
CLAIM_DIR = ".suanli-run-{tag}"
CLAIM_EXIT = 75
FILE_LIMIT_EXIT = 128 + signal.SIGXFSZ  # 153: how sh reports a process SIGXFSZ killed
FILE_MAX_BYTES_DEFAULT = 4 * 1024**3  # Settings.job_file_max_bytes
ULIMIT_BLOCK_BYTES = 512  # the unit of `ulimit -f` in POSIX sh (dash, bash in POSIX mode)
WRAPPER = (
    'ulimit -f "$3" 2>/dev/null; mkdir ".suanli-run-$2" 2>/dev/null || exit 75;'
    ' echo "$$" > ".suanli-run-$2/pid"; /bin/sh "$1"; code=$?;'
    f' [ "$code" -eq {FILE_LIMIT_EXIT} ] && printf "\\n%s\\n%s\\n" "$4" "$5";'
    ' echo "$code" > ".suanli-exit-$2.tmp";'
    ' mv ".suanli-exit-$2.tmp" ".suanli-exit-$2"; exit "$code"'
)
ENDED_RUN_START = -1  # the recorded start of a run adopted after it ended: never alive
CLAIM_PID_WAIT_S = 2.0  # a wrapper writes its pid right after its claim
LOG_MAX_BYTES_DEFAULT = 10 * 1024 * 1024  # Settings.job_log_max_bytes
# `python -I -S -c LOG_COPIER LIMIT NOTE_ZH NOTE_EN`: its input is the run's output (a pipe),
# its output the job's log. It keeps the first LIMIT bytes, each read written at once (a log
# is followed live); at the first byte past them it writes the two notes (a line per
# language) and then reads and drops the rest, so the job never blocks on a full pipe and
# never fills the disk. A disk that is full already drops the rest too. Python, not `head -c`
# (stdio holds its output back until it ends) nor `dd` (it counts a short read as a block).
LOG_COPIER = """
import os, sys
left, notes = int(sys.argv[1]), "\\n" + "\\n".join(sys.argv[2:]) + "\\n"
while data := os.read(0, 65536):
    kept, dropped = data[:max(left, 0)], data[max(left, 0):]
    left -= len(kept)
    try:
        while kept:
            kept = kept[os.write(1, kept):]
        if dropped and notes:
            os.write(1, notes.encode())
    except OSError:
        left = 0
    if dropped:
        notes = ""
"""
LOG_DRAIN_S = 2.0  # an ended run's last output reaches its log within this


@dataclass
class _LocalJob:
    process: subprocess.Popen[bytes]
    cards: int
    log_path: Path
    workdir: Path
    uid: int | None
    started_at: datetime
    attempt: int = 0
    ended_at: datetime | None = None
    cancelled: bool = False
    kill_at: float | None = None  # time.monotonic() past which a cancelled run gets SIGKILL
    reclaimed: bool = False
    copier: subprocess.Popen[bytes] | None = None  # LOG_COPIER, writing the run's log
    drain_by: float = 0.0  # time.monotonic() past which an ended run's copier is stopped


class LocalBackend:
    kind = "local"

    def __init__(
        self,
        jobs_dir: Path,
        *,
        isolate_users: bool | None = None,
        log_max_bytes: int = LOG_MAX_BYTES_DEFAULT,
        file_max_bytes: int = FILE_MAX_BYTES_DEFAULT,
    ) -> None:
        self.jobs_dir = jobs_dir
        self.log_max_bytes = log_max_bytes
        self.file_max_bytes = file_max_bytes
        self.isolates_users = os.geteuid() == 0 if isolate_users is None else isolate_users
        if self.isolates_users and os.geteuid() != 0:
            raise InvalidInput(
                msg("只有以 root 运行时才能为每个作业切换用户", "per-job users need root"),
                field="isolate_users",
            )
        # The service's own Python goes on a job's PATH only where the job's user can run it.
        self.python_bin_dir = shared_python_dir(self.isolates_users)
        if self.isolates_users:
            _lock_down(jobs_dir)  # first: it refuses a data directory at the top, before any mkdir
        self.work_root = private_work_root(jobs_dir) if self.isolates_users else jobs_dir
        self._jobs: dict[str, _LocalJob] = {}
        self._copiers: dict[int, subprocess.Popen[bytes]] = {}  # by the wrapper's pid
        self._lock = threading.Lock()
        # A random start: a restarted service does not hand out the uids of the last run.
        self._uids = itertools.count(secrets.randbelow(JOB_UID_SPAN))

    def submit(self, request: LaunchRequest) -> str:
        known = self._read_record(request.job_id)
        if request.attempt > 0 and known is not None and known.get("attempt") == request.attempt:
            return request.job_id  # this attempt already runs (or ran) here: never twice
        if request.attempt > 0 and self._adopt_claimed(
            request.job_id, request.attempt, request.cards
        ):
            return request.job_id  # its starter died before recording it: the run goes on
        workdir, uid = self._prepare_workdir(request.job_id)
        env = job_environment(request, workdir, self.python_bin_dir)
        log_path = self._log_path(request.job_id)
        # The attempt names the run's claim; without one, every start is a run of its own.
        tag = str(request.attempt) if request.attempt > 0 else f"x{secrets.token_hex(6)}"
        process = self._start(request.command, tag, workdir, log_path, env, uid)
        started = datetime.now(UTC)
        with self._lock:
            copier = self._copiers.pop(process.pid, None)
            self._jobs[request.job_id] = _LocalJob(
                process, request.cards, log_path, workdir, uid, started, request.attempt,
                copier=copier,
            )  # fmt: skip
        record: dict[str, object] = {
            "attempt": request.attempt,
            "tag": tag,
            "pid": process.pid,
            "pid_start": _process_start(process.pid),
            "copier_pid": copier.pid if copier else None,
            "copier_start": _process_start(copier.pid) if copier else None,
            "cards": request.cards,
            "uid": uid,
            "workdir": str(workdir),
            "started_at": started.isoformat(),
        }
        self._write_record(request.job_id, record)
        return request.job_id

    def _adopt_claimed(self, job_id: str, attempt: int, cards: int) -> bool:
        """Records a run of this attempt that a wrapper claimed but no record names (the
        server that started it died first); False when the attempt was never started."""
        workdir = self.work_root / job_id
        claim = workdir / CLAIM_DIR.format(tag=attempt)
        if not claim.is_dir():
            return False
        pid = _claimed_pid(claim)
        if pid is None:
            raise BackendError(
                msg("作业的上一次启动状态不明", "the job's previous start left no process id"),
                field="job_id",
            )
        owner = workdir.stat().st_uid
        fields = _proc_stat(pid)
        ended = fields is None or fields[0] in ("Z", "X")  # the run is over: its exit file tells
        if not ended and not _runs_in(pid, workdir, owner if self.isolates_users else None):
            # the claim folder is the job's own to write: a pid there is a claim, not proof.
            # Adopted, another tenant's run (or the server) would be stopped as this job's.
            raise BackendError(
                msg(
                    f"作业的启动记录指向不属于它的进程 {pid}，不予采用",
                    f"the job's start record names process {pid}, which is not the job's",
                ),
                field="job_id",
            )
        record: dict[str, object] = {
            "attempt": attempt,
            "tag": str(attempt),
            "pid": pid,
            # an ended run's pid may be reused by anyone: a start no process has never matches
            "pid_start": ENDED_RUN_START if ended or fields is None else int(fields[19]),
            "cards": cards,
            "uid": owner if self.isolates_users else None,
            "workdir": str(workdir),
            "started_at": datetime.fromtimestamp(claim.stat().st_mtime, UTC).isoformat(),
        }
        self._write_record(job_id, record)
        return True

    def _record_path(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}{RUN_RECORD_SUFFIX}"

    def _read_record(self, job_id: str) -> dict[str, object] | None:
        if "/" in job_id or job_id.startswith("."):
            return None
        try:
            record = json.loads(self._record_path(job_id).read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def _write_record(self, job_id: str, record: dict[str, object]) -> None:
        path = self._record_path(job_id)
        partial = path.with_suffix(".tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle)
        os.replace(partial, path)  # readers see the old record or the new one, never half

    def _job_uid(self, workdir: Path) -> int:
        """A job folder still owned by a job uid keeps it: a run of the job may be starting
        in it (a starter that died before recording the run), and a new owner would take the
        folder from under that run. An ended run's folder is handed back to the service, so
        the next attempt then gets a fresh uid."""
        owner = workdir.stat().st_uid
        in_range = JOB_UID_BASE <= owner < JOB_UID_BASE + JOB_UID_SPAN
        return owner if in_range else self._next_uid()

    def _next_uid(self) -> int:
        with self._lock:
            return JOB_UID_BASE + next(self._uids) % JOB_UID_SPAN

    def _prepare_workdir(self, job_id: str) -> tuple[Path, int | None]:
        """The job's own 0700 working directory and the uid its run gets (with a user per
        job; the folder is owned by it)."""
        self.jobs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        workdir = self.work_root / job_id
        workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(workdir, 0o700)
        uid = self._job_uid(workdir) if self.isolates_users else None
        if uid is not None:
            os.chown(workdir, uid, uid)
        return workdir, uid

    def _log_path(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.log"

    def _start(
        self,
        command: str,
        tag: str,
        workdir: Path,
        log_path: Path,
        env: dict[str, str],
        uid: int | None,
    ) -> subprocess.Popen[bytes]:
        """The run's wrapper, its output a pipe to a LOG_COPIER of this service's user in a
        session of its own: the job cannot reach the log's descriptor (with a user per job),
        and the copier outlives this process as the run does (its input ends with the run)."""
        script = _write_command(workdir, tag, command, uid)
        output, copier = self._start_copier(log_path)
        try:
            process = subprocess.Popen(
                ["/bin/sh", "-c", WRAPPER, "suanli-job", script, tag, *self._file_limit()],
                cwd=workdir,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # its own process group, so cancel kills children
                user=uid,
                group=uid,
                extra_groups=[] if uid is not None else None,
                umask=0o077,
            )
        except (OSError, ValueError) as error:
            raise BackendError(
                msg(f"作业无法启动: {error}", f"could not start the job: {error}"),
                field="command",
            ) from error
        finally:
            os.close(output)  # the copier's input ends when the run's copies close too
        with self._lock:
            self._copiers[process.pid] = copier
        return process

    def _file_limit(self) -> tuple[str, str, str]:
        """The wrapper's BLOCKS, NOTE_ZH and NOTE_EN: the cap in `ulimit -f` blocks (rounded
        down, so no file passes the setting) and what the log says when a run reaches it."""
        blocks = max(1, self.file_max_bytes // ULIMIT_BLOCK_BYTES)
        limit = blocks * ULIMIT_BLOCK_BYTES
        return (
            str(blocks),
            f"[suanli] 退出码 {FILE_LIMIT_EXIT}：通常表示作业写入的文件超过了每个文件"
            f" {limit} 字节的上限（SIGXFSZ）",
            # "usually": a command that exits 153 itself reads the same to the shell.
            f"[suanli] exit code {FILE_LIMIT_EXIT}: usually a file written past the limit of"
            f" {limit} bytes per file (SIGXFSZ)",
        )

    def _start_copier(self, log_path: Path) -> tuple[int, subprocess.Popen[bytes]]:
        """(the write end of the run's output pipe, its copier). The limit is what is left of
        the log's: the runs of one job (its attempts) share one log and one limit."""
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        read_end, write_end = os.pipe()
        try:
            left = max(0, self.log_max_bytes - os.fstat(fd).st_size)
            zh, en = _log_cut_notes(self.log_max_bytes)
            copier = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", LOG_COPIER, str(left), zh, en],
                cwd=self.jobs_dir,
                stdin=read_end,
                stdout=fd,
                stderr=subprocess.DEVNULL,
                env={"PATH": JOB_PATH, "LANG": "C.UTF-8"},
                start_new_session=True,  # outside the run's group: it drains what the run wrote
            )
        except OSError as error:
            os.close(write_end)
            raise BackendError(
                msg(f"作业日志无法写入: {error}", f"could not write the job's log: {error}"),
                field="command",
            ) from error
        finally:
            os.close(read_end)
            os.close(fd)
        return write_end, copier

    def status(self, backend_job_id: str) -> JobStatus:
        job = self._jobs.get(backend_job_id)
        if job is None:
            return self._adopted_status(backend_job_id)
        code = job.process.poll()
        if code is None:
            _kill_if_overdue(job)
            return JobStatus(BackendState.RUNNING, started_at=job.started_at)
        if code == CLAIM_EXIT and self._lost_claim(backend_job_id, job):
            return self._adopted_status(backend_job_id)
        if job.ended_at is None:
            job.ended_at = datetime.now(UTC)
            job.drain_by = time.monotonic() + LOG_DRAIN_S
            _end_leftovers(job.process.pid, job.uid)
        if not _log_drained(job):
            return JobStatus(BackendState.RUNNING, started_at=job.started_at)
        self._reclaim(job)
        state = _final_state(code, job.cancelled)
        return JobStatus(state, exit_code=code, started_at=job.started_at, ended_at=job.ended_at)

    def _lost_claim(self, job_id: str, job: _LocalJob) -> bool:
        """Our wrapper found the attempt already claimed and ran nothing: a starter that had
        not yet claimed it when we looked won the race. Adopts that run instead (a command
        that itself exits 75 leaves an exit file, and its wrapper holds the claim)."""
        if job.attempt <= 0 or _exit_status(job.workdir, job.attempt) is not None:
            return False
        claim = job.workdir / CLAIM_DIR.format(tag=job.attempt)
        if not claim.is_dir() or _claimed_pid(claim) in (None, job.process.pid):
            return False
        try:
            adopted = self._adopt_claimed(job_id, job.attempt, job.cards)
        except BackendError:
            log.warning("job %s: a claimed process that is not its own was not adopted", job_id)
            return False  # the run ends as what it is: exit 75, failed
        with self._lock:
            self._jobs.pop(job_id, None)
        return adopted

    def _adopted_status(self, job_id: str) -> JobStatus:
        """A run this process did not start (or started before a restart), from its record."""
        record = self._read_record(job_id)
        if record is None:
            return JobStatus(BackendState.LOST, message="unknown on this machine")
        started = datetime.fromisoformat(str(record["started_at"]))
        if _alive(record):
            return JobStatus(BackendState.RUNNING, started_at=started)
        ended = self._ended_at(job_id, record)
        if record.get("uid") is not None and not record.get("reclaimed"):
            _end_leftovers(None, int(str(record["uid"])))
            _reclaim_folder(Path(str(record["workdir"])))
            record["reclaimed"] = True
            self._write_record(job_id, record)
        if _copier_alive(record) and datetime.now(UTC) < ended + timedelta(seconds=LOG_DRAIN_S):
            return JobStatus(BackendState.RUNNING, started_at=started)  # its log is not whole
        code = _exit_status(Path(str(record["workdir"])), record.get("tag"))
        if record.get("cancelled"):
            return JobStatus(
                BackendState.CANCELLED, exit_code=code, started_at=started, ended_at=ended
            )
        if code is None:
            return JobStatus(BackendState.LOST, message="the run ended without an exit status")
        state = _final_state(code, cancelled=False)
        return JobStatus(state, exit_code=code, started_at=started, ended_at=ended)

    def _ended_at(self, job_id: str, record: dict[str, object]) -> datetime:
        """When a process first saw the run over: recorded once, so every reader agrees."""
        if record.get("ended_at"):
            return datetime.fromisoformat(str(record["ended_at"]))
        ended = datetime.now(UTC)
        record["ended_at"] = ended.isoformat()
        self._write_record(job_id, record)
        return ended

    def _reclaim(self, job: _LocalJob) -> None:
        """The ended job's files go back to this process's user: its uid may be reused."""
        if job.uid is None or job.reclaimed:
            return
        job.reclaimed = True
        _reclaim_folder(job.workdir)

    def logs(self, backend_job_id: str, offset: int = 0) -> LogChunk:
        if "/" in backend_job_id or backend_job_id.startswith("."):
            raise NotFound(
                msg(f"作业 {backend_job_id} 没有日志", f"no log for job {backend_job_id}"),
                field="job_id",
            )
        path = self._log_path(backend_job_id)
        if not path.is_file():
            raise NotFound(
                msg(f"作业 {backend_job_id} 没有日志", f"no log for job {backend_job_id}"),
                field="job_id",
            )
        with path.open("rb") as handle:
            handle.seek(max(0, offset))
            data = handle.read(LOG_CHUNK_BYTES_MAX)
        return LogChunk(text=data.decode("utf-8", errors="replace"), next_offset=offset + len(data))

    def cancel(self, backend_job_id: str) -> None:
        job = self._jobs.get(backend_job_id)
        if job is None:
            self._cancel_adopted(backend_job_id)
            return
        if job.process.poll() is not None:
            return
        if job.cancelled:  # asked again (the loop does, each round, until it ends)
            _kill_if_overdue(job)
            return
        job.cancelled = True
        job.kill_at = time.monotonic() + KILL_GRACE_S
        self._note_cancelled(backend_job_id)
        _signal_group(job.process.pid, signal.SIGTERM)

    def _note_cancelled(self, job_id: str) -> None:
        record = self._read_record(job_id)
        if record is not None:
            record["cancelled"] = True
            record["kill_at"] = time.time() + KILL_GRACE_S
            self._write_record(job_id, record)

    def _cancel_adopted(self, job_id: str) -> None:
        record = self._read_record(job_id)
        if record is None or not _alive(record):
            return
        group = int(str(record["pid"]))
        if not record.get("cancelled"):
            self._note_cancelled(job_id)
            _signal_group(group, signal.SIGTERM)
        elif time.time() >= float(str(record.get("kill_at") or 0)):
            _signal_group(group, signal.SIGKILL)

    def live_runs(self, job_id: str) -> list[str]:
        job = self._jobs.get(job_id)  # a local run's id is the job's id
        if job is None:
            record = self._read_record(job_id)
            running = record is not None and not record.get("cancelled") and _alive(record)
        else:
            running = not job.cancelled and job.process.poll() is None
        return [job_id] if running else []

    def usage(self, backend_job_id: str) -> Usage | None:
        job = self._jobs.get(backend_job_id)
        if job is None:
            status = self._adopted_status(backend_job_id)
            if status.started_at is None or status.ended_at is None:
                return None
            record = self._read_record(backend_job_id) or {}
            cards = int(str(record.get("cards", 0)))
            return Usage(status.started_at, status.ended_at, cards, source="local")
        if job.process.poll() is None:
            return None
        ended = job.ended_at or datetime.now(UTC)
        return Usage(job.started_at, ended, job.cards, source="local")

    def capacity(self) -> dict[str, int]:
        return {}  # the local machine has no accelerators of its own; pools declare them

    def health(self) -> Health:
        return Health(ok=True, message=msg("本机子进程", "local subprocesses"))

    def shutdown(self) -> None:
        """Stops this process's runs; they are not recorded as cancelled (nobody asked), so a
        later reader finds them ended without an exit status: lost, never charged."""
        for job in list(self._jobs.values()):
            if job.process.poll() is None:
                _terminate_group(job.process)


def job_environment(
    request: LaunchRequest, workdir: Path, python_bin_dir: Path | None = None
) -> dict[str, str]:
    """The whole environment a local job sees: a fixed base, the job's own variables (checked
    names, no NUL), then the platform's SUANLI_* facts, which a job cannot override."""
    path = JOB_PATH if python_bin_dir is None else f"{python_bin_dir}{os.pathsep}{JOB_PATH}"
    env = {"PATH": path, "LANG": "C.UTF-8", "HOME": str(workdir)}
    for key, value in request.env.items():
        require_env_entry(key, value)
        env[key] = value
    env.update(cards_env(request))
    env["SUANLI_ACCELERATOR"] = request.accelerator_model
    env["SUANLI_JOB_ID"] = request.job_id
    return env


def private_work_root(jobs_dir: Path) -> Path:
    """`/tmp/suanli-work-<hash of the jobs dir>`: root-owned, 0711, never a link. Outside the
    data directory, so that one can be 0700 while every job still reaches its own folder."""
    digest = hashlib.sha256(str(jobs_dir.resolve()).encode()).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / f"suanli-work-{digest}"
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o711)
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise BackendError(
            msg(
                f"{root} 不是本服务用户所有的目录，拒绝在其中运行作业",
                f"{root} is not a directory owned by this service's user; refusing to run jobs",
            ),
            field="work_root",
        )
    os.chmod(root, 0o711)
    return root


# Directories of the system or shared by other software: with a user per job the data
# directory becomes 0700, and closing one of these to every other user would break the
# machine. A data directory of its own (`/srv/suanli`, `/data`, `/var/lib/suanli`) is fine.
SYSTEM_DIRECTORIES = frozenset(
    Path(name)
    for name in (
        "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32",
        "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp",
        "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/share", "/var", "/var/cache",
        "/var/lib", "/var/log", "/var/opt", "/var/run", "/var/spool", "/var/tmp", "/var/www",
    )
)  # fmt: skip
KERNEL_TREES = ("/proc", "/sys", "/dev")  # nothing under these is a data directory


def _lock_down(jobs_dir: Path) -> None:
    """The data directory and the log directory open to this user only (0700): nothing in
    them (database, secret key, logs) can be reached by a job's user, whatever its mode. A
    data directory that is a system or shared directory (SYSTEM_DIRECTORIES) is refused
    before anything is created or changed."""
    data_dir = jobs_dir.resolve().parent
    if data_dir in SYSTEM_DIRECTORIES or any(map(data_dir.is_relative_to, KERNEL_TREES)):
        raise InvalidInput(
            msg(
                f"数据目录 {data_dir} 是系统或共享目录；每个作业使用独立用户时它会被设为仅本用户"
                "可访问，请改用专属目录（如 /srv/suanli）",
                f"the data directory {data_dir} is a system or shared directory; with a user"
                " per job it is closed to every other user, so give it a folder of its own"
                " (e.g. /srv/suanli)",
            ),
            field="data_dir",
        )
    jobs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for directory in (jobs_dir, jobs_dir.parent):
        os.chmod(directory, 0o700)


def _log_cut_notes(limit: int) -> tuple[str, str]:
    return (
        f"[suanli] 日志已达上限 {limit} 字节，此后的输出未保存",
        f"[suanli] the log reached its limit of {limit} bytes; later output was not kept",
    )


def _log_drained(job: _LocalJob) -> bool:
    """The ended run's copier wrote its last output, or was given LOG_DRAIN_S to: something
    still holding the run's output (a process that left its group) cannot keep the run going."""
    copier = job.copier
    if copier is None or copier.poll() is not None:
        return True
    if time.monotonic() < job.drain_by:
        return False
    copier.kill()
    copier.wait(timeout=KILL_GRACE_S)
    return True


def _final_state(exit_code: int, cancelled: bool) -> BackendState:
    if cancelled:
        return BackendState.CANCELLED
    return BackendState.SUCCEEDED if exit_code == 0 else BackendState.FAILED


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def _kill_if_overdue(job: _LocalJob) -> None:
    """A cancelled run still alive past its grace (its leader outlived SIGTERM) is killed;
    the next status() then finds it ended and sweeps what it left behind."""
    if job.kill_at is not None and time.monotonic() >= job.kill_at:
        job.kill_at = None  # once: SIGKILL cannot be ignored
        _signal_group(job.process.pid, signal.SIGKILL)


def _terminate_group(process: subprocess.Popen[bytes]) -> None:
    """Stops a run and waits for it (at most twice KILL_GRACE_S): for shutdown only."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=KILL_GRACE_S)
    except ProcessLookupError:
        pass


def _end_leftovers(group: int | None, uid: int | None) -> None:
    """Kills what an ended run left behind (`cmd &`, a daemon): it would go on holding the
    card, released to the next tenant, unbilled and past its time limit. The run's process
    group (its wrapper led it; the group outlives its leader while members remain), and, with
    a user per job, every process of the run's user, which a `setsid` child cannot leave."""
    if group is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    if uid is None or not JOB_UID_BASE <= uid < JOB_UID_BASE + JOB_UID_SPAN:
        return  # never a real account's processes
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to end
            if entry.stat().st_uid == uid:
                os.kill(int(entry.name), signal.SIGKILL)


def _reclaim_folder(workdir: Path) -> None:
    """A run's files go back to the service's user: its uid may be reused."""
    os.chown(workdir, os.geteuid(), os.getegid())  # first: no one else may enter now
    entries = 0
    for root, directories, files in os.walk(workdir):
        for name in (*directories, *files):
            entries += 1
            if entries > RECLAIM_ENTRIES_MAX:
                log.warning("job folder %s has over %d entries", workdir, entries - 1)
                return
            os.lchown(os.path.join(root, name), os.geteuid(), os.getegid())


COMMAND_FILE = ".suanli-command-{tag}"


def _write_command(workdir: Path, tag: str, command: str, uid: int | None) -> str:
    """Writes the command to the job's folder, 0600, owned by the job's user; its name. The
    folder is the job's to write: whatever stands at the name (a link to a file of the
    server's, left by an earlier attempt) is removed, and O_EXCL | O_NOFOLLOW creates a new
    file or fails, never writing through a link."""
    name = COMMAND_FILE.format(tag=tag)
    path = workdir / name
    try:
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        raise BackendError.caused_by(
            msg("无法写入作业命令文件", "cannot write the job's command file"), error
        ) from error
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        if uid is not None:
            os.fchown(handle.fileno(), uid, uid)
        handle.write(command)
        handle.write("\n")
    return name


def _runs_in(pid: int, workdir: Path, uid: int | None) -> bool:
    """Whether the process is one of this job's runs: it works in the job's folder (a
    wrapper's working directory) and, with a user per job, runs as the job's user."""
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    if Path(cwd) != workdir.resolve():
        return False
    if uid is None:
        return True
    uids = next((line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")), [])
    return bool(uids) and all(int(value) == uid for value in uids)


def _claimed_pid(claim: Path) -> int | None:
    deadline = time.monotonic() + CLAIM_PID_WAIT_S
    while True:
        try:
            return int((claim / "pid").read_text().strip())
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


def _process_start(pid: int) -> int | None:
    """The pid's start time in clock ticks since boot (/proc/<pid>/stat, field 22): with the
    pid, it names one process, even after the pid is reused."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields is not None else None


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the third (state) on


def _alive(record: dict[str, object]) -> bool:
    """The recorded run's process still runs: same pid, same start time, not a zombie."""
    return _pid_alive(int(str(record["pid"])), record.get("pid_start"))


def _copier_alive(record: dict[str, object]) -> bool:
    """The recorded run's log copier still runs (a record written before copiers: no)."""
    pid = record.get("copier_pid")
    return pid is not None and _pid_alive(int(str(pid)), record.get("copier_start"))


def _pid_alive(pid: int, start: object) -> bool:
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return start is None or int(fields[19]) == start


def _exit_status(workdir: Path, tag: object) -> int | None:
    try:
        return int((workdir / EXIT_FILE.format(tag=tag)).read_text().strip())
    except (OSError, ValueError):
        return None


def shared_python_dir(isolates_users: bool) -> Path | None:
    """The directory of the service's Python (a venv's bin/, with NumPy) when a job may run
    it: always without per-job users, else only if every directory up to the real binary is
    open to other users (a Python under /root is not)."""
    current = Path(sys.executable)
    if not isolates_users:
        return current.parent
    return current.parent if _others_can_run(current.resolve()) else None


def _others_can_run(binary: Path) -> bool:
    try:
        if binary.stat().st_mode & stat.S_IXOTH == 0:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in binary.parents)
    except OSError:
        return False
