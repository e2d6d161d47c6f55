"""Rebuild the site after a publish: read the articles and pages, render, sync to the bucket.

Reads cost one Query on the published index (summaries for every list, feed and sitemap),
one Query each for the pages, the feed's lead images and the manifest, plus one
BatchGetItem per 100 article pages to render. Only the pages of changed articles are
rendered again, unless the layout changed (templates, assets, addresses, the footer) or a
page is missing; every list page and every editors' page is rendered each time (cheap, no
article bodies) and PUT only when its bytes changed.

Images (``billeder/``) are uploaded when an article is published (``editor.images``) and
kept, like superseded assets, by every build; a full ``rebuild`` deletes those that no
published article or page shows any more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from chalicelib.articles.model import PUBLISHED_FEED, Article
from chalicelib.core.config import get_settings
from chalicelib.site.pages import article_key
from editor import images, pages
from editor.site import render, sync
from editor.site.manifest import LEADS, LeadImageRecord

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
        found.append(render.FullArticle(
            summary=summary, body_html=item.body_html, author=item.author,
            tags=[str(tag) for tag in item.tags or []],
            lead=images.ImageSet.from_json(item.lead_image) if item.lead_image else None))
    return found


def published_pages() -> list[render.Page]:
    """The editors' published pages (one Query), in footer order."""
    import json

    return [render.Page(slug=page.sk, title=page.title, description=page.description,
                        body_html=page.body_html, footer=bool(page.footer), footer_label=page.footer_label,
                        updated_on=page.updated_on,
                        contact=json.loads(page.contact) if page.contact else None)
            for page in pages.published()]


def _lead_images() -> dict[str, str]:
    return {item.sk: item.image for item in LeadImageRecord.query(LEADS)}


def _keep_leads(before: dict[str, str], articles: list[render.FullArticle],
                published: set[str]) -> dict[str, str]:
    """The lead images after this build: those of the pages rendered now, the others as
    they were, none of an article no longer published. Written only where they changed."""
    after = {slug: image for slug, image in before.items() if slug in published}
    for article in articles:
        if article.lead is None:
            after.pop(article.summary.slug, None)
        else:
            after[article.summary.slug] = article.lead.to_json()
    if after != before:
        with LeadImageRecord.batch_write() as batch:
            for slug, image in after.items():
                if before.get(slug) != image:
                    batch.save(LeadImageRecord(LEADS, slug, image=image))
            for slug in before.keys() - after.keys():
                batch.delete(LeadImageRecord(LEADS, slug))
    return after


def build_site(
    changed: Iterable[str] = (),
    *,
    full: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    site_url: str | None = None,
    api_url: str | None = None,
) -> BuildReport:
    """Bring the bucket up to date with the articles table and the pages.

    ``changed``: slugs whose page must be rendered again (published or not: an unpublished
    one simply disappears). ``full``: render every article page, and delete the images no
    published article or page shows. ``force``: PUT every object even when the manifest says
    it is unchanged (after someone edited the bucket).
    """
    settings = get_settings()
    site_url = (site_url or settings.site_url).rstrip("/")
    api_url = (api_url or settings.api_url).rstrip("/")
    summaries = published_summaries()
    site_pages = published_pages()
    leads = _lead_images()
    manifest = sync.Manifest.load()
    stored_images = {key for key in manifest.object_keys() if key.startswith(images.PREFIX)}
    renderer = render.Renderer(
        site_url=site_url, api_url=api_url, summaries=summaries, pages=site_pages,
        leads={slug: images.ImageSet.from_json(image) for slug, image in leads.items()},
        known_images=stored_images)
    layout = render.layout_fingerprint(site_url, api_url, renderer.footer if site_pages else None)
    published = {item.slug for item in summaries}
    if full or force or manifest.layout != layout:
        to_render = published
    else:
        missing = {slug for slug in published if article_key(slug) not in manifest.entries}
        to_render = (set(changed) & published) | missing

    problems: list[str] = []
    articles = full_articles(to_render) if to_render else []
    leads = _keep_leads(leads, articles, published)
    renderer.leads = {slug: images.ImageSet.from_json(image) for slug, image in leads.items()}
    objects = renderer.fixed_objects() + renderer.list_objects()
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
    # Images stay too, except on a full render, which has read every published body.
    keep = renderer.expected_keys() | {key for key in manifest.object_keys() if key.startswith("assets/")}
    if full and len(articles) == len(published):
        shown = {key for article in articles for key in images.keys_in(article.body_html)}
        shown |= {key for article in articles if article.lead for key in article.lead.variant_keys()}
        shown |= {key for page in site_pages for key in images.keys_in(page.body_html)}
        keep |= stored_images & shown
    else:
        keep |= stored_images
    report = sync.sync(manifest, objects, keep, layout=layout, force=force, progress=sync_progress)
    return BuildReport(sync=report, rendered_articles=len(articles), problems=problems)
