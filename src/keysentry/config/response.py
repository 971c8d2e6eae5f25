"""Per-account and per-principal response settings, as data (``[response]`` in ``keysentry.toml``).

    [response]
    mode = "contain"                  # contain | notify_only | dry_run
    deactivate_after = "24h"          # optional: deactivate (never delete) the key after this long

    [[response.rules]]                # first match wins
    accounts = ["111122223333"]       # empty: any account
    principals = ["*:user/ci-*"]      # fnmatch on the principal's ARN; empty: any principal
    mode = "notify_only"              # a break-glass user: tell, do not touch

``notify_only`` announces without attaching anything; ``dry_run`` records what would have been
done.  Deactivation is off unless a rule asks for it, and nothing is ever deleted.

Other credentials are answered by their issuer (``[response.issuers]``, by credential type)::

    [response]
    suspected = "notify_only"         # an AWS key ID seen without its secret: notify_only | contain
    low_confidence = "record"         # a failed checksum, a malformed key: record (for triage) | respond

    [response.issuers]
    github_token = "revoke"           # revoke (the default where the issuer can) | notify_only | dry_run
    slack_token = "dry_run"           # Slack's auth.revoke with test=1: checked, not revoked
"""

from __future__ import annotations

from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from keysentry.config import StrictModel
from keysentry.config.durations import parse_duration

Mode = Literal["contain", "notify_only", "dry_run"]
IssuerMode = Literal["revoke", "notify_only", "dry_run"]
SuspectedMode = Literal["notify_only", "contain"]


class ResponseRule(StrictModel):
    accounts: list[str] = Field(default_factory=list)
    principals: list[str] = Field(default_factory=list)
    mode: Mode | None = None
    deactivate_after: timedelta | None = None

    _duration = field_validator("deactivate_after", mode="before")(parse_duration)

    def matches(self, account_id: str | None, principal_arn: str | None) -> bool:
        if self.accounts and account_id not in self.accounts:
            return False
        return not self.principals or any(fnmatchcase(principal_arn or "", p) for p in self.principals)


class Decision(BaseModel):
    mode: Mode
    deactivate_after: timedelta | None
    rule: int | None  # index of the rule that decided, None for the defaults


class ResponsePolicy(StrictModel):
    mode: Mode = "contain"
    deactivate_after: timedelta | None = None
    rules: list[ResponseRule] = Field(default_factory=list)
    suspected: SuspectedMode = Field(
        default="notify_only",
        description="An AWS key ID seen without its secret: announce it (notify_only) or contain its "
        "owner as for a pair (contain).",
    )
    low_confidence: Literal["record", "respond"] = Field(
        default="record",
        description="A low-confidence finding (a token failing its checksum, a key whose body does not "
        "parse): record it as unconfirmed for triage, or respond to it like any other.",
    )
    issuers: dict[str, IssuerMode] = Field(
        default_factory=dict,
        description="Per credential type (github_token, slack_token, gitlab_token …): revoke, "
        "notify_only or dry_run.  Unlisted: revoke where the issuer can, else notify only.",
    )

    _duration = field_validator("deactivate_after", mode="before")(parse_duration)

    def issuer_mode(self, credential_type: str) -> IssuerMode:
        return self.issuers.get(credential_type, "revoke")

    @property
    def matches_principals(self) -> bool:
        """Whether any rule names principals (then attribution must read each user's full ARN)."""
        return any(rule.principals for rule in self.rules)

    def decide(self, account_id: str | None, principal_arn: str | None) -> Decision:
        for n, rule in enumerate(self.rules):
            if rule.matches(account_id, principal_arn):
                return Decision(
                    mode=rule.mode or self.mode,
                    deactivate_after=rule.deactivate_after
                    if rule.deactivate_after is not None
                    else self.deactivate_after,
                    rule=n,
                )
        return Decision(mode=self.mode, deactivate_after=self.deactivate_after, rule=None)
