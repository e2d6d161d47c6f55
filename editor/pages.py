"""Pages that are not articles (about and contact, privacy policy, accessibility statement,
whatever the centre adds): Markdown files in a ``sider/`` folder, with their own front matter.

    ---
    title: Privatlivspolitik                  # required: the heading and the page's title
    description: Hvilke oplysninger …         # required: the search result's text
    slug: privatlivspolitik                   # optional; default: from the file name → /privatlivspolitik
    footer: true                              # optional: linked in every page's footer
    footer_label: Privatliv                   # optional; default: the title
    order: 2                                  # optional: the footer's order (default 100)
    updated: 2026-12-01                       # optional: shown as "Senest opdateret"
    status: published                         # published (default) | draft
    review: Gennemlæses af centret …          # optional: a note for the centre, never shown
    contact:                                  # optional, on one page: the contact block
      name: Center for Borgerdialog
      phone: 24 47 78 18
      address:                                # empty: a placeholder, nothing is shown
      email:
    ---

A page is an item in the site table (``pk = page``, ``sk`` = its slug), written like an
article with a conditional put (over nothing, or over the version read), and rendered by the
site build with the same layout as every page. The page that carries ``contact`` gives the
footer its contact block; a field left empty there is a placeholder, shown as nothing and
named when the page is published. ``review`` notes stay in the file and are printed when the
page is published, so a text written for the centre to check is not forgotten.
See docs/editing.md#pages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.models import Model

from chalicelib.articles import slugs
from chalicelib.core.clock import Clock, utcnow
from chalicelib.core.conditions import condition_failed
from chalicelib.core.config import get_settings
from chalicelib.core.models import StageTable
from editor import content

PAGE_PK = "page"
FIELDS = {"title", "slug", "description", "footer", "footer_label", "order", "updated", "status", "review",
          "contact"}
CONTACT_FIELDS = ("name", "phone", "address", "email")
MAX_DESCRIPTION = 300
DEFAULT_ORDER = 100
# Addresses the site already uses: a page there would hide them or be hidden.
RESERVED = frozenset({"artikler", "kategori", "nyhedsbrev", "side", "assets", "billeder", "captcha", "api",
                      "preview", "index", "404", "feed", "sitemap", "robots"})


class PageRecord(Model):
    """One published (or draft) page, keyed by its slug, in the site table."""

    class Meta(StageTable):
        table_name = get_settings().site_table

    pk = UnicodeAttribute(hash_key=True, default=PAGE_PK)
    sk = UnicodeAttribute(range_key=True)  # the slug
    title = UnicodeAttribute()
    description = UnicodeAttribute()
    body_md = UnicodeAttribute()
    body_html = UnicodeAttribute()
    footer = BooleanAttribute(default=False)
    footer_label = UnicodeAttribute(null=True)
    order = NumberAttribute(default=DEFAULT_ORDER)
    updated_on = UnicodeAttribute(null=True)  # ISO date
    status = UnicodeAttribute()
    contact = UnicodeAttribute(null=True)  # JSON: {"name", "phone", "address", "email"}
    content_hash = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute()


@dataclass(frozen=True)
class PageSource:
    path: Path
    slug: str
    title: str
    description: str
    footer: bool
    footer_label: str | None
    order: int
    updated_on: str | None
    status: str
    review: str | None
    contact: dict[str, str] | None
    body_md: str
    body_html: str
    content_hash: str
    images: list[content.ImageRef] = field(default_factory=list)

    def all_images(self) -> list[content.ImageRef]:
        return list(self.images)

    def notes(self) -> list[str]:
        """What the centre must still do with this page: placeholders, review notes."""
        contact = self.contact or {}
        found = [f"{self.path}: contact.{name} is a placeholder (empty): nothing is shown until it "
                 "is filled in" for name in CONTACT_FIELDS if name in contact and not contact[name]]
        if self.review:
            found.append(f"{self.path}: review: {self.review}")
        return found


ContentError = content.ContentError


def _date(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ContentError(f"{name}: 'updated' must be a date like 2026-12-01")


def _contact(value: Any, name: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ContentError(f"{name}: 'contact' must be the lines {', '.join(CONTACT_FIELDS)}")
    unknown = sorted(str(key) for key in value if key not in CONTACT_FIELDS)
    if unknown:
        raise ContentError(f"{name}: unknown contact field(s) {', '.join(unknown)}; "
                           f"known are {', '.join(CONTACT_FIELDS)}")
    found: dict[str, str] = {}
    for key in CONTACT_FIELDS:
        item = value.get(key)
        if item is not None and not isinstance(item, (str, int)):
            raise ContentError(f"{name}: 'contact.{key}' must be a text")
        found[key] = " ".join(str(item).split()) if item is not None else ""
    if not found["name"]:
        raise ContentError(f"{name}: 'contact.name' is required (the name shown above the address)")
    if found["email"] and ("@" not in found["email"] or " " in found["email"]):
        raise ContentError(f"{name}: 'contact.email' {found['email']!r} is not a mail address")
    return found


def parse(path: Path) -> PageSource:
    """Read and validate one page file. Raises ContentError naming the file."""
    name = str(path)
    meta, _, body, body_line = content.read_front_matter(path, FIELDS)
    missing = [key for key in ("title", "description") if key not in meta]
    if missing:
        raise ContentError(f"{name}: missing front matter field(s) {', '.join(missing)}")
    title = content._text(meta, "title", name, content.MAX_TITLE)
    description = content._text(meta, "description", name, MAX_DESCRIPTION)
    slug = meta.get("slug") or slugs.slugify(path.stem)
    if not isinstance(slug, str) or not slugs.is_slug(slug):
        raise ContentError(f"{name}: slug {slug!r} must be lower-case a-z, 0-9 and hyphens")
    if slug in RESERVED:
        raise ContentError(f"{name}: the address /{slug} belongs to the site; choose another slug")
    footer = meta.get("footer", False)
    if not isinstance(footer, bool):
        raise ContentError(f"{name}: 'footer' must be true or false")
    label = meta.get("footer_label")
    if label is not None:
        label = content._text(meta, "footer_label", name, 60)
    order = meta.get("order", DEFAULT_ORDER)
    if not isinstance(order, int) or isinstance(order, bool):
        raise ContentError(f"{name}: 'order' must be a whole number")
    status = meta.get("status", "published")
    if status not in content.STATUSES:
        raise ContentError(f"{name}: status {status!r} must be 'published' or 'draft'")
    review = meta.get("review")
    if review is not None and not isinstance(review, str):
        raise ContentError(f"{name}: 'review' must be a text")
    if not body.strip():
        raise ContentError(f"{name}: the page has no body below the front matter")
    body_html = content.render_markdown(body)
    refs = content.body_images(path, body, body_line, body_html)
    return PageSource(
        path=path, slug=slug, title=title, description=description, footer=footer, footer_label=label,
        order=order, updated_on=_date(meta.get("updated"), name), status=status,
        review=" ".join(review.split()) if review else None, contact=_contact(meta.get("contact"), name),
        body_md=body.strip() + "\n", body_html=body_html,
        content_hash=content.fingerprint(meta, body, refs), images=refs,
    )


@dataclass
class PagesReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[str]:
        return self.created + self.updated


def publish_sources(sources: list[PageSource], body_html: dict[str, str], report: PagesReport,
                    rejected: list[str], now: Clock = utcnow) -> None:
    """Write each page over nothing or over the version read (``body_html``: slug → the
    body with its pictures)."""
    for source in sources:
        try:
            existing: PageRecord | None = PageRecord.get(PAGE_PK, source.slug, consistent_read=True)
        except DoesNotExist:
            existing = None
        if existing is not None and existing.content_hash == source.content_hash:
            report.unchanged.append(source.slug)
            continue
        item = PageRecord(
            PAGE_PK, source.slug, title=source.title, description=source.description,
            body_md=source.body_md, body_html=body_html[source.slug], footer=source.footer,
            footer_label=source.footer_label, order=source.order, updated_on=source.updated_on,
            status=source.status,
            contact=json.dumps(source.contact, ensure_ascii=False) if source.contact else None,
            content_hash=source.content_hash, updated_at=now(),
        )
        condition = (PageRecord.sk.does_not_exist() if existing is None
                     else PageRecord.content_hash == existing.content_hash)
        try:
            item.save(condition=condition)
        except PutError as error:
            if not condition_failed(error):
                raise
            rejected.append(f"{source.path}: the page '{source.slug}' was changed by someone else while "
                            "publishing; run publish again")
            continue
        (report.created if existing is None else report.updated).append(source.slug)
        report.notes.extend(source.notes())


def published() -> list[PageRecord]:
    """Every published page (one Query), in footer order."""
    found = [page for page in PageRecord.query(PAGE_PK) if page.status == "published"]
    return sorted(found, key=lambda page: (int(page.order), page.title, page.sk))
