"""Login, browser sessions and login throttling: the rules behind ``/api/v1/auth`` and the login page.

- A login checks the throttle first: an account (by the e-mail tried, known or not) or a client address
  that failed ``login_max_failures_*`` times within ``login_window_s`` is locked for ``login_lockout_s``
  after the failure that reached the limit; a locked attempt is refused (429) without checking the password
  and is not counted again. A successful login clears the account's count (not the address's).
- Every failed login is recorded (``login_attempt`` for the throttle, ``audit_log`` for good: the e-mail
  tried, the address and the reason, never the password) in a transaction of its own, so the record stays
  although the refused request rolls back.
- A session lives on the server (:class:`AuthSession`): it ends at logout, ``session_max_age_s`` after
  login, ``session_idle_s`` after its last request, or when its user's password changes.
"""

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlmodel import Session

from backend.audit import record
from backend.config import get_settings
from backend.errors import NotAuthenticated, TooManyRequests
from backend.models import ApiToken, AuthSession, LoginAttempt, User, utcnow
from backend.security import hash_password, hash_session_id, new_session_id, verify_password

LAST_SEEN_RESOLUTION = timedelta(minutes=1)  # a session's last_seen_at is written at most once a minute
EMAIL_MAX = 254
ADDRESS_MAX = 64


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; they are stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


def stamp(session: Session, statement: Any) -> None:
    """Write a usage time stamp (a session's last request, a token's last use) in a short transaction of its
    own: the request's transaction then holds no lock on the session or token row, which the other
    requests of the same browser or script would wait for while a long request runs."""
    with Session(session.get_bind()) as side:
        side.execute(statement)
        side.commit()


# --- login ---------------------------------------------------------------------------------------------
@cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password")


