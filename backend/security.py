"""Passwords (argon2), signed session cookies, CSRF tokens and personal API tokens.

A session cookie carries only a signed random session id; the session itself (its user, expiry and
revocation) lives on the server (``backend.services.auth``). The CSRF token of a session is an HMAC of its
id; the login form's CSRF token is an HMAC of a random value kept in its own short-lived cookie."""

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
CSRF_FIELD = "csrf_token"
LOGIN_CSRF_COOKIE = "isx_login_csrf"
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


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(f"session:{session_id}".encode()).hexdigest()


def make_session_cookie(session_id: str) -> str:
    return _serializer().dumps({"sid": session_id})


def read_session_cookie(value: str) -> str | None:
    """The session id a cookie carries, if its signature holds and it is not older than a session may live."""
    try:
        data = _serializer().loads(value, max_age=get_settings().session_max_age_s)
    except BadSignature:
        return None
    sid = data.get("sid") if isinstance(data, dict) else None
    return sid if isinstance(sid, str) and sid else None


def csrf_token_for(session_id: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(session_id: str, supplied: str | None) -> bool:
    return bool(supplied) and hmac.compare_digest(csrf_token_for(session_id), supplied or "")


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_csrf_token(nonce: str) -> str:
    """The login form's CSRF token: bound to the random value of the visitor's login cookie."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"login-csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def login_csrf_matches(nonce: str | None, supplied: str | None) -> bool:
    return bool(nonce) and bool(supplied) and hmac.compare_digest(login_csrf_token(nonce or ""), supplied or "")


def new_api_token() -> tuple[str, str, str]:
    """Return (the token shown once, its display prefix, its stored hash)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token[:10], hash_api_token(token)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
