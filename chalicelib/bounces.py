"""SES bounce and complaint notifications (delivered through SNS).

A permanent bounce or a complaint suppresses the address for good: status ``suppressed``,
``digest_partition`` removed (so it leaves ``digest-index``), and a consent-ledger event,
in one transaction. The ledger event's key is derived from the notification, so the same
notification delivered again (SNS delivers at least once) cancels the transaction and
changes nothing. Transient and undetermined bounces change nothing: SES retries those.

Both SES formats are read: identity notifications (``notificationType``) and
configuration-set event publishing (``eventType``). A ``Received`` notification (a mail to
the List-Unsubscribe mailto, published by SES email receiving) goes to
``mailto_unsubscribe``. No Chalice here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import tokens
from chalicelib.models.ledger import ConsentEvent
from chalicelib.models.subscribers import SUPPRESSED, Subscriber

log = logging.getLogger(__name__)


class NotAnSesNotification(ValueError):
    """The SNS message is not a bounce, complaint or delivery notification from SES."""


@dataclass(frozen=True)
class Action:
    address: str
    outcome: str  # suppressed | duplicate | unknown-address | ignored, or mailto_unsubscribe's


def normalise(address: str) -> str:
    """The form subscriber ids are derived from: signup's (``addresses.normalise``), or
    plain lower case for an address that form refuses (it cannot be a subscriber then,
    and the lookup simply finds nobody)."""
    from chalicelib import addresses

    try:
        return addresses.normalise(address)
    except addresses.InvalidAddress:
        return address.strip().lower()


def _time(raw: str | None) -> datetime:
    if raw:
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def parse(message: str) -> dict[str, Any]:
    try:
        notification = json.loads(message)
    except ValueError:
        raise NotAnSesNotification("not JSON") from None
    if not isinstance(notification, dict) or not isinstance(notification.get("mail"), dict):
        raise NotAnSesNotification("no 'mail' object")
    kind = notification.get("notificationType") or notification.get("eventType")
    if not isinstance(kind, str):
        raise NotAnSesNotification("neither notificationType nor eventType")
    notification["kind"] = kind
    return notification


def handle(message: str) -> list[Action]:
    """Apply one SES notification; returns what happened to each recipient it names."""
    notification = parse(message)
    kind = notification["kind"]
    ses_message_id = str(notification["mail"].get("messageId", ""))
    if kind == "Received":
        # A mail to the unsubscribe address (SES email receiving, infra/inbound.yaml).
        from chalicelib import mailto_unsubscribe

        outcome = mailto_unsubscribe.handle(notification)
        return [Action(outcome.address, outcome.outcome)]
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        recipients = bounce.get("bouncedRecipients") or []
        if bounce.get("bounceType") != "Permanent":
            log.info("%s bounce for SES message %s: no change (SES retries these)",
                     bounce.get("bounceType"), ses_message_id)
            return [Action(str(r.get("emailAddress", "")), "ignored") for r in recipients]
        feedback_id = str(bounce.get("feedbackId", ses_message_id))
        at = _time(bounce.get("timestamp"))
        return [_suppress(str(r.get("emailAddress", "")), "bounced", at, feedback_id, {
            "bounce_type": str(bounce.get("bounceType")),
            "bounce_subtype": str(bounce.get("bounceSubType", "")),
            "diagnostic": str(r.get("diagnosticCode", ""))[:500],
            "ses_message_id": ses_message_id,
            "feedback_id": feedback_id,
        }) for r in recipients]
    if kind == "Complaint":
        complaint = notification.get("complaint") or {}
        feedback_id = str(complaint.get("feedbackId", ses_message_id))
        at = _time(complaint.get("timestamp"))
        return [_suppress(str(r.get("emailAddress", "")), "complained", at, feedback_id, {
            "feedback_type": str(complaint.get("complaintFeedbackType") or ""),
            "ses_message_id": ses_message_id,
            "feedback_id": feedback_id,
        }) for r in complaint.get("complainedRecipients") or []]
    log.info("SES %s notification for %s: nothing to do", kind, ses_message_id)
    return []


def _suppress(address: str, event: str, at: datetime, feedback_id: str,
              detail: dict[str, str]) -> Action:
    sid = tokens.subscriber_id(normalise(address))
    # One notification names a recipient once: (feedback id, subscriber) is the event.
    digest = hashlib.sha256(f"{feedback_id}|{sid}".encode()).hexdigest()[:16]
    event_key = f"{at.isoformat(timespec='milliseconds')}#{event}#{digest}"
    now = datetime.now(UTC)
    try:
        with TransactWrite(connection=Subscriber._get_connection().connection) as transaction:
            transaction.update(
                Subscriber(sid),
                actions=[
                    Subscriber.status.set(SUPPRESSED),
                    Subscriber.suppressed_at.set(Subscriber.suppressed_at | at),
                    Subscriber.suppressed_reason.set(event),
                    Subscriber.updated_at.set(now),
                    Subscriber.digest_partition.remove(),
                    # A suppression outlives a pending signup's expiry.
                    Subscriber.expires_ttl.remove(),
                ],
                condition=Subscriber.subscriber_id.exists(),
            )
            transaction.save(ConsentEvent(sid, event_key, event=event, at=at, detail=detail),
                             condition=ConsentEvent.event_key.does_not_exist())
    except TransactWriteError as problem:
        # pynamodb sends condition checks, deletes, puts, then updates: [ledger, subscriber].
        reasons = [reason.code if reason else None for reason in problem.cancellation_reasons or []]
        if reasons[:1] == ["ConditionalCheckFailed"]:
            log.info("SES %s notification %s seen before; nothing changes", event, feedback_id)
            return Action(address, "duplicate")
        if reasons[1:2] == ["ConditionalCheckFailed"]:
            log.info("SES %s for an address we do not know; nothing to suppress", event)
            return Action(address, "unknown-address")
        raise
    log.warning("Suppressed subscriber %s after a %s (feedback %s)", sid, event, feedback_id)
    return Action(address, "suppressed")
