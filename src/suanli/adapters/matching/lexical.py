"""BM25 over pre-tokenised documents (bm25s), with the edge cases bm25s leaves to callers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import bm25s
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


class Bm25Index:
    """Scores every document against a token list; also knows each term's rarity (IDF-like),
    which explanations use to show the most telling shared terms first."""

    def __init__(self, documents: Sequence[list[str]]) -> None:
        self.size = len(documents)
        self._retriever: bm25s.BM25 | None = None
        if self.size and any(documents):
            self._retriever = bm25s.BM25()
            self._retriever.index(list(documents), show_progress=False)
        frequencies: Counter[str] = Counter()
        for tokens in documents:
            frequencies.update(set(tokens))
        self._document_frequency = frequencies

    def scores(self, query_tokens: list[str]) -> FloatArray:
        """One score per document; zeros when nothing can match (bm25s raises on empty)."""
        if self._retriever is None or not query_tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(query_tokens), dtype=np.float32)

    def rarity(self, term: str) -> float:
        """log((N + 1) / (df + 1)): higher for terms that few documents share."""
        return float(np.log((self.size + 1) / (self._document_frequency.get(term, 0) + 1)))
