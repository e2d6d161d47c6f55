"""What the confirm and unsubscribe links do (and the unsubscribe mail, and one-click).

- ``confirm_state(token)``: what the confirm page shows; one GetItem, changes nothing.
- ``confirm(token, context)``: pending → confirmed. Idempotent: a repeat, or the loser of a
  race, gets ``already-confirmed``; exactly one call changes the state.
- After a confirm, the welcome mail (manage links, what to expect): claimed in the confirm's
  own write, so only the call that confirmed sends it; if SES fails, the claim is released
  and the next click on the confirmation link (``already-confirmed``) sends it. Never two.
- ``unsubscribe(token, context, method)``: stop all mail. Idempotent; an unknown or erased
  subscriber is already "unsubscribed".

Tokens are checked here (``newsletter.tokens``); the state changes are the store's. Each
function takes the store as a keyword argument (the app's by default). See docs/newsletter.md.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

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
        if current.welcomed_at is None:
            # Confirmed, but its welcome failed (or predates welcomes): send it now, once.
            claimed = store.claim_welcome(sid)
            if claimed is not None:
                _welcome(sid, current, claimed, store)
        return ALREADY_CONFIRMED
    _refuse_confirm(current, now)
    proof: str | None = current.request_event_key
    for _ in range(2):
        try:
            claimed = store.confirm(sid, current, proof=proof, context=context)
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
        _welcome(sid, current, claimed, store)
        return CONFIRMED_NOW
    raise busy()


def _welcome(sid: str, current: Subscriber, claimed: datetime, store: SubscriberStore,
             send: Callable[[str, str, dict[str, Any]], str] | None = None) -> None:
    """Send the welcome mail whose claim this call holds. A failure through AWS releases the
    claim and is logged: the confirm stands (its answer is the truth), and the next click on
    the link sends the welcome. Anything else (a bug) propagates, after the release."""
    from chalicelib.core import faults
    from chalicelib.newsletter import mails

    try:
        (send or mails.send)("welcome", current.email, {
            "manage_token": tokens.manage_token(sid),
            "topics": mails.topic_labels(cast(list[str], current.topics or []))})
    except Exception as problem:
        try:
            store.release_welcome(sid, claimed)
        except Exception as again:
            log.warning("Could not release the welcome claim of subscriber %s: %s", sid, again)
        if faults.classify(problem) is None:
            raise
        log.warning("Welcome mail for subscriber %s failed; the next confirm click sends it: %s",
                    sid, problem)
        return
    log.info("Sent welcome mail to subscriber %s", sid)


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
