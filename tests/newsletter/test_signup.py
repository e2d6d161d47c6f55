"""Signup (POST /subscriptions): double opt-in, no enumeration, rate limits, bad input."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import CONFIRMED, PENDING, SUPPRESSED, UNSUBSCRIBED, Subscriber
from tests.support.faults import FaultInjector, assert_clean_unavailable
from tests.support.subscriptions import (
    ANSWER,
    SITE_FORM,
    Outbox,
    confirm_link,
    held_items,
    mails_to,
    page_challenge,
    path_of,
    post_form,
    post_json,
    settings_from_env,
    signup_fields,
    subscribe,
)


def test_a_signup_records_a_pending_subscriber_and_sends_one_danish_confirmation(
        client: Client, outbox: Outbox) -> None:
    response = subscribe(client, "Laeser@Example.ORG", topics=["cases", "metoder"])
    assert response.status_code == 202
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(response.body)["status"] == "accepted"

    [mail] = outbox()
    assert mail.recipients == ["laeser@example.org"]
    assert mail.subject.startswith("Bekræft din tilmelding")
    assert mail.message["Content-Language"] == "da"
    link = confirm_link(mail)
    assert link in mail.part("html")
    assert "Metoder" in mail.part("plain") and "Cases" in mail.part("plain")
    secret = link.rsplit(".", 1)[1]
    assert len(secret) >= 22  # 128 bits, base64url

    subscriber = Subscriber.get(tokens.subscriber_id("laeser@example.org"))
    assert subscriber.status == PENDING
    assert subscriber.topics == ["cases", "metoder"]
    assert subscriber.digest_partition is None
    assert subscriber.expires_ttl is not None  # unconfirmed signups expire
    assert subscriber.confirm_expires_at is not None
    hours = (subscriber.confirm_expires_at - subscriber.created_at).total_seconds() / 3600
    assert round(hours) == 48
    stored = json.dumps(held_items(), default=str)
    assert secret not in stored  # only its hash is kept

    [event] = held_items()["ledger"]
    assert event["event"]["S"] == "requested"
    assert event["source_ip"]["S"] == "127.0.0.1"
    assert event["user_agent"]["S"] == "Testbrowser/1.0"
    assert event["form_url"]["S"] == SITE_FORM
    assert event["consent_version"]["S"]


def test_the_mail_carries_nothing_the_visitor_typed_but_the_address(client: Client, outbox: Outbox) -> None:
    # Only the address and category slugs go in; the slugs become our own labels.
    subscribe(client, "navn@example.org", topics=["udgivelser"])
    [mail] = outbox()
    text = mail.part("plain") + mail.part("html") + mail.subject
    assert "udgivelser" not in text.replace("Udgivelser", "")


def test_fifty_signups_for_one_address_send_one_mail_and_answer_identically(
        client: Client, outbox: Outbox) -> None:
    with settings_from_env(SIGNUP_IP_LIMIT_PER_HOUR="100"):
        responses = [subscribe(client, "flittig@example.org") for _ in range(50)]
    assert {(r.status_code, r.body) for r in responses} == {(responses[0].status_code, responses[0].body)}
    assert responses[0].status_code == 202
    assert len(outbox()) == 1
    assert len(held_items()["subscribers"]) == 1


def _put_in_state(email: str, status: str) -> None:
    """An existing subscriber in ``status`` (how they got there has its own tests)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    Subscriber(tokens.subscriber_id(email), email=email, status=status, topics=[], created_at=now,
               updated_at=now, digest_partition="confirmed" if status == CONFIRMED else None).save()


