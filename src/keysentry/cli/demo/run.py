"""``keysentry demo``: one leak, end to end, on a local AWS emulator.

Starts the emulator, seeds an organization, switches IAM enforcement on (so
keysentry acts with its own emulator user and every policy is evaluated),
commits a real key pair to a small git repository next to AWS's documentation
example, scans it, responds, and proves with the leaked key that resource
creation is now denied while reads still work.  Stops everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from keysentry.app.logs import configure_logging
from keysentry.app.wiring import build_responder
from keysentry.authority.clients import AwsClients, Credentials
from keysentry.cli.demo.channels import Receivers, receivers, show_messages
from keysentry.cli.demo.service import show_service
from keysentry.cli.render import print_exposure, print_report, print_steps
from keysentry.config.issuers import IssuerSettings
from keysentry.config.settings import Settings
from keysentry.detect.validators import base62_crc32
from keysentry.emulator.attacker import prove_quarantine
from keysentry.emulator.issuers import IssuerStandIn
from keysentry.emulator.seed import SeededUser, SeedManifest, seed_demo
from keysentry.emulator.server import Emulator
from keysentry.respond.policies import quarantine_policy
from keysentry.respond.responder import Responder
from keysentry.scan.pipeline import scan_targets
from keysentry.store.exposures import list_exposures
from keysentry.store.models import OutboxMessage

DOC_EXAMPLE_ID = "AKIAIOSFODNN7EXAMPLE"
DOC_EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AUTHOR = ("Dana Developer", "dana@example.com")
LEAKED = ("workloads-prod", "deploy-bot")
SERVICE_LEAK = ("workloads-prod", "data-pipeline")  # reported to the service in the last act


def build_leaky_repo(root: Path, leaked: SeededUser) -> str:
    """A repository whose latest commit leaks ``leaked``'s key pair; returns that commit's SHA."""
    root.mkdir(parents=True)
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME=AUTHOR[0],
        GIT_AUTHOR_EMAIL=AUTHOR[1],
        GIT_COMMITTER_NAME=AUTHOR[0],
        GIT_COMMITTER_EMAIL=AUTHOR[1],
    )

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], env=env, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    git("init", "-q", "-b", "main")
    git("config", "commit.gpgsign", "false")
    (root / "README.md").write_text("# payments-service\n\nSettles card payments.\n")
    git("add", "-A")
    git("commit", "-q", "-m", "Initial import")
    (root / "config").mkdir()
    (root / "config" / "deploy.env").write_text(
        "# deploy settings for the prod pipeline\nAWS_REGION=us-east-1\n"
        f"AWS_ACCESS_KEY_ID={leaked.access_key_id}\nAWS_SECRET_ACCESS_KEY={leaked.secret_access_key}\n"
    )
    (root / "docs").mkdir()
    (root / "docs" / "setup.md").write_text(
        "## Credentials\n\nPut yours in ~/.aws/credentials, for example:\n\n```\n[default]\n"
        f"aws_access_key_id = {DOC_EXAMPLE_ID}\naws_secret_access_key = {DOC_EXAMPLE_SECRET}\n```\n"
    )
    git("add", "-A")
    git("commit", "-q", "-m", "Add deploy settings and setup docs")
    return git("rev-parse", "HEAD")


def received_events(clients: AwsClients, queue_url: str) -> list[dict[str, Any]]:
    sqs = clients.client("sqs")
    events: list[dict[str, Any]] = []
    for _ in range(3):
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            events.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if events:
            break
    return events


def run_demo(console: Console, keep: Path | None = None) -> bool:
    """Run the whole story; True when every proof holds."""
    started = time.monotonic()
    workdir = keep or Path(tempfile.mkdtemp(prefix="keysentry-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with Emulator(log_path=workdir / "emulator.log") as emulator, contextlib.ExitStack() as stack:
            return _story(console, workdir, emulator, started, keep is not None, stack)
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _what_it_did(
    console: Console,
    settings: Settings,
    ours: Credentials,
    clients: AwsClients,
    seed: SeedManifest,
    leaked: SeededUser,
    responder: Responder,
    got: Receivers,
    repo: Path,
) -> dict[str, bool]:
    """Chapters 7 to 11: what the response did, read back from AWS and the receivers; each check."""
    policy = quarantine_policy()
    member_iam = AwsClients(settings, ours).client(
        "iam", credentials=responder.context.authority.credentials_for(leaked.account_id)
    )
    attached = [
        p["PolicyName"]
        for p in member_iam.list_attached_user_policies(UserName=leaked.user_name)["AttachedPolicies"]
    ]
    console.print(
        f"[bold]7. Policy[/]    attached to {leaked.user_name}, read back from IAM: {', '.join(attached)}"
    )
    contained = attached.count(policy.aws_managed_name) == 1

    proofs = prove_quarantine(clients, leaked)
    console.print("[bold]8. Proof[/]     calls signed with the leaked key, IAM enforcement on:")
    for p in proofs:
        mark = "[green]✓[/]" if p.holds else "[red]✗[/]"
        console.print(f"              {mark} {p.action:<22} {p.observed:<8} (expected {p.expected})")

    events = received_events(clients, seed.queue_url)
    console.print(
        f"[bold]9. Event[/]     EventBridge rule {seed.event_rule} delivered {len(events)} event(s) to SQS"
    )
    announced = False
    for event in events:
        d = event["detail"]
        meta = d["eventMetadata"]
        console.print(
            f"              source {event['source']}, detail-type {event['detail-type']}, "
            f"{d['eventTypeCode']}, key {d['affectedEntities'][0]['entityValue']}, "
            f"account {meta['accountId']}, user {meta['userName']}"
        )
        announced = announced or d["affectedEntities"][0]["entityValue"] == leaked.access_key_id

    console.print("[bold]10. Messages[/] what each channel's receiver got (secret searched for: absent)")
    messages_ok = show_messages(console, got, responder.store, leaked.access_key_id, leaked.secret_access_key)

    again = responder.advance_all(responder.record_report(scan_targets([str(repo)])))
    attached_after = [
        p["PolicyName"]
        for p in member_iam.list_attached_user_policies(UserName=leaked.user_name)["AttachedPolicies"]
    ]
    idempotent = not again and attached_after.count(policy.aws_managed_name) == 1
    with responder.store.session() as session:
        states = {e.key_id: e.state for e in list_exposures(session)}
    console.print(
        f"[bold]11. Again[/]    second scan and respond: {len(again)} step(s) run; quarantine attached "
        f"{attached_after.count(policy.aws_managed_name)} time(s)"
    )
    return {
        "the policy is attached once": contained,
        "the quarantine holds": all(p.holds for p in proofs),
        "the event arrived": announced,
        "every channel got its message, without the secret": messages_ok,
        "a second run changes nothing": idempotent,
        "the leaked key is notified": states.get(leaked.access_key_id) == "notified",
        "the documentation example is an example": states.get(DOC_EXAMPLE_ID) == "example",
    }


DEMO_GITHUB_TOKEN_BODY = "keysentryDemoToken0000000000000"[:30]  # a checksum is added: a valid shape


def _demo_github_token() -> str:
    """A token in GitHub's format (its CRC32 checksum included) that GitHub never issued."""
    return "ghp_" + DEMO_GITHUB_TOKEN_BODY + base62_crc32(DEMO_GITHUB_TOKEN_BODY)


