"""The per-address mail claim under faults: only the attempt that took it gives it back, and
a release lost to a fault never leaves the visitor told "accepted" with no mail sent.

A signup takes the claim before it mails; when the mail (or the record) fails it releases the
claim with a delete conditional on its own random attempt id, so a late or repeated release
never removes a newer claim. If the release fails too (DynamoDB still busy), the visitor gets
the signup's 503, and the retry of the same request takes its own leftover claim over (the
claim names the request's CAPTCHA) and sends the one mail.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from chalice.test import Client

from chalicelib.limits import limiter
from chalicelib.limits.model import RateLimit
from tests.support.faults import (
    MESSAGE_REJECTED,
    THROTTLING,
    THROUGHPUT,
    Fault,
    FaultInjector,
    assert_clean_unavailable,
    case_id,
)
from tests.support.signup_state import REFERENCE, one_mail_that_confirms, shared_totals, stored_shape
from tests.support.subscriptions import Outbox, mails_to, post_json, signup_fields

EMAIL = "claim@example.org"
SCOPE = "test-claim"
T0 = 1_800_000_000.0


def _held_by(subject: str) -> str | None:
    """The attempt id holding the claim on ``subject`` (expired or not), or None."""
    try:
        return RateLimit.get(limiter.default_limiter().subject_key(SCOPE, subject), consistent_read=True).attempt
    except RateLimit.DoesNotExist:
        return None


@pytest.mark.dynamodb  # conditional put and delete, on AWS's own emulator too
def test_a_release_gives_back_only_the_attempt_that_took_the_claim() -> None:
    first = limiter.default_limiter().claim(SCOPE, "a", seconds=60, now=T0)
    assert first is not None
    assert limiter.default_limiter().claim(SCOPE, "a", seconds=60, now=T0 + 1) is None  # held
    assert limiter.default_limiter().release(first)
    assert not limiter.default_limiter().release(first)  # given back already
    again = limiter.default_limiter().claim(SCOPE, "a", seconds=60, now=T0 + 2)
    assert again is not None and again.attempt != first.attempt


@pytest.mark.dynamodb
def test_a_late_release_never_removes_a_newer_claim() -> None:
    stale = limiter.default_limiter().claim(SCOPE, "b", seconds=10, now=T0)
    assert stale is not None
    newer = limiter.default_limiter().claim(SCOPE, "b", seconds=60, now=T0 + 20)  # the stale one expired
    assert newer is not None
    assert not limiter.default_limiter().release(stale)
    assert _held_by("b") == newer.attempt
    assert limiter.default_limiter().claim(SCOPE, "b", seconds=60, now=T0 + 21) is None
    assert limiter.default_limiter().release(newer)


@pytest.mark.dynamodb
def test_only_the_same_request_takes_over_a_claim_it_still_holds() -> None:
    first = limiter.default_limiter().claim(SCOPE, "c", seconds=60, request="captcha-1", now=T0)
    assert first is not None
    assert limiter.default_limiter().claim(SCOPE, "c", seconds=60, request="captcha-2", now=T0 + 1) is None
    assert limiter.default_limiter().claim(SCOPE, "c", seconds=60, now=T0 + 1) is None
    retry = limiter.default_limiter().claim(SCOPE, "c", seconds=60, request="captcha-1", now=T0 + 2)
    assert retry is not None
    assert not limiter.default_limiter().release(first)  # the first attempt's late release: the retry's stands
    assert _held_by("c") == retry.attempt


def test_stale_releases_racing_a_newer_claim_never_remove_it() -> None:
    """Twenty copies of a stale attempt's release at once with the newer attempt's claim:
    whichever runs first, the newer claim ends held and is released only by its own id."""
    for round_ in range(5):
        subject = f"race-{round_}"
        stale = limiter.default_limiter().claim(SCOPE, subject, seconds=10, now=T0)
        assert stale is not None
        with ThreadPoolExecutor(max_workers=21) as pool:
            releases = [pool.submit(limiter.default_limiter().release, stale) for _ in range(20)]
            newer = pool.submit(limiter.default_limiter().claim, SCOPE, subject, seconds=60, now=T0 + 20).result()
            released = sum(future.result() for future in releases)
        assert newer is not None
        assert released <= 1  # the stale claim, if its release ran before the newer claim
        assert _held_by(subject) == newer.attempt
        assert limiter.default_limiter().claim(SCOPE, subject, seconds=60, now=T0 + 21) is None
        assert limiter.default_limiter().release(newer)


# The signup steps after the claim that fail it: the record's transaction, the mail.
FAILING_STEPS = [("dynamodb.TransactWriteItems", THROUGHPUT), ("sesv2.SendEmail", MESSAGE_REJECTED)]


@pytest.mark.parametrize("step", FAILING_STEPS, ids=lambda step: "-".join(map(case_id, step)))
@pytest.mark.parametrize("release_fault", [THROTTLING, THROUGHPUT], ids=case_id)
def test_when_the_release_fails_the_visitor_gets_a_503_and_the_same_request_then_mails(
    client: Client, outbox: Outbox, faults: FaultInjector, step: tuple[str, Fault], release_fault: Fault,
) -> None:
    call, fault = step
    assert post_json(client, "/subscriptions", signup_fields(client, REFERENCE)).status_code == 202
    fields = signup_fields(client, EMAIL)
    faults.inject(call, fault, times=1)
    faults.inject("dynamodb.DeleteItem", release_fault)  # a signup deletes nothing but the claim
    response = post_json(client, "/subscriptions", fields)
    assert faults.injected[f"dynamodb.DeleteItem {release_fault.code}"] == 1, "the release was not reached"
    faults.clear()
    # Not "accepted": no mail went out, and the answer says to try again.
    assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
    assert mails_to(outbox, EMAIL) == []
    assert shared_totals()["mail claims"] == 2  # the reference's and the leftover one

    # Another address cannot use the given-back CAPTCHA, so cannot use the leftover claim.
    other = post_json(client, "/subscriptions", {**fields, "email": "anden@example.org"})
    assert other.status_code == 400 and json.loads(other.body)["Code"] == "CaptchaUsed"

    retry = post_json(client, "/subscriptions", fields)
    assert retry.status_code == 202, retry.body
    assert stored_shape(EMAIL) == stored_shape(REFERENCE)
    assert shared_totals() == {"ip hits": 2, "mail claims": 2, "reserved": 0,
                         "challenges": [(True, True, "0")] * 2}
    one_mail_that_confirms(client, outbox, EMAIL)
    # The retry's claim is a real one: a new request within the interval sends nothing more
    # (the two mails are the confirmation and the welcome after confirming).
    assert post_json(client, "/subscriptions", signup_fields(client, EMAIL)).status_code == 202
    assert len(mails_to(outbox, EMAIL)) == 2
