"""``ses_notifications``: what SES tells us about our mail, through SNS.

Bounces and complaints suppress the address; a mail to the List-Unsubscribe mailto
unsubscribes its sender's token (``newsletter.notifications``, ``newsletter.mailto``). A
message that is not an SES notification is logged and dropped: retrying cannot make it one.
AWS faults raise, so SNS/Lambda retry them. See docs/newsletter.md.
"""

from __future__ import annotations

import logging
from typing import Any

from chalice.app import Blueprint, SNSEvent

from chalicelib.core.config import get_settings

bp = Blueprint(__name__)
log = logging.getLogger(__name__)


@bp.on_sns_message(topic=get_settings().ses_notifications_topic, name="ses_notifications")
def ses_notifications(event: SNSEvent) -> dict[str, Any]:
    from chalicelib.newsletter import notifications

    try:
        actions = notifications.handle(event.message)
    except notifications.NotAnSesNotification as problem:
        # Retrying cannot make it one; say so and drop it.
        log.error("Ignoring an SNS message that is not an SES notification: %s", problem)
        return {"actions": []}
    return {"actions": [{"address": a.address, "outcome": a.outcome} for a in actions]}
