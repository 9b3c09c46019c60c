"""Object-level ownership (IDOR), swept over the API's own OpenAPI document: every operation
whose path names an object (`{..._id}`) is called by tenant B with tenant A's object, where
the permission table lets B call it for objects of its own. B is refused (403 or 404, in the
error shape), sees none of A's private content, and after a refused write A reads its object
(and the audit head) exactly as before. List endpoints that take an owner filter in the query
(`?org_id=`, `?program_id=`...) hand B none of A's items, and a write whose body names one of
A's objects (`provider_id`, `capability_id`...) is refused to B and writes nothing.

A's objects are built once, through the API, by the module fixture; each carries a private
marker (SECRETS) that no answer to B may contain. What is public by design (the catalogue,
programs, challenges, the exchange's lists) is read by B too and must show its public face
only. Operations the table opens to the operator alone need no object check: no tenant gets
past the table (tests/e2e/test_permissions.py). A new operation with an object in its path
fails the coverage test below until it is in one of the tables."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from suanli.adapters.db.tables_connections import ClusterConnectionRow
from suanli.api.app import create_api
from suanli.domain.calendar import BEIJING
from suanli.domain.permissions import RULES, Caller, authorize
from suanli.errors import SuanliError
from suanli.services.scenes import lexical_only_matcher
from tests.helpers import City, build_city, make_app, python_command

PATH_PARAM = re.compile(r"{(\w+)}")
OBJECT_PARAM = re.compile(r"_id$")
OWNER_FILTER = re.compile(r"^(\w+_id|ids|object)$")  # `object`: the audit log's subject id
BODY_FIELD = re.compile(r"^(\w+_ids?|from_org|to_org)$")
ENTERPRISE_B, PROVIDER_B, AGENCY_B = "other_enterprise", "other_provider", "other_agency"
EVERY_B = (ENTERPRISE_B, PROVIDER_B, AGENCY_B)
KIND_OF = {ENTERPRISE_B: "enterprise", PROVIDER_B: "provider", AGENCY_B: "agency"}
# Private content of A's: no answer to any B may contain one of these.
SECRETS = (
    "secret-job-output",
    "secret-rack-label",
    "secret-connection-name",
    "secret-staff@a.example",
    "secret-token-name",
    "secret-application-note",
    "secret-contact-opportunity",
    "secret-contact-capability",
    "secret-proposal-summary",
    "secret-top-up-memo",
    "secret-bank-reference",
)
TAKEOVER_PASSWORD = "Taken-0ver-Passw0rd-2025"
OWNER_FIELDS = ("enterprise_id", "owner_id", "user_id", "org_id", "actor_id", "provider_id")


# ---------------------------------------------------------------- the world: A's objects


@dataclass
class World:
    """The city, a second agency (build_city has one), and the ids of A's objects."""

    city: City
    other_agency: str
    ids: dict[str, str]

    def token(self, name: str) -> str:
        return self.other_agency if name == AGENCY_B else str(getattr(self.city, name))

    def call(
        self, method: str, path: str, who: str | None, body: Any = None, params: Any = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token(who)}"} if who else {}
        return self.city.client.request(method, path, json=body, headers=headers, params=params)

    def made(self, who: str, path: str, body: Any = None) -> dict[str, Any]:
        reply = self.call("POST", path, who, body)
        assert reply.status_code in (200, 201), (path, reply.text)
        return dict(reply.json())

    def path(self, operation: str, object_key: str, kind: str = "") -> str:
        """The operation's path with A's object in its one id parameter."""
        values = {"kind": kind, "month": self.ids["month"]}
        template = operation.split(" ", 1)[1]
        return PATH_PARAM.sub(lambda m: values.get(m.group(1)) or self.ids[object_key], template)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    app = make_app(tmp_path_factory.mktemp("ownership"))
    city = build_city(app)
    city.client.app.state.scene_matcher = lexical_only_matcher()  # type: ignore[attr-defined]
    built = World(city, _second_agency(city), {"month": datetime.now(BEIJING).strftime("%Y-%m")})
    for build in (_tenants, _money, _jobs, _pool, _connection, _staff, _vouchers, _scenes):
        build(built)
    yield built
    app.close()


def _second_agency(city: City) -> str:
    body = {"name": "agency-b", "kind": "agency", "region": "浙江/杭州"}
    reply = city.post(city.operator, "/v1/organisations", body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])


def _tenants(world: World) -> None:
    for name in ("enterprise", "provider", "agency", *EVERY_B):
        world.ids[name] = world.call("GET", "/v1/me", name).json()["org_id"]
    world.ids["enterprise_admin"] = world.call("GET", "/v1/me", "enterprise").json()["user_id"]


