#!/usr/bin/env python3
"""Scale-out, measured: the same work done by one and by two ``keysentry worker`` processes, in one run.

Each worker runs ``--concurrency`` processes (default 1), so that two workers are twice the processes
of one; timing starts once every worker process has built its responder and detection engine.

* **Response**: ``--keys`` seeded keys (real users in the emulator's member accounts) reported to one
  ``keysentry serve --executor celery`` replica as manual reports of 25; the time until every exposure
  is ``notified`` (attributed, quarantined, announced on EventBridge and in the case); exposures per
  second.  The emulator runs in its own process, as do the replica and the workers.
* **Scan**: ``--repos`` git repositories (each a few commits of real Python source with one planted
  key pair) scanned by ``keysentry scan --executor celery`` (one job per repository on the ``scan``
  queue, the command following them to the end); the time the command takes.  Workers take only
  the scan queue here, one process each (``--queues scan --concurrency 1``), so that two workers are
  twice the processes of one.

Each configuration gets a new PostgreSQL database and a new Redis of its own.  Prints each time, the
throughput, the speed-up of two workers over one, and the machine's CPU count; counts only.

    python bench/scale.py [--keys 300] [--repos 50] [--runs 1] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import sqlalchemy as sa
from respond_latency import make_users  # bench/ is on the path of a script run from it

from keysentry.authority.clients import AwsClients
from keysentry.config.settings import Settings
from keysentry.emulator.receivers import free_port
from keysentry.emulator.seed import seed_demo
from keysentry.emulator.server import Emulator
from keysentry.store import open_store
from keysentry.store.tokens import create_token

ROOT = Path(__file__).resolve().parent.parent
KEYSENTRY = str(ROOT / ".venv" / "bin" / "keysentry")


def wait(condition, timeout: float, every: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


@contextlib.contextmanager
def database(admin_url: str) -> Iterator[str]:
    name = f"keysentry_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        open_store(url).dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def processes(folder: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for p in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in started:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def start(
    started: list, folder: Path, name: str, argv: list[str], env: dict[str, str]
) -> subprocess.Popen[bytes]:  # type: ignore[type-arg]
    out = open(folder / f"{name}.out", "wb")  # noqa: SIM115 - the process holds it
    p = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    started.append(p)
    return p


def redis(started: list, folder: Path) -> str:  # type: ignore[type-arg]
    port = free_port()
    start(
        started,
        folder,
        "redis",
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        dict(os.environ),
    )
    time.sleep(0.3)
    return f"redis://127.0.0.1:{port}/0"


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine so far (/proc/stat), to tell how many cores a
    round kept busy."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def count(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(sa.text(sql)).scalar() or 0)
    engine.dispose()
    return n


def service_env(db: str, broker: str, emulator: Emulator, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")}
    env.update(
        KEYSENTRY_DATABASE_URL=db,
        KEYSENTRY_AWS_ENDPOINT_URL=emulator.endpoint,
        KEYSENTRY_AWS_SERVICE_ENDPOINTS=json.dumps(emulator.service_endpoints),
        KEYSENTRY_INVESTIGATION_DELAYS="[]",
        KEYSENTRY_DATA_DIR=str(folder),
        KEYSENTRY_LOG_LEVEL="WARNING",
        KEYSENTRY_EXECUTOR=json.dumps({"kind": "celery", "broker_url": broker}),
    )
    return env


def worker_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "KEYSENTRY_LOG_LEVEL": "INFO"}  # Celery says "ready." at INFO


def workers_ready(folder: Path, names: list[str], processes: int) -> bool:
    """Every worker's every pool process has built its responder and engine (it logs so)."""
    outs = [folder / f"{n}.out" for n in names]
    if not all(o.exists() for o in outs):
        return False
    return all(o.read_bytes().count(b"keysentry worker process") >= processes for o in outs)


# --- response -----------------------------------------------------------------------------------
def reports_of(admin: AwsClients, seed, total: int) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """``total`` new keys in the emulator, as manual report items."""
    users = make_users(admin, seed, total, prefix=f"bench-{uuid.uuid4().hex[:8]}")
    return [
        {"key_id": kid, "secret": secret, "url": f"https://paste.example/{name}", "path": "paste"}
        for _account, name, kid, secret in users
    ]


