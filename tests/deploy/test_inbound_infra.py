"""infra/inbound.yaml: SES email receiving for the List-Unsubscribe mailto, a separate stack
in a receiving region. It lints, deploys on moto's CloudFormation, and stays in step with
the app (the address it receives for, the function it invokes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.core import config
from devtools import moto_cloudformation
from infra.template import load_template
from tests.support.fixtures import ROOT

INBOUND = ROOT / "infra" / "inbound.yaml"
# SES receives mail in a few regions only, eu-north-1 (the app's) not among them; eu-west-1
# is the one in the EU the README deploys this stack to.
RECEIVING_REGION = "eu-west-1"
FUNCTION_ARN = "arn:aws:lambda:eu-north-1:123456789012:function:borgerdialog-dev-ses_notifications"


def _lint(path: Path) -> list[str]:
    from cfnlint.api import ManualArgs, lint_file

    return [str(match) for match in lint_file(path, ManualArgs())]


def _rule() -> dict[str, Any]:
    rules: list[dict[str, Any]] = [r for r in load_template(INBOUND)["Resources"].values()
                                   if r["Type"] == "AWS::SES::ReceiptRule"]
    (rule,) = rules
    return rule


@pytest.mark.no_aws
def test_inbound_template_passes_cfn_lint() -> None:
    assert _lint(INBOUND) == []


@pytest.mark.no_aws
def test_the_rule_scans_and_publishes_the_unsubscribe_address_to_its_topic() -> None:
    template = load_template(INBOUND)
    rule = _rule()["Properties"]["Rule"]
    assert rule["Enabled"] is True and rule["ScanEnabled"] is True
    assert rule["Recipients"] == [{"Ref": "Recipient"}]
    (action,) = rule["Actions"]
    assert action["SNSAction"] == {"TopicArn": {"Ref": "InboundMailTopic"}, "Encoding": "UTF-8"}
    # The rule's default address is the one the digest's List-Unsubscribe names by default.
    default = config.load({"STAGE": "local", "APP_SECRET": "x" * 32}).unsubscribe_mailto
    assert template["Parameters"]["Recipient"]["Default"] == default
    # Only SES, and only for this account's rule sets, may publish to the topic.
    (policy,) = [r["Properties"] for r in template["Resources"].values()
                 if r["Type"] == "AWS::SNS::TopicPolicy"]
    (grant,) = policy["PolicyDocument"]["Statement"]
    assert grant["Principal"] == {"Service": "ses.amazonaws.com"} and grant["Action"] == "sns:Publish"
    assert "AWS:SourceAccount" in grant["Condition"]["StringEquals"]


@pytest.mark.no_aws
def test_the_topic_invokes_the_handler_the_app_deploys_for_ses_notifications() -> None:
    """inbound.yaml subscribes a function; template.yaml lets that topic invoke it. Both must
    name the Chalice function whose handler reads "Received" notifications."""
    import app

    assert "ses_notifications" in app.app.handler_map
    main = load_template()
    permission = main["Resources"]["InboundMailInvokesNotifications"]["Properties"]
    assert permission["FunctionName"] == {"Fn::Sub": "${ApiName}-${Stage}-ses_notifications"}
    assert permission["SourceArn"] == {"Ref": "InboundMailTopicArn"}
    app_name = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))["app_name"]
    assert main["Parameters"]["ApiName"]["Default"] == app_name
    subscription = next(r for r in load_template(INBOUND)["Resources"].values()
                        if r["Type"] == "AWS::SNS::Subscription")["Properties"]
    assert subscription["Protocol"] == "lambda"
    assert subscription["Endpoint"] == {"Ref": "NotificationsFunctionArn"}


def test_inbound_stack_deploys_on_moto_in_the_receiving_region() -> None:
    subset = moto_cloudformation.supported_subset(load_template(INBOUND))
    # moto's CloudFormation makes the topic; the SES resources, the policy and the
    # subscription are left out openly (python -m devtools.moto_cloudformation lists the same kind).
    assert {"InboundMailTopic"} <= set(subset.template["Resources"])
    cfn: Any = boto3.client("cloudformation", region_name=RECEIVING_REGION)
    cfn.create_stack(StackName="borgerdialog-dev-inbound", TemplateBody=json.dumps(subset.template),
                     Parameters=moto_cloudformation.parameters("dev", NotificationsFunctionArn=FUNCTION_ARN))
    stack = cfn.describe_stacks(StackName="borgerdialog-dev-inbound")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    topics = boto3.client("sns", region_name=RECEIVING_REGION).list_topics()["Topics"]
    assert {"TopicArn": outputs["InboundMailTopicArn"]} in topics
    assert outputs["InboundMailTopicArn"].startswith(f"arn:aws:sns:{RECEIVING_REGION}:")
    assert outputs["InboundMailTopicArn"].endswith(":borgerdialog-dev-inbound-mail")