def _beyond_aws(
    console: Console, settings: Settings, ours: Credentials, seed: SeedManifest, workdir: Path
) -> bool:
    """Chapter 13: a GitHub token revoked through GitHub's revocation API (a local stand-in), and an
    AWS key ID seen without its secret, attributed and announced as a suspected exposure."""
    stand_in = IssuerStandIn().start()
    try:
        token, lone = _demo_github_token(), seed.user("workloads-dev", "ci-runner")
        leak = workdir / "ci-logs"
        leak.mkdir()
        (leak / "build-1042.log").write_text(
            f"+ export GITHUB_TOKEN={token}\n+ aws s3 cp dist/ s3://releases/ (key {lone.access_key_id})\n"
        )
        issuers = IssuerSettings.model_validate(stand_in.settings())
        with_issuers = settings.model_copy(update={"issuers": issuers})
        responder = build_responder(with_issuers, own_credentials=ours)
        responder.advance_all(responder.record_report(scan_targets([str(leak)])))
        with responder.store.session() as session:
            found = list_exposures(session)
            github = next((e for e in found if e.credential_type == "github_token"), None)
            suspected = next((e for e in found if e.key_id == lone.access_key_id), None)
            github_says = (github.state, (github.containment or {}).get("applied")) if github else None
            suspected_says = (
                (suspected.state, suspected.account_name, suspected.principal_name) if suspected else None
            )
            codes = [
                m.payload["detail"]["eventTypeCode"]
                for m in session.query(OutboxMessage).filter_by(channel="eventbridge")
                if suspected is not None and m.exposure_id == suspected.id
            ]
        responder.store.dispose()
    finally:
        stand_in.stop()
    console.print(
        f"[bold]13. Beyond AWS[/] a CI log holds a GitHub token and {lone.user_name}'s key ID without its "
        "secret"
    )
    revoked = stand_in.times_revoked(token) == 1 and github_says == ("notified", True)
    console.print(
        f"              GitHub token {github.key_id if github else '?'}: POST /credentials/revoke to "
        f"{stand_in.url} ({stand_in.times_revoked(token)} time), state {github_says}"
    )
    announced = suspected_says == ("notified", "workloads-dev", lone.user_name) and codes == [
        "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED"
    ]
    console.print(
        f"              key ID {lone.access_key_id}: attributed to {suspected_says}, announced as "
        f"{', '.join(codes) or 'nothing'}; not contained (its secret was not seen)"
    )
    return revoked and announced


