"""The learned fusion: a linear ranker over per-pair features, trained pairwise (RankNet with
a linear scorer) and calibrated with Platt scaling on out-of-fold scores.

Features are made comparable across lists: each similarity is also given relative to the
best candidate of the same query (divided by the maximum, or as a z-score), so a weight
learned on one list means the same on another, and so does a calibrated 0.8. Pure NumPy,
deterministic for a given seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from suanli.errors import InvalidInput
from suanli.i18n import msg

FloatArray = npt.NDArray[np.float64]
SEMANTIC_FEATURES = (
    "semantic",
    "semantic_z",
    "semantic_gap",
    "semantic_rank",
    "csls",
    "csls_z",
    "csls_gap",
    "csls_rank",
)
LEXICAL_FEATURES = (
    "bm25_rank",
    "bm25_relative",
    "bm25_log",
    "title_title",
    "need_technique",
    "text_tags",
    "tag_overlap",
    "industry",
)
ALL_FEATURES = SEMANTIC_FEATURES + LEXICAL_FEATURES
# Each relevant candidate is paired with the 40 negatives the features like best plus 20 at
# random. Pairing it with every negative was tried: nested CV on the demo set (inner 4-fold
# choice in each of 5 outer folds) chose these hard negatives in every fold.
HARD_NEGATIVES = 40
RANDOM_NEGATIVES = 20
L2 = 1e-3
STEPS = 400
LEARNING_RATE = 0.5
MODEL_FILE = "ranker.json"
RANK_CONSTANT = 10.0
# Rocchio feedback of the fused ranker's second stage: the need's vector plus this much of its
# first candidate's (by the first stage), re-normalised (issue 20, scripts/scenes_feedback.py)
ROCCHIO_ALPHA = 0.5
# CSLS (Conneau et al. 2018): 2·cos(q, c) - r_q - r_c ranks a query's candidates like
# cos(q, c) - r_c / 2, r_c being the candidate's mean cosine with its 10 nearest queries
CSLS_HUB_WEIGHT = 0.5


def relative(scores: FloatArray) -> FloatArray:
    """Scores over the best one (0 when nothing scores above 0)."""
    best = float(scores.max()) if len(scores) else 0.0
    return scores / best if best > 0 else np.zeros_like(scores)


def reciprocal_rank(scores: FloatArray, *, positive_only: bool) -> FloatArray:
    """10 / (10 + rank), 1-based by descending score: the top of a ranking counts most
    (what made reciprocal-rank fusion work); 0 for scores <= 0 when positive_only."""
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(len(scores), dtype=np.float64)
    rank[order] = np.arange(1, len(scores) + 1)
    values = RANK_CONSTANT / (RANK_CONSTANT + rank)
    return np.where(scores > 0, values, 0.0) if positive_only else values


def zscore(scores: FloatArray) -> FloatArray:
    spread = float(scores.std()) if len(scores) > 1 else 0.0
    return (scores - scores.mean()) / spread if spread > 0 else np.zeros_like(scores)


@dataclass(frozen=True)
class PairSignals:
    """The raw signals of one query against every candidate (one entry per candidate)."""

    bm25: FloatArray
    title_title: FloatArray
    need_technique: FloatArray
    text_tags: FloatArray
    tag_overlap: FloatArray
    industry: FloatArray  # taxonomy proximity: 1 same code, 0.5 same section, else 0
    region_same: FloatArray
    semantic: FloatArray | None
    # per candidate: mean cosine with its nearest items of the query's list (how much of a
    # "hub" it is); semantic - hubness / 2 is CSLS, which stops a generic text from ranking
    # high for every query. None without vectors (then CSLS is the plain cosine).
    hubness: FloatArray | None = None


def feature_matrix(signals: PairSignals, names: tuple[str, ...]) -> FloatArray:
    """One row per candidate, one column per feature name, in `names` order."""
    columns: dict[str, FloatArray] = {
        "bm25_rank": reciprocal_rank(signals.bm25, positive_only=True),
        "bm25_relative": relative(signals.bm25),
        "bm25_log": np.log1p(signals.bm25),
        "title_title": relative(signals.title_title),
        "need_technique": relative(signals.need_technique),
        "text_tags": relative(signals.text_tags),
        "tag_overlap": np.minimum(signals.tag_overlap, 2.0),
        "industry": signals.industry,
    }
    if signals.semantic is not None:
        semantic = signals.semantic
        columns["semantic"] = semantic
        columns["semantic_z"] = zscore(semantic)
        columns["semantic_gap"] = semantic - (semantic.max() if len(semantic) else 0.0)
        columns["semantic_rank"] = reciprocal_rank(semantic, positive_only=False)
        hubness = signals.hubness if signals.hubness is not None else np.zeros_like(semantic)
        csls = semantic - CSLS_HUB_WEIGHT * hubness
        columns["csls"] = csls
        columns["csls_z"] = zscore(csls)
        columns["csls_gap"] = csls - (csls.max() if len(csls) else 0.0)
        columns["csls_rank"] = reciprocal_rank(csls, positive_only=False)
    missing = [name for name in names if name not in columns]
    if missing:
        raise InvalidInput(
            msg(f"缺少特征：{'、'.join(missing)}", f"features unavailable: {', '.join(missing)}"),
            field="features",
        )
    if not len(signals.bm25):
        return np.zeros((0, len(names)))
    return np.column_stack([columns[name] for name in names])


@dataclass(frozen=True)
class LinearRanker:
    """score = w · standardised features; probability = sigmoid(a · score + b)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    platt_a: float = 1.0
    platt_b: float = 0.0
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    def raw(self, matrix: FloatArray) -> FloatArray:
        standardised = (matrix - np.asarray(self.mean)) / np.asarray(self.scale)
        # einsum, not `@`: no multi-threaded BLAS (and its spinning threads) per query
        weights = np.asarray(self.weights, dtype=np.float64)
        return np.asarray(np.einsum("ij,j->i", standardised, weights), dtype=np.float64)

    def probability(self, raw: FloatArray) -> FloatArray:
        return _sigmoid(self.platt_a * raw + self.platt_b)

    def as_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": [round(v, 6) for v in self.mean],
            "scale": [round(v, 6) for v in self.scale],
            "weights": [round(v, 6) for v in self.weights],
            "platt_a": round(self.platt_a, 6),
            "platt_b": round(self.platt_b, 6),
            "info": self.info,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearRanker:
        names = tuple(str(name) for name in data["features"])
        unknown = set(names) - set(ALL_FEATURES)
        sizes = {len(names), len(data["mean"]), len(data["scale"]), len(data["weights"])}
        if unknown or len(sizes) != 1 or any(float(s) <= 0 for s in data["scale"]):
            raise InvalidInput(
                msg("排序模型文件前后不一致", "ranker file is inconsistent"), field="ranker"
            )
        return cls(
            names,
            tuple(float(v) for v in data["mean"]),
            tuple(float(v) for v in data["scale"]),
            tuple(float(v) for v in data["weights"]),
            float(data["platt_a"]),
            float(data["platt_b"]),
            dict(data.get("info", {})),
        )


