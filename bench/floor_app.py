"""The floor: the same server stack as ``relaybox serve`` (Starlette on uvicorn with uvloop and
httptools, same options) with endpoints that do no work. What relaybox reaches against it is the
share of the stack's own cost that relaybox's work adds.

    python -m bench.floor_app --port 8099 [--workers N] [--log-level info]
"""

from __future__ import annotations

import argparse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def post(request: Request) -> Response:
    # Read the body, as relaybox must, but do nothing with it.
    await request.body()
    return Response(status_code=200)


async def get(request: Request) -> Response:
    return Response(status_code=200)


app = Starlette(routes=[Route("/post", post, methods=["POST"]), Route("/get", get, methods=["GET"])])


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.floor_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    # The options of src/relaybox/cli/_serve.py, so the only difference is the application.
    uvicorn.run(
        "bench.floor_app:app" if args.workers > 1 else app,
        host=args.host,
        port=args.port,
        workers=args.workers if args.workers > 1 else None,
        loop="uvloop",
        http="httptools",
        log_level=args.log_level,
        timeout_graceful_shutdown=2,
        server_header=False,
    )


if __name__ == "__main__":
    main()
