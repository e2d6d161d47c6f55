"""Newsletter subscriptions: double opt-in signup, confirm, unsubscribe, export and erase.

The rules this module keeps (see README "Nyhedsbrev / newsletter"):
- The CAPTCHA is consumed before anything else is written; rate limits come before any mail.
- A signup that fails after that for a reason that is not the visitor's (AWS busy, SES
  refusing mail: a 503) gives back what it took: the CAPTCHA, the per-IP count and the
  mail claim. Its record, if written, carries a confirmation secret derived from the CAPTCHA
  id, so the retry of the same request finds it and only sends the missing mail. The retry
  therefore succeeds and leaves what a signup without the fault leaves.
- A signup answers the same whatever state the address is in (no enumeration): new, pending,
  confirmed, unsubscribed and suppressed addresses all get "accepted". New, pending and
  unsubscribed addresses are (re)sent a confirmation mail, confirmed ones a "you are already
  subscribed" mail with their links, suppressed ones nothing; at most one mail per address
  per ``confirm_mail_interval_hours``.
- Every state change is one DynamoDB transaction of the subscriber update (conditional on the
  state it was read in) and its consent-ledger event (insert-only), so neither is half-written
  and concurrent requests change state exactly once.
- Confirm and unsubscribe are idempotent: repeating them is a success that changes nothing.
- Erase deletes the subscriber item, their ledger events and their mail claim; nothing is kept.
- A signup never confirmed leaves nothing: its ledger events carry the pending item's
  ``expires_ttl`` and go with it. Confirming removes the TTL from the confirmed ``requested``
  event (the proof of consent) in the confirm's own transaction.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import categories, consent, ratelimit, tokens, transient
from chalicelib.config import get_settings
from chalicelib.models.ledger import ConsentEvent
from chalicelib.models.subscribers import (
    CONFIRMED,
    DIGEST_PARTITION,
    PENDING,
    SUPPRESSED,
    UNSUBSCRIBED,
    Subscriber,
)
from chalicelib.subscription_outcomes import (
    ALREADY_CONFIRMED,
    CONFIRMED_NOW,
    ERASED,
    SIGNUP_ACCEPTED,
    UNSUBSCRIBED_NOW,
    SubscriptionError,
)

if TYPE_CHECKING:
    from chalicelib.captcha import Solved

log = logging.getLogger(__name__)

FIELDS = ("email", "captcha_id", "captcha_answer", "topics", "consent", "consent_version")
MAX_TEXT = 500  # user agent and form URL are cut here before they reach the ledger
MAIL_CLAIM = "confirm-mail"
SIGNUP_IP = "signup-ip"


def _invalid_link() -> SubscriptionError:
    return SubscriptionError(
        404, "InvalidLink",
        "Linket er ugyldigt eller bruges ikke længere. Kopiér hele linket fra den nyeste mail, "
        "eller tilmeld dig igen på borgerdialog.dk.",
    )


class MailUnavailable(Exception):
    """The confirmation mail could not be sent; the visitor may simply try again."""


@dataclass(frozen=True)
class RequestContext:
    """Who asked, as the consent ledger records it."""

    source_ip: str | None
    user_agent: str | None
    form_url: str | None


@dataclass(frozen=True)
class SignupInput:
    email: str  # normalised (chalicelib/addresses.py)
    captcha_id: str
    captcha_answer: str
    topics: tuple[str, ...]  # category slugs in category order; empty means every category


# ---------------------------------------------------------------------------- validation


def _bad(code: str, message: str) -> SubscriptionError:
    return SubscriptionError(400, code, message)


def parse_signup(fields: Mapping[str, Any]) -> SignupInput:
    """Check a decoded JSON object or form (values already typed) before anything is written."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        return_names = ", ".join(FIELDS)
        raise _bad("UnknownField", f"Ukendt felt {unknown[0][:40]!r}. Tilladte felter: {return_names}.")
    missing = [name for name in ("email", "captcha_id", "captcha_answer", "consent") if name not in fields]
    if missing:
        raise _bad("MissingField", f"Feltet {missing[0]!r} mangler.")
    for name in ("email", "captcha_id", "captcha_answer"):
        if not isinstance(fields[name], str):
            raise _bad("WrongType", f"Feltet {name!r} skal være tekst.")
    if fields["consent"] is not True:
        raise _bad(
            "ConsentRequired",
            "Du skal give samtykke (sæt flueben) for at tilmelde dig nyhedsbrevet.",
        )
    shown = fields.get("consent_version")
    if shown is not None and shown != consent.current().version:
        # The visitor agreed to a text we no longer show: record nothing they did not see.
        raise _bad("ConsentOutdated", "Samtykketeksten er blevet ændret. Genindlæs siden, læs den nye "
                   "tekst og tilmeld dig igen.")
    topics = fields.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(topic, str) for topic in topics):
        raise _bad("WrongType", "Feltet 'topics' skal være en liste af emner (tekst).")
    known = [category.slug for category in categories.all_categories()]
    unknown_topics = [topic for topic in topics if topic not in known]
    if unknown_topics:
        raise _bad("UnknownTopic", f"Ukendt emne. Vælg blandt: {', '.join(known)}.")
    captcha_id, answer = fields["captcha_id"], fields["captcha_answer"]
    if not captcha_id or len(captcha_id) > 100:
        raise _bad("CaptchaMissing", "Hent en ny CAPTCHA og prøv igen.")
    if not answer.strip() or len(answer) > 20:
        raise _bad("CaptchaMissing", "Skriv tegnene fra billedet (eller lydfilen).")

    from chalicelib.addresses import InvalidAddress, normalise

    try:
        email = normalise(fields["email"])
    except InvalidAddress as problem:
        raise _bad("InvalidEmail", str(problem)) from None
    chosen = tuple(slug for slug in known if slug in topics)
    return SignupInput(email=email, captcha_id=captcha_id, captcha_answer=answer.strip(), topics=chosen)