def _money(world: World) -> None:
    top_up = {
        "amount_fen": 10_000_000,
        "external_reference": "secret-bank-reference",
        "memo": "secret-top-up-memo",
    }
    world.made("operator", f"/v1/wallets/{world.ids['enterprise']}/top-ups", top_up)
    balances = world.call("GET", f"/v1/wallets/{world.ids['enterprise']}/balances", "enterprise")
    wallet = next(a for a in balances.json() if a["kind"] == "enterprise_wallet")
    world.ids["wallet"] = wallet["account_id"]
    reward_funds = {"amount_fen": 500_000, "external_reference": "拨付-1"}
    world.made("operator", f"/v1/scenes/agencies/{world.ids['agency']}/top-ups", reward_funds)


def _jobs(world: World) -> None:
    """One job run to its end (logs, usage), one left queued (a cancel would still work)."""
    job = {"name": "a-job", "cards": 2, "max_run_time_s": 60}
    command = python_command("print('secret-job-output')")
    world.ids["job"] = world.made("enterprise", "/v1/jobs", {**job, "command": command})["id"]
    _run_to_the_end(world, world.ids["job"])
    queued = world.made("enterprise", "/v1/jobs", {**job, "command": "sleep 30"})
    world.ids["queued_job"] = queued["id"]


