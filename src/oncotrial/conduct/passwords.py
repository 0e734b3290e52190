"""Passwords: argon2id hashes (RFC 9106) and the rules a new password must meet.

Parameters are argon2-cffi's defaults, which follow RFC 9106's second recommended option
(memory 64 MiB, 3 passes, 4 lanes); a hash made with older parameters is re-hashed at the next
successful login. NIST SP 800-63B §5.1.1.2: at least 12 characters here (the guideline's floor
is 8), no composition rules, and the user name may not be part of the password.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from oncotrial.conduct.errors import InvalidInputError

MIN_LENGTH = 12
_HASHER = PasswordHasher()


def set_cost(time_cost: int, memory_kib: int, parallelism: int = 1) -> None:
    """Use other argon2id parameters for new hashes (existing hashes keep theirs and still
    verify). For small machines and test suites; RFC 9106 §4 discusses the trade-off."""
    global _HASHER
    _HASHER = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def check_policy(password: str, username: str) -> None:
    """Refuse a password that is too short or contains the user name."""
    if len(password) < MIN_LENGTH:
        raise InvalidInputError(f"a password needs at least {MIN_LENGTH} characters")
    if username and username.lower() in password.lower():
        raise InvalidInputError("a password may not contain the user name")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (salted; the text says its parameters)."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (False for a missing or malformed hash)."""
    if not stored_hash:
        _HASHER.hash(password)  # same cost whether or not the account has a password
        return False
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with other parameters than today's."""
    return _HASHER.check_needs_rehash(stored_hash)


@contextmanager
def hashing_cost(time_cost: int, memory_kib: int, parallelism: int = 1) -> Iterator[None]:
    """New hashes made inside the block use these argon2id parameters, the others' after it.
    For machine-generated secrets (e.g. the virtual trial's virtual users, 256 random bits),
    whose entropy, not the hash's cost, is what resists guessing (RFC 9106 §4)."""
    global _HASHER
    saved = _HASHER
    _HASHER = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    try:
        yield
    finally:
        _HASHER = saved
