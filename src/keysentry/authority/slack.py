"""Slack's Web API for a leaked token: ``auth.test`` says whose it is (workspace, user, bot) and
``auth.revoke`` makes the token revoke itself (with ``test=1``, Slack checks it and revokes nothing:
the dry run).  Both are called with the leaked token itself, which is the only key Slack offers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keysentry.authority.issuer_http import IssuerCallError, client, issuer_call

GONE = frozenset({"invalid_auth", "token_revoked", "account_inactive", "token_expired", "not_authed"})


@dataclass(frozen=True)
class SlackIdentity:
    team: str
    team_id: str
    user: str
    user_id: str
    bot_id: str | None
    url: str


class SlackTokenGone(IssuerCallError):
    """Slack does not accept the token any more (``invalid_auth``, ``token_revoked`` …)."""

    def __init__(self, error: str) -> None:
        super().__init__(f"Slack no longer accepts this token ({error})")
        self.error = error


class SlackAuth:
    def __init__(self, api_url: str, timeout: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self._http = client(timeout)

    def _call(self, method: str, token: bytes, **params: str) -> dict[str, Any]:
        with issuer_call(f"Slack {method}"):
            response = self._http.post(
                f"{self.api_url}/{method}",
                data=params,
                headers={"Authorization": f"Bearer {token.decode('ascii', 'replace')}"},
            )
        if response.status_code != 200:
            raise IssuerCallError(f"Slack {method} answered {response.status_code}", response.status_code)
        try:
            answer: dict[str, Any] = response.json()
        except ValueError as exc:
            raise IssuerCallError(f"Slack {method} answered something that is not JSON") from exc
        if not answer.get("ok"):
            error = str(answer.get("error", "unknown_error"))
            if error in GONE:
                raise SlackTokenGone(error)
            raise IssuerCallError(f"Slack {method} refused: {error}")
        return answer

    def whose(self, token: bytes) -> SlackIdentity:
        a = self._call("auth.test", token)
        return SlackIdentity(
            team=str(a.get("team", "")),
            team_id=str(a.get("team_id", "")),
            user=str(a.get("user", "")),
            user_id=str(a.get("user_id", "")),
            bot_id=a.get("bot_id"),
            url=str(a.get("url", "")),
        )

    def revoke(self, token: bytes, dry_run: bool = False) -> bool:
        """Whether Slack revoked it (False in a dry run, which only checks that it could)."""
        answer = self._call("auth.revoke", token, **({"test": "1"} if dry_run else {}))
        return bool(answer.get("revoked"))
