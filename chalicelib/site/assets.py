"""The hand-written stylesheet, script and icon, published under content-hashed names.

A fingerprinted name changes whenever the bytes do, so browsers and the CDN may keep an
asset forever (``immutable``) and a new deploy can never mix old CSS with new HTML.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from chalicelib.core.resources import STATIC

IMMUTABLE = "public, max-age=31536000, immutable"
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".svg": "image/svg+xml"}
# proof-of-work.js runs as the signup's Web Worker, which must be same-origin: like site.js
# it is served from the site (the API's pages are on the same origin, under /api).
NAMES = ("site.css", "site.js", "search.js", "proof-of-work.js", "favicon.svg", "captcha-placeholder.svg")


@dataclass(frozen=True)
class Asset:
    name: str       # as written: "site.css"
    key: str        # as published: "assets/site.3f2a9c1d.css"
    body: bytes
    content_type: str


@lru_cache(maxsize=1)
def all_assets() -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for name in NAMES:
        path = STATIC / name
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:12]
        key = f"assets/{path.stem}.{digest}{path.suffix}"
        found[name] = Asset(name=name, key=key, body=body, content_type=TYPES[path.suffix])
    return found


def key(name: str) -> str:
    """The published key of ``name``; a KeyError names an asset that does not exist."""
    return all_assets()[name].key
