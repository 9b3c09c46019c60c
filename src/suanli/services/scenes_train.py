"""`suanli scenes train`: fit the learned fusion on one gold set and write the weights file.

For each mode (with the embedding model, and lexical-only) the ranker is cross-validated:
fitted on K-1 folds of the queries, scored on the held-out fold. The held-out scores of all
folds give the Platt calibration (so a probability is learned from scores the ranker never
saw labels for) and the reported figures; the final weights are then fitted on every query.
Only the first (demo) gold set is meant to be used here; the second set stays held out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from suanli.adapters.matching import MatchEngine, Ranker
from suanli.adapters.matching.learned import (
    FusedModel,
    LinearRanker,
    RankerModels,
    calibrated,
    fit_platt,
    with_info,
)
from suanli.domain.scenes import MatchDirection
from suanli.services import scenes_files
from suanli.services.scenes_eval import (
    SEED_DEFAULT,
    Gold,
    assign_folds,
    cross_validate,
    file_sha256,
    fit,
    fold_trainer,
    relevant_queries,
    training_queries,
)

TRAIN_FOLDS_DEFAULT = 5


def _out_of_fold_scores(
    engine: MatchEngine, gold: Gold, folds: int, seed: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Raw scores (of the last stage) and relevance of every (held-out query, candidate)
    pair, each scored by the model fitted without its fold, through the engine's own path."""
    scores, relevant = [], []
    by_query = dict(zip(relevant_queries(gold), training_queries(engine, gold), strict=True))
    for held_out in assign_folds(list(by_query), folds, seed):
        excluded = set(held_out)
        model = fit(engine, {q: g for q, g in gold.items() if q not in excluded}, seed)
        for query in held_out:
            scores.append(engine.raw_scores(MatchDirection.O2C, query, model))
            relevant.append(by_query[query].grades >= 1)
    return np.concatenate(scores), np.concatenate(relevant)


def train_mode(
    engine: MatchEngine, gold: Gold, *, folds: int, seed: int
) -> tuple[FusedModel, dict[str, Any]]:
    """Cross-validated figures, out-of-fold Platt calibration, final fit on all queries."""
    rankers: dict[str, Ranker] = {"learned": "fused", "rrf": "rrf", "bm25": "lexical"}
    if engine.mode == "fused":
        rankers["embedding"] = "semantic"
    folded = cross_validate(
        engine, gold, folds=folds, seed=seed, rankers=rankers, trainer=fold_trainer(seed)
    )
    raw, relevant = _out_of_fold_scores(engine, gold, folds, seed)
    a, b = fit_platt(raw, relevant)
    engine.override = None
    model = calibrated(fit(engine, gold, seed), a, b)
    summary = {name: found.summary()["ndcg@10"] for name, found in folded.items()}
    return model, {"cv_ndcg@10": summary}


def train_files(
    opportunities_path: Path,
    capabilities_path: Path,
    gold_path: Path,
    *,
    folds: int = TRAIN_FOLDS_DEFAULT,
    seed: int = SEED_DEFAULT,
    cache_path: Path | None = None,
    command: str = "",
) -> RankerModels:
    """Both models (with the embedding model, and lexical-only) with their CV figures."""
    opportunities = scenes_files.load_opportunities(opportunities_path).items
    capabilities = scenes_files.load_capabilities(capabilities_path).items
    gold = scenes_files.load_gold(
        gold_path, {o.id for o in opportunities}, {c.id for c in capabilities}
    )
    trained: dict[str, tuple[FusedModel, dict[str, Any]]] = {}
    for name, lexical_only in (("fused", False), ("lexical_only", True)):
        engine = scenes_files.indexed_engine(
            opportunities,
            capabilities,
            cache_path=cache_path,
            lexical_only=lexical_only,
            progress=None,
        )
        if name == "fused" and engine.mode != "fused":
            raise RuntimeError("training the fused model needs the embedding model")
        model, figures = train_mode(engine, gold, folds=folds, seed=seed)
        trained[name] = (with_info(model, figures), figures)
    info = {
        "trained_on": gold_path.name,
        "gold_sha256": file_sha256(gold_path),
        "queries": len(relevant_queries(gold)),
        "folds": folds,
        "seed": seed,
        "command": command,
    }
    lexical_model = trained["lexical_only"][0]
    assert isinstance(lexical_model, LinearRanker)  # one stage: no vector to move
    return RankerModels(trained["fused"][0], lexical_model, info)


def write_models(models: RankerModels, path: Path) -> None:
    """Writes atomically, so a crash never leaves half a weights file."""
    temporary = path.with_name(path.name + ".tmp")
    text = json.dumps(models.as_json(), ensure_ascii=False, indent=2) + "\n"
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
