"""API tokens: created with a role, kept as SHA-256 only, checked on every request."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from keysentry.clock import utcnow
from keysentry.errors import KeysentryError
from keysentry.store.db import Store
from keysentry.store.models import ApiToken

ROLES = ("viewer", "responder", "admin")  # each may do what the ones before it may
PREFIX = "ks_"


class TokenError(KeysentryError):
    pass


@dataclass(frozen=True)
class Caller:
    name: str
    role: str

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store: Store, name: str, role: str) -> str:
    """A new token for ``name`` with ``role``; the only time the token itself exists."""
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    token = PREFIX + secrets.token_urlsafe(32)
    with store.session() as session:
        session.add(ApiToken(name=name, role=role, token_hash=_hash(token)))
    return token


def check_token(store: Store, token: str | None) -> Caller | None:
    """Who holds ``token``, or None if it is unknown or revoked."""
    if not token:
        return None
    with store.transaction() as db:
        row = db.execute(
            select(ApiToken.name, ApiToken.role).where(
                ApiToken.token_hash == _hash(token), ApiToken.revoked_at.is_(None)
            )
        ).one_or_none()
    return Caller(row.name, row.role) if row else None


def revoke_token(store: Store, name: str) -> int:
    with store.session() as session:
        done = session.execute(
            update(ApiToken)
            .where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return int(done.rowcount or 0)  # type: ignore[attr-defined]


def list_tokens(store: Store) -> list[ApiToken]:
    with store.session() as session:
        return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))
