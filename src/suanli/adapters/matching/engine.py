"""The matcher: both lists indexed once (BM25 per field + vectors), then ranked in either
direction by the learned fusion (a linear ranker over per-pair features, calibrated: the
score is the probability that the candidate is relevant), with an explanation per candidate.
The earlier reciprocal-rank fusion stays available as the `rrf` ranker, for comparison.

Without an embedder (model absent, or it failed) the engine still works on lexical matching
plus the industry, tag and region signals; `mode` says "lexical-only" and `warning` says why.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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
from suanli.adapters.matching.industry import load_taxonomy
from suanli.adapters.matching.learned import (
    ALL_FEATURES,
    LEXICAL_FEATURES,
    ROCCHIO_ALPHA,
    FusedModel,
    LinearRanker,
    PairSignals,
    RankerModels,
    TrainingQuery,
    TwoStageRanker,
    feature_matrix,
    shipped_models,
)
from suanli.adapters.matching.lexical import Bm25Index
from suanli.adapters.matching.tokenizer import tokenize
from suanli.domain.industry import SAME_CODE, SAME_SECTION
from suanli.domain.scenes import TOP_K_MAX, MatchDirection
from suanli.errors import InvalidInput, LimitExceeded, NotFound
from suanli.i18n import msg, t

Ranker = Literal["fused", "rrf", "lexical", "semantic"]
Mode = Literal["fused", "lexical-only"]
RANKERS: tuple[Ranker, ...] = ("fused", "rrf", "lexical", "semantic")
ITEMS_PER_SIDE_MAX = 100_000
WHY_TERMS_MAX = 5
HUB_NEIGHBOURS = 10  # CSLS's usual k: a candidate's hubness is its mean cosine with this many
HUB_CHUNK_ROWS = 1_024  # rows of similarities held at once while computing hubness
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
    score: float  # fused: calibrated probability of relevance; baselines: their own score
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
        # field-wise indexes: title against title, need against technique, text against tags
        self.title_tokens = [tokenize(item.title) for item in items]
        self.description_tokens = [tokenize(item.description) for item in items]
        self.title_bm25 = Bm25Index(self.title_tokens)
        self.description_bm25 = Bm25Index(self.description_tokens)
        self.tags_bm25 = Bm25Index([tokenize(" ".join(item.tags)) for item in items])
        self.tag_sets = [frozenset(tag.casefold() for tag in item.tags) for item in items]
        taxonomy = load_taxonomy()
        codes = [taxonomy.code_of(item.industry) for item in items]
        self.industry_codes = np.array([code or "" for code in codes], dtype=np.str_)
        self.industry_sections = np.array(
            [taxonomy.section_of(code) if code else "" for code in codes], dtype=np.str_
        )
        self.regions = np.array([region_key(item.region) for item in items], dtype=np.str_)
        self.vectors: FloatMatrix | None = None
        self._hub_lock = threading.Lock()
        self._hub: tuple[weakref.ref[IndexedList], npt.NDArray[np.float64]] | None = None
        self._tag_postings: dict[str, list[int]] = {}
        for index, tags in enumerate(self.tag_sets):
            for tag in tags:
                self._tag_postings.setdefault(tag, []).append(index)

    def industry_proximity(self, code: str, section: str) -> npt.NDArray[np.float64]:
        """Per item: 1 same code, 0.5 same section, 0 otherwise; 0 when either is unknown."""
        if not code:
            return np.zeros(len(self.items), dtype=np.float64)
        same_code = self.industry_codes == code
        same_section = self.industry_sections == section
        return np.where(same_code, SAME_CODE, np.where(same_section, SAME_SECTION, 0.0))

    def hubness_against(self, other: IndexedList) -> npt.NDArray[np.float64] | None:
        """Per item: mean cosine with its HUB_NEIGHBOURS nearest items of `other` (the list
        its queries come from); None without vectors. Kept for the last `other` seen, so a
        reused index pays for it once per version of the other list."""
        if self.vectors is None or other.vectors is None:
            return None
        with self._hub_lock:
            if self._hub is not None and self._hub[0]() is other:
                return self._hub[1]
            value = hubness(self.vectors, other.vectors)
            self._hub = (weakref.ref(other), value)
            return value

    def tag_overlap(self, tags: frozenset[str]) -> npt.NDArray[np.float64]:
        overlap = np.zeros(len(self.items), dtype=np.float64)
        for tag in tags:
            overlap[self._tag_postings.get(tag, [])] += 1.0
        return overlap


def hubness(vectors: FloatMatrix, others: FloatMatrix) -> npt.NDArray[np.float64]:
    """Per row of `vectors`: the mean of its HUB_NEIGHBOURS largest cosines with `others`
    (0 when `others` is empty), computed in chunks so 10,000 x 10,000 stays small."""
    found = np.zeros(len(vectors), dtype=np.float64)
    if not len(others) or not len(vectors):
        return found
    k = min(HUB_NEIGHBOURS, len(others))
    for start in range(0, len(vectors), HUB_CHUNK_ROWS):
        similarities = vectors[start : start + HUB_CHUNK_ROWS] @ others.T
        nearest = np.partition(similarities, len(others) - k, axis=1)[:, len(others) - k :]
        found[start : start + len(similarities)] = nearest.mean(axis=1)
    return found


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
        models: RankerModels | None = None,
        warning: str | None = None,
    ) -> None:
        self.embedder = embedder
        self.cache = cache
        self.weights = weights or FusionWeights()
        self.models = models if models is not None else shipped_models()  # None: not trained
        self.override: FusedModel | None = None  # set while cross-validating
        self.warning = warning
        self._sides: dict[str, IndexedList] = {}
        # for each side, the list its items are matched from (their hubness is measured
        # against it): the other side, unless `use` names the whole list a query came from
        self._hub_references: dict[str, IndexedList] = {}

    @property
    def mode(self) -> Mode:
        return "fused" if self.embedder is not None else "lexical-only"

    @property
    def ranker_model(self) -> FusedModel | None:
        """The learned ranker in use: an override (cross-validation), else the shipped one
        for this mode; None before any was trained (the fused ranker is then RRF)."""
        if self.override is not None:
            return self.override
        return self.models.for_mode(self.embedder is not None) if self.models else None

    @property
    def feature_names(self) -> tuple[str, ...]:
        return ALL_FEATURES if self.embedder is not None else LEXICAL_FEATURES

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
        self._hub_references = {}
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

    def use(
        self,
        opportunities: IndexedList,
        capabilities: IndexedList,
        hub_references: Mapping[str, IndexedList] | None = None,
    ) -> None:
        """Match over lists indexed earlier with this engine's embedder. When one side holds
        only the query, `hub_references` names the whole list it came from (by side name),
        so the other side's hubness is measured against that list, not one item."""
        self._sides = {"opportunities": opportunities, "capabilities": capabilities}
        self._hub_references = dict(hub_references or {})

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

    def _hub_reference(self, queries: IndexedList) -> IndexedList:
        for name, side in self._sides.items():
            if side is queries:
                return self._hub_references.get(name, queries)
        return queries

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
        query = self._position(queries, query_id)
        signals = self.signals(queries, candidates, query)
        scores = self._ranker_scores(ranker, queries, candidates, query, signals)
        semantic_ranks = ranks(signals.semantic) if signals.semantic is not None else None
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

    @staticmethod
    def _position(queries: IndexedList, query_id: str) -> int:
        query = queries.position.get(query_id)
        if query is None:
            raise NotFound(
                msg(f"没有编号为 {query_id!r} 的条目", f"no item with id {query_id!r}"), field="id"
            )
        return query

    def signals(self, queries: IndexedList, candidates: IndexedList, query: int) -> PairSignals:
        """Every raw signal of one query against all candidates."""
        text = queries.tokens[query]
        semantic = self._semantic_scores(queries, candidates, query)
        return PairSignals(
            bm25=candidates.bm25.scores(text).astype(np.float64),
            title_title=candidates.title_bm25.scores(queries.title_tokens[query]).astype(
                np.float64
            ),
            need_technique=candidates.description_bm25.scores(
                queries.description_tokens[query]
            ).astype(np.float64),
            text_tags=candidates.tags_bm25.scores(text).astype(np.float64),
            tag_overlap=candidates.tag_overlap(queries.tag_sets[query]),
            industry=candidates.industry_proximity(
                str(queries.industry_codes[query]), str(queries.industry_sections[query])
            ),
            region_same=self._same_region(queries, candidates, query).astype(np.float64),
            semantic=semantic,
            hubness=None
            if semantic is None
            else candidates.hubness_against(self._hub_reference(queries)),
        )

    @staticmethod
    def _same_region(
        queries: IndexedList, candidates: IndexedList, query: int
    ) -> npt.NDArray[np.bool_]:
        region = queries.regions[query]
        return np.asarray((candidates.regions == region) & (region != ""), dtype=np.bool_)

    def training_query(
        self,
        direction: MatchDirection,
        query_id: str,
        grades: dict[str, int],
        first_stage: LinearRanker | None = None,
    ) -> TrainingQuery:
        """Features of one query over all candidates with their gold grades, for training.
        The ranker's feature set follows the mode: with or without the semantic ones. With
        `first_stage`, the features a second stage ranks on (`feedback_signals`)."""
        queries, candidates = self._sides_for(direction)
        query = self._position(queries, query_id)
        signals = self.signals(queries, candidates, query)
        if first_stage is not None:
            signals = self.feedback_signals(first_stage, queries, candidates, query, signals)
        matrix = feature_matrix(signals, self.feature_names)
        labels = np.array([grades.get(item_id, 0) for item_id in candidates.ids], dtype=np.int64)
        return TrainingQuery(matrix, labels)

    def feedback_signals(
        self,
        first_stage: LinearRanker,
        queries: IndexedList,
        candidates: IndexedList,
        query: int,
        signals: PairSignals,
    ) -> PairSignals:
        """The signals with the cosine taken from the query's vector moved towards its best
        candidate by `first_stage` (Rocchio from the top 1: v + ROCCHIO_ALPHA x c, then
        re-normalised); CSLS follows, the candidates' hubness unchanged."""
        if (
            signals.semantic is None
            or queries.vectors is None
            or candidates.vectors is None
            or not len(candidates.ids)
        ):
            return signals
        first = first_stage.raw(feature_matrix(signals, first_stage.features))
        top = int(np.argmax(first))
        moved = queries.vectors[query].astype(np.float64) + ROCCHIO_ALPHA * candidates.vectors[
            top
        ].astype(np.float64)
        norm = float(np.linalg.norm(moved))
        direction = (moved / norm if norm > 0 else moved).astype(candidates.vectors.dtype)
        # einsum, as in _semantic_scores (no BLAS threads)
        semantic = np.einsum("ij,j->i", candidates.vectors, direction).astype(np.float64)
        return replace(signals, semantic=semantic)

    def learned_raw(
        self,
        model: FusedModel,
        queries: IndexedList,
        candidates: IndexedList,
        query: int,
        signals: PairSignals,
    ) -> npt.NDArray[np.float64]:
        """The learned ranker's uncalibrated scores: with two stages, the second stage's on
        the feedback signals of the first. The one path for matching, eval and training."""
        if isinstance(model, TwoStageRanker):
            signals = self.feedback_signals(model.first, queries, candidates, query, signals)
            model = model.second
        return model.raw(feature_matrix(signals, model.features))

    def raw_scores(
        self, direction: MatchDirection, query_id: str, model: FusedModel
    ) -> npt.NDArray[np.float64]:
        """`model`'s uncalibrated scores of one query over all candidates (for calibration)."""
        queries, candidates = self._sides_for(direction)
        query = self._position(queries, query_id)
        signals = self.signals(queries, candidates, query)
        return self.learned_raw(model, queries, candidates, query, signals)

    def _semantic_scores(
        self, queries: IndexedList, candidates: IndexedList, query: int
    ) -> npt.NDArray[np.float64] | None:
        if queries.vectors is None or candidates.vectors is None or self.embedder is None:
            return None
        # einsum, not `@`: a matrix-vector product goes to multi-threaded BLAS, whose threads
        # spin after each call; on a shared 2-core machine that tripled a query's CPU time
        scores = np.einsum("ij,j->i", candidates.vectors, queries.vectors[query])
        return scores.astype(np.float64)

    def _ranker_scores(
        self,
        ranker: Ranker,
        queries: IndexedList,
        candidates: IndexedList,
        query: int,
        signals: PairSignals,
    ) -> npt.NDArray[np.float64]:
        if ranker == "lexical":
            return signals.bm25
        if ranker == "semantic" and signals.semantic is not None:
            return signals.semantic
        model = self.ranker_model
        if ranker == "fused" and model is not None:
            raw = self.learned_raw(model, queries, candidates, query, signals)
            return model.probability(raw)
        return fuse(
            self.weights,
            lexical=signals.bm25,
            semantic=signals.semantic,
            tag_overlap=signals.tag_overlap,
            same_industry=signals.industry >= SAME_CODE,
            same_region=signals.region_same > 0,
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
    industry = _industry_part(queries, query, candidates, candidate)
    if industry:
        parts.append(industry)
    region = str(queries.regions[query])
    if region and region == candidates.regions[candidate]:
        parts.append(t(f"同地区：{region}", f"same region: {region}"))
    return t("；", "; ").join(parts)


def _industry_part(
    queries: IndexedList, query: int, candidates: IndexedList, candidate: int
) -> str:
    """Same code ("same industry: C 制造业"), else same section, else nothing."""
    taxonomy = load_taxonomy()
    code, other = str(queries.industry_codes[query]), str(candidates.industry_codes[candidate])
    if not code or not other:
        return ""
    if code == other:
        return t(
            f"同行业：{taxonomy.describe(code)}",
            f"same industry: {taxonomy.describe(code, english=True)}",
        )
    section = str(queries.industry_sections[query])
    if section == candidates.industry_sections[candidate]:
        return t(
            f"同门类：{taxonomy.describe(section)}",
            f"same section: {taxonomy.describe(section, english=True)}",
        )
    return ""


def _semantic_part(semantic_ranks: npt.NDArray[np.int64] | None, candidate: int) -> str:
    if semantic_ranks is None:
        return t("语义排名：不可用（仅词法匹配）", "semantic rank: n/a (lexical only)")
    rank, total = int(semantic_ranks[candidate]), len(semantic_ranks)
    return t(f"语义排名：第{rank}/{total}", f"semantic rank: {rank} of {total}")
