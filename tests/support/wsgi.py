"""A WSGI face for the Chalice test client, so WSGI tools (schemathesis) can drive the app.

Requests go through ``chalice.test.Client`` and so through Chalice's local API Gateway
(routing, path parameters, CORS, binary handling) to the real handlers, which talk to
moto server like in every other test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from chalice.test import Client


class ChaliceWSGI:
    def __init__(self, client: Client) -> None:
        self._client = client
        self.responses: list[tuple[str, str, int, bytes]] = []  # method, path, status, body

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        # PATH_INFO arrives decoded; API Gateway sees the path as sent, so quote it back.
        # ";" stays quoted: chalice local's router (urlparse) would cut ";..." off the last
        # segment as path parameters and route /articles/;x to /articles, which API Gateway
        # never does.
        path = quote(environ.get("PATH_INFO", "/"), safe="/:@!$&'()*+,=-._~")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        headers = {key[5:].replace("_", "-").lower(): value
                   for key, value in environ.items() if key.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        response = self._client.http.request(method, path, headers=headers, body=body)
        status = response.status_code
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
        start_response(f"{status} {reason}", list(response.headers.items()))
        self.responses.append((method, path, status, response.body))
        return [response.body]
