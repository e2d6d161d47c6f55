"""The newsletter's actions: the signup POST, the POSTs behind the mail-link pages
(confirm, unsubscribe incl. RFC 8058 one-click, export, erase) and the consent text.

Every write accepts JSON (answered with JSON) or an HTML form post (answered with 303 to a
Danish result page; an AWS fault: a Danish 503 page with Retry-After), so the static
site's form and the mail-link pages work without JavaScript. GET never changes anything:
mail scanners that open links confirm nothing (the pages are ``newsletter.pages``).
See docs/newsletter.md.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from chalice.app import Blueprint, CORSConfig, Request, Response

from chalicelib.articles import categories
from chalicelib.core.config import get_settings
from chalicelib.core.faults import Transient
from chalicelib.core.guard import fault_page
from chalicelib.core.http import JSON_TYPE, NO_STORE, PUBLIC_CACHE, cached_json, dumps, error
from chalicelib.newsletter.outcomes import SIGNUP_ACCEPTED, SubscriptionError

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


def _context(request: Request) -> RequestContext:
    from chalicelib.newsletter.store import RequestContext

    # API Gateway's view of the caller; X-Forwarded-For is whatever the client wrote.
    identity = (request.context or {}).get("identity") or {}
    return RequestContext(
        source_ip=identity.get("sourceIp"),
        user_agent=_header(request, "user-agent"),
        form_url=_without_query(_header(request, "referer") or _header(request, "origin")),
    )


def _without_query(url: str | None) -> str | None:
    # A page's query may hold a link token; the ledger needs only which page it was.
    return url.split("?", 1)[0].split("#", 1)[0] if url else None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise BadBody(400, "MalformedBody", f"Feltet {key[:40]!r} står der to gange.")
        found[key] = value
    return found


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
    from chalicelib.captcha.challenges import CaptchaRejected, CaptchaUnavailable
    from chalicelib.limits.limiter import RateLimited
    from chalicelib.newsletter.signup import MailUnavailable, default_signup

    fields: dict[str, Any] = {}
    try:
        signup = default_signup()
        fields = _signup_fields(request)
        signup.run(signup.parse(fields), _context(request))
    except SubscriptionError as problem:
        return _refused(request, problem)
    except CaptchaRejected as rejected:
        code = "Captcha" + rejected.code.capitalize()
        if _is_form(request):
            # The form again, a new picture, the message beside the answer field.
            from chalicelib.newsletter.pages import signup_form_again

            return signup_form_again(code, fields)
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
    try:
        fields = _body(request)
        token = _token(request, fields, frozenset({"List-Unsubscribe"}))
        outcome = lifecycle.unsubscribe(token, _context(request), _unsubscribe_method(request, fields))
    except SubscriptionError as problem:
        return _refused(request, problem)
    return _done(request, 200, outcome)


@bp.route("/subscriptions/export", methods=["POST"], content_types=WRITE_TYPES, cors=SITE_CORS)
@fault_page(_form_fault_page)
def export() -> Response:
    from chalicelib.newsletter import rights

    request = bp.current_request
    try:
        data = rights.export(_token(request, _body(request), frozenset()))
    except SubscriptionError as problem:
        return _refused(request, problem)
    headers = {"Content-Disposition": 'attachment; filename="borgerdialog-mine-data.json"'}
    return _json(200, data, headers)


@bp.route("/subscriptions/erase", methods=["POST"], content_types=WRITE_TYPES, cors=SITE_CORS)
@fault_page(_form_fault_page)
def erase() -> Response:
    from chalicelib.newsletter import rights

    request = bp.current_request
    try:
        outcome = rights.erase(_token(request, _body(request), frozenset()))
    except SubscriptionError as problem:
        return _refused(request, problem)
    return _done(request, 200, outcome)
