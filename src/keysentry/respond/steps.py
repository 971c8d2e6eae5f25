"""The steps of a response.  Each is an idempotent function of the stored exposure and the world:
it re-reads what AWS says before acting and treats "already so" as success.

State-changing steps (attribute, contain) follow the state table; timed steps (investigate,
deactivate) run when their time comes and leave the state as it is.  Announcing is not a step: the
messages are queued with the state change that calls for them (:mod:`keysentry.respond.announcement`)
and the outbox's dispatcher sends them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from keysentry.authority.aws import REVOKE_POLICY_NAME, AwsAuthority
from keysentry.authority.issuers import IssuerClients
from keysentry.authority.permissions import Permission
from keysentry.authority.ports import Trails
from keysentry.clock import utcnow
from keysentry.config.settings import Settings
from keysentry.detect.aws_keys import canary, decode_account
from keysentry.investigate import summarise
from keysentry.notify.channel import Channel
from keysentry.respond.custody import Custody
from keysentry.respond.policies import quarantine_policy
from keysentry.respond.states import State
from keysentry.respond.view import ExposureView


@dataclass(frozen=True)
class Outcome:
    state: str | None  # None: a timed step that leaves the state as it is
    changes: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
    settings: Settings
    authority: AwsAuthority
    trails: Trails
    channels: Mapping[str, Channel]
    issuers: IssuerClients | None = None  # GitHub, Slack, GitLab (respond.issuers)
    custody: Custody = field(default_factory=Custody)  # revocable tokens, in memory only


# --- attribute -------------------------------------------------------------------------------
def attribute(ctx: StepContext, x: ExposureView) -> Outcome:
    offline = decode_account(x.key_id)
    planted_by = canary(offline)
    if planted_by:  # no call at all: any call with this key would trip it
        return Outcome(
            State.CANARY, {"account_id": offline, "state_reason": planted_by}, {"how": "offline decode"}
        )
    account, how = ctx.authority.account_of_key(x.key_id)
    accounts = ctx.authority.organization_accounts()
    if account not in accounts:  # an account added since the list was read is ours too
        accounts = ctx.authority.organization_accounts(fresh=True)
    if account not in accounts:
        reason = f"account {account} is not in our organization"
        not_ours = {"applied": False, "why": "not-ours", "reason": reason}
        return Outcome(
            State.NOT_OURS,
            {"account_id": account, "state_reason": reason, "containment": not_ours},
            {"account": account, "how": how},
        )
    name = accounts[account].name
    base = {"account_id": account, "account_name": name, "attributed_at": utcnow()}
    detail = {"account": account, "account_name": name, "how": how}
    if x.key_id.startswith("ASIA"):
        session = ctx.authority.role_of_session_key(account, x.key_id)
        if session is None:
            reason = "temporary (ASIA) key that no CloudTrail event ties to a role yet"
            unowned = {"applied": False, "why": "unowned", "reason": reason}
            changes = {
                **base,
                "principal_type": "role-session",
                "state_reason": reason,
                "containment": unowned,
            }
            return Outcome(State.UNOWNED, changes, detail)
        return Outcome(
            State.ATTRIBUTED,
            {
                **base,
                "principal_type": "role-session",
                "principal_name": session.role_name,
                "principal_arn": session.role_arn,
            },
            {**detail, "principal": session.role_arn, "session": session.session_name, "via": "cloudtrail"},
        )
    owner = ctx.authority.key_owner(account, x.key_id)
    if owner is None:
        reason = f"IAM in account {account} does not know this key (deleted, or never existed)"
        unowned = {"applied": False, "why": "unowned", "reason": reason}
        return Outcome(State.UNOWNED, {**base, "state_reason": reason, "containment": unowned}, detail)
    if owner.principal_type == "iam-user" and owner.user_name and ctx.settings.response.matches_principals:
        # Response rules name principals: they must see the full ARN (with its path) before containment.
        arn, status = ctx.authority.user_details(account, owner.user_name, x.key_id)
        owner = replace(owner, arn=arn, status=status)
    return Outcome(
        State.ATTRIBUTED,
        {
            **base,
            "principal_type": owner.principal_type,
            "principal_name": owner.user_name,
            "principal_arn": owner.arn,
            "key_status": owner.status,
            "key_last_used": owner.last_used,
        },
        {**detail, "principal": owner.arn, "key_status": owner.status},
    )


# --- contain ---------------------------------------------------------------------------------
QUARANTINE_FAMILY = "AWSCompromisedKeyQuarantine"  # AWS publishes V1, V2, V3, V4 …
# Response modes that change nothing, and what the exposure's containment then says.
NOT_APPLIED: dict[str, str] = {
    State.NOTIFY_ONLY: "response settings say notify only",
    State.DRY_RUN: "dry run: nothing was changed",
}


def contain(ctx: StepContext, x: ExposureView) -> Outcome:
    assert x.account_id is not None
    decision = ctx.settings.response.decide(x.account_id, x.principal_arn)
    now = utcnow()
    if x.principal_type == "root" or not x.principal_name:
        reason = "a root access key cannot carry a policy: rotate it from the root user now"
        containment = {"applied": False, "reason": reason, "severity": "critical"}
        return Outcome(
            State.ESCALATED,
            {"containment": containment, "state_reason": reason, "mode": decision.mode},
            containment,
        )
    planned = _plan(ctx, x)
    if x.suspected and ctx.settings.response.suspected == "notify_only":
        reason = (
            "only the key ID was seen, not its secret: announced as a suspected exposure "
            '([response] suspected = "notify_only"); it is contained at once if its secret is seen'
        )
        containment = {"applied": False, "mode": "suspected", "reason": reason, "would": planned}
        return Outcome(State.SUSPECTED, {"containment": containment, "mode": "notify_only"}, containment)
    if decision.mode in NOT_APPLIED:  # the mode is also the state it leads to
        containment = {
            "applied": False,
            "mode": decision.mode,
            "reason": NOT_APPLIED[decision.mode],
            "rule": decision.rule,
            "would": planned,
        }
        return Outcome(decision.mode, {"containment": containment, "mode": decision.mode}, containment)
    if x.principal_type == "role-session":
        already = ctx.authority.revoke_role_sessions(x.account_id, x.principal_name, now)
        containment = {
            **planned,
            "applied": True,
            "already_applied": already,
            "issued_before": now.isoformat(),
        }
    else:
        arn, kind = _quarantine_arn(ctx, x.account_id)
        # IAM's AttachUserPolicy is idempotent: attaching again after a crash changes nothing.
        ctx.authority.attach_user_policy(x.account_id, x.principal_name, arn)
        containment = {
            **planned,
            "applied": True,
            "policy_arn": arn,
            "policy_name": arn.rsplit("/", 1)[-1],
            "policy_kind": kind,
        }
    changes: dict[str, Any] = {
        "containment": containment,
        "contained_at": now,
        "state_reason": None,
        "mode": decision.mode,
    }
    if decision.deactivate_after is not None and x.principal_type == "iam-user":
        containment["deactivate_at"] = (now + decision.deactivate_after).isoformat()
    return Outcome(State.CONTAINED, changes, containment)


def _plan(ctx: StepContext, x: ExposureView) -> dict[str, Any]:
    policy = quarantine_policy()
    if x.principal_type == "role-session":
        return {
            "kind": "revoke-role-sessions",
            "target": x.principal_arn,
            "blocks": "every call by sessions of this role issued before containment",
        }
    return {
        "kind": "quarantine-policy",
        "target": x.principal_arn,
        "policy_version": policy.version,
        "denied_actions": len(policy.denied_actions()),
        "blocks": "resource creation, IAM changes and data access; existing workloads keep running",
    }


def _quarantine_arn(ctx: StepContext, account_id: str) -> tuple[str, str]:
    """The AWS managed quarantine policy: the one the settings pin, else the newest version the partition
    offers; where there is none, our up-to-date customer-managed copy of the bundled document."""
    policy = quarantine_policy()
    pinned = ctx.settings.quarantine_policy_name
    if pinned:
        arn = ctx.authority.managed_policy_arn(pinned)
        if ctx.authority.policy_exists(account_id, arn):
            return arn, "aws-managed (pinned)"
    else:
        newest = ctx.authority.newest_managed_policy(account_id, QUARANTINE_FAMILY)
        if newest is not None:
            return newest, "aws-managed"
    copy = ctx.authority.ensure_customer_policy(
        account_id,
        policy.customer_name,
        policy.document,
        f"keysentry copy of {policy.aws_managed_name} ({policy.version})",
    )
    return copy, "customer-managed copy"


# --- timed steps -----------------------------------------------------------------------------
def investigate(ctx: StepContext, x: ExposureView) -> Outcome:
    """What the key did so far: CloudTrail event history in every enabled region, and the trail's log
    files in S3 when a bucket is configured.  Runs again at each configured delay (CloudTrail is late)."""
    assert x.account_id is not None
    regions = ctx.trails.regions(x.account_id)
    records, sources = _trail_records(ctx, x, regions)
    activity = summarise(
        x.key_id, records, ctx.settings.aws_region, exposed_at=x.first_seen_at, sources=sources
    )
    owner: dict[str, Any] = {}
    if x.principal_type == "iam-user" and x.principal_name:  # the user's full ARN and the key's status now
        arn, status = ctx.authority.user_details(x.account_id, x.principal_name, x.key_id)
        owner = {"principal_arn": arn, "key_status": status}
    now = utcnow()
    previous = x.investigation or {}
    due = [d for d in previous.get("due", []) if datetime.fromisoformat(d) > now]
    runs = [
        *previous.get("runs", []),
        {"at": now.isoformat(), "events": activity.events, "flagged": len(activity.flagged)},
    ]
    summary = activity.as_dict()
    detail = {
        "events": activity.events,
        "flagged": [f["event"] for f in activity.flagged],
        "created": len(activity.created),
        "regions": len(regions),
        "trail_files": bool(ctx.settings.cloudtrail_bucket),
        "next": due[0] if due else None,
    }
    return Outcome(None, {**owner, "investigation": {"due": due, "runs": runs, "latest": summary}}, detail)


def _trail_records(
    ctx: StepContext, x: ExposureView, regions: list[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The key's CloudTrail records since a day before it was first seen, and where they were read."""
    assert x.account_id is not None
    records: list[dict[str, Any]] = []
    sources = []
    start = (x.first_seen_at or x.detected_at) - timedelta(days=1)
    lookup_start = max(start, utcnow() - timedelta(days=89))  # event history keeps 90 days
    for region in regions:
        records.extend(ctx.trails.key_events(x.account_id, region, x.key_id, lookup_start))
        sources.append(f"cloudtrail:LookupEvents {region}")
    bucket, prefix = ctx.settings.cloudtrail_bucket, ctx.settings.cloudtrail_prefix
    if bucket:
        records.extend(
            ctx.trails.trail_records(bucket, prefix, x.account_id, regions, x.key_id, start, utcnow())
        )
        sources.append(f"s3://{bucket}/{prefix}")
    return records, sources


