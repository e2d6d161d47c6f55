"""Published articles written straight into the table, for tests and benchmarks.

Fast bulk setup that skips the publishing pipeline (it has its own tests): one
BatchWriteItem per 25 articles, each carrying the index keys a published article has.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta


def add_articles(count: int, *, categories: Sequence[str] = ("erfaringer",), status: str = "published",
                 prefix: str = "artikel", start: datetime | None = None,
                 step: timedelta = timedelta(hours=1), body_lines: int = 1,
                 tags: Sequence[str] = ()) -> list[str]:
    """``count`` articles published ``step`` apart from ``start``, their categories taken in
    turn; returns the slugs newest first, the order the API lists them in."""
    from chalicelib.articles.model import PUBLISHED_FEED, Article

    base = start or datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
    published = status == "published"
    slugs: list[str] = []
    with Article.batch_write() as batch:
        for number in range(count):
            slug, category = f"{prefix}-{number:04d}", categories[number % len(categories)]
            batch.save(Article(
                slug, title=f"Artikel {number}", teaser=f"Teaser {number}",
                body_md=f"Tekst {number}\n" * body_lines, body_html=f"<p>Tekst {number}</p>" * body_lines,
                category=category, tags=list(tags), status=status,
                published_at=base + step * number, updated_at=base, content_hash=slug,
                feed=PUBLISHED_FEED if published else None,
                category_feed=category if published else None,
            ))
            slugs.append(slug)
    return list(reversed(slugs))
