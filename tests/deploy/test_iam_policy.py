"""The hand-written IAM policy and the code agree: every AWS action the Lambda's code calls
is allowed on its resource, and every allowed action is one the code (or the Lambda
runtime, for its logs and event sources) needs. Both directions, so neither drifts.

The calls are found by reading the code (devtools/aws_actions.py); the policy is what
infra/policy.py renders from infra/iam/*.yaml for a deployed stage.
"""

from __future__ import annotations

import fnmatch
import textwrap
from pathlib import Path

import pytest

from devtools import aws_actions
from infra import policy

pytestmark = pytest.mark.no_aws

STAGE = "dev"
ARN_PREFIX = "arn:aws:dynamodb:eu-north-1:123456789012:table/"
# What the Lambda runtime does itself: write the function's logs.
RUNTIME_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
# Event sources poll on the function role's behalf (Chalice adds no policy when
# autogen_policy is false, so the fragments must).
EVENT_SOURCE_ACTIONS = {
    "SQSEventConfig": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
    "DynamoDBEventConfig": {"dynamodb:DescribeStream", "dynamodb:GetRecords",
                            "dynamodb:GetShardIterator", "dynamodb:ListStreams"},
    "KinesisEventConfig": {"kinesis:DescribeStream", "kinesis:GetRecords",
                           "kinesis:GetShardIterator", "kinesis:ListStreams"},
}
# Actions AWS authorises only on "*" (no resource-level permissions).
STAR_ONLY_ACTIONS = {"ses:GetAccount", "ses:GetSendQuota", "cloudwatch:PutMetricData",
                     "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _grants(stage: str = STAGE) -> list[tuple[str, str, str]]:
    """(Sid, action, resource pattern) for every Allow in the rendered policy."""
    found: list[tuple[str, str, str]] = []
    for statement in policy.render(stage)["Statement"]:
        assert statement["Effect"] == "Allow", statement["Sid"]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [
            statement["Resource"]]
        found.extend((statement["Sid"], action, resource) for action in actions for resource in resources)
    return found


def _event_source_actions() -> set[str]:
    from app import app

    needed: set[str] = set()
    for source in app.event_sources:
        needed |= EVENT_SOURCE_ACTIONS.get(type(source).__name__, set())
    return needed


def _table(resource: str) -> str:
    """The base table of a DynamoDB resource (``t``, ``t/index/x``, ``t/stream/*``)."""
    return resource.split("/", 1)[0]


def test_every_action_the_code_calls_is_allowed_on_its_resource() -> None:
    grants = _grants()
    calls = aws_actions.code_calls()
    missing = []
    for call in calls:
        if call.resource is None:
            allowed = any(action == call.action for _, action, _ in grants)
        else:
            arn = ARN_PREFIX + call.resource.replace("${Stage}", STAGE)
            allowed = any(action == call.action and fnmatch.fnmatchcase(arn, pattern)
                          for _, action, pattern in grants)
        if not allowed:
            missing.append(f"{call.action} on {call.resource or '(its resource)'} at {call.where}")
    for action in sorted(_event_source_actions()):
        if not any(granted == action for _, granted, _ in grants):
            missing.append(f"{action} (an event source of the app polls with it)")
    assert not missing, "add to infra/iam/<capability>.yaml, then python -m infra.policy:\n" + "\n".join(
        sorted(set(missing)))


def test_every_allowed_action_is_one_the_code_calls() -> None:
    calls = aws_actions.code_calls()
    needed_elsewhere = RUNTIME_ACTIONS | _event_source_actions()
    unused = []
    for sid, action, pattern in _grants():
        if action in needed_elsewhere:
            continue
        if action.startswith("dynamodb:") and ":table/" in pattern:
            table = _table(pattern.split(":table/", 1)[1])
            used = any(call.action == action and call.resource is not None and fnmatch.fnmatchcase(
                _table(call.resource.replace("${Stage}", STAGE)), table) for call in calls)
        else:
            used = any(call.action == action for call in calls)
        if not used:
            unused.append(f"{sid}: {action} on {pattern}")
    assert not unused, "no code the Lambda runs calls these; remove them from infra/iam:\n" + "\n".join(
        sorted(set(unused)))


def test_no_wildcard_actions_and_no_star_resources_except_where_aws_requires_them() -> None:
    for stage in policy.DEPLOYED_STAGES:
        for sid, action, pattern in _grants(stage):
            assert "*" not in action, f"{sid}: wildcard action {action}"
            if pattern == "*":
                assert action in STAR_ONLY_ACTIONS, f"{sid}: {action} on * (name its resource)"
            assert "borgerdialog" in pattern or action in STAR_ONLY_ACTIONS, f"{sid}: {pattern}"
            other = "prod" if stage == "dev" else "dev"
            assert f"borgerdialog-{other}" not in pattern and f"borgerdialog/{other}" not in pattern


def test_the_reader_finds_the_code_shapes_we_write(tmp_path: Path) -> None:
    """The reader on the shapes the code base uses: a call it cannot follow is not counted,
    so it must follow these."""
    from chalicelib.articles.model import Article  # noqa: F401 - the reader resolves by name

    source = tmp_path / "sample.py"
    source.write_text(textwrap.dedent('''
        from pynamodb.transactions import TransactGet, TransactWrite
        from chalicelib.core import aws
        from chalicelib.articles.model import Article

        class Service:
            def __init__(self, model: type[Article] = Article) -> None:
                self._model = model
                self._s3 = aws.client("s3")

            def run(self, slug: str, found: Article | None) -> None:
                self._s3.head_object(Bucket="b", Key=slug)        # s3:GetObject
                aws.client("sesv2").send_email()                  # ses:SendEmail
                pages = aws.client("s3").get_paginator("list_objects_v2")  # s3:ListBucket
                index = self._model.published_index
                for article in index.query("published"):          # Query on the index
                    article.update(actions=[])                    # UpdateItem
                if found is not None:
                    found.delete()                                # DeleteItem
                with Article.batch_write() as batch:              # BatchWriteItem
                    batch.save(Article(slug))
                with TransactWrite() as tx:
                    tx.save(Article(slug))                        # PutItem
                    tx.condition_check(Article, slug, condition=None)  # ConditionCheckItem
                with TransactGet() as reads:
                    reads.get(Article, slug)                      # GetItem
                image = object()
                image.save("x.png")                               # not an AWS call
                {}.update(a=1)                                    # not an AWS call
    '''), encoding="utf-8")
    calls = aws_actions._ModuleReader(source, aws_actions.Models.load()).read()
    found = {(call.action, call.resource) for call in calls}
    table = "borgerdialog-${Stage}-articles"
    assert found == {
        ("s3:GetObject", None), ("ses:SendEmail", None), ("ses:SendRawEmail", None), ("s3:ListBucket", None),
        ("dynamodb:Query", f"{table}/index/published-index"), ("dynamodb:UpdateItem", table),
        ("dynamodb:DeleteItem", table), ("dynamodb:BatchWriteItem", table), ("dynamodb:PutItem", table),
        ("dynamodb:ConditionCheckItem", table), ("dynamodb:GetItem", table),
    }


def test_only_modules_the_lambda_imports_are_read() -> None:
    """The editor's publish CLI runs with the editor's credentials, not the Lambda's role."""
    read = {path.relative_to(aws_actions.ROOT).as_posix() for path in aws_actions.lambda_modules()}
    assert "app.py" in read and "chalicelib/articles/service.py" in read
    assert not any(path.startswith("editor/") for path in read)
