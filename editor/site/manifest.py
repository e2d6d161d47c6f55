"""The render manifest in the site table: one item per object in the site bucket, with
the digest of what was PUT. One Query reads it whole, so deciding what changed costs no
per-object S3 request, and the ``captcha/`` objects in the same bucket are never listed.
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
