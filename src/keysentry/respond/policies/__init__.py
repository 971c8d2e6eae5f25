"""Quarantine policy documents as data, versioned.

``quarantine_v3.json`` is AWS's ``AWSCompromisedKeyQuarantineV3`` document.
Where the partition has the AWS managed policy we attach that; otherwise a
customer-managed copy of this document under :attr:`QuarantinePolicy.customer_name`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class QuarantinePolicy:
    version: str
    aws_managed_name: str
    customer_name: str
    document: dict[str, Any]

    def denied_actions(self) -> list[str]:
        actions: list[str] = []
        for statement in self.document["Statement"]:
            if statement.get("Effect") == "Deny":
                listed = statement["Action"]
                actions.extend([listed] if isinstance(listed, str) else listed)
        return actions


@cache
def quarantine_policy() -> QuarantinePolicy:
    text = resources.files(__package__).joinpath("quarantine_v3.json").read_text(encoding="utf-8")
    return QuarantinePolicy(
        version="v3",
        aws_managed_name="AWSCompromisedKeyQuarantineV3",
        customer_name="KeysentryCompromisedKeyQuarantineV3",
        document=json.loads(text),
    )