@pytest.mark.dynamodb  # conditions and transactions on AWS's own emulator too
def test_every_address_state_gets_the_same_answer(client: Client, outbox: Outbox) -> None:
    for status in (PENDING, CONFIRMED, UNSUBSCRIBED, SUPPRESSED):
        _put_in_state(f"{status}@example.org", status)
    answers = {state: subscribe(client, f"{state}@example.org")
               for state in ("new", PENDING, CONFIRMED, UNSUBSCRIBED, SUPPRESSED)}
    seen = {(r.status_code, r.body, r.headers.get("Content-Type")) for r in answers.values()}
    assert len(seen) == 1, seen
    assert answers["new"].status_code == 202
    # Each owner learns what happened in their own inbox; a suppressed address gets nothing.
    subjects = {mail.recipients[0]: mail.subject for mail in outbox()}
    assert sorted(subjects) == ["confirmed@example.org", "new@example.org", "pending@example.org",
                                "unsubscribed@example.org"]
    assert subjects["confirmed@example.org"].startswith("Du er allerede tilmeldt")
    assert all(subjects[f"{s}@example.org"].startswith("Bekræft") for s in ("new", PENDING, UNSUBSCRIBED))
    [already] = mails_to(outbox, "confirmed@example.org")
    manage = tokens.manage_token(tokens.subscriber_id("confirmed@example.org"))
    assert f"/subscriptions/unsubscribe?token={manage}" in already.part("plain")
    assert Subscriber.get(tokens.subscriber_id("suppressed@example.org")).status == SUPPRESSED
    assert Subscriber.get(tokens.subscriber_id("confirmed@example.org")).status == CONFIRMED
    assert Subscriber.get(tokens.subscriber_id("unsubscribed@example.org")).status == PENDING


def test_a_signup_again_after_a_day_sends_a_fresh_link_and_the_old_one_stops_working(
        client: Client, outbox: Outbox) -> None:
    with settings_from_env(CONFIRM_MAIL_INTERVAL_MINUTES="60"):
        subscribe(client, "igen@example.org")
        from chalicelib.limits.model import RateLimit

        # The hour passes: the claim's end is now in the past.
        for item in RateLimit.scan():
            item.update(actions=[RateLimit.expires_ttl.set(1)])
        subscribe(client, "igen@example.org")
    first, second = mails_to(outbox, "igen@example.org")
    assert confirm_link(first) != confirm_link(second)
    assert client.http.post(path_of(confirm_link(first))).status_code == 404
    assert client.http.post(path_of(confirm_link(second))).status_code == 200


def test_an_expired_pending_signup_can_start_again(client: Client, outbox: Outbox) -> None:
    from datetime import UTC, datetime, timedelta

    from chalicelib.limits.model import RateLimit

    subscribe(client, "sent@example.org")
    sid = tokens.subscriber_id("sent@example.org")
    # Three days on: the link has expired, DynamoDB's TTL has not yet deleted the item.
    long_ago = datetime.now(UTC) - timedelta(days=3)
    Subscriber(sid).update(actions=[Subscriber.confirm_expires_at.set(long_ago)])
    for item in RateLimit.scan():
        item.update(actions=[RateLimit.expires_ttl.set(1)])
    assert subscribe(client, "sent@example.org").status_code == 202
    _, second = mails_to(outbox, "sent@example.org")
    assert client.http.post(path_of(confirm_link(second))).status_code == 200
    assert Subscriber.get(sid).status == CONFIRMED


def test_a_refused_mail_answers_503_and_the_retry_sends_it(client: Client, outbox: Outbox,
                                                           faults: FaultInjector) -> None:
    from tests.support.faults import MESSAGE_REJECTED

    faults.inject("sesv2.SendEmail", MESSAGE_REJECTED, times=1)
    response = subscribe(client, "retry@example.org")
    assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
    assert outbox() == []
    # The mail claim was given back, so trying again (with a new CAPTCHA) works at once.
    assert subscribe(client, "retry@example.org").status_code == 202
    [mail] = outbox()
    assert client.http.post(path_of(confirm_link(mail))).status_code == 200


# Every AWS call of a signup failed in turn, then the same request retried: tests/newsletter/test_faults_signup.py.


def _outside_an_hour_boundary(margin: int = 120) -> None:
    """The per-IP limit weighs the previous clock hour less as the new one goes on: a run that
    crossed the hour could pass one more signup just after it (tests/newsletter/test_limits.py
    sets the clock for that). Starting at least ``margin`` seconds before the next hour (waiting
    for the new one if need be) keeps this test deterministic."""
    left = 3600 - time.time() % 3600
    if left < margin:
        time.sleep(left + 1)


