"""Who is calling: ``Authorization: Bearer <token>`` checked against the store, with a role.

No ``from __future__ import annotations``: FastAPI reads the dependency's annotations at run time, and
they declare the bearer scheme that ``/openapi.json`` shows."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from keysentry.service.permissions import needs
from keysentry.store.db import Store
from keysentry.store.tokens import Caller, check_token

BEARER = HTTPBearer(
    auto_error=False,  # our own 401, with what to do
    scheme_name="apiToken",
    bearerFormat="ks_…",
    description="An API token: keysentry tokens create NAME --role viewer|responder|admin.",
)
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid API token (Authorization: Bearer ks_…)."},
    403: {"description": "The token's role is not enough for this."},
}


def require(role: str, store: Store) -> Callable[..., object]:
    """A FastAPI dependency: the caller, if its token is valid and its role is at least ``role``."""

    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
    ) -> Caller:
        token = credentials.credentials.strip() if credentials is not None else ""
        caller = await run_in_threadpool(check_token, store, token) if token else None
        if caller is None:
            raise HTTPException(401, "a valid API token is needed (Authorization: Bearer ks_…)")
        if not caller.may(role):
            raise HTTPException(403, f"this needs the {role} role; the token has {caller.role}")
        return caller

    return dependency


def permitted(method: str, path: str, store: Store) -> Any:
    """The dependency for ``method path``: the caller, with the role the permissions table names."""
    return Depends(require(needs(method, path), store))
