"""The subscriber store: the one place a subscriber's status changes.

Every change is one DynamoDB transaction of the subscriber item (conditional on the state it
was read in, or on what the change needs) and its consent-ledger event (insert-only), so
neither half is ever written alone and concurrent requests change a state exactly once:

- ``request`` (signup): new, pending or unsubscribed → pending; ``requested`` (which
  expires with the pending item);
- ``confirm``: pending → confirmed; ``confirmed``, and the confirmed ``requested`` event
  stops expiring (the proof of consent); the same write claims the welcome mail
  (``welcomed_at``; ``claim_welcome``/``release_welcome`` for a send that failed);
- ``unsubscribe`` (link, one-click, mail): pending/confirmed → unsubscribed; ``unsubscribed``
  with the method;
- ``change_preferences``: a confirmed subscriber's topics and digest frequency (and so their
  ``digest-index`` partition); ``preferences-changed`` with before and after;
- ``suppress`` (bounce, complaint): any → suppressed; ``bounced``/``complained``, keyed by
  the notification;
- ``erase``: the subscriber and every event of theirs deleted.

The store knows tables, not tokens, CAPTCHAs or mail: ``newsletter.signup``,
``newsletter.lifecycle`` and ``newsletter.rights`` decide what to change and call it.
Dependencies are keyword-only (the model classes, the clock, the consent text) so tests can
move time. See docs/newsletter.md for the lifecycle and the ledger's retention rules.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.core.clock import Clock, utcnow
from chalicelib.core.conditions import TransactionCancelled, condition_failed
from chalicelib.newsletter import consent
from chalicelib.newsletter.models import (
    CONFIRMED,
    PENDING,
    SUPPRESSED,
    UNSUBSCRIBED,
    WEEKLY,
    ConsentEvent,
    Subscriber,
    digest_partition_for,
)
from chalicelib.stats.counting import CountedTransaction

log = logging.getLogger(__name__)

MAX_TEXT = 500  # user agent and form URL are cut here before they reach the ledger


@dataclass(frozen=True)
class RequestContext:
    """Who asked, as the consent ledger records it."""

    source_ip: str | None
    user_agent: str | None
    form_url: str | None


NO_CONTEXT = RequestContext(source_ip=None, user_agent=None, form_url=None)


class Changed(Exception):
    """The write was refused because the data is not what the caller read: a concurrent
    request changed it. ``failed`` names the items whose condition did not hold."""

    def __init__(self, failed: frozenset[str]) -> None:
        super().__init__(f"changed meanwhile: {', '.join(sorted(failed))}")
        self.failed = failed


@dataclass(frozen=True)
class _Preferences:
    """A subscriber's digest membership after a change, as the figures count it."""

    topics: list[str]
    frequency: str


def _clip(value: str | None) -> str | None:
    return value[:MAX_TEXT] if value else None


def _changed_or_raise(cancelled: TransactionCancelled) -> Changed:
    """``Changed`` when only conditions failed; a cancellation for load is re-raised (a 503
    through ``core.faults``), and the same request's retry then writes it."""
    if not cancelled.only_conditions:
        raise cancelled
    return Changed(frozenset(cancelled.reasons))


