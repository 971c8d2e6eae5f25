"""Where notifications go: data in ``keysentry.toml`` (``[notify]``) or ``KEYSENTRY_NOTIFY`` as JSON.

```toml
[notify]
eventbridge_account = "affected" # the event on the affected account's bus (member role); or "central"
sns_topics = ["arn:aws:sns:us-east-1:111122223333:security-alerts"]
case = true                      # the case in keysentry (with aws_support_case, in AWS Support too)

[notify.email]
enabled = true
transport = "smtp"               # smtp (a relay) or ses
smtp_host = "mail.internal"
sender = "keysentry@example.com"
fallback_to = "secops@example.com"   # when the account has no SECURITY alternate contact

[[notify.webhooks]]
name = "soc"
url = "https://soc.example.com/hooks/keysentry"
format = "json"                  # json (signed), slack, pagerduty
secret = "…"                     # HMAC-SHA256 key for json
```
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from keysentry.config import StrictModel
from keysentry.escaping import http_url


class EmailSettings(StrictModel):
    enabled: bool = False
    transport: Literal["smtp", "ses"] = "smtp"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    sender: str = "keysentry@localhost"
    use_security_contact: bool = Field(
        default=True, description="Send to the account's SECURITY alternate contact (Account API)."
    )
    fallback_to: str | None = Field(default=None, description="Where to send when there is no contact.")


class WebhookTarget(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    url: str
    format: Literal["json", "slack", "pagerduty"] = "json"
    secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 key (json format).")
    routing_key: SecretStr | None = Field(default=None, description="PagerDuty integration key.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if http_url(value) is None:
            raise ValueError("must be an http:// or https:// URL")
        return value


class NotifySettings(StrictModel):
    eventbridge: bool = True
    eventbridge_account: Literal["affected", "central"] = Field(
        default="affected",
        description="affected: put the event on the bus of the account whose key leaked (through the "
        "member role; where the role cannot put it there, or that account has no such bus, on the central "
        "bus, and the delivery says so), where the top-level account is that account, as AWS Health's "
        "own events have it.  central: always on the bus of keysentry's own account (consumers read the "
        "affected account from detail.eventMetadata.accountId).",
    )

    @model_validator(mode="before")
    @classmethod
    def _former_flag(cls, data: Any) -> Any:
        """``eventbridge_in_affected_account = true|false``, the earlier spelling, still reads."""
        if isinstance(data, dict) and "eventbridge_in_affected_account" in data:
            data = dict(data)
            flag = data.pop("eventbridge_in_affected_account")
            data.setdefault("eventbridge_account", "affected" if flag else "central")
        return data

    sns_topics: list[str] = Field(default_factory=list)
    email: EmailSettings = Field(default_factory=EmailSettings)
    webhooks: list[WebhookTarget] = Field(default_factory=list)
    case: bool = True
    aws_support_case: bool = Field(
        default=False, description="Also open an AWS Support case (support:CreateCase) for each exposure."
    )
