"""The matcher with an in-memory embedder: tokenising, BM25, fusion, both directions,
explanations, the lexical-only fallback and the vector cache. No model, no files."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest

from suanli.adapters.matching import (
    FusionWeights,
    MatchEngine,
    VectorCache,
    embed_with_cache,
    evaluate_rankings,
    tokenize,
)
from suanli.adapters.matching.embedding import FloatMatrix
from suanli.adapters.matching.engine import hubness, lexical_text
from suanli.adapters.matching.fusion import fuse, ranks, reciprocal_rank, top_indices
from suanli.adapters.matching.learned import (
    ROCCHIO_ALPHA,
    PairSignals,
    TwoStageRanker,
    feature_matrix,
    shipped_models,
)
from suanli.adapters.matching.lexical import Bm25Index
from suanli.adapters.matching.metrics import ndcg_at, recall_at
from suanli.adapters.matching.metrics import reciprocal_rank as rr
from suanli.domain.scenes import Capability, MatchDirection, Opportunity
from suanli.errors import InvalidInput, NotFound


class CharacterEmbedder:
    """Deterministic stand-in for a sentence model: hashed character bigrams, normalised.
    Texts sharing many bigrams get close vectors, which is all the engine relies on."""

    name = "test-bigrams"
    dimension = 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        self.calls.append(list(texts))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for a, b in pairwise(text):
                digest = hashlib.blake2b(f"{a}{b}".encode(), digest_size=2).digest()
                vectors[row, int.from_bytes(digest, "big") % self.dimension] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class BrokenEmbedder:
    name = "broken"

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        raise RuntimeError("model file is corrupt")


OPPORTUNITIES = [
    Opportunity(
        id="O1",
        title="压铸件表面缺陷检测",
        description="铝合金压铸件表面气孔裂纹靠人工目检，希望产线自动识别缺陷",
        industry="智能制造",
        tags=("质量检测", "缺陷检测"),
        region="宁波市北仑区",
    ),
    Opportunity(
        id="O2",
        title="信用卡交易实时反欺诈",
        description="信用卡盗刷套现增多，希望授权环节毫秒级识别可疑交易",
        industry="金融",
        tags=("反欺诈",),
        region="杭州市上城区",
    ),
    Opportunity(
        id="O3",
        title="风电机组齿轮箱故障预警",
        description="齿轮箱和主轴承损坏维修昂贵，希望提前数周发现劣化",
        industry="能源",
        tags=("故障预警",),
        region="舟山市",
    ),
]
CAPABILITIES = [
    Capability(
        id="C1",
        title="小样本外观瑕疵视觉判读",
        description="少样本异常检测识别金属表面划痕砂眼裂纹缺陷，支持产线相机",
        industry="智能制造",
        tags=("机器视觉", "缺陷检测"),
        region="杭州市滨江区",
    ),
    Capability(
        id="C2",
        title="实时关系图谱交易风险识别",
        description="流式图计算在支付授权链路毫秒级输出风险评分，识别团伙盗刷",
        industry="金融",
        tags=("图计算", "反欺诈"),
        region="杭州市西湖区",
    ),
    Capability(
        id="C3",
        title="旋转机械振动诊断与寿命预测",
        description="振动传感器评估轴承齿轮箱健康度，提前数周给出劣化趋势",
        industry="智能制造",
        tags=("预测性维护",),
        region="杭州市余杭区",
    ),
    Capability(
        id="C4",
        title="铸造工艺数值仿真",
        description="压铸充型凝固模拟，预测气孔缩松位置，优化模具设计",
        industry="智能制造",
        tags=("CAE",),
        region="宁波市北仑区",
    ),
]
GOLD = {"O1": {"C1": 2}, "O2": {"C2": 2}, "O3": {"C3": 2}}


def _engine(embedder: object = None, **weights: float) -> MatchEngine:
    engine = MatchEngine(
        embedder,  # type: ignore[arg-type]
        weights=FusionWeights(**weights) if weights else None,
    )
    engine.index(OPPORTUNITIES, CAPABILITIES)
    return engine


def _ids(engine: MatchEngine, direction: MatchDirection, **kwargs: object) -> dict[str, list[str]]:
    matches = engine.match(direction, top_k=None, **kwargs)  # type: ignore[arg-type]
    return {m.id: [c.id for c in m.candidates] for m in matches}


def test_tokenize_segments_chinese_and_drops_stopwords_and_punctuation() -> None:
    tokens = tokenize("我们希望实现铝合金压铸件的缺陷检测，GPU 加速！")
    assert "缺陷" in tokens and "检测" in tokens and "gpu" in tokens
    assert not {"我们", "希望", "实现", "的", "，", "！"} & set(tokens)


def test_tokenize_is_deterministic() -> None:
    text = CAPABILITIES[0].description
    assert tokenize(text) == tokenize(text)


def test_bm25_gives_zeros_for_an_empty_query_or_corpus() -> None:
    assert Bm25Index([["a"], ["b"]]).scores([]).tolist() == [0.0, 0.0]
    assert Bm25Index([]).scores(["a"]).tolist() == []
    assert Bm25Index([["缺陷", "检测"], ["风险"]]).scores(["缺陷"])[0] > 0


def test_ranks_are_one_based_and_ties_keep_index_order() -> None:
    assert ranks(np.array([0.1, 0.5, 0.5, 0.0])).tolist() == [3, 1, 2, 4]


def test_zero_lexical_scores_earn_no_reciprocal_rank() -> None:
    scores = reciprocal_rank(np.array([2.0, 0.0]), 1.0, 10.0, positive_only=True)
    assert scores.tolist() == [pytest.approx(1 / 11), 0.0]


def test_first_on_every_signal_scores_exactly_one() -> None:
    weights = FusionWeights()
    fused = fuse(
        weights,
        lexical=np.array([3.0, 1.0]),
        semantic=np.array([0.9, 0.1]),
        tag_overlap=np.array([2.0, 0.0]),
        same_industry=np.array([True, False]),
        same_region=np.array([True, False]),
    )
    assert fused[0] == pytest.approx(1.0)
    assert 0.0 < fused[1] < fused[0]


def test_top_indices_break_ties_by_id() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.5])
    assert top_indices(scores, ["d", "a", "c", "b"], 3) == [1, 3, 2]


def test_negative_weights_are_refused() -> None:
    with pytest.raises(InvalidInput):
        FusionWeights(lexical=-1.0)


# The toy embedder's similarities are not the real model's, so the learned fusion (trained on
# multilingual-e5 cosines) is checked on the demo lists with the real model
# (tests/integration/test_scene_decoys.py); here the reciprocal-rank ranker shows the mechanics.
def test_o2c_ranks_the_fitting_capability_first() -> None:
    ranked = _ids(_engine(CharacterEmbedder()), MatchDirection.O2C, ranker="rrf")
    assert {query: order[0] for query, order in ranked.items()} == {
        "O1": "C1",
        "O2": "C2",
        "O3": "C3",
    }


def test_c2o_ranks_opportunities_for_each_capability() -> None:
    ranked = _ids(_engine(CharacterEmbedder()), MatchDirection.C2O, ranker="rrf")
    assert set(ranked) == {"C1", "C2", "C3", "C4"}
    assert ranked["C2"][0] == "O2"
    assert all(set(order) == {"O1", "O2", "O3"} for order in ranked.values())


def test_candidates_come_best_first_with_top_k_respected() -> None:
    matches = _engine(CharacterEmbedder()).match(MatchDirection.O2C, top_k=2)
    for match in matches:
        assert len(match.candidates) == 2
        scores = [c.score for c in match.candidates]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)


def test_fusion_order_is_deterministic_across_engines() -> None:
    first = _engine(CharacterEmbedder()).match(MatchDirection.O2C, top_k=None)
    second = _engine(CharacterEmbedder()).match(MatchDirection.O2C, top_k=None)
    assert first == second


def test_explanations_name_shared_terms_tags_and_semantic_rank() -> None:
    match = _engine(CharacterEmbedder()).match(MatchDirection.O2C, query_ids=["O1"], top_k=4)[0]
    why = next(c.why for c in match.candidates if c.id == "C1")
    assert "共同关键词：" in why and "缺陷" in why
    assert "标签重合：缺陷检测" in why
    assert "语义排名：第" in why and "同行业：C 制造业" in why


def test_explanations_follow_the_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANLI_LANGUAGE", "en")
    match = _engine(CharacterEmbedder()).match(MatchDirection.O2C, query_ids=["O1"], top_k=1)[0]
    assert match.candidates[0].why.startswith("shared terms: ")
    assert "semantic rank: " in match.candidates[0].why


def test_same_region_is_a_signal_and_is_explained() -> None:
    match = _engine(CharacterEmbedder()).match(MatchDirection.O2C, query_ids=["O1"], top_k=4)[0]
    decoy = next(c for c in match.candidates if c.id == "C4")
    assert "同地区：宁波市" in decoy.why


def test_without_an_embedder_the_engine_is_lexical_only_and_says_so() -> None:
    engine = _engine(None)
    assert engine.mode == "lexical-only"
    match = engine.match(MatchDirection.O2C, query_ids=["O2"], top_k=1)[0]
    assert match.candidates[0].id == "C2"
    assert "不可用" in match.candidates[0].why
    with pytest.raises(InvalidInput):
        engine.match(MatchDirection.O2C, ranker="semantic")


def test_an_embedder_that_fails_falls_back_to_lexical_with_a_warning() -> None:
    engine = _engine(BrokenEmbedder())
    assert engine.mode == "lexical-only"
    assert engine.warning is not None and "model file is corrupt" in engine.warning
    assert engine.match(MatchDirection.C2O, query_ids=["C2"], top_k=1)[0].candidates[0].id == "O2"


def test_baseline_rankers_use_one_signal_each() -> None:
    engine = _engine(CharacterEmbedder())
    lexical = engine.match(MatchDirection.O2C, query_ids=["O1"], top_k=None, ranker="lexical")[0]
    index = Bm25Index([tokenize(lexical_text(item)) for item in CAPABILITIES])
    bm25 = index.scores(tokenize(lexical_text(OPPORTUNITIES[0])))
    expected = sorted(zip(bm25.tolist(), [c.id for c in CAPABILITIES], strict=True), reverse=True)
    assert [c.score for c in lexical.candidates] == [round(score, 4) for score, _ in expected]
    semantic = engine.match(MatchDirection.O2C, query_ids=["O1"], top_k=1, ranker="semantic")[0]
    assert -1.0 <= semantic.candidates[0].score <= 1.0


def test_matching_refuses_unknown_ids_bad_top_k_and_duplicate_items() -> None:
    engine = _engine(CharacterEmbedder())
    with pytest.raises(NotFound):
        engine.match(MatchDirection.O2C, query_ids=["nope"])
    with pytest.raises(InvalidInput):
        engine.match(MatchDirection.O2C, top_k=0)
    with pytest.raises(InvalidInput):
        MatchEngine(None).index(OPPORTUNITIES + OPPORTUNITIES[:1], CAPABILITIES)
    with pytest.raises(InvalidInput):
        MatchEngine(None).match(MatchDirection.O2C)


def test_empty_lists_give_empty_matches() -> None:
    engine = MatchEngine(CharacterEmbedder())
    engine.index(OPPORTUNITIES, [])
    assert all(m.candidates == () for m in engine.match(MatchDirection.O2C))


def test_the_cache_embeds_only_texts_it_has_not_seen() -> None:
    embedder = CharacterEmbedder()
    cache = VectorCache(embedder.name)
    first = embed_with_cache(embedder, ["甲", "乙", "甲"], cache)
    again = embed_with_cache(embedder, ["乙", "丙"], cache)
    assert embedder.calls == [["乙", "甲"], ["丙"]]
    assert np.array_equal(first[1], again[0])


def test_the_cache_is_bounded_and_drops_the_oldest_first() -> None:
    cache = VectorCache("m", entries_max=2)
    for text in ("a", "b", "c"):
        cache.put(text, np.ones(3, dtype=np.float32))
    assert len(cache) == 2 and cache.get("a") is None and cache.get("c") is not None


def test_progress_is_reported_from_zero_to_total_in_batches() -> None:
    seen: list[tuple[int, int]] = []
    texts = [f"文本{i}" for i in range(20)]
    embed_with_cache(
        CharacterEmbedder(), texts, None, lambda done, total: seen.append((done, total))
    )
    assert seen == [(0, 20), (16, 20), (20, 20)]


def test_metrics_on_a_known_ranking() -> None:
    grades = {"a": 2, "b": 1}
    assert ndcg_at(["a", "b", "x"], grades, 10) == pytest.approx(1.0)
    assert ndcg_at(["x", "a"], grades, 10) < 1.0
    assert recall_at(["x", "a"], grades, 1) == 0.0 and recall_at(["x", "a"], grades, 2) == 0.5
    assert rr(["x", "y", "b"], grades) == pytest.approx(1 / 3)
    metrics = evaluate_rankings({"q": ["a", "b"]}, {"q": grades, "empty": {}})
    assert metrics.queries == 1 and metrics.as_dict()["ndcg@10"] == 1.0


def test_the_engine_scores_perfectly_on_the_toy_gold() -> None:
    ranked = _ids(_engine(CharacterEmbedder()), MatchDirection.O2C, ranker="rrf")
    assert evaluate_rankings(ranked, GOLD).mrr == 1.0


def test_hubness_is_the_mean_of_the_nearest_cosines_and_zero_against_nothing() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    others = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    found = hubness(vectors, others)  # k = 10 is cut to the 3 others: the mean of all three
    assert found == pytest.approx([(1.0 + 0.6 + 0.0) / 3, (0.0 + 0.8 + 1.0) / 3])
    assert hubness(vectors, others[:0]).tolist() == [0.0, 0.0]


def test_a_candidate_close_to_every_query_loses_to_a_closer_specific_one_under_csls() -> None:
    semantic = np.array([0.90, 0.89])  # candidate 0 is a hub: near every query of the list
    zeros = np.zeros(2)
    signals = PairSignals(
        bm25=zeros,
        title_title=zeros,
        need_technique=zeros,
        text_tags=zeros,
        tag_overlap=zeros,
        industry=zeros,
        region_same=zeros,
        semantic=semantic,
        hubness=np.array([0.90, 0.80]),
    )
    names = ("semantic", "csls", "csls_rank")
    matrix = feature_matrix(signals, names)
    assert matrix[0, 0] > matrix[1, 0]  # plain cosine prefers the hub
    assert matrix[1, 1] > matrix[0, 1] and matrix[1, 2] > matrix[0, 2]  # CSLS does not


def test_one_query_matched_against_a_kept_index_has_the_features_of_a_full_index() -> None:
    """The API path indexes only the asked item on its side; naming the whole list it came
    from keeps the candidates' hubness, so every feature equals that of a full index."""
    embedder = CharacterEmbedder()
    expected = _engine(embedder).training_query(MatchDirection.O2C, "O1", {}).matrix
    engine = MatchEngine(embedder)
    asked = engine.index_list(OPPORTUNITIES[:1])
    needs, capabilities = engine.index_list(OPPORTUNITIES), engine.index_list(CAPABILITIES)
    engine.use(asked, capabilities, {"opportunities": needs})
    found = engine.training_query(MatchDirection.O2C, "O1", {}).matrix
    assert np.allclose(found, expected)
    engine.use(asked, capabilities)  # without it, hubness is against the one query: differs
    alone = engine.training_query(MatchDirection.O2C, "O1", {}).matrix
    assert not np.allclose(alone, expected)


