"""``chalice local`` with API Gateway's ``identity.sourceIp``: the address of the TCP peer.

Chalice's local gateway writes 127.0.0.1 into every event's
``requestContext.identity.sourceIp`` (``LambdaEventConverter.LOCAL_SOURCE_IP``), whoever
connected. API Gateway writes the connection's other end: a visitor, or behind the CDN a
CloudFront edge. The app tells the two apart (``chalicelib/core/cdn.py``), and the tests that
connect from another loopback address (127.0.0.2) need chalice local to say who connected, as
API Gateway would. Everything else is chalice's own CLI.

    python -m devtools.emulators.chalice_local local --host 127.0.0.1 --port 8000 --stage local
"""

from __future__ import annotations

import functools
import sys

from chalice import local
from chalice.app import Chalice
from chalice.cli import main as chalice_main
from chalice.config import Config


class PeerAddressHandler(local.ChaliceRequestHandler):
    """Each connection's handler has its own gateway: it reports this connection's peer."""

    def _generic_handle(self) -> None:
        self.local_gateway.event_converter.LOCAL_SOURCE_IP = self.client_address[0]
        super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle


_create_local_server = local.create_local_server


def create_local_server(app_obj: Chalice, config: Config, host: str, port: int) -> local.LocalDevServer:
    """chalice's own server, answering through ``PeerAddressHandler``."""
    server = _create_local_server(app_obj, config, host, port)
    server.server.RequestHandlerClass = functools.partial(
        PeerAddressHandler, app_object=server.app_object, config=config)
    return server


def main() -> int:
    # chalice's CLI looks the function up in chalice.local when it starts the server.
    local.create_local_server = create_local_server
    return chalice_main()


if __name__ == "__main__":
    sys.exit(main())
