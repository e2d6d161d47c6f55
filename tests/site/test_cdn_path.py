"""The local path is CDN-shaped: the site server passes ``/api/*`` to the API the way the
distribution's ``/api/*`` behaviour does (infra/template.yaml), so what the API sees of a
visitor locally is what it sees behind CloudFront. Over TCP, from other loopback addresses
(Linux routes all of 127.0.0.0/8 to lo), against chalice local and the tests' moto server.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from chalicelib.captcha.work import solve
from chalicelib.core import cdn
from chalicelib.core.config import get_settings
from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import ConsentEvent
from devtools.emulators import moto_server
from devtools.emulators.moto_server import free_port
from devtools.site_server import ApiForwarding, serve
from devtools.stack import LocalStack
from infra.template import load_template
from tests.support.fixtures import ROOT
from tests.support.site import call

ANSWER = os.environ["CAPTCHA_TEST_ANSWER"]
FORGED = "203.0.113.9:4711"


def signup(base: str, prefix: str, email: str, *, source: str, headers: dict[str, str] | None = None) -> int:
    """The site's script's signup: a challenge, its proof of work, then the JSON post; returns
    the post's status."""
    json_headers = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
    status, _, body = call(base, "POST", f"{prefix}/captcha", source=source, headers=json_headers)
    assert status == 201, body
    made = json.loads(body)
    fields = {"email": email, "captcha_id": made["captcha_id"], "captcha_answer": ANSWER,
              "topics": ["metoder"], "consent": True, "proof_of_work": solve(made["proof_of_work"])}
    status, _, body = call(base, "POST", f"{prefix}/subscriptions", source=source, headers=json_headers,
                           body=json.dumps(fields).encode())
    assert status in (202, 429), body
    return status


def ledger_ip(email: str) -> str | None:
    [event] = ConsentEvent.query(tokens.subscriber_id(email))
    return event.source_ip


@pytest.fixture(scope="module")
def local(moto: moto_server.MotoServer) -> Iterator[LocalStack]:
    stack = LocalStack.start(log_dir=ROOT / ".pytest_cache" / f"cdn-path-{os.getpid()}", aws=moto,
                             LOG_LEVEL="WARNING", SIGNUP_IP_LIMIT_PER_HOUR="2")
    yield stack
    stack.stop()


# -- what reaches the API ---------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """An origin that answers 200 and keeps what it was sent."""

    seen: ClassVar[list[tuple[str, list[tuple[str, str]]]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, list(self.headers.items())))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.mark.no_aws
def test_the_api_gets_only_what_the_distributions_policies_name() -> None:
    origin = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    site = serve(0, bucket="unused", api=f"http://127.0.0.1:{origin.server_address[1]}", moto_url=None,
                 origin_secret="hemmelig-" + "x" * 32)
    try:
        status, _, _ = call(
            f"http://127.0.0.1:{site.server_address[1]}", "GET",
            "/api/subscriptions/result?status=accepted&utm_source=nyhedsbrev&token=a%2Bb&limit=5&fbclid=x",
            source="127.0.0.2",
            headers={"Accept": "text/html", "User-Agent": "Testbrowser/1.0", "Cookie": "session=1",
                     "Authorization": "Bearer x", "Accept-Language": "da", "If-None-Match": '"abc"',
                     "Accept-Encoding": "gzip, deflate, br", "X-Forwarded-For": "198.51.100.1",
                     cdn.VIEWER_HEADER: FORGED, cdn.ORIGIN_HEADER: "gættet"})
    finally:
        site.shutdown()
        site.server_close()
        origin.shutdown()
        origin.server_close()
    assert status == 200
    [(path, headers)] = _Recorder.seen
    # The cache policy's whitelist, in the viewer's order and bytes; utm_source and fbclid never arrive.
    assert path == "/subscriptions/result?status=accepted&token=a%2Bb&limit=5"
    sent = {name.lower(): value for name, value in headers}
    resources = load_template()["Resources"]
    named = {name.lower() for name in resources["ApiOriginRequestPolicy"]["Properties"][
        "OriginRequestPolicyConfig"]["HeadersConfig"]["Headers"]}
    # Accept-Encoding as the cache policy normalises it, Host for the origin itself.
    assert set(sent) == (named & {"accept", "user-agent", cdn.VIEWER_HEADER.lower()}) | {
        "accept-encoding", "host", cdn.ORIGIN_HEADER.lower()}
    assert sent[cdn.VIEWER_HEADER.lower()].startswith("127.0.0.2:")  # the TCP peer, not the forged one
    assert sent[cdn.ORIGIN_HEADER.lower()] == "hemmelig-" + "x" * 32
    assert sent["accept-encoding"] == "br,gzip"
    assert ApiForwarding.from_template().custom_headers == ((cdn.ORIGIN_HEADER, None),)


