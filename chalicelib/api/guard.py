"""The one place that turns a failing route into a clean answer.

Chalice converts any exception from a view into its own 500 before middleware can see it,
so instead every view is wrapped once, in app.py after the blueprints are registered:
AWS throttling, SES refusing mail or an unreachable service becomes a 503 with Retry-After
and a Danish ``{"Code", "Message"}`` (the request is safe to repeat: write paths are
conditional or transactional), anything else a 500 that shows no internals. Chalice's own
errors (``BadRequestError``, ...) pass through untouched.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, ChaliceViewError, Response

from chalicelib import transient
from chalicelib.api.http import error

log = logging.getLogger(__name__)

GUARDED = "__borgerdialog_guarded__"
MESSAGES = {
    "busy": "Tjenesten har travlt lige nu. Intet er gemt halvt; prøv igen om lidt.",
    "mail": "Vi kan ikke sende mail lige nu. Intet er gemt halvt; prøv igen senere.",
    "unreachable": "En bagvedliggende tjeneste svarer ikke lige nu. Prøv igen om lidt.",
}
INTERNAL = "Der opstod en uventet fejl hos os. Prøv igen senere; fortsætter det, så skriv til os."


def unavailable(problem: transient.Transient) -> Response:
    response = error(503, "ServiceUnavailable", MESSAGES[problem.kind])
    response.headers["Retry-After"] = str(problem.retry_after)
    return response


def _guarded(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ChaliceViewError:
            raise
        except Exception as problem:
            found = transient.classify(problem)
            if found is not None:
                log.warning("%s answered 503: %s (%s)", view.__name__, found.code, found.kind)
                return unavailable(found)
            log.exception("%s failed", view.__name__)
            return error(500, "InternalServerError", INTERNAL)

    setattr(guarded, GUARDED, True)
    return guarded


def guard_routes(app: Chalice) -> None:
    """Wrap every route registered so far; call it after the last ``register_blueprint``."""
    for methods in app.routes.values():
        for entry in methods.values():
            if not getattr(entry.view_function, GUARDED, False):
                entry.view_function = _guarded(entry.view_function)


def is_guarded(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, GUARDED, False))
