#!/usr/bin/env python3
"""Memory and time of a history scan on a repository with many commits (default 100,000).

Builds the repository once with ``git fast-import`` (each commit changes one of a few hundred small
files; every 5,000th commit adds a key pair that the next commit removes again), then runs
``keysentry scan`` on it and reports wall time, the peak RSS of keysentry's own process and of its
git children, and whether every planted pair was found at the commit that introduced it.

    python bench/git_scale.py [--commits 100000] [--out bench/out/git-scale]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYSENTRY = ROOT / ".venv" / "bin" / "keysentry"
SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"


def key_pair(rng: random.Random) -> tuple[str, str]:
    z = (1 << 47) | (123456789012 << 7) | rng.getrandbits(7)
    kid = "AKIA" + base64.b32encode(z.to_bytes(6, "big") + rng.getrandbits(32).to_bytes(4, "big")).decode()
    return kid, "".join(rng.choice(SECRET_ALPHABET) for _ in range(40))


def high_water_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def build(repo: Path, commits: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    proc = subprocess.Popen(["git", "-C", str(repo), "fast-import", "--quiet"], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    planted: list[dict[str, object]] = []
    when = 1_600_000_000
    for n in range(1, commits + 1):
        lines = []
        if n % 5000 == 0:
            kid, sec = key_pair(rng)
            body = f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={sec}\n".encode()
            lines.append(b"M 100644 inline leak.env\ndata %d\n%s\n" % (len(body), body))
            planted.append({"mark": n, "key_id": kid})
        elif n % 5000 == 1 and n > 1:
            lines.append(b"D leak.env\n")
        else:
            body = f"# revision {n}\nvalue = {rng.getrandbits(64)}\n".encode()
            lines.append(b"M 100644 inline src/file%03d.py\ndata %d\n%s\n" % (n % 300, len(body), body))
        message = f"change {n}".encode()
        proc.stdin.write(b"commit refs/heads/main\nmark :%d\n" % n)
        proc.stdin.write(b"author Bench <bench@example.com> %d +0000\n" % (when + n))
        proc.stdin.write(b"committer Bench <bench@example.com> %d +0000\n" % (when + n))
        proc.stdin.write(b"data %d\n%s\n" % (len(message), message))
        if n > 1:
            proc.stdin.write(b"from :%d\n" % (n - 1))
        proc.stdin.writelines(lines)
        proc.stdin.write(b"\n")
    proc.stdin.write(b"get-mark :%d\n" % commits)
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit("git fast-import failed")
    subprocess.run(["git", "-C", str(repo), "gc", "-q"], check=True)
    shas = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--reverse", "main"], check=True, capture_output=True, text=True
    ).stdout.split()
    for row in planted:
        row["commit"] = shas[int(row["mark"]) - 1]  # type: ignore[call-overload]
    (repo.parent / "planted.json").write_text(json.dumps(planted))
    return planted


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "git-scale")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    repo = args.out / f"repo-{args.commits}"
    if repo.exists():
        planted = json.loads((args.out / "planted.json").read_text())
    else:
        started = time.perf_counter()
        planted = build(repo, args.commits, args.seed)
        print(f"built {args.commits:,} commits in {time.perf_counter() - started:.0f} s")
    command = [str(KEYSENTRY), "scan", str(repo), "--format", "jsonl", "--jobs", "1", "--no-progress"]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    own, git_peak = 0, 0
    reader = threading.Thread(target=lambda: output.append(proc.stdout.read() if proc.stdout else ""))
    output: list[str] = []
    reader.start()
    while proc.poll() is None:  # VmHWM of keysentry itself and of each git child, sampled
        own = max(own, high_water_kb(proc.pid))
        for child in children_of(proc.pid):
            git_peak = max(git_peak, high_water_kb(child))
        time.sleep(0.1)
    reader.join()
    wall = time.perf_counter() - started
    result = {"out": output[0], "code": proc.returncode}
    found = {}
    for line in result["out"].splitlines():
        row = json.loads(line)
        found[row["key_id"]] = row["locations"][0]["commit"]
    right = sum(1 for p in planted if found.get(str(p["key_id"])) == p["commit"])
    print(
        f"scan of {args.commits:,} commits: {wall:.1f} s wall, exit {result['code']}; keysentry's own peak "
        f"RSS {own / 1024:.0f} MB; largest git child {git_peak / 1024:.0f} MB (git's object walk); "
        f"{right}/{len(planted)} planted pairs found at the commit that introduced them"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