def check_password(*, session: Session, email: str, password: str) -> tuple[User | None, str]:
    """The active account with this e-mail and password, or None and why not (``unknown_account``,
    ``wrong_password``, ``inactive``). Spends the same time whether or not the account exists."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        verify_password(_dummy_hash(), password)
        return None, "unknown_account"
    if not verify_password(user.password_hash, password):
        return None, "wrong_password"
    if not user.is_active:
        return None, "inactive"
    return user, "ok"


def _locked_until(times: list[datetime], limit: int, window: timedelta, lockout: timedelta) -> datetime | None:
    """End of the lock-out that ``times`` (failures, oldest first) earned: ``lockout`` after the latest
    failure that made ``limit`` failures within ``window``; None if no ``limit`` failures ever fell in one."""
    for i in range(len(times) - 1, limit - 2, -1):
        if times[i] - times[i - limit + 1] <= window:
            return times[i] + lockout
    return None


def retry_after(*, session: Session, email: str, address: str) -> int:
    """Seconds until this account and this address may try to log in again (0: now)."""
    s = get_settings()
    now = utcnow()
    window, lockout = timedelta(seconds=s.login_window_s), timedelta(seconds=s.login_lockout_s)
    since = now - window - lockout
    counted = (LoginAttempt.succeeded.is_(False), LoginAttempt.reason != "locked", LoginAttempt.at >= since)
    last_ok = session.scalar(select(func.max(LoginAttempt.at)).where(
        LoginAttempt.email == email, LoginAttempt.succeeded.is_(True), LoginAttempt.at >= since))
    by_account = select(LoginAttempt.at).where(LoginAttempt.email == email, *counted)
    if last_ok is not None:
        by_account = by_account.where(LoginAttempt.at > last_ok)
    by_address = select(LoginAttempt.at).where(LoginAttempt.address == address, *counted)
    ends = [_locked_until([aware(t) for t in session.scalars(stmt.order_by(LoginAttempt.at))], limit, window, lockout)
            for stmt, limit in ((by_account, s.login_max_failures_account),
                                (by_address, s.login_max_failures_address))]
    wait = max(((end - now).total_seconds() for end in ends if end is not None), default=0.0)
    return int(wait) + 1 if wait > 0 else 0


def _record_failure(session: Session, *, email: str, address: str, reason: str, user_id: int | None) -> None:
    """The failed attempt, committed at once in its own transaction (the request itself rolls back)."""
    now = utcnow()
    with Session(session.get_bind()) as side:
        side.add(LoginAttempt(at=now, email=email, address=address, succeeded=False, reason=reason))
        side.flush()
        record(side, action="login_failed", entity="app_user", entity_id=user_id, user_id=None,
               changes={"email": email, "address": address, "reason": reason})
        s = get_settings()
        keep = timedelta(seconds=s.login_window_s + s.login_lockout_s)
        side.execute(delete(LoginAttempt).where(LoginAttempt.at < now - keep))
        side.commit()


def login(*, session: Session, email: str, password: str, address: str) -> tuple[User, str]:
    """The account and a new session id for these credentials; refuses with :class:`TooManyRequests` while
    the account or address is locked, else :class:`NotAuthenticated`, recording every failure."""
    email = email.strip().lower()[:EMAIL_MAX]
    address = (address or "unknown")[:ADDRESS_MAX]
    wait = retry_after(session=session, email=email, address=address)
    known = session.scalar(select(User.id).where(User.email == email))
    if wait:
        _record_failure(session, email=email, address=address, reason="locked", user_id=known)
        raise TooManyRequests(f"too many failed logins; try again in {wait} s", retry_after=wait,
                              code="login_locked")
    user, reason = check_password(session=session, email=email, password=password)
    if user is None:
        _record_failure(session, email=email, address=address, reason=reason, user_id=known)
        raise NotAuthenticated("wrong email or password", code="login_failed")
    session.add(LoginAttempt(email=email, address=address, succeeded=True, reason="ok"))
    sid = start_session(session=session, user=user, address=address)
    record(session, action="login", entity="app_user", entity_id=user.id, user_id=user.id,
           changes={"address": address})
    return user, sid


# --- sessions ------------------------------------------------------------------------------------------
def start_session(*, session: Session, user: User, address: str | None = None) -> str:
    """A new server-side session for ``user``; returns its id (what the signed cookie carries)."""
    sid = new_session_id()
    now = utcnow()
    session.add(AuthSession(user_id=user.id or 0, token_hash=hash_session_id(sid), created_at=now, last_seen_at=now,
                            expires_at=now + timedelta(seconds=get_settings().session_max_age_s),
                            address=(address or None) and address[:ADDRESS_MAX]))
    session.flush()
    return sid


def _live(row: AuthSession | None, now: datetime) -> bool:
    return (row is not None and row.revoked_at is None and aware(row.expires_at) > now
            and aware(row.last_seen_at) + timedelta(seconds=get_settings().session_idle_s) > now)


def session_user(*, session: Session, session_id: str) -> tuple[User, AuthSession] | None:
    """The active user of a live session (and the session, its last request time brought up to date)."""
    row = session.scalar(select(AuthSession).where(AuthSession.token_hash == hash_session_id(session_id)))
    now = utcnow()
    if row is None or not _live(row, now):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if now - aware(row.last_seen_at) >= LAST_SEEN_RESOLUTION:
        stamp(session, update(AuthSession).where(AuthSession.id == row.id).values(last_seen_at=now))
    return user, row


def end_session(*, session: Session, session_id: str) -> None:
    """Logout: the session stops working at once, whoever holds its cookie."""
    row = session.scalar(select(AuthSession).where(AuthSession.token_hash == hash_session_id(session_id)))
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    session.add(row)
    record(session, action="logout", entity="app_user", entity_id=row.user_id, user_id=row.user_id, changes={})
    session.flush()


def revoke_credentials(*, session: Session, user_id: int, keep_session_id: int | None = None) -> None:
    """After a password change or deactivation: every API token and every session of the user ends, but
    ``keep_session_id`` (the session that made the change)."""
    now = utcnow()
    stmt = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if keep_session_id is not None:
        stmt = stmt.where(AuthSession.id != keep_session_id)
    session.execute(stmt.values(revoked_at=now))
    for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))):
        token.revoked_at = now  # through the ORM, so the audit log records each revocation
        session.add(token)
    session.flush()