def test_per_ip_limit_ignores_x_forwarded_for(client: Client, outbox: Outbox) -> None:
    _outside_an_hour_boundary()
    with settings_from_env(SIGNUP_IP_LIMIT_PER_HOUR="5"):
        statuses = []
        for number in range(100):
            spoofed = {"x-forwarded-for": f"203.0.113.{number}", "x-real-ip": f"198.51.100.{number}"}
            response = post_json(client, "/subscriptions",
                                 signup_fields(client, f"person{number}@example.org"), spoofed)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) in range(1, 3601)
                assert json.loads(response.body)["Code"] == "TooManyRequests"
    assert statuses == [202] * 5 + [429] * 95
    assert len(outbox()) == 5
    assert len(held_items()["subscribers"]) == 5


def test_signup_counts_its_aws_calls(client: Client, aws_calls: Counter[str]) -> None:
    fields = signup_fields(client, "tal@example.org")
    aws_calls.clear()
    assert post_json(client, "/subscriptions", fields).status_code == 202
    assert aws_calls == Counter({
        "dynamodb.UpdateItem": 3,  # CAPTCHA consumed, per-IP counter, the mailbox's mails today
        "dynamodb.GetItem": 1,  # the subscriber's state
        "dynamodb.PutItem": 1,  # the address's mail claim
        "dynamodb.TransactWriteItems": 1,  # subscriber + ledger event
        "sesv2.SendEmail": 1,
    })


def test_an_html_form_post_works_without_javascript(client: Client, outbox: Outbox) -> None:
    fields = [("email", "form@example.org"), ("captcha_id", page_challenge(client)),
              ("captcha_answer", ANSWER.lower()), ("topics", "cases"), ("topics", "metoder"),
              ("consent", "on")]
    response = post_form(client, "/subscriptions", fields)
    assert response.status_code == 303
    page = client.http.get(path_of(response.headers["Location"]))
    assert page.status_code == 200
    assert "Tjek din indbakke" in page.body.decode()
    assert Subscriber.get(tokens.subscriber_id("form@example.org")).topics == ["cases", "metoder"]
    assert len(outbox()) == 1

    refused = post_form(client, "/subscriptions", [*fields[:2], ("captcha_answer", ANSWER)])
    assert refused.status_code == 303
    page = client.http.get(path_of(refused.headers["Location"]))
    assert "Sæt flueben" in page.body.decode()  # the unticked box is the error shown


def test_cors_allows_the_site_only(client: Client) -> None:
    from chalicelib.core.config import get_settings

    # (chalice.test.Client cannot send OPTIONS; the preflight shares this configuration.)
    response = post_json(client, "/subscriptions", b"{}", {"origin": "https://evil.example"})
    assert response.headers["Access-Control-Allow-Origin"] == get_settings().site_url != "*"


# ---------------------------------------------------------------------------- bad input

def _nothing_written_and_no_mail(outbox: Outbox) -> None:
    items = held_items()
    assert items["subscribers"] == [] and items["ledger"] == []
    # No signup counted, no mail claimed: only the counts of the challenges made for the posts.
    assert {item["key"]["S"].split("#")[0] for item in items["ratelimits"]} <= {"captcha-ip"}
    assert outbox() == []


BAD_BODIES: list[tuple[str, bytes, int, str]] = [
    ("malformed JSON", b'{"email": "a@example.org",', 400, "MalformedJson"),
    ("a JSON list", b"[1, 2]", 400, "MalformedJson"),
    ("not UTF-8", b'{"email": "\xff"}', 400, "MalformedBody"),
    ("1 MB", b'{"email": "' + b"a" * 1_000_000 + b'"}', 400, "PayloadTooLarge"),
    ("duplicate keys", b'{"email": "a@example.org", "email": "b@example.org"}', 400, "MalformedBody"),
]


def test_unreadable_bodies_are_refused(client: Client, outbox: Outbox) -> None:
    # One test for all cases: a clean stack per case would cost more than the cases.
    for name, body, status, code in BAD_BODIES:
        response = post_json(client, "/subscriptions", body)
        assert (response.status_code, json.loads(response.body)["Code"]) == (status, code), name
    _nothing_written_and_no_mail(outbox)


