"""The digest's parts: ids, claims, pacing, throttling, and AWS calls per subscriber."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.core import aws, mail
from chalicelib.digest import pacing
from chalicelib.digest.messages import QueuedSubscriber, decode_batch
from chalicelib.digest.models import Delivery
from chalicelib.digest.planner import DigestPlanner
from chalicelib.digest.weeks import InvalidDigestId, digest_id_for, week_start
from chalicelib.digest.worker import Claimed, DigestWorker, NotEligible, Record
from chalicelib.newsletter.models import UNSUBSCRIBED
from tests.support.digest import add_subscriber, queue_url
from tests.support.fixtures import ArticleFactory


@pytest.mark.no_aws
def test_digest_ids_are_iso_weeks() -> None:
    assert digest_id_for(datetime(2026, 11, 23, 6, 0, tzinfo=UTC)) == "2026-W48"
    assert digest_id_for(datetime(2026, 11, 29, 23, 59, tzinfo=UTC)) == "2026-W48"
    assert digest_id_for(datetime(2027, 1, 1, 12, 0, tzinfo=UTC)) == "2026-W53"  # ISO year
    assert week_start("2026-W48") == datetime(2026, 11, 23, tzinfo=UTC)
    for bad in ("2026-48", "2026-W54", "W48", "2026-W4"):
        with pytest.raises(InvalidDigestId):
            week_start(bad)
    with pytest.raises(ValueError):
        QueuedSubscriber.from_json('{"digest_id": "2026-W99", "version": "", "subscriber_id": "x", '
                                   '"email": "a@b", "topics": []}')
    for body in ('{"digest_id": "2026-W48", "version": "", "subscribers": []}', "[]", "null"):
        with pytest.raises(ValueError):
            decode_batch(body)


@pytest.mark.no_aws
def test_the_pacer_spaces_sends_at_the_rate_and_catches_up_at_most_a_second() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = pacing.Pacer(14.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(15):
        pacer.wait()
    assert slept == pytest.approx([1 / 14] * 14)  # the first goes at once, then 1/14 s apart
    assert now[0] - 100.0 == pytest.approx(1.0)
    slept.clear()
    now[0] += 0.5  # one slow answer: the 7 slots it missed may still be used
    for _ in range(7):
        pacer.wait()
    assert slept == []
    pacer.wait()
    assert slept == pytest.approx([1 / 14])
    slept.clear()
    now[0] += 60  # idle: at most one second's worth (14 sends) goes without waiting
    for _ in range(20):
        pacer.wait()
    waits = [seconds for seconds in slept if seconds > 1e-9]  # float noise on the grid
    assert len(waits) == 20 - 15 and waits == pytest.approx([1 / 14] * 5)


def test_the_send_rate_comes_from_ses_when_not_configured() -> None:
    # moto server has no SES v2 GetAccount (404), so SES v1's quota answers: 1 mail/s.
    assert pacing.account_max_send_rate() == (1.0, "ses:GetSendQuota")
    assert pacing.worker_rate(None, workers=2) == 0.5
    assert pacing.worker_rate(14.0, workers=2) == 7.0


def _throttle(times: int) -> Any:
    """A botocore hook answering SendEmail with SES's throttling error ``times`` times."""
    left = [times]

    def hook(**_: Any) -> Any:
        if left[0] <= 0:
            return None
        left[0] -= 1
        return (SimpleNamespace(status_code=429, headers={}),
                {"Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."},
                 "ResponseMetadata": {"HTTPStatusCode": 429}})

    return hook


@pytest.fixture
def one_queued(add_articles: ArticleFactory) -> Record:
    add_articles(1, category="cases", start=datetime.now(UTC) - timedelta(days=1))
    add_subscriber("laeser@example.org")
    DigestPlanner().run()
    [message] = aws.client("sqs").receive_message(QueueUrl=queue_url(), VisibilityTimeout=60)["Messages"]
    return Record(message["MessageId"], message["ReceiptHandle"], message["Body"])


def test_ses_throttling_is_retried_with_backoff(one_queued: Record, outbox: Any) -> None:
    ses = aws.client("sesv2")
    ses.meta.events.register("before-call.sesv2.SendEmail", _throttle(3), unique_id="throttle")
    slept: list[float] = []
    try:
        outcome = DigestWorker(sleep=slept.append).process([one_queued], lambda: 60_000)
    finally:
        ses.meta.events.unregister("before-call.sesv2.SendEmail", unique_id="throttle")
    assert outcome.sent == 1 and len(outbox()) == 1
    assert len(slept) == 3 and all(0 <= delay <= 0.2 * 2 ** n for n, delay in enumerate(slept))


def test_throttling_that_does_not_stop_releases_the_claim_for_a_retry(one_queued: Record,
                                                                     outbox: Any) -> None:
    ses = aws.client("sesv2")
    ses.meta.events.register("before-call.sesv2.SendEmail", _throttle(6), unique_id="throttle")
    try:
        outcome = DigestWorker(sleep=lambda _: None).process([one_queued], lambda: 60_000)
    finally:
        ses.meta.events.unregister("before-call.sesv2.SendEmail", unique_id="throttle")
    assert outcome.failed == [one_queued] and outbox() == []
    [queued] = decode_batch(one_queued.body)
    assert Delivery.count(queued.digest_id) == 0  # released: the retry may send
    assert DigestWorker().process([one_queued], lambda: 60_000).sent == 1
    assert len(outbox()) == 1


@pytest.mark.dynamodb
def test_a_claim_is_taken_once_and_only_for_confirmed_subscribers() -> None:
    worker = DigestWorker()
    sid = add_subscriber("laeser@example.org")
    worker.claim("2026-W48", sid)
    with pytest.raises(Claimed):
        worker.claim("2026-W48", sid)
    worker.claim("2026-W49", sid)  # another digest is another claim
    gone = add_subscriber("afmeldt@example.org", status=UNSUBSCRIBED)
    with pytest.raises(NotEligible):
        worker.claim("2026-W48", gone)
    with pytest.raises(NotEligible):
        worker.claim("2026-W48", "0" * 32)  # no such subscriber


def test_aws_calls_per_subscriber_are_a_claim_a_send_and_a_mark(
        add_articles: ArticleFactory, aws_calls: Counter[str]) -> None:
    add_articles(3, category="cases", start=datetime.now(UTC) - timedelta(days=1))
    count = 23
    for n in range(count):
        add_subscriber(f"laeser{n}@example.org")
    aws_calls.clear()
    DigestPlanner().run(lambda: 60_000)
    planner_calls = +aws_calls
    assert planner_calls["dynamodb.Scan"] == 0
    # Marker + digest record + run log; one Query for articles, one page of subscribers; and
    # the same two for the month's digest (this is the month's first run): per run, never
    # per subscriber.
    assert planner_calls["dynamodb.Query"] == 4
    assert planner_calls["sqs.SendMessageBatch"] == 1  # 23 subscribers: 3 messages in one call

    records = [Record(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in aws.client("sqs").receive_message(
        QueueUrl=queue_url(), MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]]
    assert len(records) == 3
    worker = DigestWorker(send=mail.send)
    first = worker.process(records[:1], lambda: 60_000)  # warm: the digest is read once per process
    aws_calls.clear()
    outcome = worker.process(records[1:], lambda: 60_000)
    mailed = outcome.sent
    assert first.sent + mailed == count
    dynamodb = {name: n for name, n in aws_calls.items() if name.startswith("dynamodb.")}
    assert dynamodb == {"dynamodb.TransactWriteItems": mailed, "dynamodb.UpdateItem": mailed}
    assert aws_calls["sesv2.SendEmail"] == mailed