def _clip(value: str | None) -> str | None:
    return value[:MAX_TEXT] if value else None


def _ip_subject(source_ip: str | None) -> str:
    """What the per-IP limit counts: the address, or its /64 for IPv6 (one household or
    server gets a whole /64, so counting single IPv6 addresses would limit nothing)."""
    if not source_ip:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(source_ip)
    except ValueError:
        return "unknown"
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


# ---------------------------------------------------------------------------- tokens


def confirm_token(sid: str, secret: str) -> str:
    """``<subscriber_id>.<secret>``: finds the subscriber in one GetItem; only the secret's
    hash is stored, so the table alone cannot confirm anyone."""
    return f"{sid}.{secret}"


def confirm_url(token: str) -> str:
    return f"{get_settings().api_url}/subscriptions/confirm?token={token}"


def _split_confirm_token(token: str) -> tuple[str, str]:
    sid, _, secret = token.partition(".")
    if len(sid) != 32 or not all(c in "0123456789abcdef" for c in sid) or not 16 <= len(secret) <= 64:
        raise _invalid_link()
    return sid, secret


def _manage_sid(token: str) -> str:
    sid = tokens.verify_manage_token(token)
    if sid is None:
        raise _invalid_link()
    return sid


# ---------------------------------------------------------------------------- storage helpers


def _now() -> datetime:
    return datetime.now(UTC)


def _load(sid: str) -> Subscriber | None:
    try:
        return Subscriber.get(sid, consistent_read=True)
    except DoesNotExist:
        return None


def _event(sid: str, kind: str, at: datetime, context: RequestContext | None,
           detail: dict[str, str] | None = None, *, expires_ttl: int | None = None) -> ConsentEvent:
    return ConsentEvent(
        sid,
        f"{at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{secrets.token_hex(4)}",
        event=kind,
        at=at,
        source_ip=_clip(context.source_ip) if context else None,
        user_agent=_clip(context.user_agent) if context else None,
        form_url=_clip(context.form_url) if context else None,
        consent_version=consent.current().version,
        detail=detail or None,
        expires_ttl=expires_ttl,
    )


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


def _connection() -> Any:
    # The model's own connection, so transactions reuse its botocore client.
    return Subscriber._get_connection().connection


def _cancelled(problem: TransactWriteError) -> bool:
    return problem.cause_response_code == "TransactionCanceledException"


def _reasons(problem: TransactWriteError) -> list[str | None]:
    """Why each item of a cancelled transaction was refused (None: not that item)."""
    return [reason.code if reason is not None and reason.code not in ("", "None") else None
            for reason in problem.cancellation_reasons or []]


