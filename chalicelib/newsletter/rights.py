"""The subscriber's own rights: export everything we hold about them, and erase it.

A digest is forwarded, so its manage token proves nothing about who holds it. It only asks
for a link (``request_link``): a rights token valid for one hour, mailed to the subscribed
address, and nowhere else. ``export`` and ``erase`` take only that token. The rules:

- ``request_link`` answers ``RIGHTS_LINK_SENT`` whatever happened (unknown or erased
  subscriber, suppressed address, a mail sent within ``LINK_MAIL_INTERVAL_SECONDS``): the
  answer says nothing about the address. At most one link mail per subscriber per interval
  (a claim in the ratelimits table), so the button cannot mail-bomb anyone; a failed send
  releases the claim, so the retry mails.
- The rights token is not single-use: export only reads, erase is idempotent, and an hour
  in the owner's own inbox is the exposure (docs/decisions/rights-links.md).

Erase keeps nothing, not even a suppression hash: the person asked us to forget the address,
and double opt-in already stops anyone else from subscribing it again. See docs/newsletter.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.core.clock import Clock, utcnow
from chalicelib.limits.limiter import Claim, Limiter, default_limiter
from chalicelib.newsletter import mails, tokens
from chalicelib.newsletter.addresses import mailbox
from chalicelib.newsletter.models import SUPPRESSED, ConsentEvent, Subscriber
from chalicelib.newsletter.outcomes import ERASED, RIGHTS_LINK_SENT
from chalicelib.newsletter.signup import MAIL_CLAIM, MAIL_DAY
from chalicelib.newsletter.store import SubscriberStore, default_store

log = logging.getLogger(__name__)

# The claim that limits link mails (ratelimits table), and its length: a few minutes is
# enough to stop a mail bomb and short enough that a lost mail can be asked for again.
RIGHTS_MAIL_CLAIM = "rights-mail"
LINK_MAIL_INTERVAL_SECONDS = 300

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


def request_link(token: str, *, store: SubscriberStore | None = None, limiter: Limiter | None = None,
                 send: Callable[[str, str, dict[str, Any]], str] = mails.send,
                 clock: Clock = utcnow) -> str:
    """Mail a rights link to the subscribed address of a manage token (or of an expired
    rights token); ``RIGHTS_LINK_SENT`` whether or not a mail went out. AWS errors propagate
    (the route's 503), after the claim of a failed send is released."""
    store = store or default_store()
    limiter = limiter or default_limiter()
    sid = tokens.link_request_subscriber(token)
    current = store.get(sid)
    if current is None or current.status == SUPPRESSED:
        # Erased or never here: nothing to send. Suppressed: mail to it bounced or was marked
        # as spam, and it is never mailed again (docs/newsletter.md).
        log.info("Rights link for subscriber %s: %s, nothing sent", sid,
                 "unknown" if current is None else "suppressed")
        return RIGHTS_LINK_SENT
    now = clock()
    held = limiter.claim(RIGHTS_MAIL_CLAIM, sid, seconds=LINK_MAIL_INTERVAL_SECONDS, now=now.timestamp())
    if held is None:
        log.info("Rights link for subscriber %s: one went out recently; nothing sent", sid)
        return RIGHTS_LINK_SENT
    try:
        # The templates say "en time": tokens.RIGHTS_LINK_SECONDS.
        send("rights", current.email, tokens.rights_urls(tokens.rights_token(sid, now=now)))
    except Exception:
        _release(limiter, held, sid)  # else the retry would be told "sent" with no mail
        raise
    log.info("Sent rights link to subscriber %s", sid)
    return RIGHTS_LINK_SENT


def _release(limiter: Limiter, held: Claim, sid: str) -> None:
    """Best effort: the send's own error is what the visitor must see. If this fails too,
    the claim simply runs out after the interval."""
    try:
        if not limiter.release(held):
            log.warning("Rights mail claim for subscriber %s was no longer held", sid)
    except Exception as problem:
        log.warning("Could not release the rights mail claim for subscriber %s: %s", sid, problem)


def export(token: str, *, store: SubscriberStore | None = None, clock: Clock = utcnow) -> dict[str, Any]:
    """Everything held about the subscriber: their item and their consent events."""
    store = store or default_store()
    sid = tokens.rights_subscriber(token, now=clock())
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


STATUS_WORDS = {"pending": "venter på, at du bekræfter tilmeldingen", "confirmed": "tilmeldt",
                "unsubscribed": "afmeldt", "suppressed": "vi sender ikke længere til adressen"}
METHOD_WORDS = {"page": "med knappen på afmeldingssiden", "one-click": "med ét klik i dit mailprogram",
                "mailto": "med en mail til vores afmeldingsadresse", "api": "via vores API"}


def _topics_in_words(value: str | None) -> str:
    slugs = [slug for slug in (value or "").split(",") if slug]
    return ", ".join(mails.topic_labels(slugs)) if slugs else "alle"


def _frequency_in_words(value: str | None) -> str:
    return "én gang om måneden" if value == "monthly" else "hver uge"


def event_in_words(event: Mapping[str, Any]) -> str:
    """One ledger event (as ``export`` lists it) in a Danish sentence, for the export page."""
    detail = event.get("detail") or {}
    kind = event.get("event")
    if kind == "requested":
        return f"Du tilmeldte dig nyhedsbrevet (emner: {_topics_in_words(detail.get('topics'))})."
    if kind == "confirmed":
        return "Du bekræftede tilmeldingen med linket i mailen."
    if kind == "unsubscribed":
        return f"Du afmeldte dig {METHOD_WORDS.get(detail.get('method', ''), '')}.".replace(" .", ".")
    if kind == "preferences-changed":
        return (f"Du ændrede dine valg: emner {_topics_in_words(detail.get('topics'))}, "
                f"{_frequency_in_words(detail.get('frequency'))}.")
    if kind == "bounced":
        return "En mail til dig kunne ikke afleveres, så vi holdt op med at sende til adressen."
    if kind == "complained":
        return "Vores mail blev markeret som spam, så vi holdt op med at sende til adressen."
    return f"Hændelse: {kind}."


MONTH_NAMES = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september",
               "oktober", "november", "december")


