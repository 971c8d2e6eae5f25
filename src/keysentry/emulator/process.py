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
import logging
import os
import sys
import threading
import time

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
    app = DomainDispatcherApplication(create_backend_app)
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
