"""`suanli scenes ...` and `suanli bench scenes` end to end through Typer: exact JSON shapes,
best-first order, both directions, bad input (stderr names row and field, exit code 2, no
traceback) and both languages."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from suanli.adapters.matching.embedding import FloatMatrix
from suanli.cli import bench, bench_scenes
from suanli.cli.scenes import app
from suanli.services.scenes_files import load_capabilities

DEMO = Path(str(files("suanli") / "data" / "scenes"))
OPPORTUNITIES = str(DEMO / "opportunities.csv")
CAPABILITIES = str(DEMO / "capabilities.csv")
GOLD = str(DEMO / "gold.csv")
METRIC_KEYS = {"ndcg@10", "recall@5", "recall@10", "mrr"}


def _run(args: Sequence[str], language: str = "zh-CN") -> Result:
    return CliRunner(env={"SUANLI_LANGUAGE": language}).invoke(app, list(args))


def _json(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.stderr
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


def _write_csv(path: Path, rows: list[list[str]]) -> str:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return str(path)


def _assert_match_shape(body: dict[str, object], top: int) -> None:
    assert set(body) == {"matches"}
    matches = body["matches"]
    assert isinstance(matches, list) and matches
    for match in matches:
        assert set(match) == {"id", "candidates"}
        assert len(match["candidates"]) == top
        for candidate in match["candidates"]:
            assert set(candidate) == {"id", "score", "why"}
            assert isinstance(candidate["score"], float) and candidate["why"]
        scores = [c["score"] for c in match["candidates"]]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("direction", "count", "prefix"), [("o2c", 124, "CAP-"), ("c2o", 166, "OPP-")]
)
def test_match_json_has_the_exact_shape_best_first_in_both_directions(
    demo_vector_cache: Path, direction: str, count: int, prefix: str
) -> None:
    args = ["match", "-o", OPPORTUNITIES, "-c", CAPABILITIES, "--direction", direction]
    body = _json(_run([*args, "--top", "3", "--json", "--cache", str(demo_vector_cache)]))
    _assert_match_shape(body, 3)
    matches = body["matches"]
    assert isinstance(matches, list) and len(matches) == count
    assert all(c["id"].startswith(prefix) for m in matches for c in m["candidates"])
    assert "语义排名：第" in matches[0]["candidates"][0]["why"]


@pytest.mark.slow
def test_eval_json_reports_engine_and_both_baselines(demo_vector_cache: Path) -> None:
    args = ["eval", "-o", OPPORTUNITIES, "-c", CAPABILITIES, "-g", GOLD, "--json"]
    body = _json(_run([*args, "--cache", str(demo_vector_cache)]))
    assert set(body) == {"engine", "bm25", "embedding"}
    for metrics in body.values():
        assert isinstance(metrics, dict) and set(metrics) == METRIC_KEYS
    engine, bm25 = body["engine"], body["bm25"]
    assert isinstance(engine, dict) and isinstance(bm25, dict)
    assert engine["ndcg@10"] >= bm25["ndcg@10"] + 0.10


@pytest.mark.slow
def test_eval_prints_a_table_in_english_on_request(demo_vector_cache: Path) -> None:
    args = ["eval", "-o", OPPORTUNITIES, "-c", CAPABILITIES, "-g", GOLD]
    result = _run([*args, "--cache", str(demo_vector_cache)], language="en")
    assert result.exit_code == 0, result.stderr
    assert "fused engine" in result.stdout and "BM25 only" in result.stdout


def test_lexical_only_matching_says_so_and_keeps_the_json_shape() -> None:
    args = ["match", "-o", OPPORTUNITIES, "-c", CAPABILITIES, "--top", "2", "--lexical-only"]
    result = _run([*args, "--json", "--no-cache"])
    _assert_match_shape(_json(result), 2)
    assert "仅使用词法匹配" in result.stderr


def test_eval_without_a_model_reports_embedding_as_null() -> None:
    args = ["eval", "-o", OPPORTUNITIES, "-c", CAPABILITIES, "-g", GOLD, "--lexical-only"]
    body = _json(_run([*args, "--json", "--no-cache"]))
    assert body["embedding"] is None and set(cast(dict[str, object], body["engine"])) == METRIC_KEYS


def test_a_bad_row_fails_with_row_and_field_on_stderr_and_exit_code_2(tmp_path: Path) -> None:
    header = ["编号", "名称", "描述", "行业", "标签", "地区", "单位"]
    bad = _write_csv(tmp_path / "o.csv", [header, ["O1", "", "描述", "金融", "", "杭州市", "x"]])
    result = _run(["match", "-o", bad, "-c", CAPABILITIES, "--lexical-only", "--no-cache"])
    assert result.exit_code == 2
    assert "第2行 `title`" in result.stderr and "[title]" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_errors_are_in_english_when_asked(tmp_path: Path) -> None:
    rows = [["id", "title", "description", "industry", "tags", "region", "org"]]
    rows += [["O1", "t", "", "金融", "", "", ""], ["O1", "t", "", "金融", "", "", ""]]
    bad = _write_csv(tmp_path / "o.csv", rows)
    result = _run(["match", "-o", bad, "-c", CAPABILITIES, "--lexical-only"], language="en")
    assert result.exit_code == 2
    assert "row 3, `id`: duplicate id O1" in result.stderr


def test_a_missing_file_and_a_bad_direction_exit_with_code_2() -> None:
    result = _run(["match", "-o", "/nonexistent.csv", "-c", CAPABILITIES])
    assert result.exit_code == 2 and "/nonexistent.csv" in result.stderr
    result = _run(["match", "-o", OPPORTUNITIES, "-c", CAPABILITIES, "--direction", "x2y"])
    assert result.exit_code == 2


def test_validate_prints_the_report_and_exits_2_on_errors(tmp_path: Path) -> None:
    rows = [["id", "title", "description", "industry", "tags", "region", "org"]]
    rows += [["O1", "", "", "金融", "", "", ""], ["O2", "好", "", "火星采矿", "", "", ""]]
    path = _write_csv(tmp_path / "o.csv", rows)
    result = _run(["validate", path, "--json"])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert [(p["row"], p["field"], p["severity"]) for p in report["problems"]] == [
        (2, "title", "error"),
        (3, "industry", "warning"),
    ]
    assert "第2行 `title`" in result.stderr


def test_validate_passes_the_demo_capabilities() -> None:
    report = _json(_run(["validate", CAPABILITIES, "--kind", "capabilities", "--json"]))
    assert (report["rows"], report["errors"], report["warnings"]) == (166, 0, 0)
    table = _run(["validate", CAPABILITIES, "--kind", "capabilities"])
    assert table.exit_code == 0 and "0个错误" in "".join(table.stdout.split())


class HashEmbedder:
    """Fast stand-in so the benchmark command can be exercised in seconds."""

    name = "test-hash"

    def __init__(self) -> None:
        self.embedded = 0  # texts actually embedded

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        self.embedded += len(texts)
        rows = [
            np.frombuffer(text.encode("utf-8")[:8].ljust(8, b"\0"), dtype=np.uint8)
            for text in texts
        ]
        vectors = np.array(rows, dtype=np.float32) + 1.0
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_bench_scenes_reports_quality_indexing_and_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = HashEmbedder()
    monkeypatch.setattr(bench_scenes, "load_default_embedder", lambda: (embedder, None))
    args = ["scenes", "--items", "150", "--queries", "5", "--no-cache", "--json"]
    result = CliRunner().invoke(bench.app, args)
    body = _json(result)
    assert set(body) == {"mode", "demo", "indexing", "query", "stored"}
    indexing, query, stored = body["indexing"], body["query"], body["stored"]
    assert isinstance(indexing, dict) and isinstance(query, dict) and isinstance(stored, dict)
    assert indexing["items"] == 150 and indexing["texts_embedded"] == 150 + 124
    assert query["queries"] == 5 and query["p95_ms"] >= query["p50_ms"] > 0
    assert (stored["items"], stored["requests"]) == (150, 5)
    assert stored["cold_ms"] > 0 and stored["warm_p95_ms"] >= stored["warm_p50_ms"] > 0
    # demo set + synthetic items + one timed embedding per demo need (50 at most); the stored
    # lists reuse the benchmark's vectors, so that part embeds nothing
    demo_texts = 124 + 166
    assert embedder.embedded == demo_texts + (150 + 124) + 50


def test_synthetic_items_are_distinct_and_well_formed() -> None:
    demo = load_capabilities(DEMO / "capabilities.csv").items
    items = bench_scenes.synthetic_capabilities(demo, 500)
    assert len({item.id for item in items}) == 500
    assert len({item.title + item.description for item in items}) == 500


@pytest.mark.slow
def test_eval_with_folds_reports_held_out_mean_and_sd_per_ranker(demo_vector_cache: Path) -> None:
    args = ["eval", "-o", OPPORTUNITIES, "-c", CAPABILITIES, "-g", GOLD, "--folds", "5"]
    body = _json(_run([*args, "--json", "--cache", str(demo_vector_cache)]))
    assert (body["folds"], body["queries"], body["mode"]) == (5, 124, "fused")
    assert body["calibration"] is None  # the shipped weights are not held out from this set
    rankers = cast(dict[str, dict[str, dict[str, float]]], body["rankers"])
    # no "shipped" row: the shipped weights were fitted on this very set, so nothing is held out
    assert set(rankers) == {"engine", "rrf", "bm25", "embedding"}
    for summary in rankers.values():
        assert set(summary) == METRIC_KEYS
        assert all(set(figure) == {"mean", "sd"} for figure in summary.values())
        assert 0.0 < summary["ndcg@10"]["sd"] < 0.2
    versus = cast(dict[str, Any], body["versus_best_single"])
    assert versus["signal"] == "embedding"  # the better single signal on this set
    assert versus["wins"] + versus["ties"] + versus["losses"] == 124
    assert len(versus["fold_margins"]) == 5
    engine, embedding = rankers["engine"]["ndcg@10"], rankers["embedding"]["ndcg@10"]
    assert versus["margin"] == pytest.approx(engine["mean"] - embedding["mean"], abs=2e-4)
    losses = [row["engine"] - row["signal"] for row in versus["worst_losses"]]
    assert losses == sorted(losses) and all(loss < 0 for loss in losses)


def test_eval_with_folds_lexical_only_compares_the_engine_with_bm25_and_says_so() -> None:
    args = ["eval", "-o", OPPORTUNITIES, "-c", CAPABILITIES, "-g", GOLD, "--folds", "3"]
    body = _json(_run([*args, "--lexical-only", "--no-cache", "--json"]))
    versus = cast(dict[str, Any], body["versus_best_single"])
    assert versus["signal"] == "bm25"  # the only single signal without the model
    assert versus["wins"] + versus["ties"] + versus["losses"] == 124
    shown = _run([*args, "--lexical-only", "--no-cache"], language="en")
    assert shown.exit_code == 0, shown.stderr
    flat = " ".join(shown.stdout.split())
    assert "best single signal (BM25 only)" in flat
    assert f"queries won {versus['wins']}, tied {versus['ties']}" in flat


def test_eval_refuses_a_single_fold() -> None:
    args = ["eval", "-o", OPPORTUNITIES, "-c", CAPABILITIES, "-g", GOLD, "--folds", "1"]
    result = _run([*args, "--lexical-only", "--no-cache"])
    assert result.exit_code == 2 and "--folds" in result.stderr
