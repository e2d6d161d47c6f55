"""The API's own signup page: the form with a fresh CAPTCHA, for visitors without JavaScript."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from tests.support.faults import SLOW_DOWN, FaultInjector
from tests.support.site import parse_html


def _form_fields(document: Any) -> dict[str, str]:
    return {str(e.get("name")): str(e.get("value") or "") for e in document.iter("input")}


def test_signup_page_carries_a_fresh_challenge_and_is_never_cached(client: Client) -> None:
    settings = get_settings()
    first = client.http.get("/nyhedsbrev")
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "text/html; charset=utf-8"
    assert first.headers["Cache-Control"] == "no-store"
    assert first.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in first.headers["Content-Security-Policy"]
    document = parse_html(first.body)
    form = document.find(".//form")
    assert form.get("method") == "post" and form.get("action") == f"{settings.api_url}/subscriptions"
    assert form.get("hidden") is None  # usable without any script
    captcha_id = _form_fields(document)["captcha_id"]
    image = document.find(".//img[@data-captcha-image]").get("src")
    assert image == f"{settings.site_url}/captcha/{captcha_id}.png"
    s3: Any = aws.client("s3")
    stored = s3.head_object(Bucket=settings.bucket, Key=f"captcha/{captcha_id}.png")
    assert stored["ContentType"] == "image/png"
    audio = [a.get("href") for a in document.iter("a") if a.get("href", "").endswith(".wav")]
    assert audio == [f"{settings.site_url}/captcha/{captcha_id}.wav"]
    assert document.find("head/meta[@name='robots']").get("content") == "noindex"
    second = _form_fields(parse_html(client.http.get("/nyhedsbrev").body))["captcha_id"]
    assert second != captcha_id


def test_signup_page_says_so_when_no_challenge_can_be_made(client: Client, faults: FaultInjector) -> None:
    faults.inject("s3.PutObject", SLOW_DOWN)
    response = client.http.get("/nyhedsbrev")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    document = parse_html(response.body)
    alert = document.find(".//p[@role='alert']")
    assert alert.text == "Vi kunne ikke lave et billede med tegn lige nu. Prøv igen om lidt."
