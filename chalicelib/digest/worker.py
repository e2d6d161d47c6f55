"""The weekly digest, sending side: one SQS message = a batch of subscribers, at most one
mail per subscriber.

For each subscriber in a message the worker:

1. checks it has time left (``remaining_ms``) and that sending is not paused, else leaves
   the message on the queue;
2. picks the subscriber's articles (none in their topics → done, nothing written);
3. waits for its pacing slot (``pacing.Pacer``);
4. claims (digest, subscriber) in one DynamoDB transaction: a conditional put on the
   deliveries table *and* a check that the subscriber still carries ``digest_partition``
   (still confirmed, not unsubscribed or suppressed since the fan-out);
5. sends through SES (retrying throttling with backoff);
6. records SES's message id on the claim.

A claim that exists means "mailed, or the mailing's outcome is unknown": a retry skips it,
so a crash between 5 and 6 costs that subscriber this week's digest rather than sending it
twice. When SES refuses a mail for certain (an error response), the claim is released so a
retry of the message can send it. DynamoDB calls per subscriber: the claim and the mark.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from botocore.exceptions import ClientError
from pynamodb.exceptions import DeleteError, DoesNotExist

from chalicelib.core import mail
from chalicelib.core.clock import Clock, utcnow
from chalicelib.core.conditions import Transaction, TransactionCancelled
from chalicelib.core.config import get_settings
from chalicelib.digest import mail as digest_mail
from chalicelib.digest.messages import QueuedSubscriber, decode_batch
from chalicelib.digest.models import CLAIMED, DIGEST_PK, SENT, Delivery, Digest
from chalicelib.digest.pacing import Pacer, with_backoff, worker_rate
from chalicelib.digest.weeks import period_label
from chalicelib.newsletter.models import Subscriber
from chalicelib.stats.counting import DIGEST_HEADER

log = logging.getLogger(__name__)

# Leave a message for the next invocation when less than this is left: a send, its
# throttling retries and the mark fit in it. A function with a short timeout (Chalice's
# test client gives 3 s) keeps a third of its time instead.
SEND_MARGIN_MS = 10_000
DELIVERY_TTL = timedelta(days=60)  # longer than any SQS retention + DLQ redrive


@dataclass(frozen=True)
class Record:
    """An SQS record as the worker needs it."""

    message_id: str
    receipt_handle: str
    body: str


@dataclass
class Outcome:
    """What became of each record: ``done`` may be deleted from the queue, ``failed`` and
    ``left`` must come back (failed ones count towards the DLQ's maxReceiveCount)."""

    done: list[Record] = field(default_factory=list)
    failed: list[Record] = field(default_factory=list)
    left: list[Record] = field(default_factory=list)
    sent: int = 0
    skipped: int = 0  # not eligible, nothing in their topics, or already claimed

    @property
    def retry(self) -> list[Record]:
        return self.failed + self.left


class Claimed(Exception):
    """The pair was claimed before: by an earlier attempt of this message or a duplicate."""


class NotEligible(Exception):
    """The subscriber is no longer confirmed (unsubscribed, suppressed or gone)."""


class DigestWorker:
    """Sends the digest for SQS records. Injectable: ``send`` (SES), ``pacer``, ``sleep``
    for the backoff, ``paused``; defaults come from settings and the SES account."""

    def __init__(self, *, send: Callable[[mail.Mail], str] = mail.send, pacer: Pacer | None = None,
                 paused: bool | None = None, sleep: Callable[[float], None] = time.sleep,
                 now: Clock = utcnow) -> None:
        settings = get_settings()
        self._send = send
        self._pacer = pacer
        self._paused = settings.digest_paused if paused is None else paused
        self._sleep = sleep
        self._now = now
        self._digests: dict[tuple[str, str], list[digest_mail.DigestArticle]] = {}

    @property
    def pacer(self) -> Pacer:
        if self._pacer is None:  # SES is asked for its rate only when a mail is due
            settings = get_settings()
            self._pacer = Pacer(worker_rate(settings.digest_max_send_rate, settings.digest_workers))
        return self._pacer

    def process(self, records: Sequence[Record], remaining_ms: Callable[[], int]) -> Outcome:
        """Each record is a message with a batch of subscribers. A record is ``done`` when
        each of its subscribers was mailed or skipped, ``failed`` when one failed (the retry
        skips the others by their claims), ``left`` when time ran out in it or before it."""
        outcome = Outcome()
        if self._paused:
            log.warning("Digest sending is paused (DIGEST_PAUSED): %d message(s) stay queued",
                        len(records))
            outcome.left.extend(records)
            return outcome
        margin = min(SEND_MARGIN_MS, remaining_ms() // 3)
        for position, record in enumerate(records):
            try:
                batch = decode_batch(record.body)
            except ValueError as problem:
                log.error("Message %s is malformed (%s); it fails towards the DLQ", record.message_id,
                          problem)
                outcome.failed.append(record)
                continue
            results: list[str] = []
            for queued in batch:
                if remaining_ms() < margin:
                    break
                results.append(self._one(queued, lambda: remaining_ms() - margin))
            outcome.sent += results.count("sent")
            outcome.skipped += results.count("skipped")
            if len(results) < len(batch):
                log.info("Stopping before the time limit: %d message(s) stay queued",
                         len(records) - position)
                outcome.left.extend(records[position:])
                break
            (outcome.failed if "failed" in results else outcome.done).append(record)
        log.info("Digest worker: %d sent, %d skipped, %d failed, %d left", outcome.sent,
                 outcome.skipped, len(outcome.failed), len(outcome.left))
        from chalicelib.stats import metrics

        metrics.emit({"DigestSent": outcome.sent, "DigestSkipped": outcome.skipped,
                      "DigestFailed": len(outcome.failed)})
        return outcome

    def _articles(self, queued: QueuedSubscriber) -> list[digest_mail.DigestArticle] | None:
        """The digest's articles, read once per process per digest (not per subscriber)."""
        key = (queued.digest_id, queued.version)
        if key not in self._digests:
            try:
                digest = Digest.get(DIGEST_PK, queued.digest_id)
            except DoesNotExist:
                return None
            if digest.created_at.isoformat() != queued.version:
                return None  # a message from an earlier incarnation of this digest
            self._digests[key] = [digest_mail.from_summary(a) for a in digest.articles]
        return self._digests[key]

    def _one(self, queued: QueuedSubscriber, remaining_ms: Callable[[], int]) -> str:
        articles = self._articles(queued)
        if articles is None:
            log.error("Digest %s (%s) does not exist; message for %s fails", queued.digest_id,
                      queued.version, queued.subscriber_id)
            return "failed"
        message = digest_mail.compose(period=period_label(queued.digest_id), articles=articles,
                                      subscriber_id=queued.subscriber_id, email=queued.email,
                                      topics=queued.topics)
        if message is None:
            return "skipped"  # nothing in their topics this week
        # SES echoes the headers in its bounce and complaint events: they count on this digest
        # (newsletter.notifications, docs/operations.md#figures).
        message.headers[DIGEST_HEADER] = queued.digest_id
        self.pacer.wait()
        try:
            self.claim(queued.digest_id, queued.subscriber_id)
        except Claimed:
            log.info("Digest %s to %s was claimed before; not sending again", queued.digest_id,
                     queued.subscriber_id)
            return "skipped"
        except NotEligible:
            return "skipped"
        try:
            message_id = with_backoff(lambda: self._send(message), sleep=self._sleep,
                                      budget_s=lambda: remaining_ms() / 1000)
        except ClientError as problem:
            log.warning("SES refused digest %s to %s (%s); releasing the claim for a retry",
                        queued.digest_id, queued.subscriber_id, problem.response.get("Error", {}))
            self.release(queued.digest_id, queued.subscriber_id)
            return "failed"
        self.mark(queued.digest_id, queued.subscriber_id, message_id)
        return "sent"

    def claim(self, digest_id: str, subscriber_id: str) -> None:
        """One TransactWriteItems: put the claim if absent + the subscriber is still confirmed."""
        now = self._now()
        claim = Delivery(digest_id, subscriber_id, status=CLAIMED, claimed_at=now,
                         expires_ttl=int((now + DELIVERY_TTL).timestamp()))
        try:
            with Transaction(Delivery) as transaction:
                transaction.save(claim, condition=Delivery.subscriber_id.does_not_exist(), name="claim")
                transaction.condition_check(Subscriber, subscriber_id,
                                            condition=Subscriber.digest_partition.exists(),
                                            name="subscriber")
        except TransactionCancelled as cancelled:
            if cancelled.failed("claim"):
                raise Claimed from None
            if cancelled.failed("subscriber"):
                raise NotEligible from None
            raise

    def mark(self, digest_id: str, subscriber_id: str, message_id: str) -> None:
        """Record SES's message id. If this fails the mail is out and the claim still stops a
        second one; only the id is missing, so it is logged, not retried."""
        try:
            Delivery(digest_id, subscriber_id).update(actions=[
                Delivery.status.set(SENT), Delivery.message_id.set(message_id),
                Delivery.sent_at.set(self._now())])
        except Exception:
            log.exception("Digest %s sent to %s as %s, but recording it failed", digest_id,
                          subscriber_id, message_id)

    def release(self, digest_id: str, subscriber_id: str) -> None:
        try:
            Delivery(digest_id, subscriber_id).delete(condition=Delivery.status == CLAIMED)
        except DeleteError:
            log.exception("Could not release the claim of digest %s for %s", digest_id, subscriber_id)
