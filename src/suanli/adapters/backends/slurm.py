"""The Slurm backend: one pool is one partition with GPU GRES; jobs go through `sbatch`.

`sbatch`/`squeue`/`scontrol`/`scancel`/`sacct` are present wherever Slurm is, need no extra
daemon and use the cluster's own munge authentication; slurmrestd is a separate package that
refuses to run as root and needs JWT set up (docs/clusters.md). Every call has a timeout.
"""

from __future__ import annotations

import errno
import getpass
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
from suanli.errors import BackendError, BackendUnavailable, InvalidInput
from suanli.i18n import msg

SHARDS_PER_CARD_DEFAULT = 1000  # gres.conf `Name=shard Count=1000` per GPU: one per milli
TIMEOUT_S_DEFAULT = 30.0  # Slurm clients retry an absent controller for ~2 × MessageTimeout
JOBCOMP_TAIL_BYTES_MAX = 8 * 1024 * 1024  # how much of a jobcomp/filetxt log is searched
JOB_NAME_PREFIX = "suanli-"
LOG_NAME = "slurm-{job}.out"
MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"
SYSTEM_BIN_DIRS = ("/usr/sbin", "/sbin")  # runuser lives there; not always on a service's PATH

_PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
_RUNNING = {"RUNNING", "COMPLETING", "SUSPENDED", "STAGE_OUT", "SIGNALING", "RESIZING", "STOPPED"}
_FAILED = {
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "TIMEOUT",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
    "SPECIAL_EXIT",
    "REVOKED",
}
_UNUSABLE_NODE = {"DOWN", "DRAIN", "DRAINED", "DRAINING", "FAIL", "FAILING", "NOT_RESPONDING"}
_UNUSABLE_NODE |= {"INVAL", "FUTURE", "MAINT", "POWERED_DOWN", "POWERING_DOWN", "UNKNOWN"}
_UNREACHABLE = (
    "unable to contact slurm controller",
    "communication connection failure",
    "socket timed out",
    "zero bytes were transmitted",
    "could not establish a configuration source",
    "slurm_persist_conn_open",
)
_AUTH = ("munge", "invalid authentication credential", "authentication failure")
_GONE = ("invalid job id", "already completing or completed")
_NEVER_FITS = (
    "requested node configuration is not available",
    "invalid generic resource",
    "invalid gres specification",
)
_KEY = re.compile(r"(?:^|\s)([A-Za-z][\w:/.]*)=")
_GRES = re.compile(r"^(?P<name>[\w.]+)(?::(?P<type>[^:(]+))?:(?P<count>\d+)")


@dataclass(frozen=True)
class SlurmConfig:
    """What the backend needs from `scontrol show config`."""

    accounting: bool
    jobcomp_file: Path | None


