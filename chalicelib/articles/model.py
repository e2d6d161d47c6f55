"""The articles table: one item per article, keyed by slug.

Two sparse indexes serve the public lists with one Query each: an item carries ``feed``
and ``category_feed`` only while it is published, so drafts never appear in them. Both
project just the summary fields, so a list page reads no bodies.
"""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chalicelib.core.config import get_settings
from chalicelib.core.models import StageTable

SUMMARY_FIELDS = ["title", "teaser", "category"]
PUBLISHED_FEED = "published"


class PublishedIndex(GlobalSecondaryIndex["Article"]):
    class Meta:
        index_name = "published-index"
        projection = IncludeProjection(SUMMARY_FIELDS)

    feed = UnicodeAttribute(hash_key=True)
    published_at = UTCDateTimeAttribute(range_key=True)


class CategoryIndex(GlobalSecondaryIndex["Article"]):
    class Meta:
        index_name = "category-index"
        projection = IncludeProjection(SUMMARY_FIELDS)

    # The same sort key as the published index; the hash key is the category.
    published_at = UTCDateTimeAttribute(range_key=True)
    category_feed = UnicodeAttribute(hash_key=True)


class Article(Model):
    """One article, published or draft, keyed by its slug."""

    class Meta(StageTable):
        table_name = get_settings().articles_table

    # The two public lists, one Query each (see the module docstring).
    published_index = PublishedIndex()
    category_index = CategoryIndex()

    slug = UnicodeAttribute(hash_key=True)
    title = UnicodeAttribute()
    teaser = UnicodeAttribute()
    body_md = UnicodeAttribute()
    body_html = UnicodeAttribute()
    category = UnicodeAttribute()
    tags = ListAttribute(of=UnicodeAttribute, default=list)
    author = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # "draft" | "published"
    published_at = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()
    # A hash of the editor's source: publishing unchanged content writes nothing.
    content_hash = UnicodeAttribute()
    # The lead image (front matter ``image``): the editor's ImageSet as JSON, its variants'
    # keys in the site bucket (editor/images.py); the digest mail shows it. None: no image.
    lead_image = UnicodeAttribute(null=True)
    # Index keys, present only while published (see module docstring).
    feed = UnicodeAttribute(null=True)
    category_feed = UnicodeAttribute(null=True)
