"""Cross-validation bookkeeping: seeded folds that partition the queries, a trainer that only
ever sees the other folds, and mean/sd over the held-out folds. In-memory lists, no model."""

from __future__ import annotations

import pytest

from suanli.adapters.matching import MatchEngine
from suanli.errors import InvalidInput
from suanli.services.scenes_eval import Gold, assign_folds, cross_validate
from tests.unit.test_matching import CAPABILITIES, GOLD, OPPORTUNITIES, CharacterEmbedder

QUERIES = [f"Q{number:03d}" for number in range(50)]


def test_folds_partition_the_queries_and_depend_only_on_ids_and_seed() -> None:
    folds = assign_folds(QUERIES, 5, seed=7)
    assert sorted(q for fold in folds for q in fold) == sorted(QUERIES)
    assert [len(fold) for fold in folds] == [10] * 5
    assert assign_folds(list(reversed(QUERIES)), 5, seed=7) == folds
    assert assign_folds(QUERIES, 5, seed=8) != folds


@pytest.mark.parametrize(("queries", "folds"), [(QUERIES, 1), (QUERIES, 21), (QUERIES[:3], 4)])
def test_impossible_fold_counts_are_refused_naming_the_field(
    queries: list[str], folds: int
) -> None:
    with pytest.raises(InvalidInput) as caught:
        assign_folds(queries, folds, seed=1)
    assert caught.value.field == "folds"


def test_the_trainer_never_sees_the_fold_it_is_scored_on() -> None:
    engine = MatchEngine(CharacterEmbedder())
    engine.index(OPPORTUNITIES, CAPABILITIES)
    seen: list[set[str]] = []

    def trainer(_: MatchEngine, training: Gold) -> None:
        seen.append(set(training))

    found = cross_validate(
        engine, GOLD, folds=3, seed=1, rankers={"engine": "rrf"}, trainer=trainer
    )
    assert len(seen) == 3 and all(len(training) == 2 for training in seen)
    assert set.union(*seen) == set(GOLD) and not set.intersection(*seen)
    summary = found["engine"].summary()
    assert summary["ndcg@10"] == {"mean": 1.0, "sd": 0.0}
    assert len(found["engine"].folds) == 3
