"""The composition root: builds the parts from settings, in one place, only when asked."""

from __future__ import annotations

from keysentry.authority.aws import AwsAuthority
from keysentry.authority.clients import AwsClients, Credentials
from keysentry.notify.eventbridge import EventBridgeChannel
from keysentry.respond.responder import Responder
from keysentry.respond.steps import StepContext
from keysentry.settings import Settings
from keysentry.store.db import Store, open_store


def build_store(settings: Settings) -> Store:
    return open_store(settings.resolved_database_url())


def build_responder(
    settings: Settings, store: Store | None = None, own_credentials: Credentials | None = None
) -> Responder:
    clients = AwsClients(settings, own_credentials)
    context = StepContext(
        settings=settings,
        authority=AwsAuthority(clients),
        channels={channel.name: channel for channel in (EventBridgeChannel(clients),)},
    )
    return Responder(store or build_store(settings), context)
