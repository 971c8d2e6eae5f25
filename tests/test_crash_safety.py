"""Kill the responder with SIGKILL at every step boundary, and between each call to AWS and its record;
restart it; the exposure completes with each side effect done once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import EventSink, member_credentials
from helpers import KEYSENTRY, env_pair
from keysentry.authority.clients import AwsClients
from keysentry.emulator.seed import SeedManifest
from keysentry.store import open_store
from keysentry.store.models import Exposure, TimelineEvent

V3 = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"
POINTS = [
    f"{step}.{when}"
    for step in ("attribute", "contain", "deliver", "investigate")
    for when in ("before_call", "after_call", "after_record")
]


@pytest.mark.parametrize("point", POINTS)
def test_a_kill_at_any_point_is_resumed_and_nothing_happens_twice(
    point: str,
    tmp_path: Path,
    emulator,
    seeded: SeedManifest,
    new_user,
    admin_clients: AwsClients,
    event_sink: EventSink,
) -> None:
    user = new_user("workloads-dev")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "leak.env").write_text(env_pair(user))
    db = f"sqlite:///{tmp_path / 'k.db'}"
    env = dict(
        os.environ,
        KEYSENTRY_AWS_ENDPOINT_URL=emulator.endpoint,
        KEYSENTRY_AWS_SERVICE_ENDPOINTS=json.dumps(emulator.service_endpoints),
        KEYSENTRY_EVENT_BUS_NAME=event_sink.bus,
        KEYSENTRY_DATABASE_URL=db,
        # A message claimed by a dispatcher that died is sent again once its lease ends: at once here.
        KEYSENTRY_DELIVERY_LEASE="0s",
    )

    crashed = subprocess.run(
        [KEYSENTRY, "respond", str(tmp_path / "src")],
        env={**env, "KEYSENTRY_CRASH_AT": point},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    resumed = subprocess.run(
        [KEYSENTRY, "respond"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    store = open_store(db)
    with store.session() as s:
        [e] = s.query(Exposure).all()
        kinds = [t.kind for t in s.query(TimelineEvent).order_by(TimelineEvent.id)]
        assert e.state == "notified", kinds
    store.dispose()
    for step in ("attribute", "contain"):
        assert kinds.count(f"{step}.succeeded") == 1, kinds
    # Two channels by default: the case (kept in keysentry) and the event on EventBridge.
    sent = (kinds.count("notify.queued"), kinds.count("notify.sent"), kinds.count("notified"))
    assert sent == (1, 2, 1), kinds
    iam = admin_clients.client("iam", credentials=member_credentials(admin_clients, user.account_id))
    attached = [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user.user_name)["AttachedPolicies"]
    ]
    assert attached.count(V3) == 1

    events = event_sink.events(expect=2, attempts=3)
    assert len({ev["detail"]["keysentry"]["notificationId"] for ev in events}) == 1
    # EventBridge has no idempotency key: only a kill between PutEvents and its record sends it twice,
    # with the same notificationId for consumers to drop (documented in docs/architecture.md).
    assert len(events) == (2 if point == "deliver.after_call" else 1)
