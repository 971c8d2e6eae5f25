"""Scale-out against the real parts: `keysentry serve --executor celery` replicas and `keysentry worker`
processes (real Celery workers, started as a user starts them) on one PostgreSQL, with a Redis broker
of the test's own; AWS is the emulator.  Each side effect happens once, through kills and a broker
outage."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from conftest import REQUIRE_NO_SKIPS, EventSink, member_credentials
from helpers import KEYSENTRY, commit_file, env_pair, git, wait_for
from keysentry.authority.clients import AwsClients
from keysentry.emulator.receivers import free_port
from keysentry.emulator.seed import ADMIN, SeededUser, SeedManifest
from keysentry.emulator.server import Emulator
from keysentry.store import open_store
from keysentry.store.tokens import create_token

V3 = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"
STEP_ORDER = [
    "attribute.started",
    "attribute.succeeded",
    "contain.started",
    "contain.succeeded",
    "notify.queued",
    "notified",
]


# --- the broker ---------------------------------------------------------------------------------
@dataclass
class Broker:
    """A redis-server of the test's own (nothing kept on disk), so that it can be stopped and started."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(self._answers, timeout=20), "redis-server did not start"

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (.ci/run installs Debian's redis-server)"
        if REQUIRE_NO_SKIPS:
            pytest.fail(message)
        pytest.skip(message)
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


# --- the processes ------------------------------------------------------------------------------
@dataclass
class Deployment:
    """Replicas and workers sharing one store and one broker."""

    folder: Path
    env: dict[str, str]
    stack: ExitStack
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def _start(self, name: str, argv: list[str], extra: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{name}.out", "wb")  # noqa: SIM115 - closed by the stack
        self.stack.callback(log.close)
        env = {**self.env, "KEYSENTRY_LOG_FILE": str(self.folder / f"{name}.log"), **extra}
        # A session (process group) of its own: a crash point can kill a worker with its pool's processes.
        process = subprocess.Popen(
            [KEYSENTRY, *argv], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if not self.processes:
            self.stack.callback(self._end_all)
        self.processes[name] = process
        return process

    def _end_all(self) -> None:
        """SIGTERM to every process at once (each finishes what it has in hand), then wait for them."""
        running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):  # what is left of its group (a pool's processes)
                os.killpg(process.pid, signal.SIGKILL)

    def replica(self, name: str, executor: str = "celery", **extra: str) -> str:
        port = free_port()
        self._start(name, ["serve", "--port", str(port), "--executor", executor], extra)
        base = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _healthy(base), timeout=60), self.output(name)
        self.ports[name] = port
        return base

    def died_of_sigkill(self, name: str) -> bool:
        return self.processes[name].poll() == -signal.SIGKILL

    def worker(self, name: str, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        # Two processes each: on the test machine's two CPUs, more only cost start-up (the emulator is
        # what bounds the rate).
        process = self._start(name, ["worker", "--concurrency", "2", *args], extra)
        assert wait_for(lambda: b"ready." in (self.folder / f"{name}.out").read_bytes(), timeout=60), (
            self.output(name)
        )
        return process

    def output(self, name: str) -> str:
        return (self.folder / f"{name}.out").read_text(errors="replace")

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.kill()
        process.wait(10)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def deployment(
    tmp_path: Path, postgres_url: str, broker: Broker, emulator: Emulator, event_sink: EventSink
) -> Iterator[Deployment]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")}
    env.update(
        KEYSENTRY_CACHE_DIR=os.environ["KEYSENTRY_CACHE_DIR"],
        KEYSENTRY_DATABASE_URL=postgres_url,
        KEYSENTRY_AWS_ENDPOINT_URL=emulator.endpoint,
        KEYSENTRY_AWS_SERVICE_ENDPOINTS=json.dumps(emulator.service_endpoints),
        KEYSENTRY_EVENT_BUS_NAME=event_sink.bus,
        KEYSENTRY_INVESTIGATION_DELAYS="[]",
        KEYSENTRY_DATA_DIR=str(tmp_path),
        # Short leases, so that what a killed process held is taken over within the test.
        KEYSENTRY_CLAIM_LEASE="4s",
        KEYSENTRY_DELIVERY_LEASE="4s",
        KEYSENTRY_EXECUTOR=json.dumps(
            {"kind": "celery", "broker_url": broker.url, "requeue_after": "6s", "scheduler_lease": "4s"}
        ),
    )
    open_store(postgres_url).dispose()  # migrated once, before the replicas start
    with ExitStack() as stack:
        yield Deployment(tmp_path, env, stack)


# --- the keys -----------------------------------------------------------------------------------
def make_users(admin_clients: AwsClients, seeded: SeedManifest, count: int) -> list[SeededUser]:
    """``count`` IAM users with a key each, spread over the member accounts."""
    members = [a for a in seeded.accounts if a != seeded.management_account]
    clients = {
        a: admin_clients.client("iam", credentials=member_credentials(admin_clients, a)) for a in members
    }
    users = []
    for n in range(count):
        account = members[n % len(members)]
        iam = clients[account]
        name = f"scale-{uuid.uuid4().hex[:10]}"
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=ADMIN)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        users.append(
            SeededUser(
                account, seeded.accounts[account], name, arn, key["AccessKeyId"], key["SecretAccessKey"]
            )
        )
    return users


def report_all(bases: list[str], token: str, users: list[SeededUser], per_report: int = 25) -> None:
    """The keys as manual reports of ``per_report`` keys, sent to the replicas in turn."""
    for n, start in enumerate(range(0, len(users), per_report)):
        body = [
            {
                "key_id": u.access_key_id,
                "secret": u.secret_access_key,
                "url": f"https://paste.example/{u.user_name}",
                "path": "paste",
            }
            for u in users[start : start + per_report]
        ]
        answer = httpx.post(
            bases[n % len(bases)] + "/v1/reports",
            content=json.dumps(body),
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert answer.status_code == 202, answer.text


def states(url: str) -> Counter[str]:
    store = open_store(url, migrate=False)
    with store.read() as db:
        rows = db.exec_driver_sql("select state from exposures").all()
    store.dispose()
    return Counter(r[0] for r in rows)


def _claims(url: str, live: bool = False) -> int:
    """Exposures with a claim on them; ``live``: only claims whose lease has not run out (a killed
    process's claim stays written until it runs out, or until someone takes the exposure over)."""
    store = open_store(url, migrate=False)
    query = "select count(*) from exposures where claimed_by is not null"
    if live:
        query += " and claim_expires_at > now()"
    with store.read() as db:
        held = int(db.exec_driver_sql(query).scalar() or 0)
    store.dispose()
    return held


def unfinished(url: str) -> str:
    """What is left, for a failure's message: the states, and the timeline of a few exposures."""
    store = open_store(url, migrate=False)
    with store.read() as db:
        rows = db.exec_driver_sql(
            "select e.id, e.state, e.claimed_by, e.next_due_at, string_agg(t.kind, ' ' order by t.id) "
            "from exposures e join timeline_events t on t.exposure_id = e.id "
            "where e.state <> 'notified' group by e.id order by e.id limit 5"
        ).all()
    store.dispose()
    return f"{states(url)}; {rows}"


def all_notified(url: str, count: int) -> bool:
    return states(url) == Counter({"notified": count})


def check_each_side_effect_once(
    url: str,
    users: list[SeededUser],
    admin_clients: AwsClients,
    event_sink: EventSink,
    duplicates_ok: bool = False,
) -> None:
    """Every exposure notified with each step once, in order; one message per channel, sent once; the
    quarantine attached once; one EventBridge event per exposure (a kill between PutEvents and its
    record may send one again, with the same notification ID)."""
    store = open_store(url, migrate=False)
    with store.read() as db:
        timeline = db.exec_driver_sql("select exposure_id, kind from timeline_events order by id").all()
        messages = db.exec_driver_sql("select id, exposure_id, channel, state from outbox").all()
        attempts = db.exec_driver_sql("select message_id from delivery_attempts where ok").all()
    store.dispose()
    kinds: dict[int, list[str]] = {}
    for exposure_id, kind in timeline:
        kinds.setdefault(exposure_id, []).append(kind)
    assert len(kinds) == len(users)
    for exposure_id, seen in kinds.items():
        steps = [k for k in seen if k in STEP_ORDER]
        for step in ("attribute.succeeded", "contain.succeeded", "notify.queued", "notified"):
            assert steps.count(step) == 1, (exposure_id, seen)
        firsts = [steps.index(s) for s in STEP_ORDER]
        assert firsts == sorted(firsts), (exposure_id, seen)
    per_exposure = Counter((m.exposure_id, m.channel) for m in messages)
    assert set(per_exposure.values()) == {1} and len(per_exposure) == 2 * len(users)  # case, eventbridge
    assert {m.state for m in messages} == {"sent"}
    sent_once = Counter(a.message_id for a in attempts)
    assert set(sent_once.values()) == {1}, sent_once.most_common(3)
    # Every run releases what it claimed (a duplicate message may still be running when the last
    # exposure is notified: it finds nothing to do); a killed one's claims run out with their lease.
    assert wait_for(lambda: _claims(url, live=True) == 0, timeout=30)
    iam = {
        account: admin_clients.client("iam", credentials=member_credentials(admin_clients, account))
        for account in {u.account_id for u in users}
    }

    def quarantines(u: SeededUser) -> int:
        policies = iam[u.account_id].list_attached_user_policies(UserName=u.user_name)["AttachedPolicies"]
        return [p["PolicyArn"] for p in policies].count(V3)

    with ThreadPoolExecutor(4) as pool:  # read back from IAM, a few users at a time
        attached = dict(zip([u.user_name for u in users], pool.map(quarantines, users), strict=True))
    assert set(attached.values()) == {1}, [name for name, n in attached.items() if n != 1][:5]
    ids = Counter(e["detail"]["keysentry"]["notificationId"] for e in every_event(event_sink, len(users)))
    assert len(ids) == len(users)
    if not duplicates_ok:
        assert set(ids.values()) == {1}


def every_event(sink: EventSink, expect: int) -> list[dict]:
    """Every event on the sink's queue: until ``expect`` distinct notifications, then until it is empty."""
    got: list[dict] = []
    for _ in range(expect // 5 + 30):
        batch = sink.events(expect=1, attempts=1)
        got += batch
        distinct = {e["detail"]["keysentry"]["notificationId"] for e in got}
        if not batch and len(distinct) >= expect:
            break
    return got


# --- the tests ----------------------------------------------------------------------------------
def test_two_replicas_and_two_workers_contain_and_announce_each_key_once(
    deployment: Deployment,
    postgres_url: str,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
) -> None:
    count = int(os.environ.get("KEYSENTRY_SCALE_KEYS", "500"))
    t0 = time.monotonic()
    users = make_users(admin_clients, seeded, count)
    print(f"users made in {time.monotonic() - t0:.1f} s")
    token = create_token(open_store(postgres_url, migrate=False), "scale-bot", "responder")
    bases = [deployment.replica("replica-a"), deployment.replica("replica-b")]
    deployment.worker("worker-a")
    deployment.worker("worker-b")
    started = time.monotonic()
    report_all(bases, token, users)
    assert wait_for(lambda: all_notified(postgres_url, count), timeout=240), unfinished(postgres_url)
    took = time.monotonic() - started
    print(f"{count} keys contained and announced in {took:.1f} s by 2 replicas and 2 workers")
    t0 = time.monotonic()
    check_each_side_effect_once(postgres_url, users, admin_clients, event_sink)
    print(f"checked in {time.monotonic() - t0:.1f} s")
    for name in ("worker-a", "worker-b"):
        assert "Traceback" not in deployment.output(name), deployment.output(name)


@pytest.mark.parametrize("point", ["contain.after_call", "deliver.after_call"])
def test_a_worker_killed_mid_step_leaves_its_work_to_the_other_and_nothing_is_done_twice(
    point: str,
    deployment: Deployment,
    postgres_url: str,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
) -> None:
    users = make_users(admin_clients, seeded, 20)
    token = create_token(open_store(postgres_url, migrate=False), "scale-bot", "responder")
    base = deployment.replica("replica-a")
    # It kills itself there with its pool's processes, as when its machine dies.
    deployment.worker("worker-a", KEYSENTRY_CRASH_AT=point, KEYSENTRY_CRASH_GROUP="1")
    report_all([base], token, users)
    assert wait_for(lambda: deployment.died_of_sigkill("worker-a"), timeout=120), deployment.output(
        "worker-a"
    )
    deployment.worker("worker-b")
    assert wait_for(lambda: all_notified(postgres_url, len(users)), timeout=180), unfinished(postgres_url)
    # EventBridge has no idempotency key: a kill between PutEvents and its record sends that batch
    # again, with the same notification IDs for consumers to drop (docs/architecture.md).
    check_each_side_effect_once(
        postgres_url, users, admin_clients, event_sink, duplicates_ok=point == "deliver.after_call"
    )


def test_a_replica_killed_while_holding_claims_is_taken_over_after_the_lease(
    deployment: Deployment,
    postgres_url: str,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
) -> None:
    """Two replicas responding in their own threads (the embedded executor) on one PostgreSQL: the one
    that took the reports dies in the middle of containing them; the other takes its exposures over."""
    users = make_users(admin_clients, seeded, 20)
    token = create_token(open_store(postgres_url, migrate=False), "scale-bot", "responder")
    crashing = deployment.replica("replica-a", executor="inline", KEYSENTRY_CRASH_AT="contain.after_call")
    report_all([crashing], token, users)
    assert wait_for(lambda: deployment.died_of_sigkill("replica-a"), timeout=120), deployment.output(
        "replica-a"
    )
    assert _claims(postgres_url) > 0  # it died holding them
    deployment.replica("replica-b", executor="inline")
    assert wait_for(lambda: all_notified(postgres_url, len(users)), timeout=180), unfinished(postgres_url)
    check_each_side_effect_once(postgres_url, users, admin_clients, event_sink)


def test_the_broker_stopped_under_load_loses_nothing(
    deployment: Deployment,
    broker: Broker,
    postgres_url: str,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
) -> None:
    """Redis (keeping nothing on disk) is stopped for 30 s while reports arrive and work is queued, then
    started empty: what is pending in the store is enqueued again and completes, once each."""
    users = make_users(admin_clients, seeded, 40)
    token = create_token(open_store(postgres_url, migrate=False), "scale-bot", "responder")
    bases = [deployment.replica("replica-a"), deployment.replica("replica-b")]
    deployment.worker("worker-a")
    report_all(bases, token, users[:20], per_report=5)
    broker.stop()
    report_all(bases, token, users[20:], per_report=5)  # accepted (durable in the store) meanwhile
    time.sleep(30)
    assert states(postgres_url)["notified"] <= 20  # nothing reported meanwhile was answered
    broker.start()
    back = time.monotonic()
    assert wait_for(lambda: all_notified(postgres_url, len(users)), timeout=240), unfinished(postgres_url)
    print(f"all answered {time.monotonic() - back:.1f} s after the broker came back")
    check_each_side_effect_once(postgres_url, users, admin_clients, event_sink)


def test_a_scan_fanned_out_over_workers_survives_a_worker_killed_mid_repository(
    deployment: Deployment,
    postgres_url: str,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
) -> None:
    """`keysentry scan --executor celery` over six repositories (the largest history in parts): the first
    worker dies with its pool right after recording what its first job found, before finishing it; the
    job is enqueued again once its claim runs out, the second worker scans it again, and every key is
    recorded with one sighting, contained and announced once."""
    users = make_users(admin_clients, seeded, 6)
    repos = []
    for n, user in enumerate(users):
        repo = deployment.folder / f"repo-{n}"
        for f in range(60 if n == 0 else 2):  # the first is split into parts (history_part below)
            commit_file(repo, f"src/m{f}.py", f"VALUE_{f} = {f * 7919}\n" * 40, f"module {f}")
        commit_file(repo, "deploy.env", env_pair(user), "deploy settings")
        (repo / "deploy.env").unlink()
        git(repo, "commit", "-qam", "remove the settings")
        repos.append(str(repo))
    deployment.replica("replica-a")  # leads the scheduler: re-enqueues what the dead worker held
    deployment.worker("worker-a", KEYSENTRY_CRASH_AT="scan.after_record", KEYSENTRY_CRASH_GROUP="1")
    env = dict(deployment.env)
    executor = json.loads(env["KEYSENTRY_EXECUTOR"])
    env["KEYSENTRY_EXECUTOR"] = json.dumps({**executor, "history_part": 4096})
    scan = subprocess.Popen(
        [KEYSENTRY, "scan", "--executor", "celery", *repos],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_for(lambda: deployment.died_of_sigkill("worker-a"), timeout=120), deployment.output(
        "worker-a"
    )
    deployment.worker("worker-b")
    stdout, stderr = scan.communicate(timeout=240)
    assert scan.returncode == 1, stderr  # credentials found, every job complete
    assert "scanned again after a worker stopped" in stderr
    parts = [line for line in stdout.splitlines() if repos[0] + " (part" in line]
    assert len(parts) > 1 and all(line.startswith(("found", "clean")) for line in parts), stdout
    for repo in repos[1:]:
        assert f"found       {repo}: 1 finding(s), 1 exposure(s) recorded" in stdout, stdout
    store = open_store(postgres_url, migrate=False)
    with store.read() as db:
        sightings = db.exec_driver_sql(
            "select e.key_id, count(s.id) from exposures e join sightings s on s.exposure_id = e.id "
            "group by e.key_id"
        ).all()
        attempts = db.exec_driver_sql("select attempts, state from scan_jobs").all()
    store.dispose()
    assert dict(sightings) == {u.access_key_id: 1 for u in users}
    assert {state for _, state in attempts} == {"done"}
    retried = [a for a, _ in attempts if a > 1]
    assert retried and set(retried) == {2} and len(retried) <= 2  # what the dead worker's two processes held
    assert wait_for(lambda: all_notified(postgres_url, len(users)), timeout=120), unfinished(postgres_url)
    check_each_side_effect_once(postgres_url, users, admin_clients, event_sink)
    assert "Traceback" not in deployment.output("worker-b"), deployment.output("worker-b")


def test_a_watched_repository_is_polled_by_one_worker_at_a_time_for_all_replicas(
    deployment: Deployment,
    postgres_url: str,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
) -> None:
    """Two replicas with the same [watch] and two workers taking the watch queue: the polls run on the
    workers, one at a time, at the source's pace (not once per replica), and what a push brings is
    contained and announced once."""
    first, second = make_users(admin_clients, seeded, 2)
    repo = deployment.folder / "watched"
    commit_file(repo, "README.md", "# app\n", "start")
    deployment.env["KEYSENTRY_WATCH"] = json.dumps({"repositories": [str(repo)], "repository_interval": 1})
    started = time.monotonic()
    deployment.replica("replica-a")
    deployment.replica("replica-b")
    deployment.worker("worker-a", "--queues", "watch,respond,notify")
    deployment.worker("worker-b", "--queues", "watch,respond,notify")
    commit_file(repo, "deploy.env", env_pair(first), "deploy settings")
    assert wait_for(lambda: all_notified(postgres_url, 1), timeout=120), unfinished(postgres_url)
    commit_file(repo, "deploy.env", env_pair(second), "new key")
    assert wait_for(lambda: all_notified(postgres_url, 2), timeout=120), unfinished(postgres_url)
    took = time.monotonic() - started
    check_each_side_effect_once(postgres_url, [first, second], admin_clients, event_sink)
    logs = {name: deployment.output(name) for name in ("worker-a", "worker-b")}
    polls = sum(log.count(": 'polled'") for log in logs.values())
    # One poll a second at most (plus the first of each start), however many replicas enqueue.
    print(f"{polls} polls in {took:.1f} s")
    assert 2 <= polls <= took + 3, (polls, took)
    for replica in ("replica-a", "replica-b"):  # the replicas poll nothing themselves
        assert "git:" not in (deployment.folder / f"{replica}.log").read_text(errors="replace")


@pytest.fixture
def rabbitmq() -> Iterator[str]:
    """A virtual host of its own on the machine's RabbitMQ (the development machines and CI run one on
    127.0.0.1:5672), so that no message of another run is in its queues."""
    ctl = shutil.which("rabbitmqctl")
    problem = None if ctl else "rabbitmqctl is not installed"
    if ctl:
        try:
            with socket.create_connection(("127.0.0.1", 5672), timeout=2):
                pass
        except OSError as exc:
            problem = f"RabbitMQ is not answering on 127.0.0.1:5672 ({exc})"
    if problem:
        if REQUIRE_NO_SKIPS:
            pytest.fail(problem)
        pytest.skip(problem)
    assert ctl is not None
    vhost = f"keysentry-test-{uuid.uuid4().hex[:10]}"
    subprocess.run([ctl, "-q", "add_vhost", vhost], check=True, timeout=60, capture_output=True)
    subprocess.run(
        [ctl, "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        timeout=60,
        capture_output=True,
    )
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    subprocess.run([ctl, "-q", "delete_vhost", vhost], check=False, timeout=60, capture_output=True)


def test_on_rabbitmq_a_worker_killed_mid_containment_leaves_its_work_to_the_other(
    deployment: Deployment,
    rabbitmq: str,
    postgres_url: str,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
) -> None:
    """The same guarantees with RabbitMQ as the broker: a message whose worker dies is given to another
    (RabbitMQ redelivers it when the connection drops), and nothing is done twice."""
    executor = json.loads(deployment.env["KEYSENTRY_EXECUTOR"])
    deployment.env["KEYSENTRY_EXECUTOR"] = json.dumps({**executor, "broker_url": rabbitmq})
    users = make_users(admin_clients, seeded, 20)
    token = create_token(open_store(postgres_url, migrate=False), "scale-bot", "responder")
    bases = [deployment.replica("replica-a"), deployment.replica("replica-b")]
    deployment.worker("worker-a", KEYSENTRY_CRASH_AT="contain.after_call", KEYSENTRY_CRASH_GROUP="1")
    report_all(bases, token, users, per_report=5)
    assert wait_for(lambda: deployment.died_of_sigkill("worker-a"), timeout=120), deployment.output(
        "worker-a"
    )
    deployment.worker("worker-b")
    assert "amqp://guest:**@127.0.0.1:5672" in deployment.output("worker-b")  # the password masked
    assert wait_for(lambda: all_notified(postgres_url, len(users)), timeout=180), unfinished(postgres_url)
    check_each_side_effect_once(postgres_url, users, admin_clients, event_sink)
