"""The steps of a response.  Each is an idempotent function of the stored exposure and the world:
it re-reads what AWS says before acting and treats "already so" as success.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from keysentry.authority.aws import AwsAuthority
from keysentry.notify.eventbridge import EventBridgePublisher
from keysentry.notify.health_event import ExposureFacts
from keysentry.respond.policies import quarantine_policy
from keysentry.respond.view import ExposureView
from keysentry.settings import Settings
from keysentry.store.types import utcnow


@dataclass(frozen=True)
class Outcome:
    state: str
    changes: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
    settings: Settings
    authority: AwsAuthority
    publisher: EventBridgePublisher


@cache
def remediation_steps(credential_type: str) -> list[str]:
    text = resources.files(__package__).joinpath("remediation.toml").read_text(encoding="utf-8")
    return list(tomllib.loads(text).get(credential_type, {}).get("steps", []))


def attribute(ctx: StepContext, x: ExposureView) -> Outcome:
    account, how = ctx.authority.account_of_key(x.key_id)
    accounts = ctx.authority.organization_accounts()
    if account not in accounts:
        return Outcome(
            "not_ours",
            {"account_id": account, "state_reason": f"account {account} is not in our organization"},
            {"account": account, "how": how},
        )
    name = accounts[account].name
    base = {"account_id": account, "account_name": name, "attributed_at": utcnow()}
    if x.key_id.startswith("ASIA"):
        reason = (
            "temporary (ASIA) credentials belong to a role session; revoking role sessions is not "
            "implemented yet"
        )
        return Outcome(
            "unowned",
            {**base, "principal_type": "role-session", "state_reason": reason},
            {"account": account, "how": how},
        )
    owner = ctx.authority.key_owner(account, x.key_id)
    if owner is None:
        reason = f"IAM in account {account} does not know this key (deleted, or never existed)"
        return Outcome("unowned", {**base, "state_reason": reason}, {"account": account, "how": how})
    return Outcome(
        "attributed",
        {
            **base,
            "principal_type": owner.principal_type,
            "principal_name": owner.user_name,
            "principal_arn": owner.arn,
            "key_status": owner.status,
            "key_last_used": owner.last_used,
        },
        {
            "account": account,
            "account_name": name,
            "how": how,
            "principal": owner.arn,
            "key_status": owner.status,
        },
    )


def contain(ctx: StepContext, x: ExposureView) -> Outcome:
    assert x.account_id is not None
    if x.principal_type == "root" or not x.principal_name:
        reason = "a root access key cannot carry a policy: rotate it from the root user now"
        containment = {"applied": False, "reason": reason, "severity": "critical"}
        return Outcome("escalated", {"containment": containment, "state_reason": reason}, containment)
    policy = quarantine_policy()
    arn = ctx.authority.managed_policy_arn(policy.aws_managed_name)
    kind = "aws-managed"
    if not ctx.authority.policy_exists(x.account_id, arn):
        arn = ctx.authority.ensure_customer_policy(
            x.account_id,
            policy.customer_name,
            policy.document,
            f"keysentry copy of {policy.aws_managed_name} ({policy.version})",
        )
        kind = "customer-managed copy"
    already = arn in ctx.authority.user_policy_arns(x.account_id, x.principal_name)
    if not already:
        ctx.authority.attach_user_policy(x.account_id, x.principal_name, arn)
    containment = {
        "applied": True,
        "policy_arn": arn,
        "policy_name": arn.rsplit("/", 1)[-1],
        "policy_kind": kind,
        "policy_version": policy.version,
        "target": x.principal_arn,
        "already_attached": already,
        "denied_actions": len(policy.denied_actions()),
    }
    return Outcome(
        "contained", {"containment": containment, "contained_at": utcnow(), "state_reason": None}, containment
    )


def announce(ctx: StepContext, x: ExposureView) -> Outcome:
    first = x.first_sighting()
    facts = ExposureFacts(
        exposure_id=x.id,
        key_id=x.key_id,
        account_id=x.account_id or "",
        region=ctx.settings.aws_region,
        principal_name=x.principal_name,
        principal_arn=x.principal_arn,
        state=x.state,
        exposed_url=(first.url or first.repository) if first else None,
        source=first.as_dict() if first else {},
        first_seen_at=x.first_seen_at,
        detected_at=x.detected_at,
        contained_at=x.contained_at,
        containment=x.containment,
        dashboard_url=ctx.settings.dashboard_url,
        remediation=remediation_steps(x.credential_type),
    )
    now = utcnow()
    event_id = ctx.publisher.publish(facts, now)
    return Outcome(
        "notified",
        {"notified_at": now},
        {"channel": "eventbridge", "bus": ctx.settings.event_bus_name, "event_id": event_id},
    )


STEPS: dict[str, Callable[[StepContext, ExposureView], Outcome]] = {
    "attribute": attribute,
    "contain": contain,
    "announce": announce,
}
