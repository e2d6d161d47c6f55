"""Upsert parsed articles into DynamoDB, idempotently, and say what changed.

Each article is one conditional PutItem, so an article is either written whole or not at
all, and two editors publishing at once cannot overwrite each other's newer version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.articles.model import PUBLISHED_FEED, Article
from chalicelib.core.clock import Clock, utcnow
from chalicelib.core.conditions import condition_failed
from editor import content

log = logging.getLogger(__name__)


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # messages naming file and problem

    @property
    def changed(self) -> list[str]:
        return self.created + self.updated

    def summary(self) -> str:
        return (f"{len(self.created)} created, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged, {len(self.rejected)} rejected")


def _item(source: content.ArticleSource, existing: Article | None, now: datetime) -> Article:
    published_at = source.published_at
    if published_at is None and source.status == "published":
        # Keep the first publication time across republishing; new articles get "now".
        had = existing.published_at if existing is not None else None
        published_at = had or now
    published = source.status == "published"
    return Article(
        source.slug,
        title=source.title,
        teaser=source.teaser,
        body_md=source.body_md,
        body_html=content.render_markdown(source.body_md),
        category=source.category,
        tags=source.tags,
        author=source.author,
        status=source.status,
        published_at=published_at,
        updated_at=now,
        content_hash=source.content_hash,
        feed=PUBLISHED_FEED if published else None,
        category_feed=source.category if published else None,
    )


def _now_matches(source: content.ArticleSource) -> bool:
    try:
        return bool(Article.get(source.slug, consistent_read=True).content_hash == source.content_hash)
    except DoesNotExist:
        return False


def publish_sources(
    sources: list[content.ArticleSource],
    report: Report,
    now: Clock = utcnow,
) -> None:
    for source in sources:
        try:
            existing: Article | None = Article.get(source.slug, consistent_read=True)
        except DoesNotExist:
            existing = None
        if existing is not None and existing.content_hash == source.content_hash:
            report.unchanged.append(source.slug)
            continue
        item = _item(source, existing, now())
        # Write only over the version we read (or over nothing): a concurrent publish of
        # the same article makes one of the two fail loudly instead of losing an edit.
        condition = (Article.slug.does_not_exist() if existing is None
                     else Article.content_hash == existing.content_hash)
        try:
            item.save(condition=condition)
        except PutError as error:
            if not condition_failed(error):
                raise
            if _now_matches(source):
                report.unchanged.append(source.slug)  # someone published the same text
                continue
            report.rejected.append(f"{source.path}: '{source.slug}' was changed by someone "
                                   "else while publishing; run publish again")
            continue
        (report.created if existing is None else report.updated).append(source.slug)
        log.info("Published %s (%s)", source.slug, "new" if existing is None else "updated")


def publish_paths(paths: list[Path], now: Clock = utcnow) -> Report:
    """Parse every file first, reject the bad ones whole, then write the good ones."""
    report = Report()
    sources: list[content.ArticleSource] = []
    seen: dict[str, Path] = {}
    for path in content.discover(paths):
        try:
            source = content.parse(path)
        except content.ContentError as error:
            report.rejected.append(str(error))
            continue
        if source.slug in seen:
            report.rejected.append(f"{path}: slug '{source.slug}' is already used by {seen[source.slug]}")
            continue
        seen[source.slug] = path
        sources.append(source)
    publish_sources(sources, report, now)
    return report
