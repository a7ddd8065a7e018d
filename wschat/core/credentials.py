"""Passwords, tokens and the random ids of a server run: pure functions, no I/O, no asyncio.

Passwords are kept only as salted, deliberately slow scrypt hashes in a self-describing string,
``scrypt$n$r$p$salt_b64$hash_b64``, so the cost parameters can be raised later without breaking
the hashes already stored. :func:`hash_password` and :func:`verify_password` take tens of
milliseconds of CPU on purpose: an asyncio server must run them with ``asyncio.to_thread`` so
that one login never stalls every other connection.

Tokens are what make reconnects cheap: a random string given to the client in ``welcome``,
checked with one SHA-256 instead of a slow hash. The store keeps only :func:`token_hash` of a
token, so a leaked database holds no token anyone could log in with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

__all__ = [
    "SCRYPT_N",
    "SCRYPT_P",
    "SCRYPT_R",
    "hash_password",
    "new_epoch",
    "new_session_id",
    "new_token",
    "token_hash",
    "verify_password",
]

#: scrypt cost parameters for new hashes (about 16 MiB of memory and ~50 ms per hash).
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32

#: Bounds a stored hash's parameters must respect before we spend CPU and memory on it, so a
#: tampered row cannot make one login allocate gigabytes.
_MAX_N = 2**16
_MAX_R = 16
_MAX_P = 4
_MAXMEM = 2**28



def _encode(password: str) -> bytes:
    # JSON may carry lone surrogates ("\ud800"); surrogatepass encodes every str, never raises.
    return password.encode("utf-8", "surrogatepass")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """Return a salted scrypt hash of ``password`` as ``scrypt$n$r$p$salt_b64$hash_b64``.

    Two calls with the same password give different strings (random 16-byte salt).
    CPU-bound (~50 ms): call it through ``asyncio.to_thread`` from async code.
    """
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(
        _encode(password), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=_HASH_BYTES
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (a :func:`hash_password` string).

    The final comparison is constant-time. A malformed ``stored`` value, or parameters out of
    sane bounds, gives False; this function never raises. CPU-bound like :func:`hash_password`.
    """
    try:
        scheme, n_text, r_text, p_text, salt_text, hash_text = stored.split("$")
        if scheme != "scrypt":
            return False
        n, r, p = int(n_text), int(r_text), int(p_text)
        if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
            return False
        salt = base64.b64decode(salt_text, validate=True)
        expected = base64.b64decode(hash_text, validate=True)
        if not salt or not 16 <= len(expected) <= 64:
            return False
        digest = hashlib.scrypt(
            _encode(password), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=_MAXMEM
        )
    except (AttributeError, TypeError, ValueError, binascii.Error, MemoryError):
        return False
    return hmac.compare_digest(digest, expected)


def new_token() -> str:
    """A new random login token (URL-safe, 256 bits of randomness)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The SHA-256 hex digest of ``token``: the only form of a token a store keeps.

    Tokens carry 256 random bits, so a fast hash is enough (no salt, no slow hash needed).
    """
    return hashlib.sha256(_encode(token)).hexdigest()


def new_epoch() -> str:
    """A new log epoch, ``e-`` and 16 hex characters; ids are only comparable within one."""
    return "e-" + secrets.token_hex(8)


def new_session_id() -> str:
    """A new session id, ``s-`` and 12 hex characters."""
    return "s-" + secrets.token_hex(6)
