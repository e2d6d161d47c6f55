"""SES bounce and complaint notifications (delivered through SNS).

A permanent bounce or a complaint suppresses the address for good (``SubscriberStore.
suppress``: status ``suppressed``, off ``digest-index``, and a consent-ledger event, in one
transaction). The ledger event's key is derived from the notification, so the same
notification delivered again (SNS delivers at least once) changes nothing. Transient and
undetermined bounces change nothing: SES retries those.

Both SES formats are read: identity notifications (``notificationType``) and
configuration-set event publishing (``eventType``). A ``Received`` notification (a mail to
the List-Unsubscribe mailto, published by SES email receiving) goes to
``newsletter.mailto``. No Chalice here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.core.clock import utcnow
from chalicelib.newsletter import tokens

log = logging.getLogger(__name__)


class NotAnSesNotification(ValueError):
    """The SNS message is not a bounce, complaint or delivery notification from SES."""


@dataclass(frozen=True)
class Action:
    address: str
    outcome: str  # suppressed | duplicate | unknown-address | ignored, or newsletter.mailto's


def normalise(address: str) -> str:
    """The form subscriber ids are derived from: signup's (``addresses.normalise``), or
    plain lower case for an address that form refuses (it cannot be a subscriber then,
    and the lookup simply finds nobody)."""
    from chalicelib.newsletter import addresses

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
    return utcnow()


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
    from chalicelib.stats.counting import digest_of

    digest = {"digest": found} if (found := digest_of(notification["mail"])) else {}
    if kind == "Received":
        # A mail to the unsubscribe address (SES email receiving, infra/inbound.yaml).
        from chalicelib.newsletter import mailto

        outcome = mailto.handle(notification)
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
            **digest,
        }) for r in recipients]
    if kind == "Complaint":
        complaint = notification.get("complaint") or {}
        feedback_id = str(complaint.get("feedbackId", ses_message_id))
        at = _time(complaint.get("timestamp"))
        return [_suppress(str(r.get("emailAddress", "")), "complained", at, feedback_id, {
            "feedback_type": str(complaint.get("complaintFeedbackType") or ""),
            "ses_message_id": ses_message_id,
            "feedback_id": feedback_id,
            **digest,
        }) for r in complaint.get("complainedRecipients") or []]
    log.info("SES %s notification for %s: nothing to do", kind, ses_message_id)
    return []


def _suppress(address: str, event: str, at: datetime, feedback_id: str,
              detail: dict[str, str]) -> Action:
    from chalicelib.newsletter.store import default_store

    sid = tokens.subscriber_id(normalise(address))
    # One notification names a recipient once: (feedback id, subscriber) is the event.
    outcome = default_store().suppress(sid, event=event, at=at, notification_id=feedback_id, detail=detail)
    return Action(address, outcome)
