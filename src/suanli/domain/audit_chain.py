"""The audit log's hash chain (as Certificate Transparency and Formance chain their logs).

Entry n's hash is SHA-256 over a canonical JSON of its content and entry n−1's hash, so an
edit, a deletion or a reordering anywhere breaks every link after it. `verify_chain` walks the
entries in sequence order and names the first one that does not fit. A deletion at the very
end leaves a valid, shorter chain: only a head kept elsewhere (`suanli audit head`) or the
platform's own head record shows it, so both are compared.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from suanli.i18n import Msg, msg

GENESIS_HASH = "0" * 64
SECRET_WORDS = ("password", "secret", "token", "credential", "totp", "otp")
REDACTED = "[redacted]"


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor_id: str
    org_id: str
    credential: str  # "session:<id>", "token:<id>", "cli", "system", ...
    action: str
    subject: str
    about_org_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any]
    request_id: str
    client_address: str
    prev_hash: str
    hash: str = field(default="")

    def content(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": canonical_time(self.at),
            "actor_id": self.actor_id,
            "org_id": self.org_id,
            "credential": self.credential,
            "action": self.action,
            "subject": self.subject,
            "about_org_id": self.about_org_id,
            "before": self.before,
            "after": self.after,
            "request_id": self.request_id,
            "client_address": self.client_address,
            "prev_hash": self.prev_hash,
        }

    def computed_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.content())).hexdigest()


def canonical_time(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def summary(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """A before/after summary as it will be stored and hashed: JSON values only (anything else
    as its text), and the value of any key that names a secret replaced by "[redacted]"."""
    if values is None:
        return None
    plain = json.loads(json.dumps(values, default=str, ensure_ascii=False))
    return _redacted(plain)


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if _names_secret(key) else _redacted(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


def _names_secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS) and not lowered.endswith(
        ("_id", "_ids", "scopes", "_name", "_prefix", "token_count")
    )


def seal(entry: AuditEntry) -> AuditEntry:
    """The entry with its hash filled in."""
    return replace(entry, hash=entry.computed_hash())


@dataclass(frozen=True)
class ChainProblem:
    """The first entry that does not fit, and how."""

    seq: int
    kind: str  # edited | deleted | reordered | relinked | truncated
    message: Msg


def verify_chain(
    entries: Iterable[AuditEntry],
    *,
    heads: Sequence[tuple[int, str]] = (),
    seq_exists: Callable[[int], bool] | None = None,
) -> tuple[int, str, ChainProblem | None]:
    """Walks the entries in sequence order. Returns (entries checked, last hash, first problem
    or None). Each of `heads` is a (seq, hash) the chain must hold at that position (a head
    kept elsewhere, the platform's head record); the chain must not end before any of them.
    `seq_exists` tells a reordering (the expected entry is elsewhere) from a deletion."""
    wanted = dict(heads)
    expected, previous, count = 1, GENESIS_HASH, 0
    for entry in entries:
        problem = _entry_problem(entry, expected, previous, seq_exists)
        if problem is None and entry.seq in wanted and entry.hash != wanted[entry.seq]:
            problem = _head_differs(entry.seq)
        if problem is not None:
            return count, previous, problem
        expected, previous, count = expected + 1, entry.hash, count + 1
    if wanted and max(wanted) >= expected:
        return count, previous, _truncated(expected, max(wanted))
    return count, previous, None


def _entry_problem(
    entry: AuditEntry, expected: int, previous: str, seq_exists: Callable[[int], bool] | None
) -> ChainProblem | None:
    if entry.seq != expected:
        moved = entry.seq < expected or (seq_exists is not None and seq_exists(expected))
        if moved:
            return ChainProblem(
                expected,
                "reordered",
                msg(
                    f"第 {expected} 条的位置上是第 {entry.seq} 条：顺序被改动",
                    f"entry {expected}'s place holds entry {entry.seq}: the log was reordered",
                ),
            )
        return ChainProblem(
            expected,
            "deleted",
            msg(f"第 {expected} 条不见了：被删除", f"entry {expected} is missing: deleted"),
        )
    if entry.computed_hash() != entry.hash:
        return ChainProblem(
            expected,
            "edited",
            msg(f"第 {expected} 条的内容与其哈希不符：被修改", f"entry {expected} was edited"),
        )
    if entry.prev_hash != previous:
        return ChainProblem(
            expected,
            "relinked",
            msg(
                f"第 {expected} 条没有接在第 {expected - 1} 条之后：链被改动",
                f"entry {expected} does not follow entry {expected - 1}: the chain was altered",
            ),
        )
    return None


def _head_differs(seq: int) -> ChainProblem:
    return ChainProblem(
        seq,
        "edited",
        msg(
            f"第 {seq} 条的哈希与保存的链头不同：这条及之前的记录被改动",
            f"entry {seq} no longer has the head's hash: the log up to it was altered",
        ),
    )


def _truncated(expected: int, head_seq: int) -> ChainProblem:
    return ChainProblem(
        expected,
        "truncated",
        msg(
            f"日志在第 {expected - 1} 条就结束了，但链头是第 {head_seq} 条："
            f"第 {expected} 条起被删除",
            f"the log ends at entry {expected - 1} but the head is entry {head_seq}: "
            f"entries from {expected} on were deleted",
        ),
    )
