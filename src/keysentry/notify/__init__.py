"""Telling the owner: the Health-compatible event, the channels, and the outbox's dispatcher.

Nothing is imported here: reading the event's shape must not load AWS's SDK."""
