"""``python -m editor replay-failed`` against moto server: Lambda's failure records in the
async-failures queue go back to the function that failed on them, and only those leave the
queue."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devtools.emulators.moto_server import MotoServer
from editor import cli, replay
from tests.support.fixtures import REGION

QUEUE = "borgerdialog-local-async-failures"


@pytest.fixture
def function(moto: MotoServer) -> Iterator[str]:
    """A function on moto server that accepts invocations (moto's stand-in runs no code)."""
    request = urllib.request.Request(  # noqa: S310 - our loopback moto server
        f"{moto.url}/moto-api/config", method="POST",
        data=json.dumps({"lambda": {"use_docker": False}}).encode())
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - our loopback moto server
    iam: Any = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="notifications", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return None\n")
    made = boto3.client("lambda", region_name=REGION).create_function(
        FunctionName="borgerdialog-local-ses_notifications", Runtime="python3.11",
        Role=role["Role"]["Arn"], Handler="handler.handle", Code={"ZipFile": code.getvalue()})
    yield str(made["FunctionArn"])


def _failure_record(function_arn: str, payload: dict[str, Any]) -> str:
    """What Lambda's on-failure destination sends to SQS (version 1.0)."""
    return json.dumps({
        "version": "1.0", "timestamp": "2026-12-01T06:00:00.000Z",
        "requestContext": {"requestId": "r-1", "functionArn": f"{function_arn}:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                            "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "ThrottlingException", "errorType": "ClientError"},
    })


def _invocations(client: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    client.meta.events.register("before-call.lambda.Invoke",
                                lambda params, **_: seen.append(params))
    return seen


def _bounce(address: str) -> dict[str, Any]:
    message = {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent",
                                                        "bouncedRecipients": [{"emailAddress": address}]}}
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(message)}}]}


def test_replay_gives_each_failed_event_back_to_its_function_and_keeps_the_unreadable(
        function: str) -> None:
    sqs: Any = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    payloads = [_bounce("a@example.dk"), _bounce("b@example.dk")]
    for payload in payloads:
        sqs.send_message(QueueUrl=url, MessageBody=_failure_record(function, payload))
    sqs.send_message(QueueUrl=url, MessageBody="not a failure record")
    lambda_client: Any = boto3.client("lambda", region_name=REGION)
    invoked = _invocations(lambda_client)

    counted = replay.replay(sqs, lambda_client, url, dry_run=True)
    assert counted.waiting == {f"{function}:$LATEST": 2} and len(counted.unreadable) == 1
    assert invoked == []

    done = replay.replay(sqs, lambda_client, url)
    assert done.replayed == {f"{function}:$LATEST": 2} and len(done.unreadable) == 1
    assert [json.loads(call["body"]) for call in invoked] == payloads
    assert {call["headers"]["X-Amz-Invocation-Type"] for call in invoked} == {"Event"}
    # Only the unreadable message is left (hidden for the rest of the run).
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert (int(counts["ApproximateNumberOfMessages"]),
            int(counts["ApproximateNumberOfMessagesNotVisible"])) == (0, 1)


def test_the_command_finds_the_stages_queue_and_reports(
        function: str, capsys: pytest.CaptureFixture[str]) -> None:
    sqs: Any = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=_failure_record(function, _bounce("c@example.dk")))
    assert replay.queue_name({"STAGE": "local"}) == QUEUE

    assert cli.main(["replay-failed"]) == 0
    printed = capsys.readouterr().out
    assert f"replayed      1  {function}:$LATEST" in printed
    assert f"1 event(s) replayed from {QUEUE}" in printed
    assert "Messages" not in sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