# -- the viewer address, end to end -----------------------------------------------------------


def test_the_ledger_and_the_per_ip_limit_see_the_viewer_not_the_proxy(local: LocalStack) -> None:
    """Every request reaches chalice local from the site server's 127.0.0.1; the visitors are
    127.0.0.2 and 127.0.0.3. The limit is 2 signups an hour per address (the stack's setting)."""
    site, api = local.site_url, "/api"
    forged = {cdn.VIEWER_HEADER: FORGED}  # replaced by the site server, as by CloudFront
    first = [signup(site, api, f"to{n}@example.org", source="127.0.0.2", headers=forged) for n in range(3)]
    assert first == [202, 202, 429]
    assert signup(site, api, "tre@example.org", source="127.0.0.3") == 202
    assert ledger_ip("to0@example.org") == "127.0.0.2"
    assert ledger_ip("tre@example.org") == "127.0.0.3"


def test_straight_to_chalice_local_no_one_chooses_their_viewer_address(local: LocalStack) -> None:
    """Around the site server (as around CloudFront, to API Gateway's own address) a forged
    viewer address, with no or a wrong origin secret, is ignored: the ledger has the real peer."""
    assert signup(local.chalice_url, "", "uden@example.org", source="127.0.0.2",
                  headers={cdn.VIEWER_HEADER: FORGED}) == 202
    assert signup(local.chalice_url, "", "forkert@example.org", source="127.0.0.3",
                  headers={cdn.VIEWER_HEADER: FORGED, cdn.ORIGIN_HEADER: "gættet"}) == 202
    assert ledger_ip("uden@example.org") == "127.0.0.2"
    assert ledger_ip("forkert@example.org") == "127.0.0.3"


# -- when a part of the stack is away ---------------------------------------------------------


@pytest.mark.no_aws
def test_without_moto_server_or_the_api_the_site_answers_danish_pages_quickly() -> None:
    dead_moto, dead_api = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    site = serve(0, bucket=get_settings().bucket, api=dead_api, moto_url=dead_moto)
    base = f"http://127.0.0.1:{site.server_address[1]}"
    page = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    try:
        started = time.monotonic()
        status, headers, body = call(base, "GET", "/artikler", headers=page)
        assert status == 503 and headers["Content-Type"].startswith("text/html")
        assert '<html lang="da">' in body.decode() and "Siden kan ikke vises lige nu" in body.decode()
        assert headers["Retry-After"] and headers["Content-Security-Policy"]
        status, _, body = call(base, "GET", "/_outbox", headers=page)
        assert status == 503 and "moto server" in body.decode()

        status, headers, body = call(base, "GET", "/api/nyhedsbrev", headers=page)
        assert status == 502 and "API'et svarer ikke" in body.decode()
        status, headers, body = call(base, "GET", "/api/articles", headers={"Accept": "application/json"})
        assert status == 502 and headers["Content-Type"].startswith("application/json")
        assert json.loads(body)["Code"] == "BadGateway" and "chalice local" in json.loads(body)["Message"]
        assert time.monotonic() - started < 15
    finally:
        site.shutdown()
        site.server_close()
