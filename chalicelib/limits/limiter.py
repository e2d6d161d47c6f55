"""Rate limits on DynamoDB: sliding-window counters and time-boxed claims.

A counter estimates the events of the last ``window_seconds`` with two fixed windows, the
current one and the one before it, the previous one weighted by how much of it still lies
in the sliding window: ``current + previous × (1 − elapsed fraction of the current window)``.
So a limit of 20 an hour lets 20 through at once and then about one more every 3 minutes,
and 40 tries around the change of the hour pass 20 plus what the previous hour's fading
weight allows, not 40 as a window fixed to the clock hour would.

One item per subject holds both windows (an attribute per window, named by its start), so a
count is one conditional write, which holds across Lambda instances and under concurrency:
it adds one to the current window, refused by its condition once that alone is at the limit,
and returns both windows; the weighted estimate is then checked on what the write returned.
Over it, the write is taken back (one conditional decrement) and the caller refused: an
accepted event costs one request, a refused one at most two. Every accepted event saw in its
own write a count that includes every event accepted before it, so concurrent requests can
never accept more than the estimate allows (a refused one, counted for a moment, can only
make a concurrent one stricter). See docs/newsletter.md#limits.

A counted event whose request then failed (AWS busy, not the caller) can be refunded with one
conditional decrement of the window it was counted in, so a fault does not use up the
caller's quota. A claim likewise can be released by the attempt that took it, and only by
that one.

Subjects (IP addresses, mailboxes) are stored as keyed hashes: the table says how often
something happened, not who did it. ``Limiter`` takes its table, key and clock as keyword
arguments; ``default_limiter()`` is the app's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.expressions.operand import Path

from chalicelib.core.conditions import condition_failed
from chalicelib.limits.model import RateLimit

log = logging.getLogger(__name__)


@dataclass
class RateLimited(Exception):
    """Over the limit; ``retry_after`` is whole seconds until the next attempt can pass."""

    retry_after: int


@dataclass(frozen=True)
class Hit:
    """One counted event: the subject's item and the window attribute it was counted in."""

    key: str
    window: str


@dataclass(frozen=True)
class Slot:
    """One of a subject's ``slots`` taken by an event: the item, the slot's attribute and the
    event's time stored in it (``give_back`` empties the slot only while it holds that time)."""

    key: str
    name: str
    at: int


@dataclass(frozen=True)
class Claim:
    """A claim held by one attempt: ``attempt`` is random per take, so only that attempt's
    release can give it back."""

    key: str
    attempt: str


