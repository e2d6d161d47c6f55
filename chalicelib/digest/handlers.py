"""The digest's Lambda functions: the weekly schedule and the SQS worker.

SQS partial batches: Chalice 1.34 cannot switch on the event source mapping's
``ReportBatchItemFailures`` (``on_sqs_message`` has no such option), and without it Lambda
deletes the whole batch when the handler returns. So the worker deletes the messages it
handled itself and then raises if any remain: Lambda returns the batch, of which only the
failed and unprocessed messages still exist, and those come back after the visibility
timeout until the queue's maxReceiveCount sends them to the dead-letter queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from chalice.app import Blueprint, CloudWatchEvent, SQSEvent

from chalicelib.core.config import DIGEST_SCHEDULE, get_settings

bp = Blueprint(__name__)
log = logging.getLogger(__name__)
_settings = get_settings()

# Messages per worker invocation (each carries up to digest.SUBSCRIBERS_PER_MESSAGE
# subscribers): at a few mails per second per worker that is seconds of work, far inside
# the function's timeout, so a stop for time is the exception.
WORKER_BATCH_SIZE = 2


class DigestMessagesNotDone(RuntimeError):
    """Raised after deleting the handled messages, so Lambda returns the rest to the queue."""


@lru_cache(maxsize=1)
def _worker() -> Any:
    from chalicelib.digest.worker import DigestWorker

    return DigestWorker()


@lru_cache(maxsize=1)
def _queue() -> Any:
    from chalicelib.digest.queue import Queue

    return Queue()


def _remaining_ms(event: Any) -> Callable[[], int]:
    """The Lambda context's clock; without a context (a direct call) time is not the limit."""
    clock = getattr(event.context, "get_remaining_time_in_millis", None)
    return clock if callable(clock) else (lambda: 15 * 60 * 1000)


@bp.schedule(DIGEST_SCHEDULE, name="digest_schedule",
             description="Weekly digest: find new articles, put subscribers on the queue")
def digest_schedule(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.digest.planner import DigestPlanner

    result = DigestPlanner(queue=_queue()).run(_remaining_ms(event))
    return {"digest_id": result.digest_id, "outcome": result.outcome, "articles": result.articles,
            "enqueued": result.enqueued, "complete": result.complete}


@bp.on_sqs_message(queue=_settings.digest_queue, batch_size=WORKER_BATCH_SIZE,
                   maximum_concurrency=max(2, _settings.digest_workers), name="digest_worker")
def digest_worker(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.digest.worker import Record

    records = [Record(message_id=str(raw.to_dict().get("messageId", "")),
                      receipt_handle=raw.receipt_handle, body=raw.body) for raw in event]
    outcome = _worker().process(records, _remaining_ms(event))
    if outcome.done:
        _queue().delete([record.receipt_handle for record in outcome.done])
    if outcome.retry:
        raise DigestMessagesNotDone(
            f"{len(outcome.failed)} failed and {len(outcome.left)} unprocessed digest message(s) "
            "return to the queue")
    return {"sent": outcome.sent, "skipped": outcome.skipped,
            "batchItemFailures": []}
