"""The audit chain: any single edit, deletion or swap of entries is found, and named at the
first entry it touches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from suanli.domain.audit_chain import (
    GENESIS_HASH,
    REDACTED,
    AuditEntry,
    seal,
    summary,
    verify_chain,
)

START = datetime(2025, 7, 1, tzinfo=UTC)
EDITABLE = ("at", "actor_id", "org_id", "action", "subject", "after", "prev_hash", "hash", "seq")


def chain(length: int) -> list[AuditEntry]:
    entries, previous = [], GENESIS_HASH
    for seq in range(1, length + 1):
        entry = seal(
            AuditEntry(
                seq=seq,
                at=START + timedelta(seconds=seq),
                actor_id=f"usr_{seq % 3}",
                org_id=f"org_{seq % 2}",
                credential=f"token:tok_{seq}",
                action="job.submit",
                subject=f"job_{seq}",
                about_org_id=None,
                before=None,
                after={"cards": seq, "name": "训练"},
                request_id=f"req_{seq}",
                client_address="127.0.0.1",
                prev_hash=previous,
            )
        )
        entries.append(entry)
        previous = entry.hash
    return entries


def check(entries: list[AuditEntry], head: tuple[int, str]) -> tuple[int, str] | None:
    seqs = {entry.seq for entry in entries}
    _, _, problem = verify_chain(entries, heads=[head], seq_exists=seqs.__contains__)
    return None if problem is None else (problem.seq, problem.kind)


def edited(entry: AuditEntry, field: str) -> AuditEntry:
    value = getattr(entry, field)
    if field == "at":
        return replace(entry, at=value + timedelta(microseconds=1))
    if field == "after":
        return replace(entry, after={**value, "cards": value["cards"] + 1})
    if field == "seq":
        return replace(entry, seq=value + 1000)
    changes: dict[str, Any] = {}
    if field in ("hash", "prev_hash"):
        changes[field] = "f" * 64 if value != "f" * 64 else "e" * 64
    else:
        changes[field] = value + "x"
    return replace(entry, **changes)


def test_an_untouched_chain_verifies() -> None:
    entries = chain(20)
    assert check(entries, (20, entries[-1].hash)) is None


@given(length=st.integers(1, 30), data=st.data())
def test_any_single_edit_is_found_at_that_entry(length: int, data: st.DataObject) -> None:
    entries = chain(length)
    head = (length, entries[-1].hash)
    index = data.draw(st.integers(0, length - 1))
    field = data.draw(st.sampled_from(EDITABLE))
    tampered = [*entries]
    tampered[index] = edited(entries[index], field)
    found = check(tampered, head)
    assert found is not None and found[0] == index + 1, (field, found)


@given(length=st.integers(1, 30), data=st.data())
def test_any_single_deletion_is_found_at_that_entry(length: int, data: st.DataObject) -> None:
    entries = chain(length)
    head = (length, entries[-1].hash)
    index = data.draw(st.integers(0, length - 1))
    found = check(entries[:index] + entries[index + 1 :], head)
    assert found is not None and found[0] == index + 1, found
    assert found[1] in ("deleted", "truncated")


@given(length=st.integers(2, 30), data=st.data())
def test_any_swap_is_found_at_the_first_entry_it_moves(length: int, data: st.DataObject) -> None:
    entries = chain(length)
    first = data.draw(st.integers(0, length - 2))
    second = data.draw(st.integers(first + 1, length - 1))
    swapped = [*entries]
    swapped[first], swapped[second] = entries[second], entries[first]
    found = check(swapped, (length, entries[-1].hash))
    assert found == (first + 1, "reordered"), found


@given(length=st.integers(2, 30), data=st.data())
def test_a_rewritten_tail_is_found_through_a_head_kept_elsewhere(
    length: int, data: st.DataObject
) -> None:
    """Someone who edits an entry and recomputes every hash after it makes a valid chain;
    a head kept outside the platform still shows it."""
    entries = chain(length)
    kept = data.draw(st.integers(1, length))
    kept_head = (kept, entries[kept - 1].hash)
    index = data.draw(st.integers(0, kept - 1))
    rewritten, previous = entries[:index], entries[index - 1].hash if index else GENESIS_HASH
    for entry in entries[index:]:
        changed = replace(entry, prev_hash=previous, after={"cards": -1})
        rewritten.append(seal(changed))
        previous = rewritten[-1].hash
    assert check(rewritten, (length, rewritten[-1].hash)) is None  # self-consistent
    found = check(rewritten, kept_head)
    assert found is not None and found[0] == kept


def test_summaries_hold_no_secrets() -> None:
    after = summary(
        {
            "password": "x",
            "new_password": "y",
            "token": "sl_z",
            "credentials": {"token": "t"},
            "token_id": "tok_1",
            "scopes": ["read"],
            "amount_fen": 5,
        }
    )
    assert after == {
        "password": REDACTED,
        "new_password": REDACTED,
        "token": REDACTED,
        "credentials": REDACTED,
        "token_id": "tok_1",
        "scopes": ["read"],
        "amount_fen": 5,
    }
