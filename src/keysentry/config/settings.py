"""One settings object, read from ``KEYSENTRY_*`` variables and an optional ``keysentry.toml`` (or the
file ``KEYSENTRY_CONFIG`` names).

Nothing is built at import time: callers ask for :func:`load_settings` when they
need it, so tests choose their own database and emulator.

Nothing is ignored either: an unknown key in the file, in a table of it or in a JSON variable, and an
unknown ``KEYSENTRY_*`` variable, are errors (:class:`ConfigError`) that name the key, where it was
and the closest valid one; so is a file that is not valid TOML.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from keysentry.config import explain, unknown_environment
from keysentry.config.durations import parse_duration
from keysentry.config.executor import ExecutorSettings
from keysentry.config.issuers import IssuerSettings
from keysentry.config.notify import NotifySettings
from keysentry.config.response import ResponsePolicy
from keysentry.config.scan import ScanSettings
from keysentry.config.service import ServiceSettings
from keysentry.config.watch import WatchSettings
from keysentry.errors import ConfigError
from keysentry.escaping import http_url

ENV_PREFIX = "KEYSENTRY_"
CONFIG_ENV = "KEYSENTRY_CONFIG"
DEFAULT_CONFIG = Path("keysentry.toml")
# KEYSENTRY_* variables that are not settings: the config file's path, the crash tests' fault injection,
# and the test suite's own switches (KEYSENTRY_REQUIRE_POSTGRES, KEYSENTRY_TEST_POSTGRES_URL …).
NOT_SETTINGS = (
    CONFIG_ENV,
    "KEYSENTRY_CRASH_AT",
    "KEYSENTRY_CRASH_GROUP",
    "KEYSENTRY_REQUIRE_",
    "KEYSENTRY_TEST_",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# The parsed configuration file the next Settings() reads; None: ./keysentry.toml if it exists.
_FILE_DATA: ContextVar[dict[str, Any] | None] = ContextVar("keysentry_file_data", default=None)


def default_data_dir() -> Path:
    return Path.cwd() / ".keysentry"


def read_config_file(path: Path) -> dict[str, Any]:
    """The TOML file's tables, or a ConfigError that says where it is not TOML."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


class _FileSource(PydanticBaseSettingsSource):
    """The configuration file, below the environment and explicit arguments."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        data = _FILE_DATA.get()
        if data is None:
            data = read_config_file(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else {}
        self.data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


class Settings(BaseSettings):
    """Everything keysentry can be told.  Each field is ``KEYSENTRY_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir, description="Where the SQLite file lives.")
    cache_dir: str | None = Field(
        default=None,
        description="Where the compiled detection automaton is kept between runs (read from "
        "KEYSENTRY_CACHE_DIR by every scanning process); default ~/.cache/keysentry; 'off' compiles "
        "it each time.",
    )
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
    quarantine_policy_name: str = Field(
        default="",
        description="Pin the AWS managed quarantine policy (e.g. AWSCompromisedKeyQuarantineV3). Empty: "
        "the newest AWSCompromisedKeyQuarantineV* the partition offers, found once per account.",
    )
    aws_service_endpoints: dict[str, str] = Field(
        default_factory=dict,
        description="Per-service endpoint overrides, e.g. {cloudtrail = 'http://127.0.0.1:9000'}.",
    )
    response: ResponsePolicy = Field(
        default_factory=ResponsePolicy,
        description="What to do, per account and "
        "principal: contain, notify only or dry run; optional deactivation.",
    )
    issuers: IssuerSettings = Field(
        default_factory=IssuerSettings,
        description="Where GitHub, Slack and GitLab answer revocation requests ([issuers] in the toml).",
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
    service: ServiceSettings = Field(
        default_factory=ServiceSettings,
        description="Limits at the door of keysentry serve: a report rate per token, how long a body may "
        "take to arrive, the largest report ([service]).",
    )
    executor: ExecutorSettings = Field(
        default_factory=ExecutorSettings,
        description="Where background work runs: inline threads (default) or Celery workers ([executor]).",
    )
    watch: WatchSettings = Field(
        default_factory=WatchSettings,
        description="Public sources to watch: git repositories, GitHub's events, PyPI, npm ([watch]).",
    )
    scan: ScanSettings = Field(
        default_factory=ScanSettings,
        description="For keysentry scan: excludes, rules turned off, minimum confidence ([scan]; the "
        "keysentry.toml nearest to a scanned folder is read for it).",
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
    claim_lease: timedelta = Field(
        default=timedelta(seconds=60),
        description="How long a replica or worker owns an exposure whose steps it runs (renewed at each "
        "step); if it dies, another takes the exposure over after this.",
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

    log_level: str = Field(default="INFO", description=f"One of {', '.join(LOG_LEVELS)}.")
    log_file: Path | None = None
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object a line, for a log pipeline."
    )

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard(cls, value: str) -> str:
        if http_url(value) is None:
            raise ValueError("must be an http:// or https:// URL (every notification links to it)")
        return value

    @field_validator("investigation_delays", mode="before")
    @classmethod
    def _delays(cls, value: object) -> object:
        if isinstance(value, list):
            return [parse_duration(v) for v in value]
        return value

    @field_validator(
        "delivery_backoff", "delivery_backoff_max", "delivery_lease", "claim_lease", mode="before"
    )
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
        return (init_settings, env_settings, _FileSource(settings_cls))

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'keysentry.db'}"


def config_path(environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """The configuration file to read, and whether it was named (then it must exist)."""
    named = (os.environ if environ is None else environ).get(CONFIG_ENV)
    return (Path(named), True) if named else (DEFAULT_CONFIG, False)


def load_settings(**overrides: object) -> Settings:
    """Read settings now (see :func:`load_settings_from`), from ``KEYSENTRY_CONFIG`` or ./keysentry.toml."""
    return load_settings_from(None, **overrides)


def load_settings_from(config_file: Path | None, /, **overrides: object) -> Settings:
    """Read settings now (keyword arguments, then the environment, then the configuration file:
    ``config_file``, else ``KEYSENTRY_CONFIG``, else ``./keysentry.toml`` if it exists).  Anything
    unknown or invalid is a :class:`ConfigError` that says what, where, and what was probably meant."""
    path, named = (config_file, True) if config_file is not None else config_path()
    if named and not path.is_file():
        raise ConfigError(f"the configuration file {path} does not exist")
    data = read_config_file(path) if path.is_file() else {}
    problems = unknown_environment(os.environ, ENV_PREFIX, Settings.model_fields, NOT_SETTINGS)
    token = _FILE_DATA.set(data)
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems.append(explain(exc, Settings, origins(data, path)))
    finally:
        _FILE_DATA.reset(token)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join("\n".join(problems).splitlines()))
    return settings


def origins(data: Mapping[str, Any], path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Where each top-level setting came from: its ``KEYSENTRY_*`` variable (which wins), or the file."""
    environ = os.environ if environ is None else environ
    found = {key: str(path) for key in data}
    for name in Settings.model_fields:
        variable = f"{ENV_PREFIX}{name.upper()}"
        if variable in environ:
            found[name] = variable
    return found
