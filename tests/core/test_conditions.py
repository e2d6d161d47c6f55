"""Named transactions: a cancellation names the item that failed, whatever the order the
items were added in (pynamodb sends checks, deletes, puts, updates; DynamoDB answers in
that order), and a refusal for load stays a fault (core.faults) for the route guard."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pynamodb.exceptions import TransactWriteError

from chalicelib.core.conditions import Transaction, TransactionCancelled, condition_failed
from chalicelib.core.faults import classify
from chalicelib.limits.model import RateLimit
from chalicelib.newsletter.models import ConsentEvent, Subscriber
from tests.support.faults import FaultInjector, cancelled

pytestmark = pytest.mark.dynamodb
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _subscriber(sid: str) -> Subscriber:
    return Subscriber(sid, email=f"{sid}@example.org", status="confirmed", created_at=NOW, updated_at=NOW)


def _event(sid: str) -> ConsentEvent:
    return ConsentEvent(sid, "2026-12-01T09:00:00Z#0001", event="requested", at=NOW)


def _mixed(existing: str, missing: str) -> None:
    """One of each kind, added in the reverse of the order pynamodb sends them."""
    with Transaction(Subscriber) as transaction:
        transaction.update(Subscriber(existing), actions=[Subscriber.status.set("unsubscribed")],
                           condition=Subscriber.status == "confirmed", name="update")
        transaction.save(_event(existing), condition=ConsentEvent.event_key.does_not_exist(), name="save")
        transaction.delete(RateLimit(f"claim#{existing}"), name="delete")
        transaction.condition_check(Subscriber, missing, condition=Subscriber.subscriber_id.exists(),
                                    name="check")


def test_a_cancellation_names_each_failed_item_whatever_the_order_added() -> None:
    _subscriber("a" * 32).save()
    _event("a" * 32).save()  # the put's condition fails: the event is there already
    with pytest.raises(TransactionCancelled) as raised:
        _mixed("a" * 32, "b" * 32)  # and the check's: b does not exist
    assert raised.value.reasons == {"check": "ConditionalCheckFailed", "save": "ConditionalCheckFailed"}
    assert raised.value.failed("save") and raised.value.failed("check")
    assert not raised.value.failed("update") and raised.value.only_conditions
    assert Subscriber.get("a" * 32, consistent_read=True).status == "confirmed"  # nothing written


def test_a_transaction_that_holds_writes_every_item() -> None:
    _subscriber("a" * 32).save()
    _subscriber("b" * 32).save()
    _mixed("a" * 32, "b" * 32)
    assert Subscriber.get("a" * 32, consistent_read=True).status == "unsubscribed"
    assert ConsentEvent.count("a" * 32, consistent_read=True) == 1


def test_a_cancellation_for_load_is_a_fault_not_a_changed_state(faults: FaultInjector) -> None:
    _subscriber("a" * 32).save()
    _subscriber("b" * 32).save()
    faults.inject("dynamodb.TransactWriteItems", cancelled("None", "None", "ThrottlingError", "None"))
    with pytest.raises(TransactionCancelled) as raised:
        _mixed("a" * 32, "b" * 32)
    # The third item sent is the put: named by what was sent, not by the order added.
    assert raised.value.reasons == {"save": "ThrottlingError"} and not raised.value.only_conditions
    assert isinstance(raised.value.__cause__, TransactWriteError)
    found = classify(raised.value)
    assert found is not None and found.kind == "busy"


def test_two_items_may_not_share_a_name() -> None:
    with pytest.raises(ValueError, match="two items named"), Transaction(Subscriber) as transaction:
        transaction.save(_event("a" * 32), name="event")
        transaction.save(_event("b" * 32), name="event")


def test_condition_failed_tells_a_refused_write_from_any_other_error() -> None:
    item = _subscriber("c" * 32)
    item.save()
    with pytest.raises(Exception) as refused:
        item.save(condition=Subscriber.subscriber_id.does_not_exist())
    assert condition_failed(refused.value)
    assert not condition_failed(ValueError("bug"))
