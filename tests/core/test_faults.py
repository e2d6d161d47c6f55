"""The route guard: AWS failing under load (throttling, 503s, SES refusing mail) never shows
as a 500 with internals; an unexpected AWS error is a 500 that shows none either.

Faults are injected at the app's botocore clients (tests/support/faults.py); every other
call goes to moto server as usual. Each feature's own fault tests are in its folder
(tests/articles/, tests/captcha/, tests/editor/, tests/newsletter/, tests/digest/).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.core.faults import classify
from tests.support.faults import ACCESS_DENIED, INTERNALS, FaultInjector
from tests.support.fixtures import ArticleFactory


def test_every_route_is_guarded() -> None:
    """A route registered after ``guard_routes(app)`` would answer throttling with a 500."""
    from app import app
    from chalicelib.core.guard import is_guarded

    unguarded = [f"{method} {path}" for path, methods in app.routes.items()
                 for method, entry in methods.items() if not is_guarded(entry.view_function)]
    assert app.routes and not unguarded


def test_an_unexpected_aws_error_is_a_500_that_shows_no_internals(
    client: Client, add_articles: ArticleFactory, faults: FaultInjector,
) -> None:
    add_articles(1)
    faults.inject("dynamodb.*", ACCESS_DENIED)
    response = client.http.get("/articles")
    body = response.body.decode()
    assert response.status_code == 500
    assert json.loads(body)["Code"] == "InternalServerError"
    assert not any(marker in body for marker in INTERNALS)
    assert "Retry-After" not in response.headers


def _client_error(code: str, **extra: Any) -> Exception:
    from botocore.exceptions import ClientError

    response: Any = {"Error": {"Code": code, "Message": "x"}, **extra}
    return ClientError(response, "Op")


@pytest.mark.no_aws
def test_classification_of_failures() -> None:
    from botocore.exceptions import EndpointConnectionError
    from pynamodb.exceptions import PutError, TransactWriteError

    busy = classify(PutError("put", _client_error("ProvisionedThroughputExceededException")))
    assert busy is not None and busy.kind == "busy"
    assert classify(PutError("put", _client_error("ConditionalCheckFailedException"))) is None
    assert classify(_client_error("ValidationException")) is None
    assert classify(ValueError("bug")) is None
    mail = classify(_client_error("MessageRejected"))
    assert mail is not None and mail.kind == "mail"
    slow = classify(_client_error("Anything", ResponseMetadata={"HTTPStatusCode": 503}))
    assert slow is not None and slow.kind == "busy"
    unreachable = classify(EndpointConnectionError(endpoint_url="http://x"))
    assert unreachable is not None and unreachable.kind == "unreachable"

    def cancelled(*codes: str) -> Exception:
        cause = _client_error("TransactionCanceledException",
                              CancellationReasons=[{"Code": c} for c in codes])
        try:
            raise TransactWriteError("tx", cause) from cause
        except TransactWriteError as error:
            return error

    assert classify(cancelled("None", "ThrottlingError")) is not None
    assert classify(cancelled("ConditionalCheckFailed", "None")) is None
