"""The weekly digest, scheduled side: which digest this is, what it covers, who gets it.

A run (``DigestPlanner.run``) does, in order:

1. names the digest after the ISO week (``2026-W48``), so every run in one week is the
   same digest, however often the schedule fires;
2. finds the articles published since the last digest that went out (``DigestMarker``);
   none → the run is recorded and nothing else happens;
3. creates the ``Digest`` record with a conditional put: only one run per week does, and
   it fixes the article list every worker and every retry renders from;
4. pages through ``digest-index`` (sparse: confirmed subscribers only; a Query, never a
   Scan) and puts one SQS message per subscriber on the queue, saving the page cursor
   after each page, so a run that stops before its Lambda times out is resumed by the
   next one.

Sending is ``digest_worker``'s job. No Chalice here.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib import aws
from chalicelib.config import get_settings
from chalicelib.models.articles import PUBLISHED_FEED, Article
from chalicelib.models.site import (
    DIGEST_PK,
    ENQUEUED,
    FANNING_OUT,
    MARKER_PK,
    MARKER_SK,
    RUN_PK,
    ArticleSummary,
    Digest,
    DigestMarker,
    DigestRun,
)
from chalicelib.models.subscribers import DIGEST_PARTITION, Subscriber

log = logging.getLogger(__name__)

DIGEST_ID_RE = re.compile(r"^(\d{4})-W(\d{2})$")
FIRST_DIGEST_LOOKBACK = timedelta(days=7)  # the very first digest covers one week back
MAX_ARTICLES = 50  # a digest is a summary; more than this means something else went wrong
PAGE_SIZE = 500  # subscribers per Query page (and per cursor save)
SQS_BATCH = 10  # SendMessageBatch's maximum
# Subscribers per SQS message. Batches cut SQS requests tenfold; a worker's claims make a
# retried message cheap (its done subscribers are skipped), so failures stay per subscriber.
SUBSCRIBERS_PER_MESSAGE = 10
# Stop fanning out when less than this is left of the Lambda's time: one more page of
# Query + SendMessageBatch calls fits with room to spare. A function with a short timeout
# (Chalice's test client gives 3 s) keeps a third of it instead.
FANOUT_MARGIN_MS = 20_000
LEASE = timedelta(minutes=15)  # at most a Lambda's lifetime


class InvalidDigestId(ValueError):
    """Not an ISO week like ``2026-W48``."""


def digest_id_for(moment: datetime) -> str:
    """The digest a moment belongs to: its ISO week in UTC."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(digest_id: str) -> datetime:
    """Monday 00:00 UTC of the digest's week. Raises ``InvalidDigestId``."""
    found = DIGEST_ID_RE.match(digest_id)
    if not found:
        raise InvalidDigestId(f"ugyldig uge {digest_id!r}: skriv fx 2026-W48")
    try:
        monday = date.fromisocalendar(int(found.group(1)), int(found.group(2)), 1)
    except ValueError:
        raise InvalidDigestId(f"ugen {digest_id!r} findes ikke") from None
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def week_number(digest_id: str) -> int:
    return week_start(digest_id).isocalendar()[1]


