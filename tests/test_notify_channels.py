"""Every channel against a real receiver: email through a local SMTP server, webhooks (signed JSON,
Slack, PagerDuty) to a local HTTP receiver that checks signatures, SNS through the emulator to an HTTP
subscriber and to filtered SQS subscriptions, EventBridge through the Health automation rule to SQS, and
the case.  Each message says what the owner needs; none carries the secret; none is sent twice."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from conftest import EventSink, member_credentials
from helpers import commit_file, env_pair, exposure_of, respond
from keysentry.app.wiring import build_responder
from keysentry.authority.clients import AwsClients
from keysentry.clock import ManualClock
from keysentry.config.notify import EmailSettings, NotifySettings, WebhookTarget
from keysentry.config.settings import Settings
from keysentry.emulator.receivers import HttpReceiver, SmtpServer
from keysentry.emulator.seed import SeedManifest
from keysentry.notify.health_event import risk_event_pattern
from keysentry.notify.webhook import SIGNATURE_HEADER, sign
from keysentry.store.models import OutboxMessage

# aws-health-tools' published rule, vendored (public data; the original is in ../shared/data).
HEALTH_TOOLS_PATTERN = Path(__file__).parent / "data/eventbridge_pattern_risk_events.aws-health-tools.json"


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def webhooks(receiver: HttpReceiver) -> list[WebhookTarget]:
    return [
        WebhookTarget(
            name="soc", url=f"{receiver.url}/signed/soc", format="json", secret=receiver.secret.decode()
        ),
        WebhookTarget(name="slack", url=f"{receiver.url}/slack", format="slack"),
        WebhookTarget(
            name="pager", url=f"{receiver.url}/pagerduty", format="pagerduty", routing_key="R0UT1NG"
        ),
    ]


def sns_topic(admin: AwsClients, receiver: HttpReceiver, account: str) -> tuple[str, str, str]:
    """A topic with an HTTP subscriber and two SQS subscribers filtered on the account attribute."""
    sns, sqs = admin.client("sns"), admin.client("sqs")
    topic = sns.create_topic(Name=f"alerts-{time.monotonic_ns()}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"{receiver.url}/sns")
    queues = []
    for name, wanted in (("mine", account), ("other", "000000000000")):
        url = sqs.create_queue(QueueName=f"{name}-{time.monotonic_ns()}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"FilterPolicy": json.dumps({"account": [wanted]})},
        )
        queues.append(url)
    return topic, queues[0], queues[1]


def drain_queue(admin: AwsClients, url: str, attempts: int = 3) -> list[dict]:
    sqs, got = admin.client("sqs"), []
    for _ in range(attempts):
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        got += [json.loads(m["Body"]) for m in answer.get("Messages", [])]
        if got:
            break
    return got


def test_every_channel_tells_the_owner_what_happened_and_never_the_secret(
    settings: Settings,
    new_user,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
    http_receiver: HttpReceiver,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    user = new_user("workloads-prod")
    topic, mine, other = sns_topic(admin_clients, http_receiver, user.account_id)
    settings = settings.model_copy(
        update={
            "notify": NotifySettings(
                sns_topics=[topic],
                email=EmailSettings(enabled=True, smtp_port=smtp_server.port, sender="keysentry@example.org"),
                webhooks=webhooks(http_receiver),
            )
        }
    )
    repo = tmp_path / "service"
    commit = commit_file(
        repo,
        "deploy/prod.env",
        env_pair(user),
        "add prod config",
        author="Riley Rush",
        when="2026-11-20T08:00:00Z",
    )
    responder, _ = respond(settings, repo)
    e = exposure_of(responder, user.access_key_id)
    assert e.state == "notified"
    notification = None
    seen: list[str] = []

    # Email, to the member account's SECURITY alternate contact, text and HTML.
    [(to, mail)] = smtp_server.messages
    assert to == ["security+workloads-prod@example.com"]
    assert user.access_key_id in mail["Subject"] and user.account_id in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for part in (text, html):
        for fact in (
            user.access_key_id,
            user.arn,
            commit,
            "deploy/prod.env",
            "Riley Rush",
            "AWSCompromisedKeyQuarantineV3",
        ):
            assert fact in part, fact
        assert "2026-11-20" in part  # first seen in public: the commit's time
        assert f"/exposures/{e.id}" in part  # the link to the exposure
        assert "Create a second access key" in part  # the remediation checklist
    assert "Contained:" in text and "First seen in public:" in text and "Notified:" in text
    seen += [text, html, mail.as_string()]

    # The signed JSON webhook, Slack and PagerDuty.
    [soc] = http_receiver.at("/signed/soc")
    body = soc.json()
    notification = body["notificationId"]
    assert soc.headers["X-Keysentry-Delivery"] == notification
    assert body["exposure"]["key_id"] == user.access_key_id and body["exposure"]["source"]["commit"] == commit
    [slack] = http_receiver.at("/slack")
    assert user.access_key_id in slack.json()["text"]
    [pager] = http_receiver.at("/pagerduty")
    pd = pager.json()
    assert (pd["routing_key"], pd["event_action"], pd["dedup_key"]) == ("R0UT1NG", "trigger", notification)
    assert pd["payload"]["custom_details"]["key_id"] == user.access_key_id
    seen += [r.body.decode() for r in http_receiver.received]

    # SNS: to the HTTP subscriber, and only to the SQS subscription whose filter matches the account.
    [via_http] = [r.json() for r in http_receiver.at("/sns")]
    assert via_http["Type"] == "Notification" and user.access_key_id in via_http["Message"]
    [filtered] = drain_queue(admin_clients, mine)
    assert filtered["MessageAttributes"]["severity"]["Value"] == e.severity == "critical"
    assert filtered["MessageAttributes"]["key_type"]["Value"] == "aws_access_key"
    assert drain_queue(admin_clients, other, attempts=1) == []
    seen += [json.dumps(via_http), json.dumps(filtered)]

    # EventBridge, through the rule existing Health automation uses (with our source), into SQS.
    [event] = event_sink.events()
    assert event["detail"]["keysentry"]["notificationId"] == notification
    seen.append(json.dumps(event))

    # The case, kept with the exposure.
    with responder.store.session() as s:
        rows = {m.channel: m for m in s.query(OutboxMessage)}
    assert set(rows) == {
        "case",
        "eventbridge",
        f"sns:{topic.rsplit(':', 1)[1]}",
        "email",
        "webhook:soc",
        "webhook:slack",
        "webhook:pager",
    }
    assert all(m.state == "sent" and m.attempts == 1 for m in rows.values())
    assert user.access_key_id in rows["case"].payload["markdown"]
    seen += [json.dumps(m.payload) for m in rows.values()]

    for message in seen:
        assert user.secret_access_key not in message

    # Seen again elsewhere: still one message per channel.
    commit_file(repo, "copy.env", env_pair(user), "copy")
    respond(settings, repo)
    with responder.store.session() as s:
        assert Counter(m.channel for m in s.query(OutboxMessage)) == Counter({name: 1 for name in rows})


def test_the_rule_existing_automation_uses_is_the_one_we_ship() -> None:
    shipped = risk_event_pattern("keysentry")
    expected = json.loads(HEALTH_TOOLS_PATTERN.read_text())
    assert {**expected, "source": ["keysentry"]} == shipped


def test_a_tampered_or_stale_webhook_is_refused(http_receiver: HttpReceiver) -> None:
    body = json.dumps({"type": "exposure", "key_id": "AKIAEXAMPLE"}).encode()
    now = int(time.time())
    good = sign(http_receiver.secret, body, now)
    url = f"{http_receiver.url}/signed/x"
    assert httpx.post(url, content=body, headers={SIGNATURE_HEADER: good}).status_code == 200
    tampered = body.replace(b"AKIAEXAMPLE", b"AKIAOTHER00")
    assert httpx.post(url, content=tampered, headers={SIGNATURE_HEADER: good}).status_code == 401
    stale = sign(http_receiver.secret, body, now - 600)
    assert httpx.post(url, content=body, headers={SIGNATURE_HEADER: stale}).status_code == 401
    assert httpx.post(url, content=body).status_code == 401
    assert len(http_receiver.received) == 1


def test_a_receiver_that_is_down_for_30_s_gets_everything_once_it_is_back(
    settings: Settings, new_user, tmp_path: Path, clock: ManualClock
) -> None:
    receiver = HttpReceiver()  # not started: nothing listens on its port yet
    settings = settings.model_copy(
        update={
            "notify": NotifySettings(eventbridge=False, webhooks=webhooks(receiver)[:1]),
            "investigation_delays": [],
            "delivery_backoff": timedelta(seconds=1),
            "delivery_backoff_max": timedelta(seconds=4),
            "delivery_max_attempts": 50,
        }
    )
    users = [new_user("workloads-dev") for _ in range(4)]
    for n, user in enumerate(users):
        (tmp_path / f"leak{n}.env").write_text(env_pair(user))
    responder, _ = respond(settings, tmp_path)
    back_at = clock.utcnow() + timedelta(seconds=30)
    while clock.utcnow() < back_at:  # 30 s of dispatcher rounds, every 0.2 s of keysentry's clock
        clock.advance(0.2)
        responder.dispatcher.deliver_due()
    assert receiver.received == []
    receiver.start()
    try:
        for _ in range(150):  # 30 s more at most; the longest wait between tries is 4 s
            if not responder.dispatcher.waiting()[0]:
                break
            clock.advance(0.2)
            responder.dispatcher.deliver_due()
    finally:
        receiver.stop()
    delivered = Counter(r.headers["X-Keysentry-Delivery"] for r in receiver.at("/signed"))
    assert len(delivered) == len(users) and set(delivered.values()) == {1}
    for user in users:
        assert exposure_of(responder, user.access_key_id).state == "notified"
    with responder.store.session() as s:
        tries = [m.attempts for m in s.query(OutboxMessage).filter_by(channel="webhook:soc")]
    assert min(tries) > 3  # it really was retried while the receiver was down


def test_a_permanent_refusal_is_dead_lettered_at_once_with_an_alert(
    settings: Settings,
    new_user,
    http_receiver: HttpReceiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gone = WebhookTarget(name="gone", url=f"{http_receiver.url}/status/404", format="json")
    settings = settings.model_copy(
        update={"notify": NotifySettings(eventbridge=False, webhooks=[gone]), "investigation_delays": []}
    )
    user = new_user("workloads-dev")
    (tmp_path / "leak.env").write_text(env_pair(user))
    with caplog.at_level(logging.ERROR):
        responder, results = respond(settings, tmp_path)
    [failed] = [r for r in results if r.step == "notify"]
    assert failed.error and "404" in failed.error
    with responder.store.session() as s:
        [message] = s.query(OutboxMessage).filter_by(channel="webhook:gone").all()
        assert (message.state, message.attempts) == ("dead", 1)
    assert "notify.dead" in [t.kind for t in exposure_of(responder, user.access_key_id).timeline]
    assert any("ALERT" in r.getMessage() for r in caplog.records)
    assert build_responder(settings).advance_all() == []  # dead letters are not retried


def test_email_falls_back_to_the_configured_address(
    settings: Settings, new_user, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    email = EmailSettings(
        enabled=True, smtp_port=smtp_server.port, use_security_contact=False, fallback_to="secops@example.org"
    )
    settings = settings.model_copy(
        update={"notify": NotifySettings(eventbridge=False, email=email), "investigation_delays": []}
    )
    user = new_user("workloads-dev")
    (tmp_path / "leak.env").write_text(env_pair(user))
    respond(settings, tmp_path)
    [(to, mail)] = smtp_server.messages
    assert to == ["secops@example.org"] and user.access_key_id in mail["Subject"]


def test_by_default_the_event_goes_on_the_affected_accounts_own_bus(
    settings: Settings, new_user, admin_clients: AwsClients, tmp_path: Path
) -> None:
    """As AWS Health puts its RISK events: on the affected account's bus, through the member role, so
    the automation that account runs for Health events sees keysentry's too."""
    user = new_user("workloads-dev")
    member = member_credentials(admin_clients, user.account_id)
    events, sqs = (
        admin_clients.client("events", credentials=member),
        admin_clients.client("sqs", credentials=member),
    )
    bus = f"security-{time.monotonic_ns()}"
    events.create_event_bus(Name=bus)
    queue = sqs.create_queue(QueueName=bus)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=bus, EventBusName=bus, EventPattern=json.dumps(risk_event_pattern("keysentry")))
    events.put_targets(Rule=bus, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    settings = settings.model_copy(
        update={
            "event_bus_name": bus,  # exists only in the member account
            "notify": NotifySettings(),  # the default: eventbridge_account = "affected"
            "investigation_delays": [],
        }
    )
    (tmp_path / "leak.env").write_text(env_pair(user))
    responder, _ = respond(settings, tmp_path)
    assert exposure_of(responder, user.access_key_id).state == "notified"
    with responder.store.session() as s:
        [message] = s.query(OutboxMessage).filter_by(channel="eventbridge").all()
        assert message.state == "sent"
        assert message.receipt.endswith(f" on {bus} in {user.account_id}")
    got = []
    for _ in range(5):
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        got += [json.loads(m["Body"]) for m in answer.get("Messages", [])]
        if got:
            break
    [event] = got
    # The bus exists only in the member account, so the event was put there (the emulator's delivered
    # event has no top-level "account" to show it).
    assert event["detail"]["affectedEntities"][0]["entityValue"] == user.access_key_id


def test_email_can_go_through_ses(
    settings: Settings, new_user, admin_clients: AwsClients, tmp_path: Path
) -> None:
    ses = admin_clients.client("ses")
    ses.verify_email_identity(EmailAddress="keysentry@example.org")
    before = ses.get_send_quota()["SentLast24Hours"]
    email = EmailSettings(enabled=True, transport="ses", sender="keysentry@example.org")
    settings = settings.model_copy(
        update={"notify": NotifySettings(eventbridge=False, email=email), "investigation_delays": []}
    )
    user = new_user("workloads-dev")
    (tmp_path / "leak.env").write_text(env_pair(user))
    responder, _ = respond(settings, tmp_path)
    with responder.store.session() as s:
        [message] = s.query(OutboxMessage).filter_by(channel="email").all()
        assert message.state == "sent" and message.receipt
    assert ses.get_send_quota()["SentLast24Hours"] == before + 1


def test_on_the_central_bus_the_event_names_the_affected_account_for_automation(
    settings: Settings,
    new_user,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
    tmp_path: Path,
) -> None:
    """AWS Health puts a RISK event on the affected account's own bus, so aws-health-tools' automation
    reads the top-level ``account`` and acts in its own account.  On keysentry's central bus
    (``eventbridge_account = "central"``) ``account`` is the bus owner: a consumer there reads the
    affected account from the event's ``detail`` (and ``resources``), as the README and docs/events.md
    say, and acts in that account."""
    user = new_user("workloads-prod")
    settings = settings.model_copy(
        update={"investigation_delays": [], "notify": NotifySettings(eventbridge_account="central")}
    )
    (tmp_path / "leak.env").write_text(env_pair(user))
    respond(settings, tmp_path)
    [event] = event_sink.events()
    # EventBridge sets `account` to the bus owner (the emulator's delivery to SQS leaves it out).
    assert event.get("account", seeded.management_account) == seeded.management_account != user.account_id
    detail = event["detail"]
    assert detail["affectedAccount"] == detail["eventMetadata"]["accountId"] == user.account_id
    principal = f"arn:aws:iam::{user.account_id}:user/{user.user_name}"
    assert event["resources"] == [user.access_key_id, principal]

    # What a consumer reading `account` would do: look for the user in the bus owner's account.
    central_iam = admin_clients.client("iam")
    with pytest.raises(central_iam.exceptions.NoSuchEntityException):
        central_iam.list_access_keys(UserName=detail["eventMetadata"]["userName"])
    # The documented recipe: the affected account from the detail, the key from affectedEntities.
    account = detail["eventMetadata"]["accountId"]
    iam = admin_clients.client("iam", credentials=member_credentials(admin_clients, account))
    key = detail["affectedEntities"][0]["entityValue"]
    keys = iam.list_access_keys(UserName=detail["eventMetadata"]["userName"])["AccessKeyMetadata"]
    assert key in [k["AccessKeyId"] for k in keys]
    iam.update_access_key(UserName=detail["eventMetadata"]["userName"], AccessKeyId=key, Status="Inactive")
    [after] = [
        k
        for k in iam.list_access_keys(UserName=user.user_name)["AccessKeyMetadata"]
        if k["AccessKeyId"] == key
    ]
    assert after["Status"] == "Inactive"


def test_where_the_affected_account_has_no_such_bus_the_event_goes_on_the_central_one_and_says_so(
    settings: Settings, new_user, event_sink: EventSink, tmp_path: Path
) -> None:
    """The default puts the event in the affected account; that account has no bus of that name (only
    keysentry's own account has it): the event is not dropped or retried for ever, it goes on the
    central bus, and the delivery's receipt says where and why."""
    user = new_user("workloads-dev")
    settings = settings.model_copy(update={"investigation_delays": [], "notify": NotifySettings()})
    (tmp_path / "leak.env").write_text(env_pair(user))
    responder, _ = respond(settings, tmp_path)
    [event] = event_sink.events()
    assert event["detail"]["eventMetadata"]["accountId"] == user.account_id
    with responder.store.session() as s:
        [message] = s.query(OutboxMessage).filter_by(channel="eventbridge").all()
        assert message.state == "sent" and message.attempts == 1
        assert message.receipt.endswith(
            f" on central {event_sink.bus}, not in {user.account_id} (ResourceNotFoundException)"
        )


def test_the_former_setting_still_reads() -> None:
    assert NotifySettings.model_validate({"eventbridge_in_affected_account": False}).eventbridge_account == (
        "central"
    )
    assert NotifySettings.model_validate({"eventbridge_in_affected_account": True}).eventbridge_account == (
        "affected"
    )
    assert NotifySettings().eventbridge_account == "affected"
