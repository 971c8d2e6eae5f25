#!/usr/bin/env python3
"""The dashboard's list with many exposures: how long a page, a search, a deep page and the CSV export
take over ``--rows`` exposures (default 10,000), on SQLite (default) or ``--database-url``.

Each figure is the median of ``--runs`` requests through the application (FastAPI's test client, no
network), after one warm-up; the store is filled once, with one sighting per exposure.

    python bench/dashboard.py [--rows 10000] [--runs 5] [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers import key_for  # noqa: E402
from keysentry.config.settings import Settings  # noqa: E402
from keysentry.content import Provenance  # noqa: E402
from keysentry.detect.findings import Finding, Location  # noqa: E402
from keysentry.service.app import create_app  # noqa: E402
from keysentry.store import open_store  # noqa: E402
from keysentry.store.exposures import record_finding  # noqa: E402
from keysentry.store.models import Exposure  # noqa: E402
from keysentry.store.tokens import create_token  # noqa: E402


def fill(url: str, rows: int) -> str:
    store = open_store(url)
    rng = random.Random(1)
    with store.transaction() as db:
        for n in range(rows):
            where = Provenance(kind="git", path=f"svc{n % 50}/config.env", repository=f"https://git.example/r{n % 300}")
            record_finding(
                db,
                Finding(
                    "aws-access-key", "aws_access_key", key_for("123456789012", rng), f"{n:064x}", "123456789012",
                    severity=("critical", "high", "medium", "low")[n % 4], locations=[Location(where, 1, 1)],
                ),
            )
    # Outcomes and assignees spread as in a working store: a quarter each contained, not contained
    # (unowned), pending and not acted on (examples); one in ten assigned to one of five people.
    with store.session() as session:
        for e in session.scalars(select(Exposure)):
            kind = e.id % 4
            e.state = ("notified", "notified", "new", "example")[kind]
            e.containment = (
                {"applied": True, "policy_name": "AWSCompromisedKeyQuarantineV3", "target": "arn"},
                {"applied": False, "why": "unowned", "reason": "IAM does not know this key"},
                None,
                None,
            )[kind]
            e.assignee = f"person{(e.id // 10) % 5}" if e.id % 10 == 0 else None
    token = create_token(store, "bench", "viewer")
    store.dispose()
    return token


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        started = time.perf_counter()
        token = fill(url, args.rows)
        print(f"{args.rows} exposures recorded in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})")
        settings = Settings(data_dir=Path(tmp), database_url=url, aws_endpoint_url="http://127.0.0.1:9")
        with TestClient(create_app(settings, background=False)) as client:
            client.post("/login", data={"token": token})
            cases = {
                "first page (open, newest)": ("/", {}),
                "search by path": ("/", {"q": "svc7/config"}),
                "severity filter, sorted by severity": ("/", {"severity": "high", "sort": "severity"}),
                "outcome filter (not contained)": ("/", {"outcome": "not contained", "show": "all"}),
                "assignee filter": ("/", {"assignee": "person3", "show": "all"}),
                "page 100": ("/", {"page": 100, "show": "all"}),
                "CSV export, all": ("/exposures.csv", {"show": "all"}),
            }
            print(f"{'request':<40}{'median ms':>10}{'min':>8}{'max':>8}")
            for name, (path, params) in cases.items():
                client.get(path, params=params)
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    answer = client.get(path, params=params)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert answer.status_code == 200, answer.status_code
                print(f"{name:<40}{statistics.median(times):>10.0f}{min(times):>8.0f}{max(times):>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
