"""Data minimisation: a signup never confirmed leaves nothing behind, not even its ledger.

The pending subscriber item expires through DynamoDB's TTL (``expires_ttl``); its ledger
events carry the same ``expires_ttl``. Confirming removes it from the confirmed
``requested`` event (the proof of consent) inside the confirm's one transaction.
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib.core.config import get_settings
from chalicelib.limits.model import RateLimit
from chalicelib.newsletter import lifecycle, tokens
from chalicelib.newsletter.models import CONFIRMED, PENDING, ConsentEvent, Subscriber
from chalicelib.newsletter.outcomes import SubscriptionError
from chalicelib.newsletter.signup import SignupInput, default_signup
from chalicelib.newsletter.store import RequestContext
from tests.support.captcha import worked_challenge
from tests.support.faults import FaultInjector, assert_clean_unavailable, cancelled
from tests.support.subscriptions import (
    ANSWER,
    SITE_FORM,
    Outbox,
    confirm_link,
    mails_to,
    path_of,
    post_form,
    settings_from_env,
    subscribe,
    token_of,
)

EMAIL = "ida@example.org"
SID = tokens.subscriber_id(EMAIL)


def _events() -> list[ConsentEvent]:
    return list(ConsentEvent.query(SID, consistent_read=True))


def _subscriber() -> Subscriber:
    return Subscriber.get(SID, consistent_read=True)


def _mail_interval_passes() -> None:
    """The per-address mail claim's hour is over (as in test_signup.py)."""
    for item in RateLimit.scan():
        item.update(actions=[RateLimit.expires_ttl.set(1)])


def _links(outbox: Outbox) -> list[str]:
    return [confirm_link(mail) for mail in mails_to(outbox, EMAIL)]


@pytest.mark.dynamodb  # TTL attributes and transactions on AWS's own emulator too
def test_a_pending_signups_ledger_events_expire_with_the_subscriber(
        client: Client, outbox: Outbox) -> None:
    assert subscribe(client, EMAIL).status_code == 202
    pending = _subscriber()
    assert pending.status == PENDING
    assert pending.expires_ttl == int(pending.confirm_expires_at.timestamp())
    [requested] = _events()
    assert requested.event == "requested"
    assert requested.expires_ttl == pending.expires_ttl
    assert pending.request_event_key == requested.event_key
    # The table deletes by it: TTL is on for the ledger, as for the subscribers.
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=get_settings().ledger_table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_ttl"
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"


