"""Loads the bundled demo lists (fictional, see data/scenes/README.md) into a demo city.

Opportunities are published by a fictional agency (场景创新促进中心) on behalf of the units
the list names; capabilities are spread over the demo enterprises, so each demo enterprise
token owns some and can take part in 对接. Vectors are not computed here: the first match
embeds the texts it needs (about 11 s for all 290 on a 2-core host) and stores them, so
`suanli demo` stays fast and later matches reuse the stored vectors.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from importlib import resources
from typing import Any

from suanli.services import scenes
from suanli.services.common import Principal
from suanli.services.organisations import IssuedToken, create_organisation, create_user_with_token

DEMO_AGENCY_NAME = "场景创新促进中心（虚构）"


def _demo_file(name: str) -> bytes:
    return resources.files("suanli").joinpath("data", "scenes", name).read_bytes()


def load_demo_lists(app: Any, enterprises: Sequence[IssuedToken]) -> IssuedToken:
    """Imports both lists (all or nothing); returns the demo agency's token."""
    with app.db.session() as session:
        org = create_organisation(
            session, app.clock, name=DEMO_AGENCY_NAME, kind="agency", region="浙江/杭州"
        )
        agency = create_user_with_token(session, app.clock, org_id=org.id, name="admin")
        caller = Principal(agency.user_id, agency.org_id, "agency")
        upload = ("opportunities.csv", _demo_file("opportunities.csv"))
        scenes.import_items(session, app.clock, caller, "opportunities", upload)
    _spread_capabilities(app, enterprises)
    return agency


def _spread_capabilities(app: Any, enterprises: Sequence[IssuedToken]) -> None:
    """Round-robin: every n-th capability row goes to the n-th demo enterprise."""
    if not enterprises:
        return
    text = _demo_file("capabilities.csv").decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    for index, enterprise in enumerate(enterprises):
        share = io.StringIO()
        csv.writer(share, lineterminator="\n").writerows([header, *rows[index :: len(enterprises)]])
        caller = Principal(enterprise.user_id, enterprise.org_id, "enterprise")
        with app.db.session() as session:
            upload = ("capabilities.csv", share.getvalue().encode())
            scenes.import_items(session, app.clock, caller, "capabilities", upload)
