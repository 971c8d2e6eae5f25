"""Run one command as a child process and measure it.

The tool is started by ``launch.py`` (a small Python process, itself run under ``unshare`` when the
network namespace is used), which times it and collects its rusage:

* wall time: ``time.perf_counter()`` in the launcher around ``posix_spawn`` .. ``os.wait4`` (the
  interpreter start-up of Python tools counts; the launcher's own start-up does not);
* ``max_rss_mb``: ``ru_maxrss`` from ``os.wait4`` on the tool.  Linux reports the largest
  resident set of the tool *or* of any descendant it waited for: the biggest single process,
  not the sum over a tool's worker processes.  It has the launcher's ~10 MB as a floor (a
  process inherits its spawner's high-water mark across exec, which is why the harness itself
  doesn't spawn tools);
* ``tree_rss_mb`` / ``tree_pss_mb``: the tool's process tree (the tool and all its descendants,
  found through /proc/<pid>/task/*/children) sampled every ``SAMPLE_S`` seconds; the peak of the
  summed RSS and of the summed PSS (proportional set size, which splits shared pages between the
  processes that share them, so it does not double-count forked workers).  Sampling can miss a
  peak shorter than the interval;
* ``cpu_s``: user + system CPU seconds of the child and the descendants it waited for;
* ``background_cores``: CPU time the whole machine spent busy during the run (/proc/stat)
  minus the child's, divided by the wall time: how many cores *other* work (someone's test
  suite, say) took while the tool ran.  Near 0 means the run had the machine to itself.

The child runs in its own session; on timeout the whole process group is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_S = 0.05
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU seconds the machine has spent busy since boot (all cores)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


def wait_for_quiet(max_wait_s: float, threshold_cores: float = 0.3, window_s: float = 1.0) -> float:
    """Wait (up to max_wait_s) until other work uses less than threshold_cores; return the load seen last."""
    deadline = time.monotonic() + max_wait_s
    while True:
        b0 = busy_cpu_seconds()
        time.sleep(window_s)
        load = (busy_cpu_seconds() - b0) / window_s
        if load < threshold_cores or time.monotonic() >= deadline:
            return load


@dataclass
class RunResult:
    wall_s: float
    returncode: int | None  # None: killed on timeout
    max_rss_mb: float
    tree_rss_mb: float
    tree_pss_mb: float
    timed_out: bool
    cpu_s: float
    background_cores: float


def _children(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return found


def _tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(_children(pid))
    return pids


def _rss_pss(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
        return rss, pss
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * PAGE
    except OSError:
        pass
    return rss, rss


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.peak_rss = 0
        self.peak_pss = 0

    def run(self) -> None:
        while not self.stop.is_set():
            rss = pss = 0
            for pid in _tree(self.pid)[1:]:  # the launcher's descendants: the tool
                r, p = _rss_pss(pid)
                rss += r
                pss += p
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.stop.wait(SAMPLE_S)


LAUNCHER = Path(__file__).with_name("launch.py")


def run_measured(
    cmd: list[str],
    *,
    prefix: list[str],
    cwd: Path,
    env: dict[str, str],
    stdout: Path,
    stderr: Path,
    timeout_s: float,
) -> RunResult:
    result_file = stdout.with_suffix(".rusage.json")
    argv = [*prefix, sys.executable, "-S", str(LAUNCHER), str(result_file), *cmd]
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        busy0 = busy_cpu_seconds()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        sampler = _Sampler(proc.pid)
        sampler.start()
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        proc.wait()
        outer_wall = time.perf_counter() - t0
        busy = busy_cpu_seconds() - busy0
        timer.cancel()
        sampler.stop.set()
        sampler.join()
        with contextlib.suppress(ProcessLookupError, PermissionError):  # anything left in the tool's group
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        r = json.loads(result_file.read_text())
        result_file.unlink()
    except (OSError, ValueError):
        r = {"wall_s": outer_wall, "returncode": proc.returncode, "ru_maxrss_kb": 0, "cpu_s": 0.0}
    return RunResult(
        wall_s=r["wall_s"],
        returncode=None if timed_out.is_set() else r["returncode"],
        max_rss_mb=r["ru_maxrss_kb"] * 1024 / 1e6,  # Linux: kilobytes
        tree_rss_mb=sampler.peak_rss / 1e6,
        tree_pss_mb=sampler.peak_pss / 1e6,
        timed_out=timed_out.is_set(),
        cpu_s=r["cpu_s"],
        background_cores=max(0.0, busy - r["cpu_s"]) / outer_wall if outer_wall > 0 else 0.0,
    )
