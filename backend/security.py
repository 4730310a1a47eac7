"""Passwords (argon2), signed session cookies, CSRF tokens and personal API tokens."""

import hashlib
import hmac
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from backend.config import get_settings

SESSION_COOKIE = "isx_session"
CSRF_COOKIE = "isx_csrf"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_PREFIX = "isx_"


@cache
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def _password_hasher() -> PasswordHasher:
    s = get_settings()
    return _hasher(s.argon2_time_cost, s.argon2_memory_kib)


def hash_password(password: str) -> str:
    return _password_hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _password_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt="isx-session")


def make_session_cookie(user_id: int, epoch: int) -> tuple[str, str]:
    """Return (cookie value, CSRF token) for a fresh session."""
    sid = secrets.token_urlsafe(18)
    return _serializer().dumps({"uid": user_id, "ep": epoch, "sid": sid}), csrf_token_for(sid)


def read_session_cookie(value: str) -> dict[str, object] | None:
    try:
        data = _serializer().loads(value, max_age=get_settings().session_max_age_s)
    except BadSignature:
        return None
    return data if isinstance(data, dict) and {"uid", "ep", "sid"} <= data.keys() else None


def csrf_token_for(session_id: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(session_id: str, supplied: str | None) -> bool:
    return bool(supplied) and hmac.compare_digest(csrf_token_for(session_id), supplied or "")


def new_api_token() -> tuple[str, str, str]:
    """Return (the token shown once, its display prefix, its stored hash)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token[:10], hash_api_token(token)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
