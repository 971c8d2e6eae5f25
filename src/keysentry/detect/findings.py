"""What detection produces.  A finding never holds a secret: only its SHA-256 fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from keysentry.content import Provenance


@dataclass(frozen=True, slots=True)
class Match:
    """One credential at one place in one blob."""

    rule_id: str
    credential_type: str
    key_id: str
    secret_fingerprint: str  # "" when the ID was seen without a secret
    line: int
    column: int
    suppressed: str | None = None  # why it is not a live credential (documentation example …)
    decoding: str | None = None  # how the bytes were decoded to find it: "base64", "url", "utf-16" …
    severity: str = "high"
    token_fingerprint: str = ""  # SHA-256 of a third part seen with it (an AWS session token)
    live: str | None = None  # asked of the authority when a live check ran: "live", "rejected", "unknown"
    end_line: int = 0  # where the match ends (0: not known): the line and the column after its last character
    end_column: int = 0
    kind: str = "secret"  # "pair" (an ID with its secret), "id" (an ID alone), "secret" (a secret alone)
    confidence: str = "medium"  # "high", "medium" or "low" (keysentry.detect.rules.Confidence)
    confidence_reason: str | None = None  # why it is low: "fails GitHub's checksum, probably a test value"
    secret_line: int = 0  # a pair: the line of its secret (0: not known, or the same as the id's)


@dataclass(frozen=True, slots=True)
class Held:
    """A revocable credential's secret, held in memory only, for its issuer's revocation call.

    It is never stored, logged or printed (its ``repr`` shows the fingerprint only); it travels no
    further than from the scanning process to the responder's custody, and is dropped once the
    revocation is recorded."""

    credential_type: str
    revocation: str  # the issuer's way to revoke it (``Issuer.revocation``)
    fingerprint: str  # SHA-256 of the secret: the exposure's ``secret_fingerprint``
    secret: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"Held({self.credential_type}, {self.revocation}, sha256={self.fingerprint[:12]}…)"


# Called by the engine with each revocable secret it matched (see :class:`Held`).
Holder = Callable[[Held], None]

# Asked, where the secret exists, whether a credential still works: (type, key ID, secret, token) →
# "live", "rejected" or "unknown"; None when it was not asked (a type it does not know, a canary).
Verifier = Callable[[str, str, bytes, bytes | None], str | None]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a credential was seen: line and column (in characters, 1-based) of its first character, and
    the line and column just after its last (0 when not known)."""

    provenance: Provenance
    line: int
    column: int
    decoding: str | None = None
    end_line: int = 0
    end_column: int = 0

    def describe(self) -> str:
        return f"{self.provenance.describe()}:{self.line}"


@dataclass(slots=True)
class Finding:
    """One credential, however many places it was seen."""

    rule_id: str
    credential_type: str
    key_id: str
    secret_fingerprint: str
    account_id: str | None
    suppressed: str | None = None
    severity: str = "high"
    canary: str | None = None  # a known canary (honeytoken) key: what planted it
    token_fingerprint: str = ""
    live: str | None = None  # see Match.live
    kind: str = "secret"  # see Match.kind
    confidence: str = "medium"  # see Match.confidence: the highest of its matches
    confidence_reason: str | None = None
    locations: list[Location] = field(default_factory=list)
    # In a repository's history: whether the secret is still in a file at HEAD (or in the work tree),
    # and if not, the commit that took it out (None: on another branch, or not known).
    at_head: bool | None = None
    removed_in: str | None = None

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_fingerprint)

    @property
    def fingerprint(self) -> str:
        """Stable across runs and machines: what a baseline file lists."""
        material = f"{self.rule_id}\0{self.key_id}\0{self.secret_fingerprint}".encode()
        return hashlib.sha256(material).hexdigest()[:32]

    def identity(self) -> tuple[str, str, str]:
        return (self.credential_type, self.key_id, self.secret_fingerprint)
