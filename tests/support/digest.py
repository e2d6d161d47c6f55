"""Helpers for the digest tests: subscribers in any state, and an SQS poller that drives
the worker from the real queue on moto server the way Lambda's event source mapping does."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalice.local import LambdaContext
from chalice.test import Client

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import CONFIRMED, DIGEST_PARTITION, Subscriber
from tests.support.fixtures import SES_FIXTURES


def invoke(client: Client, function_name: str, payload: Any) -> Any:
    """``client.lambda_.invoke(...).payload`` with the timeout the function is deployed with.

    Chalice's test client gives every function a 3 s context; the digest handlers plan by
    the time left, and on a loaded machine a schedule run that AWS gives 300 s could run out
    of it. Tests of the time limit pass their own clock to the planner or worker.
    """
    lambda_client: Any = client.lambda_
    config = lambda_client._config
    scoped = config.scope(config.chalice_stage, function_name)
    deployed = config.scope("prod", function_name).lambda_timeout or 60  # Chalice's default
    context = LambdaContext(function_name, memory_size=scoped.lambda_memory_size,
                            max_runtime_ms=deployed * 1000)
    with lambda_client._patched_env_vars(scoped.environment_variables):
        return lambda_client._app.handler_map[function_name](payload, context)


def add_subscriber(email: str, status: str = CONFIRMED, topics: Sequence[str] = ()) -> str:
    """Write a subscriber straight into the table (signup has its own tests); returns the id."""
    sid = tokens.subscriber_id(email.strip().lower())
    now = datetime.now(UTC)
    Subscriber(
        sid, email=email, status=status, topics=list(topics), created_at=now, updated_at=now,
        confirmed_at=now if status == CONFIRMED else None,
        digest_partition=DIGEST_PARTITION if status == CONFIRMED else None,
    ).save()
    return sid


def queue_url(dead_letter: bool = False) -> str:
    name = get_settings().digest_queue + ("-dlq" if dead_letter else "")
    return str(aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def queued_count(dead_letter: bool = False) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(dead_letter),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    values = attributes["Attributes"]
    return int(values["ApproximateNumberOfMessages"]) + int(values["ApproximateNumberOfMessagesNotVisible"])


def _lambda_record(message: dict[str, Any]) -> dict[str, Any]:
    """An SQS message as Lambda hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:eu-north-1:123456789012:{get_settings().digest_queue}",
        "awsRegion": "eu-north-1",
    }


@dataclass
class PumpReport:
    invocations: int = 0
    raised: int = 0  # invocations that ended in an exception (messages returned)


def pump(client: Client, *, max_invocations: int = 200, batch_size: int = 2) -> PumpReport:
    """Receive → invoke ``digest_worker`` → until the queue is empty.

    As Lambda does, a batch whose invocation raised comes back: here at once (visibility 0)
    instead of after the visibility timeout. Handled messages were deleted by the handler.
    """
    sqs = aws.client("sqs")
    url = queue_url()
    report = PumpReport()
    while report.invocations < max_invocations:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=batch_size,
                                       VisibilityTimeout=60, AttributeNames=["All"]).get("Messages", [])
        if not messages:
            return report
        report.invocations += 1
        event = {"Records": [_lambda_record(message) for message in messages]}
        try:
            invoke(client, "digest_worker", event)
        except Exception:
            report.raised += 1
            _return_to_queue(url, messages)
    raise AssertionError(f"queue not empty after {max_invocations} invocations")


def _return_to_queue(url: str, messages: list[dict[str, Any]]) -> None:
    # Deleted ones fail here (their handle is gone); the rest become visible again.
    aws.client("sqs").change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
        for n, m in enumerate(messages)])


def schedule_event(client: Client) -> dict[str, Any]:
    return client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={},
        resources=["arn:aws:events:eu-north-1:123456789012:rule/borgerdialog-digest_schedule"],
        region="eu-north-1")


def notify(client: Client, notification: str | dict[str, Any]) -> list[dict[str, str]]:
    """Deliver an SES notification to ``ses_notifications``: a sample's file name
    (tests/fixtures/ses/) or the notification itself."""
    message = (SES_FIXTURES / notification).read_text(encoding="utf-8") if isinstance(notification, str) \
        else json.dumps(notification)
    event = client.events.generate_sns_event(message=message, subject="Amazon SES Email Event Notification")
    actions: list[dict[str, str]] = invoke(client, "ses_notifications", event)["actions"]
    return actions