def _run_to_the_end(world: World, job_id: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        world.city.app.runtime.tick()
        state = world.call("GET", f"/v1/jobs/{job_id}", "enterprise").json()["state"]
        if state in ("succeeded", "failed", "cancelled", "timed_out"):
            assert state == "succeeded", state
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end")


def _pool(world: World) -> None:
    world.ids["pool"] = world.city.pool_id
    labels = {"labels": {"rack": "secret-rack-label"}}
    reply = world.call("PATCH", f"/v1/pools/{world.ids['pool']}", "provider", labels)
    assert reply.status_code == 200, reply.text


def _connection(world: World) -> None:
    """Written as `POST /v1/connections` and the operator's approval leave it: adding one
    through the API needs a live cluster. Its address is a closed port (refused at once)."""
    address = "http://127.0.0.1:1"
    with world.city.app.db.session() as session:
        session.add(
            ClusterConnectionRow(
                id="conn_ownership", provider_id=world.ids["provider"],
                name="secret-connection-name", kind="ray", address=address, options={},
                healthy=False, last_error="", capacity={"H100-SXM": 8},
                created_at=datetime.now(UTC), review_state="approved",
                cluster_key=f"ray:{address}",
            )
        )  # fmt: skip
    world.ids["connection"] = "conn_ownership"


def _staff(world: World) -> None:
    user = {
        "login": "a-staff", "display_name": "A staff", "role": "member",
        "password": "Staff-0f-A-Passw0rd", "email": "secret-staff@a.example",
    }  # fmt: skip
    world.ids["user"] = world.made("enterprise", "/v1/users", user)["id"]
    token = {"name": "secret-token-name", "scopes": ["read"]}
    world.ids["token"] = world.made("enterprise", "/v1/tokens", token)["id"]


def _vouchers(world: World) -> None:
    """A funded program with a grant, and an unfunded one with a pending application."""
    world.ids["program"] = world.made("agency", "/v1/vouchers/programs", _program("A 券一"))["id"]
    funding = {"amount_fen": 1_000_000, "external_reference": "财政-1"}
    world.made("agency", f"/v1/vouchers/programs/{world.ids['program']}/funding", funding)
    applied = _apply(world, world.ids["program"])
    world.made("agency", f"/v1/vouchers/applications/{applied}/approve", {"quota_fen": 1})
    program = world.made("agency", "/v1/vouchers/programs", _program("A 券二"))
    world.ids["open_program"] = program["id"]
    world.ids["application"] = _apply(world, program["id"])


def _program(name: str) -> dict[str, Any]:
    today = date.today()
    return {
        "name": name, "category": "compute", "budget_fen": 10_000_000,
        "valid_from": (today - timedelta(days=1)).isoformat(),
        "valid_until": (today + timedelta(days=300)).isoformat(),
        "base_ratio": "0.3", "cap_per_enterprise_fen": 1_000_000,
    }  # fmt: skip


def _apply(world: World, program_id: str) -> str:
    facts = {
        "is_sme": True, "region": "浙江/杭州/余杭", "founded_on": "2021-03-01",
        "requested_fen": 100_000, "note": "secret-application-note",
    }  # fmt: skip
    return str(
        world.made("enterprise", f"/v1/vouchers/programs/{program_id}/applications", facts)["id"]
    )


def _scenes(world: World) -> None:
    """The agency's need, the enterprise's capability, a pair of them (the agency consented),
    and a challenge on the need with the enterprise's proposal."""
    need = {"id": "OPP-A", "title": "焊缝检测", "industry": "金融",
            "contact": "secret-contact-opportunity"}  # fmt: skip
    offer = {"id": "CAP-A", "title": "焊缝检测能力", "industry": "金融",
             "contact": "secret-contact-capability"}  # fmt: skip
    world.ids["opportunity"] = world.made("agency", "/v1/scenes/opportunities", need)["id"]
    world.ids["capability"] = world.made("enterprise", "/v1/scenes/capabilities", offer)["id"]
    pair = {"opportunity_id": "OPP-A", "capability_id": "CAP-A"}
    world.ids["pair"] = world.made("agency", "/v1/scenes/pairs", pair)["id"]
    world.made("agency", f"/v1/scenes/pairs/{world.ids['pair']}/consent", {})
    world.ids["challenge"] = world.made("agency", "/v1/scenes/challenges", _challenge())["id"]
    proposal = {"summary": "secret-proposal-summary", "capability_id": "CAP-A"}
    path = f"/v1/scenes/challenges/{world.ids['challenge']}/proposals"
    world.ids["proposal"] = world.made("enterprise", path, proposal)["id"]


def _challenge() -> dict[str, Any]:
    return {
        "opportunity_id": "OPP-A", "goal": "焊缝底片自动评级", "reward_fen": 100_000,
        "deadline": (date.today() + timedelta(days=30)).isoformat(),
        "criteria": [{"name": "效果", "weight_percent": 100}],
    }  # fmt: skip


# ---------------------------------------------------------------- the tables


@dataclass(frozen=True)
class Owned:
    """One of A's objects: who of A owns it, what A reads of it (paths over World.ids; a
    refused write must leave them as they were), and its `{kind}` where a path has one."""

    owner: str
    reads: tuple[str, ...]
    kind: str = ""


OBJECTS: dict[str, Owned] = {
    "job": Owned("enterprise", ("/v1/jobs/{job}",)),
    "queued_job": Owned(
        "enterprise", ("/v1/jobs/{queued_job}", "/v1/wallets/{enterprise}/balances")
    ),
    "pool": Owned("provider", ("/v1/pools/{pool}",)),
    "connection": Owned("provider", ("/v1/connections/{connection}",)),
    "user": Owned("enterprise", ("/v1/users/{user}",)),
    "token": Owned("enterprise", ("/v1/tokens",)),
    "enterprise": Owned("enterprise", ("/v1/organisations/{enterprise}",)),
    "wallet": Owned("enterprise", ("/v1/wallets/{enterprise}/balances",)),
    "program": Owned("agency", ("/v1/vouchers/programs/{program}",)),
    "open_program": Owned("agency", ("/v1/vouchers/programs/{open_program}",)),
    "application": Owned("agency", ("/v1/vouchers/applications/{application}",)),
    "pair": Owned("agency", ("/v1/scenes/pairs/{pair}",)),
    "challenge": Owned(
        "agency",
        (
            "/v1/scenes/challenges/{challenge}",
            "/v1/scenes/challenges/{challenge}/proposals",
            "/v1/wallets/{agency}/balances",
        ),
    ),
    "capability": Owned("enterprise", ("/v1/scenes/capabilities/{capability}",), "capabilities"),
    "opportunity": Owned("agency", ("/v1/scenes/opportunities/{opportunity}",), "opportunities"),
}

Body = dict[str, Any] | Callable[[World], dict[str, Any]] | None


@dataclass(frozen=True)
class Sweep:
    """An operation on one of A's objects, and the Bs (tenants the permission table lets call
    it for their own objects) who must be refused it."""

    object: str
    intruders: tuple[str, ...]
    body: Body = None  # a valid body: B's write must fail on the owner, not on validation


def _proposal_scores(world: World) -> dict[str, Any]:
    return {"proposal_id": world.ids["proposal"], "scores": {"效果": 90}}


def _award(world: World) -> dict[str, Any]:
    return {"proposal_id": world.ids["proposal"]}


SCENE_WRITERS = (ENTERPRISE_B, AGENCY_B)
SWEEP: dict[str, Sweep] = {
    # identity
    "DELETE /v1/tokens/{token_id}": Sweep("token", EVERY_B),
    "GET /v1/users/{user_id}": Sweep("user", EVERY_B),
    "PATCH /v1/users/{user_id}": Sweep("user", EVERY_B, {"display_name": "B", "disabled": True}),
    "POST /v1/users/{user_id}/password": Sweep(
        "user", EVERY_B, {"new_password": TAKEOVER_PASSWORD}
    ),
    "POST /v1/users/{user_id}/sign-out": Sweep("user", EVERY_B),
    "GET /v1/organisations/{org_id}": Sweep("enterprise", EVERY_B),
    # pools and cluster connections
    "PATCH /v1/pools/{pool_id}": Sweep("pool", (PROVIDER_B,), {"price_fen_per_card_hour": 1}),
    "DELETE /v1/pools/{pool_id}": Sweep("pool", (PROVIDER_B,)),
    "GET /v1/connections/{connection_id}": Sweep("connection", (PROVIDER_B,)),
    "DELETE /v1/connections/{connection_id}": Sweep("connection", (PROVIDER_B,)),
    "GET /v1/connections/{connection_id}/capacity": Sweep("connection", (PROVIDER_B,)),
    "POST /v1/connections/{connection_id}/check": Sweep("connection", (PROVIDER_B,)),
    # jobs (a provider sees the jobs on its own pools: not B's)
    "GET /v1/jobs/{job_id}": Sweep("job", EVERY_B),
    "POST /v1/jobs/{job_id}/cancel": Sweep("queued_job", (ENTERPRISE_B,)),
    "GET /v1/jobs/{job_id}/logs": Sweep("job", EVERY_B),
    "GET /v1/jobs/{job_id}/usage": Sweep("job", EVERY_B),
    # money
    "GET /v1/wallets/{org_id}/balances": Sweep("enterprise", EVERY_B),
    "GET /v1/wallets/{org_id}/statement": Sweep("enterprise", EVERY_B),
    "GET /v1/ledger/accounts/{account_id}/statement": Sweep("wallet", EVERY_B),
    "GET /v1/statements/{org_id}/{month}": Sweep("enterprise", EVERY_B),
    # vouchers (an agency sees the applications to its own programs: not B's)
    "PATCH /v1/vouchers/programs/{program_id}": Sweep("open_program", (AGENCY_B,), {"name": "B"}),
    "DELETE /v1/vouchers/programs/{program_id}": Sweep("open_program", (AGENCY_B,)),
    "POST /v1/vouchers/programs/{program_id}/funding": Sweep(
        "open_program", (AGENCY_B,), {"amount_fen": 100, "external_reference": "b-1"}
    ),
    "GET /v1/vouchers/programs/{program_id}/report": Sweep("program", (AGENCY_B,)),
    "GET /v1/vouchers/applications/{application_id}": Sweep("application", EVERY_B),
    "POST /v1/vouchers/applications/{application_id}/approve": Sweep(
        "application", (AGENCY_B,), {"quota_fen": 1_000}
    ),
    "POST /v1/vouchers/applications/{application_id}/reject": Sweep(
        "application", (AGENCY_B,), {"reason": "B"}
    ),
    # scenes
    "PATCH /v1/scenes/{kind}/{item_id}": Sweep("opportunity", SCENE_WRITERS, {"title": "B"}),
    "DELETE /v1/scenes/{kind}/{item_id}": Sweep("capability", SCENE_WRITERS),
    "GET /v1/scenes/pairs/{pair_id}": Sweep("pair", EVERY_B),
    "POST /v1/scenes/pairs/{pair_id}/stage": Sweep("pair", EVERY_B, {"stage": "interested"}),
    "POST /v1/scenes/pairs/{pair_id}/consent": Sweep("pair", EVERY_B, {}),
    "POST /v1/scenes/challenges/{challenge_id}/reviews": Sweep(
        "challenge", (AGENCY_B,), _proposal_scores
    ),
    "POST /v1/scenes/challenges/{challenge_id}/award": Sweep("challenge", (AGENCY_B,), _award),
    "POST /v1/scenes/challenges/{challenge_id}/cancel": Sweep("challenge", (AGENCY_B,)),
}


@dataclass(frozen=True)
class Public:
    """An operation on A's object that every tenant may call by design: why, and which of its
    fields stay hidden from everyone but A (and the operator)."""

    object: str
    why: str
    hidden: tuple[str, ...] = ()
    own_items_only: bool = False  # a list of which B sees its own items only


PUBLIC: dict[str, Public] = {
    "GET /v1/pools/{pool_id}": Public(
        "pool", "the 算力超市 catalogue", ("backend", "connection_id", "labels")
    ),
    "GET /v1/vouchers/programs/{program_id}": Public("program", "programs are public policy"),
    "POST /v1/vouchers/programs/{program_id}/applications": Public(
        "program", "any enterprise applies to any program; its rules decide"
    ),
    "GET /v1/scenes/{kind}/{item_id}": Public(
        "capability", "the exchange's lists are public; contacts stay with the owner", ("contact",)
    ),
    "GET /v1/scenes/{kind}/{item_id}/matches": Public("opportunity", "matches rank public lists"),
    "GET /v1/scenes/challenges/{challenge_id}": Public("challenge", "揭榜挂帅 is posted publicly"),
    "POST /v1/scenes/challenges/{challenge_id}/proposals": Public(
        "challenge", "any enterprise answers an open challenge"
    ),
    "GET /v1/scenes/challenges/{challenge_id}/proposals": Public(
        "challenge", "an enterprise reads its own proposals", own_items_only=True
    ),
}


PUBLICLY_READ = {spec.object for key, spec in PUBLIC.items() if key.startswith("GET ")}


@dataclass(frozen=True)
class OwnerFilter:
    """A list filtered by one of A's ids, asked by the Bs: they get none of A's items (or a
    refusal), unless the list is public by design (`why`). A, asking the same, gets some."""

    object: str  # the World.ids key of the filter's value
    owner: str | None
    intruders: tuple[str, ...] = EVERY_B
    why: str = ""
    kind: str = ""
    extra: tuple[tuple[str, str], ...] = ()


AUDIT_CSV = (("format", "csv"),)
FILTERS: dict[tuple[str, str], OwnerFilter] = {
    ("GET /v1/tokens", "user_id"): OwnerFilter("enterprise_admin", "enterprise"),
    ("GET /v1/users", "org_id"): OwnerFilter("enterprise", "enterprise"),
    ("GET /v1/audit", "org_id"): OwnerFilter("enterprise", "enterprise"),
    ("GET /v1/audit", "actor_id"): OwnerFilter("enterprise_admin", "enterprise"),
    ("GET /v1/audit", "object"): OwnerFilter("job", "enterprise"),
    ("GET /v1/audit/export", "org_id"): OwnerFilter("enterprise", "enterprise", extra=AUDIT_CSV),
    ("GET /v1/audit/export", "actor_id"): OwnerFilter(
        "enterprise_admin", "enterprise", extra=AUDIT_CSV
    ),
    ("GET /v1/audit/export", "object"): OwnerFilter("job", "enterprise", extra=AUDIT_CSV),
    ("GET /v1/vouchers/applications", "program_id"): OwnerFilter("open_program", "agency"),
    ("GET /v1/vouchers/grants", "program_id"): OwnerFilter("program", "agency"),
    ("GET /v1/vouchers/programs", "agency_id"): OwnerFilter(
        "agency", "agency", why="programs are public policy"
    ),
    ("GET /v1/scenes/{kind}", "org_id"): OwnerFilter(
        "enterprise", "enterprise", why="the exchange's lists are public", kind="capabilities"
    ),
    ("GET /v1/public/pools", "ids"): OwnerFilter(
        "pool", None, intruders=(), why="the public storefront (no sign-in)"
    ),
}

# Where A reads each secret: proof that the markers are really there to leak.
SECRET_SOURCES = {
    "secret-job-output": ("enterprise", "/v1/jobs/{job}/logs"),
    "secret-rack-label": ("provider", "/v1/pools/{pool}"),
    "secret-connection-name": ("provider", "/v1/connections/{connection}"),
    "secret-staff@a.example": ("enterprise", "/v1/users/{user}"),
    "secret-token-name": ("enterprise", "/v1/tokens"),
    "secret-application-note": ("agency", "/v1/vouchers/applications/{application}"),
    "secret-contact-opportunity": ("agency", "/v1/scenes/opportunities/{opportunity}"),
    "secret-contact-capability": ("enterprise", "/v1/scenes/capabilities/{capability}"),
    "secret-proposal-summary": ("agency", "/v1/scenes/challenges/{challenge}/proposals"),
    "secret-top-up-memo": ("enterprise", "/v1/wallets/{enterprise}/statement"),
    "secret-bank-reference": ("enterprise", "/v1/wallets/{enterprise}/statement"),
}


@dataclass(frozen=True)
class BodySweep:
    """A write whose body names one of A's objects, sent by the Bs: refused, nothing written."""

    intruders: tuple[str, ...]
    body: Callable[[World], dict[str, Any]]
    path_object: str = ""  # A's object in the path's id, where the path has one


RAY_POOL = {
    "name": "b-pool", "accelerator_model": "H100-SXM", "nodes": 1, "cards_per_node": 8,
    "region": "浙江/杭州", "price_fen_per_card_hour": 100, "backend": "ray",
}  # fmt: skip


def _a_pair(world: World) -> dict[str, Any]:
    return {"opportunity_id": world.ids["opportunity"], "capability_id": world.ids["capability"]}


def _a_relation(world: World) -> dict[str, Any]:
    return {"from_org": world.ids["enterprise"], "to_org": world.ids["provider"],
            "kind": "parent_subsidiary"}  # fmt: skip


def _a_user(world: World) -> dict[str, Any]:
    return {"login": "b-in-a", "display_name": "B", "password": TAKEOVER_PASSWORD,
            "org_id": world.ids["enterprise"]}  # fmt: skip


def _a_pool_on_as_connection(world: World) -> dict[str, Any]:
    return {**RAY_POOL, "connection_id": world.ids["connection"]}


def _a_pool_for_a(world: World) -> dict[str, Any]:
    return {**_a_pool_on_as_connection(world), "provider_id": world.ids["provider"]}


def _a_connection_for_a(world: World) -> dict[str, Any]:
    return {"name": "b", "kind": "ray", "address": "http://127.0.0.1:1",
            "provider_id": world.ids["provider"]}  # fmt: skip


def _an_import_for_a(world: World) -> dict[str, Any]:
    return {"kind": "opportunities", "filename": "b.csv", "org_id": world.ids["agency"],
            "content": "id,title,industry\nOPP-B,需求,金融\n"}  # fmt: skip


def _an_item_for(org_key: str) -> Callable[[World], dict[str, Any]]:
    return lambda world: {"title": "B", "industry": "金融", "org_id": world.ids[org_key]}


def _a_proposal_with_as_capability(world: World) -> dict[str, Any]:
    return {"summary": "B", "capability_id": world.ids["capability"]}


PROPOSALS = "POST /v1/scenes/challenges/{challenge_id}/proposals"
BODY_SWEEP: dict[tuple[str, str], BodySweep] = {
    ("POST /v1/organisations/relations", "from_org"): BodySweep(EVERY_B, _a_relation),
    ("POST /v1/users", "org_id"): BodySweep(EVERY_B, _a_user),
    ("POST /v1/pools", "connection_id"): BodySweep((PROVIDER_B,), _a_pool_on_as_connection),
    ("POST /v1/pools", "provider_id"): BodySweep((PROVIDER_B,), _a_pool_for_a),
    ("POST /v1/connections", "provider_id"): BodySweep((PROVIDER_B,), _a_connection_for_a),
    ("POST /v1/scenes/import", "org_id"): BodySweep(SCENE_WRITERS, _an_import_for_a),
    ("POST /v1/scenes/opportunities", "org_id"): BodySweep(SCENE_WRITERS, _an_item_for("agency")),
    ("POST /v1/scenes/capabilities", "org_id"): BodySweep(
        (ENTERPRISE_B,), _an_item_for("enterprise")
    ),
    ("POST /v1/scenes/pairs", "opportunity_id"): BodySweep(EVERY_B, _a_pair),
    ("POST /v1/scenes/pairs", "capability_id"): BodySweep(EVERY_B, _a_pair),
    ("POST /v1/scenes/challenges", "opportunity_id"): BodySweep(
        (AGENCY_B,), lambda world: _challenge()
    ),
    (PROPOSALS, "capability_id"): BodySweep(
        (ENTERPRISE_B,), _a_proposal_with_as_capability, "challenge"
    ),
}
# Body fields where naming A's object is no trespass, or is checked elsewhere.
BODY_NOT_SWEPT = {
    ("POST /v1/organisations/relations", "to_org"): "one declares its own relationships",
    ("POST /v1/vouchers/programs", "provider_ids"): "a program names the providers it covers",
    ("POST /v1/scenes/challenges/{challenge_id}/reviews", "proposal_id"): "SWEEP: the path's",
    ("POST /v1/scenes/challenges/{challenge_id}/award", "proposal_id"): "SWEEP: the path's",
}


# ---------------------------------------------------------------- the schema's operations


SCHEMA = create_api(SimpleNamespace()).openapi()  # type: ignore[arg-type]
OPERATIONS = {
    f"{method.upper()} {path}": operation
    for path, item in SCHEMA["paths"].items()
    for method, operation in item.items()
}


def object_operations() -> set[str]:
    return {key for key in OPERATIONS if any(map(OBJECT_PARAM.search, PATH_PARAM.findall(key)))}


def operator_only() -> set[str]:
    return {key for key in object_operations() if RULES[key].kinds == {"operator"}}


def owner_filters() -> set[tuple[str, str]]:
    return {
        (key, parameter["name"])
        for key, operation in OPERATIONS.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and OWNER_FILTER.match(parameter["name"])
    }


def body_fields() -> set[tuple[str, str]]:
    """(operation, field) for each field of a JSON request body that names an object."""
    return {
        (key, name)
        for key, operation in OPERATIONS.items()
        for name in _body_model(operation).get("properties", {})
        if BODY_FIELD.match(name)
    }


def _body_model(operation: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {})
    reference = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    return dict(SCHEMA["components"]["schemas"].get(reference.rsplit("/", 1)[-1], {}))


def admitted(operation: str, tenants: tuple[str, ...]) -> set[str]:
    """The tenants whose kind the permission table lets call the operation (as admins)."""
    let_through = set()
    for tenant in tenants:
        try:
            authorize(RULES[operation], Caller(KIND_OF[tenant], "admin"))
        except SuanliError:
            continue
        let_through.add(tenant)
    return let_through


# ---------------------------------------------------------------- checks


def assert_refused(reply: Any, who: str) -> None:
    assert reply.status_code in (403, 404), (who, reply.status_code, reply.text[:300])
    body = reply.json()
    assert body.get("error") and body.get("message") and "field" in body, (who, body)
    assert body["field"] != "path", (who, "no such route: the sweep called a wrong path")
    # B's credential is fine: a refusal naming it would send B to change the wrong thing
    assert body["field"] != "Authorization", (who, body)


def assert_no_secret(reply: Any, who: str) -> None:
    shown = [secret for secret in SECRETS if secret in reply.text]
    assert not shown, (who, reply.request.url.path, shown)


def without_volatile(value: Any) -> Any:
    """A read as compared before and after: a token's last use moves with every read."""
    if isinstance(value, dict):
        return {k: without_volatile(v) for k, v in value.items() if k != "last_used_at"}
    if isinstance(value, list):
        return [without_volatile(item) for item in value]
    return value


def snapshot(world: World, object_name: str) -> list[Any]:
    """What A reads of its object, and the audit log's head (any accepted write moves it)."""
    owned = OBJECTS[object_name]
    replies = [world.call("GET", read.format(**world.ids), owned.owner) for read in owned.reads]
    assert all(reply.status_code == 200 for reply in replies), [r.text for r in replies]
    return [*(without_volatile(reply.json()) for reply in replies), audit_head(world)]


def audit_head(world: World) -> Any:
    return world.call("GET", "/v1/audit/head", "operator").json()


def body_of(sweep: Sweep, world: World) -> Any:
    return sweep.body(world) if callable(sweep.body) else sweep.body


def rows_of(reply: Any) -> list[dict[str, Any]]:
    if reply.headers["content-type"].startswith("text/csv"):
        return list(csv.DictReader(io.StringIO(reply.text)))
    return list(reply.json()["items"])


def foreign_rows(world: World, reply: Any, who: str) -> list[dict[str, Any]]:
    """Rows naming one of A's organisations or users that are not about B itself."""
    owners = {world.ids[key] for key in ("enterprise", "provider", "agency", "enterprise_admin")}
    owners.add(world.ids["user"])
    mine = world.ids[who]
    return [
        row
        for row in rows_of(reply)
        if owners & {row.get(field) for field in OWNER_FIELDS}
        and mine not in (row.get("org_id"), row.get("about_org_id"))
    ]


# ---------------------------------------------------------------- coverage of the tables


def test_every_operation_with_an_object_in_its_path_is_swept_public_or_the_operators() -> None:
    swept, public, operators = set(SWEEP), set(PUBLIC), operator_only()
    assert not swept & public and not (swept | public) & operators, "in two tables at once"
    covered = swept | public | operators
    assert object_operations() == covered, {
        "not in the sweep": sorted(object_operations() - covered),
        "in a table, not in the API": sorted(covered - object_operations()),
    }


def test_every_owner_filter_in_a_query_is_swept() -> None:
    assert owner_filters() == set(FILTERS), {
        "not swept": sorted(owner_filters() - set(FILTERS)),
        "not in the API": sorted(set(FILTERS) - owner_filters()),
    }


def test_every_body_field_naming_an_object_is_swept() -> None:
    operators = {(key, name) for key, name in body_fields() if RULES[key].kinds == {"operator"}}
    covered = set(BODY_SWEEP) | set(BODY_NOT_SWEPT) | operators
    assert body_fields() == covered, {
        "not swept": sorted(body_fields() - covered),
        "not in the API": sorted(covered - body_fields()),
    }


def test_the_sweep_tries_every_tenant_the_permission_table_lets_through() -> None:
    """So a refusal is the object check's, never the table's (which test_permissions tests)."""
    tried = [
        *((key, sweep.intruders) for key, sweep in SWEEP.items()),
        *((key, spec.intruders) for (key, _), spec in FILTERS.items() if spec.owner),
        *((key, sweep.intruders) for (key, _), sweep in BODY_SWEEP.items()),
    ]
    wrong = [(key, who) for key, who in tried if set(who) != admitted(key, EVERY_B)]
    assert not wrong, wrong


def test_each_secret_is_there_for_its_owner_to_read(world: World) -> None:
    """Without this, a marker missing from A's object would make every leak check vacuous."""
    assert set(SECRET_SOURCES) == set(SECRETS)
    for secret, (owner, read) in SECRET_SOURCES.items():
        assert secret in world.call("GET", read.format(**world.ids), owner).text, secret


# ---------------------------------------------------------------- the sweep


@pytest.mark.parametrize("operation", sorted(SWEEP))
def test_another_tenant_is_refused_the_object_and_it_stays_as_it_was(
    world: World, operation: str
) -> None:
    sweep = SWEEP[operation]
    method = operation.split(" ")[0]
    path = world.path(operation, sweep.object, OBJECTS[sweep.object].kind)
    before = snapshot(world, sweep.object)
    for intruder in sweep.intruders:
        reply = world.call(method, path, intruder, body_of(sweep, world))
        assert_refused(reply, intruder)
        if sweep.object in PUBLICLY_READ:  # B can read it, so "not found" would mislead
            assert reply.status_code == 403, (intruder, reply.text[:300])
        assert_no_secret(reply, intruder)
    assert snapshot(world, sweep.object) == before, "a refused call changed A's object"
    if method == "GET":  # the control: the same call reaches the object for its owner
        owner = world.call(method, path, OBJECTS[sweep.object].owner)
        assert owner.status_code not in (401, 403, 404), owner.text


@pytest.mark.parametrize("operation", sorted(k for k in PUBLIC if k.startswith("GET ")))
def test_a_public_object_shows_every_tenant_its_public_face_only(
    world: World, operation: str
) -> None:
    public = PUBLIC[operation]
    path = world.path(operation, public.object, OBJECTS[public.object].kind)
    for tenant in sorted(admitted(operation, EVERY_B)):
        reply = world.call("GET", path, tenant)
        assert reply.status_code == 200, (tenant, reply.text)
        assert_no_secret(reply, tenant)
        shown = {field: reply.json()[field] for field in public.hidden}
        assert not any(shown.values()), (tenant, shown)
        if public.own_items_only:
            assert not foreign_rows(world, reply, tenant), tenant


@pytest.mark.parametrize(("operation", "parameter"), sorted(FILTERS))
def test_an_owner_filter_hands_another_tenant_none_of_the_owners_items(
    world: World, operation: str, parameter: str
) -> None:
    spec = FILTERS[(operation, parameter)]
    path = world.path(operation, spec.object, spec.kind)
    params = {parameter: world.ids[spec.object], **dict(spec.extra)}
    owners = world.call("GET", path, spec.owner, params=params)
    assert owners.status_code == 200 and rows_of(owners), owners.text  # A gets some
    assert_no_secret(world.call("GET", path, None, params=params), "no one")
    for intruder in spec.intruders:
        reply = world.call("GET", path, intruder, params=params)
        assert_no_secret(reply, intruder)
        if reply.status_code != 200:
            assert_refused(reply, intruder)
        elif not spec.why:
            assert not foreign_rows(world, reply, intruder), intruder


@pytest.mark.parametrize(("operation", "field_name"), sorted(BODY_SWEEP))
def test_a_body_naming_another_tenants_object_is_refused_and_writes_nothing(
    world: World, operation: str, field_name: str
) -> None:
    sweep = BODY_SWEEP[(operation, field_name)]
    method = operation.split(" ")[0]
    path = world.path(operation, sweep.path_object)
    before = audit_head(world)
    for intruder in sweep.intruders:
        reply = world.call(method, path, intruder, sweep.body(world))
        if reply.status_code == 422:  # refused as a missing object is, naming the field
            assert reply.json()["field"] == field_name, (intruder, reply.text)
        else:
            assert_refused(reply, intruder)
        assert_no_secret(reply, intruder)
    assert audit_head(world) == before, "a refused call wrote something"
