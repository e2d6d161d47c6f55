"""The weekly digest, scheduled side: which digest this is, what it covers, who gets it.

A run (``DigestPlanner.run``) does, in order:

1. names the digest after the ISO week (``2026-W48``, ``digest.weeks``), so every run in
   one week is the same digest, however often the schedule fires;
2. finds the articles published since the last digest that went out (``DigestMarker``);
   none → the run is recorded and nothing else happens;
3. creates the ``Digest`` record with a conditional put: only one run per week does, and
   it fixes the article list every worker and every retry renders from;
4. pages through ``digest-index`` (sparse: confirmed subscribers only; a Query, never a
   Scan) and puts the subscribers on the queue in batches (``digest.messages``), saving
   the page cursor after each page, so a run that stops before its Lambda times out is
   resumed by the next one.

Monthly subscribers (their ``frequency``, newsletter.preferences) are their own partition of
``digest-index``: the first run of each month also makes that month's digest (``2026-12``,
``digest.weeks.month_id_for``) with everything since the last monthly digest (its own
marker), and fans out only that partition, the same way. So neither digest reads a subscriber
of the other (no extra read per subscriber), and the deliveries' claim is per digest id, so
nobody gets two digests for one week or one month. The monthly run is recorded when it
enqueued anyone (``DigestRun`` with the month's id).

Sending is ``digest.worker``'s job. No Chalice here. See docs/digest.md.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.articles.model import PUBLISHED_FEED, Article
from chalicelib.core.clock import Clock, utcnow
from chalicelib.core.conditions import condition_failed
from chalicelib.core.config import get_settings
from chalicelib.digest import mail as digest_mail
from chalicelib.digest.messages import SUBSCRIBERS_PER_MESSAGE, QueuedSubscriber, encode_batch
from chalicelib.digest.models import (
    DIGEST_PK,
    ENQUEUED,
    FANNING_OUT,
    MARKER_PK,
    MARKER_SK,
    RUN_PK,
    ArticleSummary,
    Digest,
    DigestImage,
    DigestMarker,
    DigestRun,
)
from chalicelib.digest.queue import Queue
from chalicelib.digest.weeks import digest_id_for, month_id_for
from chalicelib.newsletter.models import DIGEST_PARTITION, MONTHLY_PARTITION, Subscriber
from chalicelib.site.images import ImageSet

log = logging.getLogger(__name__)

FIRST_DIGEST_LOOKBACK = timedelta(days=7)  # the very first digest covers one week back
FIRST_MONTHLY_LOOKBACK = timedelta(days=31)  # and the very first monthly one, a month
MONTHLY_MARKER_SK = "last-monthly"  # the monthly digests' own marker (DigestMarker)
MAX_ARTICLES = 50  # a digest is a summary; more than this means something else went wrong
PAGE_SIZE = 500  # subscribers per Query page (and per cursor save)
# Stop fanning out when less than this is left of the Lambda's time: one more page of
# Query + SendMessageBatch calls fits with room to spare. A function with a short timeout
# (Chalice's test client gives 3 s) keeps a third of it instead.
FANOUT_MARGIN_MS = 20_000
LEASE = timedelta(minutes=15)  # at most a Lambda's lifetime
# A mail column is 552 px; twice that for sharp pictures on dense screens.
MAIL_IMAGE_SOURCE_WIDTH = 960


@dataclass(frozen=True)
class RunResult:
    digest_id: str
    outcome: str  # see DigestRun.outcome
    articles: int
    enqueued: int  # by this run
    complete: bool  # every eligible subscriber is on the queue


def _summary(article: Article) -> ArticleSummary:
    image = lead_image(article.slug)
    return ArticleSummary(slug=article.slug, title=article.title, teaser=article.teaser,
                          category=article.category,  # type: ignore[no-untyped-call]
                          published_at=article.published_at,
                          image=DigestImage(url=image.url, width=image.width,  # type: ignore[no-untyped-call]
                                            height=image.height, alt=image.alt) if image else None)


def lead_image(slug: str) -> digest_mail.DigestImage | None:
    """The article's lead image for the mail (the published index does not carry it): one
    GetItem of that attribute, for each of a week's few articles, when the digest is made."""
    try:
        found = Article.get(slug, attributes_to_get=["lead_image"])
    except DoesNotExist:
        return None
    if not found.lead_image:
        return None
    image = ImageSet.from_json(found.lead_image)
    picture = image.nearest(MAIL_IMAGE_SOURCE_WIDTH)
    return digest_mail.DigestImage(url=f"{get_settings().site_url}/{picture.key}", width=picture.width,
                                   height=picture.height, alt=image.alt)


