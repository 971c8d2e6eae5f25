"""Where the issuers of other credentials answer (``[issuers]`` in ``keysentry.toml``), and how fast
keysentry may ask them.

    [issuers.github]                  # POST /credentials/revoke: public, unauthenticated
    api_url = "https://api.github.com"

    [issuers.slack]                   # auth.test, auth.revoke (the token revokes itself)
    api_url = "https://slack.com/api"

    [issuers.gitlab]                  # /api/v4/admin/token: needs an administrator's token
    url = "https://gitlab.example.com"
    admin_token = "glpat-…"           # unset: GitLab tokens are announced, not revoked

What is done with each credential type is the response's business (``[response.issuers]``).
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from keysentry.config import StrictModel


class GitHubIssuer(StrictModel):
    api_url: str = "https://api.github.com"
    batch_linger: float = Field(
        default=1.0,
        gt=0,
        description="Seconds to gather tokens into one revocation request (1,000 at most); longer when "
        "few of the hour's 60 requests are left.",
    )
    step_wait: float = Field(
        default=0.0,
        ge=0,
        description="Seconds a response waits for its batch to be sent before it steps aside (it is "
        "retried when the batch is due; the token stays queued).",
    )


class SlackIssuer(StrictModel):
    api_url: str = "https://slack.com/api"


class GitLabIssuer(StrictModel):
    url: str = "https://gitlab.com"
    admin_token: SecretStr | None = Field(
        default=None,
        description="An administrator's token (scope api): with it, leaked GitLab tokens are looked up "
        "and revoked through /api/v4/admin/token; without, they are announced only.",
    )


class IssuerSettings(StrictModel):
    github: GitHubIssuer = Field(default_factory=GitHubIssuer)
    slack: SlackIssuer = Field(default_factory=SlackIssuer)
    gitlab: GitLabIssuer = Field(default_factory=GitLabIssuer)
    timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for an issuer's answer.")
