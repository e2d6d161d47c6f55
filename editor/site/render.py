"""Render every object of the static site from article and page data: pure, no AWS.

Keys are extensionless and served with their Content-Type (``artikler/<slug>``), so the
addresses stay clean on S3 + CloudFront without a rewrite function; the front page is
``index.html`` (CloudFront's default root object). Pages (``editor.pages``) live at
``/<slug>``; the footer every page shares lists those that ask for it and shows the contact
block of the one that carries it.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from chalicelib.articles import categories
from chalicelib.site import assets
from chalicelib.site.pages import SITE_DESCRIPTION, SITE_NAME, article_key, signup_page
from editor.images import OG_WIDTH, ImageSet

HTML_TYPE = "text/html; charset=utf-8"
# Browsers keep a page a minute, the CDN five; stale copies cover a revalidation or an outage.
HTML_CACHE = "public, max-age=60, s-maxage=300, stale-while-revalidate=60, stale-if-error=86400"
PAGE_SIZE = 10
HOME_SIZE = 6
FEED_SIZE = 20
# Articles per sitemap file (the protocol allows 50,000): a full one never changes again.
SITEMAP_SIZE = 1000
SITEMAP_PAGES = "sitemap-sider.xml"
SITEMAP_ARTICLES = "sitemap-artikler-{}.xml"
MONTHS = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september",
          "oktober", "november", "december")

RELATED_SIZE = 3
TAG_PREFIX = "emne"
SEARCH_KEY = "soeg"

FIXED_KEYS = ("index.html", "artikler", "nyhedsbrev", "404.html", "feed.xml", "sitemap.xml",
              "robots.txt", SEARCH_KEY)


@dataclass(frozen=True)
class SiteObject:
    key: str
    body: bytes
    content_type: str
    cache_control: str
    # A list page's inputs (its articles' summaries, its label, its number), hashed: when the
    # manifest holds the same, the page is not rendered again (Renderer.known_inputs).
    inputs: str | None = None

    @property
    def digest(self) -> str:
        """Changes when anything a visitor would receive changes: bytes or headers."""
        hasher = hashlib.sha256()
        for part in (self.content_type.encode(), self.cache_control.encode(), self.body):
            hasher.update(len(part).to_bytes(8, "big"))
            hasher.update(part)
        return hasher.hexdigest()


@dataclass(frozen=True)
class Summary:
    slug: str
    title: str
    teaser: str
    category: str
    published_at: datetime


@dataclass(frozen=True)
class Tag:
    """A tag as the site shows it: its address (``/emne/<slug>``) and its label."""

    slug: str
    label: str


def tag_slug(tag: str) -> str:
    """The tag's address part, transliterated as an article's (æ→ae, ø→oe, å→aa)."""
    from chalicelib.articles.slugs import slugify

    return slugify(tag)


@dataclass(frozen=True)
class FullArticle:
    summary: Summary
    body_html: str
    author: str | None
    tags: list[str] = field(default_factory=list)
    lead: ImageSet | None = None


@dataclass(frozen=True)
class Page:
    """A page that is not an article (editor/pages.py), as the site shows it."""

    slug: str
    title: str
    description: str
    body_html: str
    footer: bool = False
    footer_label: str | None = None
    updated_on: str | None = None  # ISO date
    contact: dict[str, str] | None = None


def phone_uri(phone: str) -> str:
    """``tel:`` target of a Danish number as written (``24 47 78 18`` → ``+4524477818``)."""
    digits = "".join(char for char in phone if char.isdigit())
    if phone.strip().startswith("+"):
        return f"+{digits}"
    return f"+45{digits}" if len(digits) == 8 else digits


def footer_view(pages: Iterable[Page]) -> dict[str, Any]:
    """What base.html's footer shows: the contact block (of the page that carries one; an
    empty field shows nothing) and the links of the pages that ask for one, in order."""
    listed = list(pages)
    contact = next((page.contact for page in listed if page.contact), None)
    view: dict[str, Any] = {"links": [{"slug": page.slug, "label": page.footer_label or page.title}
                                      for page in listed if page.footer], "contact": None}
    if contact:
        phone = contact.get("phone", "")
        view["contact"] = {**contact, "phone_uri": phone_uri(phone) if phone else "",
                           "address_lines": [line.strip() for line in contact.get("address", "").split(",")
                                             if line.strip()]}
    return view


def danish_date(moment: datetime) -> str:
    local = moment.astimezone(UTC)
    return f"{local.day}. {MONTHS[local.month - 1]} {local.year}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _list_key(base: str, number: int | None) -> str:
    """``base`` itself is the newest page (``None``); ``base/side/N`` the N-th oldest ten."""
    return base if number is None else f"{base}/side/{number}"


def anchored_pages(items: list[Summary]) -> tuple[list[list[Summary]], list[Summary]]:
    """(the complete pages, the newest page) of ``items`` (newest first), numbered from the
    oldest: page 1 holds the oldest ``PAGE_SIZE``, so a complete page never changes when an
    article is added (only when one of its own is edited or unpublished). The newest page
    is the partial one, or the newest complete one when none is partial; each page lists
    newest first."""
    oldest_first = items[::-1]
    chunks = [oldest_first[start:start + PAGE_SIZE][::-1] for start in range(0, len(oldest_first), PAGE_SIZE)]
    complete = [chunk for chunk in chunks if len(chunk) == PAGE_SIZE]
    newest = chunks[-1] if chunks else []
    return complete, newest


def summary_view(item: Summary) -> dict[str, Any]:
    category = categories.by_slug().get(item.category) or categories.Category(
        item.category, item.category.capitalize(), "")
    return {
        "slug": item.slug,
        "title": item.title,
        "teaser": item.teaser,
        "category": category,
        "published_iso": iso(item.published_at),
        "published_label": danish_date(item.published_at),
        "published_rfc822": format_datetime(item.published_at.astimezone(UTC), usegmt=True),
    }


def _feed_item(item: Summary) -> dict[str, Any]:
    """A feed entry. RSS's ``<description>`` is HTML, which the template's autoescape then
    escapes as XML; the teaser is plain text, so it is escaped as HTML first, and a feed
    reader shows ``<img …>`` or ``a < b`` as the text it is. The title is text in RSS and
    is escaped once, as XML."""
    return {**summary_view(item), "teaser_html": html.escape(item.teaser)}


def _shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


_IMG = re.compile(r"<picture>(?:(?!</picture>).)*</picture>|<img\b[^>]*>", re.DOTALL)
_ATTR = re.compile(r'\b(src|alt)="([^"]*)"')


def check_images(body_html: str, site_url: str, known_keys: set[str]) -> tuple[str, list[str]]:
    """Replace images that would not load with their alt text, and say which.

    nh3 has already normalised the HTML (double-quoted, escaped attributes), and a
    ``<picture>`` is the editor's own (editor/images.py), so a regular expression over the
    body is exact. External https images are the author's choice; anything else must be an
    object of this site, and a picture every one of whose variants is.
    """
    from editor.images import keys_in

    problems: list[str] = []

    def replace(match: re.Match[str]) -> str:
        attrs = dict(_ATTR.findall(match.group(0)))
        src = attrs.get("src", "")
        if src.startswith(("https://", "http://")) and not src.startswith(site_url + "/"):
            return match.group(0)
        if src.startswith(site_url + "/") and src[len(site_url) + 1:] in known_keys \
                and keys_in(match.group(0)) <= known_keys:
            return match.group(0)
        problems.append(f"image {src!r} not found; shown as its alt text" if src
                        else "an image without a source; shown as its alt text")
        alt = attrs.get("alt") or "billede mangler"
        return f'<span class="image-missing">[Billede: {alt}]</span>'

    return _IMG.sub(replace, body_html), problems


# A list page: key, base, number (None: the newest), newest complete number, items, label,
# intro, feed address, section, inputs.
ListSpec = tuple[str, str, int | None, int, list[Summary], str, str, str | None, str, str]


@dataclass
class Renderer:
    """Renders the site for one list of published summaries (newest first), the published
    pages (in footer order) and the lead images the feed shows (slug → image)."""

    site_url: str
    api_url: str
    summaries: list[Summary]
    pages: list[Page] = field(default_factory=list)
    leads: dict[str, ImageSet] = field(default_factory=dict)
    # Image keys in the bucket: an article's picture pointing elsewhere is reported.
    known_images: set[str] = field(default_factory=set)
    # A preview (editor/preview.py): every page says noindex.
    preview: bool = False
    # Every published article's tags (slug → tags as written): tag pages, related articles.
    article_tags: dict[str, list[str]] = field(default_factory=dict)
    # key → the inputs of the list page the bucket holds (from the manifest; empty when the
    # layout changed): a list page with the same inputs is skipped, not rendered again.
    known_inputs: dict[str, str] = field(default_factory=dict)
    skipped: int = 0
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.summaries = sorted(self.summaries, key=lambda s: (s.published_at, s.slug), reverse=True)
        self.footer = footer_view(self.pages)

    # -- what exists -------------------------------------------------------------------------

    def article_keys(self) -> set[str]:
        return {article_key(item.slug) for item in self.summaries}

    def expected_keys(self) -> set[str]:
        """Every key the site consists of now: whatever else is published gets deleted."""
        if self._memo.get("expected") is None:  # asked once per article page: made once
            self._memo["expected"] = self._expected_keys()
        found: set[str] = self._memo["expected"]
        return found

    def _expected_keys(self) -> set[str]:
        return ({obj.key for obj in self.asset_objects()} | set(self._list_pages())
                | set(FIXED_KEYS) | self.article_keys() | {page.slug for page in self.pages}
                | {f"{TAG_PREFIX}/{slug}/feed.xml" for slug in self.tags()} | set(self._sitemap_keys()))

    def related(self, slug: str, tags: Iterable[str] | None = None) -> list[str]:
        """At most ``RELATED_SIZE`` articles published before this one, newest first: those
        sharing a tag, then those of the same category. Only older ones, so publishing a new
        article never changes the pages of the old ones (the site stays cheap to update)."""
        if tags is None:
            # Asked for every article twice a build (which pages went stale, the snapshot): made once.
            memo: dict[str, list[str]] = self._memo.setdefault("related", {})
            if slug not in memo:
                memo[slug] = self._related(slug, None)
            return list(memo[slug])
        return self._related(slug, tags)

    def _related(self, slug: str, tags: Iterable[str] | None) -> list[str]:
        position, tag_slugs = self._lookup()
        at = position.get(slug)
        if at is None:
            return []
        own = self.summaries[at]
        mine = (tag_slugs.get(slug, frozenset()) if tags is None
                else frozenset(tag_slug(tag) for tag in tags) - {""})
        sharing: list[str] = []
        same: list[str] = []
        for item in self.summaries[at + 1:]:  # newest first, so these are the older ones
            if mine & tag_slugs.get(item.slug, frozenset()):
                sharing.append(item.slug)
                if len(sharing) == RELATED_SIZE:
                    break
            elif item.category == own.category and len(same) < RELATED_SIZE:
                same.append(item.slug)
                if not mine and len(same) == RELATED_SIZE:
                    break  # no tags: nothing older can share one, and the category's three are found
        return (sharing + same)[:RELATED_SIZE]

    def _lookup(self) -> tuple[dict[str, int], dict[str, frozenset[str]]]:
        """(slug → position in ``summaries``, slug → its tags' slugs), made once."""
        if self._memo.get("lookup") is None:
            self._memo["lookup"] = (
                {item.slug: number for number, item in enumerate(self.summaries)},
                {slug: frozenset(tag_slug(tag) for tag in tags) - {""}
                 for slug, tags in self.article_tags.items()})
        found: tuple[dict[str, int], dict[str, frozenset[str]]] = self._memo["lookup"]
        return found

    # -- rendering ---------------------------------------------------------------------------

    def _render(self, template: str, **context: Any) -> bytes:
        from chalicelib.core import templating

        text = templating.render(template, site_url=self.site_url, api_url=self.api_url,
                                 footer=self.footer, preview=self.preview, **context)
        return (text.rstrip("\n") + "\n").encode("utf-8")  # Jinja drops the final newline

    def _html(self, key: str, template: str, **context: Any) -> SiteObject:
        return SiteObject(key, self._render(template, **context), HTML_TYPE, HTML_CACHE)

    def _page(self, title: str, description: str, path: str, heading: str = "") -> dict[str, str]:
        return {"title": title, "description": _shorten(description), "heading": heading or title,
                "canonical": f"{self.site_url}{path}"}

    def asset_objects(self) -> list[SiteObject]:
        return [SiteObject(a.key, a.body, a.content_type, assets.IMMUTABLE)
                for a in assets.all_assets().values()]

    def tags(self) -> dict[str, tuple[Tag, list[Summary]]]:
        """Every tag in use (by slug): its label (as the newest article spells it) and its
        articles, newest first."""
        if self._memo.get("tags") is not None:
            memo: dict[str, tuple[Tag, list[Summary]]] = self._memo["tags"]
            return memo
        found: dict[str, tuple[Tag, list[Summary]]] = {}
        for item in self.summaries:
            seen: set[str] = set()
            for text in self.article_tags.get(item.slug, ()):
                slug = tag_slug(text)
                if not slug or slug in seen:
                    continue
                seen.add(slug)
                if slug not in found:
                    found[slug] = (Tag(slug, text.strip()), [])
                found[slug][1].append(item)
        self._memo["tags"] = found
        return found

    def _groups(self) -> list[tuple[str, list[Summary]]]:
        groups: list[tuple[str, list[Summary]]] = [("artikler", self.summaries)]
        for category in categories.all_categories():
            groups.append((f"kategori/{category.slug}",
                           [s for s in self.summaries if s.category == category.slug]))
        groups += [(f"{TAG_PREFIX}/{slug}", items) for slug, (_, items) in self.tags().items()]
        return groups

    def _list_pages(self) -> dict[str, tuple[str, int | None, int, list[Summary]]]:
        """key → (base, page number or None for the newest, the newest complete page's number,
        items) for /artikler, every category and every tag."""
        pages: dict[str, tuple[str, int | None, int, list[Summary]]] = {}
        for base, items in self._groups():
            complete, newest = anchored_pages(items)
            pages[_list_key(base, None)] = (base, None, len(complete), newest)
            for number, chunk in enumerate(complete, start=1):
                pages[_list_key(base, number)] = (base, number, len(complete), chunk)
        return pages

    def _list_specs(self) -> list[ListSpec]:
        """(key, base, number, newest complete number, items, label, intro, feed, section,
        inputs) of every list page; ``inputs`` hashes all the page shows."""
        by_category = categories.by_slug()
        tags = self.tags()
        specs: list[ListSpec] = []
        for key, (base, number, complete, items) in self._list_pages().items():
            section = base.removeprefix("kategori/")
            feed = None
            if base == "artikler":
                label, intro = "Alle artikler", "Alle artikler fra Center for Borgerdialog, nyeste først."
            elif base.startswith(f"{TAG_PREFIX}/"):
                tag = tags[base.removeprefix(f"{TAG_PREFIX}/")][0]
                label, intro = f"Emne: {tag.label}", f"Artikler med emneordet »{tag.label}«, nyeste først."
                feed = f"{self.site_url}/{base}/feed.xml"
                section = ""
            else:
                category = by_category[base.removeprefix("kategori/")]
                label, intro = category.label, category.description
            shown = [(s.slug, s.title, s.teaser, s.category, iso(s.published_at)) for s in items]
            inputs = hashlib.sha256(repr((key, label, intro, complete if number is None else 0, shown))
                                    .encode()).hexdigest()
            specs.append((key, base, number, complete, items, label, intro, feed, section, inputs))
        return specs

    def list_inputs(self) -> dict[str, str]:
        """key → inputs of every list page, without rendering one."""
        return {spec[0]: spec[-1] for spec in self._list_specs()}

    def list_objects(self) -> list[SiteObject]:
        """Home, article lists, category pages, feed and sitemap: all that lists articles."""
        objects = [self._html(
            "index.html", "site/home.html",
            page=self._page(SITE_NAME, SITE_DESCRIPTION, "/", heading=SITE_NAME),
            items=[summary_view(s) for s in self.summaries[:HOME_SIZE]],
        )]
        tags = self.tags()
        for key, base, number, complete, items, label, intro, feed, section, inputs in self._list_specs():
            if self.known_inputs.get(key) == inputs:
                self.skipped += 1  # as the bucket holds it: at 5,000 articles, most pages
                continue
            suffix = f" (side {number})" if number is not None else ""
            # Links only to pages that never change their address's content: an older complete
            # page, and the newest page. A complete page has no "newer" link to the next
            # complete one, which does not exist yet when it is written.
            older = (number or complete + 1) - 1
            if number is None and items and len(items) == PAGE_SIZE and complete:
                older = complete - 1  # the newest page is the newest complete one
            pager = {
                "number": number,
                "newest": f"{self.site_url}/{base}" if number is not None else None,
                "older": f"{self.site_url}/{_list_key(base, older)}" if older >= 1 else None,
            }
            page = self._html(
                key, "site/list.html",
                page=self._page(f"{label}{suffix} – {SITE_NAME}", intro, f"/{key}", heading=label + suffix),
                intro=intro, items=[summary_view(s) for s in items], pager=pager, feed=feed,
                section=section,
            )
            objects.append(replace(page, inputs=inputs))
        for slug, (tag, items) in tags.items():
            objects.append(self._feed_object(
                f"{TAG_PREFIX}/{slug}/feed.xml", items,
                channel={"title": f"{SITE_NAME}: {tag.label}", "link": f"{self.site_url}/{TAG_PREFIX}/{slug}",
                         "description": f"Nye artikler med emneordet »{tag.label}«."}))
        objects.append(self._feed_object("feed.xml", self.summaries, channel={
            "title": SITE_NAME, "link": f"{self.site_url}/", "description": SITE_DESCRIPTION}))
        return objects + self.sitemap_objects()

    def _sitemap_chunks(self) -> list[list[Summary]]:
        """The articles of the complete ``/artikler`` pages, oldest first, ``SITEMAP_SIZE`` a file."""
        complete, _ = anchored_pages(self.summaries)
        listed = [item for page in complete for item in page[::-1]]
        return [listed[start:start + SITEMAP_SIZE] for start in range(0, len(listed), SITEMAP_SIZE)]

    def _sitemap_keys(self) -> list[str]:
        return [SITEMAP_PAGES, *(SITEMAP_ARTICLES.format(number)
                                 for number in range(1, len(self._sitemap_chunks()) + 1))]

    def sitemap_objects(self) -> list[SiteObject]:
        """``sitemap.xml``, an index of ``sitemap-sider.xml`` (the pages that list, the editors'
        pages) and ``sitemap-artikler-N.xml`` (the articles of the complete ``/artikler``
        pages, anchored at the oldest like them). So a new article changes no sitemap file
        until its archive page has ten; until then the feed, which robots.txt names as a
        sitemap too, lists it (docs/site.md#sitemaps)."""
        xml = "application/xml; charset=utf-8"
        # No lastmod on the home page: it would change the file with every article.
        entries = [{"loc": f"{self.site_url}/", "lastmod": ""}]
        entries += [{"loc": f"{self.site_url}/{key}", "lastmod": ""}
                    for key in ("artikler", "nyhedsbrev", *(page.slug for page in self.pages))]
        entries += [{"loc": f"{self.site_url}/kategori/{c.slug}", "lastmod": ""}
                    for c in categories.all_categories()]
        entries += [{"loc": f"{self.site_url}/{TAG_PREFIX}/{slug}", "lastmod": ""}
                    for slug in sorted(self.tags())]
        objects = [SiteObject(SITEMAP_PAGES, self._render("site/sitemap.xml", entries=entries), xml,
                              HTML_CACHE)]
        for number, chunk in enumerate(self._sitemap_chunks(), start=1):
            entries = [{"loc": f"{self.site_url}/{article_key(s.slug)}", "lastmod": iso(s.published_at)}
                       for s in chunk]
            objects.append(SiteObject(SITEMAP_ARTICLES.format(number),
                                      self._render("site/sitemap.xml", entries=entries), xml, HTML_CACHE))
        index = self._render("site/sitemap_index.xml",
                             sitemaps=[f"{self.site_url}/{obj.key}" for obj in objects])
        return [SiteObject("sitemap.xml", index, xml, HTML_CACHE), *objects]

    def _feed_object(self, key: str, items: list[Summary], *, channel: dict[str, str]) -> SiteObject:
        """An RSS 2.0 feed of the newest ``FEED_SIZE`` of ``items`` (newest first)."""
        newest = items[0].published_at if items else None
        return SiteObject(
            key,
            self._render("site/feed.xml", items=[self._feed_entry(s) for s in items[:FEED_SIZE]],
                         last_build=format_datetime(newest, usegmt=True) if newest else "",
                         channel={**channel, "self": f"{self.site_url}/{key}"}),
            "application/rss+xml; charset=utf-8", HTML_CACHE,
        )

    def _feed_entry(self, item: Summary) -> dict[str, Any]:
        entry = {**_feed_item(item), "image": None}
        lead = self.leads.get(item.slug)
        if lead is not None:
            picture = lead.nearest(OG_WIDTH)
            entry["image"] = {"url": f"{self.site_url}/{picture.key}", "type": picture.content_type,
                              "width": picture.width, "height": picture.height, "alt": lead.alt}
        return entry

    def page_object(self, page: Page) -> SiteObject:
        updated = None
        if page.updated_on:
            from datetime import date

            updated = {"iso": page.updated_on, "label": danish_date(
                datetime.combine(date.fromisoformat(page.updated_on), datetime.min.time(), tzinfo=UTC))}
        return self._html(page.slug, "site/page.html",
                          page=self._page(f"{page.title} – {SITE_NAME}", page.description, f"/{page.slug}",
                                          heading=page.title),
                          content={"body_html": page.body_html, "contact": self.footer["contact"]
                                   if page.contact else None, "updated": updated},
                          section=page.slug)

    def fixed_objects(self) -> list[SiteObject]:
        """Pages that list no articles: signup, the editors' pages, search, 404, robots.txt, the assets."""
        return [
            *self.asset_objects(),
            self._html(SEARCH_KEY, "site/search.html",
                       page=self._page(f"Søg – {SITE_NAME}", "Søg i artiklerne fra Center for Borgerdialog.",
                                       f"/{SEARCH_KEY}", heading="Søg i artiklerne"),
                       section=SEARCH_KEY),
            SiteObject("nyhedsbrev",
                       signup_page(self.site_url, self.api_url, footer=self.footer).encode("utf-8"),
                       HTML_TYPE, HTML_CACHE),
            *(self.page_object(page) for page in self.pages),
            self._html("404.html", "site/404.html",
                       page=self._page(f"Siden findes ikke – {SITE_NAME}",
                                       "Siden findes ikke.", "/404.html")),
            SiteObject("robots.txt", self._render("site/robots.txt"), "text/plain; charset=utf-8",
                       HTML_CACHE),
        ]

    def article_object(self, article: FullArticle) -> tuple[SiteObject, list[str]]:
        """The article's page and the problems found in it (each a sentence)."""
        summary = article.summary
        body, problems = check_images(article.body_html, self.site_url,
                                      self.expected_keys() | self.known_images)
        if not body.strip():
            problems.append("the body is empty after sanitising; the page says so")
        position = self._lookup()[0]
        tags = [Tag(tag_slug(tag), tag.strip()) for tag in article.tags]
        view = {**summary_view(summary), "body_html": body, "author": article.author,
                "tags": [tag for tag in tags if tag.slug], "hero": None, "og_image": None,
                "related": [summary_view(self.summaries[position[slug]])
                            for slug in self.related(summary.slug, article.tags)]}
        if article.lead is not None:
            missing = [key for key in article.lead.variant_keys() if key not in self.known_images]
            if missing:
                problems.append(f"lead image {missing[0]!r} not found; the page has none")
            else:
                og = article.lead.nearest(OG_WIDTH)
                view["hero"] = article.lead.picture(self.site_url, lazy=False, hero=True)
                view["og_image"] = {"url": f"{self.site_url}/{og.key}", "width": og.width,
                                    "height": og.height, "type": og.content_type, "alt": article.lead.alt}
        obj = self._html(
            article_key(summary.slug), "site/article.html",
            page=self._page(f"{summary.title} – {SITE_NAME}", summary.teaser,
                            f"/{article_key(summary.slug)}"),
            article=view, section=summary.category,
        )
        return obj, problems


def layout_fingerprint(site_url: str, api_url: str, footer: dict[str, Any] | None = None) -> str:
    """Changes when anything every page shares changes (templates, assets, addresses, the
    footer's links and contact block), so the next publish re-renders every article page
    instead of only the changed ones."""
    import json
    from pathlib import Path

    hasher = hashlib.sha256(f"{site_url}\n{api_url}\n".encode())
    if footer is not None:  # no footer: the fingerprint of a site without pages, as before
        hasher.update(json.dumps(footer, sort_keys=True).encode())
    from chalicelib.core.resources import DATA, PACKAGE, STATIC, TEMPLATES

    files: Iterable[Path] = sorted([*TEMPLATES.rglob("*"), *STATIC.rglob("*"),
                                    DATA / "categories.json", DATA / "consent.json",
                                    PACKAGE / "site" / "pages.py", Path(__file__),
                                    Path(__file__).parent.parent / "images.py"])
    for path in files:
        if path.is_file():
            hasher.update(path.name.encode())
            hasher.update(path.read_bytes())
    return hasher.hexdigest()
