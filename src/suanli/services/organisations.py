"""Organisations, relationships, users and API tokens (random, shown once, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from suanli.adapters.db.tables import (
    ApiTokenRow,
    OrganisationRelationRow,
    OrganisationRow,
    UserRow,
)
from suanli.domain.divisions import canonical_region
from suanli.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from suanli.services.common import Clock, Principal, new_id

ORG_KINDS = ("operator", "provider", "enterprise", "agency")
RELATION_KINDS = ("parent_subsidiary", "same_legal_representative")
TOKEN_PREFIX = "sl_"
NAME_LENGTH_MAX = 200


@dataclass(frozen=True)
class IssuedToken:
    org_id: str
    user_id: str
    token: str  # the only time the clear token exists


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_organisation(
    session: Session, clock: Clock, *, name: str, kind: str, region: str = ""
) -> OrganisationRow:
    if kind not in ORG_KINDS:
        raise InvalidInput(f"kind must be one of {ORG_KINDS}", field="kind")
    if not name.strip() or len(name) > NAME_LENGTH_MAX:
        raise InvalidInput(f"name must be 1..{NAME_LENGTH_MAX} characters", field="name")
    if session.scalar(select(OrganisationRow.id).where(OrganisationRow.name == name)):
        raise Conflict(f"an organisation named {name!r} exists", field="name")
    region = canonical_region(region) if region.strip() else ""
    row = OrganisationRow(
        id=new_id("org"), name=name.strip(), kind=kind, region=region, created_at=clock.now()
    )
    session.add(row)
    session.flush()
    return row


def create_user_with_token(
    session: Session, clock: Clock, *, org_id: str, name: str, role: str = "admin"
) -> IssuedToken:
    user = UserRow(id=new_id("usr"), org_id=org_id, name=name, role=role, created_at=clock.now())
    session.add(user)
    session.flush()
    return issue_token(session, clock, user.id, org_id)


def issue_token(session: Session, clock: Clock, user_id: str, org_id: str) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiTokenRow(
            id=new_id("tok"),
            user_id=user_id,
            token_sha256=hash_token(token),
            prefix=token[:10],
            created_at=clock.now(),
        )
    )
    session.flush()
    return IssuedToken(org_id=org_id, user_id=user_id, token=token)


def register_organisation(
    session: Session, clock: Clock, caller: Principal, *, name: str, kind: str, region: str = ""
) -> IssuedToken:
    """The operator registers an organisation and gets its first user's token (shown once)."""
    if not caller.is_operator:
        raise PermissionDenied("only the operator registers organisations")
    org = create_organisation(session, clock, name=name, kind=kind, region=region)
    return create_user_with_token(session, clock, org_id=org.id, name="admin")


def authenticate(session: Session, token: str | None) -> Principal:
    if not token:
        raise NotAuthenticated("a bearer token is required (Authorization: Bearer <token>)")
    row = session.execute(
        select(ApiTokenRow, UserRow, OrganisationRow)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .join(OrganisationRow, OrganisationRow.id == UserRow.org_id)
        .where(ApiTokenRow.token_sha256 == hash_token(token), ApiTokenRow.revoked.is_(False))
    ).first()
    if row is None:
        raise NotAuthenticated("the token is unknown or revoked")
    _, user, org = row
    return Principal(user_id=user.id, org_id=org.id, org_kind=org.kind)


def bootstrap_operator(session: Session, clock: Clock, *, name: str) -> IssuedToken:
    """Creates the operator organisation once; refuses if one exists."""
    if session.scalar(select(OrganisationRow.id).where(OrganisationRow.kind == "operator")):
        raise Conflict("an operator already exists; tokens are shown only once", field="operator")
    org = create_organisation(session, clock, name=name, kind="operator")
    return create_user_with_token(session, clock, org_id=org.id, name="admin")


def get_organisation(session: Session, caller: Principal, org_id: str) -> OrganisationRow:
    row = session.get(OrganisationRow, org_id)
    if row is None or (not caller.is_operator and row.id != caller.org_id):
        raise NotFound(f"organisation {org_id} not found", field="org_id")
    return row


def list_organisations(session: Session, caller: Principal) -> list[OrganisationRow]:
    query = select(OrganisationRow).order_by(OrganisationRow.created_at, OrganisationRow.id)
    if not caller.is_operator:
        query = query.where(OrganisationRow.id == caller.org_id)
    return list(session.scalars(query))


def declare_relation(
    session: Session, clock: Clock, caller: Principal, *, from_org: str, to_org: str, kind: str
) -> OrganisationRelationRow:
    """Declares a relationship (used by voucher rules: no subsidy between related parties)."""
    if kind not in RELATION_KINDS:
        raise InvalidInput(f"kind must be one of {RELATION_KINDS}", field="kind")
    if not caller.is_operator and caller.org_id != from_org:
        raise PermissionDenied("an organisation may only declare its own relationships")
    if from_org == to_org:
        raise InvalidInput("an organisation cannot relate to itself", field="to_org")
    for org_id, field_name in ((from_org, "from_org"), (to_org, "to_org")):
        if session.get(OrganisationRow, org_id) is None:
            raise NotFound(f"organisation {org_id} not found", field=field_name)
    row = OrganisationRelationRow(
        from_org_id=from_org, to_org_id=to_org, kind=kind, created_at=clock.now()
    )
    session.add(row)
    session.flush()
    return row


def are_related(session: Session, org_a: str, org_b: str) -> bool:
    """True if any declared relationship links the two organisations, in either direction."""
    pair = or_(
        (OrganisationRelationRow.from_org_id == org_a)
        & (OrganisationRelationRow.to_org_id == org_b),
        (OrganisationRelationRow.from_org_id == org_b)
        & (OrganisationRelationRow.to_org_id == org_a),
    )
    return session.scalar(select(OrganisationRelationRow.id).where(pair).limit(1)) is not None
