"""The emulator's own process: moto's WSGI app on 127.0.0.1, port chosen by the kernel, served by
waitress (a thread pool with HTTP/1.1 keep-alive).  Werkzeug's development server, moto's default,
closes the connection after every response, so each AWS call would cost a TCP handshake on our side
and a new thread on the emulator's: a third of the emulator's CPU and a tenth of ours under load.

Started by :class:`keysentry.emulator.server.Emulator`; prints one line
``KEYSENTRY-EMULATOR-READY <port>`` once it accepts connections, and exits when
its parent goes away so that no emulator outlives the command that started it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import time
from typing import Any

READY = "KEYSENTRY-EMULATOR-READY"
THREADS = 8  # requests served at once; moto's backends hold their own locks


def _exit_with_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def _list_service_modules_once() -> None:
    """moto lists its own package folder (about 180 stat calls) on every request to route it; the
    folder does not change while the emulator runs, so list it once.  A third of each request's time."""
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def _direct_iam_lookups() -> None:
    """moto's IAM finds a managed policy by building a dict of all ~1,600 of them (keyed by ARN already)
    on every AttachUserPolicy and DetachUserPolicy, and the owner of a key by listing every key of every
    user of every account on every GetAccessKeyLastUsed: with a thousand users, most of the emulator's
    CPU, which AWS would spend on its side, not on ours.  Look the policy up by its key and the key in
    the caller's account first; whatever that does not find goes to moto's own code, so the answers and
    errors stay moto's."""
    from moto.iam.models import IAMBackend

    attach, detach, last_used = (
        IAMBackend.attach_user_policy,
        IAMBackend.detach_user_policy,
        IAMBackend.get_access_key_last_used,
    )

    def attach_user_policy(self: IAMBackend, policy_arn: str, user_name: str) -> None:
        policy = self.managed_policies.get(policy_arn)
        if policy is None or policy.arn != policy_arn:
            return attach(self, policy_arn, user_name)
        policy.attach_to(self.get_user(user_name))

    def detach_user_policy(self: IAMBackend, policy_arn: str, user_name: str) -> None:
        policy = self.managed_policies.get(policy_arn)
        if policy is None or policy.arn != policy_arn:
            return detach(self, policy_arn, user_name)
        user = self.get_user(user_name)
        if policy_arn not in user.managed_policies:
            return detach(self, policy_arn, user_name)  # moto's error
        policy.detach_from(user)

    def get_access_key_last_used(self: IAMBackend, access_key_id: str) -> dict[str, Any]:
        for user in self.users.values():
            for key in user.access_keys:
                if key.access_key_id == access_key_id:
                    return {"user_name": key.user_name, "last_used": key.last_used}
        return last_used(self, access_key_id)  # another account's key, or none: moto's way

    IAMBackend.attach_user_policy = attach_user_policy  # type: ignore[method-assign]
    IAMBackend.detach_user_policy = detach_user_policy  # type: ignore[method-assign]
    IAMBackend.get_access_key_last_used = get_access_key_last_used  # type: ignore[method-assign]


MANAGED_POLICY_PATH = "/keysentry-api/aws-managed-policy"


def publish_aws_managed_policy(name: str, document: dict[str, Any], created: str) -> None:
    """Add an AWS managed policy, as AWS does when it publishes one: in every account moto knows now,
    and in every account it creates later (its managed-policy data is read per new account)."""
    from moto.iam import models

    data = json.loads(models.aws_managed_policies_data)  # type: ignore[attr-defined]
    entry = {
        "CreateDate": created,
        "UpdateDate": created,
        "DefaultVersionId": "v1",
        "Document": document,
        "Path": "/",
        "AttachmentCount": 0,
        "IsAttachable": True,
    }
    data[name] = entry
    models.aws_managed_policies_data = json.dumps(data)  # type: ignore[attr-defined]
    for account in models.iam_backends.values():
        for backend in account.values():
            policy = models.AWSManagedPolicy.from_data(name, backend.account_id, backend.region_name, entry)
            backend.aws_managed_policies.append(policy)
            backend.managed_policies[policy.arn] = policy


def _with_keysentry_api(app: Any) -> Any:
    """moto's app, plus one endpoint of ours: POST a managed policy ({"name", "document", "created"})."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == MANAGED_POLICY_PATH and environ.get("REQUEST_METHOD") == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(size) or b"{}")
            publish_aws_managed_policy(str(body["name"]), dict(body["document"]), str(body["created"]))
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return app(environ, start_response)

    return wsgi


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="keysentry's local AWS emulator process")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--exit-with-parent", action="store_true")
    args = parser.parse_args(argv)

    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    # Imported late: moto reads its settings from the environment at import time.
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from waitress.server import TcpWSGIServer, create_server

    logging.getLogger("waitress").setLevel(logging.ERROR)
    _list_service_modules_once()
    _direct_iam_lookups()
    app = _with_keysentry_api(DomainDispatcherApplication(create_backend_app))
    server = create_server(
        app,
        host=args.host,
        port=args.port,
        threads=THREADS,
        connection_limit=1000,
        channel_timeout=300,
        ident="moto",
        clear_untrusted_proxy_headers=True,
    )
    assert isinstance(server, TcpWSGIServer)  # one host and port: one TCP server
    if args.exit_with_parent:
        threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    print(f"{READY} {int(server.getsockname()[1])}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
