"""Start and stop the local AWS emulator process, and switch its IAM enforcement on or off."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from keysentry.emulator.cloudtrail import CloudTrailHistory
from keysentry.emulator.process import MANAGED_POLICY_PATH, READY
from keysentry.errors import EmulatorError

START_TIMEOUT = 60.0


class Emulator:
    """moto in server mode on 127.0.0.1 with AWS managed policies loaded, plus CloudTrail event history
    (which moto lacks) from :class:`CloudTrailHistory`.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        port: int = 0,
        log_path: Path | None = None,
        exit_with_parent: bool = True,
        cloudtrail_port: int = 0,
    ) -> None:
        self.requested_port = port
        self.cloudtrail_port = cloudtrail_port
        self.log_path = log_path
        self.exit_with_parent = exit_with_parent
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.cloudtrail: CloudTrailHistory | None = None

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise EmulatorError("the emulator is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> Emulator:
        env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true")
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        command = [sys.executable, "-m", "keysentry.emulator.process", "--port", str(self.requested_port)]
        if self.exit_with_parent:
            command.append("--exit-with-parent")
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's life
        self._proc = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log if self._log else subprocess.DEVNULL,
        )
        self.port = self._wait_ready()
        self.cloudtrail = CloudTrailHistory(self.cloudtrail_port)
        return self

    @property
    def service_endpoints(self) -> dict[str, str]:
        """Services the emulator serves from a separate endpoint (``aws_service_endpoints`` in settings)."""
        return {"cloudtrail": self.cloudtrail.endpoint} if self.cloudtrail else {}

    def _wait_ready(self) -> int:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                line = proc.stdout.readline().decode(errors="replace").strip()
                if line.startswith(READY):
                    return int(line.split()[1])
                if not line and proc.poll() is not None:
                    break
            elif proc.poll() is not None:
                break
        self.stop()
        where = f"; see {self.log_path}" if self.log_path else ""
        port = f" on port {self.requested_port}" if self.requested_port else ""
        raise EmulatorError(f"the AWS emulator did not start{port}{where}")

    def _post(self, path: str, body: bytes) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - our own loopback http URL
            self.endpoint + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        try:
            # Our own loopback URL, always http.
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                return bytes(answer.read())
        except urllib.error.URLError as exc:
            raise EmulatorError(f"emulator call {path} failed: {exc}") from exc

    def enforce_iam(self, on: bool = True) -> None:
        """With enforcement on, every caller needs real emulator keys and IAM policies are evaluated."""
        self._post("/moto-api/reset-auth", b"0" if on else b"inf")

    def publish_aws_managed_policy(
        self, name: str, document: dict[str, Any], created: str = "2026-11-06T00:00:00+00:00"
    ) -> None:
        """Publish an AWS managed policy in the emulator, as AWS does (a new quarantine version)."""
        body = json.dumps({"name": name, "document": document, "created": created}).encode()
        self._post(MANAGED_POLICY_PATH, body)

    def reset(self) -> None:
        """Forget every resource the emulator holds."""
        self._post("/moto-api/reset", b"")

    def stop(self) -> None:
        if self.cloudtrail is not None:
            self.cloudtrail.close()
            self.cloudtrail = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        self.port = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
