"""AWS as the credential authority: which account and principal own a key, and how to reach them.

Every answer is read from AWS (through :class:`AwsClients`) and cached for the
life of the object: organization accounts, role sessions in member accounts,
the partition.  Nothing here changes the world except :meth:`attach_user_policy`
and :meth:`ensure_customer_policy`.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from keysentry.authority.clients import AwsClients, Credentials
from keysentry.detect.aws_keys import decode_account
from keysentry.errors import AuthorityError

log = logging.getLogger(__name__)

NOT_FOUND_CODES = frozenset({"NoSuchEntity", "NoSuchEntityException", "NotFoundException"})
SESSION_MARGIN = timedelta(minutes=5)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


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
class _RoleSession:
    credentials: Credentials
    expires: datetime


class AwsAuthority:
    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.settings = clients.settings
        self._lock = threading.Lock()
        self._identity: dict[str, str] | None = None
        self._accounts: dict[str, Account] | None = None
        self._sessions: dict[str, _RoleSession] = {}

    # --- who we are -------------------------------------------------------------------------
    def _caller(self) -> dict[str, str]:
        if self._identity is None:
            try:
                answer = self.clients.client("sts").get_caller_identity()
            except (ClientError, BotoCoreError) as exc:
                raise AuthorityError(
                    f"cannot call sts:GetCallerIdentity with our own credentials: {exc}"
                ) from exc
            self._identity = {"Account": answer["Account"], "Arn": answer["Arn"]}
        return self._identity

    @property
    def our_account(self) -> str:
        return self._caller()["Account"]

    @property
    def partition(self) -> str:
        return self._caller()["Arn"].split(":")[1]

    # --- the organization -------------------------------------------------------------------
    def organization_accounts(self) -> dict[str, Account]:
        """Accounts of our organization; just our own account when there is no organization."""
        with self._lock:
            if self._accounts is not None:
                return self._accounts
            accounts: dict[str, Account] = {}
            org = self.clients.client("organizations")
            try:
                for page in org.get_paginator("list_accounts").paginate():
                    for a in page["Accounts"]:
                        accounts[a["Id"]] = Account(a["Id"], a.get("Name"), a.get("Email"), a.get("State"))
            except ClientError as exc:
                if error_code(exc) != "AWSOrganizationsNotInUseException":
                    raise AuthorityError(f"organizations:ListAccounts failed: {exc}") from exc
                accounts[self.our_account] = Account(self.our_account, None, None, "ACTIVE")
            except BotoCoreError as exc:
                raise AuthorityError(f"organizations:ListAccounts failed: {exc}") from exc
            self._accounts = accounts
            return accounts

    # --- keys -------------------------------------------------------------------------------
    def account_of_key(self, key_id: str) -> tuple[str, str]:
        """The account that owns ``key_id`` and how we know: ("offline" or "sts:GetAccessKeyInfo")."""
        offline = decode_account(key_id)
        if offline is not None:
            return offline, "offline decode"
        try:
            answer = self.clients.client("sts").get_access_key_info(AccessKeyId=key_id)
        except (ClientError, BotoCoreError) as exc:
            raise AuthorityError(f"sts:GetAccessKeyInfo failed for {key_id}: {exc}") from exc
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
            try:
                answer = self.clients.client("sts").assume_role(
                    RoleArn=role_arn, RoleSessionName="keysentry-responder", DurationSeconds=3600
                )
            except (ClientError, BotoCoreError) as exc:
                raise AuthorityError(f"sts:AssumeRole into {role_arn} failed: {exc}") from exc
            c = answer["Credentials"]
            creds = Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
            expires = c["Expiration"]
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            self._sessions[account_id] = _RoleSession(creds, expires)
            return creds

    def client_in(self, account_id: str, service: str) -> Any:
        return self.clients.client(service, credentials=self.credentials_for(account_id))

    def key_owner(self, account_id: str, key_id: str) -> KeyOwner | None:
        """The IAM user (or root) that owns a long-term key, with its status; None if IAM does not know it."""
        iam = self.client_in(account_id, "iam")
        try:
            used = iam.get_access_key_last_used(AccessKeyId=key_id)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES | {"AccessDenied"}:
                log.info(
                    "iam:GetAccessKeyLastUsed does not know %s in %s: %s", key_id, account_id, error_code(exc)
                )
                return None
            raise AuthorityError(f"iam:GetAccessKeyLastUsed failed for {key_id}: {exc}") from exc
        user_name = used.get("UserName")
        last_used = {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in used.get("AccessKeyLastUsed", {}).items()
        }
        if not user_name or user_name == "root" or user_name == "<root_account>":
            return KeyOwner(
                account_id, "root", None, f"arn:{self.partition}:iam::{account_id}:root", None, last_used
            )
        status = None
        try:
            for page in iam.get_paginator("list_access_keys").paginate(UserName=user_name):
                for meta in page["AccessKeyMetadata"]:
                    if meta["AccessKeyId"] == key_id:
                        status = meta["Status"]
            arn = iam.get_user(UserName=user_name)["User"]["Arn"]
        except ClientError as exc:
            raise AuthorityError(f"cannot read IAM user {user_name} in {account_id}: {exc}") from exc
        return KeyOwner(account_id, "iam-user", user_name, arn, status, last_used)

    # --- policies ---------------------------------------------------------------------------
    def managed_policy_arn(self, name: str) -> str:
        return f"arn:{self.partition}:iam::aws:policy/{name}"

    def policy_exists(self, account_id: str, arn: str) -> bool:
        try:
            self.client_in(account_id, "iam").get_policy(PolicyArn=arn)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return False
            raise AuthorityError(f"iam:GetPolicy {arn} failed: {exc}") from exc
        return True

    def ensure_customer_policy(
        self, account_id: str, name: str, document: dict[str, Any], description: str
    ) -> str:
        """A customer-managed policy with this document in ``account_id``; created if missing."""
        arn = f"arn:{self.partition}:iam::{account_id}:policy/{name}"
        if self.policy_exists(account_id, arn):
            return arn
        try:
            self.client_in(account_id, "iam").create_policy(
                PolicyName=name, PolicyDocument=json.dumps(document), Description=description
            )
        except ClientError as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise AuthorityError(f"iam:CreatePolicy {name} in {account_id} failed: {exc}") from exc
        return arn

    def user_policy_arns(self, account_id: str, user_name: str) -> set[str]:
        iam = self.client_in(account_id, "iam")
        arns: set[str] = set()
        try:
            for page in iam.get_paginator("list_attached_user_policies").paginate(UserName=user_name):
                arns.update(p["PolicyArn"] for p in page["AttachedPolicies"])
        except ClientError as exc:
            raise AuthorityError(f"iam:ListAttachedUserPolicies {user_name} failed: {exc}") from exc
        return arns

    def attach_user_policy(self, account_id: str, user_name: str, policy_arn: str) -> None:
        try:
            self.client_in(account_id, "iam").attach_user_policy(UserName=user_name, PolicyArn=policy_arn)
        except ClientError as exc:
            raise AuthorityError(f"iam:AttachUserPolicy {policy_arn} to {user_name} failed: {exc}") from exc
