"""The live distribution of recent requests: what FGD and suanli's packing policy measure
fragmentation against when there is no target pod list (the live service, the replay).

`RequestWindow` keeps the specs of the last `window` jobs it was shown, as counts that slide
with the window, so its typical pods (`packing.typical_from_counts`, FGD's 95 % rule) cost a
sort of the distinct specs, never a pass over the jobs. Shares are counted on a 10-milli grid
(`MILLI_GRID`). It is state the caller keeps across
rounds (the runtime, the replay, the benchmark) and passes in on `ClusterState.requests`; a
round shows it the jobs it examines, each job once (by id), whether it is placed or not.
Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter, deque

import numpy as np

from suanli.domain.jobs import JobSpec
from suanli.domain.scheduling.packing import (
    CARD_SLOTS,
    MILLI,
    SpecKey,
    TypicalPods,
    typical_from_counts,
)

WINDOW_REQUESTS = 8_192  # the requests the distribution covers (the newest ones)
REFRESH_REQUESTS = 256  # recomputed after 1, 2, 4, ... new requests, then every this many
SEEN_IDS_MAX = 4 * WINDOW_REQUESTS  # job ids remembered so a job counts once
# A share's milli is counted rounded up to this grid: the cost of a fragmentation measure
# grows with the distinct sizes asked for, and every share in the Alibaba 2023 pod lists is
# already a multiple of 10 milli, so on real requests the rounding changes nothing.
MILLI_GRID = 10
# Model names a job may list are free text: the window learns at most this many from jobs (a
# pool's model is always learnt), so a tenant cannot grow it without bound; names past it are
# left out of the job's spec, as if it had not listed them.
JOB_MODELS_MAX = 256


class RequestWindow:
    def __init__(
        self, window: int = WINDOW_REQUESTS, refresh: int = REFRESH_REQUESTS, seed: int = 0
    ) -> None:
        self.window = window
        self.refresh = refresh
        self.rng = np.random.default_rng(seed)  # for the `random` packing policy
        self._models: dict[str, int] = {}
        self._keys: deque[SpecKey] = deque()
        self._counts: Counter[SpecKey] = Counter()
        self._ids: deque[str] = deque()
        self._seen: set[str] = set()
        self._observed = 0  # requests counted, ever
        self._computed_at = 0  # `_observed` when `_typical` was computed
        self._computed_models = 0
        self._typical: TypicalPods | None = None

    @property
    def models(self) -> tuple[str, ...]:
        """Model names by id (the ids `typical()` and `model_id` use)."""
        return tuple(self._models)

    def model_id(self, name: str) -> int:
        """The id of an accelerator model, registered on first use."""
        return self._models.setdefault(name, len(self._models))

    def _job_model(self, name: str) -> int | None:
        found = self._models.get(name)
        if found is None and len(self._models) < JOB_MODELS_MAX:
            found = self.model_id(name)
        return found

    def observe(self, job_id: str, spec: JobSpec) -> None:
        """Counts the job's request once; a job of more than CARD_SLOTS cards per node cannot
        be a packing request and is left out."""
        if job_id in self._seen:
            return
        self._seen.add(job_id)
        self._ids.append(job_id)
        if len(self._ids) > SEEN_IDS_MAX:
            self._seen.discard(self._ids.popleft())
        key = self.spec_key(spec)
        if key is None:
            return
        self._keys.append(key)
        self._counts[key] += 1
        if len(self._keys) > self.window:
            old = self._keys.popleft()
            self._counts[old] -= 1
            if not self._counts[old]:
                del self._counts[old]
        self._observed += 1

    def spec_key(self, spec: JobSpec) -> SpecKey | None:
        """(CPU milli, card milli, cards on a node, models) as `packing.spec_key` has it."""
        if spec.fractional:
            milli = -(-int(spec.card_milli or MILLI) // MILLI_GRID) * MILLI_GRID
            cards, milli = 1, min(milli, MILLI)
        else:
            cards, milli = spec.cards_per_node, MILLI
        if cards > CARD_SLOTS:
            return None
        return (spec.cpus * MILLI, milli, cards, self._job_models(spec.accelerators))

    def _job_models(self, names: tuple[str, ...]) -> tuple[int, ...]:
        if not names:  # most jobs name no model: skip building the set (every job comes here)
            return ()
        known = (self._job_model(name) for name in names)
        return tuple(sorted({model for model in known if model is not None}))

    def __len__(self) -> int:
        return len(self._keys)

    def typical(self) -> TypicalPods | None:
        """The typical pods of the window, or None before the first request."""
        if not self._counts:
            return None
        new = self._observed - self._computed_at
        due = new >= min(max(self._computed_at, 1), self.refresh)
        if self._typical is None or due or self._computed_models != len(self._models):
            self._typical = typical_from_counts(dict(self._counts), len(self._models))
            self._computed_at, self._computed_models = self._observed, len(self._models)
        return self._typical
