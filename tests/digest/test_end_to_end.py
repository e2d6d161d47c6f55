"""The weekly digest end to end against moto server: schedule → SQS → worker → SES."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from chalice.test import Client

from chalicelib.core import aws, mail
from chalicelib.digest.models import CLAIMED, DIGEST_PK, ENQUEUED, SENT, Delivery, Digest
from chalicelib.digest.planner import DigestPlanner, runs
from chalicelib.digest.queue import Queue
from chalicelib.digest.weeks import digest_id_for, week_start
from chalicelib.digest.worker import DigestWorker, Record
from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import PENDING, SUPPRESSED, UNSUBSCRIBED, Subscriber
from tests.support.digest import add_subscriber, invoke, pump, queue_url, queued_count, schedule_event
from tests.support.fixtures import ArticleFactory

Outbox = Callable[[], list[Any]]


def recent(add_articles: ArticleFactory, count: int, category: str, prefix: str) -> list[str]:
    return add_articles(count, category=category, prefix=prefix,
                        start=datetime.now(UTC) - timedelta(days=2))


def recipients(outbox: Outbox) -> Counter[str]:
    return Counter(address for mail in outbox() for address in mail.recipients)


@pytest.fixture
def audience(add_articles: ArticleFactory) -> dict[str, str]:
    """This week: two `cases`, one `metoder` article. Subscribers in every state."""
    recent(add_articles, 2, "cases", "case")
    recent(add_articles, 1, "metoder", "metode")
    return {
        "alle@example.org": add_subscriber("alle@example.org"),
        "cases@example.org": add_subscriber("cases@example.org", topics=["cases"]),
        "to-emner@example.org": add_subscriber("to-emner@example.org", topics=["metoder", "udgivelser"]),
        "udgivelser@example.org": add_subscriber("udgivelser@example.org", topics=["udgivelser"]),
        "afventer@example.org": add_subscriber("afventer@example.org", status=PENDING),
        "afmeldt@example.org": add_subscriber("afmeldt@example.org", status=UNSUBSCRIBED),
        "spaerret@example.org": add_subscriber("spaerret@example.org", status=SUPPRESSED),
    }


ELIGIBLE = {"alle@example.org", "cases@example.org", "to-emner@example.org"}


def test_three_schedule_runs_in_one_week_mail_each_eligible_subscriber_once(
        client: Client, audience: dict[str, str], outbox: Outbox) -> None:
    first = invoke(client, "digest_schedule", schedule_event(client))
    assert first["outcome"] == "sent-to-queue" and first["complete"]
    assert first["enqueued"] == 4  # the confirmed ones; topics are the worker's business
    pump(client)
    for _ in range(2):
        later = invoke(client, "digest_schedule", schedule_event(client))
        assert later["outcome"] == "already-enqueued" and later["enqueued"] == 0
        pump(client)

    assert recipients(outbox) == Counter({address: 1 for address in ELIGIBLE})
    digest_id = digest_id_for(datetime.now(UTC))
    assert [run.outcome for run in runs()] == ["already-enqueued", "already-enqueued", "sent-to-queue"]
    sent = {d.subscriber_id: d for d in Delivery.query(digest_id)}
    assert set(sent) == {audience[address] for address in ELIGIBLE}
    mails = {mail.to: mail for mail in outbox()}
    assert all(d.status == SENT and d.message_id == mails[address].message_id
               for address in ELIGIBLE for d in [sent[audience[address]]])


def test_subscribers_get_only_their_topics(client: Client, audience: dict[str, str],
                                           outbox: Outbox) -> None:
    invoke(client, "digest_schedule", schedule_event(client))
    pump(client)
    mails = {mail.to: mail.part("plain") for mail in outbox()}
    assert set(mails) == ELIGIBLE
    assert "Artikel 0" in mails["alle@example.org"] and mails["alle@example.org"].count("Læs mere:") == 3
    assert mails["cases@example.org"].count("Læs mere:") == 2
    assert "/artikler/case-0000\n" in mails["cases@example.org"]
    assert "/artikler/metode-0000\n" not in mails["cases@example.org"]
    assert mails["to-emner@example.org"].count("Læs mere:") == 1
    assert "/artikler/metode-0000\n" in mails["to-emner@example.org"]


def test_digest_mail_is_one_parseable_mime_message_with_rfc8058_headers(
        client: Client, add_articles: ArticleFactory, outbox: Outbox) -> None:
    recent(add_articles, 1, "erfaringer", "erfaring")
    sid = add_subscriber("laeser@example.org")
    invoke(client, "digest_schedule", schedule_event(client))
    pump(client)
    [sent] = outbox()
    raw = sent.message.as_bytes()
    message = message_from_bytes(raw, policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "laeser@example.org"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https_url, mailto = [part.strip().strip("<>") for part in str(message["List-Unsubscribe"]).split(",")]
    assert https_url == tokens.one_click_unsubscribe_url(sid)
    [token] = parse_qs(urlsplit(https_url).query)["token"]
    assert tokens.verify_manage_token(token) == sid  # the link acts for this subscriber only
    assert mailto.startswith("mailto:") and token in mailto
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "Artikel 0" in text.get_content() and https_url in text.get_content()
    assert "Afmeld nyhedsbrevet" in html.get_content() and '<html lang="da">' in html.get_content()
    assert "uge" in str(message["Subject"])


def test_a_week_with_nothing_new_sends_nothing_and_is_recorded(
        client: Client, add_articles: ArticleFactory, outbox: Outbox) -> None:
    add_articles(3, category="cases", start=datetime.now(UTC) - timedelta(days=30))  # old news
    add_subscriber("laeser@example.org")
    result = invoke(client, "digest_schedule", schedule_event(client))
    assert result["outcome"] == "nothing-new" and result["enqueued"] == 0
    assert queued_count() == 0 and outbox() == []
    assert [run.outcome for run in runs()] == ["nothing-new"]


def test_next_week_covers_only_what_was_published_since_the_last_digest(
        add_articles: ArticleFactory, outbox: Outbox, client: Client) -> None:
    monday = week_start("2026-W47") + timedelta(hours=6)
    add_articles(1, category="cases", prefix="forrige", start=monday - timedelta(days=1))
    add_subscriber("laeser@example.org")
    assert DigestPlanner(now=lambda: monday).run().outcome == "sent-to-queue"
    pump(client)
    week_after = monday + timedelta(days=7)
    assert DigestPlanner(now=lambda: week_after).run().outcome == "nothing-new"
    add_articles(1, category="cases", prefix="ny", start=week_after - timedelta(days=1))
    result = DigestPlanner(now=lambda: week_after).run()
    assert (result.digest_id, result.outcome, result.articles) == ("2026-W48", "sent-to-queue", 1)
    pump(client)
    texts = [mail.part("plain") for mail in outbox()]
    assert len(texts) == 2
    assert "/artikler/forrige-0000\n" in texts[0] and "/artikler/ny-0000\n" in texts[1]
    assert "/artikler/forrige-0000\n" not in texts[1]


def test_a_worker_that_crashes_mid_batch_is_retried_without_duplicates(
        client: Client, add_articles: ArticleFactory, outbox: Outbox) -> None:
    recent(add_articles, 1, "cases", "case")
    addresses = [f"laeser{n}@example.org" for n in range(8)]
    for address in addresses:
        add_subscriber(address)
    invoke(client, "digest_schedule", schedule_event(client))

    class Crash(BaseException):
        """The Lambda process dies: nothing of ours catches it."""

    sends = Counter[str]()

    def crash_after_third_mail(**_: Any) -> None:
        sends["SendEmail"] += 1
        if sends["SendEmail"] == 3:
            raise Crash  # SES has the third mail; its claim is never marked

    ses = aws.client("sesv2")
    ses.meta.events.register("after-call.sesv2.SendEmail", crash_after_third_mail, unique_id="crash")
    try:
        messages = aws.client("sqs").receive_message(QueueUrl=queue_url(), MaxNumberOfMessages=10,
                                                     VisibilityTimeout=0)["Messages"]
        event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                              "body": m["Body"]} for m in messages]}
        with pytest.raises(Crash):
            invoke(client, "digest_worker", event)
    finally:
        ses.meta.events.unregister("after-call.sesv2.SendEmail", unique_id="crash")
    assert len(outbox()) == 3
    assert queued_count() == 1  # one message of 8 subscribers, not deleted: it comes back

    pump(client)  # Lambda's retry
    assert recipients(outbox) == Counter({address: 1 for address in addresses})
    statuses = Counter(d.status for d in Delivery.query(digest_id_for(datetime.now(UTC))))
    assert statuses == Counter({SENT: 7, CLAIMED: 1})  # the crashed one: mailed, id unknown
    assert queued_count() == 0


def test_concurrent_workers_on_the_same_messages_mail_once(
        add_articles: ArticleFactory, outbox: Outbox) -> None:
    """At-least-once delivery can hand the same message to two workers at once."""
    recent(add_articles, 1, "cases", "case")
    for n in range(12):
        add_subscriber(f"laeser{n}@example.org")
    DigestPlanner().run()
    bodies = [m["Body"] for m in aws.client("sqs").receive_message(
        QueueUrl=queue_url(), MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]]
    assert len(bodies) == 2  # 10 subscribers per message
    records = [Record(str(n), f"handle-{n}", body) for n, body in enumerate(bodies)]
    results = []

    def work() -> None:
        results.append(DigestWorker().process(records, lambda: 60_000))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result.sent for result in results) == 12
    assert recipients(outbox) == Counter({f"laeser{n}@example.org": 1 for n in range(12)})


def test_unsubscribed_after_the_fan_out_gets_nothing(
        client: Client, add_articles: ArticleFactory, outbox: Outbox) -> None:
    recent(add_articles, 1, "cases", "case")
    stays = add_subscriber("bliver@example.org")
    leaves = add_subscriber("gaar@example.org")
    assert stays != leaves
    invoke(client, "digest_schedule", schedule_event(client))
    Subscriber(leaves).update(actions=[Subscriber.status.set(UNSUBSCRIBED),
                                       Subscriber.digest_partition.remove()])
    pump(client)
    assert recipients(outbox) == Counter({"bliver@example.org": 1})


def test_paused_sends_nothing_and_leaves_messages_queued(
        add_articles: ArticleFactory, outbox: Outbox) -> None:
    recent(add_articles, 1, "cases", "case")
    add_subscriber("laeser@example.org")
    assert DigestPlanner(paused=True).run().outcome == "paused"
    assert queued_count() == 0 and [run.outcome for run in runs()] == ["paused"]

    DigestPlanner().run()  # the switch was off for the fan-out, on for the send
    [message] = aws.client("sqs").receive_message(QueueUrl=queue_url(), VisibilityTimeout=60)["Messages"]
    record = Record(message["MessageId"], message["ReceiptHandle"], message["Body"])
    outcome = DigestWorker(paused=True).process([record], lambda: 60_000)
    assert outcome.left == [record] and outcome.done == []
    assert outbox() == []


def test_concurrent_schedule_runs_make_one_digest(add_articles: ArticleFactory) -> None:
    recent(add_articles, 2, "cases", "case")
    for n in range(25):
        add_subscriber(f"laeser{n}@example.org")
    outcomes: list[str] = []

    def run() -> None:
        outcomes.append(DigestPlanner().run().outcome)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("sent-to-queue") == 1
    assert queued_count() == 3  # 25 subscribers, 10 per message
    digest = Digest.get(DIGEST_PK, digest_id_for(datetime.now(UTC)))
    assert digest.state == ENQUEUED and digest.enqueued == 25


def test_fan_out_stopped_for_time_is_resumed_by_the_next_run(add_articles: ArticleFactory,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.digest import planner as digest_module

    monkeypatch.setattr(digest_module, "PAGE_SIZE", 4)  # several pages from a few subscribers
    recent(add_articles, 1, "cases", "case")
    for n in range(10):
        add_subscriber(f"laeser{n}@example.org")
    clock = iter([90_000, 90_000, 90_000, 1_000])  # start, page 1, page 2, then out of time
    first = DigestPlanner().run(lambda: next(clock))
    assert (first.outcome, first.enqueued, first.complete) == ("sent-to-queue", 8, False)
    second = DigestPlanner().run(lambda: 90_000)
    assert (second.outcome, second.enqueued, second.complete) == ("resumed", 2, True)
    assert queued_count() == 3  # a message per page: 4 + 4 + 2


def test_worker_stops_before_the_lambda_timeout_and_leaves_the_rest(
        add_articles: ArticleFactory, outbox: Outbox, client: Client) -> None:
    recent(add_articles, 1, "cases", "case")
    for n in range(5):
        add_subscriber(f"laeser{n}@example.org")
    DigestPlanner().run()
    messages = aws.client("sqs").receive_message(QueueUrl=queue_url(), MaxNumberOfMessages=10,
                                                 VisibilityTimeout=0)["Messages"]
    records = [Record(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in messages]
    sent: list[str] = []

    def send(message: mail.Mail) -> str:
        sent.append(mail.send(message))
        return sent[-1]

    # 60 s at the start; after two mails only 5 s are left, under the 10 s margin.
    outcome = DigestWorker(send=send).process(records, lambda: 60_000 if len(sent) < 2 else 5_000)
    assert outcome.sent == 2 and outcome.left == records and outcome.failed == []
    assert len(outbox()) == 2  # the message stays; its retry skips the two claimed
    Queue().delete([record.receipt_handle for record in outcome.done])
    pump(client)
    assert len(outbox()) == 5 and len(set(recipients(outbox))) == 5


def test_malformed_messages_fail_individually_and_end_in_the_dlq(
        client: Client, add_articles: ArticleFactory, outbox: Outbox) -> None:
    recent(add_articles, 1, "cases", "case")
    add_subscriber("laeser@example.org")
    DigestPlanner().run()
    aws.client("sqs").send_message(QueueUrl=queue_url(), MessageBody="ikke json")
    report = pump(client)
    assert report.raised >= 5  # maxReceiveCount in infra/template.yaml
    assert recipients(outbox) == Counter({"laeser@example.org": 1})
    dead = aws.client("sqs").receive_message(QueueUrl=queue_url(dead_letter=True))["Messages"]
    assert [m["Body"] for m in dead] == ["ikke json"]


def test_the_sqs_handler_with_a_generated_event(client: Client, add_articles: ArticleFactory,
                                                outbox: Outbox) -> None:
    from chalicelib.digest.messages import QueuedSubscriber

    recent(add_articles, 1, "cases", "case")
    sid = add_subscriber("laeser@example.org")
    DigestPlanner().run()
    digest = Digest.get(DIGEST_PK, digest_id_for(datetime.now(UTC)))
    body = QueuedSubscriber(digest.sk, digest.created_at.isoformat(), sid, "laeser@example.org",
                            ()).to_json()
    event = client.events.generate_sqs_event([body, body], queue_name="borgerdialog-local-digest")
    result = invoke(client, "digest_worker", event)
    assert (result["sent"], result["skipped"]) == (1, 1)  # the same message twice: one mail
    assert recipients(outbox) == Counter({"laeser@example.org": 1})


def test_the_one_click_url_in_a_digest_mail_unsubscribes(
        client: Client, add_articles: ArticleFactory, outbox: Outbox) -> None:
    """RFC 8058: the mail client POSTs ``List-Unsubscribe=One-Click`` to the https URL."""
    from chalicelib.core.config import get_settings

    recent(add_articles, 1, "cases", "case")
    sid = add_subscriber("laeser@example.org")
    invoke(client, "digest_schedule", schedule_event(client))
    pump(client)
    [sent] = outbox()
    one_click = str(sent.message["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    response = client.http.post(one_click.removeprefix(get_settings().api_url),
                                headers={"Content-Type": "application/x-www-form-urlencoded"},
                                body="List-Unsubscribe=One-Click")
    # A form post is answered with a redirect to the confirmation page; mail providers do
    # not follow it, the state change below is what counts.
    assert response.status_code in (200, 303), response.body
    subscriber = Subscriber.get(sid)
    assert subscriber.status == UNSUBSCRIBED and subscriber.digest_partition is None
    add_articles(1, category="cases", prefix="naeste", start=datetime.now(UTC) + timedelta(days=1))
    next_week = DigestPlanner(now=lambda: datetime.now(UTC) + timedelta(days=7)).run()
    assert (next_week.articles, next_week.enqueued) == (1, 0)  # next week's digest skips them
    pump(client)
    assert len(outbox()) == 1
