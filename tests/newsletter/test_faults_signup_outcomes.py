"""Signup: which failures are the visitor's to retry (503, everything given back) and which
are ours (500), and what a retry of the same request leaves when it is not quite the same.

A cancelled transaction says why, per item: a condition that failed is a change of the
data (a parallel signup, a confirm, or this request's own earlier write); anything else
(a conflicting transaction, throttling) is load and gets the fault path's 503.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import ConsentEvent, Subscriber
from tests.support.faults import (
    ACCESS_DENIED,
    INTERNALS,
    MESSAGE_REJECTED,
    FaultInjector,
    assert_clean_unavailable,
    cancelled,
)
from tests.support.signup_state import REFERENCE, one_mail_that_confirms, shared_totals, stored_shape
from tests.support.subscriptions import (
    Outbox,
    confirm_link,
    held_items,
    mails_to,
    path_of,
    post_json,
    signup_fields,
)

EMAIL = "uheld@example.org"
GIVEN_BACK = {"ip hits": 1, "mail claims": 1, "reserved": 1,
              "challenges": [(False, False, "0"), (True, True, "0")]}
DONE = {"ip hits": 2, "mail claims": 2, "reserved": 0, "challenges": [(True, True, "0")] * 2}


@pytest.mark.parametrize("reasons", [("ThrottlingError", "None"), ("None", "TransactionConflict"),
                                     ("ProvisionedThroughputExceeded", "None")], ids="-".join)
def test_a_record_cancelled_by_load_is_503_and_the_same_request_then_mails(
    client: Client, outbox: Outbox, faults: FaultInjector, reasons: tuple[str, ...],
) -> None:
    assert post_json(client, "/subscriptions", signup_fields(client, REFERENCE)).status_code == 202
    fields = signup_fields(client, EMAIL)
    faults.inject("dynamodb.TransactWriteItems", cancelled(*reasons), times=1)
    response = post_json(client, "/subscriptions", fields)
    assert sum(faults.injected.values()) == 1
    # Not "accepted" without a mail: the visitor is told to retry, and nothing is held.
    assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
    assert shared_totals() == GIVEN_BACK
    assert mails_to(outbox, EMAIL) == []

    assert post_json(client, "/subscriptions", fields).status_code == 202
    assert stored_shape(EMAIL) == stored_shape(REFERENCE)
    assert shared_totals() == DONE
    one_mail_that_confirms(client, outbox, EMAIL)


@contextmanager
def committed_but_reported_cancelled() -> Iterator[list[int]]:
    """The signup's transaction commits, yet its answer says its condition failed (as when
    the answer to a committed attempt is lost and a repeat finds the record written)."""
    from devtools.call_counter import clients_in_use

    done = [0]
    other = boto3.client("dynamodb")  # not one of the app's clients: not hooked

    def answer(model: Any, params: dict[str, Any], **_: Any) -> Any:
        if model.name != "TransactWriteItems" or done[0]:
            return None
        done[0] += 1
        other.transact_write_items(**json.loads(params["body"]))  # wire shape = API shape
        from botocore.awsrequest import AWSResponse

        parsed = {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                  "CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "None"}],
                  "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}}}
        http: Any = AWSResponse
        return http(None, 400, {}, None), parsed

    clients = clients_in_use()
    for client in clients:
        client.meta.events.register("before-call.dynamodb.*", answer, unique_id="committed-cancelled")
    try:
        yield done
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.dynamodb.*", unique_id="committed-cancelled")


@pytest.mark.dynamodb  # the condition and the re-read on AWS's own emulator too
def test_a_record_whose_condition_fails_on_its_own_write_still_sends_the_mail(
    client: Client, outbox: Outbox,
) -> None:
    assert post_json(client, "/subscriptions", signup_fields(client, REFERENCE)).status_code == 202
    with committed_but_reported_cancelled() as done:
        response = post_json(client, "/subscriptions", signup_fields(client, EMAIL))
    assert done == [1]
    assert response.status_code == 202
    assert stored_shape(EMAIL) == stored_shape(REFERENCE)
    one_mail_that_confirms(client, outbox, EMAIL)


def test_a_mail_refused_for_our_own_fault_is_a_500_and_gives_no_captcha_back(
    client: Client, outbox: Outbox, faults: FaultInjector, caplog: pytest.LogCaptureFixture,
) -> None:
    """SES says we may not send (a missing permission): not "try again" (it would fail the
    same way), and the CAPTCHA is not given back, so it cannot be replayed without end. The
    mail claim is released: once it is fixed, a new signup is mailed at once."""
    assert post_json(client, "/subscriptions", signup_fields(client, REFERENCE)).status_code == 202
    fields = signup_fields(client, EMAIL)
    faults.inject("sesv2.SendEmail", ACCESS_DENIED, times=1)
    with caplog.at_level(logging.ERROR):
        response = post_json(client, "/subscriptions", fields)
    assert sum(faults.injected.values()) == 1
    body = response.body.decode()
    assert response.status_code == 500
    assert json.loads(body)["Code"] == "InternalServerError"
    assert not any(marker in body for marker in INTERNALS)
    assert any(record.exc_info for record in caplog.records)  # the operator sees the cause
    assert shared_totals() == {"ip hits": 2, "mail claims": 1, "reserved": 0,
                               "challenges": [(True, True, "0")] * 2}
    assert mails_to(outbox, EMAIL) == []

    again = post_json(client, "/subscriptions", fields)
    # Its proof of work is spent with it, and said first.
    assert again.status_code == 400 and json.loads(again.body)["Code"] == "ProofOfWorkUsed"
    assert post_json(client, "/subscriptions", signup_fields(client, EMAIL)).status_code == 202
    one_mail_that_confirms(client, outbox, EMAIL)


@pytest.mark.dynamodb  # the superseding transaction on AWS's own emulator too
def test_a_retry_that_changed_the_topics_records_and_mails_what_it_asks_for(
    client: Client, outbox: Outbox, faults: FaultInjector,
) -> None:
    """SES refused the first mail (503); the visitor changes the topics and sends the form
    again with the same CAPTCHA. The mail, the record and the ledger name the new topics,
    and the ledger holds one ``requested`` event: the earlier attempt's was never mailed (the
    visitor was told to try again), so it is replaced, not kept beside the real one."""
    reference = signup_fields(client, REFERENCE, topics=["erfaringer"])
    assert post_json(client, "/subscriptions", reference).status_code == 202
    fields = signup_fields(client, EMAIL, topics=["metoder"])
    faults.inject("sesv2.SendEmail", MESSAGE_REJECTED, times=1)
    first = post_json(client, "/subscriptions", fields)
    assert_clean_unavailable(first.status_code, first.headers, first.body.decode())

    assert post_json(client, "/subscriptions", {**fields, "topics": ["erfaringer"]}).status_code == 202
    sid = tokens.subscriber_id(EMAIL)
    assert Subscriber.get(sid, consistent_read=True).topics == ["erfaringer"]
    assert stored_shape(EMAIL) == stored_shape(REFERENCE)  # incl. the event's topics
    [mail] = mails_to(outbox, EMAIL)
    assert "Erfaringer" in mail.part("plain") and "Metoder" not in mail.part("plain")
    assert client.http.post(path_of(confirm_link(mail))).status_code == 200
    events = list(ConsentEvent.query(sid, consistent_read=True))
    assert [(e.event, e.expires_ttl is None) for e in events] == [("requested", True), ("confirmed", True)]
    assert events[0].detail is not None
    assert events[0].detail["topics"] == "erfaringer"


def test_erasing_after_a_failed_signup_leaves_no_trace_of_the_subscriber(
    client: Client, outbox: Outbox, faults: FaultInjector,
) -> None:
    """A 503 gives the CAPTCHA back reserved for the address; the person then erases
    (or never retries). The challenge keeps only a keyed hash, still enough to refuse the
    CAPTCHA to another address, never the subscriber id."""
    fields = signup_fields(client, EMAIL)
    faults.inject("sesv2.SendEmail", MESSAGE_REJECTED, times=1)
    first = post_json(client, "/subscriptions", fields)
    assert_clean_unavailable(first.status_code, first.headers, first.body.decode())
    other = post_json(client, "/subscriptions", {**fields, "email": "anden@example.org"})
    assert other.status_code == 400 and json.loads(other.body)["Code"] == "CaptchaUsed"

    sid = tokens.subscriber_id(EMAIL)
    link = tokens.rights_token(sid, now=datetime.now(UTC))  # as mailed by POST /subscriptions/rights-link
    erased = post_json(client, f"/subscriptions/erase?token={link}", {})
    assert erased.status_code == 200, erased.body
    held = json.dumps(held_items())
    assert shared_totals()["reserved"] == 1  # the reservation stands, as a keyed hash
    assert sid not in held and EMAIL not in held
