"""Telling the owner: Health-compatible events on EventBridge (more channels come with the outbox)."""

from keysentry.notify.eventbridge import EventBridgePublisher
from keysentry.notify.health_event import ExposureFacts, health_event_detail

__all__ = ["EventBridgePublisher", "ExposureFacts", "health_event_detail"]
