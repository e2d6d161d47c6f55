"""The render manifest in the site table: one item per object in the site bucket, with
the digest of what was PUT. One Query reads it whole, so deciding what changed costs no
per-object S3 request, and the ``captcha/`` objects in the same bucket are never listed.

Beside it, per published article, what the build needs of it without reading its body
(``IndexedArticle``: its tags, its text for the search index, the related articles its page
shows), one item (``BuildState``) saying which layout and pages the last complete build had, so
a build with nothing published answers from one GetItem, and that build's snapshot
(``SnapshotPart``), from which the next build starts (docs/site.md#cost-of-a-publish).

Beside it, the lead images of the published articles (``LeadImageRecord``, one item per
article that has one), kept by the build as it renders article pages: the feed shows them,
and the list of summaries it is rendered from (the published index) does not carry them.
"""

from __future__ import annotations

from pynamodb.attributes import BinaryAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.core.config import get_settings
from chalicelib.core.models import StageTable

MANIFEST = "site#manifest"
# The sort key of the item that holds the layout fingerprint (no object key starts with #).
LAYOUT = "#layout"


class RenderedObject(Model):
    """One object of the site bucket and the digest of what was PUT there."""

    class Meta(StageTable):
        table_name = get_settings().site_table

    pk = UnicodeAttribute(hash_key=True)   # always MANIFEST
    sk = UnicodeAttribute(range_key=True)  # the object key, or LAYOUT
    digest = UnicodeAttribute()
    inputs = UnicodeAttribute(null=True)  # a list page's inputs (render.SiteObject.inputs)


LEADS = "site#lead-images"


class LeadImageRecord(Model):
    """The lead image of one published article, as its page last showed it."""

    class Meta(StageTable):
        table_name = get_settings().site_table

    pk = UnicodeAttribute(hash_key=True)   # always LEADS
    sk = UnicodeAttribute(range_key=True)  # the article's slug
    image = UnicodeAttribute()  # editor.images.ImageSet as JSON


ARTICLES = "site#articles"


class IndexedArticle(Model):
    """What the build keeps of one published article as its page is rendered: the tags (tag
    pages, related articles), the text for the search index (zlib, the body as plain text)
    and the slugs of the related articles its page shows (rendered again when they change)."""

    class Meta(StageTable):
        table_name = get_settings().site_table

    pk = UnicodeAttribute(hash_key=True)   # always ARTICLES
    sk = UnicodeAttribute(range_key=True)  # the article's slug
    tags = ListAttribute(of=UnicodeAttribute, default=list)
    text = BinaryAttribute(legacy_encoding=False)
    text_digest = UnicodeAttribute(null=True)  # editor.site.search.text_digest of the text
    related = ListAttribute(of=UnicodeAttribute, default=list)


STATE = "site#state"
DONE = "#done"


class BuildState(Model):
    """The last complete build: a digest of its layout and pages (empty while a build runs).
    A build with changes claims the item (``generation`` + 1, conditionally) when it starts
    and writes its digest when it ends only if no other build claimed it meanwhile: two
    editors publishing at once leave it empty, and the next build reads everything."""

    class Meta(StageTable):
        table_name = get_settings().site_table

    pk = UnicodeAttribute(hash_key=True)   # always STATE
    sk = UnicodeAttribute(range_key=True)  # always DONE
    digest = UnicodeAttribute()
    generation = NumberAttribute(default=0)


SNAPSHOT = "site#snapshot"


class SnapshotPart(Model):
    """One part (at most ``PART_BYTES``) of the last complete build's published set: every
    published article's summary, tags, related articles and text digest, and what the archive
    search index holds (``search.State``), as zlib'd JSON. A
    build after it reads these few items instead of the published index, the per-article
    items and the whole manifest (docs/site.md#cost-of-a-publish)."""

    class Meta(StageTable):
        table_name = get_settings().site_table

    pk = UnicodeAttribute(hash_key=True)   # always SNAPSHOT
    sk = UnicodeAttribute(range_key=True)  # "0000", "0001", …
    data = BinaryAttribute(legacy_encoding=False)
    generation = NumberAttribute()  # the BuildState generation of the build that wrote it


PART_BYTES = 300_000  # DynamoDB's item limit is 400 KB