def deactivate(ctx: StepContext, x: ExposureView) -> Outcome:
    """The optional escalation: set the key Inactive (never delete it) once its delay has passed."""
    assert x.account_id is not None and x.principal_name is not None
    before = ctx.authority.deactivate_key(x.account_id, x.principal_name, x.key_id)
    containment = {
        **(x.containment or {}),
        "deactivate_at": None,
        "deactivated_at": utcnow().isoformat(),
        "status_before": before,
    }
    return Outcome(
        None,
        {"containment": containment, "key_status": "Inactive" if before else None},
        {"status_before": before, "now": "Inactive" if before else "gone"},
    )


# --- the registry: each step and the IAM permissions its calls need ---------------------------
StepFunction = Callable[[StepContext, ExposureView], Outcome]
IN_THE_ACCOUNT = "AttributeKeysOfThisAccount"  # reads in the key's own account


def quarantine_permission(*actions: str) -> Permission:
    """Attaching and detaching, limited to the quarantine policies (so nothing else can be granted):
    every version AWS publishes, and our copy."""
    policy = quarantine_policy()
    arns = [
        f"arn:aws:iam::aws:policy/{QUARANTINE_FAMILY}V*",
        f"arn:aws:iam::*:policy/{policy.customer_name}",
    ]
    return Permission(
        "QuarantineAndRelease", actions, ("arn:aws:iam::*:user/*",), {"ArnLike": {"iam:PolicyARN": arns}}
    )


