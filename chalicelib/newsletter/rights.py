"""The subscriber's own rights, behind the manage link: export everything we hold about
them, and erase it.

Erase keeps nothing, not even a suppression hash: the person asked us to forget the address,
and double opt-in already stops anyone else from subscribing it again. See docs/newsletter.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.limits.limiter import Limiter, default_limiter
from chalicelib.newsletter import tokens
from chalicelib.newsletter.addresses import mailbox
from chalicelib.newsletter.models import ConsentEvent, Subscriber
from chalicelib.newsletter.outcomes import ERASED
from chalicelib.newsletter.signup import MAIL_CLAIM
from chalicelib.newsletter.store import SubscriberStore, default_store

log = logging.getLogger(__name__)

# Never exported: secrets (even hashed) and internal index keys.
_PRIVATE = frozenset({"confirm_token_hash", "digest_partition", "expires_ttl", "request_event_key"})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(item) for item in value]
    return value


def _as_dict(model: Subscriber | ConsentEvent, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in model.get_attributes():
        if name in skip:
            continue
        value = getattr(model, name)
        if value is None:
            continue
        if hasattr(value, "as_dict"):
            value = value.as_dict()
        found[name] = _plain(value)
    return found


def export(token: str, *, store: SubscriberStore | None = None) -> dict[str, Any]:
    """Everything held about the subscriber: their item and their consent events."""
    store = store or default_store()
    sid = tokens.manage_subscriber(token)
    current = store.get(sid)
    events = store.events(sid)
    from chalicelib.newsletter import consent

    text = consent.current()
    return {
        "exported_at": _plain(store.now()),
        "controller": "Center for Borgerdialog",
        "subscriber": _as_dict(current, _PRIVATE) if current else None,
        "consent_events": [_as_dict(event, _PRIVATE) for event in events],
        "consent_texts": {text.version: text.text},
    }


def erase(token: str, *, store: SubscriberStore | None = None, limiter: Limiter | None = None) -> str:
    """Delete the subscriber, their ledger events and their mailbox's mail claim. Idempotent.

    The claim is keyed by the mailbox (``addresses.mailbox``), which only the stored address
    gives, so it goes first, while the subscriber item is still there to read: a retry after
    a fault part-way then still finds what is left."""
    sid = tokens.manage_subscriber(token)
    store = store or default_store()
    current = store.get(sid)
    if current is not None:
        (limiter or default_limiter()).forget(MAIL_CLAIM, mailbox(current.email))
    erased = store.erase(sid)
    log.info("Erased subscriber %s and %d ledger events", sid, erased)
    return ERASED
