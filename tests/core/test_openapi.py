"""The OpenAPI document is the public contract: it lists exactly the app's routes, and the
app keeps it under schemathesis fuzzing (no 5xx, no internals, every answer as documented)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from chalice.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from chalicelib.articles.categories import all_categories
from chalicelib.core.openapi import DOCUMENT
from tests.support.fixtures import ArticleFactory
from tests.support.report import COUNTS
from tests.support.wsgi import ChaliceWSGI

# Fixed budget per operation, derandomised: the same examples every run, so CI is stable.
EXAMPLES_PER_OPERATION = 60
ARN = re.compile(r"arn:aws[a-z-]*:", re.IGNORECASE)
INTERNALS = ("Traceback", "botocore", "pynamodb", 'File "')
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
# Operations whose input the server issued (a CAPTCHA id, a link token, a result code): a
# made-up one is well-formed yet refused, which is right, so "valid data is accepted" cannot
# apply; every other check still does.
ISSUED_INPUTS = {("POST", "/subscriptions"), ("GET", "/subscriptions/result"),
                 ("GET", "/captcha/{captcha_id}/audio")} | {
    (method, f"/subscriptions/{action}") for method in ("GET", "POST")
    for action in ("confirm", "unsubscribe", "export", "erase", "preferences")} | {
    ("POST", "/subscriptions/rights-link")}


def _documented() -> set[tuple[str, str]]:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS}


def _fuzz_plan() -> list[tuple[tuple[str, str], GenerationMode]]:
    """Every operation with valid input; those whose input can be invalid (a typed or
    patterned parameter, a body) also with invalid input."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            found: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                found = found[part]
            node = found
        return node

    plan: list[tuple[tuple[str, str], GenerationMode]] = []
    for method, path in sorted(_documented()):
        operation = document["paths"][path][method.lower()]
        schemas = [resolve(resolve(parameter)["schema"]) for parameter in operation.get("parameters", [])]
        plan.append(((method, path), GenerationMode.POSITIVE))
        if "requestBody" in operation or any(schema != {"type": "string"} for schema in schemas):
            plan.append(((method, path), GenerationMode.NEGATIVE))
    return plan


@pytest.mark.no_aws
def test_document_lists_exactly_the_registered_routes() -> None:
    """A new route fails here until chalicelib/data/openapi.json describes it."""
    from app import app

    registered = {(method, path) for path, methods in app.routes.items() for method in methods}
    assert sorted(registered - _documented()) == [], "routes missing from chalicelib/data/openapi.json"
    assert sorted(_documented() - registered) == [], "documented routes the app does not have"


@pytest.mark.no_aws
def test_document_categories_are_the_real_ones() -> None:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    documented = document["components"]["schemas"]["CategorySlug"]["enum"]
    assert documented == [category.slug for category in all_categories()]


def test_document_is_served_with_the_api_url(client: Client) -> None:
    response = client.http.get("/openapi.json")
    assert response.status_code == 200
    served = json.loads(response.body)
    assert served["openapi"].startswith("3.")
    assert {(m.upper(), p) for p, item in served["paths"].items() for m in item} == _documented()
    assert served["servers"][0]["url"].startswith("http")
    again = client.http.get("/openapi.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.fixture
def api(client: Client, add_articles: ArticleFactory) -> Iterator[Any]:
    """The app with a few published articles and drafts, loaded by schemathesis through WSGI;
    afterwards, no answer in the whole run was a 5xx or showed internals."""
    from editor.publishing import publish_paths
    from tests.support.fixtures import ROOT

    add_articles(3, category="cases")
    add_articles(2, category="metoder", status="draft", prefix="kladde")
    publish_paths([ROOT / "content"])
    wsgi = ChaliceWSGI(client)
    yield schemathesis.openapi.from_wsgi("/openapi.json", wsgi)
    leaked = [(method, path, status) for method, path, status, body in wsgi.responses
              if status >= 500 or _shows_internals(body.decode("utf-8", "replace"))]
    assert not leaked, leaked


def _shows_internals(body: str) -> bool:
    return bool(ARN.search(body)) or any(marker in body for marker in INTERNALS)


@pytest.mark.parametrize(("operation", "mode"), _fuzz_plan(), ids=lambda v: " ".join(v) if isinstance(v, tuple) else str(v))
def test_api_holds_its_contract_under_fuzzing(api: Any, operation: tuple[str, str], mode: GenerationMode) -> None:
    """Schemathesis' default checks (status codes, headers, content types and bodies as
    documented; bad input refused with 4xx) plus ours: nothing >= 500, no internals."""
    method, path = operation
    found = api.find_operation_by_label(f"{method} {path}")
    assert found is not None
    label = f"{method} {path} ({mode})"

    @given(case=found.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def fuzz(case: Any) -> None:
        COUNTS["schemathesis examples tried"][label] += 1
        # A cursor is a token the server signs: a made-up one is well-formed yet refused
        # (400, checked below), which is right, so "valid data is accepted" cannot apply.
        forged_cursor = mode is GenerationMode.POSITIVE and bool((case.query or {}).get("cursor"))
        issued = operation in ISSUED_INPUTS
        excluded = [positive_data_acceptance] if forged_cursor or issued else []
        response = case.call_and_validate(excluded_checks=excluded)
        if forged_cursor:
            assert response.status_code == 400 and "cursor" in response.json()["Message"]
        assert response.status_code < 500, response.text
        assert not _shows_internals(response.text), response.text

    fuzz()
