"""Article reads under AWS faults: throttling is a clean 503 with Retry-After, and the same
request works once it clears.

Faults are injected at the app's botocore clients (tests/support/faults.py); every other
call goes to moto server as usual.
"""

from __future__ import annotations

import pytest
from chalice.test import Client

from tests.support.faults import BY_SERVICE, Fault, FaultInjector, assert_clean_unavailable
from tests.support.fixtures import ArticleFactory

DYNAMODB_FAULTS = BY_SERVICE["dynamodb"]


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