def _when(value: str | None) -> str | None:
    """``2026-12-01T08:13:18Z`` as "1. december 2026 kl. 08.13 (UTC)"."""
    if not value:
        return None
    moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    return f"{moment.day}. {MONTH_NAMES[moment.month - 1]} {moment.year} kl. {moment:%H.%M} (UTC)"


def readable(data: Mapping[str, Any]) -> dict[str, Any]:
    """What ``export`` returns, arranged for the Danish page (templates/subscriptions/
    export_view.html): the subscriber in words, each ledger event as a sentence."""
    subscriber = data.get("subscriber") or {}
    return {
        "email": subscriber.get("email"),
        "status": STATUS_WORDS.get(subscriber.get("status", ""), subscriber.get("status")),
        "topics": _topics_in_words(",".join(subscriber.get("topics") or [])),
        "frequency": _frequency_in_words(subscriber.get("frequency")),
        "created_at": _when(subscriber.get("created_at")),
        "confirmed_at": _when(subscriber.get("confirmed_at")),
        "unsubscribed_at": _when(subscriber.get("unsubscribed_at")),
        "events": [{"at": _when(event.get("at")), "words": event_in_words(event),
                    "ip": event.get("source_ip"), "browser": event.get("user_agent"),
                    "page": event.get("form_url"), "consent_version": event.get("consent_version")}
                   for event in data.get("consent_events", [])],
        "consent_texts": data.get("consent_texts", {}),
        "exported_at": _when(data.get("exported_at")),
    }


def erase(token: str, *, store: SubscriberStore | None = None, limiter: Limiter | None = None,
          clock: Clock = utcnow) -> str:
    """Delete the subscriber, their ledger events and their mail claims: the confirmation's
    and its count of the day's mails (keyed by the mailbox, ``addresses.mailbox``) and the
    rights link's. Idempotent.

    The mailbox claim's key comes from the stored address, so the claims go first, while the
    subscriber item is still there to read: a retry after a fault part-way still finds what
    is left."""
    sid = tokens.rights_subscriber(token, now=clock())
    store = store or default_store()
    limiter = limiter or default_limiter()
    current = store.get(sid)
    if current is not None:
        limiter.forget(MAIL_CLAIM, mailbox(current.email))
        limiter.forget(MAIL_DAY, mailbox(current.email))
    limiter.forget(RIGHTS_MAIL_CLAIM, sid)
    erased = store.erase(sid, current)
    log.info("Erased subscriber %s and %d ledger events", sid, erased)
    return ERASED
