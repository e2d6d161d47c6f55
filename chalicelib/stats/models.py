"""The figures' counters: items in the site table (pk + sk), one per period and shard.

pk ``figures-week`` / ``figures-month`` / ``figures-digest``, sk ``<period>#<shard>``
(``2026-W48#3``, ``2026-11#0``, ``2026-W48#5``); every other attribute is a counter, named
after what it counts and only ever changed with ADD (chalicelib/stats/counting.py). No item
holds anything about a person. docs/operations.md#figures.
"""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib.core.config import get_settings
from chalicelib.core.models import StageTable

WEEK, MONTH, DIGEST = "figures-week", "figures-month", "figures-digest"


class FigureCounter(Model):
    """One shard of one period's counters (attributes: counter name -> number)."""

    class Meta(StageTable):
        table_name = get_settings().site_table

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