@pytest.mark.dynamodb
def test_confirming_keeps_the_proof_of_consent_in_the_same_two_calls(
        client: Client, outbox: Outbox, aws_calls: Counter[str]) -> None:
    subscribe(client, EMAIL)
    [link] = _links(outbox)
    aws_calls.clear()
    answer = client.http.post(path_of(link))
    assert json.loads(answer.body)["status"] == "confirmed"
    # (and the welcome mail, whose claim rides on the same transaction)
    assert aws_calls == Counter({"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1, "sesv2.SendEmail": 1})
    confirmed = _subscriber()
    assert confirmed.status == CONFIRMED and confirmed.expires_ttl is None
    requested, confirmation = _events()
    assert (requested.event, confirmation.event) == ("requested", "confirmed")
    assert requested.expires_ttl is None and confirmation.expires_ttl is None
    # The proof is whole: who asked, from where, for what, under which consent text.
    assert requested.source_ip == "127.0.0.1" and requested.form_url == SITE_FORM
    assert requested.consent_version and requested.detail is not None
    assert requested.detail.as_dict() == {"topics": "metoder"}
    # Export shows the events, not the table's bookkeeping.
    link = tokens.rights_token(SID, now=datetime.now(UTC))  # as mailed by POST /subscriptions/rights-link
    export = post_form(client, "/subscriptions/export", [("token", link)]).body.decode()
    assert "expires_ttl" not in export and "request_event_key" not in export


@pytest.mark.dynamodb
def test_a_second_signup_while_pending_leaves_no_event_immortal(
        client: Client, outbox: Outbox) -> None:
    with settings_from_env(CONFIRM_MAIL_INTERVAL_MINUTES="60"):
        subscribe(client, EMAIL)
        _mail_interval_passes()
        subscribe(client, EMAIL)
    first, second = _events()
    assert first.expires_ttl is not None and second.expires_ttl is not None
    assert first.expires_ttl <= second.expires_ttl == _subscriber().expires_ttl

    old_link, new_link = _links(outbox)
    assert client.http.post(path_of(old_link)).status_code == 404
    assert client.http.post(path_of(new_link)).status_code == 200
    first, second, confirmation = _events()
    # The request that was confirmed is the proof; the one superseded still expires.
    assert second.expires_ttl is None and confirmation.expires_ttl is None
    assert first.expires_ttl is not None


@pytest.mark.dynamodb
def test_unsubscribing_a_pending_signup_leaves_its_events_expiring(
        client: Client, outbox: Outbox) -> None:
    subscribe(client, EMAIL)
    one_click = tokens.one_click_unsubscribe_url(SID)
    answer = client.http.post(path_of(one_click), body=b"List-Unsubscribe=One-Click",
                              headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 303  # RFC 8058 one-click, as a mail client sends it
    unsubscribed = _subscriber()
    assert unsubscribed.expires_ttl is not None  # never confirmed: the item still expires
    assert [(e.event, e.expires_ttl) for e in _events()] == [
        ("requested", unsubscribed.expires_ttl), ("unsubscribed", unsubscribed.expires_ttl)]


def test_unsubscribing_a_confirmed_subscriber_records_a_lasting_event(
        client: Client, outbox: Outbox) -> None:
    subscribe(client, EMAIL)
    [link] = _links(outbox)
    client.http.post(path_of(link))
    post_form(client, "/subscriptions/unsubscribe", [("token", tokens.manage_token(SID))])
    assert [(e.event, e.expires_ttl is None) for e in _events()] == [
        ("requested", True), ("confirmed", True), ("unsubscribed", True)]


def test_a_pending_item_from_before_the_ledger_ttl_still_confirms(
        client: Client, outbox: Outbox, aws_calls: Counter[str]) -> None:
    # Written before this change: no request_event_key, a requested event without TTL.
    subscribe(client, EMAIL)
    Subscriber(SID).update(actions=[Subscriber.request_event_key.remove()])
    [requested] = _events()
    requested.update(actions=[ConsentEvent.expires_ttl.remove()])
    [link] = _links(outbox)
    aws_calls.clear()
    assert json.loads(client.http.post(path_of(link)).body)["status"] == "confirmed"
    # (and the welcome mail, whose claim rides on the same transaction)
    assert aws_calls == Counter({"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1, "sesv2.SendEmail": 1})
    assert [(e.event, e.expires_ttl is None) for e in _events()] == [
        ("requested", True), ("confirmed", True)]


@pytest.mark.dynamodb
def test_a_missing_requested_event_does_not_block_the_confirm(
        client: Client, outbox: Outbox) -> None:
    subscribe(client, EMAIL)
    [requested] = _events()
    requested.delete()  # removed by hand (or by a TTL running very early)
    [link] = _links(outbox)
    assert json.loads(client.http.post(path_of(link)).body)["status"] == "confirmed"
    assert json.loads(client.http.post(path_of(link)).body)["status"] == "already-confirmed"
    # The update was conditional: no bare event without time or kind was created.
    assert [e.event for e in _events()] == ["confirmed"]
    assert _subscriber().status == CONFIRMED


@pytest.mark.parametrize("reasons", [
    ("None", "None", "TransactionConflict"),
    ("TransactionConflict", "None", "None"),
    ("None", "ThrottlingError", "None"),
    ("None", "None", "ProvisionedThroughputExceeded"),
], ids="-".join)
def test_a_confirm_cancelled_by_load_is_503_and_its_retry_keeps_the_proof(
        client: Client, outbox: Outbox, faults: FaultInjector, reasons: tuple[str, ...]) -> None:
    # Cancelled for load, not because the requested event is missing: confirming without
    # the proof would let the consent record expire under a confirmed subscriber.
    subscribe(client, EMAIL)
    [link] = _links(outbox)
    faults.inject("dynamodb.TransactWriteItems", cancelled(*reasons), times=1)
    answer = client.http.post(path_of(link))
    assert sum(faults.injected.values()) == 1
    assert_clean_unavailable(answer.status_code, answer.headers, answer.body.decode())
    assert _subscriber().status == PENDING
    assert json.loads(client.http.post(path_of(link)).body)["status"] == "confirmed"
    assert [(e.event, e.expires_ttl is None) for e in _events()] == [("requested", True), ("confirmed", True)]
    assert _subscriber().expires_ttl is None


@pytest.mark.dynamodb  # conditions and transactions on AWS's own emulator too
def test_confirms_racing_a_second_signup_leave_exactly_one_proof_or_none(
        client: Client, outbox: Outbox) -> None:
    context = RequestContext("127.0.0.1", "Testbrowser/1.0", SITE_FORM)
    with settings_from_env(CONFIRM_MAIL_INTERVAL_MINUTES="60"):
        subscribe(client, EMAIL)
        _mail_interval_passes()
        [link] = _links(outbox)
        captcha_id, work = worked_challenge(client)
        again = SignupInput(EMAIL, captcha_id, ANSWER, ("metoder",), work)

        def confirm(_: int) -> str:
            try:
                return lifecycle.confirm(token_of(link), context)
            except SubscriptionError as refused:
                return refused.code

        # Service calls, not HTTP: the test client shares one current_request between threads.
        with ThreadPoolExecutor(max_workers=11) as pool:
            resignup = pool.submit(default_signup().run, again, context)
            outcomes = Counter(pool.map(confirm, range(10)))
            assert resignup.result() == "accepted"
    assert outcomes["confirmed"] <= 1
    assert set(outcomes) <= {"confirmed", "already-confirmed", "InvalidLink"}, outcomes
    subscriber = _subscriber()
    events = _events()
    by_kind: dict[str, list[Any]] = {}
    for event in events:
        by_kind.setdefault(event.event, []).append(event)
    proof = [e for e in by_kind["requested"] if e.event_key == subscriber.request_event_key]
    others = [e for e in by_kind["requested"] if e.event_key != subscriber.request_event_key]
    assert len(proof) == 1
    assert all(e.expires_ttl is not None for e in others)
    if subscriber.status == CONFIRMED:
        # The confirm won: the second signup changed nothing and its request is not recorded.
        assert outcomes["confirmed"] == 1 and len(by_kind["confirmed"]) == 1
        assert proof[0].expires_ttl is None and subscriber.expires_ttl is None
        assert others == [] and len(events) == 2
    else:
        # The second signup won: nothing confirmed, every event expires with the item.
        assert subscriber.status == PENDING and outcomes["confirmed"] == 0
        assert "confirmed" not in by_kind
        assert proof[0].expires_ttl == subscriber.expires_ttl
        assert len(others) == 1


@pytest.mark.dynamodb
def test_a_bounce_keeps_the_suppression_while_the_unconfirmed_request_expires(
        client: Client, outbox: Outbox) -> None:
    from tests.support.digest import notify

    address = "forkert.adresse@example.org"  # the recipient in the SES fixture
    subscribe(client, address)
    assert notify(client, "bounce-permanent.json")[0]["outcome"] == "suppressed"
    sid = tokens.subscriber_id(address)
    assert Subscriber.get(sid).expires_ttl is None  # never mail it again
    requested, bounced = sorted(ConsentEvent.query(sid), key=lambda e: e.event != "requested")
    assert (requested.event, bounced.event) == ("requested", "bounced")
    assert requested.expires_ttl is not None and bounced.expires_ttl is None
