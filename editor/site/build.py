"""Rebuild the site after a publish: read the articles and pages, render, sync to the bucket.

With no article changed and the layout and pages as the last complete build left them
(one item, ``site#state``), nothing more is read or written. With changes after such a build,
it starts from that build's snapshot (``manifest.SnapshotPart``: a few items) and reads only
the changed articles and the manifest entries of what it renders. Otherwise reads cost one
Query on the published index (summaries for every list, feed and sitemap), one Query each for the
pages, the feed's lead images, what the build keeps per article (tags, related articles;
``manifest.IndexedArticle``) and the manifest, plus one BatchGetItem per 100 article pages to
render. Only the pages of changed articles (and of those showing one among their related
articles) are rendered again, unless the layout changed (templates, assets, addresses, the
footer) or a page is missing; list pages are rendered when their articles changed (numbered
from the oldest, most never do: docs/site.md#page-numbers), the editors' pages each time, and
everything is PUT only when its bytes changed. The search indexes (``editor.site.search``)
are made from the kept texts, the archive only when it must be (the snapshot says what it
holds).

Images (``billeder/``) are uploaded when an article is published (``editor.images``) and
kept, like superseded assets, by every build; a full ``rebuild`` deletes those that no
published article or page shows any more.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.articles.model import PUBLISHED_FEED, Article
from chalicelib.core.conditions import condition_failed
from chalicelib.core.config import get_settings
from chalicelib.site.pages import article_key
from editor import images, pages
from editor.site import render, search, sync
from editor.site.manifest import (
    ARTICLES,
    DONE,
    LAYOUT,
    LEADS,
    MANIFEST,
    PART_BYTES,
    SNAPSHOT,
    STATE,
    BuildState,
    IndexedArticle,
    LeadImageRecord,
    RenderedObject,
    SnapshotPart,
)

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass
class BuildReport:
    sync: sync.SyncReport
    rendered_articles: int = 0
    problems: list[str] = field(default_factory=list)  # "<slug>: <problem>"
    up_to_date: bool = False  # nothing published since the last complete build: nothing read

    def summary(self) -> str:
        if self.up_to_date:
            return "site: 0 put, 0 deleted (up to date: nothing published since the last build)"
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


def _indexed() -> dict[str, IndexedArticle]:
    """What the build keeps of every article, without the texts (read only when indexed)."""
    return {item.sk: item for item in IndexedArticle.query(
        ARTICLES, attributes_to_get=["pk", "sk", "tags", "related", "text_digest"])}


def _texts(slugs: list[str], known: dict[str, str]) -> dict[str, str]:
    """The search text of ``slugs``: those rendered now from ``known``, the others read."""
    found = {slug: known[slug] for slug in slugs if slug in known}
    missing = [slug for slug in slugs if slug not in found]
    if len(missing) > 500:  # most of the archive: one Query beats many BatchGetItems
        wanted = set(missing)
        items = [item for item in IndexedArticle.query(ARTICLES) if item.sk in wanted]
    else:
        items = list(IndexedArticle.batch_get([(ARTICLES, slug) for slug in missing]))
    found.update({item.sk: search.unpack(item.text) for item in items if item.text})
    return found


def _related(item: IndexedArticle) -> list[str]:
    return [str(slug) for slug in item.related or []]


def _state_digest(layout: str, site_pages: list[render.Page]) -> str:
    """What a build with no article changed depends on: the layout and the pages."""
    return hashlib.sha256(f"{layout}\n{site_pages!r}".encode()).hexdigest()


def _last_state() -> tuple[str | None, int | None]:
    """(the last complete build's digest, the item's generation); (None, None): no item."""
    try:
        item = BuildState.get(STATE, DONE, consistent_read=True)
    except DoesNotExist:
        return None, None
    return str(item.digest) or None, int(item.generation)


def _claim(generation: int | None) -> int | None:
    """Mark a build running (the state item emptied, its generation + 1), unless another
    build did since ``generation`` was read: then None, and this build never marks the
    site trusted (the other may have written what this one did not read)."""
    mine = (generation or 0) + 1
    condition = BuildState.pk.does_not_exist() if generation is None else BuildState.generation == generation
    try:
        BuildState(STATE, DONE, digest="", generation=mine).save(condition=condition)
    except PutError as error:
        if not condition_failed(error):
            raise
        return None
    return mine


def _complete(state: str, mine: int) -> None:
    """Mark the site trusted, if no other build claimed the item since this one did."""
    try:
        BuildState(STATE, DONE, digest=state, generation=mine).save(condition=BuildState.generation == mine)
    except PutError as error:
        if not condition_failed(error):
            raise


def _search_text(article: render.FullArticle) -> str:
    return " ".join([article.summary.teaser, *article.tags, search.plain_text(article.body_html)])


def _keep_indexed(before: dict[str, str], articles: list[render.FullArticle], renderer: render.Renderer,
                  removed: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Write the search text of each rendered article, delete that of the unpublished; return
    (every published article's text digest, from ``before`` and these; the texts of these)."""
    digests = {slug: digest for slug, digest in before.items() if slug not in removed}
    texts: dict[str, str] = {}
    with IndexedArticle.batch_write() as batch:
        for article in articles:
            slug = article.summary.slug
            texts[slug] = _search_text(article)
            digests[slug] = search.text_digest(texts[slug])
            batch.save(IndexedArticle(ARTICLES, slug, tags=list(article.tags), text=search.pack(texts[slug]),
                                      text_digest=digests[slug], related=renderer.related(slug)))
        for slug in removed:
            batch.delete(IndexedArticle(ARTICLES, slug))
    return digests, texts


