"""Where AWS's errors become ours, once: every call keysentry makes to AWS runs inside :func:`aws_call`,
which turns botocore's ``ClientError`` and ``BotoCoreError`` (timeouts, connection failures, bad
answers) into :class:`AwsCallError`, naming the action and what it acted on.  Nothing outside this
package sees a botocore exception."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from keysentry.errors import AuthorityError

NOT_FOUND_CODES = frozenset({"NoSuchEntity", "NoSuchEntityException", "NotFoundException"})


class AwsCallError(AuthorityError):
    """AWS refused or failed one call: ``code`` is AWS's error code ('' when no answer came back)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code

    @property
    def not_found(self) -> bool:
        return self.code in NOT_FOUND_CODES


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """``with aws_call("iam:AttachUserPolicy X to Y"): ...``: a failure is raised as
    ``AwsCallError("iam:AttachUserPolicy X to Y failed: …")``."""
    try:
        yield
    except ClientError as exc:
        raise AwsCallError(f"{what} failed: {exc}", error_code(exc)) from exc
    except BotoCoreError as exc:
        raise AwsCallError(f"{what} failed: {exc}") from exc
