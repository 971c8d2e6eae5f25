"""The one place where boto3 clients are made.

Emulator and production differ only in configuration: ``aws_endpoint_url``
points every client at the local emulator; unset, boto3 talks to AWS with its
default credential chain.  Retries use botocore's ``standard`` mode.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from keysentry.config.settings import Settings

# The emulator accepts any credentials while IAM enforcement is off.
EMULATOR_FALLBACK_KEY = "testing"


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never show the secret half, even in a traceback
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


class AwsClients:
    def __init__(self, settings: Settings, own_credentials: Credentials | None = None) -> None:
        """``own_credentials`` replace boto3's default chain for keysentry's own principal."""
        self.settings = settings
        self._own = own_credentials
        self._config = Config(
            region_name=settings.aws_region,
            retries={"mode": "standard", "max_attempts": settings.aws_max_attempts},
            connect_timeout=5,
            read_timeout=30,
        )
        self._base_session = boto3.session.Session()
        self._cache: dict[tuple[str, str | None, str | None], Any] = {}
        self._lock = threading.Lock()

    @property
    def endpoint_url(self) -> str | None:
        return self.settings.aws_endpoint_url

    def _default_credentials(self) -> dict[str, Any]:
        if self.endpoint_url and self._base_session.get_credentials() is None:
            return {
                "aws_access_key_id": EMULATOR_FALLBACK_KEY,
                "aws_secret_access_key": EMULATOR_FALLBACK_KEY,
            }
        return {}

    def client(self, service: str, credentials: Credentials | None = None, region: str | None = None) -> Any:
        """A boto3 client for ``service``, as our own principal or with ``credentials`` (cached)."""
        cache_key = (service, credentials.access_key_id if credentials else None, region)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        with self._lock:  # a boto3 session must not create clients from two threads at once
            cached = self._cache.get(cache_key)
            if cached is None:
                cached = self._cache[cache_key] = self._make(service, credentials, region)
            return cached

    def probe(self, service: str, credentials: Credentials) -> Any:
        """A client signed with someone else's credentials (a leaked key, for the live check): never
        cached, so that it and the secret in it are gone once the caller drops it; two tries at most."""
        kwargs: dict[str, Any] = {
            "config": self._config.merge(
                Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=10)
            ),
            "aws_access_key_id": credentials.access_key_id,
            "aws_secret_access_key": credentials.secret_access_key,
            "aws_session_token": credentials.session_token,
        }
        endpoint = self.settings.aws_service_endpoints.get(service) or self.endpoint_url
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        with self._lock:
            return self._base_session.client(service, **kwargs)  # type: ignore[call-overload]

    def _make(self, service: str, credentials: Credentials | None, region: str | None) -> Any:
        kwargs: dict[str, Any] = {"config": self._config}
        if region:
            kwargs["region_name"] = region
        endpoint = self.settings.aws_service_endpoints.get(service) or self.endpoint_url
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        credentials = credentials or self._own
        if credentials is not None:
            kwargs.update(
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
            )
        else:
            kwargs.update(self._default_credentials())
        return self._base_session.client(service, **kwargs)  # type: ignore[call-overload]
