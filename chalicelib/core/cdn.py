"""Who asked, behind the CDN: the viewer's address, trusted only from our own distribution.

Visitors reach the API through CloudFront's ``/api/*`` behaviour, so API Gateway's
``identity.sourceIp`` is a CloudFront edge's address, shared by every visitor that edge
serves. CloudFront sends the visitor's own address in ``CloudFront-Viewer-Address``
(``ip:port``; for IPv6 the address has colons too, the port is after the last one), and
adds ``X-Origin-Verify`` with the origin secret to every request for the API origin
(``OriginCustomHeaders`` in infra/template.yaml; it replaces a viewer's header of that name).

- ``client_ip``: the viewer's address when the request carries the origin secret (compared
  in constant time), else ``identity.sourceIp``: without the secret, a viewer address is
  whatever the client wrote and is ignored.
- ``refusal``: with ``REQUIRE_CDN`` (on in deployed stages) a request without the secret is
  answered 403, JSON ``{"Code", "Message"}`` or, for a browser asking for HTML, a Danish
  page; the route guard (``core.guard``) asks it before every route.

Why a shared secret and not CloudFront's IP ranges: docs/decisions/cdn-origin-secret.md.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from chalice.app import Request, Response

from chalicelib.core.config import get_settings
from chalicelib.core.http import error

log = logging.getLogger(__name__)

# The custom origin header infra/template.yaml gives the api origin (a test holds the two equal).
ORIGIN_HEADER = "X-Origin-Verify"
VIEWER_HEADER = "CloudFront-Viewer-Address"
REFUSED_CODE = "NotThroughSite"


def _header(request: Request, name: str) -> str | None:
    # Chalice's header mapping is case-insensitive.
    value = request.headers.get(name) if request.headers else None
    return str(value) if value is not None else None


def through_cdn(request: Request) -> bool:
    """The request carries the origin secret, so CloudFront sent it (and set its headers)."""
    secret = get_settings().origin_secret
    sent = _header(request, ORIGIN_HEADER)
    if secret is None or sent is None:
        return False
    return hmac.compare_digest(sent.encode("utf-8", "replace"), secret)


def viewer_ip(value: str | None) -> str | None:
    """The address of ``CloudFront-Viewer-Address`` (``ip:port``) without its port, or None
    when it is not an address followed by a port."""
    if not value or ":" not in value:
        return None
    address, _, port = value.strip().rpartition(":")
    if not port.isdigit():
        return None
    try:
        return str(ipaddress.ip_address(address.removeprefix("[").removesuffix("]")))
    except ValueError:
        return None


def client_ip(request: Request) -> str | None:
    """Who asked, for the consent ledger and the per-IP limit: the viewer's address when
    CloudFront provably sent the request, else API Gateway's view of the caller."""
    identity = (request.context or {}).get("identity") or {}
    source_ip: str | None = identity.get("sourceIp")
    if through_cdn(request):
        viewer = viewer_ip(_header(request, VIEWER_HEADER))
        if viewer is not None:
            return viewer
        # CloudFront always sends it (the origin request policy names it): say so, count the edge.
        log.warning("request with the origin secret but no usable %s", VIEWER_HEADER)
    return source_ip


def _wants_page(request: Request) -> bool:
    # A browser navigating or posting a form asks for HTML; the site's script and API
    # clients ask for JSON (or anything).
    return "text/html" in (_header(request, "accept") or "").lower()


def refusal(request: Request) -> Response | None:
    """403 for a request that bypassed the CDN where the stage requires it, else None."""
    settings = get_settings()
    if not settings.require_cdn or through_cdn(request):
        return None
    if _wants_page(request):
        from chalicelib.core.templating import render
        from chalicelib.site.headers import security_headers

        body = render("subscriptions/result.html", heading="Brug borgerdialogs hjemmeside",
                      message="Denne adresse tager kun imod besøg, der kommer gennem borgerdialogs "
                              "hjemmeside. Gå til forsiden og fortsæt derfra.", success=False)
        headers = {**security_headers(local_http=not settings.deployed),
                   "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
        return Response(body=body, status_code=403, headers=dict(headers))
    return error(403, REFUSED_CODE, "API'et tager kun imod forespørgsler gennem borgerdialogs hjemmeside. "
                 f"Brug {settings.api_url} i stedet for denne adresse.")
