"""Pools on both engines: what the database itself enforces about them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from suanli.adapters.db.migrate import upgrade
from suanli.adapters.db.tables import PoolRow
from suanli.api.errors import conflict_from_integrity
from tests.helpers import City, build_city, make_app

RACED_POOL = {
    "name": "raced", "accelerator_model": "L40S", "nodes": 1, "cards_per_node": 4,
    "region": "浙江/杭州", "price_fen_per_card_hour": 100,
}  # fmt: skip


@pytest.fixture
def city(tmp_path: Path, database_url: str) -> Iterator[City]:
    app = make_app(tmp_path, database_url)
    yield build_city(app)
    app.close()


def test_a_deleted_pools_name_can_be_used_again_but_a_live_ones_cannot(city: City) -> None:
    body = {
        "name": "reused", "accelerator_model": "L40S", "nodes": 1, "cards_per_node": 4,
        "region": "浙江/杭州", "price_fen_per_card_hour": 100, "provider_id": city.provider_id,
    }  # fmt: skip
    first = city.post(city.operator, "/v1/pools", body)
    assert first.status_code == 201, first.text
    path = f"/v1/pools/{first.json()['id']}"
    assert city.client.delete(path, headers=city.headers(city.operator)).status_code == 204
    again = city.post(city.operator, "/v1/pools", body)
    assert again.status_code == 201, again.text
    duplicate = city.post(city.operator, "/v1/pools", body)
    assert (duplicate.status_code, duplicate.json()["field"]) == (409, "name")
    renamed = city.client.patch(
        f"/v1/pools/{city.pool_id}", json={"name": "reused"}, headers=city.headers(city.operator)
    )
    assert (renamed.status_code, renamed.json()["field"]) == (409, "name")


POOL_COLUMNS = (
    "provider_id, name, accelerator_model, nodes, cards_per_node, region, "
    "price_fen_per_card_hour, software, labels, backend, connection_id, available, deleted, "
    "created_at"
)


def test_a_rival_storing_the_same_name_at_once_gets_a_409_naming_it_not_a_500(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    """The race the service's own check cannot see: a rival commits the same name between that
    check and the insert. PostgreSQL only: SQLite serialises writers, so it cannot happen."""
    upgrade(postgres_schema_url)
    app = make_app(tmp_path, postgres_schema_url)
    city = build_city(app)
    copied = POOL_COLUMNS.replace(", name,", ", :name,", 1)  # the city's pool, renamed
    rival = f"INSERT INTO pools (id, {POOL_COLUMNS}) SELECT 'pool_rival', {copied} FROM pools"

    def rival_commits_first(*_args: object) -> None:
        with app.db.engine.begin() as connection:  # a connection of its own: commits at once
            row = {"id": city.pool_id, "name": RACED_POOL["name"]}
            connection.execute(sa.text(rival + " WHERE id = :id"), row)

    sa.event.listen(PoolRow, "before_insert", rival_commits_first, once=True)
    try:
        body = {**RACED_POOL, "provider_id": city.provider_id}
        reply = city.post(city.operator, "/v1/pools", body)
    finally:
        app.close()
    assert reply.status_code == 409, reply.text
    assert reply.json()["field"] == "name" and "同时" in reply.json()["message"]


def test_an_integrity_error_other_than_a_duplicate_is_not_dressed_up_as_a_conflict(
    database_url: str,
) -> None:
    engine = sa.create_engine(database_url)
    metadata = sa.MetaData()
    table = sa.Table(
        "probe",
        metadata,
        sa.Column("key", sa.String(10), unique=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    metadata.create_all(engine)
    errors = []
    for row in ({"key": "a", "n": 1}, {"key": "a", "n": 2}, {"key": "b", "n": None}):
        try:
            with engine.begin() as connection:
                connection.execute(table.insert(), row)
        except sa.exc.IntegrityError as error:
            errors.append(conflict_from_integrity(error))
    engine.dispose()
    assert len(errors) == 2
    duplicate, missing = errors
    assert duplicate is not None and duplicate.field == "key"
    assert missing is None  # a NOT NULL violation is a bug: it stays a 500
