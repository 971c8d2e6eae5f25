"""AWS as the credential authority: which account and principal own a key, and how to reach them.

Every answer is read from AWS (through :class:`AwsClients`) and cached for the
life of the object: organization accounts, role sessions in member accounts,
the partition.  Nothing here changes the world except :meth:`attach_user_policy`
and :meth:`ensure_customer_policy`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from keysentry.authority.boundary import NOT_FOUND_CODES, AwsCallError, aws_call
from keysentry.authority.clients import AwsClients, Credentials
from keysentry.authority.permissions import Permission
from keysentry.detect.aws_keys import decode_account

log = logging.getLogger(__name__)

# The inline policy name the IAM console uses for "Revoke active sessions".
REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"
SESSION_MARGIN = timedelta(minutes=5)
ACCOUNTS_TTL = 300.0  # seconds an organization's account list (and names) is reused before it is read again


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    name: str | None
    email: str | None
    status: str | None


@dataclass(frozen=True, slots=True)
class KeyOwner:
    account_id: str
    principal_type: str  # "iam-user" or "root"
    user_name: str | None
    arn: str
    status: str | None
    last_used: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RoleSession:
    """The role behind a temporary key, and the session name it was issued under."""

    account_id: str
    role_arn: str
    role_name: str
    session_name: str


@dataclass(frozen=True, slots=True)
class _RoleSession:
    credentials: Credentials
    expires: datetime


class AwsAuthority:
    # What it asks on its own, whatever the step: who we are, and the role it acts through elsewhere.
    PERMISSIONS = (
        Permission("WhoOwnsAKey", ("sts:GetCallerIdentity",), in_every_account=False),
        Permission(
            "ActInMemberAccounts",
            ("sts:AssumeRole",),
            ("arn:aws:iam::*:role/KeysentryResponder",),
            in_every_account=False,
        ),
    )

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.settings = clients.settings
        self._lock = threading.Lock()
        self._identity: dict[str, str] | None = None
        self._accounts: dict[str, Account] | None = None
        self._accounts_read = 0.0
        self._sessions: dict[str, _RoleSession] = {}
        self._regions: dict[str, list[str]] = {}
        self._managed_policies: set[tuple[str, str]] = set()
        self._newest: dict[tuple[str, str], str | None] = {}

    # --- who we are -------------------------------------------------------------------------
    def _caller(self) -> dict[str, str]:
        if self._identity is None:
            with aws_call("sts:GetCallerIdentity with our own credentials"):
                answer = self.clients.client("sts").get_caller_identity()
            self._identity = {"Account": answer["Account"], "Arn": answer["Arn"]}
        return self._identity

    @property
    def our_account(self) -> str:
        return self._caller()["Account"]

    @property
    def partition(self) -> str:
        return self._caller()["Arn"].split(":")[1]

    # --- the organization -------------------------------------------------------------------
    def organization_accounts(self, fresh: bool = False) -> dict[str, Account]:
        """Accounts of our organization, with the names Organizations gives them now (read again after
        ``ACCOUNTS_TTL``, or at once with ``fresh``); just our own account when there is no
        organization."""
        with self._lock:
            stale = time.monotonic() - self._accounts_read > ACCOUNTS_TTL
            if self._accounts is not None and not fresh and not stale:
                return self._accounts
            accounts: dict[str, Account] = {}
            org = self.clients.client("organizations")
            try:
                with aws_call("organizations:ListAccounts"):
                    for page in org.get_paginator("list_accounts").paginate():
                        for a in page["Accounts"]:
                            accounts[a["Id"]] = Account(
                                a["Id"], a.get("Name"), a.get("Email"), a.get("State")
                            )
            except AwsCallError as exc:
                if exc.code != "AWSOrganizationsNotInUseException":
                    raise
                accounts[self.our_account] = Account(self.our_account, None, None, "ACTIVE")
            self._accounts, self._accounts_read = accounts, time.monotonic()
            return accounts

    # --- keys -------------------------------------------------------------------------------
    def account_of_key(self, key_id: str) -> tuple[str, str]:
        """The account that owns ``key_id`` and how we know: ("offline" or "sts:GetAccessKeyInfo")."""
        offline = decode_account(key_id)
        if offline is not None:
            return offline, "offline decode"
        with aws_call(f"sts:GetAccessKeyInfo for {key_id}"):
            answer = self.clients.client("sts").get_access_key_info(AccessKeyId=key_id)
        return str(answer["Account"]), "sts:GetAccessKeyInfo"

    def credentials_for(self, account_id: str) -> Credentials | None:
        """Credentials that act in ``account_id``: None means our own principal (our account)."""
        if account_id == self.our_account:
            return None
        with self._lock:
            cached = self._sessions.get(account_id)
            if cached and cached.expires - SESSION_MARGIN > datetime.now(UTC):
                return cached.credentials
            role_arn = f"arn:{self.partition}:iam::{account_id}:role/{self.settings.member_role_name}"
            with aws_call(f"sts:AssumeRole into {role_arn}"):
                answer = self.clients.client("sts").assume_role(
                    RoleArn=role_arn, RoleSessionName="keysentry-responder", DurationSeconds=3600
                )
            c = answer["Credentials"]
            creds = Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
            expires = c["Expiration"]
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            self._sessions[account_id] = _RoleSession(creds, expires)
            return creds

    def client_in(self, account_id: str, service: str, region: str | None = None) -> Any:
        return self.clients.client(service, credentials=self.credentials_for(account_id), region=region)

    def enabled_regions(self, account_id: str) -> list[str]:
        """Regions enabled in the account (EC2 DescribeRegions); the home region if that cannot be read."""
        with self._lock:
            cached = self._regions.get(account_id)
        if cached is not None:
            return cached
        ec2 = self.client_in(account_id, "ec2")  # a role that cannot be assumed is an error, not a fallback
        try:
            with aws_call(f"ec2:DescribeRegions in {account_id}"):
                answer = ec2.describe_regions(AllRegions=False)
                session = boto3.session.Session()
                regions = sorted(
                    r["RegionName"]
                    for r in answer["Regions"]
                    if session.get_partition_for_region(r["RegionName"]) == self.partition
                )
        except AwsCallError as exc:
            log.warning("cannot list regions of %s (%s); using %s", account_id, exc, self.settings.aws_region)
            regions = [self.settings.aws_region]
        with self._lock:
            self._regions[account_id] = regions
        return regions

    def key_owner(self, account_id: str, key_id: str) -> KeyOwner | None:
        """The IAM user (or root) that owns a long-term key; None if IAM does not know it."""
        iam = self.client_in(account_id, "iam")
        try:
            with aws_call(f"iam:GetAccessKeyLastUsed for {key_id}"):
                used = iam.get_access_key_last_used(AccessKeyId=key_id)
        except AwsCallError as exc:
            if exc.code in NOT_FOUND_CODES | {"AccessDenied"}:
                log.info("iam:GetAccessKeyLastUsed does not know %s in %s: %s", key_id, account_id, exc.code)
                return None
            raise
        user_name = used.get("UserName")
        last_used = {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in used.get("AccessKeyLastUsed", {}).items()
        }
        if not user_name or user_name == "root" or user_name == "<root_account>":
            return KeyOwner(
                account_id, "root", None, f"arn:{self.partition}:iam::{account_id}:root", None, last_used
            )
        # One call is enough to contain: the ARN is completed (with the user's path) and the key's status
        # read after containment, by :meth:`user_details`.
        arn = f"arn:{self.partition}:iam::{account_id}:user/{user_name}"
        return KeyOwner(account_id, "iam-user", user_name, arn, None, last_used)

    def user_details(self, account_id: str, user_name: str, key_id: str) -> tuple[str, str | None]:
        """The user's ARN (with its path) and the key's status (None if the key is gone)."""
        with aws_call(f"iam:GetUser {user_name} in {account_id}"):
            arn = str(self.client_in(account_id, "iam").get_user(UserName=user_name)["User"]["Arn"])
        return arn, self.key_status(account_id, user_name, key_id)

    def role_of_session_key(self, account_id: str, key_id: str) -> RoleSession | None:
        """The role a temporary (ASIA) key was issued for, from the first CloudTrail event that used it."""
        for region in [
            self.settings.aws_region,
            *[r for r in self.enabled_regions(account_id) if r != self.settings.aws_region],
        ]:
            trail = self.client_in(account_id, "cloudtrail", region)
            with aws_call(f"cloudtrail:LookupEvents in {account_id}/{region}"):
                answer = trail.lookup_events(
                    LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": key_id}],
                    MaxResults=50,
                )
            for event in answer.get("Events", []):
                identity = json.loads(event.get("CloudTrailEvent") or "{}").get("userIdentity", {})
                issuer = identity.get("sessionContext", {}).get("sessionIssuer", {})
                if issuer.get("type") == "Role" and issuer.get("arn"):
                    session = str(identity.get("arn", "")).rsplit("/", 1)[-1]
                    return RoleSession(
                        account_id,
                        issuer["arn"],
                        issuer.get("userName") or issuer["arn"].rsplit("/", 1)[-1],
                        session,
                    )
        return None

    # --- containment --------------------------------------------------------------------------
    def revoke_role_sessions(self, account_id: str, role_name: str, issued_before: datetime) -> bool:
        """Deny every action to sessions of the role issued before ``issued_before`` (what the console's
        "Revoke active sessions" does).  Returns True when an equal or later revocation was already there."""
        iam = self.client_in(account_id, "iam")
        stamp = issued_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            with aws_call(f"iam:GetRolePolicy on {role_name}"):
                current = iam.get_role_policy(RoleName=role_name, PolicyName=REVOKE_POLICY_NAME)
            document = current["PolicyDocument"]
            if isinstance(document, str):
                document = json.loads(document)
            existing = document["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
            if existing >= stamp:
                return True
        except AwsCallError as exc:
            if not exc.not_found:
                raise
        except (KeyError, IndexError, TypeError, ValueError):
            pass  # someone else's document under our name: replace it
        revocation = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": ["*"],
                    "Resource": ["*"],
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}},
                }
            ],
        }
        with aws_call(f"iam:PutRolePolicy {REVOKE_POLICY_NAME} on {role_name}"):
            iam.put_role_policy(
                RoleName=role_name, PolicyName=REVOKE_POLICY_NAME, PolicyDocument=json.dumps(revocation)
            )
        return False

    def remove_role_revocation(self, account_id: str, role_name: str) -> bool:
        """Delete our session-revocation inline policy; False when it was not there."""
        try:
            with aws_call(f"iam:DeleteRolePolicy {REVOKE_POLICY_NAME} on {role_name}"):
                self.client_in(account_id, "iam").delete_role_policy(
                    RoleName=role_name, PolicyName=REVOKE_POLICY_NAME
                )
        except AwsCallError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def detach_user_policy(self, account_id: str, user_name: str, policy_arn: str) -> bool:
        """Detach; False when it was not attached (already released)."""
        try:
            with aws_call(f"iam:DetachUserPolicy {policy_arn} from {user_name}"):
                self.client_in(account_id, "iam").detach_user_policy(UserName=user_name, PolicyArn=policy_arn)
        except AwsCallError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def key_status(self, account_id: str, user_name: str, key_id: str) -> str | None:
        iam = self.client_in(account_id, "iam")
        try:
            with aws_call(f"iam:ListAccessKeys {user_name}"):
                for page in iam.get_paginator("list_access_keys").paginate(UserName=user_name):
                    for meta in page["AccessKeyMetadata"]:
                        if meta["AccessKeyId"] == key_id:
                            return str(meta["Status"])
        except AwsCallError as exc:
            if exc.not_found:
                return None
            raise
        return None

    def deactivate_key(self, account_id: str, user_name: str, key_id: str) -> str | None:
        """Set the key Inactive (never delete it).  Returns its status before: None if it no longer exists."""
        before = self.key_status(account_id, user_name, key_id)
        if before == "Active":
            with aws_call(f"iam:UpdateAccessKey {key_id} to Inactive"):
                self.client_in(account_id, "iam").update_access_key(
                    UserName=user_name, AccessKeyId=key_id, Status="Inactive"
                )
        return before

    # --- policies ---------------------------------------------------------------------------
    def managed_policy_arn(self, name: str) -> str:
        return f"arn:{self.partition}:iam::aws:policy/{name}"

    def newest_managed_policy(self, account_id: str, family: str) -> str | None:
        """The ARN of the highest ``<family>V<n>`` AWS managed policy the account sees (asked once per
        account and remembered); None when the partition has none."""
        with self._lock:
            if (account_id, family) in self._newest:
                return self._newest[(account_id, family)]
        pattern = re.compile(rf"^{re.escape(family)}V(\d+)$")
        found: list[tuple[int, str]] = []
        iam = self.client_in(account_id, "iam")
        with aws_call(f"iam:ListPolicies (AWS managed) in {account_id}"):
            pages = iam.get_paginator("list_policies").paginate(
                Scope="AWS", PaginationConfig={"PageSize": 1000}
            )
            for page in pages:
                for policy in page["Policies"]:
                    version = pattern.match(policy["PolicyName"])
                    if version:
                        found.append((int(version.group(1)), str(policy["Arn"])))
        newest = max(found)[1] if found else None
        with self._lock:
            self._newest[(account_id, family)] = newest
        if newest:
            self._managed_policies.add((account_id, newest))
        return newest

    def policy_exists(self, account_id: str, arn: str) -> bool:
        """Whether ``arn`` exists as seen from the account; AWS managed policies are asked about once."""
        managed = ":iam::aws:policy/" in arn
        if managed and (account_id, arn) in self._managed_policies:
            return True
        try:
            with aws_call(f"iam:GetPolicy {arn}"):
                self.client_in(account_id, "iam").get_policy(PolicyArn=arn)
        except AwsCallError as exc:
            if exc.not_found:
                return False
            raise
        if managed:
            self._managed_policies.add((account_id, arn))
        return True

    def ensure_customer_policy(
        self, account_id: str, name: str, document: dict[str, Any], description: str
    ) -> str:
        """A customer-managed policy with this document in ``account_id``: created if missing, and given a
        new default version when the bundled document changed (attached copies follow at once)."""
        arn = f"arn:{self.partition}:iam::{account_id}:policy/{name}"
        if self.policy_exists(account_id, arn):
            self._bring_up_to_date(account_id, arn, document)
            return arn
        try:
            with aws_call(f"iam:CreatePolicy {name} in {account_id}"):
                self.client_in(account_id, "iam").create_policy(
                    PolicyName=name, PolicyDocument=json.dumps(document), Description=description
                )
        except AwsCallError as exc:
            if exc.code != "EntityAlreadyExists":
                raise
        return arn

    def _bring_up_to_date(self, account_id: str, arn: str, document: dict[str, Any]) -> None:
        iam = self.client_in(account_id, "iam")
        with aws_call(f"bringing {arn} up to date in {account_id}"):
            policy = iam.get_policy(PolicyArn=arn)["Policy"]
            current = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])[
                "PolicyVersion"
            ]
            text = current["Document"]
            installed = json.loads(urllib.parse.unquote(text)) if isinstance(text, str) else text
            if installed == document:
                return
            versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
            if len(versions) >= 5:  # IAM keeps five: drop the oldest one that is not the default
                oldest = min(
                    (v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"]
                )
                iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
            iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True)
            log.info("updated %s in %s to the bundled document", arn, account_id)

    def attach_user_policy(self, account_id: str, user_name: str, policy_arn: str) -> None:
        with aws_call(f"iam:AttachUserPolicy {policy_arn} to {user_name}"):
            self.client_in(account_id, "iam").attach_user_policy(UserName=user_name, PolicyArn=policy_arn)
