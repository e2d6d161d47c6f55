"""The links in mails: confirm, unsubscribe (RFC 8058 one-click), export and erase (through
the link mailed to the subscribed address: tests/newsletter/test_rights_links.py).

Every link opens a page whose button POSTs; opening a link (as mail scanners do) changes
nothing. The actions are idempotent and race-safe.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import CONFIRMED, PENDING, UNSUBSCRIBED, Subscriber
from tests.support.subscriptions import (
    Outbox,
    confirm_link,
    held_items,
    page_form,
    path_of,
    post_form,
    post_json,
    rights_links,
    subscribe,
    token_of,
)


def _signed_up(client: Client, outbox: Outbox, email: str = "eva@example.org") -> str:
    """Sign up ``email``; the confirmation link from the mail."""
    assert subscribe(client, email).status_code == 202
    [mail] = [m for m in outbox() if m.recipients == [email]]
    return confirm_link(mail)


def _status(email: str = "eva@example.org") -> str:
    return str(Subscriber.get(tokens.subscriber_id(email), consistent_read=True).status)


def _events(email: str = "eva@example.org") -> list[str]:
    sid = tokens.subscriber_id(email)
    return [item["event"]["S"] for item in held_items()["ledger"] if item["subject"]["S"] == sid]


def _assert_safe_page(response: Any) -> str:
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    html = response.body.decode()
    assert '<html lang="da">' in html
    # Scripts only from files (the site's progressive enhancement); no inline script or style.
    assert all(" src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    assert "<style" not in html and " style=" not in html
    return str(html)


def test_opening_the_confirm_link_ten_times_changes_nothing(client: Client, outbox: Outbox) -> None:
    link = _signed_up(client, outbox)
    before = held_items()
    for _ in range(10):
        page = client.http.get(path_of(link))
        assert page.status_code == 200
    html = _assert_safe_page(page)
    assert 'method="post"' in html and "Bekræft tilmelding" in html
    assert f'value="{token_of(link)}"' in html
    assert _status() == PENDING
    assert held_items() == before


@pytest.mark.dynamodb  # conditions and transactions on AWS's own emulator too
def test_twenty_parallel_confirms_change_state_once_and_all_succeed(
        client: Client, outbox: Outbox) -> None:
    # All twenty requests are identical, so the Chalice app's one shared current_request
    # cannot mix them up; DynamoDB's conditions decide which one changes the state.
    link = _signed_up(client, outbox)
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: client.http.post(path_of(link)), range(20)))
    assert all(200 <= r.status_code < 300 for r in responses), [r.body for r in responses]
    outcomes = Counter(json.loads(r.body)["status"] for r in responses)
    assert outcomes == Counter({"confirmed": 1, "already-confirmed": 19})
    assert _events() == ["requested", "confirmed"]
    subscriber = Subscriber.get(tokens.subscriber_id("eva@example.org"))
    assert subscriber.status == CONFIRMED
    assert subscriber.digest_partition == "confirmed"
    assert subscriber.expires_ttl is None  # confirmed subscribers do not expire


def test_confirm_counts_its_aws_calls(client: Client, outbox: Outbox, aws_calls: Counter[str]) -> None:
    link = _signed_up(client, outbox)
    aws_calls.clear()
    assert client.http.post(path_of(link)).status_code == 200
    # The welcome mail's claim is part of the transaction; the welcome itself is the mail.
    assert aws_calls == Counter({"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1,
                                 "sesv2.SendEmail": 1})
    aws_calls.clear()
    assert client.http.get(path_of(link)).status_code == 200
    assert aws_calls == Counter({"dynamodb.GetItem": 1})


def test_forged_expired_and_outdated_confirm_links_are_refused(client: Client, outbox: Outbox) -> None:
    link = _signed_up(client, outbox)
    sid, secret = token_of(link).split(".")
    forged = [f"{sid}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}", f"{'0' * 32}.{secret}", "x", ""]
    for token in forged:
        response = post_json(client, "/subscriptions/confirm", {"token": token})
        assert response.status_code in (400, 404), token
        assert json.loads(response.body)["Code"] in ("InvalidLink", "MissingToken")
        assert client.http.get(f"/subscriptions/confirm?token={token}").status_code in (400, 404)
    assert _status() == PENDING

    from datetime import UTC, datetime, timedelta

    Subscriber(sid).update(actions=[Subscriber.confirm_expires_at.set(datetime.now(UTC) - timedelta(1))])
    expired = client.http.post(path_of(link))
    assert expired.status_code == 410
    assert json.loads(expired.body)["Code"] == "ExpiredLink"
    assert client.http.get(path_of(link)).status_code == 410
    assert _status() == PENDING


@pytest.mark.dynamodb  # conditions and transactions on AWS's own emulator too
def test_unsubscribe_link_page_then_one_click_post(client: Client, outbox: Outbox) -> None:
    client.http.post(path_of(_signed_up(client, outbox)))
    url = tokens.one_click_unsubscribe_url(tokens.subscriber_id("eva@example.org"))
    for _ in range(3):
        page = client.http.get(path_of(url))
        assert page.status_code == 200
    html = _assert_safe_page(page)
    assert "Afmeld" in html and 'method="post"' in html
    assert _status() == CONFIRMED

    # RFC 8058: the mail client POSTs this body to the List-Unsubscribe URL, no cookie, no login.
    for _ in range(2):
        response = client.http.post(path_of(url), headers={
            "content-type": "application/x-www-form-urlencoded"}, body=b"List-Unsubscribe=One-Click")
        assert response.status_code == 303
    subscriber = Subscriber.get(tokens.subscriber_id("eva@example.org"))
    assert subscriber.status == UNSUBSCRIBED
    assert subscriber.digest_partition is None
    assert _events() == ["requested", "confirmed", "unsubscribed"]
    [event] = [e for e in held_items()["ledger"] if e["event"]["S"] == "unsubscribed"]
    assert event["detail"]["M"]["method"]["S"] == "one-click"


def test_one_click_as_multipart_and_json_unsubscribe(client: Client, outbox: Outbox) -> None:
    client.http.post(path_of(_signed_up(client, outbox)))
    url = tokens.one_click_unsubscribe_url(tokens.subscriber_id("eva@example.org"))
    body = (b"--xyz\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
            b"One-Click\r\n--xyz--\r\n")
    response = client.http.post(path_of(url), headers={
        "content-type": "multipart/form-data; boundary=xyz"}, body=body)
    assert response.status_code == 303
    assert _status() == UNSUBSCRIBED
    again = post_json(client, "/subscriptions/unsubscribe", {"token": token_of(url)})
    assert again.status_code == 200
    assert json.loads(again.body)["status"] == "unsubscribed"
    assert _events().count("unsubscribed") == 1


def test_a_forged_unsubscribe_token_is_refused(client: Client, outbox: Outbox) -> None:
    client.http.post(path_of(_signed_up(client, outbox)))
    token = tokens.manage_token(tokens.subscriber_id("eva@example.org"))
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = post_json(client, "/subscriptions/unsubscribe", {"token": forged})
    assert response.status_code == 404
    assert client.http.get(f"/subscriptions/unsubscribe?token={forged}").status_code == 404
    assert _status() == CONFIRMED


def test_confirm_after_unsubscribe_does_not_resubscribe(client: Client, outbox: Outbox) -> None:
    link = _signed_up(client, outbox)
    client.http.post(path_of(link))
    post_json(client, "/subscriptions/unsubscribe",
              {"token": tokens.manage_token(tokens.subscriber_id("eva@example.org"))})
    response = client.http.post(path_of(link))
    assert response.status_code == 409
    assert json.loads(response.body)["Code"] == "Unsubscribed"
    assert _status() == UNSUBSCRIBED


@pytest.mark.parametrize("path", ["/subscriptions/confirm", "/subscriptions/unsubscribe",
                                  "/subscriptions/rights-link", "/subscriptions/export",
                                  "/subscriptions/erase"])
def test_link_actions_refuse_bad_bodies(client: Client, path: str) -> None:
    for body, code in ((b"{", "MalformedJson"), (b'{"token": 5}', "MissingToken"),
                       (b'{"token": "x", "extra": 1}', "UnknownField"),
                       (b'{"token": "' + b"x" * 1_000_000 + b'"}', "PayloadTooLarge")):
        response = post_json(client, path, body)
        assert 400 <= response.status_code < 500, (path, body[:20])
        assert json.loads(response.body)["Code"] == code
    assert held_items()["ledger"] == []


def test_result_page_shows_only_our_own_words(client: Client) -> None:
    page = client.http.get("/subscriptions/result?status=confirmed")
    assert "Tak – du er tilmeldt" in _assert_safe_page(page)
    crafted = client.http.get("/subscriptions/result?status=Ring+til+os+p%C3%A5+12345678")
    assert crafted.status_code == 404
    assert "12345678" not in crafted.body.decode()


@pytest.mark.dynamodb  # conditions and transactions on AWS's own emulator too
def test_a_visitor_signs_up_confirms_unsubscribes_exports_and_erases(
        client: Client, outbox: Outbox) -> None:
    # Eva opens the signup page (the one that works without JavaScript): a form with a fresh
    # CAPTCHA picture, its audio, the topics and the consent text.
    form_page = client.http.get("/nyhedsbrev")
    assert form_page.status_code == 200
    html = form_page.body.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html))
    assert hidden["captcha_id"]
    consent = json.loads(client.http.get("/subscriptions/consent").body)
    assert consent["text"][:60] in html.replace("&#39;", "'")
    assert consent["version"] in html
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    assert action and path_of(action.group(1)) == "/subscriptions"

    # She types her address, the characters she sees, keeps one topic and ticks the box.
    from tests.support.subscriptions import ANSWER

    # (The browser sends the form's hidden fields along, whatever they are.)
    answer = post_form(client, "/subscriptions", [
        *hidden.items(), ("email", "Eva.Hansen@Example.dk"), ("topics", "cases"),
        ("captcha_answer", ANSWER), ("consent", "yes")])
    assert answer.status_code == 303
    assert "Tjek din indbakke" in client.http.get(path_of(answer.headers["Location"])).body.decode()

    # A mail arrives. Her mail provider's link scanner opens the link first: nothing happens.
    [mail] = outbox()
    assert mail.recipients == ["eva.hansen@example.dk"]
    link = confirm_link(mail)
    assert client.http.get(path_of(link)).status_code == 200
    assert _status("eva.hansen@example.dk") == PENDING

    # She opens it herself and presses the button on the page.
    page = client.http.get(path_of(link)).body.decode()
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action
    confirmed = post_form(client, path_of(action.group(1)), [("token", token_of(link))])
    assert confirmed.status_code == 303
    assert "du er tilmeldt" in client.http.get(path_of(confirmed.headers["Location"])).body.decode()
    assert _status("eva.hansen@example.dk") == CONFIRMED

    # Later she unsubscribes from the page behind the link in a digest.
    unsubscribe_url = tokens.one_click_unsubscribe_url(tokens.subscriber_id("eva.hansen@example.dk"))
    unsubscribe_page = client.http.get(path_of(unsubscribe_url)).body.decode()
    assert "Hent alt, hvad vi har om dig" in unsubscribe_page
    done = post_form(client, "/subscriptions/unsubscribe", [("token", token_of(unsubscribe_url))])
    assert "Du er afmeldt" in client.http.get(path_of(done.headers["Location"])).body.decode()

    # She wants what the centre holds about her. The page behind the digest's link cannot
    # show it (a digest may be forwarded): it mails her a link, to her own address.
    manage = token_of(unsubscribe_url)
    export_page = client.http.get(f"/subscriptions/export?token={manage}").body.decode()
    target, fields = page_form(export_page)
    asked = post_form(client, target, fields)
    assert "Tjek din indbakke" in client.http.get(path_of(asked.headers["Location"])).body.decode()
    [rights_mail] = [m for m in outbox() if m.subject == "Dit link til at hente eller slette dine data"]
    assert rights_mail.recipients == ["eva.hansen@example.dk"]
    export_url, erase_url = rights_links(rights_mail)

    # She downloads it from the page behind the mailed link.
    target, fields = page_form(client.http.get(path_of(export_url)).body.decode())
    export = post_form(client, target, fields)
    assert export.status_code == 200
    assert "attachment" in export.headers["Content-Disposition"]
    data = json.loads(export.body)
    assert data["subscriber"]["email"] == "eva.hansen@example.dk"
    assert data["subscriber"]["status"] == "unsubscribed"
    assert [e["event"] for e in data["consent_events"]] == ["requested", "confirmed", "unsubscribed"]
    assert data["consent_events"][0]["form_url"] and data["consent_events"][0]["source_ip"] == "127.0.0.1"
    assert "hash" not in export.body.decode()
    assert token_of(link).split(".")[1] not in export.body.decode()

    # And then she asks the centre to forget her, from the same mail.
    target, fields = page_form(client.http.get(path_of(erase_url)).body.decode())
    erased = post_form(client, target, fields)
    assert "Dine data er slettet" in client.http.get(path_of(erased.headers["Location"])).body.decode()
    items = held_items()
    # Left: only the per-IP counters of signups and of the page's challenges (keyed hashes of
    # the IP, gone within the hour).
    assert items["subscribers"] == [] and items["ledger"] == []
    assert sorted(item["key"]["S"].split("#")[0] for item in items["ratelimits"]) == [
        "captcha-page-ip", "signup-ip"]
    rights_token = token_of(erase_url)
    nothing = json.loads(post_json(client, "/subscriptions/export", {"token": rights_token}).body)
    assert nothing["subscriber"] is None and nothing["consent_events"] == []
    # Erasing again is harmless.
    assert post_json(client, "/subscriptions/erase", {"token": rights_token}).status_code == 200