def _conditions_failed(problem: TransactWriteError) -> bool:
    """Cancelled only because a condition did not hold: the data differs from what we read.
    Anything else (a conflicting transaction, throttling) is about load, not about the data:
    the caller re-raises it and ``chalicelib.transient`` makes it a 503."""
    reasons = [reason for reason in _reasons(problem) if reason is not None]
    return _cancelled(problem) and bool(reasons) and all(
        reason == "ConditionalCheckFailed" for reason in reasons)


def _unchanged_since(current: Subscriber) -> Any:
    """Condition: the item is still in the state we read (optimistic concurrency)."""
    return (Subscriber.status == current.status) & (Subscriber.updated_at == current.updated_at)


# ---------------------------------------------------------------------------- signup


def signup(request: SignupInput, context: RequestContext) -> str:
    """Consume the CAPTCHA, apply the limits, record the request, send the confirmation mail.

    Raises the CAPTCHA's rejection, ``ratelimit.RateLimited`` or ``MailUnavailable``; every
    other outcome is ``SIGNUP_ACCEPTED``, whatever state the address is in. When AWS makes
    it fail after the CAPTCHA (a transient fault, see ``chalicelib.transient``), the CAPTCHA
    and the per-IP count are given back, so the visitor's retry of the same request is not
    refused for what AWS did. Any other error propagates (a 500) and gives nothing back.
    """
    from chalicelib import captcha  # light: the picture libraries load only to draw

    # Bound to the address: if it is given back, only this address's retry can use it.
    solved = captcha.consume(request.captcha_id, request.captcha_answer,
                             tokens.subscriber_id(request.email))
    counted: ratelimit.Hit | None = None
    try:
        settings = get_settings()
        counted = ratelimit.hit(SIGNUP_IP, _ip_subject(context.source_ip),
                                limit=settings.signup_ip_limit_per_hour, window_seconds=3600)
        return _signup_counted(request, context)
    except ratelimit.RateLimited:
        raise  # the visitor's answer (429), not a fault: the challenge was spent on it
    except Exception as problem:
        # Only for a 503 (AWS busy, SES refusing mail): the retry is then accepted. A bug or
        # a missing permission is a 500 that repeats; giving the CAPTCHA back would let it
        # be replayed without end.
        if transient.classify(problem) is not None:
            _give_back(solved, counted)
        raise


def _give_back(solved: Solved, counted: ratelimit.Hit | None) -> None:
    """Undo the CAPTCHA consume and the per-IP count of a failed signup. Best effort: if
    AWS is still failing, the request's own error is what the visitor must see (the retry
    then needs a new CAPTCHA, as before this existed)."""
    from chalicelib import captcha

    try:
        if not captcha.give_back(solved):
            log.warning("CAPTCHA %s was no longer held by this signup", solved.captcha_id)
    except Exception as problem:  # never mask the signup's own error
        log.warning("Could not give CAPTCHA %s back: %s", solved.captcha_id, problem)
    if counted is None:
        return
    try:
        ratelimit.refund(counted)
    except Exception as problem:
        log.warning("Could not refund the per-IP count of a failed signup: %s", problem)


def _signup_counted(request: SignupInput, context: RequestContext) -> str:
    """The signup once its CAPTCHA and per-IP limit have passed."""
    settings = get_settings()
    sid = tokens.subscriber_id(request.email)
    current = _load(sid)
    if current is not None and current.status == SUPPRESSED:
        # Mail to it bounced or was marked as spam: never mail it again, say nothing.
        log.info("Signup for suppressed subscriber %s: nothing sent", sid)
        return SIGNUP_ACCEPTED
    # Taken for this request (its CAPTCHA): its retry may take over a claim it failed to
    # give back, so a release lost to a fault does not swallow the retry's mail for a day.
    held = ratelimit.claim(MAIL_CLAIM, sid, seconds=settings.confirm_mail_interval_hours * 3600,
                           request=request.captcha_id)
    if held is None:
        log.info("Signup for subscriber %s: a mail went out recently; nothing sent", sid)
        return SIGNUP_ACCEPTED
    try:
        if current is not None and current.status == CONFIRMED:
            # They forgot they are subscribed: tell them, with their links, change nothing.
            _send("already", request.email, {"manage_token": tokens.manage_token(sid),
                                             "topics": _labels(tuple(cast(list[str], current.topics)))})
            log.info("Sent already-subscribed mail for subscriber %s", sid)
            return SIGNUP_ACCEPTED
        secret = tokens.request_secret(request.captcha_id, sid)
        if _recorded_by_this_request(current, secret, request):
            # This same request wrote the record before failing (SES refused the mail):
            # the record stands as written, only the mail is missing. A retry that changed
            # the topics is recorded again below, so the mail, the record and the ledger agree.
            log.info("Signup for subscriber %s retried; sending its mail", sid)
        elif _record_request(request, context, sid, secret, current) is None:
            return SIGNUP_ACCEPTED
        _send("confirm", request.email, {
            "confirm_url": confirm_url(confirm_token(sid, secret)),
            "hours": settings.confirm_token_hours,
            "topics": _labels(request.topics),
        })
    except Exception as problem:
        # Give the claim back, so another request for the address is not silently swallowed
        # for a day (this request's own retry may take it over even if this fails).
        _release(held, sid)
        if isinstance(problem, TransactWriteError) or transient.classify(problem) is None:
            raise  # a fault elsewhere (503), or a bug or missing permission (500, logged)
        log.warning("Mail for subscriber %s failed: %s", sid, problem)
        raise MailUnavailable from problem
    log.info("Sent confirmation mail for subscriber %s", sid)
    return SIGNUP_ACCEPTED


