"""Preferences (issue 16, item 1): from the manage link in every mail a subscriber changes
their topics and how often the digest comes, with a POST like the other actions (JSON or
form), each change one ``preferences-changed`` ledger event, and the digest partition
following the frequency. See docs/newsletter.md#preferences."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from chalice.test import Client

from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import DIGEST_PARTITION, MONTHLY_PARTITION, ConsentEvent, Subscriber
from tests.support.site import parse_html
from tests.support.subscriptions import (
    Outbox,
    confirm_link,
    mails_to,
    path_of,
    post_form,
    post_json,
    subscribe,
    token_of,
)

EMAIL = "valg@example.org"
PAGE = "/subscriptions/preferences"


def _confirmed(client: Client, outbox: Outbox) -> str:
    assert subscribe(client, EMAIL, topics=["cases"]).status_code == 202
    [mail] = mails_to(outbox, EMAIL)
    assert post_json(client, "/subscriptions/confirm", {"token": token_of(confirm_link(mail))}).status_code == 200
    return tokens.manage_token(tokens.subscriber_id(EMAIL))


def _form(client: Client, token: str) -> tuple[list[str], str]:
    """The page's ticked topics and chosen frequency."""
    response = client.http.get(f"{PAGE}?token={token}")
    assert response.status_code == 200
    document: Any = parse_html(response.body)
    ticked = [box.get("value") for box in document.iter("input")
              if box.get("name") == "topics" and box.get("checked") is not None]
    [frequency] = [radio.get("value") for radio in document.iter("input")
                   if radio.get("name") == "frequency" and radio.get("checked") is not None]
    return ticked, frequency


def _changes() -> list[dict[str, str]]:
    return [event.detail.as_dict() if event.detail else {}  # type: ignore[no-untyped-call]
            for event in ConsentEvent.query(tokens.subscriber_id(EMAIL))
            if event.event == "preferences-changed"]


def test_the_welcome_links_to_preferences_and_a_form_post_changes_topics_and_frequency(
        client: Client, outbox: Outbox) -> None:
    token = _confirmed(client, outbox)
    welcome = mails_to(outbox, EMAIL)[-1].part("plain")
    assert f"{PAGE}?token={token}" in welcome
    assert _form(client, token) == (["cases"], "weekly")

    answer = post_form(client, PAGE, [("token", token), ("topics", "metoder"), ("topics", "cases"),
                                      ("frequency", "monthly")])
    assert answer.status_code == 303 and "status=preferences-saved" in answer.headers["Location"]
    assert _form(client, token) == (["cases", "metoder"], "monthly")
    subscriber = Subscriber.get(tokens.subscriber_id(EMAIL))
    assert subscriber.digest_partition == MONTHLY_PARTITION
    assert _changes() == [{"topics": "cases,metoder", "frequency": "monthly", "previous_topics": "cases",
                           "previous_frequency": "weekly"}]
    # The result page says it in Danish.
    result = client.http.get(path_of(answer.headers["Location"])).body.decode()
    assert "Dine valg er gemt" in result

    # JSON, back to weekly and every topic; saving the same again writes nothing.
    for _ in range(2):
        again = post_json(client, PAGE, {"token": token, "topics": [], "frequency": "weekly"})
        assert again.status_code == 200 and json.loads(again.body)["status"] == "preferences-saved"
    assert Subscriber.get(tokens.subscriber_id(EMAIL)).digest_partition == DIGEST_PARTITION
    assert len(_changes()) == 2


def test_a_change_costs_a_read_and_one_transaction(client: Client, outbox: Outbox,
                                                   aws_calls: Counter[str]) -> None:
    token = _confirmed(client, outbox)
    aws_calls.clear()
    assert post_json(client, PAGE, {"token": token, "frequency": "monthly"}).status_code == 200
    assert aws_calls == Counter({"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1})


def test_bad_preferences_are_refused_in_danish_and_change_nothing(client: Client, outbox: Outbox) -> None:
    token = _confirmed(client, outbox)
    cases = [({"token": token, "frequency": "daily"}, "UnknownFrequency"),
             ({"token": token, "topics": ["sport"]}, "UnknownTopic"),
             ({"token": token, "topics": "cases"}, "WrongType"),
             ({"token": token, "email": "x@example.org"}, "UnknownField"),
             ({"token": token[:-2] + "xx"}, "InvalidLink"),
             ({}, "MissingToken")]
    for body, code in cases:
        answer = post_json(client, PAGE, body)
        assert 400 <= answer.status_code < 500, (body, answer.body)
        assert json.loads(answer.body)["Code"] == code, body
    assert _changes() == []
    # Not (or no longer) subscribed: the page says so, and the POST is a 409.
    assert post_json(client, "/subscriptions/unsubscribe", {"token": token}).status_code == 200
    page = client.http.get(f"{PAGE}?token={token}").body.decode()
    assert "Du er ikke tilmeldt" in page and 'name="frequency"' not in page
    refused = post_json(client, PAGE, {"token": token, "frequency": "monthly"})
    assert refused.status_code == 409 and json.loads(refused.body)["Code"] == "NotSubscribed"