class SlurmBackend:
    """One Slurm partition whose nodes carry GRES `<gres_name>:<gres_type>`.

    Jobs run as `run_as`: when suanli runs as root it switches with `runuser`, otherwise with
    `sudo -n -u` (see docs/clusters.md); root itself is refused unless `allow_root` (tests).
    `log_dir` must be writable by that user and readable here (a shared directory).
    """

    kind = "slurm"

    def __init__(
        self,
        partition: str,
        gres_type: str,
        *,
        log_dir: Path,
        run_as: str | None = None,
        slurm_conf: Path | None = None,
        accelerator_model: str | None = None,
        gres_name: str = "gpu",
        allow_root: bool = False,
        timeout_s: float = TIMEOUT_S_DEFAULT,
        timezone: str | None = None,
        bin_dir: Path | None = None,
        shards_per_card: int = SHARDS_PER_CARD_DEFAULT,
    ) -> None:
        _require_name(partition, "partition")
        _require_name(gres_type, "gres_type")
        if timeout_s <= 0:
            raise InvalidInput(
                msg("`timeout_s` 须为正数", "timeout_s must be positive"), field="timeout_s"
            )
        self.partition = partition
        self.gres_type = gres_type
        self.gres_name = gres_name
        self.accelerator_model = accelerator_model or gres_type
        self.log_dir = log_dir
        self.slurm_conf = slurm_conf
        self.timeout_s = timeout_s
        self.bin_dir = bin_dir
        self.shards_per_card = shards_per_card
        self.run_as = run_as or getpass.getuser()
        self._user_prefix = user_prefix(
            self.run_as, getpass.getuser(), allow_root, keep_slurm_conf=slurm_conf is not None
        )
        self._tz = _zone(timezone)
        self._config: SlurmConfig | None = None
        self._partition_checked = False

    def __repr__(self) -> str:
        return f"SlurmBackend(partition={self.partition!r}, gres={self._gres()!r})"

    # -- the Backend interface -------------------------------------------------------------
    def submit(self, request: LaunchRequest) -> str:
        self._require_model(request.accelerator_model)
        self.check()
        script = batch_script(request)
        try:
            result = self._run(self._sbatch_args(request), as_user=True, stdin=script)
        except BackendUnavailable:
            adopted = self._find_submitted(request.job_id)  # the submit may have got through
            if adopted is None:
                raise
            return adopted
        if result.returncode != 0:
            raise self._submit_error(result.stderr, request)
        return parse_sbatch_id(result.stdout)

    def live_runs(self, job_id: str) -> list[str]:
        # Only live runs: one being cancelled (a lost run's) must not be adopted or re-cancelled.
        name = JOB_NAME_PREFIX + job_id
        result = self._run(["squeue", "-h", "-n", name, "-t", "PENDING,RUNNING", "-o", "%i"])
        if result.returncode != 0:
            raise classify_error(result.stderr, "list the job's runs")
        return sorted(result.stdout.split(), key=int)

    def status(self, backend_job_id: str) -> JobStatus:
        record = self._job_record(backend_job_id)
        if record is None:
            return JobStatus(BackendState.LOST, message="Slurm no longer knows the job")
        return status_from_record(record, self._timezone())

    def logs(self, backend_job_id: str, offset: int = 0) -> LogChunk:
        _require_job_id(backend_job_id)
        path = self.log_dir / LOG_NAME.format(job=backend_job_id)
        try:
            with _open_log(path, self.run_as) as handle:
                handle.seek(max(0, offset))
                data = handle.read(LOG_CHUNK_BYTES_MAX)
        except FileNotFoundError:
            return LogChunk(text="", next_offset=max(0, offset))  # not started yet
        except OSError as error:
            raise BackendError.caused_by(
                msg(f"无法读取作业日志 {path}", f"cannot read the job's log {path}"), error
            ) from error
        text = data.decode("utf-8", errors="replace")
        return LogChunk(text=text, next_offset=max(0, offset) + len(data))

    def cancel(self, backend_job_id: str) -> None:
        _require_job_id(backend_job_id)
        result = self._run(["scancel", backend_job_id], as_user=True)
        if result.returncode != 0 and not _mentions(result.stderr, _GONE):
            raise classify_error(result.stderr, "cancel the job")

    def usage(self, backend_job_id: str) -> Usage | None:
        record = self._job_record(backend_job_id)
        return None if record is None else usage_from_record(record, self._timezone())

    def capacity(self) -> dict[str, int]:
        self.check()
        free = free_gres(self._nodes(), self.partition, self.gres_name, self.gres_type)
        return {self.accelerator_model: free}

    def health(self) -> Health:
        try:
            self.check(force=True)
        except BackendError as error:
            return Health(ok=False, message=error.text)
        return Health(
            ok=True,
            message=msg(
                f"Slurm 分区 {self.partition}，GRES {self._gres()}",
                f"Slurm partition {self.partition} with {self._gres()}",
            ),
        )

    # -- checks ------------------------------------------------------------------------------
    def check(self, *, force: bool = False) -> None:
        """The controller answers, the partition exists and offers this GRES; else raises."""
        if self._partition_checked and not force:
            return
        result = self._run(["scontrol", "-o", "show", "partition", self.partition])
        if result.returncode != 0:
            if "not found" in (result.stdout + result.stderr).lower():
                raise BackendError(
                    msg(
                        f"Slurm 分区 {self.partition!r} 不存在",
                        f"Slurm partition {self.partition!r} does not exist",
                    ),
                    field="partition",
                )
            raise classify_error(result.stderr, "read the partition")
        total = total_gres(self._nodes(), self.partition, self.gres_name, self.gres_type)
        if total == 0:
            raise BackendError(
                msg(
                    f"Slurm 分区 {self.partition!r} 没有节点带 GRES {self._gres()}",
                    f"no node of Slurm partition {self.partition!r} has GRES {self._gres()}",
                ),
                field="accelerator_model",
            )
        self._partition_checked = True

    def _nodes(self) -> list[dict[str, str]]:
        result = self._run(["scontrol", "-d", "-o", "show", "node"])
        if result.returncode != 0:
            raise classify_error(result.stderr, "read the nodes")
        return [parse_key_values(line) for line in result.stdout.splitlines() if line.strip()]

    def _require_model(self, accelerator_model: str) -> None:
        if _normalized(accelerator_model) != _normalized(self.accelerator_model):
            raise BackendError(
                msg(
                    f"这个 Slurm 接入提供的是 {self.accelerator_model!r}"
                    f"（GRES {self._gres()}），不是 {accelerator_model!r}",
                    f"this Slurm connection serves {self.accelerator_model!r} "
                    f"(GRES {self._gres()}), not {accelerator_model!r}",
                ),
                field="accelerator_model",
            )

    def _submit_error(self, stderr: str, request: LaunchRequest) -> BackendError:
        if _mentions(stderr, _NEVER_FITS):
            return BackendError(
                msg(
                    f"Slurm 分区 {self.partition!r} 永远给不出 {request.cards} × {self._gres()}"
                    f"（sbatch：“{_last_line(stderr)}”）",
                    f"Slurm partition {self.partition!r} can never give {request.cards} × "
                    f"{self._gres()} (sbatch: {_last_line(stderr)})",
                ),
                field="cards",
            )
        if "invalid partition" in stderr.lower():
            self._partition_checked = False
            return BackendError(
                msg(
                    f"Slurm 分区 {self.partition!r} 不存在",
                    f"Slurm partition {self.partition!r} does not exist",
                ),
                field="partition",
            )
        return classify_error(stderr, "submit the job")

    # -- commands ----------------------------------------------------------------------------
    def _sbatch_args(self, request: LaunchRequest) -> list[str]:
        return [
            "sbatch",
            "--parsable",
            f"--partition={self.partition}",
            f"--job-name={JOB_NAME_PREFIX}{request.job_id}",
            f"--output={self.log_dir / LOG_NAME.format(job='%j')}",
            f"--chdir={self.log_dir}",
            f"--time={time_limit_minutes(request.max_run_time_s)}",
            # The job sees this minimal environment plus what its script exports: the
            # service's own environment (database URL, secrets) never reaches a job.
            "--export=ALL",
            *gres_options(request, self.gres_name, self.gres_type, self.shards_per_card),
        ]

    def _command_env(self) -> dict[str, str]:
        env = {"PATH": MINIMAL_PATH, "LANG": "C.UTF-8"}
        if self.slurm_conf is not None:
            env["SLURM_CONF"] = str(self.slurm_conf)
        return env

    def _run(
        self, args: Sequence[str], *, as_user: bool = False, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [self._executable(args[0]), *args[1:]]
        if as_user and self._user_prefix:
            command = [self._executable(self._user_prefix[0]), *self._user_prefix[1:], *command]
        try:
            return subprocess.run(
                command,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                env=self._command_env(),
                stdin=None if stdin is not None else subprocess.DEVNULL,
                check=False,
            )
        except OSError as error:
            raise BackendUnavailable.caused_by(
                msg(
                    f"无法运行 Slurm 命令 {command[0]!r}",
                    f"cannot run Slurm command {command[0]!r}",
                ),
                error,
            ) from error
        except subprocess.TimeoutExpired as error:
            raise BackendUnavailable(
                msg(
                    f"Slurm 在 {self.timeout_s:g} 秒内没有回应 {args[0]}",
                    f"Slurm did not answer {args[0]} within {self.timeout_s:g}s",
                )
            ) from error

    def _find_submitted(self, job_id: str) -> str | None:
        try:
            ids = self.live_runs(job_id)
        except BackendError:
            return None
        return ids[0] if ids else None

    # -- job records: scontrol, then sacct, then jobcomp ---------------------------------
    def _job_record(self, backend_job_id: str) -> dict[str, str] | None:
        _require_job_id(backend_job_id)
        result = self._run(["scontrol", "-o", "show", "job", backend_job_id])
        if result.returncode == 0 and result.stdout.strip():
            return parse_key_values(result.stdout.splitlines()[0])
        if not _mentions(result.stderr, ("invalid job id",)):
            raise classify_error(result.stderr, "read the job")
        return self._history_record(backend_job_id)

    def _history_record(self, backend_job_id: str) -> dict[str, str] | None:
        """A job scontrol has forgotten (after MinJobAge): from accounting or jobcomp."""
        config = self._slurm_config()
        if config.accounting:
            return self._sacct_record(backend_job_id)
        if config.jobcomp_file is not None:
            return jobcomp_record(config.jobcomp_file, backend_job_id)
        return None

    def _sacct_record(self, backend_job_id: str) -> dict[str, str] | None:
        fields = "JobID,State,ExitCode,Start,End,AllocTRES,NNodes"
        args = ["sacct", "-n", "-P", "-X", "-j", backend_job_id, f"--format={fields}"]
        result = self._run(args)
        if result.returncode != 0:
            raise classify_error(result.stderr, "read accounting")
        return parse_sacct(result.stdout, backend_job_id)

    def _slurm_config(self) -> SlurmConfig:
        if self._config is None:
            result = self._run(["scontrol", "show", "config"])
            if result.returncode != 0:
                raise classify_error(result.stderr, "read the Slurm configuration")
            self._config = slurm_config(parse_config(result.stdout))
        return self._config

    def _timezone(self) -> tzinfo:
        # Slurm prints the controller's local time without an offset.
        return self._tz or datetime.now().astimezone().tzinfo or ZoneInfo("UTC")

    def _gres(self) -> str:
        return f"{self.gres_name}:{self.gres_type}"

    def _executable(self, name: str) -> str:
        if self.bin_dir is not None and (self.bin_dir / name).is_file():
            return str(self.bin_dir / name)
        search = os.pathsep.join([os.environ.get("PATH", MINIMAL_PATH), *SYSTEM_BIN_DIRS])
        found = shutil.which(name, path=search)
        if found is None:
            raise BackendUnavailable(
                msg(
                    f"找不到 Slurm 命令 {name!r}：请安装 Slurm 客户端（slurm-client）",
                    f"Slurm command {name!r} not found: install the Slurm client (slurm-client)",
                )
            )
        return found


def _open_log(path: Path, run_as: str) -> BinaryIO:
    """The job's log, opened only if it is what Slurm wrote: a plain file of the run-as user
    with one name. The job runs in the log folder and may replace its log with a link to any
    file the server can read (its database, its key); read as the server, that file would be
    served as the job's log. O_NOFOLLOW refuses a symbolic link, the checks a hard link or
    a file of another user; O_NONBLOCK a named pipe that would hang the reader."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    facts = os.fstat(fd)
    if not stat.S_ISREG(facts.st_mode) or facts.st_nlink != 1 or facts.st_uid != _uid_of(run_as):
        os.close(fd)
        raise OSError(errno.EPERM, "not a plain file written by the job's user")
    return os.fdopen(fd, "rb")


def _uid_of(user: str) -> int:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return -1  # no such user: no file can be its


# -- pure helpers (unit-tested without a cluster) ----------------------------------------------
def user_prefix(
    run_as: str, current_user: str, allow_root: bool, *, keep_slurm_conf: bool = False
) -> tuple[str, ...]:
    """The command prefix that runs `sbatch`/`scancel` as `run_as` (ends with the `--`)."""
    if run_as == "root" and not allow_root:
        raise InvalidInput(
            msg(
                "Slurm 作业将以 root 运行；请把 `run_as` 设为专用的非特权用户",
                "Slurm jobs would run as root; set run_as to a dedicated unprivileged user",
            ),
            field="run_as",
        )
    _require_name(run_as, "run_as")
    if run_as == current_user:
        return ()
    if current_user == "root":
        return ("runuser", "-u", run_as, "--")
    # sudo resets the environment: SLURM_CONF must be let through explicitly (and allowed
    # by sudoers) when the cluster's slurm.conf is not the system default.
    keep = ("--preserve-env=SLURM_CONF",) if keep_slurm_conf else ()
    return ("sudo", "-n", *keep, "-u", run_as, "--")


def shards_for(card_milli: int, shards_per_card: int) -> int:
    """The shards of a card that cover `card_milli` thousandths of it (at least one)."""
    return max(1, -(-card_milli * shards_per_card // 1000))


def batch_script(request: LaunchRequest) -> str:
    """The batch script given to sbatch on stdin: exports, then the job's command."""
    env = {**request.env, "SUANLI_JOB_ID": request.job_id}
    env["SUANLI_ACCELERATOR"] = request.accelerator_model
    env.update(cards_env(request))
    lines = ["#!/bin/sh"]
    for key, value in sorted(request.env.items()):
        require_env_entry(key, value)
    for key, value in sorted(env.items()):
        lines.append(f"export {key}={shlex.quote(value)}")
    lines.append(request.command)
    return "\n".join(lines) + "\n"


def gres_options(
    request: LaunchRequest,
    gres_name: str,
    gres_type: str,
    shards_per_card: int = SHARDS_PER_CARD_DEFAULT,
) -> list[str]:
    """`--gres` per node when the placement splits evenly over its nodes, else `--gpus` total;
    a share of a card asks for GRES `shard` (Slurm 22.05+), its milli of the card's shards."""
    if request.card_milli is not None:
        return [f"--gres=shard:{shards_for(request.card_milli, shards_per_card)}"]
    per_node = [cards for _, cards in request.node_cards if cards > 0]
    if len(per_node) <= 1:
        return [f"--gres={gres_name}:{gres_type}:{request.cards}"]
    if len(set(per_node)) == 1:
        return [f"--nodes={len(per_node)}", f"--gres={gres_name}:{gres_type}:{per_node[0]}"]
    return [f"--nodes={len(per_node)}", f"--gpus={gres_type}:{request.cards}"]


def time_limit_minutes(max_run_time_s: int) -> int:
    """Slurm's --time in whole minutes, rounded up: the engine's backstop to suanli's own limit."""
    return max(1, -(-max_run_time_s // 60))


def parse_sbatch_id(stdout: str) -> str:
    """`sbatch --parsable` prints `<id>` or `<id>;<cluster>`."""
    first = stdout.strip().splitlines()[0] if stdout.strip() else ""
    job_id = first.split(";")[0].strip()
    if not job_id.isdigit():
        raise BackendError(
            msg(
                f"sbatch 没有输出作业编号：{stdout.strip()[:200]!r}",
                f"sbatch printed no job id: {stdout.strip()[:200]!r}",
            )
        )
    return job_id


def parse_key_values(line: str) -> dict[str, str]:
    """Parses one `scontrol -o` line of `Key=Value` pairs (values may contain spaces)."""
    matches = list(_KEY.finditer(line))
    record: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        record[match.group(1)] = line[match.end() : end].strip()
    return record


def parse_config(text: str) -> dict[str, str]:
    """Parses `scontrol show config` (`Key = Value` lines)."""
    config: dict[str, str] = {}
    for line in text.splitlines():
        key, separator, value = line.partition("=")
        if separator and key.strip() and " " not in key.strip():
            config[key.strip()] = value.strip()
    return config


def slurm_config(config: Mapping[str, str]) -> SlurmConfig:
    accounting = config.get("AccountingStorageType", "accounting_storage/none")
    jobcomp = config.get("JobCompType", "jobcomp/none")
    location = config.get("JobCompLoc", "")
    jobcomp_file = Path(location) if jobcomp == "jobcomp/filetxt" and location else None
    return SlurmConfig(accounting != "accounting_storage/none", jobcomp_file)


def parse_sacct(stdout: str, backend_job_id: str) -> dict[str, str] | None:
    """The allocation line of `sacct -n -P -X --format=JobID,State,ExitCode,Start,End,AllocTRES,
    NNodes`, as a record with scontrol's key names."""
    for line in stdout.splitlines():
        parts = line.split("|")
        if len(parts) < 7 or parts[0] != backend_job_id:
            continue
        return {
            "JobId": parts[0],
            "JobState": parts[1].split()[0] if parts[1] else "",
            "ExitCode": parts[2],
            "StartTime": parts[3],
            "EndTime": parts[4],
            "TRES": parts[5],
            "NumNodes": parts[6],
        }
    return None


def jobcomp_record(path: Path, backend_job_id: str) -> dict[str, str] | None:
    """The last line for the job in a jobcomp/filetxt log (only its tail is read)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - JOBCOMP_TAIL_BYTES_MAX))
            text = handle.read(JOBCOMP_TAIL_BYTES_MAX).decode("utf-8", errors="replace")
    except OSError:
        return None  # not on this machine or not readable: no history, the job reads as LOST
    prefix = f"JobId={backend_job_id} "
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return parse_key_values(lines[-1]) if lines else None


def state_of(slurm_state: str) -> BackendState:
    """Maps a Slurm job state (`CANCELLED by 0` included) to a BackendState."""
    base = slurm_state.split()[0].rstrip("+") if slurm_state.strip() else ""
    if base in _PENDING:
        return BackendState.PENDING
    if base in _RUNNING:
        return BackendState.RUNNING
    if base == "COMPLETED":
        return BackendState.SUCCEEDED
    if base == "CANCELLED":
        return BackendState.CANCELLED
    if base in _FAILED:
        return BackendState.FAILED
    raise BackendError(
        msg(
            f"Slurm 报告了未知的作业状态 {slurm_state!r}",
            f"Slurm reported an unknown job state {slurm_state!r}",
        )
    )


def exit_code_of(text: str) -> int | None:
    """`ExitCode=3:0` is code 3; `0:15` is killed by signal 15, reported as 128 + 15."""
    code, _, signal = text.partition(":")
    if not code.strip().isdigit():
        return None
    number, signal_number = int(code), int(signal) if signal.strip().isdigit() else 0
    return 128 + signal_number if number == 0 and signal_number else number


def parse_time(text: str | None, tz: tzinfo) -> datetime | None:
    """Slurm's `2026-11-22T04:47:26` (local time of the controller); Unknown/None/N/A → None."""
    if not text or text.strip() in {"Unknown", "None", "N/A", "(null)", "0"}:
        return None
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=tz)
    except ValueError:
        return None


def status_from_record(record: Mapping[str, str], tz: tzinfo) -> JobStatus:
    """A JobStatus from an scontrol/sacct/jobcomp record. A job cancelled while pending has
    a StartTime equal to its EndTime in Slurm, so it reads as never started (zero usage)."""
    state = state_of(record.get("JobState", ""))
    terminal = state not in (BackendState.PENDING, BackendState.RUNNING)
    started = parse_time(record.get("StartTime"), tz) if state != BackendState.PENDING else None
    reason = record.get("Reason", "None")
    return JobStatus(
        state,
        exit_code=exit_code_of(record.get("ExitCode", "")) if terminal else None,
        started_at=started,
        ended_at=parse_time(record.get("EndTime"), tz) if terminal else None,
        message="" if reason in ("None", "") else reason,
    )


def usage_from_record(record: Mapping[str, str], tz: tzinfo) -> Usage | None:
    """Slurm's own StartTime/EndTime × the GPUs of the allocation; None while unproven."""
    status = status_from_record(record, tz)
    if status.state in (BackendState.PENDING, BackendState.RUNNING):
        return None
    cards = cards_of(record)
    if cards is None and cards_of(record, "shard") is not None:
        cards = 1  # a share of one card: the runtime weighs its seconds by card_milli
    if status.started_at is None or status.ended_at is None or cards is None:
        return None  # cancelled before it started, or a record without GPUs: nothing to charge
    ended = max(status.started_at, status.ended_at)
    return Usage(status.started_at, ended, cards, source="slurm")


def cards_of(record: Mapping[str, str], gres_name: str = "gpu") -> int | None:
    """GPUs of a job: allocated TRES when tracked, else what it asked per job or per node."""
    allocated = _tres_count(record.get("TRES", "") or record.get("AllocTRES", ""), gres_name)
    if allocated is not None:
        return allocated
    per_job = _gres_count(record.get("TresPerJob", ""), gres_name)
    if per_job is not None:
        return per_job
    per_node = _gres_count(record.get("TresPerNode", ""), gres_name)
    nodes = record.get("NumNodes", "1").split("-")[0]
    if per_node is None or not nodes.isdigit():
        return None
    return per_node * int(nodes)


def _tres_count(tres: str, gres_name: str) -> int | None:
    """`cpu=1,gres/gpu=2,gres/gpu:h100=2` → 2 (the untyped total)."""
    for item in tres.split(","):
        key, _, value = item.partition("=")
        if key == f"gres/{gres_name}" and value.isdigit():
            return int(value)
    return None


def _gres_count(text: str, gres_name: str) -> int | None:
    """Slurm 22.05 `gres:gpu:h100:2`, 23.02+ `gres/gpu:h100=2` or `gres/gpu=2` → 2."""
    total = None
    for item in text.split(","):
        item = item.strip().removeprefix("gres:").removeprefix("gres/").replace("=", ":")
        match = _GRES.match(item)
        if match and match.group("name") == gres_name:
            total = (total or 0) + int(match.group("count"))
    return total


def parse_gres(text: str) -> dict[tuple[str, str | None], int]:
    """`gpu:h100:8(S:0-1),gpu:a100:2` → {(gpu, h100): 8, (gpu, a100): 2}; (null)/N/A → {}."""
    counts: dict[tuple[str, str | None], int] = {}
    for item in re.split(r",(?![^(]*\))", text):
        match = _GRES.match(item.strip())
        if match is None:
            continue
        key = (match.group("name"), match.group("type"))
        counts[key] = counts.get(key, 0) + int(match.group("count"))
    return counts


def node_usable(state: str) -> bool:
    """`MIXED`, `IDLE` are usable; `IDLE+DRAIN`, `DOWN*`, `MAINT` etc. are not."""
    if not state or state.endswith("*"):
        return False
    return not any(flag in _UNUSABLE_NODE for flag in state.upper().split("+"))


def free_gres(
    nodes: Sequence[Mapping[str, str]], partition: str, gres_name: str, gres_type: str
) -> int:
    """Free cards of one GRES type on the partition's usable nodes (Gres minus GresUsed)."""
    free = 0
    for node in _in_partition(nodes, partition):
        if not node_usable(node.get("State", "")):
            continue
        total = parse_gres(node.get("Gres", "")).get((gres_name, gres_type), 0)
        used = parse_gres(node.get("GresUsed", "")).get((gres_name, gres_type), 0)
        free += max(0, total - used)
    return free


def total_gres(
    nodes: Sequence[Mapping[str, str]], partition: str, gres_name: str, gres_type: str
) -> int:
    """Cards of one GRES type configured on the partition's nodes, usable or not."""
    key = (gres_name, gres_type)
    return sum(
        parse_gres(node.get("Gres", "")).get(key, 0) for node in _in_partition(nodes, partition)
    )


def _in_partition(nodes: Sequence[Mapping[str, str]], partition: str) -> list[Mapping[str, str]]:
    return [node for node in nodes if partition in node.get("Partitions", "").split(",")]


def classify_error(stderr: str, action: str) -> BackendError:
    """An unreachable controller is BackendUnavailable; anything else a BackendError."""
    detail = _last_line(stderr) or "no error message"
    doing = ACTIONS_ZH.get(action, action)
    if _mentions(stderr, _UNREACHABLE):
        return BackendUnavailable.caused_by(
            msg(
                f"无法连接 Slurm 控制器，未能{doing}",
                f"Slurm controller unreachable while trying to {action}",
            ),
            detail,
        )
    if _mentions(stderr, _AUTH):
        return BackendError.caused_by(
            msg(
                f"Slurm 拒绝了我们的 munge 凭据，未能{doing}",
                f"Slurm refused our credentials (munge) while trying to {action}",
            ),
            detail,
            field="credentials",
        )
    return BackendError.caused_by(msg(f"Slurm 未能{doing}", f"Slurm could not {action}"), detail)


ACTIONS_ZH = {
    "cancel the job": "取消作业",
    "list the job's runs": "列出作业的运行",
    "read accounting": "读取记账数据",
    "read the Slurm configuration": "读取 Slurm 配置",
    "read the job": "读取作业",
    "read the nodes": "读取节点",
    "read the partition": "读取分区",
    "submit the job": "提交作业",
}


def _mentions(text: str, needles: Sequence[str]) -> bool:
    lowered = text.lower()
    return any(needle in lowered for needle in needles)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _normalized(model: str) -> str:
    return re.sub(r"[\s_\-]+", "-", model.strip().casefold())


def _require_name(value: str, field: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", value or ""):
        raise InvalidInput(
            msg(
                f"`{field}` 须为 1-64 个字母、数字、'_'、'.' 或 '-'",
                f"{field} must be 1-64 letters, digits, '_', '.' or '-'",
            ),
            field=field,
        )


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidInput(
            msg(f"未知时区 {name!r}", f"unknown time zone {name!r}"), field="timezone"
        ) from error


def _require_job_id(backend_job_id: str) -> None:
    # Slurm ids are digits (array tasks `12_3`); anything else never reaches a command line.
    if not re.fullmatch(r"\d+(_\d+)?", backend_job_id or ""):
        raise BackendError(
            msg(
                f"不是 Slurm 作业编号：{backend_job_id!r}",
                f"not a Slurm job id: {backend_job_id!r}",
            ),
            field="backend_job_id",
        )
