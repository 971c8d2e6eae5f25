"""Shared fixtures: one AWS emulator per session, the demo organization seeded into it, and a
database per test on SQLite and (whenever it is reachable) on the PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from keysentry.authority.clients import AwsClients, Credentials
from keysentry.clock import ManualClock, installed
from keysentry.config.settings import Settings
from keysentry.emulator.seed import ADMIN, SeededUser, SeedManifest, seed_demo
from keysentry.emulator.server import Emulator
from keysentry.notify.health_event import risk_event_pattern

POSTGRES_ADMIN_URL = os.environ.get(
    "KEYSENTRY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("KEYSENTRY_REQUIRE_POSTGRES") == "1"
# CI sets this (.ci/run): there a skipped test is a failed one, since a test that skips tests nothing.
REQUIRE_NO_SKIPS = os.environ.get("KEYSENTRY_REQUIRE_NO_SKIPS") == "1"
# The compiled automaton is kept for the test session (and its subprocesses), not in the user's home.
os.environ.setdefault("KEYSENTRY_CACHE_DIR", tempfile.mkdtemp(prefix="keysentry-test-cache-"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, and KEYSENTRY_REQUIRE_NO_SKIPS=1 forbids skips: {reason}"


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """keysentry's clock, moved by the test (``clock.advance(...)``) instead of waited for."""
    with installed(ManualClock()) as manual:
        assert isinstance(manual, ManualClock)
        yield manual


# --- AWS emulator -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    with Emulator(log_path=log) as emu:
        yield emu


@pytest.fixture(scope="session")
def seeded(emulator: Emulator) -> SeedManifest:
    settings = Settings(aws_endpoint_url=emulator.endpoint)
    return seed_demo(AwsClients(settings), emulator.endpoint, settings.event_source)


@pytest.fixture(scope="session")
def admin_clients(emulator: Emulator, seeded: SeedManifest) -> AwsClients:
    """Clients acting as the management account (enforcement is off on the shared emulator)."""
    return AwsClients(Settings(aws_endpoint_url=emulator.endpoint))


def member_credentials(clients: AwsClients, account_id: str) -> Credentials:
    answer = clients.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="tests"
    )["Credentials"]
    return Credentials(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"])


@pytest.fixture
def new_user(admin_clients: AwsClients, seeded: SeedManifest):
    """Factory: a fresh IAM user with one access key in the named account."""

    def make(account_name: str = "workloads-prod") -> SeededUser:
        if account_name == "management":  # whatever Organizations calls it
            account_id, account_name = seeded.management_account, seeded.accounts[seeded.management_account]
        else:
            account_id = next(a for a, n in seeded.accounts.items() if n == account_name)
        creds = (
            None if account_id == seeded.management_account else member_credentials(admin_clients, account_id)
        )
        iam = admin_clients.client("iam", credentials=creds)
        name = f"user-{uuid.uuid4().hex[:10]}"
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=ADMIN)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return SeededUser(account_id, account_name, name, arn, key["AccessKeyId"], key["SecretAccessKey"])

    return make


@dataclass
class EventSink:
    bus: str
    queue_url: str
    clients: AwsClients

    def events(self, expect: int = 1, attempts: int = 10) -> list[dict]:
        sqs = self.clients.client("sqs")
        got: list[dict] = []
        for _ in range(attempts):
            answer = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in answer.get("Messages", []):
                got.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if len(got) >= expect:
                break
        return got


@pytest.fixture
def event_sink(admin_clients: AwsClients) -> EventSink:
    """A bus of its own whose rule (the Health automation pattern, with our source) feeds a queue."""
    name = f"bus-{uuid.uuid4().hex[:10]}"
    events = admin_clients.client("events")
    sqs = admin_clients.client("sqs")
    events.create_event_bus(Name=name)
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventBusName=name, EventPattern=json.dumps(risk_event_pattern("keysentry")))
    events.put_targets(Rule=name, EventBusName=name, Targets=[{"Id": "q", "Arn": arn}])
    return EventSink(name, queue_url, admin_clients)


# --- databases ----------------------------------------------------------------------------------
def _postgres_reachable() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        return str(exc).splitlines()[0]
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'keysentry.db'}"
        return
    yield from _postgres_database()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database (for what SQLite cannot do: several processes writing)."""
    yield from _postgres_database()


def _postgres_database() -> Iterator[str]:
    problem = _postgres_reachable()
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (KEYSENTRY_REQUIRE_POSTGRES=1) but unreachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {problem}")
    name = f"keysentry_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture
def settings(
    tmp_path: Path, emulator: Emulator, seeded: SeedManifest, database_url: str, event_sink: EventSink
) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        aws_endpoint_url=emulator.endpoint,
        aws_service_endpoints=emulator.service_endpoints,
        event_bus_name=event_sink.bus,
        log_file=tmp_path / "keysentry.log",
        # No test reaches the real issuers: a token found without a stand-in configured meets a closed
        # local port (tests that revoke point these at keysentry.emulator.issuers).
        issuers={
            "github": {"api_url": NOWHERE},
            "slack": {"api_url": NOWHERE},
            "gitlab": {"url": NOWHERE},
        },
    )


@pytest.fixture(scope="session")
def signing_key():  # type: ignore[no-untyped-def]
    """A P-256 key pair standing in for GitHub's secret scanning key."""
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def partner_settings(settings: Settings, signing_key, tmp_path: Path) -> Settings:  # type: ignore[no-untyped-def]
    """Settings whose GitHub partner keys file holds ``signing_key``'s public half."""
    from helpers import meta_document

    keys = tmp_path / "github-keys.json"
    keys.write_text(json.dumps(meta_document(signing_key)))
    return settings.model_copy(update={"github_partner_keys_file": keys, "investigation_delays": []})


@pytest.fixture
def public_source():  # type: ignore[no-untyped-def]
    """A local HTTP server answering like GitHub's API, PyPI or the npm registry (tests/public_sources.py)."""
    from public_sources import PublicSource

    source = PublicSource()
    yield source
    source.close()
