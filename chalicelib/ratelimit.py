"""Rate limits on DynamoDB: fixed-window counters and time-boxed claims.

Each check is one conditional write, so it holds across Lambda instances and under
concurrency, and costs one request. A counted event whose request then failed (AWS busy,
not the caller) can be refunded with one conditional decrement of the very window item it
was counted in, so a fault does not use up the caller's quota.

Subjects (IP addresses, subscriber ids) are stored as keyed hashes: the table says how
often something happened, not who did it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
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


def claim(scope: str, subject: str, *, seconds: int, now: float | None = None) -> bool:
    """Take the claim on ``subject`` for ``seconds``; False while someone else holds it."""
    now = time.time() if now is None else now
    item = RateLimit(_subject_key(scope, subject), expires_ttl=math.ceil(now + seconds))
    try:
        item.save(condition=RateLimit.key.does_not_exist() | (RateLimit.expires_ttl <= int(now)))
    except PutError as problem:
        if problem.cause_response_code != CONDITION_FAILED:
            raise
        return False
    return True


def release(scope: str, subject: str) -> None:
    """Give a claim back (the work it guarded failed, so a retry must be allowed)."""
    # Nothing to give back is fine too: the claim expires on its own.
    with contextlib.suppress(DeleteError):
        RateLimit(_subject_key(scope, subject)).delete()
