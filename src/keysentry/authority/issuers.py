"""The clients of the issuers beside AWS, built once from ``[issuers]``."""

from __future__ import annotations

from dataclasses import dataclass

from keysentry.authority.github import GitHubRevocation
from keysentry.authority.gitlab import GitLabAdmin
from keysentry.authority.slack import SlackAuth
from keysentry.config.issuers import IssuerSettings


@dataclass
class IssuerClients:
    github: GitHubRevocation
    slack: SlackAuth
    gitlab: GitLabAdmin | None  # None: no administrator token, so GitLab tokens are announced only
    gitlab_url: str
    github_step_wait: float

    @classmethod
    def from_settings(cls, s: IssuerSettings) -> IssuerClients:
        admin = s.gitlab.admin_token.get_secret_value() if s.gitlab.admin_token else None
        return cls(
            github=GitHubRevocation(s.github.api_url, s.github.batch_linger, s.timeout),
            slack=SlackAuth(s.slack.api_url, s.timeout),
            gitlab=GitLabAdmin(s.gitlab.url, admin, s.timeout) if admin else None,
            gitlab_url=s.gitlab.url,
            github_step_wait=s.github.step_wait,
        )

    def close(self) -> None:
        self.github.close()
