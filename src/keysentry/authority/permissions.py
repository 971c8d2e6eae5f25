"""The IAM permissions keysentry's calls need, declared next to the code that makes them (the steps, the
operator's release, the ports, the authority itself) and turned into the documents in ``docs/iam/`` by
:mod:`keysentry.app.iam_policy`.  A statement is named by its ``sid``: declarations with the same sid
add their actions to one statement."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Permission:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)
    condition: Mapping[str, Any] | None = field(default=None, compare=False)
    # True: needed in every account keysentry acts in (the member role too); False: only by keysentry's
    # own principal in the management account (organization-wide reads, the channels).
    in_every_account: bool = True


def statements(permissions: Iterable[Permission], member_role: bool) -> list[dict[str, Any]]:
    """IAM policy statements, one per sid in the order first declared, actions in the order declared;
    ``member_role`` keeps only what every account needs."""
    merged: dict[str, dict[str, Any]] = {}
    for p in permissions:
        if member_role and not p.in_every_account:
            continue
        statement = merged.setdefault(
            p.sid, {"Sid": p.sid, "Effect": "Allow", "Action": [], "Resource": list(p.resources)}
        )
        if statement["Resource"] != list(p.resources) or statement.get("Condition") not in (
            None,
            p.condition,
        ):
            raise ValueError(f"statement {p.sid} is declared with two different resources or conditions")
        if p.condition is not None:
            statement["Condition"] = dict(p.condition)
        statement["Action"] += [a for a in p.actions if a not in statement["Action"]]
    return [
        {k: (v[0] if k in ("Action", "Resource") and len(v) == 1 else v) for k, v in s.items()}
        for s in merged.values()
    ]
