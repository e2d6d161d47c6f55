"""SES bounce and complaint notifications through the SNS handler, each delivered twice."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client

from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import CONFIRMED, PENDING, SUPPRESSED, ConsentEvent, Subscriber
from tests.support.digest import add_subscriber, invoke, notify
from tests.support.fixtures import SES_FIXTURES

# Suppression is a transaction whose cancellation reasons say what happened: checked
# against DynamoDB Local too, where they are DynamoDB's own.
pytestmark = pytest.mark.dynamodb


def in_digest_index() -> set[str]:
    return {s.subscriber_id for s in Subscriber.digest_index.query("confirmed")}


def test_a_permanent_bounce_suppresses_once(client: Client) -> None:
    # The notification spells the address with capitals; signup stored it normalised.
    sid = add_subscriber("forkert.adresse@example.org")
    other = add_subscriber("laeser@example.org")
    assert notify(client, "bounce-permanent.json") == [
        {"address": "Forkert.Adresse@example.org", "outcome": "suppressed"}]
    assert notify(client, "bounce-permanent.json") == [
        {"address": "Forkert.Adresse@example.org", "outcome": "duplicate"}]
    subscriber = Subscriber.get(sid)
    assert (subscriber.status, subscriber.suppressed_reason) == (SUPPRESSED, "bounced")
    assert subscriber.digest_partition is None
    assert in_digest_index() == {other}
    [event] = ConsentEvent.query(sid)
    assert event.event == "bounced"
    assert event.detail is not None and event.detail["bounce_type"] == "Permanent"
    assert "User unknown" in event.detail["diagnostic"]


def test_a_complaint_suppresses_once(client: Client) -> None:
    sid = add_subscriber("klager@example.org", topics=["cases"])
    for _ in range(2):
        notify(client, "complaint.json")
    subscriber = Subscriber.get(sid)
    assert (subscriber.status, subscriber.suppressed_reason) == (SUPPRESSED, "complained")
    assert in_digest_index() == set()
    assert [event.event for event in ConsentEvent.query(sid)] == ["complained"]


def test_a_transient_bounce_changes_nothing(client: Client) -> None:
    sid = add_subscriber("fuld.postkasse@example.org")
    before = Subscriber.get(sid).attribute_values
    for _ in range(2):
        assert notify(client, "bounce-transient.json") == [
            {"address": "fuld.postkasse@example.org", "outcome": "ignored"}]
    assert Subscriber.get(sid).attribute_values == before
    assert Subscriber.get(sid).status == CONFIRMED
    assert list(ConsentEvent.query(sid)) == []


def test_a_bounce_for_a_pending_signup_suppresses_it_for_good(client: Client) -> None:
    sid = add_subscriber("forkert.adresse@example.org", status=PENDING)
    Subscriber(sid).update(actions=[Subscriber.expires_ttl.set(2_000_000_000)])
    notify(client, "bounce-permanent.json")
    subscriber = Subscriber.get(sid)
    assert subscriber.status == SUPPRESSED and subscriber.expires_ttl is None


def test_unknown_addresses_and_foreign_messages_change_nothing(client: Client) -> None:
    assert notify(client, "complaint.json") == [{"address": "klager@example.org",
                                                 "outcome": "unknown-address"}]
    assert list(ConsentEvent.query(tokens.subscriber_id("klager@example.org"))) == []
    assert not Subscriber.count(tokens.subscriber_id("klager@example.org"))  # nothing created
    event = client.events.generate_sns_event(message="hej")
    assert invoke(client, "ses_notifications", event) == {"actions": []}


@pytest.mark.parametrize("kind", ["Bounce", "Complaint"])
def test_configuration_set_events_are_read_too(client: Client, kind: str) -> None:
    """SES event publishing says ``eventType`` where identity notifications say
    ``notificationType``; the rest of the document is the same."""
    fixture = "bounce-permanent.json" if kind == "Bounce" else "complaint.json"
    notification = json.loads((SES_FIXTURES / fixture).read_text(encoding="utf-8"))
    notification["eventType"] = notification.pop("notificationType")
    address = "forkert.adresse@example.org" if kind == "Bounce" else "klager@example.org"
    sid = add_subscriber(address)
    event = client.events.generate_sns_event(message=json.dumps(notification))
    invoke(client, "ses_notifications", event)
    assert Subscriber.get(sid).status == SUPPRESSED
