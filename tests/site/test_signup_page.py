"""The API's own signup page: the form with a fresh CAPTCHA, for visitors without JavaScript;
its words; and the same page again, with a new picture, after a refused answer."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

from chalice.test import Client

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from tests.support.faults import SLOW_DOWN, FaultInjector
from tests.support.site import parse_html
from tests.support.subscriptions import settings_from_env


def _form_fields(document: Any) -> dict[str, str]:
    form = document.find(".//form[@method='post']")  # not the header's search box
    return {str(e.get("name")): str(e.get("value") or "") for e in form.iter("input")}


def _picture(client: Client) -> str:
    page = client.http.get("/nyhedsbrev")
    assert page.status_code == 200
    return str(parse_html(page.body).find(".//img[@data-captcha-image]").get("src"))


def test_the_picture_follows_a_changed_site_address_and_only_while_it_is_changed(client: Client) -> None:
    """A deployment's SITE_URL is the picture's address; a test's change of it ends with the
    test (tests run in any order, several to a process under pytest-xdist: docs/testing.md)."""
    _picture(client)  # whatever a test before made of the app's CAPTCHA service
    with settings_from_env(SITE_URL="https://borgerdialog.dk", API_URL="https://borgerdialog.dk/api"):
        assert _picture(client).startswith("https://borgerdialog.dk/captcha/")
    assert _picture(client).startswith(f"{get_settings().site_url}/captcha/")


def test_signup_page_carries_a_fresh_challenge_and_is_never_cached(client: Client) -> None:
    settings = get_settings()
    first = client.http.get("/nyhedsbrev")
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "text/html; charset=utf-8"
    assert first.headers["Cache-Control"] == "no-store"
    assert first.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in first.headers["Content-Security-Policy"]
    document = parse_html(first.body)
    form = document.find(".//form[@method='post']")  # the header's search box is a GET form
    assert form.get("method") == "post" and form.get("action") == f"{settings.api_url}/subscriptions"
    assert form.get("hidden") is None  # usable without any script
    captcha_id = _form_fields(document)["captcha_id"]
    image = document.find(".//img[@data-captcha-image]")
    assert image.get("src") == f"{settings.site_url}/captcha/{captcha_id}.png"
    s3: Any = aws.client("s3")
    stored = s3.get_object(Bucket=settings.bucket, Key=f"captcha/{captcha_id}.png")
    assert stored["ContentType"] == "image/png"
    from PIL import Image

    # Shown at its own pixel size: the page gives the picture's real width and height.
    with Image.open(io.BytesIO(stored["Body"].read())) as picture:
        assert (int(image.get("width")), int(image.get("height"))) == picture.size
    audio = [a.get("href") for a in document.iter("a") if a.get("href", "").endswith("/audio")]
    assert audio == [f"{settings.api_url}/captcha/{captcha_id}/audio"]
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


def _visible_text(document: Any) -> str:
    body = document.find("body")
    hidden = {id(e) for e in body.iter() if e.tag in ("script", "style")}
    return " ".join(" ".join(t.split()) for e in body.iter() if id(e) not in hidden
                    for t in (e.text, e.tail) if t and t.strip())


def test_the_form_speaks_danish_not_drupal(client: Client) -> None:
    """"CAPTCHA" and "Image CAPTCHA" were the old Drupal site's jargon (issue 14)."""
    from chalicelib.site.pages import signup_page

    settings = get_settings()
    for body in (client.http.get("/nyhedsbrev").body, signup_page(settings.site_url, settings.api_url).encode()):
        document = parse_html(body)
        text = _visible_text(document)
        assert "captcha" not in text.lower()
        assert document.find(".//fieldset/legend[.='Er du et menneske?']") is not None
        assert document.find(".//label[@for='captcha_answer']").text == "Tegnene fra billedet"
        alt = document.find(".//img[@data-captcha-image]").get("alt")
        assert "captcha" not in alt.lower()


def test_a_refused_answer_without_javascript_shows_the_form_again_with_a_new_picture(client: Client) -> None:
    """The message stands beside the answer field and says what happened: a new picture is
    there (not "du har 2 forsøg tilbage" about a picture no longer shown); what the visitor
    filled in stays, so only the new characters need typing."""
    from tests.support.captcha import fixed_answer

    first = _form_fields(parse_html(client.http.get("/nyhedsbrev").body))
    fields = [("email", "uden.js@example.org"), ("captcha_id", first["captcha_id"]), ("captcha_answer", "22222"),
              ("topics", "metoder"), ("consent", "yes"), ("consent_version", first["consent_version"])]
    form = {"content-type": "application/x-www-form-urlencoded"}
    response = client.http.post("/subscriptions", headers=form, body=urlencode(fields).encode())
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    document = parse_html(response.body)
    again = _form_fields(document)
    assert again["captcha_id"] not in ("", first["captcha_id"])  # a new picture
    message = document.find(".//p[@id='captcha-error']")
    assert message.text == "Tegnene passede ikke. Her er et nyt billede: skriv tegnene fra det."
    assert message.get("hidden") is None and message.get("role") == "alert"
    answer = document.find(".//input[@id='captcha_answer']")
    assert answer.get("aria-invalid") == "true" and "captcha-error" in answer.get("aria-describedby")
    assert again["captcha_answer"] == "" and again["email"] == "uden.js@example.org"
    checked = {e.get("value") for e in document.iter("input") if e.get("name") == "topics" and e.get("checked") is not None}
    assert checked == {"metoder"}
    assert document.find(".//input[@name='consent']").get("checked") is not None

    # The new picture's characters, sent with the form as it came back, sign up.
    retry = [("email", again["email"]), ("captcha_id", again["captcha_id"]), ("captcha_answer", fixed_answer()),
             ("topics", "metoder"), ("consent", "yes"), ("consent_version", again["consent_version"])]
    done = client.http.post("/subscriptions", headers=form, body=urlencode(retry).encode())
    assert done.status_code == 303 and "status=" in done.headers["Location"]
