"""``GET /openapi.json``: the OpenAPI 3 description of the public API.

The document lives beside the code (``chalicelib/data/openapi.json``) and a test holds it
to the registered routes, so a route without documentation fails the build; schemathesis
fuzzes the app against it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.core.config import get_settings
from chalicelib.core.http import cached_json
from chalicelib.core.resources import DATA

bp = Blueprint(__name__)

DOCUMENT = DATA / "openapi.json"


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    with DOCUMENT.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return {**loaded, "servers": [{"url": get_settings().api_url}]}


@bp.route("/openapi.json", methods=["GET"], cors=True)
def openapi() -> Response:
    return cached_json(bp.current_request, document())
