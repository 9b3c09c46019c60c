"""The learned fusion's parts on synthetic data: features relative to the query's best
candidate, pairwise training with weights kept >= 0, Platt calibration, the weights file, and
that the shipped weights were fitted on the first gold set only."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from suanli.adapters.matching.learned import (
    ALL_FEATURES,
    LinearRanker,
    RankerModels,
    TrainingQuery,
    TwoStageRanker,
    fit_platt,
    model_from_json,
    reciprocal_rank,
    relative,
    shipped_model_path,
    shipped_models,
    train_ranker,
    zscore,
)
from suanli.errors import InvalidInput
from suanli.services.scenes_eval import file_sha256, trained_on

DEMO = Path(str(files("suanli") / "data" / "scenes"))


def test_relative_features_do_not_depend_on_the_list_scale() -> None:
    scores = np.array([2.0, 1.0, 0.0])
    assert relative(scores).tolist() == relative(scores * 7).tolist() == [1.0, 0.5, 0.0]
    assert zscore(scores).tolist() == pytest.approx(zscore(scores * 7 + 3).tolist())
    assert relative(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    assert reciprocal_rank(np.array([0.0, 3.0]), positive_only=True).tolist() == [0.0, 10 / 11]


def _queries(rng: np.random.Generator, count: int) -> list[TrainingQuery]:
    """Feature 0 carries the signal, feature 1 is noise that anti-correlates slightly."""
    queries = []
    for _ in range(count):
        grades = np.zeros(30, dtype=np.int64)
        grades[:2] = (2, 1)
        signal = rng.normal(size=30) + grades * 1.5
        noise = rng.normal(size=30) - grades * 0.3
        queries.append(TrainingQuery(np.column_stack([signal, noise]), grades))
    return queries


def test_training_ranks_relevant_first_and_keeps_weights_non_negative() -> None:
    rng = np.random.default_rng(1)
    model = train_ranker(_queries(rng, 40), ("semantic", "bm25_log"), seed=1)
    assert model.weights[0] > 0 and model.weights[1] == 0.0
    held_out = _queries(rng, 20)
    firsts = [int(np.argmax(model.raw(q.matrix))) for q in held_out]
    assert sum(first < 2 for first in firsts) >= 17


def test_platt_scaling_recovers_a_known_calibration() -> None:
    rng = np.random.default_rng(2)
    raw = rng.normal(size=20_000) * 2
    relevant = rng.random(20_000) < 1 / (1 + np.exp(-(1.5 * raw - 2.0)))
    a, b = fit_platt(raw, relevant)
    assert a == pytest.approx(1.5, abs=0.1) and b == pytest.approx(-2.0, abs=0.1)


def test_platt_scaling_stays_finite_on_separable_scores() -> None:
    a, b = fit_platt(np.array([-1.0, -0.5, 0.5, 1.0]), np.array([False, False, True, True]))
    assert np.isfinite(a) and np.isfinite(b) and a > 0


def test_the_weights_file_round_trips_and_refuses_inconsistency() -> None:
    model = LinearRanker(("semantic", "industry"), (0.5, 0.1), (1.0, 2.0), (0.7, 0.2), 1.2, -3.0)
    again = LinearRanker.from_json(json.loads(json.dumps(model.as_json())))
    assert again == model
    broken = model.as_json() | {"weights": [0.7]}
    with pytest.raises(InvalidInput):
        LinearRanker.from_json(broken)
    with pytest.raises(InvalidInput):
        LinearRanker.from_json(model.as_json() | {"features": ["semantic", "made_up"]})


def test_the_shipped_weights_were_fitted_on_the_first_gold_set_only() -> None:
    models = shipped_models()
    assert isinstance(models, RankerModels)
    assert models.info["trained_on"] == "gold.csv"
    assert models.info["command"].startswith("suanli scenes train ")
    assert trained_on(models, DEMO / "gold.csv")
    assert not trained_on(models, DEMO / "heldout" / "gold.csv")
    assert models.info["gold_sha256"] != file_sha256(DEMO / "heldout" / "gold.csv")
    assert isinstance(models.fused, TwoStageRanker)
    assert models.fused.first.features == models.fused.second.features == ALL_FEATURES
    assert shipped_model_path().is_file()
    stages = (models.fused.first, models.fused.second, models.lexical_only)
    assert all(weight >= 0 for stage in stages for weight in stage.weights)


def test_a_two_stage_ranker_round_trips_through_its_file_and_refuses_mismatched_stages() -> None:
    models = shipped_models()
    assert models is not None and isinstance(models.fused, TwoStageRanker)
    again = RankerModels.from_json(json.loads(json.dumps(models.as_json())))
    assert isinstance(again.fused, TwoStageRanker)
    assert again.fused.first.weights == pytest.approx(models.fused.first.weights, abs=1e-6)
    assert again.fused.second.platt_a == pytest.approx(models.fused.second.platt_a, abs=1e-6)
    assert again.fused.first.weights != again.fused.second.weights
    data = models.as_json()["fused"]
    first = data["first_stage"]
    mismatched = data | {
        "first_stage": first | {k: first[k][:-1] for k in ("features", "mean", "scale", "weights")}
    }
    with pytest.raises(InvalidInput):
        model_from_json(mismatched)
