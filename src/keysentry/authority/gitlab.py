"""GitLab's token API for administrators: ``POST /api/v4/admin/token`` says what a token is (whose,
which scopes, whether it is still active) and ``DELETE /api/v4/admin/token`` revokes it.  Both need
an administrator's token of the instance (``[issuers.gitlab] admin_token``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keysentry.authority.issuer_http import IssuerCallError, client, issuer_call

ADMIN_TOKEN_PATH = "/api/v4/admin/token"  # noqa: S105 - a path, not a password


@dataclass(frozen=True)
class GitLabToken:
    token_id: int | None
    name: str
    user_id: int | None
    username: str | None
    scopes: tuple[str, ...]
    revoked: bool
    active: bool
    last_used_at: str | None
    expires_at: str | None


class GitLabAdmin:
    def __init__(self, url: str, admin_token: str, timeout: float = 10.0) -> None:
        self.endpoint = url.rstrip("/") + ADMIN_TOKEN_PATH
        self._admin = admin_token
        self._http = client(timeout)

    def _request(self, method: str, token: bytes) -> Any:
        with issuer_call(f"GitLab {method} {ADMIN_TOKEN_PATH}"):
            return self._http.request(
                method,
                self.endpoint,
                json={"token": token.decode("ascii", "replace")},
                headers={"PRIVATE-TOKEN": self._admin},
            )

    def lookup(self, token: bytes) -> GitLabToken | None:
        """What the instance knows of the token; None when it does not know it."""
        response = self._request("POST", token)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise IssuerCallError(
                f"GitLab POST {ADMIN_TOKEN_PATH} answered {response.status_code}", response.status_code
            )
        t = response.json()
        user = t.get("user") or {}
        return GitLabToken(
            token_id=t.get("id"),
            name=str(t.get("name", "")),
            user_id=t.get("user_id") or user.get("id"),
            username=user.get("username"),
            scopes=tuple(t.get("scopes") or ()),
            revoked=bool(t.get("revoked")),
            active=bool(t.get("active", not t.get("revoked"))),
            last_used_at=t.get("last_used_at"),
            expires_at=t.get("expires_at"),
        )

    def revoke(self, token: bytes) -> bool:
        """Revoke it; False when the instance no longer knows it (already revoked or gone)."""
        response = self._request("DELETE", token)
        if response.status_code in (200, 204):
            return True
        if response.status_code in (404, 422):
            return False
        raise IssuerCallError(
            f"GitLab DELETE {ADMIN_TOKEN_PATH} answered {response.status_code}", response.status_code
        )
