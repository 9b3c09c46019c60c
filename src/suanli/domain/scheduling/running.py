"""Running jobs indexed for the questions policies ask: which jobs run on a pool, when do
they end (in order), and which could be preempted (in the order they would go)."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from suanli.domain.scheduling.model import RunningJob

EndEntry = tuple[float, str]  # (expected end, job id)
VictimEntry = tuple[int, float, str]  # (priority, -started at, job id): lowest, newest first


class RunningIndex:
    def __init__(self, pool_index: Mapping[str, int]) -> None:
        self.pool_index = pool_index
        self.jobs: dict[str, RunningJob] = {}
        self.by_pool: dict[int, dict[str, RunningJob]] = {}
        self.ends: dict[int, list[EndEntry]] = {}
        self.victims: dict[int, list[VictimEntry]] = {}
        self.preemptible: Counter[int] = Counter()  # priority -> preemptible running jobs

    def add(self, job: RunningJob) -> None:
        self.jobs[job.id] = job
        if job.spec.preemptible:
            self.preemptible[job.spec.priority] += 1
        index = self.pool_index.get(job.pool_id)
        if index is None:
            return  # a job on a pool the state does not list: counted, never placed against
        self.by_pool.setdefault(index, {})[job.id] = job
        insort(self.ends.setdefault(index, []), (job.expected_end_s, job.id))
        if job.spec.preemptible:
            insort(self.victims.setdefault(index, []), _victim_entry(job))

    def remove(self, job_id: str) -> RunningJob | None:
        job = self.jobs.pop(job_id, None)
        if job is None:
            return None
        if job.spec.preemptible:
            self.preemptible[job.spec.priority] -= 1
            if self.preemptible[job.spec.priority] <= 0:
                del self.preemptible[job.spec.priority]
        index = self.pool_index.get(job.pool_id)
        if index is None:
            return job
        del self.by_pool[index][job_id]
        _discard(self.ends[index], (job.expected_end_s, job.id))
        if job.spec.preemptible:
            _discard(self.victims[index], _victim_entry(job))
        return job


def _victim_entry(job: RunningJob) -> VictimEntry:
    return (job.spec.priority, -job.started_at_s, job.id)


def _discard(entries: list[EndEntry] | list[VictimEntry], entry: EndEntry | VictimEntry) -> None:
    position = bisect_left(entries, entry)  # type: ignore[arg-type]
    if position < len(entries) and entries[position] == entry:
        del entries[position]
