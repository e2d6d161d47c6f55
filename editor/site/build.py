"""Rebuild the site after a publish: read the articles, render, sync to the bucket.

Reads cost one Query on the published index (summaries for every list, feed and sitemap)
plus one BatchGetItem per 100 article pages to render. Only the pages of changed
articles are rendered again, unless the layout changed or a page is missing; every list
page is rendered each time (cheap, no bodies) and PUT only when its bytes changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from chalicelib.articles.model import PUBLISHED_FEED, Article
from chalicelib.core.config import get_settings
from chalicelib.site.pages import article_key
from editor.site import render, sync

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass
class BuildReport:
    sync: sync.SyncReport
    rendered_articles: int = 0
    problems: list[str] = field(default_factory=list)  # "<slug>: <problem>"

    def summary(self) -> str:
        return f"site: {self.sync.summary()} ({self.rendered_articles} article page(s) rendered)"


def published_summaries() -> list[render.Summary]:
    """Every published article's summary, newest first: one Query (paged per MB)."""
    return [
        render.Summary(slug=item.slug, title=item.title, teaser=item.teaser, category=item.category,
                      published_at=item.published_at)
        for item in Article.published_index.query(PUBLISHED_FEED, scan_index_forward=False)
        if item.published_at is not None
    ]


def full_articles(slugs: Iterable[str]) -> list[render.FullArticle]:
    """The published ones among ``slugs``, bodies included (BatchGetItem, 100 a request)."""
    found: list[render.FullArticle] = []
    for item in Article.batch_get(sorted(set(slugs))):
        if item.status != "published" or item.published_at is None:
            continue  # unpublished since the index was read: its page is deleted instead
        summary = render.Summary(slug=item.slug, title=item.title, teaser=item.teaser,
                                category=item.category, published_at=item.published_at)
        found.append(render.FullArticle(summary=summary, body_html=item.body_html, author=item.author,
                                       tags=[str(tag) for tag in item.tags or []]))
    return found


def build_site(
    changed: Iterable[str] = (),
    *,
    full: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    site_url: str | None = None,
    api_url: str | None = None,
) -> BuildReport:
    """Bring the bucket up to date with the articles table.

    ``changed``: slugs whose page must be rendered again (published or not: an unpublished
    one simply disappears). ``full``: render every article page. ``force``: PUT every
    object even when the manifest says it is unchanged (after someone edited the bucket).
    """
    settings = get_settings()
    site_url = (site_url or settings.site_url).rstrip("/")
    api_url = (api_url or settings.api_url).rstrip("/")
    summaries = published_summaries()
    renderer = render.Renderer(site_url=site_url, api_url=api_url, summaries=summaries)
    manifest = sync.Manifest.load()
    layout = render.layout_fingerprint(site_url, api_url)
    published = {item.slug for item in summaries}
    if full or force or manifest.layout != layout:
        to_render = published
    else:
        missing = {slug for slug in published if article_key(slug) not in manifest.entries}
        to_render = (set(changed) & published) | missing

    objects = renderer.fixed_objects() + renderer.list_objects()
    problems: list[str] = []
    articles = full_articles(to_render) if to_render else []
    for number, article in enumerate(articles, start=1):
        obj, found = renderer.article_object(article)
        objects.append(obj)
        problems.extend(f"{article.summary.slug}: {problem}" for problem in found)
        if progress:
            progress("render", number, len(articles))

    def sync_progress(done: int, total: int) -> None:
        if progress:
            progress("upload", done, total)

    # Superseded fingerprinted assets stay: pages that browsers and the CDN still hold
    # (max-age, stale-while-revalidate) keep pointing at them. They are a few kB each.
    keep = renderer.expected_keys() | {key for key in manifest.object_keys() if key.startswith("assets/")}
    report = sync.sync(manifest, objects, keep, layout=layout, force=force, progress=sync_progress)
    for problem in problems:
        log.warning("Article %s", problem)
    return BuildReport(sync=report, rendered_articles=len(articles), problems=problems)