def search_entries(renderer: render.Renderer, digests: dict[str, str]) -> list[search.Entry]:
    """Every published article as the search index holds it, oldest first."""
    found = []
    for item in reversed(renderer.summaries):
        view = render.summary_view(item)
        found.append(search.Entry(url=f"/{article_key(item.slug)}", title=item.title,
                                  category=view["category"].label, date=view["published_label"],
                                  published=view["published_iso"], digest=digests.get(item.slug, "")))
    return found


@dataclass(frozen=True)
class Kept:
    """What the build keeps of a published article besides its summary."""

    tags: list[str]
    related: list[str]
    digest: str  # of its search text


@dataclass(frozen=True)
class Snapshot:
    """What the last complete build left: the published set, and the archive search index."""

    summaries: list[render.Summary]
    kept: dict[str, Kept]
    searched: search.State | None  # None: a snapshot from before it held the search state


def _load_snapshot(generation: int) -> Snapshot | None:
    """The snapshot of the last complete build, ``generation`` (``manifest.SnapshotPart``),
    or None when its parts are missing or from another build."""
    parts = sorted(SnapshotPart.query(SNAPSHOT), key=lambda part: part.sk)
    if not parts or any(int(part.generation) != generation for part in parts):
        return None
    data = json.loads(zlib.decompress(b"".join(part.data for part in parts)))
    rows, searched = (data, None) if isinstance(data, list) else (data["articles"], data["search"])
    summaries = [render.Summary(slug, title, teaser, category, datetime.fromisoformat(published))
                 for slug, title, teaser, category, published, *_ in rows]
    kept = {row[0]: Kept(tags=row[5], related=row[6], digest=row[7]) for row in rows}
    return Snapshot(summaries, kept, search.State.from_json(searched) if searched else None)


