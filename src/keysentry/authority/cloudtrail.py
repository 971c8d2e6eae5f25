"""Read CloudTrail records of one access key: event history (LookupEvents, per region) and the log
files an (organization) trail writes to S3."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from keysentry.authority.boundary import aws_call

log = logging.getLogger(__name__)
MAX_LOG_FILE = 256 * 1024 * 1024  # a trail file is small; refuse anything absurd


def events_from_lookup(client: Any, key_id: str, start: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every record LookupEvents holds for ``key_id`` in the client's region (90 days at most)."""
    kwargs: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": key_id}],
        "MaxResults": 50,
    }
    if start is not None:
        kwargs["StartTime"] = start
    with aws_call(f"cloudtrail:LookupEvents for {key_id}"):
        for page in client.get_paginator("lookup_events").paginate(**kwargs):
            for event in page.get("Events", []):
                raw = event.get("CloudTrailEvent")
                if raw:
                    yield json.loads(raw)


def _days(start: datetime, end: datetime) -> Iterator[datetime]:
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end:
        yield day
        day += timedelta(days=1)


def events_from_s3(
    client: Any,
    bucket: str,
    prefix: str,
    account_id: str,
    regions: list[str],
    key_id: str,
    start: datetime,
    end: datetime,
) -> Iterator[dict[str, Any]]:
    """Records for ``key_id`` in trail log files ``<prefix>AWSLogs/[<org id>/]<account>/CloudTrail/<region>/
    YYYY/MM/DD/*.json.gz`` between ``start`` and ``end``; organization and account trails alike."""
    base = prefix.rstrip("/") + "/" if prefix else ""
    with aws_call(f"reading CloudTrail logs from s3://{bucket}/{base}"):
        roots = _account_roots(client, bucket, base, account_id)
        for root in roots:
            for region in regions:
                for day in _days(start, end):
                    folder = f"{root}CloudTrail/{region}/{day:%Y/%m/%d}/"
                    for page in client.get_paginator("list_objects_v2").paginate(
                        Bucket=bucket, Prefix=folder
                    ):
                        for item in page.get("Contents", []):
                            yield from _records(client, bucket, item["Key"], int(item.get("Size", 0)), key_id)


def _account_roots(client: Any, bucket: str, base: str, account_id: str) -> list[str]:
    """``AWSLogs/<account>/`` and, for organization trails, ``AWSLogs/<org id>/<account>/``."""
    roots = [f"{base}AWSLogs/{account_id}/"]
    answer = client.list_objects_v2(Bucket=bucket, Prefix=f"{base}AWSLogs/", Delimiter="/")
    for common in answer.get("CommonPrefixes", []):
        name = common["Prefix"][len(f"{base}AWSLogs/") :].strip("/")
        if name.startswith("o-"):
            roots.append(f"{base}AWSLogs/{name}/{account_id}/")
    return roots


def _records(client: Any, bucket: str, key: str, size: int, key_id: str) -> Iterator[dict[str, Any]]:
    if size > MAX_LOG_FILE:
        log.warning("skipping s3://%s/%s: %d bytes is not a CloudTrail log file", bucket, key, size)
        return
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        text = gzip.decompress(body) if key.endswith(".gz") else body
        document = json.loads(text)
    except (OSError, ValueError) as exc:
        log.warning("skipping s3://%s/%s: not a CloudTrail log file (%s)", bucket, key, exc)
        return
    for record in document.get("Records", []) if isinstance(document, dict) else []:
        if isinstance(record, dict) and record.get("userIdentity", {}).get("accessKeyId") == key_id:
            yield record
