"""The local stand-in for CloudFront: serves the site bucket (on moto server) with the
security headers, passes ``/api/...`` to ``chalice local`` the way the distribution passes
it to API Gateway, and shows the outbox.

    python -m devtools.site_server --port 8001 --api http://127.0.0.1:8000 [--origin-secret S]

Like the CDN it serves ``/`` from ``index.html``, answers unknown keys with ``404.html``
and status 404, and puts the API under ``/api`` on the same origin, so the CSP's
``connect-src 'self'`` and ``form-action 'self'`` hold locally as in AWS.

``/api/*`` is CDN-shaped, read from infra/template.yaml itself (``ApiForwarding``): the API
gets only the query strings and headers the behaviour's cache and origin request policies
name, no cookies, ``CloudFront-Viewer-Address`` made from the TCP peer (whatever the client
sent is dropped), and the api origin's custom headers, the origin secret among them. So a
parameter or header the template forgets fails locally as it would behind CloudFront.

When the bucket (moto server) or the API cannot be reached, the answer is a Danish 503 or
502 page (JSON for an API client), never a dropped connection. See docs/site.md.
"""

from __future__ import annotations

import argparse
import html
import http.client
import json
import re
import sys
import threading
import traceback
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from chalicelib.site.headers import security_headers

API_PREFIX = "/api"
API_BEHAVIOUR = "/api/*"
OUTBOX_PATH = "/_outbox"
# Headers CloudFront makes itself; of them, the site server makes the viewer's address.
VIEWER_ADDRESS = "cloudfront-viewer-address"
# Never taken from the viewer: they belong to one connection, or the proxy sets them.
_NOT_FORWARDED = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding",
                            "te", "trailer", "upgrade", "proxy-connection", "proxy-authorization",
                            "accept-encoding", "cookie"})
_NOT_PASSED_BACK = frozenset({"content-length", "connection", "transfer-encoding", "server", "date"})
_URL = re.compile(r"https?://[^\s<>\"']+")


# -- what the distribution sends to the API ------------------------------------------------


def _chosen(value: Any) -> list[Any]:
    """A list property with ``Fn::If`` items or as a whole, as it is once the API origin exists
    (every condition's true branch; ``AWS::NoValue`` left out)."""
    if isinstance(value, dict) and "Fn::If" in value:
        value = value["Fn::If"][1]
    found: list[Any] = []
    for item in value if isinstance(value, list) else [value]:
        chosen = item["Fn::If"][1] if isinstance(item, dict) and "Fn::If" in item else item
        if chosen != {"Ref": "AWS::NoValue"}:
            found.append(chosen)
    return found


def _policy(resources: Mapping[str, Any], reference: Any, key: str) -> dict[str, Any]:
    if not (isinstance(reference, dict) and set(reference) == {"Ref"}):
        raise ValueError(f"the site server reads only the template's own policies, not {reference!r}")
    policy: dict[str, Any] = resources[reference["Ref"]]["Properties"][key]
    return policy


