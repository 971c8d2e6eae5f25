"""Telling the owner: channels (EventBridge first) fed by the outbox and its dispatcher."""

from keysentry.notify.channel import Channel, Sent
from keysentry.notify.eventbridge import EventBridgeChannel
from keysentry.notify.health_event import ExposureFacts, health_event_detail
from keysentry.notify.outbox import Dispatcher, enqueue

__all__ = [
    "Channel",
    "Dispatcher",
    "EventBridgeChannel",
    "ExposureFacts",
    "Sent",
    "enqueue",
    "health_event_detail",
]
