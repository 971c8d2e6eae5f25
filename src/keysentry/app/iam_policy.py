"""The IAM documents in ``docs/iam/``, generated from the permissions that the authority, the registered
steps, the operator's release and the ports declare (a test fails when the committed files differ).

    python -m keysentry.app.iam_policy docs/iam      # write them
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from keysentry.authority.aws import AwsAuthority
from keysentry.authority.permissions import Permission, statements
from keysentry.authority.ports import EventBus, Mail, Support, Topics, Trails
from keysentry.respond.operator import RELEASE_PERMISSIONS
from keysentry.respond.steps import REGISTERED_STEPS

MANAGEMENT, MEMBER = "management-account-policy.json", "member-role-policy.json"


def declared() -> list[Permission]:
    """Every permission, in the order the documents list them: the response first, then the channels."""
    found: list[Permission] = [*AwsAuthority.PERMISSIONS]
    found += [p for step in REGISTERED_STEPS for p in step.permissions]
    found += RELEASE_PERMISSIONS
    for port in (Mail, EventBus, Topics, Support, Trails):
        found += port.PERMISSIONS
    return found


def documents() -> dict[str, dict[str, Any]]:
    """The policy of keysentry's own principal and that of the role it assumes in member accounts."""
    return {
        MANAGEMENT: {"Version": "2012-10-17", "Statement": statements(declared(), member_role=False)},
        MEMBER: {"Version": "2012-10-17", "Statement": statements(declared(), member_role=True)},
    }


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "docs/iam")
    for name, document in documents().items():
        (folder / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {folder / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