@dataclass(frozen=True)
class ApiForwarding:
    """What CloudFront sends the API origin for ``/api/*``: rules as (behaviour, names) pairs,
    one per policy (CloudFront forwards what either names), names of headers lower-cased."""

    query_rules: tuple[tuple[str, frozenset[str]], ...]
    header_rules: tuple[tuple[str, frozenset[str]], ...]
    # CloudFront-* headers CloudFront makes for the origin (lower-case).
    generated: frozenset[str]
    # The encodings the cache policy normalises Accept-Encoding to, in CloudFront's order.
    encodings: tuple[str, ...]
    # The origin's custom headers: (name, value); a value of None is the origin secret.
    custom_headers: tuple[tuple[str, str | None], ...]

    @classmethod
    def from_template(cls, template: Mapping[str, Any] | None = None) -> ApiForwarding:
        if template is None:
            from infra.template import load_template

            template = load_template()
        resources = template["Resources"]
        (distribution,) = [r for r in resources.values() if r["Type"] == "AWS::CloudFront::Distribution"]
        config = distribution["Properties"]["DistributionConfig"]
        (behaviour,) = [b for b in _chosen(config.get("CacheBehaviors", []))
                        if b["PathPattern"] == API_BEHAVIOUR]
        cache = _policy(resources, behaviour["CachePolicyId"], "CachePolicyConfig")[
            "ParametersInCacheKeyAndForwardedToOrigin"]
        origin_request: dict[str, Any] = {}
        if "OriginRequestPolicyId" in behaviour:
            origin_request = _policy(resources, behaviour["OriginRequestPolicyId"],
                                     "OriginRequestPolicyConfig")
        for cookies in (cache.get("CookiesConfig"), origin_request.get("CookiesConfig")):
            if cookies not in (None, {"CookieBehavior": "none"}):
                raise ValueError(f"the site server forwards no cookies; the template says {cookies!r}")

        def rule(config: Mapping[str, Any] | None, behaviour_key: str, names_key: str,
                 lower: bool) -> tuple[str, frozenset[str]]:
            config = config or {}
            names = config.get(names_key, [])
            return (str(config.get(behaviour_key, "none")),
                    frozenset(str(name).lower() if lower else str(name) for name in names))

        query_rules = tuple(
            rule(source.get("QueryStringsConfig"), "QueryStringBehavior", "QueryStrings", False)
            for source in (cache, origin_request))
        header_rules = tuple(rule(source.get("HeadersConfig"), "HeaderBehavior", "Headers", True)
                             for source in (cache, origin_request))
        generated = frozenset(name for _, names in header_rules for name in names
                              if name.startswith("cloudfront-"))
        if generated - {VIEWER_ADDRESS}:
            raise ValueError(f"the site server cannot make {sorted(generated - {VIEWER_ADDRESS})}")
        encodings = tuple(name for name, flag in (("br", "EnableAcceptEncodingBrotli"),
                                                  ("gzip", "EnableAcceptEncodingGzip")) if cache.get(flag))
        (origin,) = [o for o in _chosen(config["Origins"]) if o["Id"] == behaviour["TargetOriginId"]]
        custom: list[tuple[str, str | None]] = []
        for header in origin.get("OriginCustomHeaders", []):
            value = header["HeaderValue"]
            if isinstance(value, str) and "{{resolve:" not in value:
                custom.append((str(header["HeaderName"]), value))
            elif "/origin-secret}}" in json.dumps(value):
                custom.append((str(header["HeaderName"]), None))
            else:
                raise ValueError(f"the site server cannot stand in for {header['HeaderName']}: {value!r}")
        return cls(query_rules=query_rules, header_rules=header_rules, generated=generated,
                   encodings=encodings, custom_headers=tuple(custom))

    @staticmethod
    def _passes(rules: tuple[tuple[str, frozenset[str]], ...], name: str) -> bool:
        for behaviour, names in rules:
            if behaviour in ("all", "allViewer", "allViewerAndWhitelistCloudFront"):
                return True
            if behaviour == "whitelist" and name in names:
                return True
            if behaviour == "allExcept" and name not in names:
                return True
        return False

    def query(self, raw: str) -> str:
        """The query string as CloudFront passes it on: the named parameters, bytes unchanged."""
        kept = [part for part in raw.split("&")
                if part and self._passes(self.query_rules, unquote_plus(part.split("=", 1)[0]))]
        return "&".join(kept)

    def headers(self, viewer: Message, peer: tuple[str, int], origin_secret: str | None) -> dict[str, str]:
        """The request headers CloudFront sends the origin for a viewer's request from ``peer``."""
        custom = {name.lower() for name, _ in self.custom_headers}
        found: dict[str, str] = {}
        for name, value in viewer.items():
            lower = name.lower()
            if (lower in _NOT_FORWARDED or lower.startswith("cloudfront-") or lower in custom
                    or not self._passes(self.header_rules, lower)):
                continue
            found[name] = f"{found[name]}, {value}" if name in found else value
        if not self._passes(self.header_rules, "user-agent"):
            found["User-Agent"] = "Amazon CloudFront"  # what CloudFront sends when it is not forwarded
        if VIEWER_ADDRESS in self.generated:
            found["CloudFront-Viewer-Address"] = f"{peer[0]}:{peer[1]}"
        accepted = {part.split(";", 1)[0].strip().lower()
                    for part in (viewer.get("Accept-Encoding") or "").split(",")}
        chosen = [encoding for encoding in self.encodings if encoding in accepted]
        if chosen:
            found["Accept-Encoding"] = ",".join(chosen)
        for name, fixed in self.custom_headers:
            sent = fixed if fixed is not None else origin_secret
            if sent is not None:
                found[name] = sent
        return found


