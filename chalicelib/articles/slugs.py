"""URL slugs from Danish titles: æ→ae, ø→oe, å→aa, other accents dropped."""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 100
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_DANISH = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "Ae", "Ø": "Oe", "Å": "Aa"})


def slugify(title: str) -> str:
    text = title.translate(_DANISH)
    # NFKD splits "é" into "e" + accent, so the accent can be dropped as non-ASCII.
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return text[:MAX_LENGTH].rstrip("-")


def is_slug(value: str) -> bool:
    return len(value) <= MAX_LENGTH and bool(SLUG_RE.match(value))
