"""The local stand-in for CloudFront: serves the site bucket (on moto server) with the
security headers, proxies ``/api/...`` to ``chalice local``, and shows the outbox.

    python -m devtools.site_server --port 8001 --api http://127.0.0.1:8000

Like the CDN it serves ``/`` from ``index.html``, answers unknown keys with ``404.html``
and status 404, and puts the API under ``/api`` on the same origin, so the CSP's
``connect-src 'self'`` and ``form-action 'self'`` hold locally as in AWS.
"""

from __future__ import annotations

import argparse
import html
import re
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from chalicelib.site.headers import security_headers

API_PREFIX = "/api"
OUTBOX_PATH = "/_outbox"
# Request headers passed on to the API; hop-by-hop and Host are not. Origin and
# Sec-Fetch-Site, as CloudFront's API origin request policy does: the API refuses posts
# from other sites by them.
_FORWARD = ("content-type", "accept", "accept-language", "if-none-match", "user-agent", "origin",
            "referer", "sec-fetch-site", "cookie", "authorization")
_URL = re.compile(r"https?://[^\s<>\"']+")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the browser must see the API's 303 itself


_opener = urllib.request.build_opener(_NoRedirect())


class SiteHandler(BaseHTTPRequestHandler):
    server_version = "borgerdialog-site"
    bucket: str = ""
    api: str = ""
    moto_url: str | None = None

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the stack's own logs say what matters

    # -- dispatch ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch(send_body=True)

    def do_HEAD(self) -> None:
        self._dispatch(send_body=False)

    def do_POST(self) -> None:
        self._dispatch(send_body=True)

    def _dispatch(self, *, send_body: bool) -> None:
        path = urlsplit(self.path).path
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            self._proxy(send_body=send_body)
        elif self.command == "POST":
            self._send(405, b"", {"Allow": "GET, HEAD", "Content-Type": "text/plain"}, send_body)
        elif path == OUTBOX_PATH:
            self._outbox(send_body=send_body)
        else:
            self._static(path, send_body=send_body)

    def _send(self, status: int, body: bytes, headers: dict[str, str], send_body: bool) -> None:
        self.send_response(status)
        for name, value in {**headers, **security_headers(local_http=True)}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    # -- the bucket --------------------------------------------------------------------------

    def _get(self, key: str) -> dict[str, Any] | None:
        from chalicelib.core import aws

        s3: Any = aws.client("s3")
        try:
            found: dict[str, Any] = s3.get_object(Bucket=self.bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            return None
        return found

    def _static(self, path: str, *, send_body: bool) -> None:
        key = "index.html" if path in ("", "/") else path.lstrip("/").rstrip("/")
        found = self._get(key) if ".." not in key else None
        status = 200
        if found is None:
            status, found = 404, self._get("404.html")
        if found is None:
            self._send(404, b"Not found (run the publish command first)\n",
                       {"Content-Type": "text/plain; charset=utf-8"}, send_body)
            return
        body = found["Body"].read()
        headers = {"Content-Type": found.get("ContentType", "application/octet-stream"),
                   "Cache-Control": found.get("CacheControl", "no-cache"), "ETag": found.get("ETag", "")}
        if status == 200 and self.headers.get("If-None-Match") == headers["ETag"]:
            self._send(304, b"", headers, False)
            return
        self._send(status, body, headers, send_body)

    # -- the API -----------------------------------------------------------------------------

    def _proxy(self, *, send_body: bool) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        target = self.api + self.path[len(API_PREFIX):]
        request = urllib.request.Request(target, data=data, method=self.command)
        for name in _FORWARD:
            if self.headers.get(name):
                request.add_header(name, self.headers[name])
        try:
            response = _opener.open(request, timeout=60)
            status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, body = error.code, error.headers, error.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            self._send(502, b'{"Code":"BadGateway","Message":"API\'et svarer ikke lokalt."}',
                       {"Content-Type": "application/json"}, send_body)
            return
        dropped = ("content-length", "connection", "transfer-encoding", "server", "date")
        keep = {name: value for name, value in headers.items() if name.lower() not in dropped}
        self._send(status, body, keep, send_body)

    # -- the outbox --------------------------------------------------------------------------

    def _outbox(self, *, send_body: bool) -> None:
        from devtools import outbox

        mails = outbox.read(self.moto_url) if self.moto_url else []
        parts = [f"<h1>Udbakke (lokal)</h1><p>{len(mails)} mail(s) sendt gennem den lokale SES, "
                 "nyeste først.</p>"]
        for mail in reversed(mails):
            try:
                text = mail.part("plain")
            except LookupError:
                text = ""
            escaped = html.escape(text, quote=False)
            linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
            parts.append(f"<article><h2>{html.escape(mail.subject)}</h2>"
                         f"<p class=\"meta\">Til: {html.escape(mail.to)}</p><pre>{linked}</pre></article>")
        from chalicelib.site import assets

        body = ("<!doctype html><html lang=\"da\"><head><meta charset=\"utf-8\"><title>Udbakke</title>"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<link rel=\"stylesheet\" href=\"/{assets.key('site.css')}\">"
                "</head><body><div class=\"wrap layout\"><main>" + "".join(parts)
                + "</main></div></body></html>").encode()
        self._send(200, body, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
                   send_body)


def serve(port: int, *, bucket: str, api: str, moto_url: str | None) -> ThreadingHTTPServer:
    """Start serving on 127.0.0.1:``port`` (0: a free port) in a daemon thread."""
    handler = type("BoundSiteHandler", (SiteHandler,),
                   {"bucket": bucket, "api": api.rstrip("/"), "moto_url": moto_url})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="site-server", daemon=True).start()
    return server


def main() -> None:
    import os

    from chalicelib.core.config import get_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api", required=True, help="the API's base URL (chalice local)")
    args = parser.parse_args()
    server = serve(args.port, bucket=get_settings().bucket, api=args.api,
                   moto_url=os.environ.get("AWS_ENDPOINT_URL"))
    print(f"site on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