def role_revocation_permission(*actions: str) -> Permission:
    """Inline role policies, limited to the session revocation's name."""
    return Permission(
        "RevokeRoleSessions",
        actions,
        ("arn:aws:iam::*:role/*",),
        {"StringEquals": {"iam:PolicyName": REVOKE_POLICY_NAME}},
    )


@dataclass(frozen=True)
class RegisteredStep:
    name: str
    run: StepFunction
    permissions: tuple[Permission, ...]
    timed: bool = False  # runs when it is due and leaves the state as it is


REGISTERED_STEPS = (
    RegisteredStep(
        "attribute",
        attribute,
        (
            Permission(
                "WhoOwnsAKey", ("sts:GetAccessKeyInfo", "organizations:ListAccounts"), in_every_account=False
            ),
            Permission(
                IN_THE_ACCOUNT,
                ("iam:GetAccessKeyLastUsed", "iam:ListAccessKeys", "iam:GetUser", "ec2:DescribeRegions"),
            ),
            Permission(IN_THE_ACCOUNT, ("cloudtrail:LookupEvents",)),  # a temporary key's role
        ),
    ),
    RegisteredStep(
        "contain",
        contain,
        (
            Permission(
                IN_THE_ACCOUNT,
                (
                    "iam:GetPolicy",
                    "iam:GetPolicyVersion",
                    "iam:ListPolicyVersions",
                    "iam:GetRolePolicy",
                    "iam:ListPolicies",
                ),
            ),
            quarantine_permission("iam:AttachUserPolicy"),
            Permission(
                "CustomerCopyWhereThePartitionLacksTheManagedPolicy",
                ("iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion"),
                (f"arn:aws:iam::*:policy/{quarantine_policy().customer_name}",),
            ),
            role_revocation_permission("iam:PutRolePolicy"),
        ),
    ),
    RegisteredStep(
        "investigate",
        investigate,
        (Permission(IN_THE_ACCOUNT, ("iam:GetUser", "iam:ListAccessKeys")), *Trails.PERMISSIONS),
        timed=True,
    ),
    RegisteredStep(
        "deactivate",
        deactivate,
        (
            Permission(IN_THE_ACCOUNT, ("iam:ListAccessKeys",)),
            Permission("OptionalDeactivation", ("iam:UpdateAccessKey",), ("arn:aws:iam::*:user/*",)),
        ),
        timed=True,
    ),
)
STEPS: dict[str, StepFunction] = {s.name: s.run for s in REGISTERED_STEPS if not s.timed}
TIMED_STEPS: dict[str, StepFunction] = {s.name: s.run for s in REGISTERED_STEPS if s.timed}


def next_due(x: ExposureView | Any) -> tuple[datetime | None, str | None]:
    """When the next timed step of an exposure is due, and which: from its containment and investigation."""
    candidates: list[tuple[datetime, str]] = []
    containment = x.containment or {}
    if containment.get("deactivate_at") and containment.get("applied"):
        candidates.append((datetime.fromisoformat(containment["deactivate_at"]), "deactivate"))
    for due in (x.investigation or {}).get("due", []):
        candidates.append((datetime.fromisoformat(due), "investigate"))
    if not candidates:
        return None, None
    when, step = min(candidates)
    return when, step