def _release(held: ratelimit.Claim, sid: str) -> None:
    """Best effort: the signup's own error is what the visitor must see."""
    try:
        if not ratelimit.release(held):
            log.warning("Mail claim for subscriber %s was no longer held by this signup", sid)
    except Exception as problem:
        log.warning("Could not release the mail claim for subscriber %s: %s", sid, problem)


def _written_with(current: Subscriber | None, secret: str) -> bool:
    """The pending record holds this request's secret: this request (its CAPTCHA) wrote it."""
    return (current is not None and current.status == PENDING
            and current.confirm_token_hash is not None
            and hmac.compare_digest(current.confirm_token_hash, tokens.hash_secret(secret)))


def _recorded_by_this_request(current: Subscriber | None, secret: str, request: SignupInput) -> bool:
    """Written by this request as it stands: same secret, topics and consent text."""
    return (current is not None and _written_with(current, secret)
            and list(current.topics or []) == list(request.topics)
            and current.consent_version == consent.current().version)


def _record_request(request: SignupInput, context: RequestContext, sid: str, secret: str,
                    current: Subscriber | None) -> datetime | None:
    """Write the pending subscriber (new token) and its ``requested`` event in one
    transaction; None when a concurrent change won (theirs stands).

    When ``current`` was written by an earlier attempt of this same request (which answered
    503, so its mail never went out) with other topics or consent text, its ``requested``
    event is deleted in the same transaction: the ledger keeps one request, the one the
    mail names and the person confirms."""
    superseded = current.request_event_key if _written_with(current, secret) and current else None
    now = _now()
    expires = now + timedelta(hours=get_settings().confirm_token_hours)
    ttl = int(expires.timestamp())  # the event expires with the pending item, to the second
    event = _event(sid, "requested", now, context, {"topics": ",".join(request.topics)},
                   expires_ttl=ttl)
    try:
        with TransactWrite(connection=_connection()) as transaction:
            if current is None:
                transaction.save(Subscriber(
                    sid, email=request.email, status=PENDING, topics=list(request.topics),
                    consent_version=consent.current().version, created_at=now, updated_at=now,
                    confirm_token_hash=tokens.hash_secret(secret), confirm_expires_at=expires,
                    expires_ttl=ttl, request_event_key=event.event_key,
                ), condition=Subscriber.subscriber_id.does_not_exist())
            else:
                transaction.update(Subscriber(sid), actions=[
                    Subscriber.status.set(PENDING),
                    Subscriber.email.set(request.email),
                    Subscriber.topics.set(cast(Any, list(request.topics))),
                    Subscriber.consent_version.set(consent.current().version),
                    Subscriber.updated_at.set(now),
                    Subscriber.confirm_token_hash.set(tokens.hash_secret(secret)),
                    Subscriber.confirm_expires_at.set(expires),
                    Subscriber.expires_ttl.set(ttl),
                    Subscriber.request_event_key.set(event.event_key),
                ], condition=_unchanged_since(current))
            transaction.save(event, condition=ConsentEvent.event_key.does_not_exist())
            if superseded is not None:
                transaction.delete(ConsentEvent(sid, superseded))
    except TransactWriteError as problem:
        if not _conditions_failed(problem):
            # Load (a conflicting transaction, throttling): the signup's fault path gives back
            # what it took and answers 503, and the same request's retry records it.
            raise
        again = _load(sid)
        if _recorded_by_this_request(again, secret, request):
            # Our own write, seen as a conflict (its first attempt did commit): it stands,
            # and its mail is what is missing.
            log.info("Signup for subscriber %s was already recorded by this request", sid)
            return expires
        # Changed between our read and our write (a parallel signup, a confirm).
        log.info("Signup for subscriber %s lost a race; leaving it", sid)
        return None
    return expires


