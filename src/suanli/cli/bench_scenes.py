"""`suanli bench scenes`: matching quality on the demo set (fused vs BM25-only, same run),
indexing time and embedding texts/s for N synthetic items, and query latency after indexing
(with the lexical-only ranker on the same index as the baseline).

Synthetic items recombine clauses of the demo capabilities, so their length and vocabulary
match real list items. Embedding dominates indexing and is CPU-bound: about 0.1 CPU-second per
item (~60 tokens), so ~20 texts/s with both cores of a 2-core machine free: 10,000 items took
460 s (22.0 texts/s) on an idle one. On a busy machine it is proportionally slower (8.3
texts/s, 20 minutes, measured at load average 5). `--quick` (1,000 items) or a smaller
`--items` keeps a run short. `--reuse-vectors` keeps the synthetic items' vectors on disk
(keyed by the hash of model and text, like the demo cache), so a rerun embeds nothing and only
the query latency is measured afresh; indexing then reports how many texts it really embedded.
Figures are printed, never asserted.
"""

from __future__ import annotations

import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from suanli.adapters.matching import (
    MatchEngine,
    Ranker,
    VectorCache,
    load_default_embedder,
)
from suanli.adapters.matching.embedding import Embedder
from suanli.cli.bench_scenes_stored import measure_stored, summarise_stored
from suanli.cli.common import (
    console,
    err_console,
    print_json,
    settings_from_env,
)
from suanli.cli.scenes import CACHE_FILE
from suanli.domain.scenes import Capability, MatchDirection, Opportunity
from suanli.i18n import t
from suanli.services.scenes_files import (
    evaluate_engine,
    load_capabilities,
    load_gold,
    load_opportunities,
)

NEW_TEXT_SAMPLES_MAX = 50  # embedding a never-seen query text, timed this many times at most
TOP_K = 10
SEED = 20_250_701  # synthetic data is the same on every run
GOAL_NDCG_GAIN_MIN = 0.10
GOAL_P95_MS_MAX = 50.0
GOAL_INDEX_S_MAX = 600.0
_CLAUSE = re.compile(r"[，。；]")


@dataclass(frozen=True)
class DemoQuality:
    fused_ndcg: float
    bm25_ndcg: float
    embedding_ndcg: float | None


@dataclass(frozen=True)
class IndexTiming:
    items: int
    seconds: float
    embedding_seconds: float
    texts_embedded: int


@dataclass(frozen=True)
class Latency:
    queries: int
    fused_ms: list[float]
    lexical_ms: list[float]
    new_text_embedding_ms: list[float]


def _demo_dir() -> Path:
    return Path(str(files("suanli") / "data" / "scenes"))


def _bar() -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    return Progress(*columns, TimeElapsedColumn(), console=err_console, transient=True)


def _progress_into(bar: Progress, description: str) -> Callable[[int, int], None]:
    task = bar.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update


def measure_demo_quality(embedder: Embedder | None, cache_path: Path | None) -> DemoQuality:
    """The same figures as `suanli scenes eval` on the bundled demo lists."""
    demo = _demo_dir()
    opportunities = load_opportunities(demo / "opportunities.csv").items
    capabilities = load_capabilities(demo / "capabilities.csv").items
    gold = load_gold(demo / "gold.csv", {o.id for o in opportunities}, {c.id for c in capabilities})
    cache = None
    if embedder is not None:
        cache = (
            VectorCache.load(cache_path, embedder.name)
            if cache_path
            else VectorCache(embedder.name)
        )
    engine = MatchEngine(embedder, cache=cache)
    with _bar() as bar:
        engine.index(
            opportunities, capabilities, _progress_into(bar, t("演示集向量化", "demo set"))
        )
    if cache is not None and cache_path is not None:
        cache.save(cache_path)
    metrics = evaluate_engine(engine, gold)
    fused, bm25, embedding = metrics["engine"], metrics["bm25"], metrics["embedding"]
    if fused is None or bm25 is None:
        raise RuntimeError("fused and BM25 metrics are always computed")
    return DemoQuality(
        fused.ndcg_at_10, bm25.ndcg_at_10, embedding.ndcg_at_10 if embedding else None
    )


def synthetic_capabilities(demo: Sequence[Capability], count: int) -> list[Capability]:
    """`count` distinct capabilities, each two clauses of one demo item plus one of another."""
    rng = random.Random(SEED)
    clauses = [[c for c in _CLAUSE.split(item.description) if c] or [item.title] for item in demo]
    items: list[Capability] = []
    for number in range(1, count + 1):
        base, other = number % len(demo), rng.randrange(len(demo))
        picked = rng.sample(clauses[base], k=min(2, len(clauses[base])))
        picked.append(rng.choice(clauses[other]))
        items.append(
            Capability(
                id=f"SYN-{number:06d}",
                title=f"{demo[base].title}（{demo[other].title[:8]}方案{number}）",
                description="，".join(picked) + "。",
                industry=demo[base].industry,
                tags=tuple(dict.fromkeys((*demo[base].tags, *demo[other].tags[:1]))),
                region=demo[other].region,
                org=demo[base].org,
            )
        )
    return items