def response_round(args, emulator: Emulator, seed, workers: int) -> float:  # type: ignore[no-untyped-def]
    admin = AwsClients(Settings(aws_endpoint_url=emulator.endpoint))
    users = reports_of(admin, seed, args.keys)
    with (
        tempfile.TemporaryDirectory(prefix="keysentry-scale-") as tmp,
        database(args.postgres) as db,
        processes(Path(tmp)) as started,
    ):
        folder = Path(tmp)
        env = service_env(db, redis(started, folder), emulator, folder)
        token = create_token(open_store(db, migrate=False), "bench", "responder")
        port = free_port()
        start(
            started, folder, "replica", [KEYSENTRY, "serve", "--port", str(port), "--executor", "celery"], env
        )
        base = f"http://127.0.0.1:{port}"
        names = [f"worker-{n}" for n in range(workers)]
        for name in names:
            start(
                started,
                folder,
                name,
                [KEYSENTRY, "worker", "--queues", "respond,notify", "--concurrency", str(args.concurrency)],
                worker_env(env),
            )
        assert wait(lambda: _up(base), 60), (folder / "replica.out").read_text()
        assert wait(lambda: workers_ready(folder, names, args.concurrency), 60), "workers did not start"
        began = time.monotonic()
        for i in range(0, len(users), 25):
            r = httpx.post(
                base + "/v1/reports",
                content=json.dumps(users[i : i + 25]),
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            assert r.status_code == 202, r.text
        notified = "select count(*) from exposures where state = 'notified'"
        done = wait(lambda: count(db, notified) >= len(users), args.timeout, every=0.1)
        took = time.monotonic() - began
        assert done, f"only {count(db, notified)} of {len(users)} notified"
        return took


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# --- scan ---------------------------------------------------------------------------------------
def make_repos(folder: Path, total: int, mb: float, rng: random.Random) -> list[Path]:
    """Repositories of real Python source (the standard library), a few commits each, one planted pair."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = sorted(p for p in stdlib.rglob("*.py") if "test" not in p.parts and p.stat().st_size < 200_000)
    repos = []
    for n in range(total):
        repo = folder / f"repo-{n:03d}"
        repo.mkdir()
        git = ["git", "-C", str(repo), "-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
        subprocess.run([*git, "init", "-q"], check=True)
        size, commit = 0, 0
        picked = rng.sample(sources, min(len(sources), 400))
        for i, src in enumerate(picked):
            target = repo / f"pkg{i % 7}" / src.name
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(src, target)
            size += src.stat().st_size
            if i % 40 == 39:
                subprocess.run([*git, "add", "-A"], check=True)
                subprocess.run([*git, "commit", "-q", "-m", f"change {commit}"], check=True)
                commit += 1
            if size > mb * 1e6:
                break
        key = "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        secret = "".join(
            rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(40)
        )
        (repo / "deploy.env").write_text(f"AWS_ACCESS_KEY_ID={key}\nAWS_SECRET_ACCESS_KEY={secret}\n")
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "deploy settings"], check=True)
        (repo / "deploy.env").unlink()
        subprocess.run([*git, "commit", "-q", "-am", "remove the settings"], check=True)
        repos.append(repo)
    return repos


def scan_round(args, emulator: Emulator, repos: list[Path], workers: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    with (
        tempfile.TemporaryDirectory(prefix="keysentry-scale-") as tmp,
        database(args.postgres) as db,
        processes(Path(tmp)) as started,
    ):
        folder = Path(tmp)
        env = service_env(db, redis(started, folder), emulator, folder)
        names = [f"worker-{n}" for n in range(workers)]
        for name in names:
            start(
                started,
                folder,
                name,
                [KEYSENTRY, "worker", "--queues", "scan", "--concurrency", "1"],
                worker_env(env),
            )
        assert wait(lambda: workers_ready(folder, names, 1), 60), "workers did not start"
        began, ticks = time.monotonic(), cpu_ticks()
        # As a user runs it: the command records a job per repository, enqueues them and follows them.
        done = subprocess.run(
            [KEYSENTRY, "scan", "--executor", "celery", *map(str, repos)],
            env=worker_env(env),
            capture_output=True,
            text=True,
            timeout=args.timeout,
            check=False,
        )
        took = time.monotonic() - began
        busy, total = (after - before for after, before in zip(cpu_ticks(), ticks, strict=True))
        print(f"  cores busy during the command: {busy / total * (os.cpu_count() or 1):.2f}", flush=True)
        assert done.returncode == 1, done.stderr + "".join(
            line + "\n" for line in done.stdout.splitlines() if not line.startswith("found")
        )  # found: every planted pair
        recorded = count(db, "select count(*) from exposures")
        assert recorded >= len(repos), f"only {recorded} of {len(repos)} keys recorded"
        # The workers' part: from the jobs' recording to the last one finished (the command's own
        # start-up, about a second of Python imports and planning, does not scale with workers).
        engine = sa.create_engine(db)
        with engine.connect() as conn:
            span = conn.execute(
                sa.text("select extract(epoch from max(finished_at) - min(created_at)) from scan_jobs")
            ).scalar()
        engine.dispose()
        return float(span), took


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--repo-mb", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=1, help="processes per response worker")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--parts", default="response,scan")
    args = parser.parse_args()
    parts = args.parts.split(",")
    results: dict[str, dict[int, list[float]]] = {
        "response": {1: [], 2: []},
        "scan": {1: [], 2: []},
        "command": {1: [], 2: []},  # the scan, as `keysentry scan --executor celery` took it
    }
    with (
        tempfile.TemporaryDirectory(prefix="keysentry-scale-emu-") as emu_dir,
        Emulator(log_path=Path(emu_dir) / "emulator.log") as emulator,
    ):
        settings = Settings(aws_endpoint_url=emulator.endpoint)
        seed = seed_demo(AwsClients(settings), emulator.endpoint, settings.event_source)
        repos: list[Path] = []
        repo_dir = tempfile.mkdtemp(prefix="keysentry-scale-repos-")
        try:
            if "scan" in parts:
                repos = make_repos(Path(repo_dir), args.repos, args.repo_mb, random.Random(7))
                mb = (
                    sum(f.stat().st_size for r in repos for f in (r / ".git").rglob("*") if f.is_file()) / 1e6
                )
                print(f"scan corpus: {len(repos)} repositories, {mb:.0f} MB of git objects", flush=True)
            for run in range(args.runs):
                for workers in (1, 2):  # interleaved, so drift hits both alike
                    if "response" in parts:
                        took = response_round(args, emulator, seed, workers)
                        results["response"][workers].append(took)
                        print(
                            f"run {run + 1} response, {workers} worker(s): {args.keys} keys in {took:.1f} s "
                            f"({args.keys / took:.1f}/s)",
                            flush=True,
                        )
                    if "scan" in parts:
                        span, took = scan_round(args, emulator, repos, workers)
                        results["scan"][workers].append(span)
                        results["command"][workers].append(took)
                        print(
                            f"run {run + 1} scan, {workers} worker(s): {len(repos)} repositories in "
                            f"{span:.1f} s by the workers, {took:.1f} s for the command",
                            flush=True,
                        )
        finally:
            shutil.rmtree(repo_dir, ignore_errors=True)
    print(f"\nmachine: {os.cpu_count()} CPUs; median of {args.runs} run(s)")
    print(f"{'work':<10}{'1 worker s':>12}{'2 workers s':>13}{'speed-up':>10}  throughput (1 → 2)")
    for part in [*parts, *(["command"] if "scan" in parts else [])]:
        one, two = (sorted(results[part][w])[len(results[part][w]) // 2] for w in (1, 2))
        unit = (args.keys, "exposures/s") if part == "response" else (args.repos, "repositories/s")
        print(
            f"{part:<10}{one:>12.1f}{two:>13.1f}{one / two:>9.2f}x  "
            f"{unit[0] / one:.1f} → {unit[0] / two:.1f} {unit[1]}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
