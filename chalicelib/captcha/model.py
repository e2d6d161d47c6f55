"""The challenges table: one item per CAPTCHA challenge, keyed by ``captcha_id``.

The answer is never stored, only ``answer_mac`` = HMAC(captcha key, id ‖ answer), so a
leaked table (or log of items) solves nothing. ``expires_at`` is what the code checks;
``expires_ttl`` only lets DynamoDB's TTL delete old items, which may happen days late.

A challenge from ``POST /captcha`` names the proof-of-work puzzle issued with it (``work``)
and records when a solution of it was spent (``work_spent_at``): one solution, one try at the
answer (chalicelib/captcha/work.py, docs/captcha.md#proof-of-work). The no-JavaScript page's
challenges have neither.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from chalicelib.core.config import get_settings
from chalicelib.core.models import StageTable


class ChallengeItem(Model):
    """One CAPTCHA challenge: the answer's MAC, its tries and whether it was solved."""

    class Meta(StageTable):
        table_name = get_settings().challenges_table

    captcha_id = UnicodeAttribute(hash_key=True)
    answer_mac = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    wrong_answers = NumberAttribute(default=0)
    # Set by the one consume that succeeds; its presence refuses every later one.
    solved_at = UTCDateTimeAttribute(null=True)
    # A random id of that consume: only it may give the challenge back (captcha.give_back),
    # so a late or repeated give-back never undoes a later consume.
    solved_by = UnicodeAttribute(null=True)
    # Set by a give-back for a subject (a subscriber id): from then on only that subject's
    # retry may solve it.
    reserved_for = UnicodeAttribute(null=True)
    # The challenge (hex SHA-256) of the proof-of-work puzzle issued with it; absent for the
    # no-JavaScript page's challenges, which take no proof of work.
    work = UnicodeAttribute(null=True)
    # Set by the first consume that brings a valid solution, right or wrong answer: a
    # solution buys one try. A give-back clears it with solved_at.
    work_spent_at = UTCDateTimeAttribute(null=True)
    expires_ttl = NumberAttribute()  # epoch seconds; DynamoDB TTL cleans up