CHECKPOINT_TEXTS = 1_000  # with --reuse-vectors, the cache file is written this often


def measure_indexing(
    engine: MatchEngine,
    opportunities: Sequence[Opportunity],
    items: Sequence[Capability],
    checkpoint: Callable[[], None] | None = None,
) -> IndexTiming:
    """Wall time of one index() call; embedding time from the first to the last batch.
    `checkpoint` (saving the vectors so far) runs every CHECKPOINT_TEXTS embedded texts, so
    an interrupted run on a busy machine keeps what it embedded."""
    marks: list[float] = []
    texts = [0]
    saved = [0]
    with _bar() as bar:
        show = _progress_into(bar, t(f"索引 {len(items)} 项", f"indexing {len(items)} items"))

        def progress(done: int, total: int) -> None:
            marks.append(time.perf_counter())
            texts[0] = total
            show(done, total)
            if checkpoint is not None and done - saved[0] >= CHECKPOINT_TEXTS:
                checkpoint()
                saved[0] = done

        start = time.perf_counter()
        engine.index(opportunities, items, progress)
        seconds = time.perf_counter() - start
    embedding_seconds = marks[-1] - marks[0] if len(marks) >= 2 else 0.0
    return IndexTiming(len(items), seconds, embedding_seconds, texts[0])


def _match_ms(engine: MatchEngine, query_id: str, ranker: Ranker) -> float:
    start = time.perf_counter()
    engine.match(MatchDirection.O2C, top_k=TOP_K, query_ids=[query_id], ranker=ranker)
    return (time.perf_counter() - start) * 1000.0


def _embed_ms(embedder: Embedder, text: str) -> float:
    start = time.perf_counter()
    embedder.embed([text])
    return (time.perf_counter() - start) * 1000.0


def measure_latency(
    engine: MatchEngine, opportunities: Sequence[Opportunity], queries: int
) -> Latency:
    """Per-query time to rank all indexed items (fused, then lexical-only on the same
    index), plus the time to embed a never-seen query text, the cost of an unindexed need."""
    ids = [opportunities[i % len(opportunities)].id for i in range(queries)]
    for query_id in ids[:3]:  # warm-up: first calls pay for lazy allocations
        _match_ms(engine, query_id, "fused")
    fused: list[float] = []
    lexical: list[float] = []
    with _bar() as bar:
        show = _progress_into(bar, t("查询", "queries"))
        for done, query_id in enumerate(ids, start=1):
            fused.append(_match_ms(engine, query_id, "fused"))
            lexical.append(_match_ms(engine, query_id, "lexical"))
            show(done, len(ids))
    new_text: list[float] = []
    if engine.embedder is not None:
        for number, item in enumerate(opportunities[:NEW_TEXT_SAMPLES_MAX]):
            text = f"{item.title}。{item.description}（{number}）"
            new_text.append(_embed_ms(engine.embedder, text))
    return Latency(queries, fused, lexical, new_text)


