"""The matcher: both lists indexed once (BM25 + vectors), then ranked in either direction
with reciprocal-rank fusion and an explanation per candidate.

Without an embedder (model absent, or it failed) the engine still works on lexical matching
plus the industry, tag and region signals; `mode` says "lexical-only" and `warning` says why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from suanli.adapters.matching.embedding import (
    Embedder,
    FloatMatrix,
    ProgressCallback,
    VectorCache,
    embed_with_cache,
)
from suanli.adapters.matching.fusion import FusionWeights, fuse, ranks, top_indices
from suanli.adapters.matching.lexical import Bm25Index
from suanli.adapters.matching.tokenizer import tokenize
from suanli.domain.scenes import INDUSTRY_OTHER, MatchDirection
from suanli.errors import InvalidInput, LimitExceeded, NotFound
from suanli.i18n import msg, t

Ranker = Literal["fused", "lexical", "semantic"]
Mode = Literal["fused", "lexical-only"]
RANKERS: tuple[Ranker, ...] = ("fused", "lexical", "semantic")
ITEMS_PER_SIDE_MAX = 100_000
TOP_K_MAX = 1_000
WHY_TERMS_MAX = 5
_CITY = re.compile(r"^(.+?[市州盟])")


class Matchable(Protocol):
    """The fields the matcher reads (Opportunity and Capability both have them)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def industry(self) -> str: ...
    @property
    def tags(self) -> tuple[str, ...]: ...
    @property
    def region(self) -> str: ...


@dataclass(frozen=True)
class Candidate:
    id: str
    score: float  # fused score scaled to [0, 1]; for a baseline ranker, that ranker's score
    why: str


@dataclass(frozen=True)
class Match:
    id: str
    candidates: tuple[Candidate, ...]  # best first


def lexical_text(item: Matchable) -> str:
    """Title, description and tags: tags are often the only place a key term appears."""
    return " ".join((item.title, item.description, " ".join(item.tags)))


def semantic_text(item: Matchable) -> str:
    return f"{item.title}。{item.description}" if item.description else item.title


def region_key(region: str) -> str:
    """Two items are in the same region when they share the city (杭州市西湖区 ~ 杭州市)."""
    cleaned = region.strip()
    found = _CITY.match(cleaned)
    return found.group(1) if found else cleaned


class IndexedList:
    """One list, indexed: tokens and BM25, tags, industry and region codes, vectors. It can be
    kept and reused (`MatchEngine.use`) for as long as the list does not change."""

    def __init__(self, items: Sequence[Matchable]) -> None:
        if len(items) > ITEMS_PER_SIDE_MAX:
            raise LimitExceeded(
                msg(
                    f"每个列表最多 {ITEMS_PER_SIDE_MAX} 项",
                    f"at most {ITEMS_PER_SIDE_MAX} items per list",
                ),
                field="items",
            )
        self.items = list(items)
        self.ids = [item.id for item in items]
        self.position = {item_id: index for index, item_id in enumerate(self.ids)}
        if len(self.position) != len(self.ids):
            raise InvalidInput(
                msg("同一列表内的编号不能重复", "item ids must be unique within a list"), field="id"
            )
        self.tokens = [tokenize(lexical_text(item)) for item in items]
        self.bm25 = Bm25Index(self.tokens)
        self.tag_sets = [frozenset(tag.casefold() for tag in item.tags) for item in items]
        self.industries = np.array([item.industry for item in items], dtype=np.str_)
        self.regions = np.array([region_key(item.region) for item in items], dtype=np.str_)
        self.vectors: FloatMatrix | None = None
        self._tag_postings: dict[str, list[int]] = {}
        for index, tags in enumerate(self.tag_sets):
            for tag in tags:
                self._tag_postings.setdefault(tag, []).append(index)

    def tag_overlap(self, tags: frozenset[str]) -> npt.NDArray[np.float64]:
        overlap = np.zeros(len(self.items), dtype=np.float64)
        for tag in tags:
            overlap[self._tag_postings.get(tag, [])] += 1.0
        return overlap


