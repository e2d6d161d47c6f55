"""A subscriber's preferences: the topics (article categories) and how often the digest comes
(weekly, or monthly: the first digest run of each month), from the manage link in every mail.

- ``current(token)``: what the page shows; one GetItem, changes nothing.
- ``change(token, fields, context)``: check the fields, then the store's
  ``change_preferences`` (one transaction: the subscriber and a ``preferences-changed`` ledger
  event). Only a confirmed subscriber has preferences; a change to what is already chosen
  writes nothing.

The manage token is the proof, as it is for unsubscribing: whoever holds a digest can change
what it brings, not whose it is, and every change is in the ledger. See docs/newsletter.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.articles import categories
from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import CONFIRMED, FREQUENCIES, WEEKLY
from chalicelib.newsletter.outcomes import PREFERENCES_SAVED, SubscriptionError, busy
from chalicelib.newsletter.store import Changed, RequestContext, SubscriberStore, default_store

FIELDS = frozenset({"token", "topics", "frequency"})


@dataclass(frozen=True)
class Preferences:
    subscribed: bool  # confirmed: only then are there preferences to change
    topics: tuple[str, ...]  # empty: every category
    frequency: str


def not_subscribed() -> SubscriptionError:
    return SubscriptionError(
        409, "NotSubscribed",
        "Adressen er ikke tilmeldt nyhedsbrevet, så der er ingen valg at ændre. Tilmeld dig igen på "
        "vores hjemmeside, hvis du vil have det.")


def current(token: str, *, store: SubscriberStore | None = None) -> Preferences:
    """The subscriber's preferences for the page (one GetItem)."""
    store = store or default_store()
    found = store.get(tokens.manage_subscriber(token))
    if found is None or found.status != CONFIRMED:
        return Preferences(False, (), WEEKLY)
    return Preferences(True, tuple(str(t) for t in found.topics or ()), found.frequency or WEEKLY)


def parse(fields: Mapping[str, Any]) -> tuple[tuple[str, ...], str]:
    """The topics (in category order) and the frequency, or a 400 saying what to fix."""
    unknown = sorted(set(fields) - FIELDS)
    if unknown:
        raise SubscriptionError(400, "UnknownField", f"Ukendt felt {unknown[0][:40]!r}. Tilladte felter: "
                                "token, topics, frequency.")
    topics = fields.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(topic, str) for topic in topics):
        raise SubscriptionError(400, "WrongType", "Feltet 'topics' skal være en liste af emner (tekst).")
    known = [category.slug for category in categories.all_categories()]
    if any(topic not in known for topic in topics):
        raise SubscriptionError(400, "UnknownTopic", f"Ukendt emne. Vælg blandt: {', '.join(known)}.")
    frequency = fields.get("frequency", WEEKLY)
    if frequency not in FREQUENCIES:
        raise SubscriptionError(400, "UnknownFrequency", "Feltet 'frequency' skal være weekly (hver uge) "
                                "eller monthly (én gang om måneden).")
    return tuple(slug for slug in known if slug in topics), str(frequency)


def change(token: str, fields: Mapping[str, Any], context: RequestContext, *,
           store: SubscriberStore | None = None) -> str:
    """Save the topics and frequency in ``fields``; ``preferences-saved`` whether or not they
    differed from what was chosen."""
    store = store or default_store()
    sid = tokens.manage_subscriber(token)
    topics, frequency = parse(fields)
    for _ in range(3):
        found = store.get(sid)
        if found is None or found.status != CONFIRMED:
            raise not_subscribed()
        try:
            store.change_preferences(sid, found, topics=topics, frequency=frequency, context=context)
        except Changed:
            continue  # changed under us (another change, an unsubscribe): read again
        return PREFERENCES_SAVED
    raise busy()