@pytest.mark.parametrize("need", ["O1", "O2", "O3"])
def test_the_fused_ranker_scores_with_its_second_stage_on_feedback_from_the_first(
    need: str,
) -> None:
    """The shipped fused ranker has two stages, and matching uses both: the first stage's top
    candidate moves the need's vector (Rocchio), and the second stage's calibrated scores on
    the recomputed features are what a caller gets. Skipping either stage changes the scores."""
    models = shipped_models()
    assert models is not None and isinstance(models.fused, TwoStageRanker)
    fused = models.fused
    engine = MatchEngine(CharacterEmbedder(), models=models)  # type: ignore[arg-type]
    needs, capabilities = engine.index_list(OPPORTUNITIES), engine.index_list(CAPABILITIES)
    engine.use(needs, capabilities)
    [match] = engine.match(MatchDirection.O2C, top_k=None, query_ids=[need])
    scores = {candidate.id: candidate.score for candidate in match.candidates}
    found = np.array([scores[capability] for capability in capabilities.ids])

    assert needs.vectors is not None and capabilities.vectors is not None
    query = needs.position[need]
    signals = engine.signals(needs, capabilities, query)
    plain = feature_matrix(signals, fused.features)
    top = int(np.argmax(fused.first.raw(plain)))
    moved = needs.vectors[query] + ROCCHIO_ALPHA * capabilities.vectors[top]
    moved = moved / np.linalg.norm(moved)
    feedback = replace(signals, semantic=(capabilities.vectors @ moved).astype(np.float64))
    expected = fused.second.probability(fused.second.raw(feature_matrix(feedback, fused.features)))
    assert found == pytest.approx(expected, abs=1e-4)
    second_only = fused.second.probability(fused.second.raw(plain))
    first_only = fused.second.probability(fused.first.raw(plain))
    for bypassed in (second_only, first_only):
        assert np.abs(found - bypassed).max() > 1e-3
