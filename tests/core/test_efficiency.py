"""Speed by design: AWS calls per request, and what `import app` costs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

from chalice.test import Client

from tests.support.fixtures import ROOT, ArticleFactory


def test_list_page_is_exactly_one_query(client: Client, add_articles: ArticleFactory,
                                        aws_calls: Counter[str]) -> None:
    add_articles(30)
    aws_calls.clear()
    first = client.http.get("/articles?limit=10")
    assert aws_calls == Counter({"dynamodb.Query": 1})

    aws_calls.clear()
    cursor = json.loads(first.body)["next_cursor"]
    client.http.get(f"/articles?limit=10&category=erfaringer&cursor={cursor}")  # refused: no call
    client.http.get("/articles?category=erfaringer&limit=50")
    assert aws_calls == Counter({"dynamodb.Query": 1})


def test_article_is_exactly_one_get_item(client: Client, add_articles: ArticleFactory,
                                         aws_calls: Counter[str]) -> None:
    add_articles(1)
    aws_calls.clear()
    assert client.http.get("/articles/artikel-0000").status_code == 200
    assert client.http.get("/articles/findes-ikke").status_code == 404
    assert aws_calls == Counter({"dynamodb.GetItem": 2})


def test_categories_and_bad_requests_make_no_aws_call(client: Client, aws_calls: Counter[str]) -> None:
    client.http.get("/categories")
    client.http.get("/articles?limit=99")
    client.http.get("/articles/IKKE-EN-SLUG")
    assert sum(aws_calls.values()) == 0


# Loaded by the routes that need them, never by `import app`: third-party libraries for
# pictures, templates, Markdown and addresses; and our own services that pull in more
# pynamodb (transactions, the subscriber, ledger and rate-limit models) or the CAPTCHA.
HEAVY = ("PIL", "captcha", "jinja2", "markdown", "nh3", "yaml", "boto3", "email_validator",
         "pynamodb.transactions", "chalicelib.newsletter.signup", "chalicelib.limits.limiter",
         "chalicelib.newsletter.models", "chalicelib.captcha.challenges", "chalicelib.captcha.work",
         "chalicelib.captcha.limit")
IMPORT_PROBE = f"""
import json, sys
import app
heavy = [m for m in {HEAVY!r} if m in sys.modules]
heavy += sorted(m for m in sys.modules if m == "editor" or m.startswith("editor."))
from chalicelib.core import aws
from chalicelib.articles.model import Article
print(json.dumps({{"heavy": heavy, "clients": len(aws._clients),
                  "pynamodb_connection": Article._connection is not None}}))
"""


def test_import_app_is_light_and_creates_no_client() -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PATH": "", "STAGE": "local", "AWS_DEFAULT_REGION": "eu-north-1"},
    )
    probe = json.loads(result.stdout)
    assert probe == {"heavy": [], "clients": 0, "pynamodb_connection": False}


def test_the_probe_sees_the_service_once_a_route_needs_it() -> None:
    # Guards the probe itself: the same check after the subscription service is imported
    # must name it, or the test above could never fail.
    probe = IMPORT_PROBE.replace("import app\n", "import app\nimport chalicelib.newsletter.signup\nimport editor.cli\n")
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PATH": "", "STAGE": "local", "AWS_DEFAULT_REGION": "eu-north-1"},
    )
    heavy = set(json.loads(result.stdout)["heavy"])
    assert {"chalicelib.newsletter.models", "chalicelib.newsletter.signup", "chalicelib.limits.limiter",
            "editor", "editor.cli"} <= heavy


def test_the_proof_of_work_check_adds_no_import_to_any_route() -> None:
    """The routes that check a proof of work (POST /captcha, POST /subscriptions) load
    captcha.work: it must bring nothing but the standard library with it."""
    probe = """
import json, sys
import app
before = set(sys.modules)
import chalicelib.captcha.work
added = sorted(set(sys.modules) - before)
print(json.dumps([m for m in added if m.split(".")[0] not in sys.stdlib_module_names]))
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PATH": "", "STAGE": "local", "AWS_DEFAULT_REGION": "eu-north-1"},
    )
    assert json.loads(result.stdout) == ["chalicelib.captcha.work"]


def test_boto3_clients_are_made_once_per_process() -> None:
    from chalicelib.core import aws

    aws.reset()
    first = aws.client("s3")
    assert aws.client("s3") is first
    assert aws.client("sqs") is not first
    assert set(aws._clients) == {"s3", "sqs"}
