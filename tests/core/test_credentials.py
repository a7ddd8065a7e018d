"""Password hashing, tokens and random ids (wschat.core.credentials)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from wschat.core.credentials import (
    hash_password,
    new_epoch,
    new_session_id,
    new_token,
    token_hash,
    verify_password,
)
from wschat.core.defaults import TOKEN_TTL


@pytest.fixture(scope="module")
def stored() -> str:
    """One hash of 's3cret', shared because each hash costs tens of milliseconds on purpose."""
    return hash_password("s3cret")


def test_hash_is_self_describing_scrypt(stored: str) -> None:
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert len(base64.b64decode(salt, validate=True)) == 16
    assert len(base64.b64decode(digest, validate=True)) == 32
    assert "s3cret" not in stored


def test_right_password_verifies(stored: str) -> None:
    assert verify_password("s3cret", stored) is True


@pytest.mark.parametrize("wrong", ["s3creT", "s3cret ", "", "s3cre", "s3cret" * 2])
def test_wrong_password_fails(stored: str, wrong: str) -> None:
    assert verify_password(wrong, stored) is False


def test_same_password_hashes_differ_by_salt(stored: str) -> None:
    other = hash_password("s3cret")
    assert other != stored
    assert other.split("$")[4] != stored.split("$")[4]
    assert verify_password("s3cret", other)


@pytest.mark.parametrize("password", ["senha çãé 🙂", "\ud800 lone surrogate from JSON", "x" * 1024])
def test_any_str_password_round_trips(password: str) -> None:
    stored = hash_password(password)
    assert verify_password(password, stored)
    assert not verify_password(password + "!", stored)


def test_hash_with_other_parameters_still_verifies() -> None:
    # Self-describing: a hash made with other (weaker or stronger) costs keeps working.
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"pw", salt=salt, n=2**10, r=4, p=2, dklen=24)
    stored = "$".join(
        ["scrypt", "1024", "4", "2", base64.b64encode(salt).decode(), base64.b64encode(digest).decode()]
    )
    assert verify_password("pw", stored)
    assert not verify_password("pW", stored)


def _tamper(stored: str) -> str:
    parts = stored.split("$")
    raw = bytearray(base64.b64decode(parts[5]))
    raw[0] ^= 1
    parts[5] = base64.b64encode(bytes(raw)).decode()
    return "$".join(parts)


def test_tampered_hash_fails(stored: str) -> None:
    assert verify_password("s3cret", _tamper(stored)) is False


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "nope",
        "scrypt",
        "scrypt$16384$8$1$c2FsdA==",  # a part missing
        "scrypt$16384$8$1$c2FsdA==$aGFzaA==$extra",
        "bcrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44,
        "scrypt$x$8$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44,
        "scrypt$1000$8$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44,  # n not a power of 2
        "scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44,  # n too costly
        "scrypt$16384$0$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44,
        "scrypt$16384$8$1$not base64!$" + "A" * 44,
        "scrypt$16384$8$1$$" + "A" * 44,  # empty salt
        "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$QQ==",  # hash too short
    ],
)
def test_malformed_stored_hash_is_false_never_raises(malformed: str) -> None:
    assert verify_password("s3cret", malformed) is False


def test_stored_hash_of_wrong_type_is_false() -> None:
    assert verify_password("s3cret", None) is False  # type: ignore[arg-type]
    assert verify_password("s3cret", b"scrypt$1$1$1$a$b") is False  # type: ignore[arg-type]


def test_tokens_are_unique_and_url_safe() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43,}", token) for token in tokens)


def test_token_hash_is_sha256_hex_and_deterministic() -> None:
    token = new_token()
    digest = token_hash(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == token_hash(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in digest
    assert token_hash(new_token()) != digest


def test_token_ttl_is_seven_days() -> None:
    assert TOKEN_TTL == 7 * 24 * 3600


def test_epoch_and_session_id_formats_and_uniqueness() -> None:
    epochs = {new_epoch() for _ in range(100)}
    sessions = {new_session_id() for _ in range(100)}
    assert len(epochs) == 100 and len(sessions) == 100
    assert all(re.fullmatch(r"e-[0-9a-f]{16}", epoch) for epoch in epochs)
    assert all(re.fullmatch(r"s-[0-9a-f]{12}", session) for session in sessions)
