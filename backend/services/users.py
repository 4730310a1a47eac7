"""Accounts, their scopes (firm or parks), login and personal API tokens."""

from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import Session

from backend import policy
from backend.config import get_settings
from backend.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from backend.models import ApiToken, Firm, Park, User, UserPark, utcnow
from backend.policy import Actor
from backend.schemas import MeUpdate, TokenCreate, UserCreate, UserPublic, UserUpdate
from backend.security import hash_api_token, hash_password, new_api_token, verify_password
from backend.services.auth import aware, revoke_credentials, stamp
from backend.services.common import get_or_404
from backend.services.query import apply_sort, contains, page

SORTABLE = {"id": User.id, "email": User.email, "name": User.name, "role": User.role,
            "created_at": User.created_at}


def park_ids_of(session: Session, user_id: int) -> list[int]:
    return sorted(session.scalars(select(UserPark.park_id).where(UserPark.user_id == user_id)).all())


def actor_for(session: Session, user: User) -> Actor:
    parks = park_ids_of(session, user.id or 0) if user.role == "park_manager" else []
    return Actor(user=user, park_ids=frozenset(parks))


def to_public(session: Session, user: User) -> UserPublic:
    return UserPublic.model_validate(user.model_dump() | {"park_ids": park_ids_of(session, user.id or 0)})


# --- personal API tokens -------------------------------------------------------------------------------
def user_for_token(*, session: Session, token: str) -> User | None:
    """The active owner of a live token (not expired, not revoked), or None."""
    found = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_api_token(token)))
    now = utcnow()
    if found is None or found.revoked_at is not None or aware(found.expires_at) <= now:
        return None
    user = session.get(User, found.user_id)
    if user is None or not user.is_active:
        return None
    if found.last_used_at is None or now - aware(found.last_used_at) > timedelta(minutes=5):
        stamp(session, update(ApiToken).where(ApiToken.id == found.id).values(last_used_at=now))
    return user


def create_token(*, session: Session, actor: Actor, token_in: TokenCreate) -> tuple[ApiToken, str]:
    token, prefix, digest = new_api_token()
    expires = utcnow() + timedelta(days=token_in.expires_in_days or get_settings().api_token_days)
    row = ApiToken(user_id=actor.id, name=token_in.name, prefix=prefix, token_hash=digest, expires_at=expires)
    session.add(row)
    session.flush()
    return row, token


def list_tokens(*, session: Session, actor: Actor) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == actor.id).order_by(ApiToken.id)))


def revoke_token(*, session: Session, actor: Actor, token_id: int) -> None:
    """The owner ends one of their tokens (it stays listed, with ``revoked_at``); revoking twice is a no-op."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != actor.id:
        raise NotFound(f"token {token_id} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()


# --- accounts ------------------------------------------------------------------------------------------
def _target_firm(session: Session, user: User) -> Firm | None:
    return session.get(Firm, user.firm_id) if user.firm_id is not None else None


def _check_scope(session: Session, role: str, firm_id: int | None, park_ids: list[int]) -> None:
    if role == "firm_user":
        if firm_id is None:
            raise InvalidInput.at(("body", "firm_id"), "a firm user needs firm_id", "missing")
        if session.get(Firm, firm_id) is None:
            raise InvalidInput.at(("body", "firm_id"), f"firm {firm_id} does not exist")
    elif firm_id is not None:
        raise InvalidInput.at(("body", "firm_id"), f"role '{role}' takes no firm_id")
    if role == "park_manager":
        if not park_ids:
            raise InvalidInput.at(("body", "park_ids"), "a park manager needs at least one park", "missing")
        for i, park_id in enumerate(park_ids):
            if session.get(Park, park_id) is None:
                raise InvalidInput.at(("body", "park_ids", i), f"park {park_id} does not exist")
    elif park_ids:
        raise InvalidInput.at(("body", "park_ids"), f"role '{role}' takes no park_ids")


def _set_parks(session: Session, user_id: int, park_ids: list[int]) -> None:
    """Make the manager's parks exactly ``park_ids`` (row by row, so the audit log sees each change)."""
    wanted = set(park_ids)
    for link in session.scalars(select(UserPark).where(UserPark.user_id == user_id)).all():
        if link.park_id in wanted:
            wanted.discard(link.park_id)
        else:
            session.delete(link)
    for park_id in sorted(wanted):
        session.add(UserPark(user_id=user_id, park_id=park_id))


