"""What an exposed key did, summarised from its CloudTrail records (read by :mod:`keysentry.authority`)."""

from keysentry.investigate.activity import Activity, summarise

__all__ = ["Activity", "summarise"]