def _normalised(vectors: FloatMatrix) -> FloatMatrix:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class MatchEngine:
    """Index two lists once, then `match` in either direction, as often as needed."""

    def __init__(
        self,
        embedder: Embedder | None,
        *,
        cache: VectorCache | None = None,
        weights: FusionWeights | None = None,
        warning: str | None = None,
    ) -> None:
        self.embedder = embedder
        self.cache = cache
        self.weights = weights or FusionWeights()
        self.warning = warning
        self._sides: dict[str, IndexedList] = {}

    @property
    def mode(self) -> Mode:
        return "fused" if self.embedder is not None else "lexical-only"

    def index(
        self,
        opportunities: Sequence[Matchable],
        capabilities: Sequence[Matchable],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Tokenises and embeds both lists (cached vectors are reused, never recomputed)."""
        self._sides = {
            "opportunities": IndexedList(opportunities),
            "capabilities": IndexedList(capabilities),
        }
        if self.embedder is not None:
            self._embed_sides(self.embedder, list(self._sides.values()), self.cache, progress)

    def index_list(
        self, items: Sequence[Matchable], cache: VectorCache | None = None
    ) -> IndexedList:
        """One list indexed on its own, to keep and `use` while the list does not change."""
        side = IndexedList(items)
        if self.embedder is not None:
            self._embed_sides(self.embedder, [side], cache, None)
        return side

    def use(self, opportunities: IndexedList, capabilities: IndexedList) -> None:
        """Match over lists indexed earlier with this engine's embedder."""
        self._sides = {"opportunities": opportunities, "capabilities": capabilities}

    def _embed_sides(
        self,
        embedder: Embedder,
        sides: list[IndexedList],
        cache: VectorCache | None,
        progress: ProgressCallback | None,
    ) -> None:
        texts = [semantic_text(item) for side in sides for item in side.items]
        try:
            vectors = _normalised(embed_with_cache(embedder, texts, cache, progress))
        except Exception as error:  # a plug-in model may fail in any way; lexical still works
            self._fall_back(error)
            return
        start = 0
        for side in sides:
            side.vectors = vectors[start : start + len(side.items)]
            start += len(side.items)

    def _fall_back(self, error: Exception) -> None:
        self.embedder = None
        self.warning = t(
            f"语义模型运行失败（{error}），仅使用词法匹配",
            f"semantic model failed ({error}); using lexical matching only",
        )

    def _sides_for(self, direction: MatchDirection) -> tuple[IndexedList, IndexedList]:
        if not self._sides:
            raise InvalidInput(
                msg("请先为列表建立索引再匹配", "index the lists before matching"), field="index"
            )
        if direction is MatchDirection.O2C:
            return self._sides["opportunities"], self._sides["capabilities"]
        return self._sides["capabilities"], self._sides["opportunities"]

    def match(
        self,
        direction: MatchDirection,
        *,
        top_k: int | None = 10,
        query_ids: Sequence[str] | None = None,
        ranker: Ranker = "fused",
    ) -> list[Match]:
        """For each query item (all by default), its top_k candidates (all if None)."""
        queries, candidates = self._sides_for(direction)
        if ranker == "semantic" and self.embedder is None:
            raise InvalidInput(
                msg("语义排序需要向量模型", "semantic ranking needs an embedder"), field="ranker"
            )
        if top_k is not None and not 1 <= top_k <= TOP_K_MAX:
            raise InvalidInput(
                msg(
                    f"`top_k` 须在 1 至 {TOP_K_MAX} 之间",
                    f"top_k must be between 1 and {TOP_K_MAX}",
                ),
                field="top_k",
            )
        count = len(candidates.ids) if top_k is None else min(top_k, len(candidates.ids))
        selected = queries.ids if query_ids is None else list(query_ids)
        return [self._match_one(queries, candidates, qid, count, ranker) for qid in selected]

    def _match_one(
        self,
        queries: IndexedList,
        candidates: IndexedList,
        query_id: str,
        count: int,
        ranker: Ranker,
    ) -> Match:
        query = queries.position.get(query_id)
        if query is None:
            raise NotFound(
                msg(f"没有编号为 {query_id!r} 的条目", f"no item with id {query_id!r}"), field="id"
            )
        lexical = candidates.bm25.scores(queries.tokens[query]).astype(np.float64)
        semantic = self._semantic_scores(queries, candidates, query)
        scores = self._ranker_scores(ranker, queries, candidates, query, lexical, semantic)
        semantic_ranks = ranks(semantic) if semantic is not None else None
        chosen = top_indices(scores, candidates.ids, count)
        explained = tuple(
            Candidate(
                candidates.ids[index],
                round(float(scores[index]), 4),
                _explain(queries, query, candidates, index, semantic_ranks),
            )
            for index in chosen
        )
        return Match(query_id, explained)

    def _semantic_scores(
        self, queries: IndexedList, candidates: IndexedList, query: int
    ) -> npt.NDArray[np.float64] | None:
        if queries.vectors is None or candidates.vectors is None or self.embedder is None:
            return None
        return (candidates.vectors @ queries.vectors[query]).astype(np.float64)

    def _ranker_scores(
        self,
        ranker: Ranker,
        queries: IndexedList,
        candidates: IndexedList,
        query: int,
        lexical: npt.NDArray[np.float64],
        semantic: npt.NDArray[np.float64] | None,
    ) -> npt.NDArray[np.float64]:
        if ranker == "lexical":
            return lexical
        if ranker == "semantic" and semantic is not None:
            return semantic
        industry = queries.industries[query]
        region = queries.regions[query]
        return fuse(
            self.weights,
            lexical=lexical,
            semantic=semantic,
            tag_overlap=candidates.tag_overlap(queries.tag_sets[query]),
            same_industry=(candidates.industries == industry) & (industry != INDUSTRY_OTHER),
            same_region=(candidates.regions == region) & (region != ""),
        )


def _explain(
    queries: IndexedList,
    query: int,
    candidates: IndexedList,
    candidate: int,
    semantic_ranks: npt.NDArray[np.int64] | None,
) -> str:
    """Shared key terms (rarest first), shared tags, semantic rank, same industry/region."""
    shared = set(queries.tokens[query]) & set(candidates.tokens[candidate])
    telling = [term for term in shared if len(term) >= 2]
    telling.sort(key=lambda term: (-candidates.bm25.rarity(term), term))
    tags = sorted(queries.tag_sets[query] & candidates.tag_sets[candidate])
    none = t("无", "none")
    separator = t("、", ", ")
    parts = [
        t("共同关键词：", "shared terms: ") + (separator.join(telling[:WHY_TERMS_MAX]) or none),
        t("标签重合：", "tag overlap: ") + (separator.join(tags) or none),
        _semantic_part(semantic_ranks, candidate),
    ]
    industry = str(queries.industries[query])
    if industry == candidates.industries[candidate] and industry != INDUSTRY_OTHER:
        parts.append(t(f"同行业：{industry}", f"same industry: {industry}"))
    region = str(queries.regions[query])
    if region and region == candidates.regions[candidate]:
        parts.append(t(f"同地区：{region}", f"same region: {region}"))
    return t("；", "; ").join(parts)


def _semantic_part(semantic_ranks: npt.NDArray[np.int64] | None, candidate: int) -> str:
    if semantic_ranks is None:
        return t("语义排名：不可用（仅词法匹配）", "semantic rank: n/a (lexical only)")
    rank, total = int(semantic_ranks[candidate]), len(semantic_ranks)
    return t(f"语义排名：第{rank}/{total}", f"semantic rank: {rank} of {total}")
