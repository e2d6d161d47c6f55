"""The public article API as a client (and the CDN in front of it) sees it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from tests.support.fixtures import ArticleFactory

# Runs again against DynamoDB Local (the DynamoDB lane of `make test`).
pytestmark = pytest.mark.dynamodb


def get_json(client: Client, path: str, **headers: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = client.http.get(path, headers=headers)
    body = json.loads(response.body) if response.body else {}
    return response.status_code, body, response.headers


def walk(client: Client, query: str = "") -> list[str]:
    """Follow next_cursor from the first page to the last; return every slug seen."""
    seen: list[str] = []
    path = f"/articles?{query}"
    for _ in range(1000):
        status, body, _headers = get_json(client, path)
        assert status == 200, body
        seen.extend(item["slug"] for item in body["items"])
        if body["next_cursor"] is None:
            return seen
        path = f"/articles?{query}&cursor={body['next_cursor']}" if query else f"/articles?cursor={body['next_cursor']}"
    raise AssertionError("pagination never ended")


@pytest.mark.parametrize("count", [0, 1, 20, 21, 120])
def test_pagination_walks_every_published_article_once_newest_first(
    client: Client, add_articles: ArticleFactory, count: int
) -> None:
    expected = add_articles(count)
    add_articles(3, status="draft", prefix="kladde")

    assert walk(client) == expected
    assert walk(client, "limit=7") == expected


def test_page_sizes_default_20_and_last_page_says_no_more(client: Client, add_articles: ArticleFactory) -> None:
    add_articles(45)
    status, first, _ = get_json(client, "/articles")
    assert status == 200
    assert len(first["items"]) == 20 and first["next_cursor"]
    status, full, _ = get_json(client, "/articles?limit=50")
    assert len(full["items"]) == 45 and full["next_cursor"] is None


def test_summary_fields(client: Client, add_articles: ArticleFactory) -> None:
    add_articles(1)
    _, body, headers = get_json(client, "/articles")
    assert body["items"] == [{
        "slug": "artikel-0000",
        "title": "Artikel 0",
        "teaser": "Teaser 0",
        "category": "erfaringer",
        "published_at": "2024-01-01T09:00:00Z",
    }]
    assert headers["Content-Type"] == "application/json; charset=utf-8"


def test_category_filter_lists_only_that_category(client: Client, add_articles: ArticleFactory) -> None:
    cases = add_articles(5, category="cases", prefix="case")
    add_articles(4, category="metoder", prefix="metode")
    assert walk(client, "category=cases&limit=2") == cases
    _, body, _ = get_json(client, "/articles?category=udgivelser")
    assert body == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("limit=0", "limit"),
        ("limit=51", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=1e3", "limit"),
        ("limit=%EF%BC%95", "limit"),  # a full-width digit five
        ("category=nyheder", "kategori"),
        ("categroy=cases", "ukendt parameter"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=" + "A" * 5000, "cursor"),
    ],
)
def test_bad_list_parameters_are_400_with_a_message(client: Client, query: str, fragment: str) -> None:
    status, body, _ = get_json(client, f"/articles?{query}")
    assert status == 400
    assert body["Code"] == "BadRequestError"
    assert fragment in body["Message"]


def test_tampered_or_foreign_cursor_is_400(client: Client, add_articles: ArticleFactory) -> None:
    add_articles(5, category="cases", prefix="case")
    _, body, _ = get_json(client, "/articles?limit=2")
    cursor = body["next_cursor"]
    # Every single-character change to the cursor is caught, not only some.
    for position in range(len(cursor)):
        flipped = "B" if cursor[position] != "B" else "C"
        tampered = cursor[:position] + flipped + cursor[position + 1:]
        status, answer, _ = get_json(client, f"/articles?limit=2&cursor={tampered}")
        assert status == 400, (position, answer)
    # A genuine cursor from another query (the unfiltered list) is refused for a category.
    status, answer, _ = get_json(client, f"/articles?category=cases&limit=2&cursor={cursor}")
    assert status == 400
    assert "en anden liste" in answer["Message"] or "another" in answer["Message"]


def test_article_by_slug(client: Client, add_articles: ArticleFactory) -> None:
    add_articles(2)
    status, body, _ = get_json(client, "/articles/artikel-0001")
    assert status == 200
    assert body["slug"] == "artikel-0001"
    assert body["body_html"] == "<p>Tekst 1</p>"
    assert {"title", "teaser", "category", "published_at", "updated_at", "tags", "author"} <= set(body)


def test_drafts_and_unknown_slugs_are_404(client: Client, add_articles: ArticleFactory) -> None:
    add_articles(1, status="draft", prefix="kladde")
    for slug in ("kladde-0000", "findes-ikke"):
        status, body, headers = get_json(client, f"/articles/{slug}")
        assert status == 404
        assert body["Code"] == "NotFoundError" and slug in body["Message"]
        assert "max-age" in headers["Cache-Control"]


@pytest.mark.parametrize("path", ["/articles/" + "a" * 5000, "/articles/%FF%FE", "/articles/Store-Bogstaver",
                                  "/articles/%C3%A6bler"])
def test_bad_slugs_are_a_clear_4xx(client: Client, path: str) -> None:
    status, body, _ = get_json(client, path)
    assert 400 <= status < 500
    assert body["Message"]


def test_categories_are_listed_with_danish_labels(client: Client) -> None:
    status, body, _ = get_json(client, "/categories")
    assert status == 200
    assert [(c["slug"], c["label"]) for c in body["items"]] == [
        ("erfaringer", "Erfaringer"), ("cases", "Cases"), ("metoder", "Metoder"), ("udgivelser", "Udgivelser")]


@pytest.mark.parametrize("path", ["/articles", "/articles?limit=5", "/articles/artikel-0000", "/categories"])
def test_cdn_headers_and_conditional_get(client: Client, add_articles: ArticleFactory, path: str) -> None:
    add_articles(3)
    first = client.http.get(path)
    assert first.status_code == 200
    cache = first.headers["Cache-Control"]
    for directive in ("max-age=", "s-maxage=", "stale-while-revalidate=", "stale-if-error="):
        assert directive in cache
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')  # strong, not W/

    again = client.http.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.body == b""
    assert again.headers["ETag"] == etag

    listed = client.http.get(path, headers={"If-None-Match": f'"other", {etag}'})
    assert listed.status_code == 304
    stale = client.http.get(path, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.body == first.body


def test_etag_changes_when_content_changes(client: Client, add_articles: ArticleFactory) -> None:
    add_articles(1)
    before = client.http.get("/articles").headers["ETag"]
    add_articles(1, prefix="ny", start=None)
    after = client.http.get("/articles")
    assert after.headers["ETag"] != before
    assert client.http.get("/articles", headers={"If-None-Match": before}).status_code == 200
