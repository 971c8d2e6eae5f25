"""Local stand-ins for the issuers keysentry revokes tokens with (the demo and the tests start them on
127.0.0.1), speaking each real protocol:

* GitHub ``POST /credentials/revoke``: ``{"credentials": [...]}``, at most 1,000, unauthenticated,
  202; a primary rate limit (``limit`` requests per ``window`` seconds, 60 an hour by default) with
  GitHub's ``x-ratelimit-*`` headers, and 429 once it is spent.
* Slack ``POST /api/auth.test`` and ``/api/auth.revoke`` (``test=1``: checked, not revoked), the token
  in ``Authorization: Bearer``; ``{"ok": false, "error": "invalid_auth" | "token_revoked"}`` otherwise.
* GitLab ``POST`` and ``DELETE /api/v4/admin/token`` with ``{"token": …}``, for an administrator's
  ``PRIVATE-TOKEN`` only.

Tokens are kept by SHA-256: the stand-in counts what it was asked to revoke, never keeps the token.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from keysentry.emulator.receivers import free_port


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class SlackToken:
    team: str = "Acme Corp"
    team_id: str = "T0ACME0001"
    user: str = "deploy-bot"
    user_id: str = "U0DEPLOY01"
    bot_id: str | None = "B0DEPLOY01"


@dataclass
class GitLabToken:
    token_id: int
    name: str
    user_id: int
    username: str
    scopes: tuple[str, ...] = ("api",)


@dataclass
class IssuerStandIn:
    github_limit: int = 60
    github_window: float = 3600.0
    gitlab_admin_token: str = "glpat-admin-standin-token-0001"
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.github_requests: list[int] = []  # tokens per accepted request, in order
        self.github_limited = 0  # requests answered 429
        self.github_revoked: dict[str, int] = {}  # sha256 → times asked
        self._window_start = time.time()
        self._used = 0
        self.slack_tokens: dict[str, SlackToken] = {}
        self.slack_revoked: dict[str, int] = {}
        self.slack_tests: dict[str, int] = {}  # auth.revoke test=1 calls
        self.gitlab_tokens: dict[str, GitLabToken] = {}
        self.gitlab_revoked: dict[str, int] = {}

    # --- what a test sets up and reads ------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def slack_token(self, token: str, **who: Any) -> None:
        self.slack_tokens[_sha(token)] = SlackToken(**who)

    def gitlab_token(self, token: str, username: str = "deploy-bot", name: str = "ci") -> None:
        self.gitlab_tokens[_sha(token)] = GitLabToken(len(self.gitlab_tokens) + 1, name, 42, username)

    def times_revoked(self, token: str) -> int:
        h = _sha(token)
        return self.github_revoked.get(h, 0) + self.slack_revoked.get(h, 0) + self.gitlab_revoked.get(h, 0)

    def spend_github_budget(self) -> None:
        """As if another client had used this hour's requests."""
        with self._lock:
            self._roll_window()
            self._used = self.github_limit

    # --- GitHub -------------------------------------------------------------------------------
    def _roll_window(self) -> None:
        if time.time() >= self._window_start + self.github_window:
            self._window_start, self._used = time.time(), 0

    def _github(self, body: bytes) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self._roll_window()
            reset = int(self._window_start + self.github_window) + 1
            headers = {
                "x-ratelimit-limit": str(self.github_limit),
                "x-ratelimit-reset": str(reset),
                "x-ratelimit-resource": "core",
            }
            if self._used >= self.github_limit:
                self.github_limited += 1
                headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-used": str(self._used)})
                return 429, headers, {"message": "API rate limit exceeded", "documentation_url": ""}
            self._used += 1
            headers.update(
                {
                    "x-ratelimit-remaining": str(self.github_limit - self._used),
                    "x-ratelimit-used": str(self._used),
                }
            )
            try:
                credentials = json.loads(body)["credentials"]
                assert isinstance(credentials, list) and all(isinstance(c, str) for c in credentials)
            except (ValueError, KeyError, TypeError, AssertionError):
                return 422, headers, {"message": "Validation Failed", "errors": ["credentials"]}
            if not 1 <= len(credentials) <= 1000:
                return 422, headers, {"message": "credentials must hold 1 to 1000 tokens"}
            self.github_requests.append(len(credentials))
            for token in credentials:
                h = _sha(token)
                self.github_revoked[h] = self.github_revoked.get(h, 0) + 1
            headers["x-github-request-id"] = f"STANDIN:{len(self.github_requests)}"
            return 202, headers, {}

    # --- Slack --------------------------------------------------------------------------------
    def _slack(self, method: str, token: str, form: dict[str, str]) -> dict[str, Any]:
        h = _sha(token)
        with self._lock:
            if h in self.slack_revoked:
                return {"ok": False, "error": "token_revoked"}
            who = self.slack_tokens.get(h)
            if who is None:
                return {"ok": False, "error": "invalid_auth"}
            if method == "auth.test":
                return {
                    "ok": True,
                    "url": f"https://{who.team.lower().replace(' ', '')}.slack.com/",
                    "team": who.team,
                    "user": who.user,
                    "team_id": who.team_id,
                    "user_id": who.user_id,
                    **({"bot_id": who.bot_id} if who.bot_id else {}),
                }
            if form.get("test") in ("1", "true"):
                self.slack_tests[h] = self.slack_tests.get(h, 0) + 1
                return {"ok": True, "revoked": False}
            self.slack_revoked[h] = self.slack_revoked.get(h, 0) + 1
            return {"ok": True, "revoked": True}

    # --- GitLab -------------------------------------------------------------------------------
    def _gitlab(self, method: str, admin: str, body: bytes) -> tuple[int, Any]:
        if admin != self.gitlab_admin_token:
            return 401, {"message": "401 Unauthorized"}
        try:
            token = str(json.loads(body)["token"])
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "token is missing"}
        h = _sha(token)
        with self._lock:
            known = self.gitlab_tokens.get(h)
            if known is None:
                return 404, {"message": "404 Not Found"}
            revoked = h in self.gitlab_revoked
            if method == "DELETE":
                if revoked:
                    return 422, {"message": "token already revoked"}
                self.gitlab_revoked[h] = 1
                return 204, None
            return 200, {
                "id": known.token_id,
                "name": known.name,
                "revoked": revoked,
                "active": not revoked,
                "scopes": list(known.scopes),
                "user_id": known.user_id,
                "user": {"id": known.user_id, "username": known.username},
                "last_used_at": None,
                "expires_at": None,
            }

    # --- the server ---------------------------------------------------------------------------
    def start(self) -> IssuerStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:
                body = self._body()
                if self.path == "/credentials/revoke":
                    status, headers, answer = stand_in._github(body)
                    self._answer(status, answer, headers)
                elif self.path in ("/api/auth.test", "/api/auth.revoke"):
                    form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
                    bearer = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                    token = bearer or form.get("token", "")
                    self._answer(200, stand_in._slack(self.path.rsplit("/", 1)[1], token, form))
                elif self.path == "/api/v4/admin/token":
                    self._answer(*stand_in._gitlab("POST", self.headers.get("PRIVATE-TOKEN", ""), body))
                else:
                    self._answer(404, {"message": "Not Found"})

            def do_DELETE(self) -> None:
                body = self._body()
                if self.path == "/api/v4/admin/token":
                    self._answer(*stand_in._gitlab("DELETE", self.headers.get("PRIVATE-TOKEN", ""), body))
                else:
                    self._answer(404, {"message": "Not Found"})

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, name="issuer-stand-in", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def settings(self) -> dict[str, Any]:
        """The ``[issuers]`` settings that point keysentry here."""
        return {
            "github": {"api_url": self.url, "batch_linger": 0.3},
            "slack": {"api_url": f"{self.url}/api"},
            "gitlab": {"url": self.url, "admin_token": self.gitlab_admin_token},
        }
