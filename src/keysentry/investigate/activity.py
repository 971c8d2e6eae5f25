"""Summarise CloudTrail records of one access key: what it called, from where, what it created, and
what looks like an attacker (flagged actions)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

# Calls that create persistence or spend money: always worth a line in the report.
FLAGGED = {
    "CreateUser": "creates an IAM user (persistence)",
    "CreateAccessKey": "creates an access key (persistence)",
    "CreateLoginProfile": "gives a user a console password (persistence)",
    "UpdateLoginProfile": "changes a console password",
    "AttachUserPolicy": "grants a user a managed policy (privilege escalation)",
    "PutUserPolicy": "grants a user an inline policy (privilege escalation)",
    "AttachRolePolicy": "grants a role a managed policy (privilege escalation)",
    "PutRolePolicy": "grants a role an inline policy (privilege escalation)",
    "CreateRole": "creates a role (persistence)",
    "UpdateAssumeRolePolicy": "changes who may assume a role (persistence)",
    "CreatePolicyVersion": "rewrites a managed policy",
    "DeleteTrail": "deletes a CloudTrail trail (covering tracks)",
    "StopLogging": "stops CloudTrail logging (covering tracks)",
    "PutBucketPolicy": "changes who may read a bucket",
    "CreateFunction20150331": "creates a Lambda function",
    "RequestSpotInstances": "requests spot instances (cost)",
}
# (event name, response field path) → kind of resource created
CREATED = {
    "CreateUser": ("iam-user", ("user", "userName")),
    "CreateAccessKey": ("access-key", ("accessKey", "accessKeyId")),
    "CreateRole": ("iam-role", ("role", "roleName")),
    "CreateLoginProfile": ("login-profile", ("loginProfile", "userName")),
    "CreateFunction20150331": ("lambda-function", ("functionName",)),
    "CreateBucket": ("s3-bucket", ()),
}


@dataclass
class Activity:
    key_id: str
    events: int = 0
    first: str | None = None
    last: str | None = None
    calls: dict[str, int] = field(default_factory=dict)
    regions: dict[str, int] = field(default_factory=dict)
    source_ips: dict[str, int] = field(default_factory=dict)
    user_agents: dict[str, int] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)
    flagged: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _time(record: dict[str, Any]) -> datetime:
    text = str(record.get("eventTime", ""))
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _created(record: dict[str, Any]) -> list[dict[str, Any]]:
    name = record.get("eventName", "")
    base = {"event": name, "region": record.get("awsRegion"), "time": record.get("eventTime")}
    if name == "RunInstances":
        items = _dig(record.get("responseElements"), ("instancesSet", "items")) or []
        return [
            {**base, "kind": "ec2-instance", "id": i.get("instanceId")} for i in items if isinstance(i, dict)
        ]
    if name in CREATED:
        kind, path = CREATED[name]
        ident = (
            _dig(record.get("responseElements"), path)
            if path
            else _dig(record.get("requestParameters"), ("bucketName",))
        )
        return [{**base, "kind": kind, "id": ident}]
    return []


def summarise(
    key_id: str,
    records: Iterable[dict[str, Any]],
    home_region: str,
    exposed_at: datetime | None = None,
    sources: Iterable[str] = (),
) -> Activity:
    """One activity report from CloudTrail records (duplicates across sources counted once, by eventID)."""
    seen: set[str] = set()
    ordered = []
    for record in records:
        if record.get("userIdentity", {}).get("accessKeyId") != key_id:
            continue
        ident = str(record.get("eventID") or id(record))
        if ident in seen:
            continue
        seen.add(ident)
        ordered.append(record)
    ordered.sort(key=_time)
    activity = Activity(key_id=key_id, sources=list(sources))
    calls: Counter[str] = Counter()
    regions: Counter[str] = Counter()
    ips: Counter[str] = Counter()
    agents: Counter[str] = Counter()
    known_ips: set[str] = set()
    for record in ordered:
        when = _time(record)
        name = str(record.get("eventName", "?"))
        region = str(record.get("awsRegion", "?"))
        ip = str(record.get("sourceIPAddress", "?"))
        calls[name] += 1
        regions[region] += 1
        ips[ip] += 1
        agents[str(record.get("userAgent", "?"))[:120]] += 1
        before_exposure = exposed_at is not None and when < exposed_at
        base = {"event": name, "region": region, "ip": ip, "time": record.get("eventTime")}
        if name in FLAGGED:
            activity.flagged.append({**base, "why": FLAGGED[name]})
        elif name == "RunInstances":
            why = "launches instances" + (
                "" if region == home_region else f" in {region}, not the home region"
            )
            activity.flagged.append({**base, "why": why})
        elif name == "GetCallerIdentity" and ip not in known_ips and not before_exposure:
            activity.flagged.append(
                {**base, "why": "checks whose key this is, from an address not seen before"}
            )
        if before_exposure:
            known_ips.add(ip)
        if record.get("errorCode") is None:
            activity.created.extend(_created(record))
    activity.events = len(ordered)
    if ordered:
        activity.first, activity.last = ordered[0].get("eventTime"), ordered[-1].get("eventTime")
    activity.calls = dict(calls.most_common())
    activity.regions = dict(regions.most_common())
    activity.source_ips = dict(ips.most_common())
    activity.user_agents = dict(agents.most_common(10))
    return activity
