"""The per-IP limit on new challenges (chalicelib/captcha/limit.py): POST /captcha and the
no-JavaScript signup page each count the visitor's address in a sliding hour; over the limit,
429 + Retry-After (JSON, or the Danish page) and nothing is drawn or stored. The tests set the
limiter's clock; none of them sleeps. See docs/captcha.md#limits-on-challenges."""

from __future__ import annotations

import json
import math
import secrets
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib.captcha import limit
from chalicelib.captcha.model import ChallengeItem
from chalicelib.core import cdn
from chalicelib.core.config import get_settings
from chalicelib.limits.limiter import Limiter
from tests.support.faults import INTERNALS, SLOW_DOWN, FaultInjector, assert_clean_unavailable
from tests.support.fixtures import REGION
from tests.support.subscriptions import ANSWER, post_form, settings_from_env

HOUR = 3600
T0 = 1_800_000_000.0  # the start of an hour
# The defaults (chalicelib/core/config.py); tests/conftest.py raises both for every other test.
DEFAULTS = {"CAPTCHA_IP_LIMIT_PER_HOUR": "60", "CAPTCHA_PAGE_IP_LIMIT_PER_HOUR": "6"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The challenges' limiter on a clock the test sets: ``clock[0]`` is now (epoch seconds)."""
    now = [T0]
    pinned = Limiter(key=lambda: get_settings().secret_for("ratelimit"), clock=lambda: now[0])
    monkeypatch.setattr(limit, "default_limiter", lambda: pinned)
    with settings_from_env(**DEFAULTS):
        yield now


def _pictures() -> int:
    listing = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=get_settings().bucket,
                                                                    Prefix="captcha/")
    return int(listing.get("KeyCount", 0))


def _wait_said(page: str, retry_after: int) -> bool:
    minutes = math.ceil(retry_after / 60)
    return (f"{minutes} minutter" if 1 < minutes < 60 else "et minut" if minutes <= 1 else "en time") in page


def test_post_captcha_over_the_limit_is_429_with_retry_after_and_draws_nothing(
        client: Client, clock: list[float], aws_calls: Counter[str]) -> None:
    for _ in range(60):
        assert client.http.post("/captcha").status_code == 201
    aws_calls.clear()
    refused = client.http.post("/captcha")
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= HOUR + 1
    assert refused.headers["Cache-Control"] == "no-store"
    problem = json.loads(refused.body)
    assert problem["Code"] == "TooManyRequests"
    assert "for mange billeder" in problem["Message"] and _wait_said(problem["Message"], retry_after)
    # Refused by the count's own condition: one write, no picture, no item.
    assert aws_calls == Counter({"dynamodb.UpdateItem": 1})
    assert _pictures() == 60 and ChallengeItem.count() == 60

    # The window slides: at Retry-After the next one passes, then the limit holds again.
    clock[0] += retry_after
    assert client.http.post("/captcha").status_code == 201
    assert client.http.post("/captcha").status_code == 429


def test_the_signup_page_without_javascript_is_limited_harder_with_a_danish_429_page(
        client: Client, clock: list[float]) -> None:
    """Its challenges carry no proof of work, so an address gets 6 of them an hour, whatever it
    gets from POST /captcha; a refused answer's new picture counts too."""
    for _ in range(5):
        assert client.http.get("/nyhedsbrev").status_code == 200
    # The sixth comes as the form again after a wrong answer; the seventh page is refused.
    again = post_form(client, "/subscriptions", [
        ("email", "uden.js@example.org"), ("captcha_id", secrets.token_hex(16)),
        ("captcha_answer", ANSWER), ("consent", "on")])
    assert again.status_code == 400 and 'name="captcha_id"' in again.body.decode()
    response = client.http.get("/nyhedsbrev")

    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= HOUR + 1
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = response.body.decode()
    assert '<html lang="da"' in page and "For mange billeder med tegn" in page
    assert "netforbindelse" in page and _wait_said(page, retry_after)
    assert not any(marker in page for marker in INTERNALS)
    assert ChallengeItem.count() == 6
    # A refused answer's form page over the limit is the same 429 page, not a new picture.
    over = post_form(client, "/subscriptions", [
        ("email", "uden.js@example.org"), ("captcha_id", secrets.token_hex(16)),
        ("captcha_answer", ANSWER), ("consent", "on")])
    assert over.status_code == 429 and "For mange billeder med tegn" in over.body.decode()
    assert ChallengeItem.count() == 6
    # The JavaScript path is counted apart (it pays with work instead).
    assert client.http.post("/captcha").status_code == 201
    clock[0] += retry_after
    assert client.http.get("/nyhedsbrev").status_code == 200


def test_each_viewer_behind_one_cdn_edge_has_its_own_count(client: Client, clock: list[float]) -> None:
    """The address is core.cdn's: the viewer's, trusted only with the origin secret."""
    secret = secrets.token_hex(32)

    def through_cdn(viewer: str) -> dict[str, str]:
        return {cdn.ORIGIN_HEADER: secret, cdn.VIEWER_HEADER: f"{viewer}:443"}

    with settings_from_env(ORIGIN_SECRET=secret, CAPTCHA_PAGE_IP_LIMIT_PER_HOUR="1"):
        assert client.http.get("/nyhedsbrev", headers=through_cdn("198.51.100.1")).status_code == 200
        assert client.http.get("/nyhedsbrev", headers=through_cdn("198.51.100.1")).status_code == 429
        assert client.http.get("/nyhedsbrev", headers=through_cdn("198.51.100.2")).status_code == 200
        # One IPv6 /64 is one household: its addresses share a count.
        assert client.http.get("/nyhedsbrev", headers=through_cdn("[2001:db8::1]")).status_code == 200
        assert client.http.get("/nyhedsbrev", headers=through_cdn("[2001:db8::2]")).status_code == 429
        # Without the secret, the header is whatever the client wrote: the edge's address counts.
        forged = {cdn.VIEWER_HEADER: "203.0.113.9:1"}
        assert client.http.get("/nyhedsbrev", headers=forged).status_code == 200
        assert client.http.get("/nyhedsbrev", headers=forged).status_code == 429


def test_a_challenge_that_aws_failed_to_make_is_not_counted(
        client: Client, clock: list[float], faults: FaultInjector) -> None:
    with settings_from_env(CAPTCHA_IP_LIMIT_PER_HOUR="1"):
        faults.inject("s3.PutObject", SLOW_DOWN, times=1)
        response = client.http.post("/captcha")
        assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
        # The count was given back: the visitor's retry is not refused for what AWS did.
        assert client.http.post("/captcha").status_code == 201
        assert client.http.post("/captcha").status_code == 429


def test_the_count_is_a_keyed_hash_not_the_address(client: Client, clock: list[float]) -> None:
    client.http.post("/captcha")
    client.http.get("/nyhedsbrev")
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    items = ddb.scan(TableName=get_settings().ratelimits_table, ConsistentRead=True)["Items"]
    keys = sorted(item["key"]["S"] for item in items)
    assert [key.split("#")[0] for key in keys] == ["captcha-ip", "captcha-page-ip"]
    assert all(len(key.split("#")[1]) == 32 and "." not in key and ":" not in key for key in keys)