@dataclass(frozen=True)
class TwoStageRanker:
    """The fused ranker with the embedding model. The first stage ranks on the engine's
    features and picks each need's top candidate; the need's vector is moved towards that
    candidate's (Rocchio from the top 1, ROCCHIO_ALPHA), the cosine and CSLS features are
    recomputed from it, and the second stage ranks on them. Both stages share the feature
    names; the probability is the second stage's (its Platt calibration)."""

    first: LinearRanker
    second: LinearRanker

    @property
    def features(self) -> tuple[str, ...]:
        return self.second.features

    @property
    def info(self) -> dict[str, Any]:
        return self.second.info

    def probability(self, raw: FloatArray) -> FloatArray:
        return self.second.probability(raw)

    def calibrated(self, a: float, b: float) -> TwoStageRanker:
        return replace(self, second=replace(self.second, platt_a=a, platt_b=b))

    def with_info(self, info: dict[str, Any]) -> TwoStageRanker:
        return replace(self, second=replace(self.second, info=info))

    def as_json(self) -> dict[str, Any]:
        return {**self.second.as_json(), "first_stage": self.first.as_json()}


# a learned ranker as the engine uses it: one stage (lexical-only) or two (with the embedding)
FusedModel = LinearRanker | TwoStageRanker


def model_from_json(data: dict[str, Any]) -> FusedModel:
    if "first_stage" not in data:
        return LinearRanker.from_json(data)
    first = LinearRanker.from_json(data["first_stage"])
    second = LinearRanker.from_json(data)
    if first.features != second.features:
        raise InvalidInput(
            msg("排序模型两阶段的特征不一致", "the ranker's two stages differ in features"),
            field="ranker",
        )
    return TwoStageRanker(first, second)


def calibrated(model: FusedModel, a: float, b: float) -> FusedModel:
    """The model with Platt parameters a, b (on the second stage when there are two)."""
    if isinstance(model, TwoStageRanker):
        return model.calibrated(a, b)
    return replace(model, platt_a=a, platt_b=b)


def with_info(model: FusedModel, info: dict[str, Any]) -> FusedModel:
    return model.with_info(info) if isinstance(model, TwoStageRanker) else replace(model, info=info)


@dataclass(frozen=True)
class RankerModels:
    """The shipped pair: with the embedding model (two stages), and lexical-only (no model
    loaded, one stage: there is no vector to move)."""

    fused: FusedModel
    lexical_only: LinearRanker
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    def for_mode(self, semantic: bool) -> FusedModel:
        return self.fused if semantic else self.lexical_only

    def as_json(self) -> dict[str, Any]:
        return {
            "info": self.info,
            "fused": self.fused.as_json(),
            "lexical_only": self.lexical_only.as_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RankerModels:
        return cls(
            model_from_json(data["fused"]),
            LinearRanker.from_json(data["lexical_only"]),
            dict(data.get("info", {})),
        )


def shipped_model_path() -> Path:
    return Path(str(files("suanli") / "data" / "scenes" / MODEL_FILE))


@lru_cache(maxsize=1)
def shipped_models() -> RankerModels | None:
    """The weights `suanli scenes train` wrote into the package (trained on the demo set
    only); None if the file is absent (then the engine fuses by reciprocal rank)."""
    path = shipped_model_path()
    if not path.is_file():
        return None
    return RankerModels.from_json(json.loads(path.read_text(encoding="utf-8")))


def _sigmoid(values: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(values, -30.0, 30.0))), dtype=np.float64)


