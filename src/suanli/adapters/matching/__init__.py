"""Matching opportunities with capabilities: rjieba + BM25, embeddings, rank fusion."""

from suanli.adapters.matching.embedding import (
    E5Embedder,
    Embedder,
    VectorCache,
    embed_with_cache,
    load_default_embedder,
)
from suanli.adapters.matching.engine import (
    RANKERS,
    Candidate,
    IndexedList,
    Match,
    Matchable,
    MatchEngine,
    Mode,
    Ranker,
)
from suanli.adapters.matching.fusion import FusionWeights
from suanli.adapters.matching.metrics import RankingMetrics, evaluate_rankings
from suanli.adapters.matching.tokenizer import tokenize

__all__ = [
    "RANKERS",
    "Candidate",
    "E5Embedder",
    "Embedder",
    "FusionWeights",
    "IndexedList",
    "Match",
    "MatchEngine",
    "Matchable",
    "Mode",
    "Ranker",
    "RankingMetrics",
    "VectorCache",
    "embed_with_cache",
    "evaluate_rankings",
    "load_default_embedder",
    "tokenize",
]