@dataclass(frozen=True)
class QueuedSubscriber:
    """Everything a worker needs to mail one subscriber, so it reads nothing per subscriber
    (the claim re-checks that they are still confirmed). Messages carry a batch of these."""

    digest_id: str
    # The digest record's created_at: workers cache a digest's articles under (id, version),
    # so a digest made again (after an operator removed it, or a reset test stack) is reread.
    version: str
    subscriber_id: str
    email: str
    topics: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps({"digest_id": self.digest_id, "version": self.version,
                           "subscriber_id": self.subscriber_id, "email": self.email,
                           "topics": list(self.topics)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, body: str) -> QueuedSubscriber:
        """Raises ``ValueError`` for a body that is not one of ours."""
        try:
            data = json.loads(body)
            queued = cls(digest_id=str(data["digest_id"]), version=str(data["version"]),
                         subscriber_id=str(data["subscriber_id"]),
                         email=str(data["email"]), topics=tuple(str(t) for t in data["topics"]))
        except (ValueError, KeyError, TypeError) as problem:
            raise ValueError(f"not a digest message: {problem}") from None
        week_start(queued.digest_id)
        return queued


def encode_batch(batch: Sequence[QueuedSubscriber]) -> str:
    """One SQS message for subscribers of one digest."""
    first = batch[0]
    return json.dumps({"digest_id": first.digest_id, "version": first.version, "subscribers": [
        {"subscriber_id": q.subscriber_id, "email": q.email, "topics": list(q.topics)} for q in batch
    ]}, ensure_ascii=False)


def decode_batch(body: str) -> list[QueuedSubscriber]:
    """The subscribers in a message; a single-subscriber message is read too. Raises
    ``ValueError`` for a body that is not one of ours."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and "subscribers" not in data:
            return [QueuedSubscriber.from_json(body)]
        found = [QueuedSubscriber.from_json(json.dumps(
            {"digest_id": data["digest_id"], "version": data["version"], **entry}))
            for entry in data["subscribers"]]
    except (KeyError, TypeError) as problem:
        raise ValueError(f"not a digest message: {problem}") from None
    if not found:
        raise ValueError("not a digest message: no subscribers")
    return found


class Queue:
    """The digest queue, found by name (one GetQueueUrl per process)."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or get_settings().digest_queue
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = str(aws.client("sqs").get_queue_url(QueueName=self.name)["QueueUrl"])
        return self._url

    def send(self, bodies: list[str]) -> None:
        """Enqueue; a batch entry SQS refused is tried once more, then the run fails (the
        next run resumes from the last saved page, and claims stop any double mail)."""
        sqs = aws.client("sqs")
        for start in range(0, len(bodies), SQS_BATCH):
            entries = [{"Id": str(n), "MessageBody": body}
                       for n, body in enumerate(bodies[start:start + SQS_BATCH])]
            for _attempt in range(2):
                failed = sqs.send_message_batch(QueueUrl=self.url, Entries=entries).get("Failed", [])
                if not failed:
                    break
                ids = {entry["Id"] for entry in failed}
                entries = [entry for entry in entries if entry["Id"] in ids]
            else:
                raise RuntimeError(f"SQS refused {len(entries)} digest message(s): {failed[0]}")

    def delete(self, receipt_handles: list[str]) -> int:
        """Delete handled messages; returns how many SQS did not delete. Not fatal: such a
        message comes back and its claim makes the retry a no-op."""
        sqs = aws.client("sqs")
        handles = list(dict.fromkeys(receipt_handles))  # SQS refuses a batch naming one twice
        missed = 0
        for start in range(0, len(handles), SQS_BATCH):
            entries = [{"Id": str(n), "ReceiptHandle": handle}
                       for n, handle in enumerate(handles[start:start + SQS_BATCH])]
            try:
                failed = sqs.delete_message_batch(QueueUrl=self.url, Entries=entries).get("Failed", [])
            except ClientError as problem:
                log.warning("SQS did not delete %d handled digest message(s): %s", len(entries), problem)
                missed += len(entries)
                continue
            for entry in failed:
                missed += 1
                log.warning("SQS did not delete a handled digest message: %s", entry.get("Code"))
        return missed


@dataclass(frozen=True)
class RunResult:
    digest_id: str
    outcome: str  # see DigestRun.outcome
    articles: int
    enqueued: int  # by this run
    complete: bool  # every eligible subscriber is on the queue


def _now() -> datetime:
    return datetime.now(UTC)


def _summary(article: Article) -> ArticleSummary:
    return ArticleSummary(slug=article.slug, title=article.title, teaser=article.teaser,
                          category=article.category,  # type: ignore[no-untyped-call]
                          published_at=article.published_at)


class DigestPlanner:
    """The scheduled side of the digest. ``queue`` and ``now`` are injectable for tests
    and the CLI; ``paused`` defaults to the setting."""

    def __init__(self, *, queue: Queue | None = None, paused: bool | None = None,
                 now: Callable[[], datetime] = _now) -> None:
        self._queue = queue or Queue()
        self._paused = get_settings().digest_paused if paused is None else paused
        self._now = now

    def run(self, remaining_ms: Callable[[], int] | None = None, *,
            digest_id: str | None = None) -> RunResult:
        now = self._now()
        digest_id = digest_id or digest_id_for(now)
        if self._paused:
            log.warning("Digest %s not sent: sending is paused (DIGEST_PAUSED)", digest_id)
            return self._record(RunResult(digest_id, "paused", 0, 0, complete=False), now)
        try:
            digest = Digest.get(DIGEST_PK, digest_id)
            outcome = "resumed"
        except DoesNotExist:
            created = self._create(digest_id, now)
            if created is None:
                return self._record(RunResult(digest_id, "nothing-new", 0, 0, complete=True), now)
            digest, outcome = created
        if digest.state == ENQUEUED:
            return self._record(RunResult(digest_id, "already-enqueued", len(digest.articles), 0,
                                          complete=True), now)
        if outcome != "sent-to-queue":
            if not self._take_lease(digest, now):
                return self._record(RunResult(digest_id, "already-running", len(digest.articles), 0,
                                              complete=False), now)
            self._cover(digest, now)
        try:
            enqueued, complete = self._fan_out(digest, remaining_ms)
        except Exception:
            # AWS failed mid-fan-out: give the lease back, so the retry EventBridge makes a
            # minute later resumes from the cursor instead of finding it "already running"
            # for 15 minutes, after which no run comes until next week.
            self._release(digest)
            raise
        return self._record(RunResult(digest_id, outcome, len(digest.articles), enqueued,
                                      complete=complete), now)

    def new_articles(self, since: datetime, until: datetime) -> list[Article]:
        """Published in (since, until], oldest first: one Query on the published index."""
        found = Article.published_index.query(
            PUBLISHED_FEED,
            range_key_condition=Article.published_at.between(since + timedelta(microseconds=1), until),
            scan_index_forward=True,
        )
        return list(found)

    def _create(self, digest_id: str, now: datetime) -> tuple[Digest, str] | None:
        try:
            marker = DigestMarker.get(MARKER_PK, MARKER_SK)
            since = marker.covered_until
        except DoesNotExist:
            since = now - FIRST_DIGEST_LOOKBACK
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
            if problem.cause_response_code != "ConditionalCheckFailedException":
                raise
            # Another run of this week got there first: it holds the lease.
            return Digest.get(DIGEST_PK, digest_id), "resumed"
        try:
            self._cover(digest, now)
        except Exception:
            self._release(digest)  # the resume writes the marker (see run)
            raise
        log.info("Digest %s created with %d article(s)", digest_id, len(articles))
        return digest, "sent-to-queue"

    def _cover(self, digest: Digest, now: datetime) -> None:
        """Move the marker to the end of what ``digest`` covers (never backwards), so next
        week starts there. Written with the digest and again on every resume, because a
        digest whose marker write failed would otherwise be repeated next week."""
        marker = DigestMarker(MARKER_PK, MARKER_SK, digest_id=digest.sk, covered_until=digest.until,
                              updated_at=now)
        try:
            marker.save(condition=DigestMarker.covered_until.does_not_exist()
                        | (DigestMarker.covered_until < digest.until))
        except PutError as problem:
            if problem.cause_response_code != "ConditionalCheckFailedException":
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
            if problem.cause_response_code != "ConditionalCheckFailedException":
                raise
            log.info("Digest %s: another run is fanning out", digest.sk)
            return False
        return True

    def _fan_out(self, digest: Digest, remaining_ms: Callable[[], int] | None) -> tuple[int, bool]:
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
                DIGEST_PARTITION, last_evaluated_key=cursor, limit=PAGE_SIZE, page_size=PAGE_SIZE,
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
