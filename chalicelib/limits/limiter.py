"""Rate limits on DynamoDB: fixed-window counters and time-boxed claims.

Each check is one conditional write, so it holds across Lambda instances and under
concurrency, and costs one request. A counted event whose request then failed (AWS busy,
not the caller) can be refunded with one conditional decrement of the very window item it
was counted in, so a fault does not use up the caller's quota. A claim likewise can be
released by the attempt that took it, and only by that one.

Subjects (IP addresses, subscriber ids) are stored as keyed hashes: the table says how
often something happened, not who did it. ``Limiter`` takes its table, key and clock as
keyword arguments; ``default_limiter()`` is the app's.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.core.conditions import condition_failed
from chalicelib.limits.model import RateLimit


@dataclass
class RateLimited(Exception):
    """Over the limit; ``retry_after`` is whole seconds until the next attempt can pass."""

    retry_after: int


@dataclass(frozen=True)
class Hit:
    """One counted event: the window item it was counted in."""

    key: str


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
        """The item key of ``subject``'s claim in ``scope`` (and the prefix of its counters)."""
        return f"{scope}#{self._mark(subject)}"

    def hit(self, scope: str, subject: str, *, limit: int, window_seconds: int,
            now: float | None = None) -> Hit:
        """Count one event for ``subject``; RateLimited if it already had ``limit`` in this window."""
        model = self._model
        now = self._clock() if now is None else now
        window_start = int(now // window_seconds) * window_seconds
        window_end = window_start + window_seconds
        item = model(f"{self.subject_key(scope, subject)}#{window_start}")
        try:
            item.update(
                actions=[model.hits.add(1), model.expires_ttl.set(window_end)],
                condition=model.hits.does_not_exist() | (model.hits < limit),
            )
        except UpdateError as problem:
            if not condition_failed(problem):
                raise
            raise RateLimited(retry_after=max(1, math.ceil(window_end - now))) from None
        return Hit(item.key)

    def refund(self, counted: Hit) -> bool:
        """Uncount ``counted`` (its request failed through no fault of the caller's): one
        conditional decrement that never goes below zero nor creates an item (the window may
        have ended and its item expired). AWS errors propagate for the caller to log."""
        model = self._model
        try:
            model(counted.key).update(actions=[model.hits.add(-1)], condition=model.hits > 0)
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


@lru_cache(maxsize=1)
def default_limiter() -> Limiter:
    """The app's limiter: the stage's table and a key derived from the app secret."""
    from chalicelib.core.config import get_settings

    return Limiter(key=lambda: get_settings().secret_for("ratelimit"))

