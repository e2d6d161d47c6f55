"""Signup under AWS faults: the visitor's retry of the very same request works.

For every AWS call of a signup, failed the way AWS fails under load: the request answers a
clean 503 (Retry-After, Danish ``{"Code","Message"}``) and gives back what it took (the
CAPTCHA, reserved for that address; the per-IP count; the mail claim); once the fault
clears, the same body (same CAPTCHA id and answer) is accepted, exactly one confirmation mail goes out, and what is
stored is what a signup without the fault stores. Also for the form without JavaScript
(GET /nyhedsbrev → form POST: a 503 page), and under concurrency: a give-back never lets one challenge
be accepted twice.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.limits import limiter
from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import CONFIRMED, PENDING, UNSUBSCRIBED, Subscriber
from tests.support.captcha import worked_challenge
from tests.support.faults import (
    BY_SERVICE,
    INTERNALS,
    MESSAGE_REJECTED,
    THROTTLING,
    Fault,
    FaultInjector,
    assert_clean_unavailable,
    case_id,
    matrix,
)
from tests.support.signup_state import REFERENCE, one_mail_that_confirms, shared_totals, stored_shape
from tests.support.subscriptions import (
    ANSWER,
    Outbox,
    confirm_link,
    mails_to,
    path_of,
    post_form,
    post_json,
    signup_fields,
)

EMAIL = "uheld@example.org"
# A signup's AWS calls in order: CAPTCHA consumed, per-IP counter, the subscriber's state,
# the mailbox's mail claim and its count of mails today, subscriber + ledger event (one
# transaction), the mail.
SIGNUP_CALLS = ["dynamodb.UpdateItem", "dynamodb.UpdateItem", "dynamodb.GetItem", "dynamodb.PutItem",
                "dynamodb.UpdateItem", "dynamodb.TransactWriteItems", "sesv2.SendEmail"]
STEPS = {(0, "dynamodb.UpdateItem"): "captcha", (1, "dynamodb.UpdateItem"): "ip-limit",
         (0, "dynamodb.GetItem"): "read", (0, "dynamodb.PutItem"): "mail-claim",
         (2, "dynamodb.UpdateItem"): "mail-day",
         (0, "dynamodb.TransactWriteItems"): "record", (0, "sesv2.SendEmail"): "mail"}



def _id(case: tuple[str, int, Fault]) -> str:
    call, after, fault = case
    return f"{STEPS[(after, call)]}-{case_id(fault)}"


def test_the_fault_matrix_covers_every_call_of_a_signup(client: Client, faults: FaultInjector) -> None:
    fields = signup_fields(client, EMAIL)
    faults.calls.clear()
    assert post_json(client, "/subscriptions", fields).status_code == 202
    assert faults.calls == SIGNUP_CALLS
    assert {(after, call) for call, after, _ in matrix(SIGNUP_CALLS)} == set(STEPS)


@pytest.mark.parametrize("case", matrix(SIGNUP_CALLS), ids=_id)
def test_a_fault_at_any_step_is_503_then_the_same_request_is_accepted_as_if_it_never_happened(
    client: Client, outbox: Outbox, faults: FaultInjector, case: tuple[str, int, Fault],
) -> None:
    call, after, fault = case
    # A signup without the fault, for comparison (same account, another address).
    assert post_json(client, "/subscriptions", signup_fields(client, REFERENCE)).status_code == 202
    fields = signup_fields(client, EMAIL)

    faults.inject(call, fault, times=1, after=after)
    response = post_json(client, "/subscriptions", fields)
    assert sum(faults.injected.values()) == 1, "the fault was not reached"
    assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
    # Given back: the CAPTCHA is unsolved again, the per-IP count and the mail claim are
    # the reference's alone, and no mail went out.
    # A consume that failed itself gives nothing back; after it, the CAPTCHA is reserved for
    # this address.
    given_back = STEPS[(after, call)] != "captcha"
    held = {"ip hits": 1, "mail claims": 1, "reserved": int(given_back),
            "challenges": [(False, False, "0"), (True, True, "0")]}
    assert shared_totals() == held
    assert mails_to(outbox, EMAIL) == []
    # Never half-written: the subscriber and its event exist together or not at all.
    written = stored_shape(EMAIL)
    assert len(written["subscribers"]) == len(written["ledger"]) <= 1
    if given_back:  # only the same request gets it again: not another address
        other = post_json(client, "/subscriptions", {**fields, "email": "anden@example.org"})
        assert other.status_code == 400 and json.loads(other.body)["Code"] == "CaptchaUsed"
        assert shared_totals() == held

    retry = post_json(client, "/subscriptions", fields)
    assert retry.status_code == 202, retry.body
    assert json.loads(retry.body)["status"] == "accepted"
    assert stored_shape(EMAIL) == stored_shape(REFERENCE)
    assert shared_totals() == {"ip hits": 2, "mail claims": 2, "reserved": 0,
                         "challenges": [(True, True, "0")] * 2}
    one_mail_that_confirms(client, outbox, EMAIL)


def _put_in_state(email: str, status: str) -> None:
    """An address that already has a subscriber item in ``status`` (and no mail claim)."""
    now = datetime.now(UTC)
    Subscriber(tokens.subscriber_id(email), email=email, status=status, topics=[], created_at=now,
               updated_at=now, digest_partition="confirmed" if status == CONFIRMED else None).save()


@pytest.mark.parametrize("status", [PENDING, CONFIRMED, UNSUBSCRIBED])
def test_a_refused_mail_for_an_address_we_know_is_retried_as_if_it_never_happened(
    client: Client, outbox: Outbox, faults: FaultInjector, status: str,
) -> None:
    """Pending and unsubscribed addresses get a new confirmation (their record is rewritten
    before the mail), confirmed ones the "already subscribed" mail (nothing rewritten)."""
    for email in (REFERENCE, EMAIL):
        _put_in_state(email, status)
    assert post_json(client, "/subscriptions", signup_fields(client, REFERENCE)).status_code == 202
    fields = signup_fields(client, EMAIL)
    faults.inject("sesv2.SendEmail", MESSAGE_REJECTED, times=1)
    response = post_json(client, "/subscriptions", fields)
    assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
    assert mails_to(outbox, EMAIL) == []

    assert post_json(client, "/subscriptions", fields).status_code == 202
    assert stored_shape(EMAIL) == stored_shape(REFERENCE)
    assert shared_totals() == {"ip hits": 2, "mail claims": 2, "reserved": 0,
                         "challenges": [(True, True, "0")] * 2}
    [mail] = mails_to(outbox, EMAIL)
    [reference] = mails_to(outbox, REFERENCE)
    assert mail.subject == reference.subject
    if status != CONFIRMED:
        assert client.http.post(path_of(confirm_link(mail))).status_code == 200


def _signup_page_fields(client: Client) -> list[tuple[str, str]]:
    """What a browser without JavaScript posts from GET /nyhedsbrev (its hidden fields too)."""
    page = client.http.get("/nyhedsbrev")
    assert page.status_code == 200
    hidden = re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page.body.decode())
    assert dict(hidden)["captcha_id"]
    return [*hidden, ("email", EMAIL), ("topics", "metoder"), ("captcha_answer", ANSWER), ("consent", "on")]


def _result_page(client: Client, response: Any) -> str:
    assert response.status_code == 303, response.body
    page = client.http.get(path_of(response.headers["Location"]))
    body: str = page.body.decode()
    assert not any(marker in body for marker in INTERNALS)
    return body


# Each step once, with the first fault of its service.
FORM_CASES = [(call, after, BY_SERVICE[call.split(".")[0]][0])
              for call, after in dict.fromkeys((call, after) for call, after, _ in matrix(SIGNUP_CALLS))]


@pytest.mark.parametrize("case", FORM_CASES, ids=_id)
def test_the_form_without_javascript_under_a_fault_is_a_503_page_and_the_resend_works(
    client: Client, outbox: Outbox, faults: FaultInjector, case: tuple[str, int, Fault],
) -> None:
    call, after, fault = case
    fields = _signup_page_fields(client)
    faults.inject(call, fault, times=1, after=after)
    response = post_form(client, "/subscriptions", fields)
    assert faults.injected, "the fault was not reached"
    # The page itself, with an honest status: reloading it sends the same form again.
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    page = response.body.decode()
    assert "Prøv igen om lidt" in page and "sende formularen igen" in page
    assert not any(marker in page for marker in INTERNALS)
    assert mails_to(outbox, EMAIL) == []

    # The browser sends the same form again (reload, or back and submit).
    assert "Tjek din indbakke" in _result_page(client, post_form(client, "/subscriptions", fields))
    assert shared_totals() == {"ip hits": 1, "mail claims": 1, "reserved": 0,
                         "challenges": [(True, True, "0")]}
    written = stored_shape(EMAIL)
    assert [item["status"]["S"] for item in written["subscribers"]] == ["pending"]
    assert [event["event"]["S"] for event in written["ledger"]] == ["requested"]
    one_mail_that_confirms(client, outbox, EMAIL)


def test_when_the_give_back_fails_too_the_answer_is_still_a_clean_503(
    client: Client, outbox: Outbox, faults: FaultInjector,
) -> None:
    """DynamoDB still busy for the give-back: the visitor sees the signup's own 503, and the
    retry needs a new CAPTCHA (the old one says so in Danish); nothing else is left held."""
    fields = signup_fields(client, EMAIL)
    faults.inject("dynamodb.UpdateItem", THROTTLING, after=1)  # per-IP count, then every give-back
    response = post_json(client, "/subscriptions", fields)
    assert faults.injected["dynamodb.UpdateItem ThrottlingException"] == 2  # the count, the give-back
    faults.clear()
    assert_clean_unavailable(response.status_code, response.headers, response.body.decode())

    again = post_json(client, "/subscriptions", fields)
    # Its proof of work is spent with it, and said first.
    assert again.status_code == 400 and json.loads(again.body)["Code"] == "ProofOfWorkUsed"
    assert "nyt billede" in json.loads(again.body)["Message"]
    captcha_id, proof = worked_challenge(client)
    fresh = {**fields, "captcha_id": captcha_id, "proof_of_work": proof}
    assert post_json(client, "/subscriptions", fresh).status_code == 202
    one_mail_that_confirms(client, outbox, EMAIL)


def test_a_give_back_racing_identical_retries_accepts_the_request_once(
    client: Client, outbox: Outbox, faults: FaultInjector,
) -> None:
    """Twenty copies of one request at once while the first to reach SES fails and gives the
    CAPTCHA back: whatever the interleaving, at most one is accepted, and one mail in all."""
    fields = signup_fields(client, EMAIL)
    faults.inject("sesv2.SendEmail", THROTTLING, times=1)
    # Identical requests: the Chalice app's one shared current_request cannot mix them up.
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = Counter(pool.map(
            lambda _: post_json(client, "/subscriptions", fields).status_code, range(20)))
    assert faults.injected, "the fault was not reached"
    assert statuses[503] == 1 and statuses[202] <= 1 and statuses[500] == 0
    assert statuses[202] + statuses[400] == 19
    if statuses[202] == 0:  # every copy ran before the give-back: the retry after is accepted
        assert post_json(client, "/subscriptions", fields).status_code == 202
    assert post_json(client, "/subscriptions", fields).status_code == 400  # used, for good now
    one_mail_that_confirms(client, outbox, EMAIL)
    written = stored_shape(EMAIL)
    assert [event["event"]["S"] for event in written["ledger"]] == ["requested", "confirmed"]


@pytest.mark.dynamodb  # a conditional ADD of -1, on AWS's own emulator too
def test_a_refund_uncounts_one_hit_and_never_goes_below_zero_or_revives_an_item() -> None:
    counted = limiter.default_limiter().hit("test", "subject", limit=2, window_seconds=3600)
    limiter.default_limiter().hit("test", "subject", limit=2, window_seconds=3600)
    with pytest.raises(limiter.RateLimited):
        limiter.default_limiter().hit("test", "subject", limit=2, window_seconds=3600)
    assert limiter.default_limiter().refund(counted)
    limiter.default_limiter().hit("test", "subject", limit=2, window_seconds=3600)  # the refunded place
    with pytest.raises(limiter.RateLimited):
        limiter.default_limiter().hit("test", "subject", limit=2, window_seconds=3600)
    assert limiter.default_limiter().refund(counted) and limiter.default_limiter().refund(counted)
    assert not limiter.default_limiter().refund(counted)  # at zero

    from chalicelib.limits.model import RateLimit

    assert _raw_item(counted.key)[counted.window] == {"N": "0"}
    gone = limiter.Hit("test#expired-item", counted.window)
    assert not limiter.default_limiter().refund(gone)
    assert RateLimit.count(gone.key) == 0
    other_window = limiter.Hit(counted.key, "w0")  # a window the item no longer (or never) held
    assert not limiter.default_limiter().refund(other_window)
    assert "w0" not in _raw_item(counted.key)


def _raw_item(key: str) -> dict[str, Any]:
    import boto3

    from chalicelib.core.config import get_settings

    found: dict[str, Any] = boto3.client("dynamodb").get_item(
        TableName=get_settings().ratelimits_table, Key={"key": {"S": key}}, ConsistentRead=True)["Item"]
    return found
