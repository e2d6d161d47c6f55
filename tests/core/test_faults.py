"""AWS failing under load (throttling, 503s, SES refusing mail) never shows as a 500 with
internals, and never leaves a half-written record: the same request works once it clears.

Faults are injected at the app's botocore clients (tests/helpers_faults.py); every other
call goes to moto server as usual.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.articles.model import Article
from chalicelib.core.faults import classify
from editor import cli
from tests.conftest import ArticleFactory
from tests.helpers_faults import (
    ACCESS_DENIED,
    BY_SERVICE,
    INTERNALS,
    SLOW_DOWN,
    THROTTLING,
    THROUGHPUT,
    Fault,
    FaultInjector,
    assert_clean_unavailable,
    case_id,
    faults,
    matrix,
)

__all__ = ["faults"]  # the fixture, imported for pytest

DYNAMODB_FAULTS = BY_SERVICE["dynamodb"]


def test_every_route_is_guarded() -> None:
    """A route registered after ``guard_routes(app)`` would answer throttling with a 500."""
    from app import app
    from chalicelib.core.guard import is_guarded

    unguarded = [f"{method} {path}" for path, methods in app.routes.items()
                 for method, entry in methods.items() if not is_guarded(entry.view_function)]
    assert app.routes and not unguarded


@pytest.mark.parametrize("fault", DYNAMODB_FAULTS, ids=lambda f: f.code)
@pytest.mark.parametrize("path", ["/articles", "/articles?category=erfaringer", "/articles/artikel-0001"])
def test_throttled_reads_are_503_with_retry_after_then_work(
    client: Client, add_articles: ArticleFactory, faults: FaultInjector, fault: Fault, path: str,
) -> None:
    add_articles(3)
    faults.inject("dynamodb.*", fault)
    response = client.http.get(path)
    assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
    assert sum(faults.injected.values()) == 1

    faults.clear()
    assert client.http.get(path).status_code == 200


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


ARTICLE = """---
title: {title}
teaser: En kort tekst.
category: metoder
---
Brødtekst om {title}.
"""


def _articles() -> dict[str, tuple[str, str]]:
    return {a.slug: (a.title, a.body_html) for a in Article.scan()}  # a test may scan


@pytest.mark.parametrize("fault", DYNAMODB_FAULTS, ids=lambda f: f.code)
@pytest.mark.parametrize("failing_call", [0, 1, 2, 3], ids=lambda n: f"call{n}")
def test_publish_under_throttling_fails_cleanly_and_a_rerun_finishes_it(
    tmp_path: Path, faults: FaultInjector, capsys: pytest.CaptureFixture[str],
    fault: Fault, failing_call: int,
) -> None:
    """Publishing two articles starts with four DynamoDB calls (GetItem, PutItem each);
    whichever fails, the CLI says so and exits 75, each article is whole or absent, and
    running the same command again ends exactly where a run without the fault would."""
    _write_articles(tmp_path)
    faults.inject("dynamodb.*", fault, after=failing_call)

    assert cli.main(["publish", str(tmp_path)]) == cli.EX_TEMPFAIL
    assert "run publish again" in capsys.readouterr().err
    assert faults.injected
    faults.clear()
    partial = _articles()
    assert len(partial) == failing_call // 2  # calls before the fault wrote whole articles
    assert all(body.startswith("<p>Brødtekst om ") for _, body in partial.values())

    assert cli.main(["publish", str(tmp_path)]) == 0
    _assert_site_is_whole()
    assert _articles() == {
        "borgerpaneler": ("Borgerpaneler", "<p>Brødtekst om Borgerpaneler.</p>"),
        "dialogmoeder": ("Dialogmøder", "<p>Brødtekst om Dialogmøder.</p>"),
    }


def _write_articles(folder: Path, *, draft: str | None = None) -> None:
    for title in ("Borgerpaneler", "Dialogmøder"):
        text = ARTICLE.format(title=title)
        if title == draft:
            text = text.replace("category: metoder\n", "category: metoder\nstatus: draft\n")
        (folder / f"{title}.md").write_text(text, encoding="utf-8")


def _assert_site_is_whole() -> None:
    """The manifest names exactly the objects in the bucket, with their real digests, and a
    full render finds nothing to change: the bucket is what a run without faults leaves."""
    from editor.site.build import build_site
    from editor.site.manifest import LAYOUT, MANIFEST, RenderedObject
    from editor.site.render import SiteObject
    from tests.helpers_site import bucket_objects

    stored = {key: obj for key, obj in bucket_objects().items() if not key.startswith("captcha/")}
    manifest = {item.sk: item.digest for item in RenderedObject.query(MANIFEST) if item.sk != LAYOUT}
    assert set(stored) == set(manifest)
    for key, obj in stored.items():
        assert SiteObject(key, obj.body, obj.content_type, obj.cache_control).digest == manifest[key], key
    again = build_site([], full=True)
    assert (again.sync.put, again.sync.deleted) == ([], [])


# A first publish of two articles: GetItem + PutItem each, then the site: Query (published
# index), Query (manifest), BatchGetItem (bodies), one PutObject per object (18), one
# BatchWriteItem (manifest). Unpublishing one later adds DeleteObjects + BatchWriteItem.
SITE_FAULTS = [
    ("dynamodb.Query", 0, THROTTLING), ("dynamodb.Query", 1, THROUGHPUT),
    ("dynamodb.BatchGetItem", 0, THROUGHPUT), ("s3.PutObject", 0, SLOW_DOWN),
    ("s3.PutObject", 9, SLOW_DOWN), ("dynamodb.BatchWriteItem", 0, THROTTLING),
    ("dynamodb.BatchWriteItem", 0, THROUGHPUT),
]
UNPUBLISH_FAULTS = [("s3.DeleteObjects", 0, SLOW_DOWN), ("dynamodb.BatchWriteItem", 1, THROUGHPUT)]


@pytest.mark.parametrize("case", SITE_FAULTS, ids=lambda case: "-".join(map(case_id, case)))
def test_site_rendering_under_faults_fails_cleanly_and_a_rerun_makes_it_whole(
    tmp_path: Path, faults: FaultInjector, capsys: pytest.CaptureFixture[str],
    case: tuple[str, int, Fault],
) -> None:
    call, after, fault = case
    _write_articles(tmp_path)
    faults.inject(call, fault, after=after)
    assert cli.main(["publish", str(tmp_path)]) == cli.EX_TEMPFAIL
    err = capsys.readouterr().err
    assert "run the same command again" in err and "Traceback" not in err
    assert faults.injected, f"{call} #{after} was never made: update SITE_FAULTS"
    faults.clear()

    assert cli.main(["publish", str(tmp_path)]) == 0
    _assert_site_is_whole()


@pytest.mark.parametrize(("call", "after", "fault"), UNPUBLISH_FAULTS, ids=case_id)
def test_unpublishing_under_faults_fails_cleanly_and_a_rerun_removes_the_page(
    tmp_path: Path, faults: FaultInjector, call: str, after: int, fault: Fault,
) -> None:
    from tests.helpers_site import bucket_objects

    _write_articles(tmp_path)
    assert cli.main(["publish", str(tmp_path)]) == 0
    _write_articles(tmp_path, draft="Dialogmøder")
    faults.inject(call, fault, after=after)
    assert cli.main(["publish", str(tmp_path)]) == cli.EX_TEMPFAIL
    assert faults.injected, f"{call} #{after} was never made: update UNPUBLISH_FAULTS"
    faults.clear()

    assert cli.main(["publish", str(tmp_path)]) == 0
    _assert_site_is_whole()
    assert not any("dialogmoeder" in key for key in bucket_objects())


# POST /captcha: picture and audio to S3 first, then the challenge item.
CAPTCHA_CALLS = ["s3.PutObject", "s3.PutObject", "dynamodb.PutItem"]


def test_captcha_calls_are_the_ones_the_fault_matrix_covers(client: Client, faults: FaultInjector) -> None:
    assert client.http.post("/captcha").status_code == 201
    assert faults.calls == CAPTCHA_CALLS


@pytest.mark.parametrize(("call", "after", "fault"), matrix(CAPTCHA_CALLS), ids=case_id)
def test_captcha_creation_under_faults_is_503_and_leaves_no_challenge(
    client: Client, faults: FaultInjector, call: str, after: int, fault: Fault,
) -> None:
    from chalicelib.captcha.model import ChallengeItem
    from tests.helpers_captcha import fixed_answer

    faults.inject(call, fault, after=after)
    response = client.http.post("/captcha")
    assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
    assert sum(faults.injected.values()) == 1
    faults.clear()
    assert ChallengeItem.count() == 0  # no id that points at missing pictures

    response = client.http.post("/captcha")
    assert response.status_code == 201
    captcha_id = json.loads(response.body)["captcha_id"]
    assert [item.captcha_id for item in ChallengeItem.scan()] == [captcha_id]
    from chalicelib.captcha import challenges

    challenges.consume(captcha_id, fixed_answer())  # the new one works, once


@pytest.mark.parametrize(("call", "after", "fault"),
                         [(call, after, fault) for call, after, fault in matrix(CAPTCHA_CALLS)
                          if fault in (SLOW_DOWN, THROUGHPUT)], ids=case_id)
def test_the_html_signup_form_under_faults_is_a_503_page_then_works(
    client: Client, faults: FaultInjector, call: str, after: int, fault: Fault,
) -> None:
    """GET /nyhedsbrev makes a challenge for visitors without JavaScript: a fault gives a
    Danish 503 page with Retry-After and no challenge; the reload gets a working form."""
    from chalicelib.captcha.model import ChallengeItem

    faults.inject(call, fault, after=after)
    response = client.http.get("/nyhedsbrev")
    page = response.body.decode()
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Prøv igen" in page and not any(marker in page for marker in INTERNALS)
    assert faults.injected
    faults.clear()
    assert ChallengeItem.count() == 0

    response = client.http.get("/nyhedsbrev")
    assert response.status_code == 200
    (item,) = list(ChallengeItem.scan())
    assert item.captcha_id in response.body.decode()


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
