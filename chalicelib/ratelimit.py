"""Rate limits on DynamoDB: fixed-window counters and time-boxed claims.

Each check is one conditional write, so it holds across Lambda instances and under
concurrency, and costs one request. A counted event whose request then failed (AWS busy,
not the caller) can be refunded with one conditional decrement of the very window item it
was counted in, so a fault does not use up the caller's quota. A claim likewise can be
released by the attempt that took it, and only by that one.

Subjects (IP addresses, subscriber ids) are stored as keyed hashes: the table says how
often something happened, not who did it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.config import get_settings
from chalicelib.models.ratelimits import RateLimit

CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass
class RateLimited(Exception):
    """Over the limit; ``retry_after`` is whole seconds until the next attempt can pass."""

    retry_after: int


def _subject_key(scope: str, subject: str) -> str:
    digest = hmac.new(get_settings().secret_for("ratelimit"), subject.encode(), hashlib.sha256)
    return f"{scope}#{digest.hexdigest()[:32]}"


@dataclass(frozen=True)
class Hit:
    """One counted event: the window item it was counted in."""

    key: str


def hit(scope: str, subject: str, *, limit: int, window_seconds: int, now: float | None = None) -> Hit:
    """Count one event for ``subject``; RateLimited if it already had ``limit`` in this window."""
    now = time.time() if now is None else now
    window_start = int(now // window_seconds) * window_seconds
    window_end = window_start + window_seconds
    item = RateLimit(f"{_subject_key(scope, subject)}#{window_start}")
    try:
        item.update(
            actions=[RateLimit.hits.add(1), RateLimit.expires_ttl.set(window_end)],
            condition=RateLimit.hits.does_not_exist() | (RateLimit.hits < limit),
        )
    except UpdateError as problem:
        if problem.cause_response_code != CONDITION_FAILED:
            raise
        raise RateLimited(retry_after=max(1, math.ceil(window_end - now))) from None
    return Hit(item.key)


def refund(counted: Hit) -> bool:
    """Uncount ``counted`` (its request failed through no fault of the caller's): one
    conditional decrement that never goes below zero nor creates an item (the window may
    have ended and its item expired). AWS errors propagate for the caller to log."""
    try:
        RateLimit(counted.key).update(actions=[RateLimit.hits.add(-1)], condition=RateLimit.hits > 0)
    except UpdateError as problem:
        if problem.cause_response_code != CONDITION_FAILED:
            raise
        return False
    return True


@dataclass(frozen=True)
class Claim:
    """A claim held by one attempt: ``attempt`` is random per take, so only that attempt's
    release can give it back."""

    key: str
    attempt: str


def _request_mark(request: str) -> str:
    return hmac.new(get_settings().secret_for("ratelimit"), request.encode(), hashlib.sha256).hexdigest()[:32]


def claim(scope: str, subject: str, *, seconds: int, request: str | None = None,
          now: float | None = None) -> Claim | None:
    """Take the claim on ``subject`` for ``seconds``; None while someone else holds it.

    ``request`` names the request the claim is taken for (e.g. a signup's CAPTCHA id): the
    same request may take over a claim it still holds. That is the retry of a request whose
    release failed (AWS busy twice): without it, the retry would find its own leftover claim
    and be told "accepted" with no mail sent for a day.
    """
    now = time.time() if now is None else now
    key = _subject_key(scope, subject)
    attempt = secrets.token_hex(16)
    item = RateLimit(key, expires_ttl=math.ceil(now + seconds), attempt=attempt)
    condition = RateLimit.key.does_not_exist() | (RateLimit.expires_ttl <= int(now))
    if request is not None:
        item.request = _request_mark(request)
        condition = condition | (RateLimit.request == item.request)
    try:
        item.save(condition=condition)
    except PutError as problem:
        if problem.cause_response_code != CONDITION_FAILED:
            raise
        return None
    return Claim(key, attempt)


def release(held: Claim) -> bool:
    """Give ``held`` back (the work it guarded failed, so a retry must be allowed): one
    delete conditional on the attempt that took it, so a late or repeated release never
    removes a newer claim. False when that attempt no longer holds it (expired and taken
    again, taken over, released already). AWS errors propagate for the caller to log."""
    try:
        RateLimit(held.key).delete(condition=RateLimit.attempt == held.attempt)
    except DeleteError as problem:
        if problem.cause_response_code != CONDITION_FAILED:
            raise
        return False
    return True


def forget(scope: str, subject: str) -> None:
    """Delete any claim on ``subject``, whoever holds it (the subject itself is erased).
    Nothing to delete is fine; AWS errors propagate, so an erase is not reported done
    while something of it is left."""
    RateLimit(_subject_key(scope, subject)).delete()
