"""The render manifest in the site table: one item per object in the site bucket, with
the digest of what was PUT. One Query reads it whole, so deciding what changed costs no
per-object S3 request, and the ``captcha/`` objects in the same bucket are never listed.

Beside it, the lead images of the published articles (``LeadImageRecord``, one item per
article that has one), kept by the build as it renders article pages: the feed shows them,
and the list of summaries it is rendered from (the published index) does not carry them.
"""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
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


LEADS = "site#lead-images"


class LeadImageRecord(Model):
    """The lead image of one published article, as its page last showed it."""

    class Meta(StageTable):
        table_name = get_settings().site_table

    pk = UnicodeAttribute(hash_key=True)   # always LEADS
    sk = UnicodeAttribute(range_key=True)  # the article's slug
    image = UnicodeAttribute()  # editor.images.ImageSet as JSON