def _labels(slugs: tuple[str, ...]) -> list[str]:
    known = categories.by_slug()
    return [known[slug].label for slug in slugs if slug in known]


SUBJECTS = {
    "confirm": "Bekræft din tilmelding til nyhedsbrevet fra Center for Borgerdialog",
    "already": "Du er allerede tilmeldt nyhedsbrevet fra Center for Borgerdialog",
}


def _send(kind: str, to: str, context: dict[str, Any]) -> None:
    """One of the signup mails (templates ``mail/<kind>.txt|html``). Its only visitor-typed
    text is the address itself."""
    from chalicelib import mail
    from chalicelib.templating import render

    settings = get_settings()
    full = {**context, "email": to, "site_url": settings.site_url, "api_url": settings.api_url}
    mail.send(mail.Mail(
        to=to, subject=SUBJECTS[kind],
        text=render(f"mail/{kind}.txt", **full), html=render(f"mail/{kind}.html", **full),
        headers={"Auto-Submitted": "auto-generated"},
    ))


# ---------------------------------------------------------------------------- confirm


@dataclass(frozen=True)
class ConfirmState:
    """What the confirm page shows for a token (read only)."""

    state: str  # pending | confirmed | expired | unsubscribed | suppressed


def _check_confirm_token(token: str) -> tuple[str, Subscriber]:
    sid, secret = _split_confirm_token(token)
    current = _load(sid)
    if current is None or not current.confirm_token_hash or not hmac.compare_digest(
            current.confirm_token_hash, tokens.hash_secret(secret)):
        raise _invalid_link()
    return sid, current


def confirm_state(token: str) -> ConfirmState:
    """The state behind a confirmation link, for the page; changes nothing (one GetItem)."""
    now = _now()
    _, current = _check_confirm_token(token)
    if current.status == PENDING and current.confirm_expires_at and current.confirm_expires_at < now:
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


def confirm(token: str, context: RequestContext) -> str:
    """Confirm a pending subscription. Idempotent: a repeat, or the loser of a race, gets
    ``ALREADY_CONFIRMED``; exactly one call changes the state."""
    now = _now()
    sid, current = _check_confirm_token(token)
    if current.status == CONFIRMED:
        return ALREADY_CONFIRMED
    _refuse_confirm(current, now)
    proof: str | None = current.request_event_key
    for _ in range(2):
        try:
            _confirm_write(sid, current, proof, now, context)
        except TransactWriteError as problem:
            if not _conditions_failed(problem):
                raise  # load (TransactionConflict, throttling): a 503; the retry keeps the proof
            _, again = _check_confirm_token(token)
            if again.status == CONFIRMED:
                return ALREADY_CONFIRMED
            _refuse_confirm(again, now)
            if proof is None or again.updated_at != current.updated_at or \
                    _reasons(problem) != [None, None, "ConditionalCheckFailed"]:
                raise SubscriptionError(
                    409, "Busy", "Tilmeldingen blev ændret samtidig. Prøv igen.") from None
            # Only the requested event's condition failed: it is missing (deleted by hand).
            # Confirm without it rather than refuse this link for ever.
            log.warning("Requested event %s of subscriber %s is missing", proof, sid)
            proof = None
            continue
        log.info("Confirmed subscriber %s", sid)
        return CONFIRMED_NOW
    raise SubscriptionError(409, "Busy", "Tilmeldingen blev ændret samtidig. Prøv igen.")


