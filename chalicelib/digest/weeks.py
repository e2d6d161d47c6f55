"""Digest ids are ISO weeks (``2026-W48``), in UTC: every run in one week is one digest. The
monthly subscribers' digests are months (``2026-12``): every run in one month is one."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

DIGEST_ID_RE = re.compile(r"^(\d{4})-W(\d{2})$")
MONTH_ID_RE = re.compile(r"^(\d{4})-(\d{2})$")
MONTHS = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september",
          "oktober", "november", "december")


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


def month_id_for(moment: datetime) -> str:
    """The monthly digest a moment belongs to: its month in UTC."""
    utc = moment.astimezone(UTC)
    return f"{utc.year}-{utc.month:02d}"


def period_label(digest_id: str) -> str:
    """What the mail calls the digest's period, in Danish: "uge 48" or "december 2026"."""
    found = MONTH_ID_RE.match(digest_id)
    if found:
        if not 1 <= int(found.group(2)) <= 12:
            raise InvalidDigestId(f"måneden {digest_id!r} findes ikke")
        return f"{MONTHS[int(found.group(2)) - 1]} {found.group(1)}"
    return f"uge {week_number(digest_id)}"
