"""The pure identity rules: the credit code's check character, the password rule, token
scopes and the sign-in backoff."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.domain.identity import (
    ACCOUNT_THROTTLE,
    ADDRESS_THROTTLE,
    CREDIT_CODE_CHARSET,
    check_credit_code,
    check_login,
    check_scopes,
    credit_code_check_character,
    password_problem,
    scopes_cover,
)
from suanli.errors import InvalidInput, PermissionDenied
from suanli.services.common import Principal
from suanli.services.passwords import common_passwords

# The example of GB 32100-2015 itself, and two codes of listed companies.
REAL_CODES = ("91350100M000100Y43", "91110108551385082Q", "91440300708461136T")
bodies = st.text(alphabet=CREDIT_CODE_CHARSET, min_size=17, max_size=17)


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_pass_in_either_case(code: str) -> None:
    assert check_credit_code(code) == code
    assert check_credit_code(f"  {code.lower()} ") == code


@given(body=bodies, position=st.integers(0, 17), shift=st.integers(1, 30))
def test_any_single_wrong_character_is_caught(body: str, position: int, shift: int) -> None:
    code = body + credit_code_check_character(body)
    assert check_credit_code(code) == code
    index = CREDIT_CODE_CHARSET.index(code[position])
    wrong = CREDIT_CODE_CHARSET[(index + shift) % 31]
    typo = code[:position] + wrong + code[position + 1 :]
    with pytest.raises(InvalidInput) as refused:
        check_credit_code(typo)
    assert refused.value.field == "credit_code"


@given(body=bodies, position=st.integers(0, 15))
def test_two_neighbours_swapped_are_caught(body: str, position: int) -> None:
    code = body + credit_code_check_character(body)
    if code[position] == code[position + 1]:
        return
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
    with pytest.raises(InvalidInput):
        check_credit_code(swapped)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("9135010OM000100Y43", "'O'"),  # the letter O is never used
        ("91350100M000100Y4", "17"),
        ("91350100M000100Y44", "should be 3"),
    ],
)
def test_a_wrong_code_says_what_is_wrong(code: str, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_credit_code(code)
    assert says in str(refused.value)  # str() of an error is its English message


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short-1", "at least 12"),
        ("a" * 129, "at most 128"),
        ("abababababab", "different characters"),
        ("password1234", "common"),
        ("Iloveyou2024!!", "common"),
        ("woaini1314woaini1314", "common"),  # a repeated common password
        ("1234567890123", "common"),
        ("123456789012", "consecutive"),
        ("zyxwvutsrqpon", "consecutive"),
        ("qwertyuiopas", "consecutive"),
        ("zhangwei-lake-house", "login"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, why: str) -> None:
    problem = password_problem(password, login="zhangwei", common=common_passwords())
    assert problem is not None and why in problem.en, (password, problem)


def test_a_long_uncommon_password_passes() -> None:
    assert password_problem("tea-kettle-river-42", login="li", common=common_passwords()) is None
    assert len(common_passwords()) > 10_000


def test_logins_are_lower_case_and_plain() -> None:
    assert check_login(" Zhang.Wei ") == "zhang.wei"
    for bad in ("ab", "张伟", "a b", "-lead", "x" * 65):
        with pytest.raises(InvalidInput):
            check_login(bad)


def test_scopes_never_exceed_the_role_and_write_includes_read() -> None:
    assert check_scopes(["write"], "member") == {"read", "write"}
    assert check_scopes(["read", "jobs"], "viewer") == {"read", "jobs"}
    for scopes, role in ((["write"], "viewer"), (["jobs"], "admin"), (["root"], "admin")):
        with pytest.raises(InvalidInput) as refused:
            check_scopes(scopes, role)
        assert refused.value.field == "scopes"


def test_a_token_mints_only_narrower_tokens() -> None:
    full = frozenset({"read", "write"})
    jobs_only = frozenset({"read", "write", "jobs"})
    assert scopes_cover(full, frozenset({"read", "wallet"}))
    assert scopes_cover(jobs_only, frozenset({"read", "jobs"}))
    assert not scopes_cover(jobs_only, frozenset({"read", "write"}))  # every area: wider
    assert not scopes_cover(frozenset({"read"}), frozenset({"read", "write"}))


def test_the_backoff_doubles_from_the_threshold_up_to_its_cap() -> None:
    waits = [ACCOUNT_THROTTLE.lock_seconds(n) for n in range(1, 12)]
    assert waits[:4] == [0, 0, 0, 0]
    assert waits[4:9] == [30, 60, 120, 240, 480]
    assert waits[-1] == ACCOUNT_THROTTLE.cap_s == 900
    assert ADDRESS_THROTTLE.lock_seconds(19) == 0 < ADDRESS_THROTTLE.lock_seconds(20)
    assert ADDRESS_THROTTLE.lock_seconds(10_000) == ADDRESS_THROTTLE.cap_s


def test_a_caller_of_the_wrong_kind_is_told_its_organisation_is_the_problem() -> None:
    """Before: the refusal named no field, so the API reported `Authorization`, sending the
    caller to change a credential that was fine."""
    provider = Principal(user_id="usr_p", org_id="org_p", org_kind="provider")
    with pytest.raises(PermissionDenied) as refused:
        provider.require_kind("enterprise")
    assert refused.value.field == "organisation"
