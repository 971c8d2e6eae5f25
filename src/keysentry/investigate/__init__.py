"""What an exposed key did: CloudTrail event history and CloudTrail log files, summarised."""

from keysentry.investigate.activity import Activity, summarise
from keysentry.investigate.cloudtrail import events_from_lookup, events_from_s3

__all__ = ["Activity", "events_from_lookup", "events_from_s3", "summarise"]
