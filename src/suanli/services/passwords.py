"""Password hashing (argon2id, argon2-cffi) and the new-password rule with its shipped list.

Parameters follow the OWASP password-storage cheat sheet's argon2id line (19 MiB, 2
iterations, 1 lane). A stored hash made with other parameters is upgraded at the next
successful sign-in (`needs_rehash`).
"""

from __future__ import annotations

import functools
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from suanli.domain.identity import password_problem
from suanli.errors import InvalidInput
from suanli.i18n import msg

ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1
COMMON_PASSWORDS_FILE = "common-passwords.txt"

_hasher = PasswordHasher(
    time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM
)


@functools.cache
def common_passwords() -> frozenset[str]:
    text = (resources.files("suanli.data") / "identity" / COMMON_PASSWORDS_FILE).read_text(
        encoding="utf-8"
    )
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def check_new_password(password: str, *, login: str, field: str = "password") -> str:
    problem = password_problem(password, login=login, common=common_passwords())
    if problem is not None:
        raise InvalidInput(
            msg(f"密码太弱：{problem.zh}", f"the password is too weak: {problem.en}"), field=field
        )
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not there is a hash: an unknown login costs what a known one
    does, so the time of the answer does not tell them apart."""
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("suanli: no such user, the same work all the same")
