"""``keysentry serve``: the service under uvicorn."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Annotated

import typer

from keysentry.cli.common import exits_cleanly, out, settings_from, with_executor


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
    aws_endpoint_url: Annotated[
        str | None, typer.Option(help="Send AWS calls here (the local emulator).")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="text, or json: one JSON object a line for a log pipeline.")
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            help="inline (default: background work in this process's threads) or celery (enqueue it for "
            "`keysentry worker` processes; [executor] in keysentry.toml)."
        ),
    ] = None,
    broker_url: Annotated[
        str | None, typer.Option(help="With --executor celery: the broker (redis://… or amqp://…).")
    ] = None,
) -> None:
    """Run keysentry as a service: intake endpoints, with containment and notification in the background.

    Endpoints: POST /v1/partners/github/secret-scanning (GitHub's secret scanning
    partner protocol, signature checked against GitHub's public keys, or the file
    in KEYSENTRY_GITHUB_PARTNER_KEYS_FILE), POST /v1/reports (trufflehog, gitleaks,
    betterleaks output; API token), /v1/exposures (list, detail, actions, CSV), the
    dashboard at /, GET /healthz, GET /metrics, and the OpenAPI documentation at
    /docs.  The watchers enabled in [watch] of keysentry.toml (git repositories,
    GitHub's public events, PyPI, npm) run beside.  Every accepted report is
    committed before it is acknowledged; Ctrl-C (or SIGTERM) stops taking requests,
    finishes the step in hand and exits; anything left resumes at the next start.

    Examples:

      keysentry serve                    # SQLite in .keysentry/, port 8080

      keysentry serve --host 0.0.0.0 --database-url postgresql+psycopg://db/ks

      # replicas and `keysentry worker`s share the work:
      keysentry serve --executor celery --database-url postgresql+psycopg://db/ks
    """
    run_serve(host, port, database_url, aws_endpoint_url, log_format, executor, broker_url)


@exits_cleanly
def run_serve(
    host: str,
    port: int,
    database_url: str | None,
    endpoint: str | None,
    log_format: str | None,
    executor: str | None = None,
    broker_url: str | None = None,
) -> None:
    import uvicorn  # the service's libraries load only for this command

    from keysentry.service.app import create_app

    class Server(uvicorn.Server):
        """uvicorn, but a SIGTERM or Ctrl-C after a graceful shutdown ends with exit code 0 (uvicorn
        itself raises the signal again, so the process would die of it)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    settings = with_executor(
        settings_from(database_url=database_url, aws_endpoint_url=endpoint, log_format=log_format),
        kind=executor,
        broker_url=broker_url,
    )
    background = "in this process"
    if settings.executor.kind == "celery":
        from keysentry.app.executor import broker_label

        background = f"by Celery workers via {broker_label(settings.executor.broker_url.get_secret_value())}"
    out.print(
        f"keysentry serving on http://{host}:{port}  (store: {settings.resolved_database_url()}; "
        f"responses run {background})"
    )
    from keysentry.service.http_protocol import with_header_timeout

    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=30,
        http=with_header_timeout(settings.service.header_timeout.total_seconds()),
    )
    Server(config).run()
    out.print("keysentry stopped; anything unfinished resumes at the next start")
