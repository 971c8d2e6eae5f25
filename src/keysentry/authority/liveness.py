"""Does a leaked AWS key pair still work?  One ``sts:GetCallerIdentity`` signed with it answers without
changing anything and needs no permission.  Off by default (``check_live``), asked during the scan
(the only time the secret exists), at most once per credential, and never for a known canary account,
whose keys alert their owner on any use.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from keysentry.authority.clients import AwsClients, Credentials
from keysentry.config.settings import Settings
from keysentry.detect.aws_keys import canary, decode_account, fingerprint

log = logging.getLogger(__name__)

LIVE, REJECTED, UNKNOWN = "live", "rejected", "unknown"
# What STS answers for a key that does not exist, was deactivated or deleted, or a wrong secret.
REJECTED_CODES = frozenset(
    {"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "UnrecognizedClientException"}
)


class AwsLiveCheck:
    """A :data:`keysentry.detect.findings.Verifier` for AWS access keys."""

    def __init__(self, settings: Settings) -> None:
        self.clients = AwsClients(settings)
        self._answers: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def __call__(self, credential_type: str, key_id: str, secret: bytes, token: bytes | None) -> str | None:
        if credential_type != "aws_access_key":
            return None
        if canary(decode_account(key_id)):
            return None  # any call with a canary's key alerts whoever planted it
        key = (key_id, fingerprint(secret))
        with self._lock:
            known = self._answers.get(key)
        if known is None:
            known = self._ask(key_id, secret, token)
            with self._lock:
                self._answers[key] = known
        return known

    def _ask(self, key_id: str, secret: bytes, token: bytes | None) -> str:
        credentials = Credentials(
            key_id, secret.decode("latin-1"), token.decode("latin-1") if token else None
        )
        try:
            self.clients.probe("sts", credentials).get_caller_identity()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            verdict = REJECTED if code in REJECTED_CODES else UNKNOWN
            log.info("live check of %s: %s (%s)", key_id, verdict, code)
            return verdict
        except BotoCoreError as exc:
            log.warning("live check of %s could not reach STS: %s", key_id, type(exc).__name__)
            return UNKNOWN
        log.info("live check of %s: live", key_id)
        return LIVE


# One live check per process and settings, so that each credential is asked about once per process.
_LIVE_CHECKS: dict[str, AwsLiveCheck] = {}
_LIVE_CHECKS_LOCK = threading.Lock()


@dataclass(frozen=True)
class LiveCheckFactory:
    """Makes (once per process) the live check the scan's workers use: picklable, so that it crosses into
    worker processes as settings, and boto3 loads in a worker only when a scan asks for the check."""

    settings: Settings

    def __call__(self) -> AwsLiveCheck:
        key = self.settings.model_dump_json()
        with _LIVE_CHECKS_LOCK:
            check = _LIVE_CHECKS.get(key)
            if check is None:
                check = _LIVE_CHECKS[key] = AwsLiveCheck(self.settings)
            return check
