"""Cross-validated evaluation of the matcher: the gold queries are split into K folds with a
fixed seed; for each fold, whatever is learned is fitted on the other K-1 folds only and the
rankings are scored on the held-out fold. Figures are the mean and standard deviation over
the K held-out folds, so no reported number comes from queries the model was fitted on.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suanli.adapters.matching import MatchEngine, Ranker, RankingMetrics, evaluate_rankings
from suanli.adapters.matching.embedding import ProgressCallback
from suanli.adapters.matching.learned import (
    FusedModel,
    LinearRanker,
    RankerModels,
    TrainingQuery,
    TwoStageRanker,
    train_ranker,
)
from suanli.adapters.matching.metrics import ndcg_at
from suanli.domain.scenes import FOLDS_MAX, FOLDS_MIN, SEED_DEFAULT, MatchDirection
from suanli.errors import InvalidInput
from suanli.i18n import t
from suanli.services import scenes_files

Gold = Mapping[str, Mapping[str, int]]
# Fits the engine's learned ranker on the training queries' gold (None: nothing to fit).
Trainer = Callable[[MatchEngine, Gold], None]
METRIC_NAMES = ("ndcg@10", "recall@5", "recall@10", "mrr")


def assign_folds(query_ids: Sequence[str], folds: int, seed: int) -> list[list[str]]:
    """Queries dealt round-robin into `folds` groups after a seeded shuffle: the same ids and
    seed always give the same folds, whatever order the ids come in."""
    if not FOLDS_MIN <= folds <= FOLDS_MAX:
        raise InvalidInput(
            t(
                f"折数须在 {FOLDS_MIN} 到 {FOLDS_MAX} 之间",
                f"folds must be between {FOLDS_MIN} and {FOLDS_MAX}",
            ),
            field="folds",
        )
    if len(query_ids) < folds:
        raise InvalidInput(
            t(
                f"查询数（{len(query_ids)}）少于折数（{folds}）",
                f"fewer queries ({len(query_ids)}) than folds ({folds})",
            ),
            field="folds",
        )
    shuffled = sorted(set(query_ids))
    random.Random(seed).shuffle(shuffled)
    return [shuffled[start::folds] for start in range(folds)]


@dataclass(frozen=True)
class FoldedMetrics:
    """One ranker's metrics on each held-out fold, and each held-out query's nDCG@10 with the
    index of the fold it was held out in."""

    folds: tuple[RankingMetrics, ...]
    per_query: Mapping[str, tuple[int, float]] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, float]]:
        """{metric: {"mean", "sd"}}; sd is the sample standard deviation over folds."""
        columns = {
            "ndcg@10": [m.ndcg_at_10 for m in self.folds],
            "recall@5": [m.recall_at_5 for m in self.folds],
            "recall@10": [m.recall_at_10 for m in self.folds],
            "mrr": [m.mrr for m in self.folds],
        }
        return {
            name: {
                "mean": round(statistics.fmean(values), 4),
                "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            }
            for name, values in columns.items()
        }


def relevant_queries(gold: Gold) -> list[str]:
    return sorted(q for q, grades in gold.items() if any(g >= 1 for g in grades.values()))


def training_queries(
    engine: MatchEngine, gold: Gold, first_stage: LinearRanker | None = None
) -> list[TrainingQuery]:
    return [
        engine.training_query(MatchDirection.O2C, query, dict(gold[query]), first_stage)
        for query in relevant_queries(gold)
    ]


def fit(engine: MatchEngine, gold: Gold, seed: int = SEED_DEFAULT) -> FusedModel:
    """The ranker fitted on every query of `gold` (uncalibrated: a=1, b=0). With the
    embedding model, two stages, both fitted on `gold` only: the first on the engine's
    features, the second on the features recomputed by Rocchio feedback from the first's top
    candidate (`MatchEngine.feedback_signals`). Lexical-only: one stage."""
    first = train_ranker(training_queries(engine, gold), engine.feature_names, seed)
    if engine.mode != "fused":
        return first
    second = train_ranker(training_queries(engine, gold, first), engine.feature_names, seed)
    return TwoStageRanker(first, second)


def fold_trainer(seed: int) -> Trainer:
    """A cross_validate trainer: fits on the training folds and makes the engine use it."""

    def trainer(engine: MatchEngine, training: Gold) -> None:
        engine.override = fit(engine, training, seed)

    return trainer


def _held_out_metrics(
    engine: MatchEngine, gold: Gold, fold: Sequence[str], ranker: Ranker
) -> tuple[RankingMetrics, dict[str, float]]:
    """The fold's metrics, and each of its queries' nDCG@10."""
    matches = engine.match(MatchDirection.O2C, top_k=None, query_ids=sorted(fold), ranker=ranker)
    rankings = {m.id: [c.id for c in m.candidates] for m in matches}
    fold_gold = {query: gold[query] for query in fold}
    per_query = {query: ndcg_at(rankings[query], gold[query], 10) for query in fold}
    return evaluate_rankings(rankings, fold_gold), per_query


def cross_validate(
    engine: MatchEngine,
    gold: Gold,
    *,
    folds: int,
    seed: int = SEED_DEFAULT,
    rankers: Mapping[str, Ranker],
    trainer: Trainer | None = None,
) -> dict[str, FoldedMetrics]:
    """For each fold: fit on the others (when a trainer is given), score the held-out one."""
    queries = [q for q, grades in gold.items() if any(g >= 1 for g in grades.values())]
    groups = assign_folds(queries, folds, seed)
    per_ranker: dict[str, list[RankingMetrics]] = {name: [] for name in rankers}
    per_query: dict[str, dict[str, tuple[int, float]]] = {name: {} for name in rankers}
    for index, held_out in enumerate(groups):
        if trainer is not None:
            excluded = set(held_out)
            trainer(engine, {q: grades for q, grades in gold.items() if q not in excluded})
        for name, ranker in rankers.items():
            metrics, by_query = _held_out_metrics(engine, gold, held_out, ranker)
            per_ranker[name].append(metrics)
            per_query[name].update((query, (index, value)) for query, value in by_query.items())
    return {
        name: FoldedMetrics(tuple(found), per_query[name]) for name, found in per_ranker.items()
    }


SINGLE_SIGNALS = ("embedding", "bm25")  # report names of the one-signal rankers
LOSSES_LISTED = 10
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Versus:
    """The fused engine against the best single signal (the one-signal ranker with the highest
    mean held-out nDCG@10), query by query on the same held-out folds."""

    signal: str
    margin: float  # engine's mean nDCG@10 minus the signal's, over the K folds
    fold_margins: tuple[float, ...]
    wins: int
    ties: int
    losses: int
    # (query, fold, engine's nDCG@10, signal's nDCG@10), the largest losses first
    worst: tuple[tuple[str, int, float, float], ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "margin": round(self.margin, 4),
            "fold_margins": [round(value, 4) for value in self.fold_margins],
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "worst_losses": [
                {"query": q, "fold": fold, "engine": round(mine, 4), "signal": round(theirs, 4)}
                for q, fold, mine, theirs in self.worst
            ],
        }


def versus_best_single(rankers: Mapping[str, FoldedMetrics]) -> Versus | None:
    """Where the fused engine wins and loses against its best single signal; None when the
    report has no engine row or no single signal."""
    engine = rankers.get("engine")
    singles = [name for name in SINGLE_SIGNALS if name in rankers]
    if engine is None or not singles:
        return None
    best = max(singles, key=lambda name: statistics.fmean(_ndcg(rankers[name])))
    signal = rankers[best]
    fold_margins = tuple(
        mine - theirs for mine, theirs in zip(_ndcg(engine), _ndcg(signal), strict=True)
    )
    differences = {
        query: (fold, value, signal.per_query[query][1])
        for query, (fold, value) in engine.per_query.items()
    }
    losing = sorted(
        (
            (query, fold, mine, theirs)
            for query, (fold, mine, theirs) in differences.items()
            if mine < theirs - TIE_TOLERANCE
        ),
        key=lambda row: (row[2] - row[3], row[0]),
    )
    wins = sum(mine > theirs + TIE_TOLERANCE for _, mine, theirs in differences.values())
    return Versus(
        best,
        statistics.fmean(fold_margins),
        fold_margins,
        wins,
        len(differences) - wins - len(losing),
        len(losing),
        tuple(losing[:LOSSES_LISTED]),
    )


def _ndcg(found: FoldedMetrics) -> list[float]:
    return [metrics.ndcg_at_10 for metrics in found.folds]


@dataclass(frozen=True)
class FoldedReport:
    folds: int
    seed: int
    queries: int
    mode: str
    rankers: dict[str, FoldedMetrics]
    warnings: tuple[str, ...]
    calibration: list[dict[str, float]] | None = None  # shipped weights, when held out

    @property
    def versus(self) -> Versus | None:
        return versus_best_single(self.rankers)

    def as_json(self) -> dict[str, Any]:
        versus = self.versus
        return {
            "folds": self.folds,
            "seed": self.seed,
            "queries": self.queries,
            "mode": self.mode,
            "rankers": {name: found.summary() for name, found in self.rankers.items()},
            "versus_best_single": versus.as_json() if versus is not None else None,
            "calibration": self.calibration,
        }


CALIBRATION_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
CALIBRATION_TOP_K = 10


def calibration_bins(engine: MatchEngine, gold: Gold) -> list[dict[str, float]]:
    """Over each need's top 10 (what a user sees): per score band, how many candidates, their
    mean score and the share that is relevant. Calibrated means the last two agree."""
    pairs = [
        (candidate.score, gold[match.id].get(candidate.id, 0) >= 1)
        for match in engine.match(
            MatchDirection.O2C, top_k=CALIBRATION_TOP_K, query_ids=relevant_queries(gold)
        )
        for candidate in match.candidates
    ]
    bands = []
    for low, high in itertools.pairwise(CALIBRATION_BINS):
        inside = [(s, hit) for s, hit in pairs if low <= s < high or (high == 1.0 and s == 1.0)]
        if inside:
            bands.append(
                {
                    "from": low,
                    "to": high,
                    "candidates": len(inside),
                    "mean_score": round(statistics.fmean(s for s, _ in inside), 3),
                    "relevant_share": round(statistics.fmean(hit for _, hit in inside), 3),
                }
            )
    return bands


def evaluation_rankers(mode: str) -> dict[str, Ranker]:
    """Report name -> ranker: the learned engine (refitted in each fold), the earlier
    reciprocal-rank fusion, and the single signals (embedding only with a model)."""
    rankers: dict[str, Ranker] = {"engine": "fused", "rrf": "rrf", "bm25": "lexical"}
    if mode == "fused":
        rankers["embedding"] = "semantic"
    return rankers


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def trained_on(models: RankerModels | None, gold_path: Path) -> bool:
    """Whether `gold_path` is the set the shipped weights were fitted on (by content)."""
    return models is not None and models.info.get("gold_sha256") == file_sha256(gold_path)


def evaluate_folds(
    opportunities_path: Path,
    capabilities_path: Path,
    gold_path: Path,
    *,
    folds: int,
    seed: int = SEED_DEFAULT,
    skip_invalid: bool = False,
    cache_path: Path | None = None,
    lexical_only: bool = False,
    progress: ProgressCallback | None = None,
) -> FoldedReport:
    """`suanli scenes eval --folds K`: held-out-fold metrics, mean and sd, per ranker. The
    shipped weights are also scored, on the same folds, unless this gold set is the one they
    were fitted on (then no fold of it is held out from them)."""
    opportunities = scenes_files.load_opportunities(opportunities_path, skip_invalid=skip_invalid)
    capabilities = scenes_files.load_capabilities(capabilities_path, skip_invalid=skip_invalid)
    gold = scenes_files.load_gold(
        gold_path, {o.id for o in opportunities.items}, {c.id for c in capabilities.items}
    )
    engine = scenes_files.indexed_engine(
        opportunities.items,
        capabilities.items,
        cache_path=cache_path,
        lexical_only=lexical_only,
        progress=progress,
    )
    folded = cross_validate(
        engine,
        gold,
        folds=folds,
        seed=seed,
        rankers=evaluation_rankers(engine.mode),
        trainer=fold_trainer(seed),
    )
    engine.override = None
    calibration = None
    if engine.models is not None and not trained_on(engine.models, gold_path):
        shipped = cross_validate(engine, gold, folds=folds, seed=seed, rankers={"shipped": "fused"})
        folded.update(shipped)
        calibration = calibration_bins(engine, gold)
    return FoldedReport(
        folds,
        seed,
        len(relevant_queries(gold)),
        engine.mode,
        folded,
        scenes_files.engine_warnings(engine, opportunities.report, capabilities.report),
        calibration,
    )