def list_users(*, session: Session, actor: Actor, role: str | None = None, firm_id: int | None = None,
               q: str | None = None, sort: str | None = None, skip: int = 0,
               limit: int = 100) -> tuple[list[User], int]:
    stmt = select(User).outerjoin(Firm, Firm.id == User.firm_id).where(policy.users_clause(actor))
    if role:
        stmt = stmt.where(User.role == role)
    if firm_id is not None:
        stmt = stmt.where(User.firm_id == firm_id)
    if q:
        stmt = stmt.where(contains(User.email, q) | contains(User.name, q))
    stmt = apply_sort(stmt, sort, SORTABLE, User.id)
    rows, total = page(session, stmt, skip=skip, limit=limit)
    return [r[0] for r in rows], total


def get_user(*, session: Session, actor: Actor, user_id: int) -> User:
    user = get_or_404(session, User, user_id, "user")
    if user.id != actor.id and not policy.can_manage_user(actor, user, _target_firm(session, user)):
        raise NotFound(f"user {user_id} not found")
    return user


def create_user(*, session: Session, actor: Actor | None, user_in: UserCreate) -> User:
    """Create an account. ``actor`` None is the command line (trusted operator)."""
    _check_scope(session, user_in.role, user_in.firm_id, user_in.park_ids)
    user = User(email=user_in.email.lower(), name=user_in.name, role=user_in.role, firm_id=user_in.firm_id,
                locale=user_in.locale, password_hash=hash_password(user_in.password))
    if actor is not None:
        policy.require(policy.can_manage_user(actor, user, _target_firm(session, user)),
                       "you may not create this account")
    if session.scalar(select(User).where(User.email == user.email)) is not None:
        raise Conflict(f"an account for {user.email} already exists")
    session.add(user)
    session.flush()
    _set_parks(session, user.id or 0, user_in.park_ids)
    session.flush()
    return user


def update_user(*, session: Session, actor: Actor, user_id: int, user_in: UserUpdate) -> User:
    user = get_user(session=session, actor=actor, user_id=user_id)
    policy.require(policy.can_manage_user(actor, user, _target_firm(session, user)),
                   "you may not edit this account")
    changes = user_in.model_dump(exclude_unset=True)
    role = changes.get("role") or user.role
    firm_id = changes.get("firm_id", user.firm_id)
    if role != "firm_user" and "firm_id" not in changes:
        firm_id = None
    park_ids = changes.get("park_ids")
    if park_ids is None:
        park_ids = park_ids_of(session, user.id or 0) if role == "park_manager" else []
    _check_scope(session, role, firm_id, park_ids)
    user.role, user.firm_id = role, firm_id
    # The account as it will be must still be one the actor may manage (no promoting out of one's reach).
    policy.require(policy.can_manage_user(actor, user, _target_firm(session, user)),
                   "you may not give this account that role or scope")
    for key in ("name", "locale", "is_active"):
        if changes.get(key) is not None:
            setattr(user, key, changes[key])
    if changes.get("password"):
        user.password_hash = hash_password(changes["password"])
    session.add(user)
    if changes.get("password") or changes.get("is_active") is False:
        revoke_credentials(session=session, user_id=user.id or 0)
    _set_parks(session, user.id or 0, park_ids)
    session.flush()
    return user


def update_me(*, session: Session, actor: Actor, me_in: MeUpdate, current_session_id: int | None = None) -> User:
    """Change one's own account. A new password ends every API token and every other session of the
    account; ``current_session_id`` (the browser session making the change) stays signed in."""
    user = actor.user
    if me_in.password is not None:
        if not me_in.current_password or not verify_password(user.password_hash, me_in.current_password):
            raise InvalidInput.at(("body", "current_password"), "the current password is wrong")
        user.password_hash = hash_password(me_in.password)
        revoke_credentials(session=session, user_id=user.id or 0, keep_session_id=current_session_id)
    if me_in.name is not None:
        user.name = me_in.name
    if me_in.locale is not None:
        user.locale = me_in.locale
    session.add(user)
    session.flush()
    return user


def delete_user(*, session: Session, actor: Actor, user_id: int) -> None:
    user = get_user(session=session, actor=actor, user_id=user_id)
    if user.id == actor.id:
        raise Conflict("you cannot delete your own account")
    if not policy.can_manage_user(actor, user, _target_firm(session, user)):
        raise PermissionDenied("you may not delete this account")
    for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).all():
        session.delete(token)
    _set_parks(session, user.id or 0, [])
    session.delete(user)
    session.flush()
