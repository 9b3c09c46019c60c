"""The stored-list part of `suanli bench scenes`: the API's match path (`match_stored`) over the
same synthetic items, imported into a throwaway SQLite database.

The first request after start-up reads the open items and indexes them (cold); later requests
reuse that index while the items are unchanged (warm). Vectors come from the benchmark's own
cache, so this part embeds nothing it has not already timed.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from suanli.adapters.db.database import Database
from suanli.adapters.db.migrate import upgrade
from suanli.adapters.matching import Embedder, VectorCache, embed_with_cache
from suanli.adapters.matching.embedding import FloatMatrix
from suanli.domain.scenes import Capability, Opportunity, SceneItem
from suanli.services import scenes, scenes_files
from suanli.services.common import Principal, SystemClock
from suanli.services.organisations import create_organisation

IMPORT_CHUNK = 5_000  # rows per import, the API's own limit (scenes.IMPORT_ROWS_MAX)
TOP_K = 10


class CacheFirstEmbedder:
    """The benchmark's embedder, answering from the vectors the benchmark already computed."""

    def __init__(self, inner: Embedder, cache: VectorCache) -> None:
        self.inner, self.cache = inner, cache

    @property
    def name(self) -> str:
        return self.inner.name

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        return embed_with_cache(self.inner, texts, self.cache)


@dataclass(frozen=True)
class StoredLatency:
    items: int
    cold_ms: float  # first request: read the open items, index them, store their vectors
    warm_ms: list[float]  # later requests, index reused


def _import(db: Database, kind: scenes_files.ItemKind, items: Sequence[SceneItem]) -> None:
    clock = SystemClock()
    with db.session() as session:
        org_kind = "agency" if kind == "opportunities" else "enterprise"
        org = create_organisation(session, clock, name=f"bench-{kind}", kind=org_kind)
        caller = Principal(user_id="bench", org_id=org.id, org_kind=org_kind)
    with tempfile.TemporaryDirectory(prefix="suanli-bench-") as folder:
        for start in range(0, len(items), IMPORT_CHUNK):
            path = Path(folder) / f"{kind}-{start}.csv"
            scenes_files.write_items(path, items[start : start + IMPORT_CHUNK])
            with db.session() as session:
                upload = (path.name, path.read_bytes())
                scenes.import_items(session, clock, caller, kind, upload)


def _match_ms(db: Database, matcher: scenes.SceneMatcher, opportunity_id: str) -> float:
    start = time.perf_counter()
    with db.session() as session:
        scenes.match_stored(session, matcher, "opportunities", opportunity_id, top_k=TOP_K)
    return (time.perf_counter() - start) * 1000.0


def measure_stored(
    embedder: Embedder | None,
    cache: VectorCache | None,
    opportunities: Sequence[Opportunity],
    capabilities: Sequence[Capability],
    queries: int,
) -> StoredLatency:
    """Imports both lists, then times match requests as the API serves them."""
    if embedder is not None and cache is not None:
        model: Embedder | None = CacheFirstEmbedder(embedder, cache)
        matcher = scenes.SceneMatcher(lambda: (model, None))
    else:
        matcher = scenes.lexical_only_matcher()
    with tempfile.TemporaryDirectory(prefix="suanli-bench-db-") as folder:
        url = f"sqlite:///{folder}/bench.db"
        upgrade(url)
        db = Database(url)
        try:
            _import(db, "opportunities", opportunities)
            _import(db, "capabilities", capabilities)
            ids = [opportunities[i % len(opportunities)].id for i in range(queries)]
            cold = _match_ms(db, matcher, ids[0])
            warm = [_match_ms(db, matcher, query_id) for query_id in ids]
        finally:
            db.dispose()
    return StoredLatency(len(capabilities), cold, warm)


def summarise_stored(latency: StoredLatency) -> dict[str, float | int]:
    warm = sorted(latency.warm_ms)
    p95 = statistics.quantiles(warm, n=100, method="inclusive")[94] if len(warm) > 1 else warm[0]
    return {
        "items": latency.items,
        "requests": len(warm),
        "cold_ms": round(latency.cold_ms, 1),
        "warm_p50_ms": round(statistics.median(warm), 3),
        "warm_p95_ms": round(p95, 3),
    }
