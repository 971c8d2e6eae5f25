"""Who is calling: ``Authorization: Bearer <token>`` checked against the store, with a role."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from keysentry.store.db import Store
from keysentry.store.tokens import Caller, check_token


def require(role: str, store: Store) -> Callable[[Request], object]:
    """A FastAPI dependency: the caller, if its token is valid and its role is at least ``role``."""

    async def dependency(request: Request) -> Caller:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        caller = (
            await run_in_threadpool(check_token, store, token.strip()) if scheme.lower() == "bearer" else None
        )
        if caller is None:
            raise HTTPException(401, "a valid API token is needed (Authorization: Bearer ks_…)")
        if not caller.may(role):
            raise HTTPException(403, f"this needs the {role} role; the token has {caller.role}")
        return caller

    return dependency
