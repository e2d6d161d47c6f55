"""The double opt-in signup: check the form, consume the CAPTCHA, apply the limits, record
the request, send the confirmation mail.

The rules it keeps (docs/newsletter.md tells why):
- A JSON signup brings the solved proof of work of its challenge (``proof_of_work``,
  chalicelib/captcha/work.py); a form post may come without one, but then only with a
  challenge made without a puzzle (the no-JavaScript page's, limited per IP harder). The
  CAPTCHA's consume checks the proof before the answer and spends it in the same write.
- The CAPTCHA is consumed before anything else is written; rate limits come before any mail.
- A signup that fails after that for a reason that is not the visitor's (AWS busy, SES
  refusing mail: a 503) gives back what it took: the CAPTCHA, the per-IP count and the
  mail claim. Its record, if written, carries a confirmation secret derived from the CAPTCHA
  id, so the retry of the same request finds it and only sends the missing mail. The retry
  therefore succeeds and leaves what a signup without the fault leaves.
- A signup answers the same whatever state the address is in (no enumeration): new, pending,
  confirmed, unsubscribed and suppressed addresses all get "accepted". New, pending and
  unsubscribed addresses are (re)sent a confirmation mail, confirmed ones a "you are already
  subscribed" mail with their links, suppressed ones nothing. A mailbox gets at most one
  mail per ``confirm_mail_interval_minutes`` (a claim) and ``confirm_mails_per_day`` in any
  24 hours (a sliding count): so a lost mail can be sent again after a short wait, and a
  stranger still cannot fill the inbox. Both are on ``addresses.mailbox`` of the address, so
  ``victim+1@``, ``victim+2@``, … share them, while the mail goes to the address as typed and
  the record stays that address's.
- The per-IP limit is a sliding window (``limits.limiter``), so no burst passes twice by
  straddling the change of the hour.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from pynamodb.exceptions import TransactWriteError

from chalicelib.articles import categories
from chalicelib.core import faults
from chalicelib.core.conditions import TransactionCancelled
from chalicelib.core.config import Settings, get_settings
from chalicelib.limits.limiter import Claim, Hit, Limiter, RateLimited, Slot, default_limiter
from chalicelib.limits.subjects import ip_subject
from chalicelib.newsletter import mails, tokens
from chalicelib.newsletter.addresses import mailbox
from chalicelib.newsletter.models import CONFIRMED, PENDING, SUPPRESSED, Subscriber
from chalicelib.newsletter.outcomes import SIGNUP_ACCEPTED, SubscriptionError
from chalicelib.newsletter.store import Changed, RequestContext, SubscriberStore, default_store

if TYPE_CHECKING:
    from chalicelib.captcha.challenges import CaptchaService, Solved

log = logging.getLogger(__name__)

# form_page: the address of the page the form is on, which the form sends itself (our pages
# send no Referer); checked against the site's own pages by the route (newsletter.actions).
FIELDS = ("email", "captcha_id", "captcha_answer", "topics", "consent", "consent_version", "proof_of_work",
          "form_page")
# Limit scopes in the ratelimits table: the mail claim per mailbox (``addresses.mailbox``),
# the mailbox's sliding count of mails in 24 hours, the sliding per-IP count.
MAIL_CLAIM = "confirm-mail"
MAIL_DAY = "confirm-mail-day"
SIGNUP_IP = "signup-ip"
IP_WINDOW_SECONDS = 3600
DAY_SECONDS = 24 * 3600


class MailUnavailable(Exception):
    """The confirmation mail could not be sent; the visitor may simply try again."""


@dataclass(frozen=True)
class SignupInput:
    email: str  # normalised (newsletter.addresses)
    captcha_id: str
    captcha_answer: str
    topics: tuple[str, ...]  # category slugs in category order; empty means every category
    # The solved proof of work (ALTCHA's payload) as sent, checked by the CAPTCHA's consume;
    # None for a form post from the no-JavaScript page.
    proof_of_work: str | None = None


# ---------------------------------------------------------------------------- the form


def _bad(code: str, message: str) -> SubscriptionError:
    return SubscriptionError(400, code, message)


def parse_signup(fields: Mapping[str, Any], *, consent_version: str,
                 proof_required: bool = True) -> SignupInput:
    """Check a decoded JSON object or form (values already typed) before anything is written.
    ``proof_required``: the post must bring a proof of work (JSON does; a form post need not)."""
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
    if shown is not None and shown != consent_version:
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
        raise _bad("CaptchaMissing", "Hent et nyt billede med tegn og prøv igen.")
    if not answer.strip() or len(answer) > 20:
        raise _bad("CaptchaMissing", "Skriv tegnene fra billedet (eller lydfilen).")
    proof = fields.get("proof_of_work")
    if proof is not None and not isinstance(proof, str):
        raise _bad("WrongType", "Feltet 'proof_of_work' skal være tekst: løsningen som base64.")
    if not proof and proof_required:
        from chalicelib.captcha.work import MESSAGES, MISSING

        raise _bad(MISSING, MESSAGES[MISSING])

    from chalicelib.newsletter.addresses import InvalidAddress, normalise

    try:
        email = normalise(fields["email"])
    except InvalidAddress as problem:
        raise _bad("InvalidEmail", str(problem)) from None
    chosen = tuple(slug for slug in known if slug in topics)
    return SignupInput(email=email, captcha_id=captcha_id, captcha_answer=answer.strip(), topics=chosen,
                       proof_of_work=proof or None)


# ---------------------------------------------------------------------------- the signup


class Signup:
    """The signup with what it talks to: the subscriber store, the limiter, the CAPTCHA
    service, the settings and the mail sender (all keyword-only; the app's by default)."""

    def __init__(self, *, store: SubscriberStore, limiter: Limiter, captcha: CaptchaService,
                 settings: Settings, send: Callable[[str, str, dict[str, Any]], str] = mails.send) -> None:
        self._store = store
        self._limiter = limiter
        self._captcha = captcha
        self._settings = settings
        self._send = send

    def parse(self, fields: Mapping[str, Any], *, proof_required: bool = True) -> SignupInput:
        return parse_signup(fields, consent_version=self._store.consent_version,
                            proof_required=proof_required)

    def run(self, request: SignupInput, context: RequestContext) -> str:
        """Consume the CAPTCHA, apply the limits, record the request, send the mail.

        Raises the proof of work's or the CAPTCHA's rejection (``WorkRejected``,
        ``CaptchaRejected``), ``RateLimited`` or ``MailUnavailable``; every other
        outcome is ``SIGNUP_ACCEPTED``, whatever state the address is in. When AWS makes it
        fail after the CAPTCHA (a transient fault, see ``core.faults``), the CAPTCHA and the
        per-IP count are given back, so the visitor's retry of the same request is not
        refused for what AWS did. Any other error propagates (a 500) and gives nothing back.
        """
        # Bound to the address: if it is given back, only this address's retry can use it.
        solved = self._captcha.consume(request.captcha_id, request.captcha_answer,
                                       tokens.subscriber_id(request.email), request.proof_of_work)
        counted: Hit | None = None
        try:
            counted = self._limiter.hit(SIGNUP_IP, ip_subject(context.source_ip),
                                        limit=self._settings.signup_ip_limit_per_hour,
                                        window_seconds=IP_WINDOW_SECONDS)
            return self._counted(request, context)
        except RateLimited:
            raise  # the visitor's answer (429), not a fault: the challenge was spent on it
        except Exception as problem:
            # Only for a 503 (AWS busy, SES refusing mail): the retry is then accepted. A bug or
            # a missing permission is a 500 that repeats; giving the CAPTCHA back would let it
            # be replayed without end.
            if faults.classify(problem) is not None:
                self._give_back(solved, counted)
            raise

    def _give_back(self, solved: Solved, counted: Hit | None) -> None:
        """Undo the CAPTCHA consume and the per-IP count of a failed signup. Best effort: if
        AWS is still failing, the request's own error is what the visitor must see (the retry
        then needs a new CAPTCHA, as before this existed)."""
        try:
            if not self._captcha.give_back(solved):
                log.warning("CAPTCHA %s was no longer held by this signup", solved.captcha_id)
        except Exception as problem:  # never mask the signup's own error
            log.warning("Could not give CAPTCHA %s back: %s", solved.captcha_id, problem)
        if counted is None:
            return
        try:
            self._limiter.refund(counted)
        except Exception as problem:
            log.warning("Could not refund the per-IP count of a failed signup: %s", problem)

    def _counted(self, request: SignupInput, context: RequestContext) -> str:
        """The signup once its CAPTCHA and per-IP limit have passed."""
        sid = tokens.subscriber_id(request.email)
        current = self._store.get(sid)
        if current is not None and current.status == SUPPRESSED:
            # Mail to it bounced or was marked as spam: never mail it again, say nothing.
            log.info("Signup for suppressed subscriber %s: nothing sent", sid)
            return SIGNUP_ACCEPTED
        # One claim per mailbox, whichever of its addresses was typed (name+1@, name+2@, …).
        # Taken for this request (its CAPTCHA, which only this address can use again): its
        # retry may take over a claim it failed to give back, so a release lost to a fault
        # does not swallow the retry's mail for a day.
        held = self._limiter.claim(MAIL_CLAIM, mailbox(request.email),
                                   seconds=self._settings.confirm_mail_interval_minutes * 60,
                                   request=request.captcha_id)
        if held is None:
            log.info("Signup for subscriber %s: a mail went to its mailbox recently; nothing sent", sid)
            return SIGNUP_ACCEPTED
        # The claim lets a lost mail be sent again after minutes; this count keeps a stranger
        # from doing that all day. Over it, the claim stays: nothing is sent this interval.
        try:
            # Exact slots, not the per-IP limits' two-window estimate: that one let a mailbox
            # get 5 mails in one 24 hours (bench/bot_economics.py); this holds "at most 3".
            day = self._limiter.take_slot(MAIL_DAY, mailbox(request.email), window_seconds=DAY_SECONDS,
                                          slots=self._settings.confirm_mails_per_day)
        except RateLimited:
            log.info("Signup for subscriber %s: its mailbox had its mails for today; nothing sent", sid)
            return SIGNUP_ACCEPTED
        except Exception:
            self._release(held, sid)
            raise
        try:
            if current is not None and current.status == CONFIRMED:
                # They forgot they are subscribed: tell them, with their links, change nothing.
                self._send("already", request.email, {
                    "manage_token": tokens.manage_token(sid),
                    "topics": mails.topic_labels(cast(list[str], current.topics))})
                log.info("Sent already-subscribed mail for subscriber %s", sid)
                return SIGNUP_ACCEPTED
            secret = tokens.request_secret(request.captcha_id, sid)
            if self._recorded_by_this_request(current, secret, request):
                # This same request wrote the record before failing (SES refused the mail):
                # the record stands as written, only the mail is missing. A retry that changed
                # the topics is recorded again below, so the mail, the record and the ledger agree.
                log.info("Signup for subscriber %s retried; sending its mail", sid)
            elif not self._record(request, context, sid, secret, current):
                return SIGNUP_ACCEPTED
            self._send("confirm", request.email, {
                "confirm_url": tokens.confirm_url(tokens.confirm_token(sid, secret)),
                "hours": self._settings.confirm_token_hours,
                "topics": mails.topic_labels(request.topics),
            })
        except Exception as problem:
            # Give the claim and the day's count back, so another request for the address is
            # not silently swallowed (this request's own retry may take the claim over even if
            # this fails).
            self._release(held, sid)
            self._refund_day(day, sid)
            if faults.classify(problem) is None or isinstance(
                    problem, TransactionCancelled | TransactWriteError):
                raise  # a fault elsewhere (503), or a bug or missing permission (500, logged)
            log.warning("Mail for subscriber %s failed: %s", sid, problem)
            raise MailUnavailable from problem
        log.info("Sent confirmation mail for subscriber %s", sid)
        return SIGNUP_ACCEPTED

    def _release(self, held: Claim, sid: str) -> None:
        """Best effort: the signup's own error is what the visitor must see."""
        try:
            if not self._limiter.release(held):
                log.warning("Mail claim for subscriber %s was no longer held by this signup", sid)
        except Exception as problem:
            log.warning("Could not release the mail claim for subscriber %s: %s", sid, problem)

    def _refund_day(self, day: Slot, sid: str) -> None:
        """Best effort, like ``_release``: a mail not sent does not count against the day."""
        try:
            self._limiter.give_back(day)
        except Exception as problem:
            log.warning("Could not refund the mail count for subscriber %s: %s", sid, problem)

    @staticmethod
    def _written_with(current: Subscriber | None, secret: str) -> bool:
        """The pending record holds this request's secret: this request (its CAPTCHA) wrote it."""
        return (current is not None and current.status == PENDING
                and current.confirm_token_hash is not None
                and hmac.compare_digest(current.confirm_token_hash, tokens.hash_secret(secret)))

    def _recorded_by_this_request(self, current: Subscriber | None, secret: str,
                                  request: SignupInput) -> bool:
        """Written by this request as it stands: same secret, topics and consent text."""
        return (current is not None and self._written_with(current, secret)
                and list(current.topics or []) == list(request.topics)
                and current.consent_version == self._store.consent_version)

    def _record(self, request: SignupInput, context: RequestContext, sid: str, secret: str,
                current: Subscriber | None) -> bool:
        """Write the pending subscriber and its ``requested`` event; False when a concurrent
        change won (theirs stands).

        When ``current`` was written by an earlier attempt of this same request (which answered
        503, so its mail never went out) with other topics or consent text, its ``requested``
        event is deleted in the same transaction: the ledger keeps one request, the one the
        mail names and the person confirms."""
        superseded = current.request_event_key if current and self._written_with(current, secret) else None
        expires = self._store.now() + timedelta(hours=self._settings.confirm_token_hours)
        try:
            self._store.request(sid, email=request.email, topics=request.topics,
                                secret_hash=tokens.hash_secret(secret), expires=expires,
                                context=context, current=current, superseded=superseded)
        except Changed:
            if self._recorded_by_this_request(self._store.get(sid), secret, request):
                # Our own write, seen as a conflict (its first attempt did commit): it stands,
                # and its mail is what is missing.
                log.info("Signup for subscriber %s was already recorded by this request", sid)
                return True
            # Changed between our read and our write (a parallel signup, a confirm).
            log.info("Signup for subscriber %s lost a race; leaving it", sid)
            return False
        return True


def default_signup() -> Signup:
    """The app's signup: its store, limiter, CAPTCHA service and the current settings."""
    from chalicelib.captcha.challenges import default_service

    return Signup(store=default_store(), limiter=default_limiter(), captcha=default_service(),
                  settings=get_settings())
