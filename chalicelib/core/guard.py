"""The one place that turns a failing route into a clean answer.

Chalice converts any exception from a view into its own 500 before middleware can see it,
so instead every view is wrapped once, in app.py after the blueprints are registered:
AWS throttling, SES refusing mail or an unreachable service becomes a 503 with Retry-After
and a Danish ``{"Code", "Message"}`` (the request is safe to repeat: write paths are
conditional or transactional), anything else a 500 that shows no internals. Chalice's own
errors (``BadRequestError``, ...) pass through untouched. A route that browsers reach
without JavaScript declares its own answer to a fault with ``fault_page`` (a Danish 503
page in place of the JSON).

Before the route runs, the guard asks ``core.cdn`` whether the request may bypass the CDN:
where the stage requires the CDN (``REQUIRE_CDN``, deployed stages), a request without the
origin secret is answered 403 and the route never runs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from chalice.app import Chalice, ChaliceViewError, Response

from chalicelib.core import cdn, faults
from chalicelib.core.http import error

log = logging.getLogger(__name__)

GUARDED = "__borgerdialog_guarded__"
FAULT_PAGE = "__borgerdialog_fault_page__"
# Given the fault, a route's own 503 for this request, or None for the JSON one.
FaultPage = Callable[[faults.Transient], Response | None]
View = TypeVar("View", bound=Callable[..., Any])
MESSAGES = {
    "busy": "Tjenesten har travlt lige nu. Vent et øjeblik, og prøv igen.",
    "mail": "Vi kan ikke sende mail lige nu. Vent lidt, og prøv igen.",
    "unreachable": "En bagvedliggende tjeneste svarer ikke lige nu. Prøv igen om lidt.",
}
INTERNAL = "Der opstod en uventet fejl hos os. Prøv igen senere; fortsætter det, så skriv til os."


def unavailable(problem: faults.Transient) -> Response:
    response = error(503, "ServiceUnavailable", MESSAGES[problem.kind])
    response.headers["Retry-After"] = str(problem.retry_after)
    return response


def fault_page(render: FaultPage) -> Callable[[View], View]:
    """Put under ``@bp.route``: on an AWS fault the guard answers with ``render(fault)``
    when it gives a response (a page for a browser's request), else with the JSON 503."""
    def mark(view: View) -> View:
        setattr(view, FAULT_PAGE, render)
        return view
    return mark


def _guarded(view: Callable[..., Any], app: Chalice) -> Callable[..., Any]:
    render: FaultPage | None = getattr(view, FAULT_PAGE, None)

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            # Inside the try: a deployed stage that cannot read its origin secret fails as a
            # logged 500 (or a 503 if SSM is busy), never with a traceback to the client.
            request = app.current_request
            refused = cdn.refusal(request) if request is not None else None
            if refused is not None:
                return refused
            return view(*args, **kwargs)
        except ChaliceViewError:
            raise
        except Exception as problem:
            found = faults.classify(problem)
            if found is not None:
                log.warning("%s answered 503: %s (%s)", view.__name__, found.code, found.kind)
                page = render(found) if render is not None else None
                return page if page is not None else unavailable(found)
            log.exception("%s failed", view.__name__)
            return error(500, "InternalServerError", INTERNAL)

    setattr(guarded, GUARDED, True)
    return guarded


def guard_routes(app: Chalice) -> None:
    """Wrap every route registered so far; call it after the last ``register_blueprint``."""
    for methods in app.routes.values():
        for entry in methods.values():
            if not getattr(entry.view_function, GUARDED, False):
                entry.view_function = _guarded(entry.view_function, app)


def is_guarded(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, GUARDED, False))
