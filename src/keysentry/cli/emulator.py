"""``keysentry emulator``: a local AWS (moto in server mode) for trying keysentry and for tests."""

from __future__ import annotations

import json
import signal
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from keysentry.cli.common import exits_cleanly, out, settings_from


class Seed(StrEnum):
    none = "none"
    demo = "demo"


def emulator(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 0,
    cloudtrail_port: Annotated[
        int,
        typer.Option(
            help="Port on 127.0.0.1 of the CloudTrail event history the emulator keeps beside it "
            "(LookupEvents); 0 picks a free one."
        ),
    ] = 0,
    seed: Annotated[
        Seed,
        typer.Option(
            help="'demo' creates an organization, users, keys, contacts, "
            "an SNS topic and an EventBridge bus → SQS."
        ),
    ] = Seed.none,
    manifest: Annotated[
        Path | None,
        typer.Option(
            help="Write what was seeded, with the emulator-only key pairs, to this JSON file (mode 0600)."
        ),
    ] = None,
    enforce_iam: Annotated[
        bool, typer.Option("--enforce-iam", help="Evaluate IAM policies on every call (after seeding).")
    ] = False,
    log: Annotated[Path | None, typer.Option(help="Append the emulator's own log here.")] = None,
) -> None:
    """Run a local AWS emulator until Ctrl-C, and print how to point keysentry at it.

    It is moto in server mode on 127.0.0.1 with AWS managed policies loaded
    (AWSCompromisedKeyQuarantineV3 among them).  Nothing leaves this machine.

    Examples:

      keysentry emulator                           # empty, on a free port

      keysentry emulator --port 5000 --cloudtrail-port 5001 --seed demo

      keysentry emulator --seed demo --enforce-iam # policies evaluated, like AWS
    """
    run_emulator(port, seed, manifest, enforce_iam, log, cloudtrail_port)


@exits_cleanly
def run_emulator(
    port: int,
    seed: Seed,
    manifest: Path | None,
    enforce_iam: bool,
    log: Path | None,
    cloudtrail_port: int = 0,
) -> None:
    from keysentry.authority.clients import AwsClients
    from keysentry.emulator.seed import seed_demo
    from keysentry.emulator.server import Emulator

    settings_from()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Emulator(port=port, log_path=log, exit_with_parent=False, cloudtrail_port=cloudtrail_port) as emu:
        out.print(f"AWS emulator listening on {emu.endpoint}")
        out.print(f"CloudTrail event history (LookupEvents) on {emu.service_endpoints.get('cloudtrail')}")
        if seed is Seed.demo:
            settings = settings_from(aws_endpoint_url=emu.endpoint)
            seeded = seed_demo(AwsClients(settings), emu.endpoint, settings.event_source)
            out.print(f"organization {seeded.organization_id}")
            for account_id, name in seeded.accounts.items():
                out.print(
                    f"  account {account_id} {name}  SECURITY contact {seeded.security_contacts[account_id]}"
                )
                for user in seeded.users:
                    if user.account_id == account_id:
                        out.print(f"    user {user.user_name}  access key {user.access_key_id}")
            out.print(
                f"  keysentry's own user: {seeded.responder.arn} (key {seeded.responder.access_key_id})"
            )
            out.print(
                f"  EventBridge bus {seeded.event_bus} → rule {seeded.event_rule} → SQS {seeded.queue_url}"
            )
            out.print(f"  SNS topic {seeded.topic_arn}")
            if manifest is not None:
                seeded.save(manifest)
                out.print(f"manifest with the emulator-only key pairs: {manifest}")
        if enforce_iam:
            emu.enforce_iam(True)
            out.print("IAM enforcement is on: use the responder's key pair from the manifest")
        out.print("\nPoint keysentry at it:")
        out.print(f"  export KEYSENTRY_AWS_ENDPOINT_URL={emu.endpoint}")
        out.print(f"  export KEYSENTRY_AWS_SERVICE_ENDPOINTS='{json.dumps(emu.service_endpoints)}'")
        if seed is Seed.demo:
            out.print("  export KEYSENTRY_EVENT_BUS_NAME=keysentry-security")
        out.print("Ctrl-C stops it.", highlight=False)
        out.file.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    out.print("emulator stopped")