class DigestPlanner:
    """The scheduled side of the digest. ``queue`` and ``now`` are injectable for tests
    and the CLI; ``paused`` defaults to the setting."""

    def __init__(self, *, queue: Queue | None = None, paused: bool | None = None,
                 now: Clock = utcnow) -> None:
        self._queue = queue or Queue()
        self._paused = get_settings().digest_paused if paused is None else paused
        self._now = now

    def run(self, remaining_ms: Callable[[], int] | None = None, *,
            digest_id: str | None = None) -> RunResult:
        """This week's digest (or ``digest_id``'s), and, when no digest id is named, this
        month's for the monthly subscribers. Returns the weekly digest's result."""
        now = self._now()
        digest_id = digest_id or digest_id_for(now)
        if self._paused:
            log.warning("Digest %s not sent: sending is paused (DIGEST_PAUSED)", digest_id)
            return self._record(RunResult(digest_id, "paused", 0, 0, complete=False), now)
        weekly = self._run_one(digest_id, now, remaining_ms, DIGEST_PARTITION)
        self._record(weekly, now)
        # The month's digest after the week's, when the week's is on the queue (a run stopped
        # for time leaves the month to the next run, which resumes the week first).
        if digest_id == digest_id_for(now) and weekly.complete:
            monthly = self._run_one(month_id_for(now), now, remaining_ms, MONTHLY_PARTITION)
            if monthly.enqueued or not monthly.complete:
                self._record(monthly, now)
        return weekly

    def _run_one(self, digest_id: str, now: datetime, remaining_ms: Callable[[], int] | None,
                 partition: str) -> RunResult:
        """One digest (a week's, or a month's) for one partition of ``digest-index``."""
        marker_sk, lookback = ((MARKER_SK, FIRST_DIGEST_LOOKBACK) if partition == DIGEST_PARTITION
                               else (MONTHLY_MARKER_SK, FIRST_MONTHLY_LOOKBACK))
        try:
            digest = Digest.get(DIGEST_PK, digest_id)
            outcome = "resumed"
        except DoesNotExist:
            created = self._create(digest_id, now, marker_sk, lookback)
            if created is None:
                return RunResult(digest_id, "nothing-new", 0, 0, complete=True)
            digest, outcome = created
        if digest.state == ENQUEUED:
            return RunResult(digest_id, "already-enqueued", len(digest.articles), 0, complete=True)
        if outcome != "sent-to-queue":
            if not self._take_lease(digest, now):
                return RunResult(digest_id, "already-running", len(digest.articles), 0, complete=False)
            self._cover(digest, now, marker_sk)
        try:
            enqueued, complete = self._fan_out(digest, remaining_ms, partition)
        except Exception:
            # AWS failed mid-fan-out: give the lease back, so the retry EventBridge makes a
            # minute later resumes from the cursor instead of finding it "already running"
            # for 15 minutes, after which no run comes until next week.
            self._release(digest)
            raise
        return RunResult(digest_id, outcome, len(digest.articles), enqueued, complete=complete)

    def new_articles(self, since: datetime, until: datetime) -> list[Article]:
        """Published in (since, until], oldest first: one Query on the published index."""
        found = Article.published_index.query(
            PUBLISHED_FEED,
            range_key_condition=Article.published_at.between(since + timedelta(microseconds=1), until),
            scan_index_forward=True,
        )
        return list(found)

    def _create(self, digest_id: str, now: datetime, marker_sk: str = MARKER_SK,
                lookback: timedelta = FIRST_DIGEST_LOOKBACK) -> tuple[Digest, str] | None:
        try:
            marker = DigestMarker.get(MARKER_PK, marker_sk)
            since = marker.covered_until
        except DoesNotExist:
            since = now - lookback
        articles = self.new_articles(since, now)
        if not articles:
            log.info("Digest %s: no article published since %s", digest_id, since.isoformat())
            return None
        if len(articles) > MAX_ARTICLES:
            log.warning("Digest %s: %d new articles, showing the newest %d", digest_id,
                        len(articles), MAX_ARTICLES)
            articles = articles[-MAX_ARTICLES:]
        digest = Digest(DIGEST_PK, digest_id, since=since, until=now,
                        articles=[_summary(article) for article in articles], state=FANNING_OUT,
                        enqueued=0, lease_until=now + LEASE, created_at=now, updated_at=now)
        try:
            digest.save(Digest.sk.does_not_exist())
        except PutError as problem:
            if not condition_failed(problem):
                raise
            # Another run of this week got there first: it holds the lease.
            return Digest.get(DIGEST_PK, digest_id), "resumed"
        try:
            self._cover(digest, now, marker_sk)
        except Exception:
            self._release(digest)  # the resume writes the marker (see run)
            raise
        log.info("Digest %s created with %d article(s)", digest_id, len(articles))
        return digest, "sent-to-queue"

    def _cover(self, digest: Digest, now: datetime, marker_sk: str = MARKER_SK) -> None:
        """Move the marker to the end of what ``digest`` covers (never backwards), so next
        week starts there. Written with the digest and again on every resume, because a
        digest whose marker write failed would otherwise be repeated next week."""
        marker = DigestMarker(MARKER_PK, marker_sk, digest_id=digest.sk, covered_until=digest.until,
                              updated_at=now)
        try:
            marker.save(condition=DigestMarker.covered_until.does_not_exist()
                        | (DigestMarker.covered_until < digest.until))
        except PutError as problem:
            if not condition_failed(problem):
                raise

    def _release(self, digest: Digest) -> None:
        """Give up the fan-out lease after a failure (best effort: it expires anyway)."""
        try:
            digest.update(actions=[Digest.lease_until.remove()])
        except Exception:
            log.exception("Digest %s: could not release the lease; it expires by itself", digest.sk)

    def _take_lease(self, digest: Digest, now: datetime) -> bool:
        """Resume an unfinished fan-out only if no other run holds it (conditional update)."""
        try:
            digest.update(actions=[Digest.lease_until.set(now + LEASE)],
                          condition=Digest.lease_until.does_not_exist() | (Digest.lease_until < now))
        except UpdateError as problem:
            if not condition_failed(problem):
                raise
            log.info("Digest %s: another run is fanning out", digest.sk)
            return False
        return True

    def _fan_out(self, digest: Digest, remaining_ms: Callable[[], int] | None,
                 partition: str = DIGEST_PARTITION) -> tuple[int, bool]:
        cursor: dict[str, Any] | None = json.loads(digest.fanout_cursor) if digest.fanout_cursor else None
        total = 0
        margin = min(FANOUT_MARGIN_MS, remaining_ms() // 3) if remaining_ms else 0
        while True:
            if remaining_ms is not None and remaining_ms() < margin:
                log.warning("Digest %s: fan-out stopped before the time limit; the next run resumes",
                            digest.sk)
                digest.update(actions=[Digest.lease_until.remove()])
                return total, False
            page = Subscriber.digest_index.query(
                partition, last_evaluated_key=cursor, limit=PAGE_SIZE, page_size=PAGE_SIZE,
                attributes_to_get=["subscriber_id", "email", "topics"],
            )
            version = digest.created_at.isoformat()
            queued = [QueuedSubscriber(digest.sk, version, s.subscriber_id, s.email,
                                       tuple(str(t) for t in s.topics or ())) for s in page]
            bodies = [encode_batch(queued[start:start + SUBSCRIBERS_PER_MESSAGE])
                      for start in range(0, len(queued), SUBSCRIBERS_PER_MESSAGE)]
            cursor = page.last_evaluated_key
            self._queue.send(bodies)
            total += len(queued)
            actions: list[Action] = [Digest.enqueued.add(len(queued)), Digest.updated_at.set(self._now())]
            if cursor:
                actions.append(Digest.fanout_cursor.set(json.dumps(cursor)))
            else:
                actions += [Digest.state.set(ENQUEUED), Digest.fanout_cursor.remove(),
                            Digest.lease_until.remove()]
            digest.update(actions=actions)
            if not cursor:
                log.info("Digest %s: %d subscriber(s) on the queue", digest.sk, digest.enqueued)
                return total, True

    def _record(self, result: RunResult, now: datetime) -> RunResult:
        DigestRun(sk=f"{now.isoformat()}#{secrets.token_hex(4)}", digest_id=result.digest_id,
                  outcome=result.outcome, articles=result.articles, enqueued=result.enqueued).save()
        log.info("Digest run %s: %s (%d article(s), %d enqueued)", result.digest_id, result.outcome,
                 result.articles, result.enqueued)
        return result


def runs(limit: int = 20) -> Iterable[DigestRun]:
    """The latest runs, newest first (one Query)."""
    return DigestRun.query(RUN_PK, scan_index_forward=False, limit=limit)
