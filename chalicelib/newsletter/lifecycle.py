"""What the confirm and unsubscribe links do (and the unsubscribe mail, and one-click).

- ``confirm_state(token)``: what the confirm page shows; one GetItem, changes nothing.
- ``confirm(token, context)``: pending → confirmed. Idempotent: a repeat, or the loser of a
  race, gets ``already-confirmed``; exactly one call changes the state.
- ``unsubscribe(token, context, method)``: stop all mail. Idempotent; an unknown or erased
  subscriber is already "unsubscribed".

Tokens are checked here (``newsletter.tokens``); the state changes are the store's. Each
function takes the store as a keyword argument (the app's by default). See docs/newsletter.md.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.config import get_settings
from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import CONFIRMED, PENDING, SUPPRESSED, UNSUBSCRIBED, Subscriber
from chalicelib.newsletter.outcomes import (
    ALREADY_CONFIRMED,
    CONFIRMED_NOW,
    UNSUBSCRIBED_NOW,
    SubscriptionError,
    busy,
    invalid_link,
)
from chalicelib.newsletter.store import Changed, RequestContext, SubscriberStore, default_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConfirmState:
    """What the confirm page shows for a token (read only)."""

    state: str  # pending | confirmed | expired | unsubscribed | suppressed


def _check_confirm_token(token: str, store: SubscriberStore) -> tuple[str, Subscriber]:
    sid, secret = tokens.split_confirm_token(token)
    current = store.get(sid)
    if current is None or not current.confirm_token_hash or not hmac.compare_digest(
            current.confirm_token_hash, tokens.hash_secret(secret)):
        raise invalid_link()
    return sid, current


def confirm_state(token: str, *, store: SubscriberStore | None = None) -> ConfirmState:
    """The state behind a confirmation link, for the page; changes nothing (one GetItem)."""
    store = store or default_store()
    _, current = _check_confirm_token(token, store)
    if current.status == PENDING and current.confirm_expires_at and current.confirm_expires_at < store.now():
        return ConfirmState("expired")
    return ConfirmState(current.status)


def _refuse_confirm(current: Subscriber, now: datetime) -> None:
    if current.status == UNSUBSCRIBED:
        raise SubscriptionError(
            409, "Unsubscribed",
            "Du har afmeldt nyhedsbrevet efter denne tilmelding. Tilmeld dig igen, hvis du vil "
            "have det.",
        )
    if current.status == SUPPRESSED:
        raise SubscriptionError(
            409, "Suppressed",
            "Vi sender ikke længere til denne adresse, fordi mails til den er blevet afvist. "
            "Skriv til os, hvis det er en fejl.",
        )
    if current.confirm_expires_at is None or current.confirm_expires_at < now:
        raise SubscriptionError(
            410, "ExpiredLink",
            f"Linket er udløbet (det virker i {get_settings().confirm_token_hours} timer). "
            "Tilmeld dig igen, så sender vi et nyt.",
        )


def confirm(token: str, context: RequestContext, *, store: SubscriberStore | None = None) -> str:
    """Confirm a pending subscription; ``confirmed`` or ``already-confirmed``."""
    store = store or default_store()
    now = store.now()
    sid, current = _check_confirm_token(token, store)
    if current.status == CONFIRMED:
        return ALREADY_CONFIRMED
    _refuse_confirm(current, now)
    proof: str | None = current.request_event_key
    for _ in range(2):
        try:
            store.confirm(sid, current, proof=proof, context=context)
        except Changed as changed:
            _, again = _check_confirm_token(token, store)
            if again.status == CONFIRMED:
                return ALREADY_CONFIRMED
            _refuse_confirm(again, now)
            if proof is None or again.updated_at != current.updated_at or changed.failed != {"proof"}:
                raise busy() from None
            # Only the requested event's condition failed: it is missing (deleted by hand).
            # Confirm without it rather than refuse this link for ever.
            log.warning("Requested event %s of subscriber %s is missing", proof, sid)
            proof = None
            continue
        return CONFIRMED_NOW
    raise busy()


def unsubscribe(token: str, context: RequestContext, method: str,
                detail: Mapping[str, str] | None = None, *, store: SubscriberStore | None = None) -> str:
    """Stop all mail to the subscriber. ``method`` (one-click, page, api, mailto) and
    ``detail`` (what identifies the request, e.g. the SES message id of an unsubscribe
    mail) go into the ledger."""
    store = store or default_store()
    sid = tokens.manage_subscriber(token)
    for _ in range(3):
        current = store.get(sid)
        if current is None or current.status in (UNSUBSCRIBED, SUPPRESSED):
            return UNSUBSCRIBED_NOW
        try:
            store.unsubscribe(sid, current, context=context, method=method, detail=detail)
        except Changed:
            continue  # changed under us (a confirm, another unsubscribe): read again
        return UNSUBSCRIBED_NOW
    raise busy()
