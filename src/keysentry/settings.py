"""One settings object, read from ``KEYSENTRY_*`` variables and an optional ``keysentry.toml``.

Nothing is built at import time: callers ask for :func:`load_settings` when they
need it, so tests choose their own database and emulator.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from keysentry.notify_settings import NotifySettings
from keysentry.response_policy import ResponsePolicy, parse_duration
from keysentry.watch_settings import WatchSettings


def default_data_dir() -> Path:
    return Path.cwd() / ".keysentry"


class Settings(BaseSettings):
    """Everything keysentry can be told.  Each field is ``KEYSENTRY_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="KEYSENTRY_",
        toml_file="keysentry.toml",
        extra="ignore",
    )

    data_dir: Path = Field(default_factory=default_data_dir, description="Where the SQLite file lives.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is a SQLite file in data_dir.",
    )

    aws_endpoint_url: str | None = Field(
        default=None,
        description="Send every AWS call here (the local emulator). Unset means real AWS.",
    )
    aws_region: str = "us-east-1"
    aws_max_attempts: int = 5
    member_role_name: str = Field(
        default="OrganizationAccountAccessRole",
        description="Role assumed in each member account of the organization.",
    )
    quarantine_policy_name: str = "AWSCompromisedKeyQuarantineV3"
    aws_service_endpoints: dict[str, str] = Field(
        default_factory=dict,
        description="Per-service endpoint overrides, e.g. {cloudtrail = 'http://127.0.0.1:9000'}.",
    )
    response: ResponsePolicy = Field(
        default_factory=ResponsePolicy,
        description="What to do, per account and "
        "principal: contain, notify only or dry run; optional deactivation.",
    )
    investigation_delays: list[timedelta] = Field(
        default_factory=lambda: [
            timedelta(0),
            timedelta(minutes=15),
            timedelta(hours=1),
            timedelta(hours=24),
        ],
        description="When to read CloudTrail after containment (it delivers late).",
    )
    cloudtrail_bucket: str | None = Field(default=None, description="S3 bucket of an organization trail.")
    cloudtrail_prefix: str = Field(
        default="", description="Key prefix of the trail's log files in the bucket."
    )

    event_bus_name: str = Field(
        default="default", description="EventBridge bus for Health-compatible events."
    )
    event_source: str = Field(
        default="keysentry",
        description="EventBridge source of our events (AWS refuses custom sources starting with 'aws.').",
    )
    dashboard_url: str = "http://127.0.0.1:8080"

    notify: NotifySettings = Field(
        default_factory=NotifySettings,
        description="Channels: EventBridge, SNS topics, email, webhooks, the case ([notify] in the toml).",
    )
    github_partner_keys_file: Path | None = Field(
        default=None,
        description="GitHub's secret scanning public keys as a file in the meta endpoint's format; "
        "unset, they are fetched from github_partner_keys_url.",
    )
    github_partner_keys_url: str = "https://api.github.com/meta/public_keys/secret_scanning"
    watch: WatchSettings = Field(
        default_factory=WatchSettings,
        description="Public sources to watch: git repositories, GitHub's events, PyPI, npm ([watch]).",
    )
    check_live: bool = Field(
        default=False,
        description="Ask AWS whether each leaked key pair still works (sts:GetCallerIdentity signed with it) "
        "while the secret is in memory during the scan; never for canary accounts.",
    )

    response_threads: int = Field(
        default=8,
        ge=1,
        description="Exposures the service responds to at once (each waits on AWS most of the time).",
    )
    delivery_max_attempts: int = Field(
        default=8,
        ge=1,
        description="Tries per notification before it is dead-lettered (and an alert logged).",
    )
    delivery_backoff: timedelta = Field(
        default=timedelta(seconds=2),
        description="Wait before the first retry; doubled on each later one, with jitter.",
    )
    delivery_backoff_max: timedelta = Field(
        default=timedelta(minutes=10), description="The longest wait between two tries."
    )
    delivery_lease: timedelta = Field(
        default=timedelta(seconds=60),
        description="How long a dispatcher owns a message it is sending; if it dies, another sends it "
        "after this.",
    )

    log_level: str = "INFO"
    log_file: Path | None = None
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object a line, for a log pipeline."
    )

    @field_validator("investigation_delays", mode="before")
    @classmethod
    def _delays(cls, value: object) -> object:
        if isinstance(value, list):
            return [parse_duration(v) for v in value]
        return value

    @field_validator("delivery_backoff", "delivery_backoff_max", "delivery_lease", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'keysentry.db'}"


def load_settings(**overrides: object) -> Settings:
    """Read settings now (environment, then ``keysentry.toml``); keyword arguments win."""
    return Settings(**overrides)  # type: ignore[arg-type]
