"""The newsletter's actions: the signup POST, the POSTs behind the mail-link pages
(confirm, unsubscribe incl. RFC 8058 one-click, preferences, rights-link, export, erase) and the consent
text. Export and erase take only a rights token, which ``rights-link`` mails to the
subscribed address; the manage token in a digest is refused there (``newsletter.rights``).

Every write accepts JSON (answered with JSON) or an HTML form post (answered with 303 to a
Danish result page; an AWS fault: a Danish 503 page with Retry-After; a signup over the
per-IP limit: a Danish 429 page with Retry-After), so the static site's form and the
mail-link pages work without JavaScript. GET never changes anything:
mail scanners that open links confirm nothing (the pages are ``newsletter.pages``).

Hostile input gets a 4xx, never a 500: a body over 4 KB, not UTF-8, nested deeper than
``MAX_DEPTH`` (checked before parsing) or not the documented shape is a 400 (form posts: 303
to the result page). A POST from another site is a 400 (form posts: the Danish page itself),
except the RFC 8058 one-click unsubscribe. See docs/newsletter.md and docs/api.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from chalice.app import Blueprint, CORSConfig, Request, Response

from chalicelib.articles import categories
from chalicelib.core import cdn
from chalicelib.core.config import get_settings
from chalicelib.core.faults import Transient
from chalicelib.core.guard import fault_page
from chalicelib.core.http import JSON_TYPE, NO_STORE, PUBLIC_CACHE, cached_json, dumps, error
from chalicelib.newsletter.outcomes import CROSS_SITE, SIGNUP_ACCEPTED, SubscriptionError

# The services (signup, lifecycle, rights: pynamodb models, transactions, rate limits) load
# inside the routes that use it, so `import app` does not pay for it (see test_efficiency).
if TYPE_CHECKING:
    from chalicelib.limits.limiter import RateLimited
    from chalicelib.newsletter.store import RequestContext

bp = Blueprint(__name__)

MAX_BODY = 4096
WRITE_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"]
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
FORM_TRUE = frozenset({"on", "true", "1", "ja", "yes"})
# The documented bodies are at most 2 deep (an object holding the topics list). Python's json
# recurses once per level and raises RecursionError somewhere under 1000 levels, at a depth
# that depends on how deep the stack already is (Lambda, chalice local, a test: 950 already
# failed there), so the depth is bounded before parsing rather than caught after it.
MAX_DEPTH = 8
# Writes are called from the site's pages only, never from anywhere else.
SITE_CORS = CORSConfig(allow_origin=get_settings().site_url, max_age=600,
                       expose_headers=["Retry-After"])


class BadBody(SubscriptionError):
    pass


# ---------------------------------------------------------------------------- request parsing


def _header(request: Request, name: str) -> str | None:
    value = request.headers.get(name) if request.headers else None
    return str(value) if value is not None else None


def _is_form(request: Request) -> bool:
    content_type = (_header(request, "content-type") or "").lower()
    return content_type.startswith(FORM_TYPES)


def _context(request: Request, form_page: str | None = None) -> RequestContext:
    from chalicelib.newsletter.store import RequestContext

    # The viewer's address when CloudFront provably sent the request, else API Gateway's view
    # of the caller (core.cdn); never X-Forwarded-For, which is whatever the client wrote.
    return RequestContext(
        source_ip=cdn.client_ip(request),
        user_agent=_header(request, "user-agent"),
        form_url=form_page or _form_url(request),
    )


def _form_url(request: Request) -> str | None:
    """For the ledger: the page the form was on, only ever one of ours. The Referer when it
    is on our origin; else, for a form post to a link route, the page that route's link
    opens (the only page of ours with that form: ours send no Referer, so this is what the
    browser posted from); else our Origin; else nothing: a foreign page (or "null") is never
    recorded as the form the visitor consented on. The signup form says its page itself
    (``form_page``)."""
    own = _own_origins()
    referer = _header(request, "referer")
    if referer and _origin_of(referer) in own:
        return _without_query(referer)
    path = request.context.get("resourcePath") if request.context else None
    if _is_form(request) and path in LINK_PAGES:
        return f"{get_settings().api_url}{path}"
    origin = _header(request, "origin")
    if origin and _origin_of(origin) in own:
        return _without_query(origin)
    return None


# Routes whose form is on the page their GET shows (newsletter.pages).
LINK_PAGES = frozenset({"/subscriptions/confirm", "/subscriptions/unsubscribe", "/subscriptions/rights-link",
                        "/subscriptions/export", "/subscriptions/erase", "/subscriptions/preferences"})


def _form_page(fields: dict[str, Any]) -> str | None:
    """The signup form's own page address (``form_page``), when sent: one of our pages (the
    site's or the API's origin, a path, nothing else), recorded without query or fragment."""
    value = fields.get("form_page")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 300 or _origin_of(value) not in _own_origins():
        raise BadBody(400, "InvalidFormPage", "Feltet 'form_page' skal være adressen på den side på "
                      f"{get_settings().site_url}, som formularen står på.")
    parts = urlsplit(value.strip())
    if not parts.path.startswith("/") or "\\" in value or any(ord(char) < 33 for char in value.strip()):
        raise BadBody(400, "InvalidFormPage", "Feltet 'form_page' skal være adressen på den side på "
                      f"{get_settings().site_url}, som formularen står på.")
    return _without_query(value.strip())


def _without_query(url: str | None) -> str | None:
    # A page's query may hold a link token; the ledger needs only which page it was.
    return url.split("?", 1)[0].split("#", 1)[0] if url else None


# ---------------------------------------------------------------------------- where it came from


def _origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL or Origin header as browsers serialise it (RFC 6454:
    lower case, default port left out), or None when it names no origin ("null", junk)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    # No browser puts user info in an Origin or Referer; "https://evil@site" names no origin.
    if scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    host = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def _own_origins() -> frozenset[str]:
    """The site's origin, and the API's (the same one behind the CDN; the pages the API
    renders post back to it wherever it is served)."""
    settings = get_settings()
    return frozenset(found for found in (_origin_of(settings.site_url), _origin_of(settings.api_url))
                     if found)


def _cross_site(request: Request) -> bool:
    """Whether a browser sent this POST from another site's page.

    The Origin decides when it names one: ours or not. Browsers send ``Origin: null`` for a
    form post from a page with ``Referrer-Policy: no-referrer`` (ours have it, and so can an
    attacker's), so then, and without an Origin, Fetch Metadata decides: ``Sec-Fetch-Site:
    cross-site`` is refused. Only ``cross-site``: were the API served on a sibling host,
    the site's own posts would be ``same-site``. A request with neither header is let
    through: servers and older browsers send neither, and the CAPTCHA and link tokens
    still guard what it can do.
    """
    origin = (_header(request, "origin") or "").strip()
    if origin and origin.lower() != "null":
        return _origin_of(origin) not in _own_origins()
    return (_header(request, "sec-fetch-site") or "").strip().lower() == "cross-site"


def _cross_site_refusal(request: Request,
                        exempt: Callable[[Request], bool] | None = None) -> Response | None:
    """400 for a POST from another site (a form post: the Danish page itself, so the status
    stays honest), or None to go on; ``exempt`` is only asked about cross-site requests."""
    if not _cross_site(request) or (exempt is not None and exempt(request)):
        return None
    if _is_form(request):
        from chalicelib.newsletter.pages import result_response

        return result_response(CROSS_SITE, 400)
    return error(400, CROSS_SITE, "Forespørgslen kom fra en anden hjemmeside end vores, så vi har "
                 "afvist den, og intet er ændret. Brug formularen på vores egen hjemmeside.")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise BadBody(400, "MalformedBody", f"Feltet {key[:40]!r} står der to gange.")
        found[key] = value
    return found


def _too_deep(text: str) -> bool:
    """Whether a JSON text nests arrays and objects more than ``MAX_DEPTH`` deep (brackets
    inside strings do not count). A documented body has two brackets, which a count settles
    at C speed; only a body with more is scanned, once, stopping past ``MAX_DEPTH``."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _body(request: Request, repeatable: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The request's fields: a JSON object, or a form (``repeatable`` fields become lists)."""
    body = request.raw_body or b""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > MAX_BODY:
        # 400, not 413: contract checkers (schemathesis) count only 4xx like 400 as "refused".
        raise BadBody(400, "PayloadTooLarge", f"Forespørgslen er for stor (højst {MAX_BODY // 1024} KB). "
                      "Send kun formularens felter.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody(400, "MalformedBody", "Forespørgslen er ikke gyldig UTF-8.") from None
    content_type = (_header(request, "content-type") or "").lower()
    if content_type.startswith("multipart/form-data"):
        return {}  # only RFC 8058 one-click posts come this way; their token is in the URL
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=50)
        except ValueError:
            raise BadBody(400, "MalformedBody", "Formularens data kan ikke læses.") from None
        fields: dict[str, Any] = {}
        for key, value in pairs:
            if key in repeatable:
                fields.setdefault(key, []).append(value)
            elif key in fields:
                raise BadBody(400, "MalformedBody", f"Feltet {key[:40]!r} står der to gange.")
            else:
                fields[key] = value
        return fields
    if not text.strip():
        return {}
    if _too_deep(text):
        raise BadBody(400, "MalformedJson", "Forespørgslen har for mange lag af lister og objekter inden "
                      "i hinanden. Send ét JSON-objekt med felterne.")
    try:
        parsed = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError:
        raise BadBody(400, "MalformedJson",
                      "Forespørgslen er ikke gyldig JSON. Send et JSON-objekt med felterne.") from None
    if not isinstance(parsed, dict):
        raise BadBody(400, "MalformedJson", "Forespørgslen skal være et JSON-objekt med felterne.")
    return parsed


def _signup_fields(request: Request) -> dict[str, Any]:
    fields = _body(request, repeatable=frozenset({"topics"}))
    if _is_form(request):
        # An unticked checkbox is simply not sent.
        fields["consent"] = str(fields.get("consent", "")).strip().lower() in FORM_TRUE
    return fields


def _token(request: Request, fields: dict[str, Any], allowed: frozenset[str]) -> str:
    unknown = sorted(set(fields) - allowed - {"token"})
    if unknown:
        raise BadBody(400, "UnknownField", f"Ukendt felt {unknown[0][:40]!r}.")
    query: dict[str, str] = dict(request.query_params or {})
    token = fields.get("token", query.get("token"))
    if not isinstance(token, str) or not token or len(token) > 200:
        raise SubscriptionError(
            400, "MissingToken", "Linket mangler sin nøgle (token). Kopiér hele linket fra mailen.")
    return token


# ---------------------------------------------------------------------------- responses


def result_url(status: str) -> str:
    return f"{get_settings().api_url}/subscriptions/result?{urlencode({'status': status})}"


def _see_other(status: str) -> Response:
    return Response(body="", status_code=303,
                    headers={"Location": result_url(status), "Cache-Control": NO_STORE})


def _json(status_code: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(body=dumps(payload), status_code=status_code,
                    headers={"Content-Type": JSON_TYPE, "Cache-Control": NO_STORE, **(headers or {})})


def _done(request: Request, status_code: int, status: str) -> Response:
    if _is_form(request):
        return _see_other(status)
    from chalicelib.newsletter.pages import result_message

    return _json(status_code, {"status": status, "message": result_message(status)})


def _refused(request: Request, problem: SubscriptionError,
             headers: dict[str, str] | None = None) -> Response:
    if _is_form(request):
        return _see_other(problem.code)
    response = error(problem.status, problem.code, problem.message)
    response.headers.update(headers or {})
    return response


def _rate_limited(request: Request, limited: RateLimited) -> Response:
    """429 + Retry-After. A form post gets the page itself, not a redirect, as with the 503:
    the status stays honest, and the page says how long to wait."""
    if _is_form(request):
        from chalicelib.newsletter.pages import rate_limited_page

        return rate_limited_page(limited.retry_after)
    problem = SubscriptionError(
        429, "TooManyRequests",
        "Der er kommet for mange tilmeldinger fra din netforbindelse. Prøv igen senere.")
    return _refused(request, problem, {"Retry-After": str(limited.retry_after)})


# ---------------------------------------------------------------------------- routes


def _signup_fault_page(found: Transient) -> Response | None:
    """A form post without JavaScript gets the signup's 503 page; JSON clients the guard's."""
    request = bp.current_request
    return _signup_unavailable(request, found.retry_after) if _is_form(request) else None


@bp.route("/subscriptions", methods=["POST"], content_types=WRITE_TYPES, cors=SITE_CORS)
@fault_page(_signup_fault_page)
def subscribe() -> Response:
    request = bp.current_request
    if (refusal := _cross_site_refusal(request)) is not None:
        return refusal
    from chalicelib.captcha.challenges import CaptchaRejected, CaptchaUnavailable
    from chalicelib.captcha.work import WorkRejected
    from chalicelib.limits.limiter import RateLimited
    from chalicelib.newsletter.signup import MailUnavailable, default_signup

    fields: dict[str, Any] = {}
    try:
        signup = default_signup()
        fields = _signup_fields(request)
        # JSON brings the proof of work of its challenge; a form post may come without one,
        # and then only a challenge without a puzzle passes (the no-JavaScript page's).
        parsed = signup.parse(fields, proof_required=not _is_form(request))
        signup.run(parsed, _context(request, _form_page(fields)))
    except SubscriptionError as problem:
        return _refused(request, problem)
    except (WorkRejected, CaptchaRejected) as rejected:
        code = rejected.code if isinstance(rejected, WorkRejected) else "Captcha" + rejected.code.capitalize()
        if _is_form(request):
            # The form again, a new picture, the message beside the answer field.
            from chalicelib.newsletter.pages import signup_form_again

            return signup_form_again(request, code, fields)
        return _refused(request, SubscriptionError(400, code, rejected.message))
    except RateLimited as limited:
        return _rate_limited(request, limited)
    except (MailUnavailable, CaptchaUnavailable):
        # The same answer as the central guard's (chalicelib/core/guard.py) for AWS faults.
        return _signup_unavailable(request, 60)
    return _done(request, 202, SIGNUP_ACCEPTED)


def _signup_unavailable(request: Request, retry_after: int) -> Response:
    """503 + Retry-After. A form post gets the page itself, not a redirect: the status stays
    honest, and reloading it sends the same form again, which the retry needs (the CAPTCHA
    was given back)."""
    headers = {"Retry-After": str(retry_after)}
    if _is_form(request):
        from chalicelib.newsletter.pages import result_response

        return result_response("ServiceUnavailable", 503, headers)
    response = error(503, "ServiceUnavailable",
                     "Vi kunne ikke gennemføre tilmeldingen lige nu. Prøv igen om lidt.")
    response.headers.update(headers)
    return response


def _form_fault_page(found: Transient) -> Response | None:
    """A page's form post meeting an AWS fault gets the Danish 503 page; API clients the
    guard's JSON."""
    return _link_unavailable(found) if _is_form(bp.current_request) else None


def _unsubscribe_fault_page(found: Transient) -> Response | None:
    # A mail client's one-click post reads only the status: it keeps the guard's JSON 503.
    request = bp.current_request
    return _link_unavailable(found) if _unsubscribe_method(request, _body(request)) == "page" else None


def _link_unavailable(found: Transient) -> Response:
    from chalicelib.newsletter.pages import unavailable_page

    return unavailable_page(found)


def _one_click(request: Request) -> bool:
    """An RFC 8058 one-click post stays open whatever its Origin: mail providers' servers
    send it, and it acts only with the token in its URL. Anyone may send that shape, so
    exempting it opens nothing the one-click does not already offer."""
    try:
        return _unsubscribe_method(request, _body(request)) == "one-click"
    except SubscriptionError:
        return False


def _unsubscribe_method(request: Request, fields: dict[str, Any]) -> str:
    """For the ledger: an RFC 8058 one-click post, the page's form, or an API call."""
    one_click = fields.get("List-Unsubscribe") == "One-Click" or (
        "multipart/form-data" in (_header(request, "content-type") or ""))
    return "one-click" if one_click else ("page" if _is_form(request) else "api")


@bp.route("/subscriptions/consent", methods=["GET"], cors=True)
def consent_text() -> Response:
    """What the signup form shows: the consent text, its version and the topics to choose."""
    from chalicelib.newsletter import consent

    text = consent.current()
    topics = [{"slug": c.slug, "label": c.label} for c in categories.all_categories()]
    return cached_json(bp.current_request, {"version": text.version, "text": text.text, "topics": topics},
                       PUBLIC_CACHE)


@bp.route("/subscriptions/confirm", methods=["POST"], content_types=WRITE_TYPES, cors=SITE_CORS)
@fault_page(_form_fault_page)
def confirm() -> Response:
    from chalicelib.newsletter import lifecycle

    request = bp.current_request
    if (refusal := _cross_site_refusal(request)) is not None:
        return refusal
    try:
        token = _token(request, _body(request), frozenset())
        outcome = lifecycle.confirm(token, _context(request))
    except SubscriptionError as problem:
        return _refused(request, problem)
    return _done(request, 200, outcome)


@bp.route("/subscriptions/unsubscribe", methods=["POST"], content_types=WRITE_TYPES, cors=SITE_CORS)
@fault_page(_unsubscribe_fault_page)
def unsubscribe() -> Response:
    """Also the RFC 8058 one-click target: ``List-Unsubscribe=One-Click`` in the body, the
    token in the URL, no cookie, no login."""
    from chalicelib.newsletter import lifecycle

    request = bp.current_request
    if (refusal := _cross_site_refusal(request, exempt=_one_click)) is not None:
        return refusal
    try:
        fields = _body(request)
        token = _token(request, fields, frozenset({"List-Unsubscribe"}))
        outcome = lifecycle.unsubscribe(token, _context(request), _unsubscribe_method(request, fields))
    except SubscriptionError as problem:
        return _refused(request, problem)
    return _done(request, 200, outcome)


@bp.route("/subscriptions/preferences", methods=["POST"], content_types=WRITE_TYPES, cors=SITE_CORS)
@fault_page(_form_fault_page)
def change_preferences() -> Response:
    """Topics and digest frequency, with the manage token of any of the subscriber's mails."""
    from chalicelib.newsletter import preferences

    request = bp.current_request
    if (refusal := _cross_site_refusal(request)) is not None:
        return refusal
    try:
        fields = _body(request, repeatable=frozenset({"topics"}))
        token = _token(request, fields, preferences.FIELDS)
        outcome = preferences.change(token, {k: v for k, v in fields.items() if k != "token"},
                                     _context(request))
    except SubscriptionError as problem:
        return _refused(request, problem)
    return _done(request, 200, outcome)


@bp.route("/subscriptions/rights-link", methods=["POST"], content_types=WRITE_TYPES, cors=SITE_CORS)
@fault_page(_form_fault_page)
def rights_link() -> Response:
    """Mail a link to export or erase to the subscribed address; the same answer whether or
    not a mail went out."""
    from chalicelib.newsletter import rights

    request = bp.current_request
    if (refusal := _cross_site_refusal(request)) is not None:
        return refusal
    try:
        outcome = rights.request_link(_token(request, _body(request), frozenset()))
    except SubscriptionError as problem:
        return _refused(request, problem)
    return _done(request, 202, outcome)


@bp.route("/subscriptions/export", methods=["POST"], content_types=WRITE_TYPES, cors=SITE_CORS)
@fault_page(_form_fault_page)
def export() -> Response:
    from chalicelib.newsletter import rights

    request = bp.current_request
    if (refusal := _cross_site_refusal(request)) is not None:
        return refusal
    try:
        fields = _body(request)
        token = _token(request, fields, frozenset({"format"}))
        shown = fields.get("format", "json")
        if shown not in ("json", "html"):
            raise BadBody(400, "UnknownFormat",
                          "Feltet 'format' skal være json (en fil) eller html (en side).")
        data = rights.export(token)
    except SubscriptionError as problem:
        return _refused(request, problem)
    if shown == "html":
        # The same data as a Danish page: what we hold, why, since when, each event in words.
        from chalicelib.newsletter.pages import export_view

        return export_view(rights.readable(data), token)
    headers = {"Content-Disposition": 'attachment; filename="borgerdialog-mine-data.json"'}
    response = _json(200, data, headers)
    response.body = json.dumps(data, ensure_ascii=False, indent=2) + "\n"  # a file people open
    return response


@bp.route("/subscriptions/erase", methods=["POST"], content_types=WRITE_TYPES, cors=SITE_CORS)
@fault_page(_form_fault_page)
def erase() -> Response:
    from chalicelib.newsletter import rights

    request = bp.current_request
    if (refusal := _cross_site_refusal(request)) is not None:
        return refusal
    try:
        outcome = rights.erase(_token(request, _body(request), frozenset()))
    except SubscriptionError as problem:
        return _refused(request, problem)
    return _done(request, 200, outcome)
