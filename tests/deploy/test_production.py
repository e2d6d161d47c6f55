"""Production as AWS will read it (issue 13): one stack per stage with no local state, the CDN
reaching the stack's own API, Danish errors at the edge, stages that cannot collide, lost
events kept, alarms that say what to do, tables that outlive a mistake, aligned mail.

Each test reads infra/*.yaml, .chalice/config.json or the merged prod template that
``make package STAGE=prod MERGE=1`` builds (the ``merged_prod`` fixture), with AWS's meaning:
a condition is resolved with the default parameters the deploy command passes, a name is
checked the way AWS scopes it (per account, per region, or global). docs/deploy.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools import moto_cloudformation
from devtools.provision import ACCOUNT_ID, _Resolver
from infra import merged, policy
from infra.configure import read_config
from infra.template import INBOUND, TEMPLATE, load_template
from tests.support.fixtures import REGION, ROOT

EDGE = ROOT / "infra" / "edge.yaml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
DEPLOYED = ("dev", "prod")
# The property that is a resource's physical name, per type; AWS scopes each per account
# and region (a bucket name: globally), so a second stage in the same account collides on
# any name that does not carry the stage or the account.
PHYSICAL_NAMES = {
    "AWS::DynamoDB::Table": ("TableName",),
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::SQS::Queue": ("QueueName",),
    "AWS::SNS::Topic": ("TopicName",),
    "AWS::CloudWatch::Alarm": ("AlarmName",),
    "AWS::SES::EmailIdentity": ("EmailIdentity",),
    "AWS::SES::ConfigurationSet": ("Name",),
    "AWS::SES::ReceiptRuleSet": ("RuleSetName",),
    "AWS::CloudFront::CachePolicy": ("CachePolicyConfig", "Name"),
    "AWS::CloudFront::OriginRequestPolicy": ("OriginRequestPolicyConfig", "Name"),
    "AWS::CloudFront::ResponseHeadersPolicy": ("ResponseHeadersPolicyConfig", "Name"),
    "AWS::CloudFront::OriginAccessControl": ("OriginAccessControlConfig", "Name"),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::Budgets::Budget": ("Budget", "BudgetName"),
    "AWS::WAFv2::WebACL": ("Name",),
    "AWS::Serverless::Api": ("Name",),
}
ASYNC_TYPES = merged.ASYNC_EVENT_TYPES


def _sam(built: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((built / "sam.json").read_text(encoding="utf-8"))
    return template


def _lint(path: Path) -> list[str]:
    from cfnlint.api import ManualArgs, lint_file

    return [str(match) for match in lint_file(path, ManualArgs())]


def _resolve_ifs(value: Any, resolver: _Resolver) -> Any:
    """``value`` with every Fn::If decided and AWS::NoValue left out; other intrinsics kept."""
    if isinstance(value, list):
        items = [_resolve_ifs(item, resolver) for item in value]
        return [item for item in items if item != {"Ref": "AWS::NoValue"}]
    if isinstance(value, dict):
        if list(value) == ["Fn::If"]:
            name, yes, no = value["Fn::If"]
            return _resolve_ifs(yes if resolver.condition(name) else no, resolver)
        return {key: _resolve_ifs(item, resolver) for key, item in value.items()
                if _resolve_ifs(item, resolver) != {"Ref": "AWS::NoValue"}}
    return value


def _as_deployed(template: dict[str, Any], **parameters: str) -> dict[str, Any]:
    """The resources CloudFormation makes with the default parameters (and ``parameters``):
    conditions resolved, resources whose condition is false left out."""
    defaults = {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items()
                if "Default" in spec}
    resolver = _Resolver({**defaults, **parameters}, REGION)
    resolver.conditions = template.get("Conditions", {})
    return {logical_id: _resolve_ifs(resource, resolver)
            for logical_id, resource in template["Resources"].items()
            if "Condition" not in resource or resolver.condition(resource["Condition"])}


def _depends_on(resource: dict[str, Any]) -> set[str]:
    """What CloudFormation creates first: DependsOn and every reference."""
    return merged._references(resource)


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {logical_id: resource for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"}


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {logical_id: resource["Properties"] for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::CloudWatch::Alarm"}


def _code_blocks(markdown: str) -> list[str]:
    return re.findall(r"```(?:sh|bash)?\n(.*?)```", markdown, flags=re.DOTALL)


# --- 1. one deploy path, no local state ---------------------------------------------------

@pytest.mark.no_aws
def test_deployed_stages_are_deployed_from_the_merged_template_never_by_chalice_deploy() -> None:
    """`chalice deploy` keeps the only record of the REST API and the SQS mapping in the
    ignored .chalice/deployed/: from a fresh clone it makes a second API and then fails on the
    mapping. The runbook deploys the merged template with CloudFormation, one stack per stage."""
    commands = "\n".join(_code_blocks(DEPLOY_DOC.read_text(encoding="utf-8")))
    lines = [line.split("#", 1)[0].strip() for line in commands.splitlines()]
    assert not [line for line in lines if line.startswith("chalice deploy")]
    assert any(line.startswith("make package STAGE=") and "MERGE=1" in line for line in lines)
    assert any(line.startswith("aws cloudformation package") for line in lines)
    assert any(line.startswith("aws cloudformation deploy") and "packaged.yaml" in " ".join(lines[i:i + 3])
               for i, line in enumerate(lines))
    assert (ROOT / "docs" / "decisions" / "deploy-path.md").exists()
    # Nothing reads what a deploy left on the machine that made it.
    for path in (ROOT / "infra").glob("*.py"):
        assert ".chalice/deployed" not in path.read_text(encoding="utf-8").replace('" / "', "/"), path


@pytest.mark.no_aws
def test_the_merged_template_alone_holds_the_api_every_function_and_their_event_sources(
        merged_prod: Path) -> None:
    from app import app

    template = _sam(merged_prod)
    resources = template["Resources"]
    assert resources["RestAPI"]["Type"] == "AWS::Serverless::Api"
    names = {merged._function_name(function) for function in _functions(template).values()}
    expected = {"api_handler"} | {source.name for source in app.event_sources}
    assert names == expected
    kinds = {event["Type"] for function in _functions(template).values()
             for event in function["Properties"].get("Events", {}).values()}
    assert {"SQS", "SNS", "Schedule"} <= kinds


@pytest.mark.no_aws
def test_functions_take_every_resource_name_from_the_stack(merged_prod: Path) -> None:
    """No table, bucket, queue or topic name is copied into config.json for a deployed
    stage: each function's variable is the stack's own output value (a Ref/GetAtt)."""
    template = _sam(merged_prod)
    from_stack = {re.match(r"env (\w+)", output["Description"]).group(1): output["Value"]  # type: ignore[union-attr]
                  for output in template["Outputs"].values()
                  if output.get("Description", "").startswith("env ")}
    assert {"SITE_BUCKET", "ARTICLES_TABLE", "DIGEST_QUEUE", "SES_NOTIFICATIONS_TOPIC"} <= set(from_stack)
    for logical_id, function in _functions(template).items():
        variables = function["Properties"]["Environment"]["Variables"]
        for name, value in from_stack.items():
            if name in {"SITE_URL", "API_URL"}:
                # From the distribution, which depends on the API handler: the stage's URL
                # is configuration (and the distribution's alias), not an output.
                continue
            assert variables[name] == value, (logical_id, name)


# --- 2. the CDN reaches the stack's own API -----------------------------------------------

@pytest.mark.no_aws
def test_api_behaviour_points_at_the_stacks_rest_api_with_default_parameters(merged_prod: Path) -> None:
    template = _sam(merged_prod)
    resources = _as_deployed(template)
    config = resources["SiteDistribution"]["Properties"]["DistributionConfig"]
    (behaviour,) = [b for b in config.get("CacheBehaviors", []) if b["PathPattern"] == "/api/*"]
    (origin,) = [o for o in config["Origins"] if o["Id"] == behaviour["TargetOriginId"]]
    assert origin["DomainName"] == {"Fn::Sub": "${RestAPI}.execute-api.${AWS::Region}.amazonaws.com"}
    # No origin path: /api/articles on the site is stage "api", resource /articles.
    assert "OriginPath" not in origin
    stage_name = read_config()["stages"]["prod"]["api_gateway_stage"]
    assert resources["RestAPI"]["Properties"]["StageName"] == stage_name == merged.API_STAGE
    assert behaviour["PathPattern"] == f"/{stage_name}/*"


@pytest.mark.no_aws
def test_functions_wait_for_the_queue_and_topic_their_event_sources_name(merged_prod: Path) -> None:
    """Chalice names the queue and topic as strings: without a dependency a first create
    can make the SQS mapping or SNS subscription before the queue or topic exists."""
    template = _sam(merged_prod)
    resources = template["Resources"]
    by_name = {merged._function_name(f): (logical_id, f) for logical_id, f in _functions(template).items()}
    _, worker = by_name["digest_worker"]
    assert "DigestQueue" in _depends_on(worker)
    notifications_id, notifications = by_name["ses_notifications"]
    assert "SesNotificationsTopic" in _depends_on(notifications)
    # The permission for the inbound-mail topic names the function CloudFormation made.
    permission = resources["InboundMailInvokesNotifications"]["Properties"]
    assert permission["FunctionName"] == {"Ref": notifications_id}


# --- 3. errors at the edge in Danish ------------------------------------------------------

@pytest.mark.no_aws
def test_cdn_answers_s3s_403_with_the_404_page_and_leaves_other_errors_alone() -> None:
    resources = load_template()["Resources"]
    config = resources["SiteDistribution"]["Properties"]["DistributionConfig"]
    (mapped,) = config["CustomErrorResponses"]
    assert mapped["ErrorCode"] == 403 and mapped["ResponseCode"] == 404
    assert mapped["ResponsePagePath"] == "/404.html"
    assert mapped["ErrorCachingMinTTL"] <= 60
    # The page exists: the site build renders it.
    assert '"404.html"' in (ROOT / "editor" / "site" / "render.py").read_text(encoding="utf-8")


@pytest.mark.no_aws
def test_no_api_operation_answers_403_through_the_cdn() -> None:
    """The distribution's error responses apply to every origin: an API 403 would reach the
    visitor as the 404 page. A route that must refuse says so with another status
    (docs/deploy.md#errors-through-the-cdn). The one 403 allowed is ``NotThroughSite``: it is
    answered only to requests that went around CloudFront, so no error response sees it."""
    contract = json.loads((ROOT / "chalicelib" / "data" / "openapi.json").read_text(encoding="utf-8"))
    bypass_only = {"$ref": "#/components/responses/NotThroughSite"}
    answering_403 = [f"{method.upper()} {path}" for path, operations in contract["paths"].items()
                     for method, operation in operations.items()
                     if isinstance(operation, dict)
                     and operation.get("responses", {}).get("403", bypass_only) != bypass_only]
    assert answering_403 == [], "the CDN shows these as the 404 page: " + ", ".join(answering_403)
    # And the code: no refusal but the bypass one (core/cdn.py) is a 403.
    sources = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "chalicelib").rglob("*.py")
                        if path.name != "cdn.py")
    assert re.findall(r"\b(?:SubscriptionError|error|result_response)\([^)]*\b403\b", sources) == []


@pytest.mark.no_aws
def test_api_gateways_own_answers_are_danish_json(merged_prod: Path) -> None:
    responses = _sam(merged_prod)["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED", "INTEGRATION_TIMEOUT"} <= set(responses)
    # Each of API Gateway's own refusals a visitor or client can meet has its status and words
    # (issue 16): an unknown /api address, a method a route lacks, a quota, a body type.
    statuses = {kind: responses[kind].get("StatusCode") for kind in
                ("MISSING_AUTHENTICATION_TOKEN", "RESOURCE_NOT_FOUND", "THROTTLED", "QUOTA_EXCEEDED",
                 "UNSUPPORTED_MEDIA_TYPE", "REQUEST_TOO_LARGE", "INTEGRATION_TIMEOUT")}
    assert statuses == {"MISSING_AUTHENTICATION_TOKEN": "404", "RESOURCE_NOT_FOUND": "404", "THROTTLED": "429",
                        "QUOTA_EXCEEDED": "429", "UNSUPPORTED_MEDIA_TYPE": "415", "REQUEST_TOO_LARGE": "413",
                        "INTEGRATION_TIMEOUT": "504"}
    for kind, response in responses.items():
        body = json.loads(response["ResponseTemplates"]["application/json"])
        assert set(body) == {"Code", "Message"}, kind
        assert re.search(r"\b(ikke|igen|prøv|tjek|for)\b", body["Message"], re.IGNORECASE), kind
        assert response["ResponseParameters"]["Headers"]["Cache-Control"] == "'no-store'"


# --- 4. stages that cannot collide ---------------------------------------------------------

def _stage_independent_names(template: dict[str, Any]) -> list[str]:
    found = []
    for logical_id, resource in template["Resources"].items():
        path = PHYSICAL_NAMES.get(resource["Type"])
        if path is None or "Condition" in resource:
            continue
        value: Any = resource.get("Properties", {})
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if resource["Type"] == "AWS::Serverless::Api" and value is None:
            # Without Name, the API is named after its definition's title (Chalice: app_name).
            value = resource["Properties"].get("DefinitionBody", {}).get("info", {}).get("title")
        if value is None:
            continue  # CloudFormation generates a unique name
        if merged._references(value) & set(template["Resources"]):
            continue  # named after a resource whose name CloudFormation made unique
        text = json.dumps(value)
        if "${Stage}" not in text and '"Stage"' not in text and "AWS::AccountId" not in text \
                and not any(f"-{stage}" in text for stage in DEPLOYED):
            found.append(f"{logical_id}: {text}")
    return found


@pytest.mark.no_aws
@pytest.mark.parametrize("path", [TEMPLATE, INBOUND, EDGE], ids=lambda p: p.name)
def test_no_stage_independent_physical_name_without_a_condition(path: Path) -> None:
    assert _stage_independent_names(load_template(path)) == []


@pytest.mark.no_aws
def test_merged_template_names_its_api_per_stage_and_the_5xx_alarm_watches_that_one(
        merged_prod: Path) -> None:
    template = _sam(merged_prod)
    assert _stage_independent_names(template) == []
    api = template["Resources"]["RestAPI"]["Properties"]
    api_name = api["Name"]
    assert api_name == api["DefinitionBody"]["info"]["title"] == "borgerdialog-prod"
    assert api["DefinitionBody"]["paths"], "the merge kept Chalice's definition"
    resources = _as_deployed(template)
    resolver = _Resolver({"Stage": "prod", "ApiName": template["Parameters"]["ApiName"]["Default"]}, REGION)
    metrics = resources["Api5xxRateAlarm"]["Properties"]["Metrics"]
    watched = {resolver.resolve(dimension["Value"]) for metric in metrics if "MetricStat" in metric
               for dimension in metric["MetricStat"]["Metric"]["Dimensions"] if dimension["Name"] == "ApiName"}
    assert watched == {api_name}


# --- 5. endpoint and timeouts ---------------------------------------------------------------

@pytest.mark.no_aws
def test_deployed_stages_use_a_regional_api_and_the_api_handler_ends_before_api_gateway(
        merged_prod: Path) -> None:
    """Behind our own CloudFront an EDGE endpoint is a second CloudFront hop; API Gateway
    gives up on an integration after 29 s, so the handler must end first."""
    config = read_config()["stages"]
    for stage in DEPLOYED:
        assert config[stage]["api_gateway_endpoint_type"] == "REGIONAL", stage
        api = config[stage].get("lambda_functions", {}).get("api_handler", {})
        assert api.get("lambda_timeout", config[stage].get("lambda_timeout", 60)) < 29, stage
    resources = _sam(merged_prod)["Resources"]
    assert resources["RestAPI"]["Properties"]["EndpointConfiguration"] == "REGIONAL"
    assert resources["APIHandler"]["Properties"]["Timeout"] < 29


# --- 6. lost events -----------------------------------------------------------------------

@pytest.mark.no_aws
def test_asynchronously_invoked_functions_keep_what_they_cannot_handle(merged_prod: Path) -> None:
    template = _sam(merged_prod)
    resources = template["Resources"]
    configs = {r["Properties"]["FunctionName"]["Ref"]: r["Properties"] for r in resources.values()
               if r["Type"] == "AWS::Lambda::EventInvokeConfig"}
    asynchronous = {logical_id for logical_id, function in _functions(template).items()
                    if any(event["Type"] in ASYNC_TYPES
                           for event in function["Properties"].get("Events", {}).values())}
    assert {"SesNotifications", "DigestSchedule"} <= asynchronous
    assert set(configs) == asynchronous
    alarmed = {json.dumps(dimension["Value"]) for alarm in _alarms(template).values()
               for dimension in alarm.get("Dimensions", []) if dimension["Name"] == "QueueName"}
    granted = {resource for statement in policy.render("prod")["Statement"]
               if "sqs:SendMessage" in statement["Action"]
               for resource in ([statement["Resource"]] if isinstance(statement["Resource"], str)
                                else statement["Resource"])}
    for logical_id in asynchronous:
        destination = configs[logical_id]["DestinationConfig"]["OnFailure"]["Destination"]
        queue_id = destination["Fn::GetAtt"][0]
        queue = resources[queue_id]
        assert queue["Type"] == "AWS::SQS::Queue" and destination["Fn::GetAtt"][1] == "Arn"
        assert queue["Properties"]["MessageRetentionPeriod"] >= 7 * 24 * 3600
        # Someone hears of it, and Lambda may send there with the function's role.
        assert json.dumps({"Fn::GetAtt": [queue_id, "QueueName"]}) in alarmed
        name = queue["Properties"]["QueueName"]["Fn::Sub"].replace("${Stage}", "prod")
        assert f"arn:aws:sqs:*:*:{name}" in granted


# --- 7. alarms a person on call needs -------------------------------------------------------

@pytest.mark.no_aws
def test_every_function_has_errors_and_throttles_alarms(merged_prod: Path) -> None:
    template = _sam(merged_prod)
    watched: dict[str, set[str]] = {}
    for alarm in _alarms(template).values():
        for dimension in alarm.get("Dimensions", []):
            if alarm.get("Namespace") == "AWS/Lambda" and dimension["Name"] == "FunctionName":
                watched.setdefault(dimension["Value"]["Ref"], set()).add(alarm["MetricName"])
    for logical_id in _functions(template):
        assert {"Errors", "Throttles"} <= watched.get(logical_id, set()), logical_id


@pytest.mark.no_aws
def test_the_alarms_on_call_needs_exist() -> None:
    resources = load_template()["Resources"]
    metrics = {(p.get("Namespace"), p.get("MetricName")) for p in _alarms({"Resources": resources}).values()}
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage") in metrics
    assert ("AWS/SES", "Reputation.BounceRate") in metrics
    assert ("AWS/SES", "Reputation.ComplaintRate") in metrics
    rates = {p["MetricName"]: p["Threshold"] for p in _alarms({"Resources": resources}).values()
             if p.get("Namespace") == "AWS/SES"}
    assert rates["Reputation.BounceRate"] < 0.05 and rates["Reputation.ComplaintRate"] < 0.001
    edge_resources = load_template(EDGE)["Resources"]
    assert any(r["Type"] == "AWS::Budgets::Budget" for r in edge_resources.values())
    edge = _alarms(load_template(EDGE))
    assert any(p["Namespace"] == "AWS/CloudFront" and p["MetricName"] == "5xxErrorRate" for p in edge.values())


@pytest.mark.no_aws
def test_every_alarm_says_what_to_do_and_where_the_runbook_is(merged_prod: Path) -> None:
    anchors = {re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
               for heading in re.findall(r"^#+ (.+)$", OPERATIONS_DOC.read_text(encoding="utf-8"), re.MULTILINE)}
    templates = {"template.yaml": load_template(), "edge.yaml": load_template(EDGE), "sam.json": _sam(merged_prod)}
    for source, template in templates.items():
        for logical_id, alarm in _alarms(template).items():
            description = " ".join(str(alarm.get("AlarmDescription", "")).split())
            todo = re.search(r"\bDo: (.{20,}?) Runbook: docs/operations\.md#([a-z0-9-]+)$", description)
            assert todo, f"{source} {logical_id}: say what to do and link the runbook: {description!r}"
            assert todo.group(2) in anchors, f"{source} {logical_id}: no section #{todo.group(2)}"
            assert alarm.get("AlarmActions"), f"{source} {logical_id} notifies nobody"


# --- 8. an edge that takes the load ----------------------------------------------------------

@pytest.mark.no_aws
def test_edge_template_passes_cfn_lint() -> None:
    assert _lint(EDGE) == []


@pytest.mark.no_aws
def test_web_acl_limits_api_writes_and_runs_the_common_rule_set() -> None:
    edge = load_template(EDGE)
    (acl,) = [r["Properties"] for r in edge["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACL"]
    assert acl["Scope"] == "CLOUDFRONT"
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    rate = next(rule for rule in rules.values() if "RateBasedStatement" in rule["Statement"])
    scope = json.dumps(rate["Statement"]["RateBasedStatement"]["ScopeDownStatement"])
    assert '"SearchString": "POST"' in scope and '"SearchString": "/api/"' in scope
    blocked = rate["Action"]["Block"]["CustomResponse"]
    assert blocked["ResponseCode"] == 429  # not 403: the distribution maps 403 to the 404 page
    body = json.loads(acl["CustomResponseBodies"][blocked["CustomResponseBodyKey"]]["Content"])
    assert set(body) == {"Code", "Message"}
    assert any(rule["Statement"].get("ManagedRuleGroupStatement", {}).get("Name") == "AWSManagedRulesCommonRuleSet"
               for rule in rules.values())
    assert "WebAclArn" in {o for o in edge["Outputs"]}


@pytest.mark.no_aws
def test_distribution_takes_the_web_acl_and_logs_and_the_api_stage_logs(merged_prod: Path) -> None:
    template = load_template()
    arn = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/borgerdialog-prod-edge/abc"
    with_acl = _as_deployed(template, Stage="prod", WebAclArn=arn)
    config = with_acl["SiteDistribution"]["Properties"]["DistributionConfig"]
    assert config["WebACLId"] == {"Ref": "WebAclArn"}
    assert "WebACLId" not in _as_deployed(template, Stage="prod")["SiteDistribution"]["Properties"][
        "DistributionConfig"]
    bucket_id = config["Logging"]["Bucket"]["Fn::GetAtt"][0]
    ownership = with_acl[bucket_id]["Properties"]["OwnershipControls"]["Rules"][0]["ObjectOwnership"]
    assert ownership == "BucketOwnerPreferred"  # standard logging writes with an ACL grant
    api = _sam(merged_prod)["Resources"]["RestAPI"]
    group = api["Properties"]["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    assert template["Resources"][group]["Type"] == "AWS::Logs::LogGroup"
    assert "ApiGatewayAccount" in _depends_on(api)


# --- 9. proof of consent outlives a mistake ---------------------------------------------------

@pytest.mark.no_aws
def test_consent_tables_survive_a_deleted_stack_and_the_site_table_can_be_restored() -> None:
    resources = load_template()["Resources"]
    for logical_id in ("SubscribersTable", "LedgerTable"):
        table = resources[logical_id]
        assert table.get("DeletionPolicy") == "Retain", logical_id
        assert table.get("UpdateReplacePolicy") == "Retain", logical_id
        assert table["Properties"].get("DeletionProtectionEnabled") is True, logical_id
    for logical_id in ("SubscribersTable", "LedgerTable", "SiteTable", "ArticlesTable"):
        recovery = resources[logical_id]["Properties"].get("PointInTimeRecoverySpecification", {})
        assert recovery.get("PointInTimeRecoveryEnabled") is True, logical_id


# --- 10. mail authentication -------------------------------------------------------------------

@pytest.mark.no_aws
def test_mail_from_is_a_subdomain_of_the_sending_domain_and_dns_names_dmarc() -> None:
    template = load_template()
    identity = _as_deployed(template, Stage="prod")["MailIdentity"]["Properties"]
    resolver = _Resolver({name: str(spec["Default"]) for name, spec in template["Parameters"].items()
                          if "Default" in spec} | {"Stage": "prod"}, REGION)
    domain = resolver.resolve(identity["EmailIdentity"])
    mail_from = resolver.resolve(identity["MailFromAttributes"]["MailFromDomain"])
    assert mail_from.endswith("." + domain)  # aligned (relaxed) with From for DMARC's SPF check
    runbook = DEPLOY_DOC.read_text(encoding="utf-8")
    assert f"_dmarc.{domain}" in runbook and "v=DMARC1" in runbook
    assert "feedback-smtp." in runbook and "include:amazonses.com" in runbook
    assert "List-Unsubscribe-Post" in runbook and "RFC 8058" in runbook


# --- 11. a fresh account -------------------------------------------------------------------------

@pytest.mark.no_aws
@pytest.mark.parametrize("stage", DEPLOYED)
def test_bucket_names_cannot_collide_across_accounts(stage: str) -> None:
    template = load_template()
    resolver = _Resolver({"Stage": stage}, REGION)
    resolver.conditions = template["Conditions"]
    buckets = [r for r in _as_deployed(template, Stage=stage).values() if r["Type"] == "AWS::S3::Bucket"]
    assert buckets
    for bucket in buckets:
        assert resolver.resolve(bucket["Properties"]["BucketName"]).endswith(f"-{ACCOUNT_ID}")
    # The local stage keeps its short name (the config and the tests use it).
    local = _as_deployed(template, Stage="local")["SiteBucket"]["Properties"]["BucketName"]
    assert _Resolver({"Stage": "local"}, REGION).resolve(local) == "borgerdialog-local-site"


@pytest.mark.no_aws
def test_step_0_asks_for_the_concurrency_the_stages_reserve() -> None:
    """New accounts may have a concurrency quota of 10; Lambda keeps 100 unreserved, so a stage
    reserving N needs a quota of at least N + 100, asked for before the first deploy."""
    runbook = DEPLOY_DOC.read_text(encoding="utf-8")
    step0 = runbook.index("### Step 0")
    assert step0 < runbook.index("### Step 1")
    section = runbook[step0:runbook.index("### Step 1")]
    for stage in DEPLOYED:
        functions = read_config()["stages"][stage]["lambda_functions"]
        reserved = sum(f["reserved_concurrency"] for f in functions.values())
        assert f"{stage} reserves {reserved}" in section, f"say in step 0: {stage} reserves {reserved}"
        assert f"{reserved + 100}" in section
    assert "production access" in section


# --- 12. bytes through API Gateway ---------------------------------------------------------------

@pytest.mark.no_aws
def test_rest_api_passes_the_audio_as_bytes_whatever_the_browser_accepts_first(merged_prod: Path) -> None:
    """API Gateway looks at the first Accept value only: a browser's navigation (text/html
    first) or <audio> element (audio/webm first) must still get the WAV's bytes. So the API
    treats */* as binary, and the function base64-encodes only the audio (Chalice's
    binary_types), which API Gateway alone turns back into bytes."""
    from app import app

    definition = _sam(merged_prod)["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert definition["x-amazon-apigateway-binary-media-types"] == ["*/*"]
    assert app.api.binary_types == ["audio/wav", "audio/*"]


# --- the merged template on moto's CloudFormation ---------------------------------------------------

def test_merged_template_deploys_on_moto_as_far_as_moto_goes(merged_prod: Path) -> None:
    template = _sam(merged_prod)
    # moto has no SAM transform: the functions, the API and what refers to them are left out,
    # openly (python -m devtools.moto_cloudformation --list names the same kinds).
    del template["Transform"]
    subset = moto_cloudformation.supported_subset(template)
    assert all(template["Resources"][logical_id]["Type"].startswith("AWS::Serverless::")
               for logical_id in _functions(template) | {"RestAPI": {}})
    assert {"ArticlesTable", "SubscribersTable", "SiteBucket", "DigestQueue", "AsyncFailureQueue",
            "SesNotificationsTopic"} <= set(subset.template["Resources"])
    cfn: Any = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName="borgerdialog-prod", TemplateBody=json.dumps(subset.template),
                     Capabilities=["CAPABILITY_IAM"])
    stack = cfn.describe_stacks(StackName="borgerdialog-prod")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    assert outputs["SiteBucketName"] == f"borgerdialog-prod-site-{stack['StackId'].split(':')[4]}"
    boto3.client("sqs", region_name=REGION).get_queue_url(QueueName="borgerdialog-prod-async-failures")
