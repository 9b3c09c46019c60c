"""Cross-validation bookkeeping: seeded folds that partition the queries, a trainer that only
ever sees the other folds, mean/sd over the held-out folds, and the fused engine against its
best single signal query by query. In-memory lists, no model."""

from __future__ import annotations

import statistics

import pytest

from suanli.adapters.matching import MatchEngine, RankingMetrics
from suanli.errors import InvalidInput
from suanli.services.scenes_eval import (
    FoldedMetrics,
    Gold,
    assign_folds,
    cross_validate,
    versus_best_single,
)
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


def test_each_held_out_query_is_scored_once_in_the_fold_it_was_held_out_in() -> None:
    engine = MatchEngine(CharacterEmbedder())
    engine.index(OPPORTUNITIES, CAPABILITIES)
    found = cross_validate(
        engine, GOLD, folds=3, seed=1, rankers={"bm25": "lexical", "embedding": "semantic"}
    )
    groups = assign_folds(list(GOLD), 3, seed=1)
    for folded in found.values():
        assert set(folded.per_query) == set(GOLD)
        for index, fold in enumerate(groups):
            values = [folded.per_query[query] for query in fold]
            assert {position for position, _ in values} == {index}
            # the fold's nDCG@10 is the mean of its queries'
            mean = statistics.fmean(value for _, value in values)
            assert folded.folds[index].ndcg_at_10 == pytest.approx(mean)


def _folded(per_query: dict[str, tuple[int, float]]) -> FoldedMetrics:
    """Per-fold metrics (only nDCG@10 matters here) made from the per-query figures."""
    folds = sorted({fold for fold, _ in per_query.values()})
    metrics = []
    for fold in folds:
        values = [value for position, value in per_query.values() if position == fold]
        mean = statistics.fmean(values)
        metrics.append(RankingMetrics(mean, 0.0, 0.0, 0.0, len(values)))
    return FoldedMetrics(tuple(metrics), per_query)


def test_the_engine_is_compared_query_by_query_with_its_best_single_signal() -> None:
    rankers = {
        "engine": _folded({"a": (0, 1.0), "b": (0, 0.5), "c": (1, 0.8), "d": (1, 0.2)}),
        "embedding": _folded({"a": (0, 0.5), "b": (0, 0.5), "c": (1, 0.9), "d": (1, 0.6)}),
        "bm25": _folded({"a": (0, 0.1), "b": (0, 0.1), "c": (1, 0.1), "d": (1, 0.1)}),
    }
    versus = versus_best_single(rankers)
    assert versus is not None
    assert versus.signal == "embedding"  # the better of the two single signals
    assert (versus.wins, versus.ties, versus.losses) == (1, 1, 2)
    assert versus.fold_margins == pytest.approx((0.25, -0.25))
    assert versus.margin == pytest.approx(0.0)
    # largest loss first, each with its fold and both figures
    assert [(query, fold) for query, fold, _, _ in versus.worst] == [("d", 1), ("c", 1)]
    assert [(mine, theirs) for _, _, mine, theirs in versus.worst] == [(0.2, 0.6), (0.8, 0.9)]
    assert versus.as_json()["worst_losses"][0] == {
        "query": "d",
        "fold": 1,
        "engine": 0.2,
        "signal": 0.6,
    }


def test_without_an_engine_or_a_single_signal_there_is_no_comparison() -> None:
    row = _folded({"a": (0, 1.0), "b": (1, 1.0)})
    assert versus_best_single({"engine": row, "rrf": row}) is None
    assert versus_best_single({"bm25": row}) is None