class SubscriberStore:
    """Subscribers and their consent ledger, changed together."""

    def __init__(self, *, subscribers: type[Subscriber] = Subscriber,
                 ledger: type[ConsentEvent] = ConsentEvent, clock: Clock = utcnow,
                 consent_text: Callable[[], consent.ConsentText] = consent.current) -> None:
        self._subscribers = subscribers
        self._ledger = ledger
        self._clock = clock
        self._consent = consent_text

    def now(self) -> datetime:
        return self._clock()

    @property
    def consent_version(self) -> str:
        return self._consent().version

    # -- reading ---------------------------------------------------------------------------

    def get(self, sid: str) -> Subscriber | None:
        """The subscriber as it is now (a consistent GetItem), or None."""
        try:
            return self._subscribers.get(sid, consistent_read=True)
        except DoesNotExist:
            return None

    def events(self, sid: str) -> list[ConsentEvent]:
        """Their ledger, oldest first (one consistent Query)."""
        return list(self._ledger.query(sid, consistent_read=True))

    # -- changes ---------------------------------------------------------------------------

    def _event(self, sid: str, kind: str, at: datetime, context: RequestContext,
               detail: Mapping[str, str] | None = None, *, expires_ttl: int | None = None,
               key: str | None = None) -> ConsentEvent:
        return self._ledger(
            sid,
            key or f"{at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{secrets.token_hex(4)}",
            event=kind, at=at,
            source_ip=_clip(context.source_ip), user_agent=_clip(context.user_agent),
            form_url=_clip(context.form_url), consent_version=self.consent_version,
            detail=dict(detail) if detail else None, expires_ttl=expires_ttl,
        )

    def _unchanged_since(self, current: Subscriber) -> Any:
        """Condition: the item is still in the state it was read in (optimistic concurrency)."""
        model = self._subscribers
        return (model.status == current.status) & (model.updated_at == current.updated_at)

    def request(self, sid: str, *, email: str, topics: Sequence[str], secret_hash: str,
                expires: datetime, context: RequestContext, current: Subscriber | None,
                superseded: str | None = None) -> str:
        """Record a signup: the subscriber pending with a new confirmation secret, and its
        ``requested`` event, both expiring with the link (``expires``). ``superseded`` is
        the key of an earlier ``requested`` event to delete in the same transaction (one
        never mailed). Returns the new event's key; raises ``Changed`` when ``current`` is
        no longer the subscriber's state."""
        model, now = self._subscribers, self._clock()
        ttl = int(expires.timestamp())  # the event expires with the pending item, to the second
        event = self._event(sid, "requested", now, context, {"topics": ",".join(topics)},
                            expires_ttl=ttl)
        version = self.consent_version
        try:
            with CountedTransaction(model) as transaction:
                if current is None:
                    transaction.save(model(
                        sid, email=email, status=PENDING, topics=list(topics), consent_version=version,
                        created_at=now, updated_at=now, confirm_token_hash=secret_hash,
                        confirm_expires_at=expires, expires_ttl=ttl, request_event_key=event.event_key,
                    ), condition=model.subscriber_id.does_not_exist(), name="subscriber")
                else:
                    transaction.update(model(sid), actions=[
                        model.status.set(PENDING),
                        model.email.set(email),
                        model.topics.set(cast(Any, list(topics))),
                        model.consent_version.set(version),
                        model.updated_at.set(now),
                        model.confirm_token_hash.set(secret_hash),
                        model.confirm_expires_at.set(expires),
                        model.expires_ttl.set(ttl),
                        model.request_event_key.set(event.event_key),
                    ], condition=self._unchanged_since(current), name="subscriber")
                transaction.record(event, condition=self._ledger.event_key.does_not_exist())
                if superseded is not None:
                    transaction.delete(self._ledger(sid, superseded), name="superseded")
        except TransactionCancelled as cancelled:
            raise _changed_or_raise(cancelled) from cancelled
        return str(event.event_key)

    def confirm(self, sid: str, current: Subscriber, *, proof: str | None,
                context: RequestContext) -> datetime:
        """pending → confirmed with a ``confirmed`` event; the ``requested`` event ``proof``
        (when known) stops expiring: it is the proof of consent. Returns the time, which is
        also the welcome mail's claim (``welcomed_at``). Raises ``Changed`` naming
        ``subscriber`` (no longer pending with this secret) and/or ``proof`` (that event is
        missing)."""
        model, ledger, now = self._subscribers, self._ledger, self._clock()
        try:
            with CountedTransaction(model) as transaction:
                transaction.update(model(sid), actions=[
                    model.status.set(CONFIRMED),
                    model.digest_partition.set(digest_partition_for(current.frequency)),
                    model.confirmed_at.set(now),
                    model.updated_at.set(now),
                    model.expires_ttl.remove(),
                    # The welcome mail's claim, in the same write: the one confirm that
                    # commits sends it, a repeat or a racing confirm does not.
                    model.welcomed_at.set(now),
                ], condition=(model.status == PENDING)
                    & (model.confirm_token_hash == current.confirm_token_hash), name="subscriber")
                transaction.record(self._event(sid, "confirmed", now, context),
                                   condition=ledger.event_key.does_not_exist(), joined=current)
                if proof is not None:
                    # Conditional: an update of a missing item would create a bare one.
                    transaction.update(ledger(sid, proof), actions=[ledger.expires_ttl.remove()],
                                       condition=ledger.event_key.exists(), name="proof")
        except TransactionCancelled as cancelled:
            raise _changed_or_raise(cancelled) from cancelled
        log.info("Confirmed subscriber %s", sid)
        return now  # the welcome claim's time

    def change_preferences(self, sid: str, current: Subscriber, *, topics: Sequence[str], frequency: str,
                           context: RequestContext) -> bool:
        """A confirmed subscriber's topics and frequency, with a ``preferences-changed`` event
        naming what they were and what they are now; the digest partition follows the
        frequency. False when nothing changed (no write, no event). Raises ``Changed`` when
        ``current`` is no longer the state (or the subscriber is no longer confirmed)."""
        model, now = self._subscribers, self._clock()
        before_topics = [str(topic) for topic in current.topics or []]
        before_frequency = current.frequency or WEEKLY
        if before_topics == list(topics) and before_frequency == frequency:
            return False
        event = self._event(sid, "preferences-changed", now, context, {
            "topics": ",".join(topics), "frequency": frequency,
            "previous_topics": ",".join(before_topics), "previous_frequency": before_frequency})
        try:
            with CountedTransaction(model) as transaction:
                transaction.update(model(sid), actions=[
                    model.topics.set(cast(Any, list(topics))),
                    model.frequency.set(frequency),
                    model.digest_partition.set(digest_partition_for(frequency)),
                    model.updated_at.set(now),
                ], condition=self._unchanged_since(current) & (model.status == CONFIRMED), name="subscriber")
                # The figures move the subscriber from the old topics/frequency to the new ones.
                transaction.record(event, condition=self._ledger.event_key.does_not_exist(),
                                   left=current, joined=_Preferences(list(topics), frequency))
        except TransactionCancelled as cancelled:
            raise _changed_or_raise(cancelled) from cancelled
        log.info("Preferences of subscriber %s changed", sid)
        return True

    def claim_welcome(self, sid: str) -> datetime | None:
        """Claim the welcome mail of a confirmed subscriber whose welcome was never sent (its
        send failed and was released): one conditional UpdateItem. The claim's time, or None
        when it is taken or the subscriber is no longer confirmed."""
        model, now = self._subscribers, self._clock()
        try:
            model(sid).update(actions=[model.welcomed_at.set(now)],
                              condition=model.welcomed_at.does_not_exist() & (model.status == CONFIRMED))
        except UpdateError as problem:
            if not condition_failed(problem):
                raise
            return None
        return now

    def release_welcome(self, sid: str, claimed: datetime) -> None:
        """Give the welcome claim back (its mail failed), so a later confirm click sends it:
        conditional on the claim being this one."""
        model = self._subscribers
        try:
            model(sid).update(actions=[model.welcomed_at.remove()], condition=model.welcomed_at == claimed)
        except UpdateError as problem:
            if not condition_failed(problem):
                raise

    def unsubscribe(self, sid: str, current: Subscriber, *, context: RequestContext, method: str,
                    detail: Mapping[str, str] | None = None) -> None:
        """pending/confirmed → unsubscribed, off the digest index, with an ``unsubscribed``
        event naming ``method`` (one-click, page, api, mailto) and ``detail``. A pending item
        keeps its expiry, and the event gets the same one. Raises ``Changed`` when
        ``current`` is no longer the state."""
        model, now = self._subscribers, self._clock()
        event = self._event(sid, "unsubscribed", now, context,
                            {**(detail or {}), "method": method, "previous_status": current.status},
                            expires_ttl=None if current.expires_ttl is None else int(current.expires_ttl))
        try:
            with CountedTransaction(model) as transaction:
                transaction.update(model(sid), actions=[
                    model.status.set(UNSUBSCRIBED),
                    model.digest_partition.remove(),
                    model.unsubscribed_at.set(now),
                    model.updated_at.set(now),
                ], condition=self._unchanged_since(current), name="subscriber")
                transaction.record(event, condition=self._ledger.event_key.does_not_exist(),
                                   left=current if current.status == CONFIRMED else None)
        except TransactionCancelled as cancelled:
            raise _changed_or_raise(cancelled) from cancelled
        log.info("Unsubscribed subscriber %s (%s)", sid, method)

    def suppress(self, sid: str, *, event: str, at: datetime, notification_id: str,
                 detail: Mapping[str, str]) -> str:
        """Never mail them again after a permanent bounce or a complaint (``event``): status
        suppressed, off the digest index, no expiry (it outlives a pending signup), and a
        ledger event keyed by (``notification_id``, subscriber), so the same notification
        delivered again changes nothing. Returns ``suppressed``, ``duplicate`` or
        ``unknown-address``."""
        model, now = self._subscribers, self._clock()
        digest = hashlib.sha256(f"{notification_id}|{sid}".encode()).hexdigest()[:16]
        key = f"{at.isoformat(timespec='milliseconds')}#{event}#{digest}"
        entry = self._ledger(sid, key, event=event, at=at, detail=dict(detail))
        # Read first: whether they were getting the digest (and in which topics) is what the
        # figures subtract; the write is conditional on that state, and read again if it moved.
        for _attempt in range(3):
            current = self.get(sid)
            if current is None:
                log.info("SES %s for an address we do not know; nothing to suppress", event)
                return "unknown-address"
            try:
                with CountedTransaction(model) as transaction:
                    transaction.update(model(sid), actions=[
                        model.status.set(SUPPRESSED),
                        model.suppressed_at.set(model.suppressed_at | at),
                        model.suppressed_reason.set(event),
                        model.updated_at.set(now),
                        model.digest_partition.remove(),
                        model.expires_ttl.remove(),
                    ], condition=self._unchanged_since(current), name="subscriber")
                    transaction.record(entry, condition=self._ledger.event_key.does_not_exist(),
                                       left=current if current.status == CONFIRMED else None,
                                       digest=detail.get("digest") or None)
            except TransactionCancelled as cancelled:
                if cancelled.failed("event"):
                    log.info("SES %s notification %s seen before; nothing changes", event, notification_id)
                    return "duplicate"
                if cancelled.only_conditions:
                    continue  # changed (or erased) since we read it: read again
                raise
            log.warning("Suppressed subscriber %s after a %s (notification %s)", sid, event,
                        notification_id)
            return "suppressed"
        raise Changed(frozenset({"subscriber"}))

    def erase(self, sid: str, current: Subscriber | None = None) -> int:
        """Delete the subscriber and every ledger event of theirs; returns how many events.

        The subscriber first: if AWS fails part-way, what is left is consent records of
        someone we no longer mail (the retry deletes them), never someone we mail without
        them. With ``current`` (the item as the caller read it) the delete is one
        transaction with the figures' ``erased`` count (and, if they got the digest, one
        subscriber less), conditional on the item still existing so a retry counts nothing
        twice. Idempotent.
        """
        events = self.events(sid)
        if current is None:
            self._subscribers(sid).delete()
        else:
            try:
                with CountedTransaction(self._subscribers) as transaction:
                    transaction.delete(self._subscribers(sid),
                                       condition=self._subscribers.subscriber_id.exists(),
                                       name="subscriber")
                    transaction.count("erased", self._clock(),
                                      left=current if current.status == CONFIRMED else None)
            except TransactionCancelled as cancelled:
                if not cancelled.failed("subscriber"):
                    raise  # gone already (an earlier attempt): nothing to count again
        with self._ledger.batch_write() as batch:
            for entry in events:
                batch.delete(entry)
        return len(events)


@lru_cache(maxsize=1)
def default_store() -> SubscriberStore:
    """The app's store: the stage's tables, the real clock and consent text."""
    return SubscriberStore()