def _confirm_write(sid: str, current: Subscriber, proof: str | None, now: datetime,
                   context: RequestContext) -> None:
    """One transaction: the subscriber, their ``confirmed`` event and, when known, the
    ``requested`` event being confirmed, which stops expiring (the proof of consent)."""
    with TransactWrite(connection=_connection()) as transaction:
        transaction.update(Subscriber(sid), actions=[
            Subscriber.status.set(CONFIRMED),
            Subscriber.digest_partition.set(DIGEST_PARTITION),
            Subscriber.confirmed_at.set(now),
            Subscriber.updated_at.set(now),
            Subscriber.expires_ttl.remove(),
        ], condition=(Subscriber.status == PENDING)
            & (Subscriber.confirm_token_hash == current.confirm_token_hash))
        transaction.save(_event(sid, "confirmed", now, context),
                         condition=ConsentEvent.event_key.does_not_exist())
        if proof is not None:
            # Conditional: an update of a missing item would create a bare one.
            transaction.update(ConsentEvent(sid, proof), actions=[ConsentEvent.expires_ttl.remove()],
                               condition=ConsentEvent.event_key.exists())


# ---------------------------------------------------------------------------- unsubscribe


def check_manage_token(token: str) -> str:
    """The subscriber id in a genuine manage link (no AWS call), else InvalidLink."""
    return _manage_sid(token)


def unsubscribe(token: str, context: RequestContext, method: str,
                extra: Mapping[str, str] | None = None) -> str:
    """Stop all mail to the subscriber. Idempotent; an unknown or erased subscriber is
    already "unsubscribed". ``method`` (one-click, page, api, mailto) and ``extra`` (what
    identifies the request, e.g. the SES message id of an unsubscribe mail) go into the ledger."""
    sid = _manage_sid(token)
    for _ in range(3):
        current = _load(sid)
        if current is None or current.status in (UNSUBSCRIBED, SUPPRESSED):
            return UNSUBSCRIBED_NOW
        now = _now()
        try:
            with TransactWrite(connection=_connection()) as transaction:
                transaction.update(Subscriber(sid), actions=[
                    Subscriber.status.set(UNSUBSCRIBED),
                    Subscriber.digest_partition.remove(),
                    Subscriber.unsubscribed_at.set(now),
                    Subscriber.updated_at.set(now),
                ], condition=_unchanged_since(current))
                transaction.save(
                    # A pending item keeps its expiry when unsubscribed: the event goes with it.
                    _event(sid, "unsubscribed", now, context,
                           {**(extra or {}), "method": method,
                            "previous_status": current.status},
                           expires_ttl=_int_or_none(current.expires_ttl)),
                    condition=ConsentEvent.event_key.does_not_exist())
        except TransactWriteError as problem:
            if not _cancelled(problem):
                raise
            continue  # changed under us (a confirm, another unsubscribe): read again
        log.info("Unsubscribed subscriber %s (%s)", sid, method)
        return UNSUBSCRIBED_NOW
    raise SubscriptionError(409, "Busy", "Tilmeldingen blev ændret samtidig. Prøv igen.")


# ---------------------------------------------------------------------------- data rights

# Never exported: secrets (even hashed) and internal index keys.
_PRIVATE = frozenset({"confirm_token_hash", "digest_partition", "expires_ttl", "request_event_key"})


def _events(sid: str) -> list[ConsentEvent]:
    return list(ConsentEvent.query(sid, consistent_read=True))


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


def export(token: str) -> dict[str, Any]:
    """Everything held about the subscriber: their item and their consent events."""
    sid = _manage_sid(token)
    current = _load(sid)
    events = _events(sid)
    text = consent.current()
    return {
        "exported_at": _plain(_now()),
        "controller": "Center for Borgerdialog",
        "subscriber": _as_dict(current, _PRIVATE) if current else None,
        "consent_events": [_as_dict(event, _PRIVATE) for event in events],
        "consent_texts": {text.version: text.text},
    }


def erase(token: str) -> str:
    """Delete the subscriber, their ledger events and their mail claim. Idempotent.

    Nothing is kept, not even a suppression hash: the person asked us to forget the address,
    and double opt-in already stops anyone else from subscribing it again.
    """
    sid = _manage_sid(token)
    events = _events(sid)
    # The subscriber first: if AWS fails part-way, what is left is consent records of someone
    # we no longer mail (the retry deletes them), never someone we mail without them.
    Subscriber(sid).delete()
    with ConsentEvent.batch_write() as batch:
        for event in events:
            batch.delete(event)
    ratelimit.forget(MAIL_CLAIM, sid)
    log.info("Erased subscriber %s and %d ledger events", sid, len(events))
    return ERASED
