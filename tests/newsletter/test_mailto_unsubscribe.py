"""Unsubscribe by mail: SES "Received" notifications for the List-Unsubscribe mailto,
through the SES notifications SNS handler, against moto server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from chalice.test import Client

from chalicelib.core.config import get_settings
from chalicelib.newsletter import notifications, tokens
from chalicelib.newsletter.models import CONFIRMED, SUPPRESSED, UNSUBSCRIBED, ConsentEvent, Subscriber
from tests.support.digest import add_subscriber, invoke, pump, schedule_event
from tests.support.fixtures import SES_FIXTURES, ArticleFactory
from tests.support.subscriptions import held_items

FIXTURE = SES_FIXTURES / "received-unsubscribe.json"
READER = "laeser@example.org"


def received(subject: str, *, recipient: str | None = None, **verdicts: str) -> dict[str, Any]:
    """The SES inbound notification of the fixture, with this subject (in SES's parsed
    header, the raw header list and the raw mail) and these verdicts (spamVerdict="FAIL")."""
    notification: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    mail, receipt = notification["mail"], notification["receipt"]
    mail["commonHeaders"]["subject"] = subject
    for header in mail["headers"]:
        if header["name"] == "Subject":
            header["value"] = subject
    notification["content"] = notification["content"].replace("afmeld @@TOKEN@@", subject)
    for name, status in verdicts.items():
        receipt[name] = {"status": status}
    if recipient is not None:
        receipt["recipients"] = mail["destination"] = [recipient]
        mail["commonHeaders"]["to"] = [recipient]
    assert "@@TOKEN@@" not in json.dumps(notification)
    return notification


def deliver(client: Client, notification: dict[str, Any]) -> list[dict[str, str]]:
    event = client.events.generate_sns_event(message=json.dumps(notification),
                                             subject="Amazon SES Email Receipt Notification")
    actions: list[dict[str, str]] = invoke(client, "ses_notifications", event)["actions"]
    return actions


def unsubscribe_subject(sid: str) -> str:
    return f"afmeld {tokens.manage_token(sid)}"


def events(sid: str) -> list[ConsentEvent]:
    return list(ConsentEvent.query(sid, consistent_read=True))


@pytest.mark.dynamodb
def test_a_mail_with_the_token_unsubscribes_once_however_often_it_is_delivered(
        client: Client) -> None:
    sid = add_subscriber(READER)
    other = add_subscriber("bliver@example.org")
    notification = received(unsubscribe_subject(sid))
    for _ in range(2):  # SNS delivers at least once
        assert deliver(client, notification) == [{"address": READER, "outcome": "unsubscribed"}]
    subscriber = Subscriber.get(sid, consistent_read=True)
    assert subscriber.status == UNSUBSCRIBED and subscriber.digest_partition is None
    [event] = events(sid)
    assert event.event == "unsubscribed"
    assert event.detail is not None
    assert event.detail["method"] == "mailto" and event.detail["previous_status"] == CONFIRMED
    assert event.detail["ses_message_id"] == notification["mail"]["messageId"]
    assert Subscriber.get(other).status == CONFIRMED and events(other) == []


@pytest.mark.dynamodb
def test_concurrent_deliveries_of_one_mail_write_one_event(client: Client) -> None:
    sid = add_subscriber(READER)
    message = json.dumps(received(unsubscribe_subject(sid)))
    problems: list[BaseException] = []

    def deliver_once() -> None:
        try:
            notifications.handle(message)
        except BaseException as problem:  # reported below, with the thread's result
            problems.append(problem)

    threads = [threading.Thread(target=deliver_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert Subscriber.get(sid, consistent_read=True).status == UNSUBSCRIBED
    assert [event.event for event in events(sid)] == ["unsubscribed"]


@pytest.mark.parametrize("subject", [
    "Re: afmeld {token}",
    "SV: Fwd:   AFMELD   {token}  ",
    "Afmeld {token} venligst",
    "afmeld%20{token}",  # a client that left the mailto's encoding in place
    "{q}",  # RFC 2047 encoded words, as some clients send them
    "=?utf-8?b?{b64}?=",
])
def test_reply_prefixes_case_spacing_and_encoded_subjects_work(client: Client, subject: str) -> None:
    import base64
    from email import quoprimime

    sid = add_subscriber(READER)
    token = tokens.manage_token(sid)
    b64 = base64.b64encode(f"Vs: Afmeld {token}".encode()).decode()
    q = quoprimime.header_encode(f"Re: afmeld {token}".encode(), charset="utf-8")
    assert deliver(client, received(subject.format(token=token, b64=b64, q=q))) == [
        {"address": READER, "outcome": "unsubscribed"}]
    assert Subscriber.get(sid, consistent_read=True).status == UNSUBSCRIBED


@pytest.mark.parametrize(("verdict", "outcome"), [("spamVerdict", "spam"), ("virusVerdict", "virus")])
def test_a_mail_that_fails_the_spam_or_virus_scan_changes_nothing(
        client: Client, verdict: str, outcome: str) -> None:
    sid = add_subscriber(READER)
    before = Subscriber.get(sid).attribute_values
    assert deliver(client, received(unsubscribe_subject(sid), **{verdict: "FAIL"})) == [
        {"address": READER, "outcome": outcome}]
    assert Subscriber.get(sid, consistent_read=True).attribute_values == before
    assert events(sid) == []


def test_failed_spf_and_dkim_do_not_stop_a_genuine_token(client: Client) -> None:
    # Forwarded mail fails both; the token, not the sender, is what proves the request.
    sid = add_subscriber(READER)
    deliver(client, received(unsubscribe_subject(sid), spfVerdict="FAIL", dkimVerdict="FAIL",
                             spamVerdict="GRAY"))
    [event] = events(sid)
    assert event.detail is not None
    assert (event.detail["spf"], event.detail["dkim"]) == ("FAIL", "FAIL")


def _tampered(token: str) -> str:
    sid, _, tag = token.partition(".")
    return f"{sid}.{('B' if tag[0] == 'A' else 'A')}{tag[1:]}"


@pytest.mark.parametrize(("make_subject", "outcome"), [
    (lambda token: "afmeld", "no-token"),
    (lambda token: "Hej, jeg vil gerne afmelde mig", "no-token"),
    (lambda token: "", "no-token"),
    (lambda token: f"afmeld {token[:-3]}", "no-token"),  # cut short by a mail client
    (lambda token: f"afmeld {_tampered(token)}", "invalid-token"),
    (lambda token: f"afmeld {'0' * 32}.{token.partition('.')[2]}", "invalid-token"),  # another id
])
def test_a_mail_without_a_valid_token_changes_nothing(
        client: Client, make_subject: Callable[[str], str], outcome: str) -> None:
    sid = add_subscriber(READER)
    before = Subscriber.get(sid).attribute_values
    subject = make_subject(tokens.manage_token(sid))
    assert deliver(client, received(subject)) == [{"address": READER, "outcome": outcome}]
    assert Subscriber.get(sid, consistent_read=True).attribute_values == before
    assert events(sid) == []


def test_a_mail_to_another_address_changes_nothing(client: Client) -> None:
    sid = add_subscriber(READER)
    before = Subscriber.get(sid, consistent_read=True).attribute_values
    assert deliver(client, received(unsubscribe_subject(sid), recipient="info@borgerdialog.dk")) == [
        {"address": READER, "outcome": "not-for-us"}]
    assert Subscriber.get(sid, consistent_read=True).status == CONFIRMED
    assert Subscriber.get(sid, consistent_read=True).attribute_values == before
    assert events(sid) == []


@pytest.mark.parametrize("status", [UNSUBSCRIBED, SUPPRESSED])
def test_an_address_already_unsubscribed_or_suppressed_stays_as_it_is(
        client: Client, status: str) -> None:
    sid = add_subscriber(READER, status=status)
    before = Subscriber.get(sid).attribute_values
    deliver(client, received(unsubscribe_subject(sid)))
    assert Subscriber.get(sid, consistent_read=True).attribute_values == before
    assert events(sid) == []


def test_an_erased_address_is_not_brought_back(client: Client) -> None:
    sid = tokens.subscriber_id("slettet@example.org")  # erased: no item, no events
    deliver(client, received(unsubscribe_subject(sid)))
    assert Subscriber.count(sid, consistent_read=True) == 0
    assert events(sid) == []


def test_junk_is_dropped_without_an_exception(client: Client) -> None:
    sid = add_subscriber(READER)
    before = held_items()  # every subscriber, ledger event, rate limit and challenge
    for message in ("not json", json.dumps({"notificationType": "Received"}),
                    json.dumps({"notificationType": "Received", "mail": {"headers": "x"},
                                "receipt": {"recipients": ["afmeld@borgerdialog.dk"]}})):
        event = client.events.generate_sns_event(message=message)
        result = invoke(client, "ses_notifications", event)  # returns; nothing to retry
        assert "unsubscribed" not in [action["outcome"] for action in result["actions"]], message
    assert held_items() == before
    assert Subscriber.get(sid, consistent_read=True).status == CONFIRMED
    assert events(sid) == []


def test_the_mailto_of_a_real_digest_mail_unsubscribes_its_reader(
        client: Client, add_articles: ArticleFactory, outbox: Callable[[], list[Any]]) -> None:
    add_articles(1, category="erfaringer", prefix="erfaring",
                 start=datetime.now(UTC) - timedelta(days=2))
    sid = add_subscriber(READER)
    other = add_subscriber("bliver@example.org")
    invoke(client, "digest_schedule", schedule_event(client))
    pump(client)
    mails = {mail.to: mail for mail in outbox()}
    message = message_from_bytes(mails[READER].message.as_bytes(), policy=policy.default)
    [mailto] = [part.strip().strip("<>") for part in str(message["List-Unsubscribe"]).split(",")
                if part.strip().startswith("<mailto:")]
    # What the reader's mail client does with it: the address, and the subject pre-filled.
    url = urlsplit(mailto)
    [subject] = parse_qs(url.query)["subject"]
    address = unquote(url.path)
    assert address == get_settings().unsubscribe_mailto

    notification = received(subject, recipient=address)
    notification["mail"]["source"] = READER
    assert deliver(client, notification) == [{"address": READER, "outcome": "unsubscribed"}]
    assert Subscriber.get(sid, consistent_read=True).status == UNSUBSCRIBED
    assert Subscriber.get(other, consistent_read=True).status == CONFIRMED
    [event] = events(sid)
    assert event.detail is not None and event.detail["method"] == "mailto"
