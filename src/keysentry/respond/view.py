"""A detached, read-only picture of an exposure that steps work from (no database access inside steps)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from keysentry.store.models import Exposure


@dataclass(frozen=True)
class SightingView:
    source_kind: str
    repository: str | None
    url: str | None
    commit: str | None
    path: str | None
    line: int | None
    author: str | None
    committed_at: datetime | None
    origin: str | None = None  # a local clone's origin URL

    def where(self) -> str:
        place = self.path or self.url or self.source_kind
        if self.commit:
            return f"{self.repository or ''}@{self.commit[:12]}:{place}:{self.line}"
        return f"{place}:{self.line}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.source_kind,
            "repository": self.repository,
            "origin": self.origin,
            "url": self.url,
            "commit": self.commit,
            "path": self.path,
            "line": self.line,
            "author": self.author,
            "committedAt": self.committed_at.isoformat() if self.committed_at else None,
            "where": self.where(),
        }


@dataclass(frozen=True)
class ExposureView:
    id: int
    credential_type: str
    key_id: str
    state: str
    account_id: str | None
    account_name: str | None
    principal_type: str | None
    principal_name: str | None
    principal_arn: str | None
    containment: dict[str, Any] | None
    first_seen_at: datetime | None
    detected_at: datetime
    contained_at: datetime | None
    sightings: tuple[SightingView, ...]
    notified_at: datetime | None = None
    investigation: dict[str, Any] | None = None
    mode: str | None = None
    reopened: int = 0
    secret_live: str | None = None
    severity: str | None = None
    rule_id: str = ""
    secret_fingerprint: str = ""  # "" when only the key ID was seen (a suspected exposure)
    key_status: str | None = None
    interrupted: bool = False  # the step's previous run started and never recorded an end (a crash)

    @property
    def suspected(self) -> bool:
        """An AWS key ID seen without its secret."""
        return self.credential_type == "aws_access_key" and not self.secret_fingerprint

    @classmethod
    def from_row(cls, row: Mapping[str, Any], sightings: Sequence[Mapping[str, Any]] = ()) -> ExposureView:
        """From plain database rows (the responder's hot path loads no ORM objects)."""
        exposure = SimpleNamespace(**row, sightings=[SimpleNamespace(**s) for s in sightings])
        return cls.of(exposure)  # type: ignore[arg-type]

    @classmethod
    def of(cls, e: Exposure, with_sightings: bool = True) -> ExposureView:
        return cls(
            id=e.id,
            credential_type=e.credential_type,
            key_id=e.key_id,
            state=e.state,
            account_id=e.account_id,
            account_name=e.account_name,
            principal_type=e.principal_type,
            principal_name=e.principal_name,
            principal_arn=e.principal_arn,
            containment=dict(e.containment) if e.containment else None,
            first_seen_at=e.first_seen_at,
            detected_at=e.detected_at,
            contained_at=e.contained_at,
            notified_at=e.notified_at,
            investigation=dict(e.investigation) if e.investigation else None,
            mode=e.mode,
            reopened=e.reopened or 0,
            secret_live=e.secret_live,
            severity=e.severity,
            rule_id=e.rule_id,
            secret_fingerprint=e.secret_fingerprint,
            key_status=e.key_status,
            sightings=tuple(
                SightingView(
                    s.source_kind,
                    s.repository,
                    s.url,
                    s.commit,
                    s.path,
                    s.line,
                    s.author,
                    s.committed_at,
                    getattr(s, "origin", None),
                )
                for s in (e.sightings if with_sightings else ())
            ),
        )

    def first_sighting(self) -> SightingView | None:
        dated = [s for s in self.sightings if s.committed_at]
        if dated:
            return min(dated, key=lambda s: s.committed_at or self.detected_at)
        return self.sightings[0] if self.sightings else None