# -- the server --------------------------------------------------------------------------


def _page(heading: str, message: str) -> bytes:
    """A bare Danish page: no stylesheet, which lives in the bucket that may be away."""
    heading, message = html.escape(heading, quote=False), html.escape(message, quote=False)
    return ("<!doctype html><html lang=\"da\"><head><meta charset=\"utf-8\">"
            f"<title>{heading}</title>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>"
            f"<body><main><h1>{heading}</h1><p>{message}</p></main></body></html>").encode()


def _say(message: str) -> None:
    print(f"site server: {message}", file=sys.stderr, flush=True)


class SiteHandler(BaseHTTPRequestHandler):
    server_version = "borgerdialog-site"
    bucket: str = ""
    api: str = ""
    moto_url: str | None = None
    origin_secret: str | None = None
    forwarding: ApiForwarding
    s3: Any = None
    _answered = False

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
        self._answered = False
        path = urlsplit(self.path).path
        try:
            if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                self._proxy(send_body=send_body)
            elif self.command == "POST":
                self._send(405, b"", {"Allow": "GET, HEAD", "Content-Type": "text/plain"}, send_body)
            elif path == OUTBOX_PATH:
                self._outbox(send_body=send_body)
            else:
                self._static(path, send_body=send_body)
        except Exception:
            # A bug here: say so on the console with its traceback, and answer the browser.
            _say(f"{self.command} {path} failed:\n{traceback.format_exc()}")
            if not self._answered:
                page = _page("Der skete en fejl",
                             "Den lokale site-server fejlede; se konsollen, hvor make run kører.")
                headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
                self._send(500, page, headers, send_body)

    def _send(self, status: int, body: bytes, headers: Mapping[str, str], send_body: bool) -> None:
        self._answered = True
        self.send_response(status)
        for name, value in {**headers, **security_headers(local_http=True)}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _wants_page(self) -> bool:
        return "text/html" in (self.headers.get("Accept") or "").lower()

    def _unreachable(self, status: int, heading: str, message: str, *, api: bool, send_body: bool) -> None:
        """502/503: a page for a browser; for an API client the API's ``{"Code", "Message"}``."""
        headers = {"Cache-Control": "no-store", "Retry-After": "5"}
        if api and not self._wants_page():
            code = "BadGateway" if status == 502 else "ServiceUnavailable"
            body = json.dumps({"Code": code, "Message": message}, ensure_ascii=False).encode()
            self._send(status, body, {**headers, "Content-Type": "application/json; charset=utf-8"},
                       send_body)
            return
        self._send(status, _page(heading, message), {**headers, "Content-Type": "text/html; charset=utf-8"},
                   send_body)

    def _bucket_away(self, problem: Exception, *, send_body: bool) -> None:
        _say(f"the bucket on moto server ({self.moto_url}) cannot be reached: {problem!r}")
        self._unreachable(503, "Siden kan ikke vises lige nu",
                          "Den lokale site-server kan ikke nå sitets filer på moto server "
                          f"({self.moto_url}). Tjek, om make run stadig kører; dens log siger, hvorfor "
                          "moto server stoppede.", api=False, send_body=send_body)

    # -- the bucket --------------------------------------------------------------------------

    def _get(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            found: dict[str, Any] = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as problem:
            if problem.response.get("Error", {}).get("Code") == "NoSuchKey":
                return None
            raise
        return found

    def _static(self, path: str, *, send_body: bool) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = "index.html" if path in ("", "/") else path.lstrip("/").rstrip("/")
        try:
            found = self._get(key) if ".." not in key else None
            status = 200
            if found is None:
                status, found = 404, self._get("404.html")
            body = found["Body"].read() if found is not None else b""
        except (BotoCoreError, ClientError) as problem:
            self._bucket_away(problem, send_body=send_body)
            return
        if found is None:
            self._send(404, b"Not found (run the publish command first)\n",
                       {"Content-Type": "text/plain; charset=utf-8"}, send_body)
            return
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
        split, api = urlsplit(self.path), urlsplit(self.api)
        query = self.forwarding.query(split.query)
        target = api.path + split.path[len(API_PREFIX):] + (f"?{query}" if query else "")
        headers = self.forwarding.headers(self.headers, self.client_address, self.origin_secret)
        connection = http.client.HTTPConnection(api.hostname or "127.0.0.1", api.port or 80, timeout=60)
        try:
            # skip_accept_encoding: the viewer's (normalised) Accept-Encoding is in `headers` or absent.
            connection.putrequest(self.command, target or "/", skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value)
            if data is not None or self.command == "POST":
                connection.putheader("Content-Length", str(len(data or b"")))
            connection.endheaders(data)
            response = connection.getresponse()
            status, answer, body = response.status, response.getheaders(), response.read()
        except (OSError, http.client.HTTPException) as problem:
            _say(f"the API ({self.api}) cannot be reached: {problem!r}")
            self._unreachable(502, "API'et svarer ikke",
                              "API'et svarer ikke lige nu: den lokale site-server kan ikke nå chalice local "
                              f"({self.api}). Tjek, om make run stadig kører; dens log siger, hvorfor "
                              "chalice local stoppede.", api=True, send_body=send_body)
            return
        finally:
            connection.close()
        keep = {name: value for name, value in answer if name.lower() not in _NOT_PASSED_BACK}
        self._send(status, body, keep, send_body)

    # -- the outbox --------------------------------------------------------------------------

    def _outbox(self, *, send_body: bool) -> None:
        from devtools import outbox

        try:
            mails = outbox.read(self.moto_url) if self.moto_url else []
        except (urllib.error.URLError, OSError) as problem:
            self._bucket_away(problem, send_body=send_body)
            return
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


def _bucket_client(moto_url: str | None) -> Any:
    """The site server's own S3 client: few retries and short connects, so a stopped moto
    server is a 503 page within seconds, not a browser waiting on botocore's back-off."""
    import boto3
    from botocore.config import Config

    from chalicelib.core import aws

    config = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2,
                    read_timeout=30)
    return boto3.session.Session().client("s3", endpoint_url=moto_url, region_name=aws.region(),
                                          config=config)


def serve(port: int, *, bucket: str, api: str, moto_url: str | None, origin_secret: str | None = None,
          forwarding: ApiForwarding | None = None) -> ThreadingHTTPServer:
    """Start serving on 127.0.0.1:``port`` (0: a free port) in a daemon thread. ``origin_secret``
    is what CloudFront would send the API (the app's ``ORIGIN_SECRET``); without it the API
    never trusts the viewer address this server sends."""
    handler = type("BoundSiteHandler", (SiteHandler,), {
        "bucket": bucket, "api": api.rstrip("/"), "moto_url": moto_url, "origin_secret": origin_secret,
        "forwarding": forwarding or ApiForwarding.from_template(), "s3": _bucket_client(moto_url)})
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
    parser.add_argument("--origin-secret", default=os.environ.get("ORIGIN_SECRET"),
                        help="the API's ORIGIN_SECRET (default: from the environment)")
    args = parser.parse_args()
    server = serve(args.port, bucket=get_settings().bucket, api=args.api,
                   moto_url=os.environ.get("AWS_ENDPOINT_URL"), origin_secret=args.origin_secret)
    print(f"site on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
