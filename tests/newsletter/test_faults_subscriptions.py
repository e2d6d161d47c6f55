"""Confirm and unsubscribe under AWS faults: a clear 503 with Retry-After, nothing changed,
and the same request (the same link) works once the fault clears, ending exactly where a
run without the fault ends. Signup's own fault matrix is in tests/newsletter/test_faults_signup.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.newsletter import tokens
from tests.support.faults import (
    Fault,
    FaultInjector,
    assert_clean_unavailable,
    case_id,
    matrix,
)
from tests.support.subscriptions import confirm_link, held_items, post_json, subscribe, token_of

Outbox = Callable[[], list[Any]]
EMAIL = "ida@example.org"
State = tuple[list[tuple[str, bool]], list[str]]

# Confirm: read the subscriber, then one transaction (subscriber confirmed + ledger event +
# the welcome mail's claim), then the welcome. A fault at the welcome leaves the confirm
# standing and is no case here (test_welcome.py).
CONFIRM_CALLS = ["dynamodb.GetItem", "dynamodb.TransactWriteItems", "sesv2.SendEmail"]
CONFIRM_FAULTS = [case for case in matrix(CONFIRM_CALLS) if case[0] != "sesv2.SendEmail"]
# Unsubscribe: the same shape.
UNSUBSCRIBE_CALLS = ["dynamodb.GetItem", "dynamodb.TransactWriteItems"]


def _state() -> State:
    """Each subscriber's status and whether it is on the digest index; the ledger's events."""
    items = held_items()
    subscribers = sorted((item["status"]["S"], "digest_partition" in item) for item in items["subscribers"])
    return subscribers, sorted(event["event"]["S"] for event in items["ledger"])


def _confirm_token(client: Client, outbox: Outbox) -> str:
    assert subscribe(client, EMAIL).status_code == 202
    [mail] = outbox()
    return token_of(confirm_link(mail))


def test_the_fault_matrices_cover_the_calls(client: Client, outbox: Outbox, faults: FaultInjector) -> None:
    token = _confirm_token(client, outbox)
    faults.calls.clear()
    assert post_json(client, "/subscriptions/confirm", {"token": token}).status_code == 200
    assert faults.calls == CONFIRM_CALLS
    faults.calls.clear()
    unsubscribe = token_of(tokens.one_click_unsubscribe_url(tokens.subscriber_id(EMAIL)))
    assert post_json(client, "/subscriptions/unsubscribe", {"token": unsubscribe}).status_code == 200
    assert faults.calls == UNSUBSCRIBE_CALLS


@pytest.mark.parametrize("case", CONFIRM_FAULTS, ids=lambda case: "-".join(map(case_id, case)))
def test_confirm_under_faults_is_503_then_the_same_link_confirms_once(
    client: Client, outbox: Outbox, faults: FaultInjector, case: tuple[str, int, Fault],
) -> None:
    call, after, fault = case
    token = _confirm_token(client, outbox)
    before = _state()
    faults.inject(call, fault, after=after)
    response = post_json(client, "/subscriptions/confirm", {"token": token})
    faults.clear()
    assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
    assert _state() == before

    assert post_json(client, "/subscriptions/confirm", {"token": token}).status_code == 200
    assert _state() == ([("confirmed", True)], ["confirmed", "requested"])


@pytest.mark.parametrize("case", matrix(UNSUBSCRIBE_CALLS), ids=lambda case: "-".join(map(case_id, case)))
def test_unsubscribe_under_faults_is_503_then_the_same_link_unsubscribes_once(
    client: Client, outbox: Outbox, faults: FaultInjector, case: tuple[str, int, Fault],
) -> None:
    call, after, fault = case
    assert post_json(client, "/subscriptions/confirm", {"token": _confirm_token(client, outbox)}).status_code == 200
    token = token_of(tokens.one_click_unsubscribe_url(tokens.subscriber_id(EMAIL)))
    before = _state()
    faults.inject(call, fault, after=after)
    response = post_json(client, "/subscriptions/unsubscribe", {"token": token})
    faults.clear()
    assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
    assert _state() == before

    assert post_json(client, "/subscriptions/unsubscribe", {"token": token}).status_code == 200
    assert _state() == ([("unsubscribed", False)], ["confirmed", "requested", "unsubscribed"])
