"""Reading articles for the public API: one Query per list page, one GetItem per article.

No Chalice here: the routes in ``articles.routes`` parse the request and call this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.articles import cursors
from chalicelib.articles.model import PUBLISHED_FEED, Article

DEFAULT_LIMIT = 20
MAX_LIMIT = 50


def iso(moment: datetime | None) -> str | None:
    """UTC timestamps as the API shows them: ``2012-03-01T09:00:00Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def summary(article: Article) -> dict[str, Any]:
    return {
        "slug": article.slug,
        "title": article.title,
        "teaser": article.teaser,
        "category": article.category,
        "published_at": iso(article.published_at),
    }


def detail(article: Article) -> dict[str, Any]:
    return {
        **summary(article),
        "author": article.author,
        "tags": list(article.tags or []),
        "updated_at": iso(article.updated_at),
        "body_html": article.body_html,
    }


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


class ArticleService:
    """Published articles, newest first. ``model`` is injectable for tests and tools."""

    def __init__(self, *, model: type[Article] = Article) -> None:
        self._model = model

    def list_published(self, *, limit: int, cursor: str | None, category: str | None) -> Page:
        """One page of summaries. Raises ``cursors.InvalidCursor`` for a foreign cursor."""
        query_name = f"category:{category}" if category else "all"
        start = cursors.decode(query_name, cursor) if cursor else None
        if category:
            index: Any = self._model.category_index
            hash_key, hash_name = category, "category_feed"
        else:
            index, hash_key, hash_name = self._model.published_index, PUBLISHED_FEED, "feed"
        # Ask for one more than the page so the last page says "no more" without a
        # second, empty request; the extra item is not shown, only its presence used.
        results = index.query(
            hash_key,
            scan_index_forward=False,
            limit=limit + 1,
            page_size=limit + 1,
            last_evaluated_key=start,
        )
        found = list(results)
        page, more = found[:limit], len(found) > limit
        next_cursor = None
        if more and page:
            last = page[-1]
            # pynamodb's own key format, so DynamoDB resumes exactly after this item.
            published = Article.published_at.serialize(last.published_at)  # type: ignore[no-untyped-call]
            next_cursor = cursors.encode(query_name, {
                "slug": {"S": last.slug},
                hash_name: {"S": hash_key},
                "published_at": {"S": published},
            })
        return Page(items=[summary(article) for article in page], next_cursor=next_cursor)

    def get_published(self, slug: str) -> Article | None:
        """The article, or None when it does not exist or is not published."""
        try:
            article = self._model.get(slug)
        except DoesNotExist:
            return None
        return article if article.status == "published" else None
