#!/usr/bin/env python3
"""Containment latency and throughput: 1,000 exposures of seeded keys in three accounts, against the
local emulator, from one process.

The exposures are responded to as ``keysentry serve`` does it: each report is committed (intake, by a
few threads at once, as the service's HTTP server accepts reports) and handed to the service's
response worker; its scheduling thread hands pending exposures to a pool of responder threads, and the
outbox's dispatcher runs beside them.

For each exposure: the time from the report being accepted (the exposure's row committed, its
``detected_at``) to the quarantine policy being attached (``contained_at``, recorded right after
iam:AttachUserPolicy returned), and to its announcement being delivered (``notified_at``: the
outbox's dispatcher, running beside the responders, sent the event to EventBridge).  Reports arrive
open-loop at each given rate (0: all at once, a burst), so queueing counts.  Prints p50/p95/p99/max,
throughput (reports accepted per second, and exposures contained per second), the CPU we and the
emulator spent per exposure, and checks that no exposure was lost or
contained twice (one ``contain.succeeded`` each, the policy attached once per user, read back from IAM).

    python bench/respond_latency.py [--exposures 1000] [--workers 8] [--rates 0,50,100] [--intake-threads 4]

Each round also times a fixed pure-Python workload ("machine ms") and reads /proc/stat: the share of
the machine's time the hypervisor gave to others ("steal %") and the CPU other processes here used
("others %"): on a shared machine the speed varies from minute to minute, and these say how it was.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from keysentry.app.wiring import build_responder
from keysentry.authority.clients import AwsClients, Credentials
from keysentry.config.settings import Settings
from keysentry.content import Provenance
from keysentry.detect.aws_keys import decode_account, fingerprint
from keysentry.detect.findings import Finding, Location
from keysentry.emulator.seed import ADMIN, seed_demo
from keysentry.emulator.server import Emulator
from keysentry.respond.worker import ResponseWorker
from keysentry.store.models import Exposure, TimelineEvent

V3 = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"
# Events go to a bus of their own with no rules: delivering them onwards (the demo bus's rule into SQS)
# is EventBridge's work, not ours, and moto's SQS grows slower with every message left in the queue.
BENCH_BUS = "keysentry-bench"


def make_users(admin: AwsClients, seed, total: int, prefix: str = "svc") -> list[tuple[str, str, str, str]]:
    """(account, user, key ID, secret) spread over the three seeded accounts; users ``<prefix>-00001``…"""
    sts = admin.client("sts")
    clients = {}
    for account in seed.accounts:
        creds = None
        if account != seed.management_account:
            c = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="bench"
            )["Credentials"]
            creds = Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        clients[account] = admin.client("iam", credentials=creds)
    accounts = list(seed.accounts)
    users = []
    for n in range(total):
        account = accounts[n % len(accounts)]
        iam = clients[account]
        name = f"{prefix}-{n:05d}"
        iam.create_user(UserName=name)
        iam.attach_user_policy(UserName=name, PolicyArn=ADMIN)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        users.append((account, name, key["AccessKeyId"], key["SecretAccessKey"]))
    return users


def finding(kid: str, secret: str, n: int) -> Finding:
    location = Location(
        Provenance("report", path=f"report-{n}", url=f"https://example.invalid/leak/{n}"), 1, 1
    )
    return Finding(
        rule_id="aws-access-key",
        credential_type="aws_access_key",
        key_id=kid,
        secret_fingerprint=fingerprint(secret),
        account_id=decode_account(kid),
        locations=[location],
    )


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(
    emulator: Emulator, seed, users, workers: int, rate: float, workdir: Path, intake_threads: int = 4
) -> dict[str, object]:
    """Reports arrive at ``rate`` per second (open loop; 0 = all at once) and are accepted by
    ``intake_threads`` threads, as the service's HTTP server accepts them; ``workers`` threads respond."""
    settings = Settings(
        data_dir=workdir,
        database_url=f"sqlite:///{tempfile.mkdtemp(dir=workdir)}/bench.db",  # a store of its own each round
        aws_endpoint_url=emulator.endpoint,
        aws_service_endpoints=emulator.service_endpoints,
        event_bus_name=BENCH_BUS,
        investigation_delays=[],
    )
    responder = build_responder(settings)
    authority = responder.context.authority
    for account in authority.organization_accounts():  # what a running service has warm already
        authority.credentials_for(account)
    findings = [finding(kid, sec, n) for n, (_, _, kid, sec) in enumerate(users)]
    machine = calibrate()
    system_before = system_cpu()
    cpu_before, emulator_before = time.process_time(), process_cpu(emulator.pid)
    # The service's response worker: a scheduling thread, ``workers`` responder threads, and the outbox's
    # dispatcher (woken by each containment, it sends the announcements ten to a PutEvents call).  What
    # is recorded is handed to it as it is committed.
    worker = ResponseWorker(responder, threads=workers)
    worker.start()

    def accept(one: Finding) -> None:
        responder.record([one])  # accepted: the report is committed, and handed to the worker

    started = time.perf_counter()
    with ThreadPoolExecutor(intake_threads, thread_name_prefix="intake") as intake:
        for n, one in enumerate(findings):
            if rate:
                delay = started + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            intake.submit(accept, one)
    accepted_wall = time.perf_counter() - started
    contained_wall = wait_until(responder, "contained_at", len(findings), started)
    wall = wait_until(responder, "notified_at", len(findings), started)
    worker.stop()
    our_cpu, emulator_cpu = time.process_time() - cpu_before, process_cpu(emulator.pid) - emulator_before
    with responder.store.session() as s:
        rows = s.query(Exposure).all()
        latencies = [(e.contained_at - e.detected_at).total_seconds() for e in rows if e.contained_at]
        told = [(e.notified_at - e.detected_at).total_seconds() for e in rows if e.notified_at]
        contained = Counter(t.exposure_id for t in s.query(TimelineEvent).filter_by(kind="contain.succeeded"))
        failures = s.query(TimelineEvent).filter(TimelineEvent.kind.like("%.failed")).count()
        states = Counter(e.state for e in rows)
    responder.store.dispose()
    return {
        "workers": workers,
        "rate": rate,
        "exposures": len(rows),
        "wall": contained_wall,
        "per_s": len(rows) / contained_wall,
        "accepted_per_s": len(rows) / accepted_wall,
        "notified_per_s": len(told) / wall,
        "notified_p50": pct(told, 50),
        "notified_p99": pct(told, 99),
        "p50": pct(latencies, 50),
        "p95": pct(latencies, 95),
        "p99": pct(latencies, 99),
        "max": max(latencies),
        "mean": statistics.mean(latencies),
        "states": dict(states),
        "contained_twice": sum(1 for n in contained.values() if n > 1),
        "errors": failures,
        "machine_ms": machine,
        **machine_share(system_before, system_cpu(), our_cpu + emulator_cpu),
        "cpu_ms": 1000 * our_cpu / len(rows),
        "emulator_cpu_ms": 1000 * emulator_cpu / len(rows),
    }