class Limiter:
    """Counters and claims in one table. ``key`` keys the subject hashes; ``clock`` gives
    epoch seconds (a call may also pass ``now``)."""

    def __init__(self, *, key: Callable[[], bytes], model: type[RateLimit] = RateLimit,
                 clock: Callable[[], float] = time.time) -> None:
        self._key = key  # read on first use: in a deployed stage it comes from SSM
        self._model = model
        self._clock = clock

    def _mark(self, value: str) -> str:
        return hmac.new(self._key(), value.encode(), hashlib.sha256).hexdigest()[:32]

    def subject_key(self, scope: str, subject: str) -> str:
        """The item key of ``subject``'s claim or counter in ``scope``."""
        return f"{scope}#{self._mark(subject)}"

    def hit(self, scope: str, subject: str, *, limit: int, window_seconds: int,
            now: float | None = None) -> Hit:
        """Count one event for ``subject``; RateLimited if the sliding window's estimate of
        its events (this window's + the previous window's, weighted) already reached ``limit``."""
        model = self._model
        now = self._clock() if now is None else now
        start = int(now // window_seconds) * window_seconds
        current, previous = _window(start), _window(start - window_seconds)
        key = self.subject_key(scope, subject)
        try:
            # The previous window's count ends up in the answer; the one before it no longer
            # counts and goes, so an item holds at most two windows while it is in use.
            data: dict[str, Any] = model(key).update(
                actions=[Path(current).add(1), Path(_window(start - 2 * window_seconds)).remove(),
                         model.expires_ttl.set(start + kept_seconds(window_seconds))],
                condition=Path(current).does_not_exist() | (Path(current) < limit),
            )
        except UpdateError as problem:
            if not condition_failed(problem):
                raise
            # This window alone is full: the next event can pass once it has become the
            # previous window, whose weight then falls below 1.
            raise RateLimited(retry_after=_seconds_after(start + window_seconds - Fraction(now))) from None
        counted = Hit(key, current)
        stored = data.get("Attributes", {})
        # Every event counted before this one: each accepted one, and any about to be refused.
        before = int(stored[current]["N"]) - 1
        earlier = int(stored.get(previous, {}).get("N", 0))
        # The estimate, times window_seconds, in exact arithmetic (Retry-After below must point
        # at the first second that passes): before + earlier × (1 − elapsed / window) < limit.
        left = window_seconds - (Fraction(now) - start)  # of the previous window, in the sliding one
        if before * window_seconds + earlier * left < limit * window_seconds:
            return counted
        try:
            self.refund(counted)
        except Exception as problem:  # counted once too often: stricter until the window ends
            log.warning("Could not take back a refused %s count: %s", scope, problem)
        # Refused with this window below the limit (the condition held), so ``earlier`` > 0:
        # the estimate falls below the limit once ``left`` < (limit − before) × window / earlier.
        enough = Fraction((limit - before) * window_seconds, earlier)
        raise RateLimited(retry_after=_seconds_after(left - enough))

    def refund(self, counted: Hit) -> bool:
        """Uncount ``counted`` (its request failed through no fault of the caller's): one
        conditional decrement of the window it was counted in, never below zero, never
        creating an item or a window (it may have expired and gone). AWS errors propagate for
        the caller to log."""
        model = self._model
        window = Path(counted.window)
        try:
            model(counted.key).update(actions=[window.add(-1)], condition=window > 0)
        except UpdateError as problem:
            if not condition_failed(problem):
                raise
            return False
        return True

    def take_slot(self, scope: str, subject: str, *, slots: int, window_seconds: int,
                  now: float | None = None) -> Slot:
        """Count one event for ``subject`` exactly: at most ``slots`` events in ANY
        ``window_seconds``, not the two-window estimate of ``hit``. The item holds one time
        per slot; an event takes a slot that is empty or whose time is a window old, with a
        conditional UpdateItem per slot tried (usually the first: one call). RateLimited when
        every slot holds a time from the last window (``retry_after`` then is the window: an
        upper bound, as the times are not read back)."""
        model = self._model
        now = self._clock() if now is None else now
        at = math.floor(now * 1000)  # milliseconds: two events in one second are two times
        cutoff = at - window_seconds * 1000
        key = self.subject_key(scope, subject)
        for number in range(slots):
            name = f"slot{number}"
            slot = Path(name)
            try:
                model(key).update(
                    actions=[slot.set(at), model.expires_ttl.set(math.ceil(now + window_seconds))],
                    condition=slot.does_not_exist() | (slot <= cutoff))
            except UpdateError as problem:
                if not condition_failed(problem):
                    raise
                continue
            return Slot(key, name, at)
        raise RateLimited(retry_after=window_seconds)

    def give_back(self, taken: Slot) -> bool:
        """Empty ``taken`` (its event failed through no fault of the caller's): conditional on
        the slot still holding its time, so a late give-back never frees a newer event's slot."""
        model = self._model
        slot = Path(taken.name)
        try:
            model(taken.key).update(actions=[slot.remove()], condition=slot == taken.at)
        except UpdateError as problem:
            if not condition_failed(problem):
                raise
            return False
        return True

    def claim(self, scope: str, subject: str, *, seconds: int, request: str | None = None,
              now: float | None = None) -> Claim | None:
        """Take the claim on ``subject`` for ``seconds``; None while someone else holds it.

        ``request`` names the request the claim is taken for (e.g. a signup's CAPTCHA id): the
        same request may take over a claim it still holds. That is the retry of a request whose
        release failed (AWS busy twice): without it, the retry would find its own leftover claim
        and be told "accepted" with no mail sent for a day.
        """
        model = self._model
        now = self._clock() if now is None else now
        key = self.subject_key(scope, subject)
        attempt = secrets.token_hex(16)
        item = model(key, expires_ttl=math.ceil(now + seconds), attempt=attempt)
        condition = model.key.does_not_exist() | (model.expires_ttl <= int(now))
        if request is not None:
            item.request = self._mark(request)
            condition = condition | (model.request == item.request)
        try:
            item.save(condition=condition)
        except PutError as problem:
            if not condition_failed(problem):
                raise
            return None
        return Claim(key, attempt)

    def release(self, held: Claim) -> bool:
        """Give ``held`` back (the work it guarded failed, so a retry must be allowed): one
        delete conditional on the attempt that took it, so a late or repeated release never
        removes a newer claim. False when that attempt no longer holds it (expired and taken
        again, taken over, released already). AWS errors propagate for the caller to log."""
        model = self._model
        try:
            model(held.key).delete(condition=model.attempt == held.attempt)
        except DeleteError as problem:
            if not condition_failed(problem):
                raise
            return False
        return True

    def forget(self, scope: str, subject: str) -> None:
        """Delete any claim on ``subject``, whoever holds it (the subject itself is erased).
        Nothing to delete is fine; AWS errors propagate, so an erase is not reported done
        while something of it is left."""
        self._model(self.subject_key(scope, subject)).delete()


def kept_seconds(window_seconds: int) -> int:
    """How long a counter's item lives at most after its window starts: its window and the
    next, in which it is the previous window (the privacy policy names this; a test checks)."""
    return 2 * window_seconds


def _seconds_after(wait: Fraction) -> int:
    """Retry-After for a wait: the first whole second strictly after it (at the wait itself the
    estimate is still exactly at the limit), at least 1."""
    return max(1, math.floor(wait) + 1)


def _window(start: int) -> str:
    """The counter item's attribute holding the count of the window that starts at ``start``."""
    return f"w{start}"


@lru_cache(maxsize=1)
def default_limiter() -> Limiter:
    """The app's limiter: the stage's table and a key derived from the app secret."""
    from chalicelib.core.config import get_settings

    return Limiter(key=lambda: get_settings().secret_for("ratelimit"))

