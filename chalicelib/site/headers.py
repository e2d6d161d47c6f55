"""Security headers for every page, from ``data/security_headers.json`` (the one source
the local server and the CDN's response headers policy share).

``Referrer-Policy: no-referrer`` holds for the whole site, so the token pages (confirm,
unsubscribe, export) can never leak their token in a Referer header.
"""

from __future__ import annotations

import json
from functools import lru_cache

from chalicelib.core.resources import DATA

_DATA = DATA / "security_headers.json"


@lru_cache(maxsize=1)
def security_headers(*, local_http: bool = False) -> dict[str, str]:
    """The headers as name → value. ``local_http`` drops what breaks plain-http loopback
    serving (HSTS is ignored there anyway; upgrade-insecure-requests would send the
    browser to an https port that does not exist)."""
    loaded = json.loads(_DATA.read_text(encoding="utf-8"))
    headers = {name: str(value) for name, value in loaded.items() if not name.startswith("_")}
    if local_http:
        headers["Content-Security-Policy"] = "; ".join(
            part.strip() for part in headers["Content-Security-Policy"].split(";")
            if part.strip() != "upgrade-insecure-requests"
        )
    return headers
