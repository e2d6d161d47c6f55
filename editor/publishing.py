"""Upsert parsed articles and pages into DynamoDB, idempotently, and say what changed.

Each article (and each page, ``editor.pages``) is one conditional PutItem, so it is either
written whole or not at all, and two editors publishing at once cannot overwrite each
other's newer version.

Every file is read and checked first; a bad one is rejected whole. Then the images of the
good ones are made and uploaded (``editor.images``: only those the site does not have yet),
so an article never points at a picture that is not there, and only then are the articles
and pages written, their local ``<img>`` turned into ``<picture>`` with the site's address.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.articles.model import PUBLISHED_FEED, Article
from chalicelib.core.clock import Clock, utcnow
from chalicelib.core.conditions import condition_failed
from chalicelib.core.config import get_settings
from editor import content, images, pages

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # messages naming file and problem
    pages: pages.PagesReport = field(default_factory=pages.PagesReport)
    images: images.ImageReport = field(default_factory=images.ImageReport)

    @property
    def changed(self) -> list[str]:
        return self.created + self.updated

    def summary(self) -> str:
        return (f"{len(self.created)} created, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged, {len(self.rejected)} rejected")

    def details(self) -> list[str]:
        """The pages' and images' summaries, when there were any."""
        found = []
        counted = self.pages
        if counted.created or counted.updated or counted.unchanged:
            found.append(f"pages: {len(counted.created)} created, {len(counted.updated)} updated, "
                         f"{len(counted.unchanged)} unchanged")
        if self.images.made or self.images.unchanged:
            found.append(self.images.summary())
        return found


def _embedded(source: content.ArticleSource | pages.PageSource, site_url: str, *, has_hero: bool) -> str:
    return content.finished_html(source.body_html, source.images, site_url, has_hero=has_hero)


def _item(source: content.ArticleSource, existing: Article | None, now: datetime, site_url: str) -> Article:
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
        body_html=_embedded(source, site_url, has_hero=source.lead is not None),
        lead_image=source.lead.image_set().to_json() if source.lead else None,
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
    site_url: str | None = None,
) -> None:
    site_url = (site_url or get_settings().site_url).rstrip("/")
    for source in sources:
        try:
            existing: Article | None = Article.get(source.slug, consistent_read=True)
        except DoesNotExist:
            existing = None
        if existing is not None and existing.content_hash == source.content_hash:
            report.unchanged.append(source.slug)
            continue
        item = _item(source, existing, now(), site_url)
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


def parse_paths(paths: list[Path], report: Report, progress: Progress | None = None
                ) -> tuple[list[content.ArticleSource], list[pages.PageSource]]:
    """Every file read and checked; the bad ones go to ``report.rejected`` whole."""
    articles: list[content.ArticleSource] = []
    found_pages: list[pages.PageSource] = []
    seen: dict[str, Path] = {}
    seen_pages: dict[str, Path] = {}
    contact: Path | None = None
    files = content.discover(paths)
    for number, path in enumerate(files, start=1):
        if progress:
            progress("read", number, len(files))
        try:
            if content.is_page(path):
                page = pages.parse(path)
                if page.slug in seen_pages:
                    raise content.ContentError(f"{path}: slug '{page.slug}' is already used by "
                                               f"{seen_pages[page.slug]}")
                if page.contact is not None and contact is not None:
                    raise content.ContentError(f"{path}: only one page gives the contact block, and "
                                               f"{contact} does")
                seen_pages[page.slug] = path
                contact = contact or (path if page.contact is not None else None)
                found_pages.append(page)
                continue
            source = content.parse(path)
        except content.ContentError as error:
            report.rejected.append(str(error))
            continue
        if source.slug in seen:
            report.rejected.append(f"{path}: slug '{source.slug}' is already used by {seen[source.slug]}")
            continue
        seen[source.slug] = path
        articles.append(source)
    return articles, found_pages


def _damaged(path: Path, refs: list[content.ImageRef], report: Report) -> bool:
    failed = [ref for ref in refs if ref.plan.source.digest in report.images.failed]
    for ref in failed[:1]:
        report.rejected.append(f"{path}, line {ref.line}: {report.images.failed[ref.plan.source.digest]}")
    return bool(failed)


def publish_paths(paths: list[Path], now: Clock = utcnow, *, site_url: str | None = None,
                  progress: Progress | None = None) -> Report:
    """Parse every file first, reject the bad ones whole, upload the images the good ones
    need, then write the good ones. ``site_url``: where the pictures are (the settings')."""
    site_url = (site_url or get_settings().site_url).rstrip("/")
    report = Report()
    articles, found_pages = parse_paths(paths, report, progress)
    # The stored HTML holds the site's address (pictures, links from the root): so does the hash.
    articles = [replace(a, content_hash=content.stored_hash(a.content_hash, a.body_html, a.all_images(),
                                                            site_url)) for a in articles]
    found_pages = [replace(p, content_hash=content.stored_hash(p.content_hash, p.body_html, p.images,
                                                               site_url)) for p in found_pages]
    refs = [ref for article in articles for ref in article.all_images()]
    refs += [ref for page in found_pages for ref in page.all_images()]
    plans = [ref.plan for ref in refs]
    if plans:
        report.images = images.publish(plans, progress=progress)
    if report.images.failed:  # a picture that turned out damaged when it was made: its files wait
        articles = [a for a in articles if not _damaged(a.path, a.all_images(), report)]
        found_pages = [p for p in found_pages if not _damaged(p.path, p.all_images(), report)]
    publish_sources(articles, report, now, site_url)
    if found_pages:
        body_html = {page.slug: _embedded(page, site_url, has_hero=False) for page in found_pages}
        pages.publish_sources(found_pages, body_html, report.pages, report.rejected, now)
    return report