def wait_until(responder, column: str, total: int, started: float, limit: float = 600.0) -> float:
    """Seconds from ``started`` until ``total`` exposures have ``column`` set (or ``limit`` passes)."""
    from sqlalchemy import func, select

    field = getattr(Exposure, column)
    while time.perf_counter() - started < limit:
        with responder.store.read() as db:  # a reader: it does not hold up the writers
            done = db.execute(select(func.count()).where(field.is_not(None))).scalar_one()
        if done >= total:
            break
        time.sleep(0.02)
    return time.perf_counter() - started


def system_cpu() -> tuple[float, float, float]:
    """(busy, steal, total) seconds of every CPU so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    busy = user + nice + system + irq + softirq
    return busy / tick, steal / tick, (busy + idle + iowait + steal) / tick


def machine_share(before: tuple[float, float, float], after: tuple[float, float, float], ours: float) -> dict:
    """Steal and other processes' CPU during the round, as percentages of the machine's time."""
    busy, steal, total = (a - b for a, b in zip(after, before, strict=True))
    return {"steal_pct": 100 * steal / total, "others_pct": 100 * max(0.0, busy - ours) / total}


def calibrate() -> float:
    """Milliseconds a fixed pure-Python workload takes now: the machine's speed during the round."""
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        sum(i * i for i in range(200_000))
        best = min(best, time.perf_counter() - t)
    return 1000 * best


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def emulator_ceiling(admin: AwsClients, users, calls: int = 300) -> float:
    """How many IAM calls per second the emulator itself answers (8 threads): the ceiling under us."""
    iam = admin.client("iam")
    key = users[0][2]
    with ThreadPoolExecutor(max_workers=8) as pool:
        started = time.perf_counter()
        list(pool.map(lambda _: iam.get_access_key_last_used(AccessKeyId=key), range(calls)))
    return calls / (time.perf_counter() - started)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exposures", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--rates", default="0,50,100", help="arrivals per second; 0 = all at once")
    ap.add_argument(
        "--intake-threads", type=int, default=4, help="threads accepting reports (the HTTP server's)"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Emulator(log_path=Path(tmp) / "emulator.log") as emulator:
        admin = AwsClients(Settings(aws_endpoint_url=emulator.endpoint))
        seed = seed_demo(admin, emulator.endpoint)
        admin.client("events").create_event_bus(Name=BENCH_BUS)
        t = time.perf_counter()
        users = make_users(admin, seed, args.exposures)
        print(
            f"seeded {len(users)} users with keys in {len(seed.accounts)} accounts in "
            f"{time.perf_counter() - t:.0f} s"
        )
        ceiling = emulator_ceiling(admin, users)
        print(f"the emulator answers about {ceiling:.0f} IAM calls/s with 8 client threads")
        rows = []
        for rate in (float(r) for r in args.rates.split(",")):
            rows.append(run(emulator, seed, users, args.workers, rate, Path(tmp), args.intake_threads))
            # Read back from IAM: each user carries the policy exactly once; then detach it, so that the
            # next round starts from unquarantined users.
            check_and_detach(admin, seed, users)
        print("contained: report accepted -> quarantine attached; notified: -> the event delivered (outbox)")
        header = (
            "arrivals/s",
            "workers",
            "exposures",
            "wall s",
            "accepted/s",
            "contained/s",
            "p50 s",
            "p95 s",
            "p99 s",
            "max s",
            "notified/s",
            "notif p50",
            "notif p99",
        )
        print(
            "  ".join(f"{h:>9}" for h in header)
            + "  lost/twice/errors  CPU ms/exposure: ours, emulator's  machine ms  steal %  others %"
        )
        for r in rows:
            lost = args.exposures - r["states"].get("notified", 0)  # type: ignore[union-attr]
            arrivals = f"{r['rate']:.0f}" if r["rate"] else "burst"
            cells = (
                arrivals,
                r["workers"],
                r["exposures"],
                f"{r['wall']:.2f}",
                f"{r['accepted_per_s']:.0f}",
                f"{r['per_s']:.0f}",
                f"{r['p50']:.3f}",
                f"{r['p95']:.3f}",
                f"{r['p99']:.3f}",
                f"{r['max']:.3f}",
                f"{r['notified_per_s']:.0f}",
                f"{r['notified_p50']:.3f}",
                f"{r['notified_p99']:.3f}",
            )
            print(
                "  ".join(f"{c:>9}" for c in cells)
                + f"  {lost}/{r['contained_twice']}/{r['errors']}"
                + f"  {r['cpu_ms']:.1f}, {r['emulator_cpu_ms']:.1f}"
                + f"  {r['machine_ms']:.1f}  {r['steal_pct']:.1f}  {r['others_pct']:.1f}"
            )
        print("after every round each user carried the quarantine policy exactly once (read back from IAM)")
    return 0


def member_iam(admin: AwsClients, seed, account: str):
    if account == seed.management_account:
        return admin.client("iam")
    c = admin.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="bench"
    )["Credentials"]
    return admin.client(
        "iam", credentials=Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    )


def check_and_detach(admin: AwsClients, seed, users) -> None:
    clients = {a: member_iam(admin, seed, a) for a in seed.accounts}
    for account, name, _, _ in users:
        attached = [
            p["PolicyArn"]
            for p in clients[account].list_attached_user_policies(UserName=name)["AttachedPolicies"]
        ]
        if attached.count(V3) != 1:
            sys.exit(f"{name}: quarantine attached {attached.count(V3)} times")
        clients[account].detach_user_policy(UserName=name, PolicyArn=V3)


if __name__ == "__main__":
    sys.exit(main())
