"""Every typed error maps to one exit code, on the server and in the CLI alike."""

from __future__ import annotations

import importlib
import pkgutil

import suanli
from suanli.errors import (
    MONEY_RULE_CODES,
    LedgerError,
    SuanliError,
    exit_code_for_response,
)


def all_subclasses(cls: type[SuanliError]) -> set[type[SuanliError]]:
    found: set[type[SuanliError]] = set(cls.__subclasses__())
    for sub in list(found):
        found |= all_subclasses(sub)
    return found


def import_everything() -> None:
    for module in pkgutil.walk_packages(suanli.__path__, "suanli."):
        if ".migrations" in module.name or module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)


def test_the_cli_knows_every_money_rule_code() -> None:
    import_everything()
    classes = all_subclasses(LedgerError) | {LedgerError}
    codes = {cls.code for cls in classes if cls.exit_code == LedgerError.exit_code}
    assert codes == MONEY_RULE_CODES
    assert {cls.code for cls in classes if cls.exit_code == 2} == {"invalid_amount"}


def test_an_api_answer_maps_to_the_exit_code_of_its_typed_error() -> None:
    import_everything()
    for cls in all_subclasses(SuanliError):
        assert exit_code_for_response(cls.http_status, cls.code) == cls.exit_code, cls


def test_the_readme_table_of_exit_codes() -> None:
    assert exit_code_for_response(422, "insufficient_funds") == 6
    assert exit_code_for_response(422, "invalid_input") == 2
    assert exit_code_for_response(502, "backend_error") == 7
    assert exit_code_for_response(503, "backend_unavailable") == 7
    assert exit_code_for_response(409, "conflict") == 5
    assert exit_code_for_response(404, "not_found") == 4
    assert exit_code_for_response(401, "not_authenticated") == 3