BAD_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown field", {"name": "Eva"}, "UnknownField"),
    ("consent false", {"consent": False}, "ConsentRequired"),
    ("consent as text", {"consent": "true"}, "ConsentRequired"),
    ("email as number", {"email": 42}, "WrongType"),
    ("topics as text", {"topics": "cases"}, "WrongType"),
    ("topics with a number", {"topics": [1]}, "WrongType"),
    ("unknown topic", {"topics": ["sport"]}, "UnknownTopic"),
    ("outdated consent text", {"consent_version": "2001-01-01"}, "ConsentOutdated"),
    ("empty email", {"email": ""}, "InvalidEmail"),
    ("two addresses", {"email": "a@example.org, b@example.org"}, "InvalidEmail"),
    ("display name", {"email": "Eva <eva@example.org>"}, "InvalidEmail"),
    ("CR/LF injection", {"email": "eva@example.org\r\nBcc: alle@example.org"}, "InvalidEmail"),
    ("LF injection", {"email": "eva@example.org\nBcc: alle@example.org"}, "InvalidEmail"),
    ("Cyrillic a in the mailbox", {"email": "\u0430dmin@example.org"}, "InvalidEmail"),
    ("Cyrillic e in the domain", {"email": "admin@\u0435xample.org"}, "InvalidEmail"),
    ("Greek omicron in the domain", {"email": "admin@g\u03bfogle.com"}, "InvalidEmail"),
    ("all-Cyrillic apple", {"email": "admin@\u0430\u0440\u0440\u04cf\u0435.com"}, "InvalidEmail"),
    ("zero-width space", {"email": "ad\u200bmin@example.org"}, "InvalidEmail"),
    ("right-to-left override", {"email": "admin@exa\u202emple.org"}, "InvalidEmail"),
    ("longer than 254", {"email": "a" * 64 + "@" + ("b" * 63 + ".") * 3 + "dk"}, "InvalidEmail"),
    ("no captcha answer", {"captcha_answer": ""}, "CaptchaMissing"),
    # The proof of work names the challenge it was issued with, and is checked first.
    ("unknown captcha id", {"captcha_id": "0" * 32}, "ProofOfWorkInvalid"),
    ("wrong captcha answer", {"captcha_answer": "AAAAA"}, "CaptchaWrong"),
]


def test_bad_fields_get_a_clear_error_and_change_nothing(client: Client, outbox: Outbox) -> None:
    for name, changes, code in BAD_FIELDS:
        fields = {**signup_fields(client, "eva@example.org"), **changes}
        response = post_json(client, "/subscriptions", fields)
        assert 400 <= response.status_code < 500, name
        problem = json.loads(response.body)
        assert problem["Code"] == code, name
        assert problem["Message"] and "Traceback" not in problem["Message"], name
        _nothing_written_and_no_mail(outbox)


def test_idn_domains_become_punycode_and_lower_case_answers_pass(client: Client, outbox: Outbox) -> None:
    response = subscribe(client, "Eva@Blåbær.DK", captcha_answer=ANSWER.lower())
    assert response.status_code == 202
    assert subscribe(client, "ivan@пример.рф").status_code == 202  # a real Cyrillic domain
    first, second = outbox()
    assert second.recipients == ["ivan@xn--e1afmkfd.xn--p1ai"]
    mail = first
    assert mail.recipients == ["eva@xn--blbr-roah.dk"]
    assert Subscriber.get(tokens.subscriber_id("eva@xn--blbr-roah.dk")).email == "eva@xn--blbr-roah.dk"


def test_a_used_challenge_cannot_sign_up_twice(client: Client, outbox: Outbox) -> None:
    fields = signup_fields(client, "en@example.org")
    assert post_json(client, "/subscriptions", fields).status_code == 202
    again = post_json(client, "/subscriptions", {**fields, "email": "to@example.org"})
    assert again.status_code == 400
    assert json.loads(again.body)["Code"] == "ProofOfWorkUsed"  # spent with it, and said first
    assert [m.recipients for m in outbox()] == [["en@example.org"]]