def _story(
    console: Console,
    workdir: Path,
    emulator: Emulator,
    started: float,
    keep: bool,
    stack: contextlib.ExitStack,
) -> bool:
    settings = Settings(
        data_dir=workdir,
        aws_endpoint_url=emulator.endpoint,
        aws_service_endpoints=emulator.service_endpoints,
        log_file=workdir / "keysentry.log",
        event_bus_name="keysentry-security",
        dashboard_url="http://127.0.0.1:8080",
    )
    configure_logging(settings.log_level, settings.log_file, settings.log_format)
    console.rule("[bold]keysentry demo: one leaked key, found, contained and announced")
    console.print(f"[bold]1. Emulator[/]  moto on {emulator.endpoint}, AWS managed policies loaded")

    seed: SeedManifest = seed_demo(AwsClients(settings), emulator.endpoint, settings.event_source)
    emulator.enforce_iam(True)
    ours = Credentials(seed.responder.access_key_id, seed.responder.secret_access_key)
    clients = AwsClients(settings, ours)
    names = ", ".join(f"{n} {a}" for a, n in seed.accounts.items())
    console.print(f"[bold]2. Seeded[/]    organization {seed.organization_id}: {names}")
    console.print(f"              IAM enforcement is ON; keysentry acts as {seed.responder.arn}")

    leaked = seed.user(*LEAKED)
    repo = workdir / "payments-service"
    commit = build_leaky_repo(repo, leaked)
    console.print(
        f"[bold]3. Leak[/]      {repo} commit {commit[:12]} by {AUTHOR[0]}: config/deploy.env holds "
        f"{leaked.user_name}'s key pair ({leaked.account_name}); docs/setup.md holds AWS's "
        "documentation example"
    )

    console.print("[bold]4. Scan[/]      keysentry scan payments-service/")
    report = scan_targets([str(repo)])
    print_report(console, report)

    got = stack.enter_context(receivers(clients, seed.topic_arn))
    settings = settings.model_copy(update={"notify": got.notify_settings()})
    console.print(
        f"[bold]5. Respond[/]   keysentry respond  (channels: the case, EventBridge, SNS, email to the "
        f"SECURITY contact over SMTP 127.0.0.1:{got.smtp.port}, webhooks to {got.http.url})"
    )
    responder = build_responder(settings, own_credentials=ours)
    ids = responder.record_report(report)
    results = responder.advance_all(ids)
    with responder.store.session() as session:
        keys = {e.id: e.key_id for e in list_exposures(session)}
    print_steps(console, results, keys)

    console.print("[bold]6. Exposure[/]  keysentry exposures show " + leaked.access_key_id)
    with responder.store.session() as session:
        for exposure in list_exposures(session):
            print_exposure(console, exposure)

    checks = _what_it_did(console, settings, ours, clients, seed, leaked, responder, got, repo)
    responder.store.dispose()

    console.print(
        "[bold]12. Service[/]  keysentry serve; GitHub's secret scanning reports "
        f"{SERVICE_LEAK[1]}'s key ({SERVICE_LEAK[0]}) to the partner endpoint"
    )
    served = show_service(
        console, settings, build_responder(settings, own_credentials=ours), seed.user(*SERVICE_LEAK)
    )

    others = _beyond_aws(console, settings, ours, seed, workdir)
    ok = served and others and all(checks.values())
    verdict = "[bold green]every check holds[/]" if ok else "[bold red]a check failed[/]"
    kept = f"; repository, database and logs kept in {workdir}" if keep else ""
    console.print(f"{verdict}; {time.monotonic() - started:.1f} s in all; emulator stopped{kept}")
    return ok
