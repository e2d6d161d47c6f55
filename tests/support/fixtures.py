"""Fixtures: a real moto server process → resources from infra/ → the app's test client; and
the constants tests share (ROOT, REGION, SES_FIXTURES, ON_DYNAMODB_LOCAL, ArticleFactory).

Registered through ``pytest_plugins`` in tests/conftest.py, which has set the environment
before this module is imported. Nothing here imports the app (chalicelib) at import time.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from devtools import stack as local_stack
from devtools.emulators import dynamodb_local, moto_server

ROOT = Path(__file__).resolve().parents[2]
REGION = local_stack.REGION  # the region tests/conftest.py runs every test in
# SES notification samples (bounce, complaint, a received unsubscribe mail).
SES_FIXTURES = ROOT / "tests" / "fixtures" / "ses"

# The DynamoDB lane (``make test``, see devtools/dynamodb_local.py) sets this: DynamoDB calls
# then go to DynamoDB Local, everything else still to moto server.
ON_DYNAMODB_LOCAL = os.environ.get(dynamodb_local.BACKEND_ENV) == dynamodb_local.BACKEND


@pytest.fixture(scope="session")
def dynamodb_local_server() -> Iterator[dynamodb_local.DynamoDBLocal]:
    log = ROOT / ".pytest_cache" / f"dynamodb-local-{os.getpid()}.log"
    log.parent.mkdir(exist_ok=True)
    server = dynamodb_local.start(log_path=str(log))
    # botocore's per-service endpoint wins over AWS_ENDPOINT_URL, for boto3 and pynamodb alike.
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = server.url
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto() -> Iterator[moto_server.MotoServer]:
    server = local_stack.start_aws(ROOT / ".pytest_cache" / f"moto-{os.getpid()}.log")
    os.environ["AWS_ENDPOINT_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def stack(request: pytest.FixtureRequest) -> Iterator[dict[str, str] | None]:
    """A clean AWS account with the resources of infra/template.yaml, for every test
    that talks to AWS (tests marked ``no_aws`` skip the server entirely)."""
    if request.node.get_closest_marker("no_aws"):
        yield None
        return
    server: moto_server.MotoServer = request.getfixturevalue("moto")
    server.reset()
    if ON_DYNAMODB_LOCAL:
        import boto3

        request.getfixturevalue("dynamodb_local_server")
        dynamodb_local.drop_tables(boto3.client("dynamodb", region_name=REGION))
    yield local_stack.create_resources()


@pytest.fixture
def client() -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="local", project_dir=str(ROOT)) as test_client:
        yield test_client


@pytest.fixture
def aws_calls() -> Iterator[Counter[str]]:
    """Counts AWS API calls ("dynamodb.Query": 1) through botocore's event hooks."""
    from devtools import call_counter

    with call_counter.counting(unique_id="test-count") as calls:
        yield calls


@pytest.fixture
def outbox(moto: moto_server.MotoServer) -> Callable[[], list[Any]]:
    """Reads every mail sent through moto server's SES so far (parsed MIME)."""
    from devtools import outbox as reader

    return lambda: reader.read(moto.url)


ArticleFactory = Callable[..., list[str]]


@pytest.fixture
def add_articles() -> ArticleFactory:
    """Write articles straight into the table (fast bulk setup; publishing has its own tests).

    Returns their slugs newest first, the order the API must list them in.
    """
    from devtools import seed_articles

    def add(
        count: int,
        *,
        category: str = "erfaringer",
        status: str = "published",
        prefix: str = "artikel",
        start: datetime | None = None,
    ) -> list[str]:
        return seed_articles.add_articles(count, categories=(category,), status=status, prefix=prefix,
                                          start=start)

    return add
