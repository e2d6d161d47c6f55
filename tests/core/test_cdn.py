"""Who asked, behind the CDN (chalicelib/core/cdn.py): the viewer address counts only with the
origin secret, and where the stage requires the CDN a request without it is refused.

Through the app's test client; tests/site/test_cdn_path.py drives the same through the local
site server and chalice local over TCP.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.captcha.work import solve
from chalicelib.core import cdn, config
from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import ConsentEvent
from tests.support.subscriptions import (
    ANSWER,
    FORM_HEADERS,
    JSON_HEADERS,
    held_items,
    settings_from_env,
)

SECRET = secrets.token_hex(32)
THROUGH_CDN = {cdn.ORIGIN_HEADER: SECRET}


def _signup(client: Client, email: str, headers: dict[str, str]) -> Any:
    challenge = client.http.post("/captcha", headers=headers)
    assert challenge.status_code == 201, challenge.body
    made = json.loads(challenge.body)
    fields = {"email": email, "captcha_id": made["captcha_id"], "captcha_answer": ANSWER,
              "topics": ["metoder"], "consent": True, "proof_of_work": solve(made["proof_of_work"])}
    return client.http.post("/subscriptions", headers={**JSON_HEADERS, **headers},
                            body=json.dumps(fields).encode())


def _ledger_ip(email: str) -> str | None:
    [event] = ConsentEvent.query(tokens.subscriber_id(email))
    return event.source_ip


@pytest.fixture
def with_origin_secret() -> Iterator[None]:
    """The app as the local stack runs it: an origin secret, the CDN not required."""
    with settings_from_env(ORIGIN_SECRET=SECRET):
        yield


@pytest.fixture
def cdn_required() -> Iterator[None]:
    """The app as a deployed stage runs it (REQUIRE_CDN on), with the secret in the environment."""
    with settings_from_env(ORIGIN_SECRET=SECRET, REQUIRE_CDN="true"):
        yield


# -- the viewer address -----------------------------------------------------------------------


@pytest.mark.no_aws
@pytest.mark.parametrize(("header", "expected"), [
    ("198.51.100.23:52314", "198.51.100.23"),
    ("2001:db8::1:46532", "2001:db8::1"),  # IPv6: the port is after the last colon
    ("[2001:db8::7]:443", "2001:db8::7"),
    ("2001:0db8:0000:0000:0000:0000:0000:0001:80", "2001:db8::1"),
    ("198.51.100.23", None),  # no port: not CloudFront's format
    ("hallo:80", None),
    ("198.51.100.23:port", None),
    ("", None),
    (None, None),
])
def test_viewer_address_is_read_without_its_port(header: str | None, expected: str | None) -> None:
    assert cdn.viewer_ip(header) == expected


def test_with_the_origin_secret_the_ledger_records_the_viewer_not_the_edge(
        client: Client, with_origin_secret: None) -> None:
    assert _signup(client, "v4@example.org", {**THROUGH_CDN,
                   cdn.VIEWER_HEADER: "198.51.100.23:52314"}).status_code == 202
    assert _signup(client, "v6@example.org", {**THROUGH_CDN,
                   cdn.VIEWER_HEADER: "2001:db8::1:46532"}).status_code == 202
    assert _ledger_ip("v4@example.org") == "198.51.100.23"
    assert _ledger_ip("v6@example.org") == "2001:db8::1"


@pytest.mark.parametrize("sent", [None, "forkert", SECRET[:-1], SECRET + "x"],
                         ids=["none", "wrong", "one-character-short", "one-character-long"])
def test_without_the_right_secret_a_viewer_address_is_ignored(
        client: Client, with_origin_secret: None, sent: str | None) -> None:
    headers = {cdn.VIEWER_HEADER: "203.0.113.66:4444"}
    if sent is not None:
        headers[cdn.ORIGIN_HEADER] = sent
    assert _signup(client, "forfalsket@example.org", headers).status_code == 202
    assert _ledger_ip("forfalsket@example.org") == "127.0.0.1"  # API Gateway's sourceIp


def test_without_a_configured_secret_no_header_is_trusted(client: Client) -> None:
    """The local stage as the test client runs it: no origin secret, so nothing sent is one."""
    headers = {cdn.ORIGIN_HEADER: "", cdn.VIEWER_HEADER: "203.0.113.66:4444"}
    assert _signup(client, "lokal@example.org", headers).status_code == 202
    assert _ledger_ip("lokal@example.org") == "127.0.0.1"


def test_the_per_ip_limit_counts_each_viewer_behind_one_edge(client: Client) -> None:
    """Every request here comes from one address (the edge); the viewers are two."""
    with settings_from_env(ORIGIN_SECRET=SECRET, SIGNUP_IP_LIMIT_PER_HOUR="2"):
        first = {**THROUGH_CDN, cdn.VIEWER_HEADER: "198.51.100.1:1000"}
        second = {**THROUGH_CDN, cdn.VIEWER_HEADER: "198.51.100.2:1000"}
        assert [_signup(client, f"a{n}@example.org", first).status_code for n in range(3)] == [202, 202, 429]
        assert _signup(client, "b@example.org", second).status_code == 202


# -- requests that bypass the CDN -------------------------------------------------------------


def test_where_the_cdn_is_required_a_request_without_the_secret_is_refused(
        client: Client, cdn_required: None) -> None:
    for headers in ({}, {cdn.ORIGIN_HEADER: "forkert"}, {cdn.VIEWER_HEADER: "198.51.100.23:1"}):
        response = client.http.get("/articles", headers=headers)
        assert response.status_code == 403, headers
        body = json.loads(response.body)
        assert body["Code"] == "NotThroughSite"
        assert "gennem borgerdialogs hjemmeside" in body["Message"]
        assert response.headers["Cache-Control"] == "no-store"
    assert client.http.get("/articles", headers=THROUGH_CDN).status_code == 200


def test_a_refused_signup_writes_nothing_and_a_browser_gets_a_danish_page(
        client: Client, cdn_required: None) -> None:
    refused = client.http.post("/captcha")
    assert refused.status_code == 403
    page = client.http.post("/subscriptions", headers={**FORM_HEADERS, "accept": "text/html,*/*;q=0.8",
                                                       cdn.VIEWER_HEADER: "198.51.100.23:1"},
                            body=b"email=a%40example.org&captcha_id=x&captcha_answer=K7M2P&consent=on")
    assert page.status_code == 403
    assert page.headers["Content-Type"].startswith("text/html")
    text = page.body.decode()
    assert '<html lang="da"' in text and "Brug borgerdialogs hjemmeside" in text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert {name: items for name, items in held_items().items() if items} == {}

    assert _signup(client, "igennem@example.org", {**THROUGH_CDN,
                   cdn.VIEWER_HEADER: "198.51.100.23:1"}).status_code == 202
    assert _ledger_ip("igennem@example.org") == "198.51.100.23"


def test_required_cdn_without_a_secret_fails_loudly_and_shows_nothing(client: Client) -> None:
    with settings_from_env(REQUIRE_CDN="true"):
        response = client.http.get("/categories")
    assert response.status_code == 500
    assert "ORIGIN_SECRET" not in response.body.decode()


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.no_aws
def test_the_cdn_is_required_in_deployed_stages_unless_switched_off() -> None:
    for stage in config.DEPLOYED_STAGES:
        assert config.load({"STAGE": stage, "APP_SECRET": "x" * 40}).require_cdn
        assert not config.load({"STAGE": stage, "APP_SECRET": "x" * 40, "REQUIRE_CDN": "false"}).require_cdn
    assert not config.load({"STAGE": "local"}).require_cdn
    assert config.load({"STAGE": "local", "REQUIRE_CDN": "true"}).require_cdn
    with pytest.raises(config.ConfigError, match="ORIGIN_SECRET"):
        config.load({"STAGE": "prod", "APP_SECRET": "x" * 40}).origin_secret  # noqa: B018
    with pytest.raises(config.ConfigError, match="ORIGIN_SECRET must be at least 32"):
        config.load({"STAGE": "local", "ORIGIN_SECRET": "kort"})
    assert SECRET not in repr(config.load({"STAGE": "local", "ORIGIN_SECRET": SECRET}))
