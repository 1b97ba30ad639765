"""``relaybox serve``: pre-flight the store, create demo routes, run uvicorn."""

from __future__ import annotations

import functools
import logging
import os
import socket
import sys
import time
from typing import Any

import click

from relaybox.cli._store import run_with_store

DEMO_ROUTES = ("abcd@abcdef01", "ef01@1234abcd")
DEMO_ACCOUNT = "demo@relaybox.local"
_DEMO_PARTNER = {
    "partner_type": "Production",
    "description": "demo partner",
    "uri": None,
    "message_subject": None,
    "custom_headers": (),
    "pause_incoming": False,
    "pause_outgoing": False,
    "send_timeout": 60,
    "request_mdn": True,
}


def run_server(settings: Any, *, demo: bool) -> None:
    import uvicorn

    from relaybox.api.app import create_app
    from relaybox.api.protocol import BoundedHttpTools

    # Open (and migrate) once before binding, so a bad store is a clear message, not a traceback.
    async def preflight(store: Any) -> None:
        if demo:
            await _demo_routes(store, settings)

    run_with_store(settings, preflight)
    _check_tls(settings)
    _check_port(settings.host, settings.port)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    where = settings.database_url.split("@")[-1] if settings.database_url else str(settings.data_dir.resolve())
    workers = f", {settings.workers} workers" if settings.workers > 1 else ""
    scheme = "https" if settings.tls_cert else "http"
    click.echo(f"relaybox serving on {scheme}://{settings.host}:{settings.port} (store: {where}{workers})", err=True)
    options: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # httptools with bounds on the request head's size and time and the body's pace
        http=functools.partial(
            BoundedHttpTools,
            head_timeout=settings.head_timeout,
            body_timeout=settings.body_timeout,
            body_min_rate=settings.body_min_rate,
            write_timeout=settings.write_timeout,
        ),
        log_level=settings.log_level.lower(),
        # Long-polls would otherwise hold a restart for up to their timeout.
        timeout_graceful_shutdown=2,
        server_header=False,
    )
    if settings.tls_cert is not None:
        options.update(ssl_certfile=str(settings.tls_cert), ssl_keyfile=str(settings.tls_key))
    try:
        if settings.workers > 1:
            # Workers are separate processes: hand them the resolved settings through the
            # environment, the one place each of them reads settings from.
            for name, value in settings.model_dump(mode="json").items():
                if value is not None:
                    os.environ[f"RELAYBOX_{name.upper()}"] = str(value)
            uvicorn.run("relaybox.api.app:app_from_env", factory=True, workers=settings.workers, **options)
        else:
            uvicorn.run(create_app(settings), **options)
    except OSError as exc:
        click.echo(f"error: cannot serve on {settings.host}:{settings.port}: {exc.strerror}", err=True)
        sys.exit(1)


def _check_tls(settings: Any) -> None:
    """A certificate or key that does not load is a clear refusal before binding."""
    if settings.tls_cert is None:
        return
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        click.echo(f"error: cannot use --tls-cert/--tls-key: {exc}", err=True)
        sys.exit(1)


def _check_port(host: str, port: int) -> None:
    """Refuse a port in use before uvicorn starts: its own bind failure exits from inside the
    event loop, after the application started, which can hang on shutdown."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            click.echo(f"error: cannot serve on {host}:{port}: {exc.strerror}", err=True)
            sys.exit(1)


async def _demo_account(store: Any) -> list[str]:
    """A management-API (/v1) account owning both demo routes, each the other's partner."""
    from relaybox.exchange.identity import add_account

    now = time.time()
    account, password = await add_account(store, DEMO_ACCOUNT, None, now)
    for station, partner in (DEMO_ROUTES, DEMO_ROUTES[::-1]):
        await store.accounts.link(account.email, station, None, None, now)
        await store.partners.add(station, partner, dict(_DEMO_PARTNER, name=partner), now)
    click.echo(f"demo account {DEMO_ACCOUNT}  password {password}  (/v1, try http://HOST:PORT/docs)", err=True)
    return [f"export RELAYBOX_USER={DEMO_ACCOUNT}", f"export RELAYBOX_PASSWORD={password}"]


async def _demo_routes(store: Any, settings: Any) -> None:
    from relaybox.store import random_secret

    env_file = settings.data_dir / "demo.env"
    if await store.list_routes():
        if env_file.exists():
            click.echo(f"demo routes: see {env_file} (source it for the curl recipes)", err=True)
        return
    lines = []
    for i, name in enumerate(DEMO_ROUTES):
        secret = random_secret()
        await store.add_route(name, secret, time.time())
        click.echo(f"demo route {name}  secret {secret}", err=True)
        prefix = "" if i == 0 else "PARTNER_"
        lines += [f"export {prefix}ROUTE={name}", f"export {prefix}KEY_SECRET={secret}"]
    lines += [f"export RELAYBOX_URL=http://{settings.host}:{settings.port}"]
    lines += ["export RELAYBOX_ROUTE=$ROUTE RELAYBOX_SECRET=$KEY_SECRET"]
    lines += await _demo_account(store)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env_file.write_text("\n".join(lines) + "\n")
    env_file.chmod(0o600)
    click.echo(f"wrote {env_file}: `source {env_file}` to use them with curl or the CLI", err=True)
