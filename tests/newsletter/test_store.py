"""The subscriber store on its own: each status change is written with its ledger event or
not at all, a stale read is refused as ``Changed``, and time is the store's injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.newsletter import lifecycle
from chalicelib.newsletter.models import (
    CONFIRMED,
    PENDING,
    SUPPRESSED,
    UNSUBSCRIBED,
    ConsentEvent,
    Subscriber,
)
from chalicelib.newsletter.store import Changed, RequestContext, SubscriberStore
from chalicelib.newsletter.tokens import confirm_token, hash_secret

pytestmark = pytest.mark.dynamodb

SID = "5" * 32
SECRET = "s" * 22
CONTEXT = RequestContext("192.0.2.7", "Testbrowser/1.0", "https://borgerdialog.dk/nyhedsbrev")
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _pending(store: SubscriberStore, clock: Clock) -> Subscriber:
    store.request(SID, email="laeser@example.org", topics=("metoder",), secret_hash=hash_secret(SECRET),
                  expires=clock.now + timedelta(hours=48), context=CONTEXT, current=None)
    found = store.get(SID)
    assert found is not None
    return found


def _events(kind: str) -> list[ConsentEvent]:
    return [event for event in ConsentEvent.query(SID, consistent_read=True) if event.event == kind]


def test_each_change_writes_its_event_at_the_store_clocks_time() -> None:
    clock = Clock()
    store = SubscriberStore(clock=clock)
    pending = _pending(store, clock)
    assert pending.status == PENDING and pending.created_at == START
    [requested] = _events("requested")
    assert requested.at == START and requested.source_ip == "192.0.2.7"
    assert requested.expires_ttl == int((START + timedelta(hours=48)).timestamp())

    clock.now = START + timedelta(hours=1)
    store.confirm(SID, pending, proof=pending.request_event_key, context=CONTEXT)
    confirmed = store.get(SID)
    assert confirmed is not None and confirmed.status == CONFIRMED and confirmed.confirmed_at == clock.now
    assert _events("requested")[0].expires_ttl is None  # the proof of consent no longer expires

    clock.now = START + timedelta(days=30)
    store.unsubscribe(SID, confirmed, context=CONTEXT, method="page")
    [unsubscribed] = _events("unsubscribed")
    assert unsubscribed.at == clock.now and unsubscribed.detail is not None
    assert unsubscribed.detail.as_dict() == {"method": "page", "previous_status": CONFIRMED}  # type: ignore[no-untyped-call]
    gone = store.get(SID)
    assert gone is not None and gone.status == UNSUBSCRIBED and gone.digest_partition is None


def test_a_stale_read_changes_nothing_and_says_so() -> None:
    clock = Clock()
    store = SubscriberStore(clock=clock)
    pending = _pending(store, clock)
    store.confirm(SID, pending, proof=pending.request_event_key, context=CONTEXT)
    with pytest.raises(Changed) as changed:
        store.unsubscribe(SID, pending, context=CONTEXT, method="page")  # read before the confirm
    assert changed.value.failed == {"subscriber"}
    current = store.get(SID)
    assert current is not None and current.status == CONFIRMED and _events("unsubscribed") == []


def test_suppress_is_once_per_notification_and_needs_a_subscriber() -> None:
    clock = Clock()
    store = SubscriberStore(clock=clock)
    _pending(store, clock)

    def suppress(sid: str) -> str:
        return store.suppress(sid, event="bounced", at=START, notification_id="feedback-1", detail={"x": "y"})

    assert suppress(SID) == "suppressed"
    assert suppress(SID) == "duplicate"
    assert suppress("6" * 32) == "unknown-address"
    current = store.get(SID)
    assert current is not None and current.status == SUPPRESSED and current.expires_ttl is None
    assert len(_events("bounced")) == 1


def test_a_link_expires_by_the_clock_of_the_store_it_is_checked_with() -> None:
    clock = Clock()
    store = SubscriberStore(clock=clock)
    _pending(store, clock)
    token = confirm_token(SID, SECRET)
    assert lifecycle.confirm_state(token, store=store).state == "pending"
    clock.now = START + timedelta(hours=48, seconds=1)
    assert lifecycle.confirm_state(token, store=store).state == "expired"


def test_erase_leaves_nothing_of_them() -> None:
    clock = Clock()
    store = SubscriberStore(clock=clock)
    _pending(store, clock)
    assert store.erase(SID) == 1
    assert store.get(SID) is None and store.events(SID) == []
    assert store.erase(SID) == 0  # idempotent
