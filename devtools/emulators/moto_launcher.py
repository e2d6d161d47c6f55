"""Run moto server with DynamoDB's per-item atomicity.

moto's threaded server evaluates a ConditionExpression and then writes, with nothing
between the two to stop another request thread: two racing conditional writes can both
succeed, which real DynamoDB never allows. Serialising DynamoDB requests (and only those:
SQS long polls must not block the rest) gives tests of "exactly once" the guarantee they
rely on in AWS. Everything else is moto's own server.

    python -m devtools.emulators.moto_launcher -p 5000
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable
from typing import Any

_DYNAMODB_TARGET = "DynamoDB_"


class SerialiseDynamoDB:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(_DYNAMODB_TARGET):
            return self._app(environ, start_response)
        with self._lock:
            # Drain the body inside the lock: the write happens while it is produced.
            return list(self._app(environ, start_response))


def main() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.server import MotoRequestHandler  # type: ignore[attr-defined]
    from werkzeug.serving import run_simple

    from devtools.emulators import moto_transactions

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    moto_transactions.install()
    app = SerialiseDynamoDB(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
