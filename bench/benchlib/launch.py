"""Spawn one tool, wait for it, and write its wall time and rusage as JSON.

    python3 launch.py RESULT.json TOOL [ARGS...]

Why a launcher: a process started from the (large) harness inherits the harness' peak RSS into
its own ``ru_maxrss`` (Linux keeps the old address space's high-water mark across ``exec``), so
small tools would show the harness' size.  Started from this small process instead, a tool's
``ru_maxrss`` has only this launcher's ~10 MB as a floor.  The wall time is taken here too, around
``posix_spawn`` .. ``wait4``, so neither the launcher's start-up nor ``unshare`` is timed.
Exit status: the tool's.
"""

import json
import os
import sys
import time


def main() -> int:
    result, argv = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as f:
        json.dump(
            {
                "wall_s": wall,
                "returncode": code,
                "ru_maxrss_kb": ru.ru_maxrss,
                "cpu_s": ru.ru_utime + ru.ru_stime,
                "pid": pid,
            },
            f,
        )
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
