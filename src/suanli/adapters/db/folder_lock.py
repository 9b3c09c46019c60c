"""One server per SQLite data folder, by an OS file lock held for the process's life.

SQLite has no place to elect a leader, so two servers on one folder would both run the
scheduling loop and start every job twice. `flock` is released by the kernel when the
process dies, however it dies, so a crashed server never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from suanli.errors import Conflict
from suanli.i18n import msg

LOCK_NAME = "server.lock"
PID_CHARS_MAX = 32


@dataclass
class FolderLock:
    path: Path
    fd: int

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def lock_data_dir(data_dir: Path) -> FolderLock:
    """Takes the folder's lock, or raises Conflict naming the folder and the holder's PID."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir.resolve() / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(fd)
        os.close(fd)
        raise Conflict(
            msg(
                f"数据目录 {data_dir.resolve()} 已被另一个 `suanli serve` 进程使用 (PID {holder})；"
                "同一个 SQLite 数据目录只能运行一个服务。"
                "请先停止它，或改用 PostgreSQL 运行多个副本",
                f"the data folder {data_dir.resolve()} is in use by another suanli serve "
                f"(PID {holder}); one server per SQLite data folder. Stop it first, or use "
                "PostgreSQL to run several replicas",
            ),
            field="data_dir",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return FolderLock(path, fd)


def _read_pid(fd: int) -> str:
    text = os.pread(fd, PID_CHARS_MAX, 0).decode("ascii", errors="replace").strip()
    return text if text.isdigit() else "?"
