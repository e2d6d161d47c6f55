"""Sending at SES's pace: the account's max send rate, a pacer, and retries on throttling.

SES counts recipients per second against ``MaxSendRate``. Every digest worker paces itself
to ``rate / workers`` (``workers`` is the SQS event source's MaximumConcurrency), so the
concurrent workers together stay within the account's rate without talking to each other.
If SES throttles anyway (another sender on the account), the call is retried with
exponential backoff and full jitter.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core import aws

log = logging.getLogger(__name__)

THROTTLING_CODES = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException"})
SANDBOX_RATE = 1.0  # what a new SES account gets; the floor when nothing else answers

T = TypeVar("T")


def account_max_send_rate() -> tuple[float, str]:
    """SES's MaxSendRate and where it came from.

    SES v2 ``GetAccount`` first; moto server has no such route (it answers 404), and some
    SES-compatible stacks likewise, so SES v1 ``GetSendQuota`` next, then the sandbox rate.
    """
    try:
        quota = aws.client("sesv2").get_account()["SendQuota"]
        return float(quota["MaxSendRate"]), "sesv2:GetAccount"
    except (ClientError, BotoCoreError, KeyError) as problem:
        log.info("SES v2 GetAccount unavailable (%s); trying SES v1 GetSendQuota", problem)
    try:
        return float(aws.client("ses").get_send_quota()["MaxSendRate"]), "ses:GetSendQuota"
    except (ClientError, BotoCoreError, KeyError) as problem:
        log.warning("No SES send quota readable (%s); pacing at the sandbox rate", problem)
    return SANDBOX_RATE, "sandbox default"


def worker_rate(configured: float | None, workers: int,
                discover: Callable[[], tuple[float, str]] = account_max_send_rate) -> float:
    """Mails per second for one of ``workers`` concurrent workers."""
    total, source = (configured, "DIGEST_MAX_SEND_RATE") if configured else discover()
    rate = total / max(1, workers)
    log.info("Pacing at %.2f mails/s per worker (%.2f/s from %s, %d workers)", rate, total, source,
             workers)
    return rate


class Pacer:
    """Spaces calls ``1 / rate`` seconds apart on average within this process (thread-safe).

    Slots lie on a grid from the first call. A call that comes late (one slow SES or
    DynamoDB answer) may use the slots it missed, but never more than ``catch_up_s``
    seconds' worth: a token bucket holding one second of sends, so the rate over any
    longer stretch is the configured one and a stall is not lost for good. A slot is
    reserved under the lock and slept for outside it, so threads interleave.
    """

    def __init__(self, rate: float, *, catch_up_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be above 0")
        self.interval = 1.0 / rate
        self._catch_up = catch_up_s
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            slot = now if self._next is None else max(self._next, now - self._catch_up)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


def is_throttling(problem: BaseException) -> bool:
    return isinstance(problem, ClientError) and \
        problem.response.get("Error", {}).get("Code") in THROTTLING_CODES


def with_backoff(call: Callable[[], T], *, attempts: int = 6, base: float = 0.2, cap: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep,
                 budget_s: Callable[[], float] | None = None) -> T:
    """``call()``, retried while SES throttles: sleeps ``uniform(0, min(cap, base * 2**n))``.

    Gives up (re-raising the throttling error) after ``attempts`` or when the next sleep
    would not fit in ``budget_s()`` (the time the caller has left).
    """
    for attempt in range(attempts):
        try:
            return call()
        except ClientError as problem:
            if not is_throttling(problem) or attempt == attempts - 1:
                raise
            delay = random.uniform(0, min(cap, base * 2 ** attempt))  # noqa: S311 - jitter, not crypto
            if budget_s is not None and delay >= budget_s():
                raise
            log.info("SES throttled (attempt %d); retrying in %.2fs", attempt + 1, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