@dataclass(frozen=True)
class TrainingQuery:
    """One query's feature matrix over all candidates and each candidate's grade (0-2)."""

    matrix: FloatArray
    grades: npt.NDArray[np.int64]


def _pairs(
    query: TrainingQuery, rng: np.random.Generator
) -> tuple[list[int], list[int], list[float]]:
    """(better, worse, weight) index triples: every relevant candidate against the hardest
    negatives and a few random ones, and grade 2 against grade 1."""
    grades = query.grades
    relevant = np.flatnonzero(grades > 0)
    negatives = np.flatnonzero(grades == 0)
    if not len(relevant) or not len(negatives):
        return [], [], []
    likeness = query.matrix[negatives].sum(axis=1)
    hard = negatives[np.argsort(-likeness, kind="stable")[:HARD_NEGATIVES]]
    rest = np.setdiff1d(negatives, hard)
    extra = rng.choice(rest, size=min(RANDOM_NEGATIVES, len(rest)), replace=False)
    return graded_pairs(grades, relevant, np.concatenate([hard, extra]))


def graded_pairs(
    grades: npt.NDArray[np.int64], relevant: npt.NDArray[np.intp], worse_pool: npt.NDArray[np.intp]
) -> tuple[list[int], list[int], list[float]]:
    """Each relevant candidate against each of `worse_pool` (weight: its gain 2^g - 1) and
    against every less relevant one (weight: the difference of gains)."""
    better, worse, weight = [], [], []
    for i in relevant:
        gain = float(2 ** grades[i] - 1)
        for j in worse_pool:
            better.append(int(i))
            worse.append(int(j))
            weight.append(gain)
        for j in relevant:
            if grades[i] > grades[j]:
                better.append(int(i))
                worse.append(int(j))
                weight.append(float(2 ** grades[i] - 2 ** grades[j]))
    return better, worse, weight


def train_ranker(
    queries: list[TrainingQuery], features: tuple[str, ...], seed: int
) -> LinearRanker:
    """Pairwise logistic loss with L2, projected gradient descent (weights >= 0) on
    standardised features."""
    rng = np.random.default_rng(seed)
    stacked = np.vstack([q.matrix for q in queries])
    mean = stacked.mean(axis=0)
    scale = np.where(stacked.std(axis=0) > 1e-9, stacked.std(axis=0), 1.0)
    differences, weights = [], []
    for query in queries:
        better, worse, weight = _pairs(query, rng)
        if better:
            standardised = (query.matrix - mean) / scale
            differences.append(standardised[better] - standardised[worse])
            weights.append(np.asarray(weight))
    if not differences:
        raise InvalidInput(
            msg(
                "没有哪个查询同时有相关和不相关的候选",
                "no query has both relevant and irrelevant candidates",
            ),
            field="gold",
        )
    x, pair_weight = np.vstack(differences), np.concatenate(weights)
    pair_weight = pair_weight / pair_weight.sum()
    w = np.zeros(x.shape[1])
    for _ in range(STEPS):
        margin = x @ w
        gradient = -(x.T @ (pair_weight * _sigmoid(-margin))) + 2 * L2 * w
        # every feature is a similarity: more of it must never rank a candidate lower, so
        # weights stay >= 0 (projected gradient). This keeps a signal that happened to
        # anti-correlate on one training list from punishing agreement on another.
        w = np.maximum(w - LEARNING_RATE * gradient, 0.0)
    return LinearRanker(features, tuple(mean), tuple(scale), tuple(float(v) for v in w))


def fit_platt(raw: FloatArray, relevant: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """a, b of P(relevant | score) = sigmoid(a·score + b): logistic regression by Newton's
    method with step halving (each step must lower the log loss), so it cannot diverge."""
    target = relevant.astype(np.float64)
    params = np.array([1.0, 0.0])

    def loss(values: FloatArray) -> float:
        p = np.clip(_sigmoid(values[0] * raw + values[1]), 1e-12, 1 - 1e-12)
        return float(-(target * np.log(p) + (1 - target) * np.log(1 - p)).sum())

    current = loss(params)
    for _ in range(100):
        p = _sigmoid(params[0] * raw + params[1])
        residual, curvature = p - target, np.maximum(p * (1 - p), 1e-12)
        gradient = np.array([(residual * raw).sum(), residual.sum()])
        hessian = np.array(
            [
                [(curvature * raw * raw).sum() + 1e-9, (curvature * raw).sum()],
                [(curvature * raw).sum(), curvature.sum() + 1e-9],
            ]
        )
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-6 and loss(params - size * step) > current:
            size /= 2
        if size <= 1e-6:
            break
        params = params - size * step
        improved = loss(params)
        if current - improved < 1e-10:
            break
        current = improved
    return float(params[0]), float(params[1])
