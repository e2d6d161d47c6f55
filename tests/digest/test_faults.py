"""The digest under AWS faults: whichever call of the worker or the schedule fails, the
message or run is retried, and once the fault clears every eligible subscriber has exactly
one digest mail, nothing sits in the dead-letter queue, and the deliveries say so.

Faults are injected at the app's botocore clients (tests/support/faults.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.digest.models import (
    CLAIMED,
    DIGEST_PK,
    ENQUEUED,
    MARKER_PK,
    MARKER_SK,
    SENT,
    Delivery,
    Digest,
    DigestMarker,
)
from chalicelib.digest.weeks import digest_id_for
from tests.support.digest import (
    _lambda_record,
    add_subscriber,
    invoke,
    pump,
    queue_url,
    queued_count,
    schedule_event,
)
from tests.support.faults import (
    BY_SERVICE,
    MESSAGE_REJECTED,
    SES_TOO_MANY,
    THROTTLING,
    THROUGHPUT,
    Fault,
    FaultInjector,
    case_id,
    matrix,
)
from tests.support.fixtures import ArticleFactory

Outbox = Callable[[], list[Any]]
READERS = ("anna@example.org", "bo@example.org")

# One worker invocation for two subscribers: the digest (GetItem), then per subscriber the
# claim (TransactWriteItems), SES, the mark (UpdateItem); last, the handled messages leave
# the queue (DeleteMessageBatch).
WORKER_CALLS = ["dynamodb.GetItem", "dynamodb.TransactWriteItems", "sesv2.SendEmail", "dynamodb.UpdateItem",
                "dynamodb.TransactWriteItems", "sesv2.SendEmail", "dynamodb.UpdateItem",
                "sqs.DeleteMessageBatch"]
# The first occurrence of each call, and SES again for the second subscriber (the first
# one's mail is out by then).
WORKER_FAULTS = [(call, after, fault) for call, after, fault in matrix(WORKER_CALLS)
                 if after == 0 or call == "sesv2.SendEmail"]
# The weekly schedule: read this week's digest and the marker (GetItem ×2), the new
# articles (Query), write the digest and the marker (PutItem ×2), fan out a page of
# subscribers (Query, SendMessageBatch, UpdateItem), record the run (PutItem).
SCHEDULE_FAULTS = [("dynamodb.GetItem", 0, THROUGHPUT), ("dynamodb.Query", 0, THROTTLING),
                   ("dynamodb.PutItem", 0, THROUGHPUT), ("dynamodb.PutItem", 1, THROTTLING),
                   ("dynamodb.Query", 1, THROUGHPUT), ("sqs.SendMessageBatch", 0, THROTTLING),
                   ("dynamodb.UpdateItem", 0, THROTTLING)]


@pytest.fixture
def week(add_articles: ArticleFactory) -> None:
    add_articles(1, category="cases", prefix="ny", start=datetime.now(UTC) - timedelta(hours=2))
    for address in READERS:
        add_subscriber(address)


def _recipients(outbox: Outbox) -> Counter[str]:
    return Counter(address for mail in outbox() for address in mail.recipients)


def _deliveries() -> dict[str, str]:
    return {d.subscriber_id: d.status for d in Delivery.query(digest_id_for(datetime.now(UTC)))}


def _invoke_worker_once(client: Client) -> bool:
    """One Lambda invocation on the queued messages, which stay visible: whatever it did not
    delete is redelivered at once, as SQS does after the visibility timeout. True if it raised."""
    from chalicelib.core import aws

    messages = aws.client("sqs").receive_message(QueueUrl=queue_url(), MaxNumberOfMessages=10,
                                                 VisibilityTimeout=0, AttributeNames=["All"])["Messages"]
    try:
        invoke(client, "digest_worker", {"Records": [_lambda_record(m) for m in messages]})
    except Exception:
        return True
    return False


def test_worker_calls_are_the_ones_the_fault_matrix_covers(client: Client, week: None,
                                                            faults: FaultInjector) -> None:
    invoke(client, "digest_schedule", schedule_event(client))
    faults.calls.clear()
    pump(client)
    worker = [call for call in faults.calls if call not in ("sqs.GetQueueUrl", "sqs.ReceiveMessage")]
    assert worker == WORKER_CALLS  # GetQueueUrl and ReceiveMessage are the test's Lambda poller


@pytest.mark.usefixtures("week")
@pytest.mark.parametrize("case", WORKER_FAULTS, ids=lambda case: "-".join(map(case_id, case)))
def test_worker_under_faults_mails_each_subscriber_exactly_once_after_retry(
    client: Client, outbox: Outbox, faults: FaultInjector, case: tuple[str, int, Fault],
) -> None:
    call, after, fault = case
    invoke(client, "digest_schedule", schedule_event(client))
    faults.inject(call, fault, after=after)
    _invoke_worker_once(client)
    assert faults.injected, f"{call} #{after} was never made: update WORKER_CALLS"
    faults.clear()

    pump(client)  # Lambda's redelivery: failed messages, and any whose delete failed
    assert _recipients(outbox) == Counter(dict.fromkeys(READERS, 1))
    assert queued_count() == 0 and queued_count(dead_letter=True) == 0
    statuses = Counter(_deliveries().values())
    if call == "dynamodb.UpdateItem":
        # The mail went out but recording SES's id failed: the claim stays and still stops a
        # second mail (chalicelib/digest_worker.py logs it rather than risk a duplicate).
        assert statuses[CLAIMED] >= 1 and sum(statuses.values()) == len(READERS)
    else:
        assert statuses == Counter({SENT: len(READERS)})


@pytest.mark.usefixtures("week")
@pytest.mark.parametrize("case", SCHEDULE_FAULTS, ids=lambda case: "-".join(map(case_id, case)))
def test_schedule_under_faults_fails_and_the_next_run_mails_each_subscriber_once(
    client: Client, outbox: Outbox, faults: FaultInjector, case: tuple[str, int, Fault],
) -> None:
    call, after, fault = case
    # Once: the release of the fan-out lease after the failure is a write of its own.
    faults.inject(call, fault, after=after, times=1)
    with pytest.raises(Exception) as raised:  # EventBridge retries a failed invocation
        invoke(client, "digest_schedule", schedule_event(client))
    assert not isinstance(raised.value, AssertionError)
    assert faults.injected, f"{call} #{after} was never made: update SCHEDULE_FAULTS"
    faults.clear()

    # EventBridge's retry comes a minute later: well inside the fan-out lease of 15 minutes.
    result = invoke(client, "digest_schedule", schedule_event(client))
    assert result["complete"], result
    pump(client)
    assert _recipients(outbox) == Counter(dict.fromkeys(READERS, 1))
    assert Counter(_deliveries().values()) == Counter({SENT: len(READERS)})
    digest = Digest.get(DIGEST_PK, result["digest_id"])
    marker = DigestMarker.get(MARKER_PK, MARKER_SK)
    assert digest.state == ENQUEUED and digest.lease_until is None
    assert marker.digest_id == digest.sk and marker.covered_until == digest.until  # next week starts here


def test_every_service_the_worker_uses_has_faults() -> None:
    assert {call.split(".")[0] for call in WORKER_CALLS} <= set(BY_SERVICE)
    assert {MESSAGE_REJECTED, SES_TOO_MANY} <= {fault for _, _, fault in WORKER_FAULTS}