def _percentile(values: list[float], percent: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def summarise(
    mode: str, quality: DemoQuality, timing: IndexTiming, latency: Latency
) -> dict[str, Any]:
    p95, lexical_p95 = _percentile(latency.fused_ms, 95), _percentile(latency.lexical_ms, 95)
    texts_per_s = (
        timing.texts_embedded / timing.embedding_seconds if timing.embedding_seconds > 0 else None
    )
    return {
        "mode": mode,
        "demo": {
            "fused_ndcg@10": round(quality.fused_ndcg, 4),
            "bm25_ndcg@10": round(quality.bm25_ndcg, 4),
            "embedding_ndcg@10": None
            if quality.embedding_ndcg is None
            else round(quality.embedding_ndcg, 4),
            "difference": round(quality.fused_ndcg - quality.bm25_ndcg, 4),
            "goal_difference_min": GOAL_NDCG_GAIN_MIN,
        },
        "indexing": {
            "items": timing.items,
            "seconds": round(timing.seconds, 2),
            "embedding_seconds": round(timing.embedding_seconds, 2),
            "texts_embedded": timing.texts_embedded,
            "texts_per_s": None if texts_per_s is None else round(texts_per_s, 2),
            "goal_seconds_max": GOAL_INDEX_S_MAX,
        },
        "query": {
            "queries": latency.queries,
            "top_k": TOP_K,
            "p50_ms": round(_percentile(latency.fused_ms, 50), 3),
            "p95_ms": round(p95, 3),
            "max_ms": round(max(latency.fused_ms, default=0.0), 3),
            "lexical_only_p50_ms": round(_percentile(latency.lexical_ms, 50), 3),
            "lexical_only_p95_ms": round(lexical_p95, 3),
            "ratio_p95_fused_vs_lexical": round(p95 / lexical_p95, 2) if lexical_p95 > 0 else None,
            "new_text_embedding_p50_ms": round(_percentile(latency.new_text_embedding_ms, 50), 2),
            "goal_p95_ms_max": GOAL_P95_MS_MAX,
        },
    }


SYNTHETIC_CACHE_FILE = Path("cache") / "bench-scene-vectors.npz"


def run_benchmark(
    items: int, queries: int, cache_path: Path | None, synthetic_cache_path: Path | None = None
) -> dict[str, Any]:
    embedder, warning = load_default_embedder()
    if warning:
        err_console.print(f"[yellow]{t('警告', 'warning')}:[/yellow] {warning}")
    quality = measure_demo_quality(embedder, cache_path)
    demo = _demo_dir()
    opportunities = load_opportunities(demo / "opportunities.csv").items
    synthetic = synthetic_capabilities(load_capabilities(demo / "capabilities.csv").items, items)
    # by default a fresh in-memory cache: every synthetic text is really embedded and timed;
    # with a cache file, only the texts it lacks are embedded (and the file is kept)
    cache = None
    if embedder is not None:
        cache = (
            VectorCache.load(synthetic_cache_path, embedder.name)
            if synthetic_cache_path is not None
            else VectorCache(embedder.name)
        )
    engine = MatchEngine(embedder, cache=cache)
    save = None
    if cache is not None and synthetic_cache_path is not None:
        kept, path = cache, synthetic_cache_path

        def save() -> None:
            kept.save(path)

    timing = measure_indexing(engine, opportunities, synthetic, save)
    if save is not None:
        save()
    latency = measure_latency(engine, opportunities, queries)
    result = summarise(engine.mode, quality, timing, latency)
    with err_console.status(t("经 API 路径匹配已存储的清单…", "matching stored lists (API path)…")):
        stored = measure_stored(engine.embedder, engine.cache, opportunities, synthetic, queries)
    result["stored"] = summarise_stored(stored)
    return result


def run_command(
    items: int, queries: int, no_cache: bool, reuse_vectors: bool, json_output: bool
) -> None:
    """`suanli bench scenes` (its options are in cli/bench.py)."""
    data_dir = settings_from_env().data_dir
    cache_path = None if no_cache else data_dir / CACHE_FILE
    synthetic_cache = data_dir / SYNTHETIC_CACHE_FILE if reuse_vectors else None
    result = run_benchmark(items, queries, cache_path, synthetic_cache)
    if json_output:
        print_json(result)
        return
    console.print(_result_table(result))


def _goal(met: bool) -> str:
    return t("达成", "met") if met else t("未达成", "not met")


def _result_table(result: dict[str, Any]) -> Table:
    demo, index, query = result["demo"], result["indexing"], result["query"]
    table = Table(
        title=t(
            f"场景匹配基准（模式：{result['mode']}）",
            f"Scene matching benchmark (mode: {result['mode']})",
        )
    )
    for header in (t("指标", "figure"), t("数值", "value"), t("目标", "goal")):
        table.add_column(header)
    table.add_row(
        t("演示集 nDCG@10 融合 / BM25", "demo nDCG@10 fused / BM25"),
        f"{demo['fused_ndcg@10']:.4f} / {demo['bm25_ndcg@10']:.4f}",
        "",
    )
    table.add_row(
        t("差值", "difference"),
        f"{demo['difference']:+.4f}",
        f">= {GOAL_NDCG_GAIN_MIN} {_goal(demo['difference'] >= GOAL_NDCG_GAIN_MIN)}",
    )
    table.add_row(
        t(f"索引 {index['items']} 项（秒）", f"indexing {index['items']} items (s)"),
        f"{index['seconds']:.1f}",
        f"<= {GOAL_INDEX_S_MAX:.0f} {_goal(index['seconds'] <= GOAL_INDEX_S_MAX)}",
    )
    table.add_row(t("向量化速度（条/秒）", "embedding (texts/s)"), str(index["texts_per_s"]), "")
    table.add_row(
        t("查询 p50 / p95（毫秒）", "query p50 / p95 (ms)"),
        f"{query['p50_ms']:.2f} / {query['p95_ms']:.2f}",
        f"p95 <= {GOAL_P95_MS_MAX:.0f} {_goal(query['p95_ms'] <= GOAL_P95_MS_MAX)}",
    )
    table.add_row(
        t("仅词法 p50 / p95（毫秒）", "lexical-only p50 / p95 (ms)"),
        f"{query['lexical_only_p50_ms']:.2f} / {query['lexical_only_p95_ms']:.2f}",
        "",
    )
    table.add_row(
        t("新文本向量化 p50（毫秒）", "new-text embedding p50 (ms)"),
        f"{query['new_text_embedding_p50_ms']:.1f}",
        "",
    )
    stored = result["stored"]
    table.add_row(
        t("API 路径：首次 / 之后 p50 / p95（毫秒）", "API path: first / then p50 / p95 (ms)"),
        f"{stored['cold_ms']:.0f} / {stored['warm_p50_ms']:.1f} / {stored['warm_p95_ms']:.1f}",
        "",
    )
    return table