def _save_snapshot(renderer: render.Renderer, digests: dict[str, str], generation: int,
                   searched: search.State) -> None:
    rows = [[item.slug, item.title, item.teaser, item.category, item.published_at.isoformat(),
             renderer.article_tags.get(item.slug, []), renderer.related(item.slug),
             digests.get(item.slug, "")] for item in renderer.summaries]
    data = {"articles": rows, "search": searched.to_json()}
    blob = zlib.compress(json.dumps(data, ensure_ascii=False).encode("utf-8"), 6)
    chunks = [blob[start:start + PART_BYTES] for start in range(0, len(blob), PART_BYTES)] or [b""]
    before = {part.sk for part in SnapshotPart.query(SNAPSHOT, attributes_to_get=["pk", "sk"])}
    with SnapshotPart.batch_write() as batch:
        for number, chunk in enumerate(chunks):
            batch.save(SnapshotPart(SNAPSHOT, f"{number:04d}", data=chunk, generation=generation))
        for sk in before - {f"{number:04d}" for number in range(len(chunks))}:
            batch.delete(SnapshotPart(SNAPSHOT, sk))


def _partial_manifest(keys: Iterable[str], previous: set[str]) -> sync.Manifest:
    """The manifest entries of ``keys`` (BatchGetItem), and the keys the last complete build
    left (``previous``), so the sync deletes what is no longer there without a whole Query."""
    entries = {key: "" for key in previous}
    inputs: dict[str, str] = {}
    wanted = sorted({*keys, LAYOUT})
    for item in RenderedObject.batch_get([(MANIFEST, key) for key in wanted]):
        entries[item.sk] = item.digest
        if item.inputs:
            inputs[item.sk] = item.inputs
    return sync.Manifest(entries, inputs)


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
    one simply disappears). With none, and the layout and pages as the last complete build
    left them, nothing is read but one item and the pages, and nothing is written.
    ``full``: render every article page, and delete the images and superseded search index
    files no page uses. ``force``: PUT every object even when the manifest says it is
    unchanged (after someone edited the bucket).
    """
    settings = get_settings()
    site_url = (site_url or settings.site_url).rstrip("/")
    api_url = (api_url or settings.api_url).rstrip("/")
    changed = set(changed)
    site_pages = published_pages()
    footer = render.footer_view(site_pages) if site_pages else None
    layout = render.layout_fingerprint(site_url, api_url, footer)
    state = _state_digest(layout, site_pages)
    last, generation = _last_state()
    trusted = not full and not force and last == state
    if trusted and not changed:
        return BuildReport(sync=sync.SyncReport(), up_to_date=True)
    # Until this build completes, the next one must not trust the last one's state.
    mine = _claim(generation)
    # The last complete build's snapshot (a few items). With the same layout and pages, start
    # from it instead of reading every summary, every kept article and the whole manifest; in
    # any case it says what the archive search index holds. After a stopped build there is
    # none, and the archive is made again.
    snapshot = _load_snapshot(generation) if last is not None and mine is not None and generation else None
    previous: render.Renderer | None = None
    manifest: sync.Manifest | None = None
    if snapshot is not None and trusted:
        before, kept = snapshot.summaries, snapshot.kept
        fetched = full_articles(changed)
        summaries = [item for item in before if item.slug not in changed]
        summaries += [article.summary for article in fetched]
        kept = {slug: item for slug, item in kept.items() if slug not in changed}
        previous = render.Renderer(site_url=site_url, api_url=api_url, summaries=before, pages=site_pages,
                                   article_tags={slug: item.tags for slug, item in snapshot.kept.items()})
        to_render = {article.summary.slug for article in fetched}
        articles = fetched
        removed = changed - to_render
    else:
        summaries = published_summaries()
        indexed = _indexed()
        kept = {slug: Kept(tags=[str(tag) for tag in item.tags or []], related=_related(item),
                           digest=str(item.text_digest or "")) for slug, item in indexed.items()}
        manifest = sync.Manifest.load()
        published_now = {item.slug for item in summaries}
        if full or force or manifest.layout != layout:
            to_render = published_now
        else:
            missing = {slug for slug in published_now
                       if article_key(slug) not in manifest.entries or slug not in kept}
            to_render = (changed & published_now) | missing
        articles = full_articles(to_render) if to_render else []
        removed = set(kept) - published_now
    leads = _lead_images()
    published = {item.slug for item in summaries}
    relayout = manifest is not None and (full or force or manifest.layout != layout)

    problems: list[str] = []
    article_tags = {slug: item.tags for slug, item in kept.items() if slug in published}
    article_tags.update({article.summary.slug: list(article.tags) for article in articles})
    if manifest is not None:
        stored_images = {key for key in manifest.object_keys() if key.startswith(images.PREFIX)}
        known_inputs = {} if relayout else manifest.inputs
    else:
        assert previous is not None
        # The images the pages rendered now show, as the manifest knows them.
        wanted = {key for article in articles for key in images.keys_in(article.body_html)}
        wanted |= {key for article in articles if article.lead for key in article.lead.variant_keys()}
        stored_images = {key for key, digest in _partial_manifest(wanted, set()).entries.items()
                         if digest and key != LAYOUT}
        known_inputs = previous.list_inputs()
    renderer = render.Renderer(
        site_url=site_url, api_url=api_url, summaries=summaries, pages=site_pages,
        known_images=stored_images, article_tags=article_tags,
        # A list page whose inputs are as the bucket's (the manifest's or the last build's)
        # is not rendered again.
        known_inputs=known_inputs)
    # Pages whose related articles changed (one was edited, unpublished, or newly tagged).
    rendered = {article.summary.slug for article in articles}
    stale = {slug for slug in published - rendered if slug in kept
             and (kept[slug].related != renderer.related(slug) or changed & set(kept[slug].related))}
    if stale:
        articles += full_articles(stale)
    leads = _keep_leads(leads, articles, published)
    renderer.leads = {slug: images.ImageSet.from_json(image) for slug, image in leads.items()}
    objects = renderer.fixed_objects() + renderer.list_objects()
    for number, article in enumerate(articles, start=1):
        obj, found = renderer.article_object(article)
        objects.append(obj)
        problems.extend(f"{article.summary.slug}: {problem}" for problem in found)
        if progress:
            progress("render", number, len(articles))
    digests, texts = _keep_indexed({slug: item.digest for slug, item in kept.items()}, articles, renderer,
                                   removed)
    if progress:
        progress("search", 0, 1)
    chosen = search.plan(search_entries(renderer, digests), snapshot.searched if snapshot else None,
                         full=full or force)
    prefix = len("/" + article_key(""))

    def texts_of(urls: list[str]) -> dict[str, str]:
        found = _texts([url[prefix:] for url in urls], texts)
        return {f"/{article_key(slug)}": text for slug, text in found.items()}

    index = search.index_objects(chosen, texts_of)
    objects += index
    if manifest is None:
        assert previous is not None
        manifest = _partial_manifest([obj.key for obj in objects], previous.expected_keys())

    def sync_progress(done: int, total: int) -> None:
        if progress:
            progress("upload", done, total)

    # Superseded fingerprinted assets stay: pages that browsers and the CDN still hold
    # (max-age, stale-while-revalidate) keep pointing at them. They are a few kB each.
    # So do superseded search index files (a cached pagefind-entry.json names them), and
    # images, except on a full render, which has read every published body.
    keep = renderer.expected_keys() | {obj.key for obj in index}
    keep |= {key for key in manifest.object_keys() if key.startswith("assets/")}
    if not full:
        keep |= {key for key in manifest.object_keys() if key.startswith(search.PREFIXES)}
    if full and len(articles) == len(published):
        shown = {key for article in articles for key in images.keys_in(article.body_html)}
        shown |= {key for article in articles if article.lead for key in article.lead.variant_keys()}
        shown |= {key for page in site_pages for key in images.keys_in(page.body_html)}
        keep |= stored_images & shown
    else:
        keep |= stored_images
    report = sync.sync(manifest, objects, keep, layout=layout, force=force, progress=sync_progress)
    if mine is not None:
        _save_snapshot(renderer, digests, mine, chosen.state(index))
        _complete(state, mine)
    return BuildReport(sync=report, rendered_articles=len(articles), problems=problems)
