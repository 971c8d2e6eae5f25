"""The composition root: builds the parts from settings, in one place, only when asked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keysentry.authority.aws import AwsAuthority
from keysentry.authority.clients import AwsClients, Credentials
from keysentry.authority.issuers import IssuerClients
from keysentry.authority.liveness import LiveCheckFactory
from keysentry.authority.ports import EventBus, Mail, Support, Topics, Trails
from keysentry.config.settings import Settings
from keysentry.faults import crash_point
from keysentry.intake.partner_keys import PartnerKeys
from keysentry.notify.case import CaseChannel
from keysentry.notify.channel import Channel
from keysentry.notify.email import EmailChannel
from keysentry.notify.eventbridge import EventBridgeChannel
from keysentry.notify.outbox import Dispatcher
from keysentry.notify.sns import SnsChannel
from keysentry.notify.webhook import WebhookChannel
from keysentry.respond.announcement import mark_notified
from keysentry.respond.responder import Responder
from keysentry.respond.steps import StepContext
from keysentry.respond.worker import ResponseWorker
from keysentry.store.cursors import Cursors
from keysentry.store.db import Store, open_store
from keysentry.watch.base import Watcher, WatchPoll
from keysentry.watch.build import build_watchers
from keysentry.watch.runner import WatchRunner

if TYPE_CHECKING:
    from keysentry.app.executor import QueuedResponse


def build_store(settings: Settings) -> Store:
    return open_store(settings.resolved_database_url())


def build_channels(settings: Settings, authority: AwsAuthority) -> dict[str, Channel]:
    """Every channel the ``[notify]`` settings ask for, by name (the outbox's ``channel``)."""
    notify = settings.notify
    channels: list[Channel] = []
    if notify.case:
        channels.append(CaseChannel(Support(authority), notify.aws_support_case))
    if notify.eventbridge:
        channels.append(EventBridgeChannel(EventBus(authority), notify.eventbridge_account == "affected"))
    channels.extend(SnsChannel(Topics(authority), topic) for topic in notify.sns_topics)
    if notify.email.enabled:
        channels.append(EmailChannel(Mail(authority), notify.email))
    channels.extend(WebhookChannel(target) for target in notify.webhooks)
    return {channel.name: channel for channel in channels}


def build_responder(
    settings: Settings, store: Store | None = None, own_credentials: Credentials | None = None
) -> Responder:
    authority = AwsAuthority(AwsClients(settings, own_credentials))
    context = StepContext(
        settings=settings,
        authority=authority,
        trails=Trails(authority),
        channels=build_channels(settings, authority),
        issuers=IssuerClients.from_settings(settings.issuers),
    )
    store = store or build_store(settings)
    dispatcher = Dispatcher(
        store, context.channels, settings, on_delivered=mark_notified, crash_point=crash_point
    )
    return Responder(store, context, dispatcher)


def build_live_check(settings: Settings) -> LiveCheckFactory:
    """The scan's live check (``check_live``): where to ask AWS whether a key pair still works."""
    return LiveCheckFactory(settings)


@dataclass(frozen=True)
class ServiceParts:
    """What ``keysentry serve`` runs beside its routes."""

    responder: Responder
    # The response and the outbox's dispatcher: in threads (inline), or enqueued for Celery workers.
    worker: ResponseWorker | QueuedResponse
    watchers: WatchRunner  # the watchers enabled in [watch]
    partner_keys: PartnerKeys  # GitHub's keys for the partner endpoint's signatures


def recording(responder: Responder) -> Callable[[Watcher, WatchPoll], None]:
    """A watcher's sink: what it found is recorded (committed) before its cursor moves on, and what was
    recorded is handed to the response (``Responder.on_recorded``)."""

    def record_found(_watcher: Watcher, poll: WatchPoll) -> None:
        if poll.report is not None:
            responder.record_report(poll.report)

    return record_found


def build_service(settings: Settings, responder: Responder | None = None) -> ServiceParts:
    responder = responder or build_responder(settings)
    watchers = build_watchers(settings)
    worker: ResponseWorker | QueuedResponse
    if settings.executor.kind == "celery":
        from keysentry.app.executor import QueuedResponse  # Celery loads only where it is asked for

        # The polls go on the watch queue, enqueued by the scheduler: none runs in this process.
        worker = QueuedResponse(responder, settings, watched=[w.name for w in watchers])
        watchers = []
    else:
        worker = ResponseWorker(responder, threads=settings.response_threads)
    return ServiceParts(
        responder=responder,
        worker=worker,
        watchers=WatchRunner(watchers, Cursors(responder.store), recording(responder)),
        partner_keys=PartnerKeys(settings.github_partner_keys_file, settings.github_partner_keys_url),
    )
