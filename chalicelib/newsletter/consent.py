"""The consent text a signup agrees to, and its version: data in ``data/consent.json``.

The version is recorded with every ledger event, so we can show which words each subscriber
agreed to. Change the text → change the version (a date), never edit a version in place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from chalicelib.core.resources import DATA

_DATA = DATA / "consent.json"


@dataclass(frozen=True)
class ConsentText:
    version: str
    text: str


@lru_cache(maxsize=1)
def current() -> ConsentText:
    with _DATA.open(encoding="utf-8") as handle:
        return ConsentText(**json.load(handle))
