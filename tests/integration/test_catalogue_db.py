"""The storefront's free-cards filter on both engines: a pool counts the cards its placed or
running jobs hold, and only those, when a visitor asks for at least N free cards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from suanli.adapters.db.tables import JobRow
from suanli.services import catalogue
from suanli.services.common import Page
from tests.helpers import build_city, make_app


def _job(job_id: str, owner: str, pool_id: str, state: str, cards: int) -> JobRow:
    now = datetime.now(UTC)
    return JobRow(
        id=job_id, owner_id=owner, submitted_by="test", name=job_id,
        spec={"cards": cards}, state=state, reason="", pool_id=pool_id,
        node_cards=[[0, cards]], hold_fen=0, attempts=1, submitted_at=now,
    )  # fmt: skip


def test_free_cards_count_only_placed_and_running_jobs(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url=database_url)
    city = build_city(app)  # one H100 pool of 8 cards
    with app.db.session() as session:
        session.add(_job("job_run", city.enterprise_id, city.pool_id, "running", 6))
        session.add(_job("job_done", city.enterprise_id, city.pool_id, "succeeded", 8))
        session.commit()
    with app.db.session() as session:

        def found(cards_min: int) -> list[int]:
            filters = catalogue.PoolFilters(free_cards_min=cards_min)
            items = catalogue.list_products(session, filters, Page()).items
            return [item.free_cards for item in items]

        assert found(2) == [2]
        assert found(3) == []
        assert found(0) == [2]
    app.close()
