"""Password hashing (argon2), access tokens (JWT) and API key material."""

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.types import utcnow

JWT_ALGORITHM = "HS256"
API_KEY_PREFIX = "onex"
TOKEN_ID_LENGTH = 32
"""Characters of a token's ``jti`` (16 random bytes in hex)."""
TOKENS_REMEMBERED = 4096
"""Tokens whose checked claims are kept (a few hundred bytes each); the oldest go first."""
LONGEST_REMEMBERED_TOKEN = 1024
"""Tokens longer than this (ours are about 300 characters) are checked every time, never
kept: a client sending long made-up tokens cannot fill the memory with them."""

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; always spends one argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def create_access_token(
    *, subject: int, role: str, secret_key: str, minutes: int, session_epoch: int = 0
) -> str:
    """A signed token for user ``subject``, valid ``minutes``. It carries its own id (``jti``,
    what logging out revokes) and the user's session epoch (``sep``): the token stops working
    as soon as the user's epoch moves on (password change or reset, role change, deactivation,
    an admin ending the user's sessions)."""
    now = utcnow()
    claims = {
        "sub": str(subject),
        "role": role,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "typ": "access",
        "jti": secrets.token_hex(16),
        "sep": session_epoch,
    }
    return jwt.encode(claims, secret_key, algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, secret_key: str) -> Mapping[str, Any] | None:
    """The token's claims, or None when it is malformed, forged or expired.

    The signature and the claims' shape are checked once per token (:func:`_checked_claims`,
    remembered); its expiry on every call. A read-only mapping: callers share it."""
    if len(token) > LONGEST_REMEMBERED_TOKEN:  # never one of ours: checked, not remembered
        claims = _checked_claims.__wrapped__(token, secret_key)
    else:
        claims = _checked_claims(token, secret_key)
    if claims is None:
        return None
    now = utcnow().timestamp()
    if claims["exp"] <= now or claims.get("iat", now) > now:  # expired, or not yet issued
        return None
    return claims


@lru_cache(maxsize=TOKENS_REMEMBERED)
def _checked_claims(token: str, secret_key: str) -> Mapping[str, Any] | None:
    """The claims of a token signed with ``secret_key`` and shaped as :func:`create_access_token`
    makes them (``exp`` and ``iat`` whole seconds), or None; the times are the caller's to
    compare with the clock. The answer never changes, so it is remembered: the signature check
    and the JSON were a tenth of a list page's CPU."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret_key,
            algorithms=[JWT_ALGORITHM],
            options={
                "require": ["exp", "sub", "jti", "sep"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
        times = {name: int(claims[name]) for name in ("exp", "iat") if name in claims}
    except (jwt.PyJWTError, TypeError, ValueError, OverflowError):
        return None
    if claims.get("typ") != "access" or not str(claims["sub"]).isdigit():
        return None
    jti, epoch = claims["jti"], claims["sep"]
    if not isinstance(jti, str) or len(jti) != TOKEN_ID_LENGTH:
        return None
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        return None
    return MappingProxyType({**claims, **times})


def generate_api_key() -> tuple[str, str]:
    """A new key ``onex_<id>_<secret>`` and its public lookup id."""
    lookup_id = secrets.token_hex(6)
    return f"{API_KEY_PREFIX}_{lookup_id}_{secrets.token_urlsafe(32)}", lookup_id


def api_key_lookup_id(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def hash_api_key(key: str) -> str:
    """API keys are long random strings, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_matches(key: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), key_hash)
