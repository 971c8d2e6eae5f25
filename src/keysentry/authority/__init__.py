"""The credential authority: for AWS, key → account → principal, through STS, IAM and Organizations."""

from keysentry.authority.aws import AwsAuthority, KeyOwner
from keysentry.authority.clients import AwsClients, Credentials

__all__ = ["AwsAuthority", "AwsClients", "Credentials", "KeyOwner"]
