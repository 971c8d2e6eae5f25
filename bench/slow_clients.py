#!/usr/bin/env python3
"""The service under slow clients: ``GET /healthz`` and ``POST /v1/reports`` latency (p50, p99, max)
with nobody else connected, then beside ``--slow`` clients (default 200) that each send a request a
byte a second — half of them stuck in their headers, half in their body — and reconnect when the
service drops them.  Both rounds in one run, side by side, with the ratio.

``keysentry serve`` runs as a user runs it (its own process, SQLite, the background response on, AWS
pointed at a closed port so no call leaves the machine), with ``[service] header_timeout`` and
``body_timeout`` as given (``--body-timeout``, default 5 s here; 10 s and 30 s by default) and no
report rate (the bench sends faster than a real scanner).  The slow clients' line says how each of
their connections ended: 408 (body too slow), closed (headers too slow), reset.

    python bench/slow_clients.py [--slow 200] [--seconds 20] [--body-timeout 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

KEYSENTRY = str(Path(sys.executable).with_name("keysentry"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import key_for, secret_for  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(base: str, token: str, seconds: float) -> dict[str, list[float]]:
    """Health checks and reports, one after the other, for ``seconds``: each one's time in ms."""
    rng = random.Random(7)
    times: dict[str, list[float]] = {"healthz": [], "report": [], "failed": []}
    auth = {"Authorization": f"Bearer {token}"}
    end = time.monotonic() + seconds
    with httpx.Client(base_url=base, timeout=30) as client:
        while time.monotonic() < end:
            for name in ("healthz", "report"):
                started = time.perf_counter()
                try:
                    if name == "healthz":
                        ok = client.get("/healthz").status_code == 200
                    else:
                        body = {"key_id": key_for("123456789012", rng), "secret": secret_for(rng), "path": "a.env"}
                        ok = client.post("/v1/reports", json=body, headers=auth).status_code == 202
                except httpx.HTTPError:
                    ok = False
                times[name if ok else "failed"].append((time.perf_counter() - started) * 1000)
    return times


async def slow_client(host: str, port: int, n: int, token: str, stop: threading.Event, counts: dict[str, int]) -> None:
    """Sends a request a byte a second, forever: its headers (odd ``n``) or, after them, its body."""
    head = (
        f"POST /v1/reports HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 1000000\r\n\r\n"
    ).encode()
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(1)
            continue
        counts["connections"] += 1
        try:
            if n % 2 == 0:  # in its body: the headers at once, then a byte a second
                writer.write(head)
                trickle = b'{"text": "' + b"x" * 10_000
            else:  # in its headers
                trickle = head
            for byte in trickle:
                if stop.is_set() or reader.at_eof():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    answer = await asyncio.wait_for(reader.read(64), 1.0)
                except TimeoutError:
                    continue
                if answer:
                    status = answer.split(b" ")[1].decode() if b" " in answer else "closed"
                    counts[status] = counts.get(status, 0) + 1
                    break
                counts["closed"] += 1
                break
        except (ConnectionError, OSError):
            counts["reset"] += 1
        finally:
            writer.close()


def run_slow_clients(host: str, port: int, count: int, token: str, stop: threading.Event, counts: dict[str, int]) -> None:
    async def main() -> None:
        await asyncio.gather(*(slow_client(host, port, n, token, stop, counts) for n in range(count)))

    asyncio.run(main())


def summary(times: dict[str, list[float]]) -> dict[str, float]:
    out: dict[str, float] = {"failed": len(times["failed"])}
    for name in ("healthz", "report"):
        values = times[name] or [float("nan")]
        out[f"{name} n"] = len(times[name])
        out[f"{name} p50"] = statistics.median(values)
        out[f"{name} p99"] = percentile(values, 0.99)
        out[f"{name} max"] = max(values)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--body-timeout", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")},
            "KEYSENTRY_DATA_DIR": tmp,
            "KEYSENTRY_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "KEYSENTRY_AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "KEYSENTRY_SERVICE": json.dumps(
                {"report_rate": 0, "body_timeout": f"{args.body_timeout}s", "header_timeout": f"{args.body_timeout}s"}
            ),
        }
        token = subprocess.run(
            [KEYSENTRY, "tokens", "create", "bench", "--role", "responder"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        port = free_port()
        service = subprocess.Popen(
            [KEYSENTRY, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            measure(base, token, 2)  # warm-up
            alone = summary(measure(base, token, args.seconds))
            stop = threading.Event()
            counts: dict[str, int] = {"connections": 0, "closed": 0, "reset": 0, "408": 0}
            crowd = threading.Thread(
                target=run_slow_clients, args=("127.0.0.1", port, args.slow, token, stop, counts), daemon=True
            )
            crowd.start()
            time.sleep(3)  # let them connect
            crowded = summary(measure(base, token, args.seconds))
            stop.set()
            crowd.join(15)
        finally:
            service.terminate()
            service.wait(30)
    print(
        f"{args.slow} slow clients, a byte a second each; header and body timeouts {args.body_timeout:g} s; "
        f"{args.seconds:g} s a round"
    )
    print(f"{'':<14}{'alone':>10}{'with them':>12}{'ratio':>8}")
    for name in ("healthz", "report"):
        for stat in ("p50", "p99", "max"):
            key = f"{name} {stat}"
            ratio = crowded[key] / alone[key] if alone[key] else float("nan")
            print(f"{key + ' ms':<14}{alone[key]:>10.1f}{crowded[key]:>12.1f}{ratio:>8.2f}")
        print(f"{name + ' count':<14}{alone[name + ' n']:>10.0f}{crowded[name + ' n']:>12.0f}")
    print(f"{'failed':<14}{alone['failed']:>10.0f}{crowded['failed']:>12.0f}")
    print("slow clients:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
