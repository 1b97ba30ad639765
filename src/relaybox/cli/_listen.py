"""``relaybox webhook listen``: a local receiver that checks and prints every webhook event.

It answers 204 (or ``--status``, to rehearse the gateway's retries) to authentic events and 401
to the rest, on any path; other methods than POST get 405. Starlette and uvicorn (the server
extra) are imported only when it runs, so ``relaybox --help`` stays light.
"""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType

import click

from relaybox.cli._serve import _check_port
from relaybox.webhooks import WebhookVerificationError, valid_secret, verify


class _Stop(BaseException):
    """Raised by the SIGINT/SIGTERM handler; a BaseException so no ``except Exception`` eats it."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


@click.option("--port", type=click.IntRange(1, 65535), required=True, help="Port to listen on")
@click.option(
    "--secret",
    envvar="RELAYBOX_WEBHOOK_SECRET",
    required=True,
    help="The endpoint's secret, whsec_... [env RELAYBOX_WEBHOOK_SECRET]",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind")
@click.option(
    "--status",
    type=click.IntRange(200, 599),
    default=204,
    show_default=True,
    help="Status answered to a valid event (e.g. 500 or 410 to rehearse failures)",
)
@click.option(
    "--tolerance",
    type=click.IntRange(min=0),
    default=300,
    show_default=True,
    help="Seconds a timestamp may be off",
)
def _listen(port: int, secret: str, host: str, status: int, tolerance: int) -> None:
    """Receive webhooks on http://HOST:PORT/ (any path), verify and print each event."""
    if not valid_secret(secret):
        raise click.BadParameter("expected whsec_ + base64 of 24..64 bytes", param_hint="'--secret'")

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def receive(request: Request) -> Response:
        try:
            envelope = verify(await request.body(), request.headers, secret, tolerance)
        except WebhookVerificationError as exc:
            click.echo(f"refused: {exc}", err=True)
            return PlainTextResponse(f"{exc}\n", status_code=401)
        # click.echo flushes, so a pipe (a test, `| tee`) sees each event as it arrives.
        click.echo(f"{envelope['event_type']} {envelope['event_id']}")
        click.echo(json.dumps(envelope, indent=2, ensure_ascii=False))
        return Response(status_code=status)

    # Methods other than POST get Starlette's 405 with an Allow header.
    app = Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
    _check_port(host, port)  # a clear message and exit 1, not a log line after "listening on"
    click.echo(f"listening on http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to the
    # handler it found; ours turns that into a quiet exit 0 instead of a traceback or a kill.
    in_main = threading.current_thread() is threading.main_thread()  # only it may set handlers
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)} if in_main else {}
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="off", server_header=False)
    except _Stop:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


listen = click.command("listen")(_listen)
