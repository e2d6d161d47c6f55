"""The one clock: aware UTC ``datetime``s. Services take a ``clock`` argument defaulting to
``utcnow``, so tests move time instead of waiting for it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)
