"""The operators' dashboard and the SES reputation alarms in infra/template.yaml: what they
watch, their thresholds against where SES acts, and the dashboard deployed on moto server's
CloudFormation (moto's CloudFormation makes no alarms: they are left out there, and listed)."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest

from chalicelib.stats.counting import METRIC_NAMES
from chalicelib.stats.metrics import NAMESPACE
from devtools import moto_cloudformation
from infra import configure
from infra.template import load_template
from tests.support.fixtures import REGION

# Where SES acts on an account (review): the alarms fire at about half of it.
SES_REVIEW = {"Reputation.BounceRate": 0.05, "Reputation.ComplaintRate": 0.001}
DIGEST_METRICS = {"DigestSent", "DigestSkipped", "DigestFailed"}


def _dashboard(body: str) -> dict[str, Any]:
    """The dashboard body with the template's ${...} placeholders filled in with dummies."""
    parsed: dict[str, Any] = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    return parsed


@pytest.mark.no_aws
def test_reputation_alarms_fire_at_half_of_where_ses_acts_and_name_the_pause_switch() -> None:
    resources = load_template()["Resources"]
    alarms = {r["Properties"]["MetricName"]: r["Properties"] for r in resources.values()
              if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("Namespace") == "AWS/SES"}
    assert set(alarms) == set(SES_REVIEW)
    for metric, review in SES_REVIEW.items():
        alarm = alarms[metric]
        assert alarm["Threshold"] == pytest.approx(review / 2), metric
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert "DIGEST_PAUSED=true" in alarm["AlarmDescription"], metric
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


@pytest.mark.no_aws
def test_the_dashboard_shows_every_metric_the_code_emits_and_the_health_signals() -> None:
    resources = load_template()["Resources"]
    body = _dashboard(resources["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    shown = {(row[0], row[1]) for widget in body["widgets"]
             for row in widget["properties"]["metrics"] if isinstance(row[0], str)}
    expressions = [row[0]["expression"] for widget in body["widgets"]
                   for row in widget["properties"]["metrics"] if isinstance(row[0], dict)]
    emitted = set(METRIC_NAMES.values()) | DIGEST_METRICS
    assert {(NAMESPACE, name) for name in emitted} <= shown
    assert {("AWS/ApiGateway", "5XXError"), ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
            ("AWS/SES", "Reputation.BounceRate"), ("AWS/SES", "Reputation.ComplaintRate")} <= shown
    assert any('MetricName="Throttles"' in expression for expression in expressions)


def test_the_dashboard_deploys_on_moto_and_the_alarms_are_listed_as_left_out() -> None:
    stage = "dev"
    subset = moto_cloudformation.supported_subset(load_template())
    for alarm in ("SesBounceRateAlarm", "SesComplaintRateAlarm"):
        assert alarm in subset.left_out, alarm
    assert "OperationsDashboard" in subset.template["Resources"]
    cfn: Any = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName=configure.stack_name(stage), TemplateBody=json.dumps(subset.template),
                     Parameters=moto_cloudformation.parameters(stage))
    stack = cfn.describe_stacks(StackName=configure.stack_name(stage))["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    cloudwatch: Any = boto3.client("cloudwatch", region_name=REGION)
    body = json.loads(cloudwatch.get_dashboard(DashboardName=f"borgerdialog-{stage}")["DashboardBody"])
    rows = [row for widget in body["widgets"] for row in widget["properties"]["metrics"]]
    assert [NAMESPACE, "SignupsConfirmed", "Stage", stage, {"label": "confirmed"}] in rows
    # The queue names were filled in from the stack's own queues.
    assert ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"borgerdialog-{stage}-digest-dlq",
            {"label": "digest DLQ"}] in rows
