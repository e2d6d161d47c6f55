"""Digest ids are ISO weeks (``2026-W48``), in UTC: every run in one week is one digest."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

DIGEST_ID_RE = re.compile(r"^(\d{4})-W(\d{2})$")


class InvalidDigestId(ValueError):
    """Not an ISO week like ``2026-W48``."""


def digest_id_for(moment: datetime) -> str:
    """The digest a moment belongs to: its ISO week in UTC."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(digest_id: str) -> datetime:
    """Monday 00:00 UTC of the digest's week. Raises ``InvalidDigestId``."""
    found = DIGEST_ID_RE.match(digest_id)
    if not found:
        raise InvalidDigestId(f"ugyldig uge {digest_id!r}: skriv fx 2026-W48")
    try:
        monday = date.fromisocalendar(int(found.group(1)), int(found.group(2)), 1)
    except ValueError:
        raise InvalidDigestId(f"ugen {digest_id!r} findes ikke") from None
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def week_number(digest_id: str) -> int:
    return week_start(digest_id).isocalendar()[1]
