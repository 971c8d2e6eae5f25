"""The optional live check: while the secret is in memory during the scan, ask STS (GetCallerIdentity
signed with the leaked pair) whether it still works.  Off by default, never for canary accounts."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

from conftest import EventSink, member_credentials
from helpers import KEYSENTRY, env_pair, exposure_of, key_for, secret_for
from keysentry.app.wiring import build_live_check, build_responder
from keysentry.authority.clients import AwsClients
from keysentry.config.settings import Settings
from keysentry.emulator.server import Emulator
from keysentry.scan.pipeline import ScanOptions, scan_targets

CANARY_ACCOUNT = "052310077262"  # canarytokens.org


def scan_live(settings: Settings, path: Path, jobs: int = 1):  # type: ignore[no-untyped-def]
    return scan_targets([str(path)], ScanOptions(live_check=build_live_check(settings), jobs=jobs))


def test_off_by_default_and_a_working_pair_is_live_when_asked(
    settings: Settings, new_user, tmp_path: Path
) -> None:
    user = new_user("workloads-prod")
    (tmp_path / "leak.env").write_text(env_pair(user))
    [plain] = scan_targets([str(tmp_path / "leak.env")]).findings
    assert plain.live is None  # not asked unless asked for
    [checked] = scan_live(settings, tmp_path / "leak.env").findings
    assert (checked.key_id, checked.live) == (user.access_key_id, "live")


def test_a_deleted_key_is_rejected_and_a_canary_is_never_asked(
    settings: Settings, new_user, admin_clients: AwsClients, emulator: Emulator, tmp_path: Path
) -> None:
    user = new_user("workloads-prod")
    rng = random.Random(7)
    canary_key = key_for(CANARY_ACCOUNT, rng)
    (tmp_path / "a.env").write_text(env_pair(user))
    (tmp_path / "b.env").write_text(
        f"AWS_ACCESS_KEY_ID={canary_key}\nAWS_SECRET_ACCESS_KEY={secret_for(rng)}\n"
    )
    member = admin_clients.client("iam", credentials=member_credentials(admin_clients, user.account_id))
    member.delete_access_key(UserName=user.user_name, AccessKeyId=user.access_key_id)
    emulator.enforce_iam(True)  # STS now refuses keys it does not know, as AWS does
    try:
        findings = {f.key_id: f for f in scan_live(settings, tmp_path).findings}
    finally:
        emulator.enforce_iam(False)
    assert findings[user.access_key_id].live == "rejected"
    assert findings[canary_key].canary and findings[canary_key].live is None


def test_no_answer_is_unknown_and_canaries_stay_unasked_even_then(settings: Settings, tmp_path: Path) -> None:
    rng = random.Random(11)
    ours, canary_key = key_for("123456789012", rng), key_for(CANARY_ACCOUNT, rng)
    (tmp_path / "a.env").write_text(f"AWS_ACCESS_KEY_ID={ours}\nAWS_SECRET_ACCESS_KEY={secret_for(rng)}\n")
    (tmp_path / "b.env").write_text(
        f"AWS_ACCESS_KEY_ID={canary_key}\nAWS_SECRET_ACCESS_KEY={secret_for(rng)}\n"
    )
    nowhere = settings.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9", "aws_max_attempts": 1})
    findings = {f.key_id: f.live for f in scan_live(nowhere, tmp_path, jobs=2).findings}
    assert findings == {ours: "unknown", canary_key: None}


def test_respond_records_it_and_the_event_carries_it_without_the_secret(
    settings: Settings, new_user, event_sink: EventSink, tmp_path: Path, emulator: Emulator
) -> None:
    user = new_user("workloads-dev")
    (tmp_path / "leak.env").write_text(env_pair(user))
    env = {
        "KEYSENTRY_AWS_ENDPOINT_URL": emulator.endpoint,
        "KEYSENTRY_AWS_SERVICE_ENDPOINTS": json.dumps(emulator.service_endpoints),
        "KEYSENTRY_EVENT_BUS_NAME": event_sink.bus,
        "KEYSENTRY_DATABASE_URL": settings.resolved_database_url(),
        "KEYSENTRY_LOG_FILE": str(tmp_path / "keysentry.log"),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [KEYSENTRY, "respond", "--check-live", str(tmp_path / "leak.env")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LIVE: AWS accepts it" in done.stdout
    e = exposure_of(build_responder(settings), user.access_key_id)
    assert (e.state, e.secret_live) == ("notified", "live")
    assert e.timeline[0].detail["live"] == "live"
    [event] = event_sink.events()
    assert event["detail"]["keysentry"]["secretLive"] == "live"
    everything = done.stdout + done.stderr + json.dumps(event) + (tmp_path / "keysentry.log").read_text()
    assert user.secret_access_key not in everything
