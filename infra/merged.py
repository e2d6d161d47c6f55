"""The one template a deployed stage is deployed from: infra/template.yaml and Chalice's SAM
output in one stack, with nothing kept on the deploying machine (docs/deploy.md,
docs/decisions/deploy-path.md).

Two steps, both run by ``make package STAGE=<stage> MERGE=1`` (devtools/lambda_package.py):

``merge_template(stage)`` is what ``chalice package --merge-template`` merges into its output:
infra/template.yaml with the stage's defaults, ``/api/*`` wired to the stack's own ``RestAPI``
(origin ``<RestAPI>.execute-api.<region>.amazonaws.com``, no origin path: Chalice's stage is
``api``, so ``/api/articles`` on the site is ``/api/articles`` on API Gateway), and the REST
API's name per stage, throttling, access log and Danish gateway responses.

``wire_functions(template)`` then works on the merged SAM template, where Chalice's
functions exist: each function waits for the queue or topic its event source names only as a
string (``DependsOn``), takes its resource names from the stack itself (so no name is copied
into ``.chalice/config.json``), sends what it cannot handle when invoked asynchronously to the
async-failures queue (``AWS::Lambda::EventInvokeConfig``), and has an Errors and a Throttles
alarm whose description says what to do.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import urlparse

from infra.template import load_template

# Chalice's API stage (api_gateway_stage in .chalice/config.json): the first path segment.
API_STAGE = "api"
ASYNC_FAILURE_QUEUE = "AsyncFailureQueue"
# Event sources that invoke their function asynchronously: Lambda retries twice, then drops
# the event unless an on-failure destination takes it.
ASYNC_EVENT_TYPES = frozenset({"SNS", "Schedule", "ScheduleV2", "S3", "CloudWatchEvent",
                               "EventBridgeRule"})
_ENV_DESCRIPTION = re.compile(r"^env ([A-Z][A-Z0-9_]*)\b")
_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")

# API Gateway's own answers (no route matched, throttled, the function failed or took too
# long) in the API's shape: Danish {"Code", "Message"}. SAM writes them into the API's
# definition (x-amazon-apigateway-gateway-responses), so every deployment carries them;
# separate AWS::ApiGateway::GatewayResponse resources would be dropped by the next
# deployment of the definition (aws/serverless-application-model#390).
_NO_STORE = {"Cache-Control": "'no-store'"}
_RETRY = {**_NO_STORE, "Retry-After": "'5'"}


def _response(status: str | None, code: str, message: str, headers: dict[str, str]) -> dict[str, Any]:
    body = '{"Code": "%s", "Message": "%s"}' % (code, message)  # noqa: UP031 - JSON braces
    response: dict[str, Any] = {"ResponseParameters": {"Headers": headers},
                                "ResponseTemplates": {"application/json": body}}
    if status is not None:
        response["StatusCode"] = status
    return response


GATEWAY_RESPONSES: dict[str, dict[str, Any]] = {
    # An address no route has: API Gateway says 403 "Missing Authentication Token".
    "MISSING_AUTHENTICATION_TOKEN": _response(
        "404", "NotFoundError",
        "Adressen findes ikke i API'et. De gyldige adresser står i /api/openapi.json.", _NO_STORE),
    "THROTTLED": _response(
        "429", "TooManyRequests",
        "Der er kommet for mange forespørgsler lige nu. Vent et øjeblik, og prøv igen.", _RETRY),
    # Over a usage plan's quota: the same wait-and-retry as throttling.
    "QUOTA_EXCEEDED": _response(
        "429", "TooManyRequests",
        "Der er kommet for mange forespørgsler lige nu. Vent et øjeblik, og prøv igen.", _RETRY),
    # A resource without that method (e.g. DELETE on a route that only has GET).
    "RESOURCE_NOT_FOUND": _response(
        "404", "NotFoundError",
        "Adressen findes ikke i API'et. De gyldige adresser står i /api/openapi.json.", _NO_STORE),
    "UNSUPPORTED_MEDIA_TYPE": _response(
        "415", "UnsupportedMediaType",
        "Indholdet har en type, API'et ikke tager imod. Send JSON (application/json) eller en formular.",
        _NO_STORE),
    "REQUEST_TOO_LARGE": _response(
        "413", "RequestTooLarge", "Forespørgslen er for stor. Send mindre indhold.", _NO_STORE),
    "INTEGRATION_TIMEOUT": _response(
        "504", "GatewayTimeout", "Svaret tog for lang tid. Prøv igen om lidt.", _RETRY),
    # Everything else keeps its status and says what kind of problem it was.
    "DEFAULT_4XX": _response(
        None, "BadRequest",
        "Forespørgslen kunne ikke modtages. Tjek adressen, metoden og indholdet, og prøv igen.",
        _NO_STORE),
    "DEFAULT_5XX": _response(
        None, "ServiceUnavailable", "Tjenesten svarer ikke lige nu. Prøv igen om lidt.", _RETRY),
}

# What the on-call person does when a function's alarm fires, by Chalice's function name.
_FUNCTION_ACTIONS = {
    "api_handler": "read its logs (a 500 is a bug with its traceback). Throttles: the API "
                   "needs more reserved concurrency (lambda_functions.api_handler).",
    "digest_schedule": "read its logs, then run `python -m editor digest runs`; the next "
                       "scheduled run resumes the fan-out. Failed runs wait in the "
                       "async-failures queue.",
    "digest_worker": "read its logs; failed messages return to the queue and end in the "
                     "DLQ. To stop mail going out, set DIGEST_PAUSED=true and deploy.",
    "ses_notifications": "read its logs: bounces and complaints not handled are not "
                         "suppressed yet. Failed events wait in the async-failures queue: "
                         "replay them once fixed.",
}


def _references(value: Any) -> set[str]:
    """Logical ids a template fragment refers to (Ref, GetAtt, Sub, DependsOn)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _references(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found.update(_SUB_NAME.findall(text))
                if not isinstance(arg, str):
                    found |= _references(arg[1])
            elif key == "DependsOn":
                found.update([arg] if isinstance(arg, str) else arg)
            else:
                found |= _references(arg)
    return found


def _resolve_condition(value: Any, condition: str, truth: bool) -> Any:
    """``value`` with every ``Fn::If`` on ``condition`` replaced by its branch for ``truth``."""
    if isinstance(value, list):
        # A list item that resolves to AWS::NoValue is left out, as CloudFormation would.
        resolved = [_resolve_condition(item, condition, truth) for item in value]
        return [new for old, new in zip(value, resolved, strict=True)
                if not (_is_if(old, condition) and new == {"Ref": "AWS::NoValue"})]
    if isinstance(value, dict):
        if _is_if(value, condition):
            return _resolve_condition(value["Fn::If"][1 if truth else 2], condition, truth)
        return {key: _resolve_condition(item, condition, truth) for key, item in value.items()}
    return value


def _is_if(value: Any, condition: str) -> bool:
    return isinstance(value, dict) and list(value) == ["Fn::If"] and value["Fn::If"][0] == condition


def merge_template(stage: str, stage_config: dict[str, Any], app_name: str) -> dict[str, Any]:
    """infra/template.yaml as the stage's part of the one stack (see the module docstring)."""
    template = load_template()
    parameters = template["Parameters"]
    parameters["Stage"]["Default"] = stage
    site_url = stage_config.get("environment_variables", {}).get("SITE_URL", "")
    if site_url:
        # The host the app's links name; with a CertificateArn the distribution answers it.
        parameters["DomainName"]["Default"] = urlparse(site_url).netloc

    # /api/* always goes to this stack's own REST API.
    resources = _resolve_condition(template["Resources"], "HasApiOrigin", True)
    del template["Conditions"]["HasApiOrigin"]
    del parameters["ApiDomainName"]
    origins = resources["SiteDistribution"]["Properties"]["DistributionConfig"]["Origins"]
    api_origin = next(origin for origin in origins if origin["Id"] == "api")
    api_origin["DomainName"] = {"Fn::Sub": "${RestAPI}.execute-api.${AWS::Region}.amazonaws.com"}
    api_origin.pop("OriginPath", None)
    template["Resources"] = resources

    rest_api: dict[str, Any] = {
        # Chalice names every stage's API after the app; the 5xx alarm needs one per stage.
        # The definition's title says the same, so neither can win over the other (chalice
        # package deep-merges this into its definition, keeping the rest of it).
        "Name": f"{app_name}-{stage}",
        "DefinitionBody": {"info": {"title": f"{app_name}-{stage}"}},
        "GatewayResponses": copy.deepcopy(GATEWAY_RESPONSES),
        "AccessLogSetting": {
            "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
            "Format": ('{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
                       '"time":"$context.requestTime","method":"$context.httpMethod",'
                       '"path":"$context.path","status":"$context.status",'
                       '"latencyMs":"$context.responseLatency",'
                       '"error":"$context.error.responseType"}'),
        },
    }
    limits = stage_config.get("api_throttling")
    if limits:
        # Chalice has no setting for stage throttling; in the SAM template it is the API's
        # method settings.
        rest_api["MethodSettings"] = [{
            "ResourcePath": "/*", "HttpMethod": "*",
            "ThrottlingRateLimit": limits["rate_limit"],
            "ThrottlingBurstLimit": limits["burst_limit"],
        }]
    # Access logging needs the account's API Gateway logging role set first.
    resources["RestAPI"] = {"DependsOn": ["ApiGatewayAccount"], "Properties": rest_api}
    return template


def _function_name(function: dict[str, Any]) -> str:
    """Chalice's name of a function in its SAM output: ``app.app`` is the API handler."""
    handler = str(function["Properties"]["Handler"])
    return "api_handler" if handler == "app.app" else handler.rsplit(".", 1)[-1]


def _physical_names(resources: dict[str, Any], stage: str, kind: str, key: str) -> dict[str, str]:
    """Name -> logical id for resources of ``kind`` named ``!Sub "...${Stage}..."``."""
    names: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] == kind:
            name = resource["Properties"].get(key)
            if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
                names[name["Fn::Sub"].replace("${Stage}", stage)] = logical_id
    return names


def _alarm(stage: str, logical_id: str, name: str, *, metric: str, what: str, todo: str) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": f"borgerdialog-{stage}-{name.replace('_', '-')}-{metric.lower()}",
            "AlarmDescription": f"{name} {what} Do: {todo} Runbook: docs/operations.md#on-call",
            "Namespace": "AWS/Lambda",
            "MetricName": metric,
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": logical_id}}],
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": "AlarmTopic"}],
            "OKActions": [{"Ref": "AlarmTopic"}],
        },
    }


def wire_functions(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """The merged SAM template with its functions wired into the stack (module docstring)."""
    resources: dict[str, Any] = template["Resources"]
    # API Gateway decides "bytes or text" by the request's FIRST Accept value. A browser's
    # navigation to the no-JavaScript audio link starts with text/html, an <audio> element's
    # with audio/webm: with only audio/wav listed they would get base64 text. With */* every
    # Accept matches, and only what the function marks base64 (Chalice's binary_types: the
    # audio) is turned back into bytes; JSON and HTML pass as text. Request bodies then reach
    # the function base64'd, which Chalice decodes (docs/api.md#bytes-through-api-gateway).
    definition = resources["RestAPI"]["Properties"]["DefinitionBody"]
    definition["x-amazon-apigateway-binary-media-types"] = ["*/*"]
    functions = {logical_id: resource for logical_id, resource in resources.items()
                 if resource["Type"] == "AWS::Serverless::Function"}
    queues = _physical_names(resources, stage, "AWS::SQS::Queue", "QueueName")
    topics = _physical_names(resources, stage, "AWS::SNS::Topic", "TopicName")

    # What depends on a function (the REST API, the distribution, ...) cannot feed its
    # environment: that would be a circular dependency.
    downstream = set(functions)
    changed = True
    while changed:
        changed = False
        for logical_id, resource in resources.items():
            if logical_id not in downstream and _references(resource) & downstream:
                downstream.add(logical_id)
                changed = True
    from_stack: dict[str, Any] = {}
    for output in template.get("Outputs", {}).values():
        match = _ENV_DESCRIPTION.match(output.get("Description", ""))
        if match and not _references(output["Value"]) & downstream:
            from_stack[match.group(1)] = output["Value"]

    for logical_id, function in list(functions.items()):
        properties = function["Properties"]
        name = _function_name(function)
        # Chalice names its event sources' queue and topic by string: wait for them.
        needs: set[str] = set()
        events = properties.get("Events", {}).values()
        for event in events:
            source = event["Properties"].get("Queue") or event["Properties"].get("Topic")
            if isinstance(source, dict) and "Fn::Sub" in source:
                physical = str(source["Fn::Sub"]).rsplit(":", 1)[-1]
                needs.update(x for x in (queues.get(physical), topics.get(physical)) if x)
        variables = properties.setdefault("Environment", {}).setdefault("Variables", {})
        variables.update(copy.deepcopy(from_stack))
        # A name taken from the stack above is a dependency already; the rest wait explicitly.
        needs -= _references(function)
        if needs:
            function["DependsOn"] = sorted(set(function.get("DependsOn", [])) | needs)

        if any(event["Type"] in ASYNC_EVENT_TYPES for event in events):
            resources[f"{logical_id}AsyncFailures"] = {
                "Type": "AWS::Lambda::EventInvokeConfig",
                "Properties": {
                    "FunctionName": {"Ref": logical_id},
                    "Qualifier": "$LATEST",
                    "MaximumRetryAttempts": 2,
                    "DestinationConfig": {"OnFailure": {
                        "Destination": {"Fn::GetAtt": [ASYNC_FAILURE_QUEUE, "Arn"]}}},
                },
            }
        todo = _FUNCTION_ACTIONS.get(name, "read its logs in CloudWatch.")
        resources[f"{logical_id}ErrorsAlarm"] = _alarm(
            stage, logical_id, name, metric="Errors", what="failed (an exception or a timeout).",
            todo=todo)
        resources[f"{logical_id}ThrottlesAlarm"] = _alarm(
            stage, logical_id, name, metric="Throttles",
            what="was throttled: its reserved concurrency (or the account's) is used up.",
            todo="compare lambda_functions." + name + ".reserved_concurrency in .chalice/config.json "
            "with the ConcurrentExecutions metric; raise it, or the account quota "
            "(docs/deploy.md, step 0).")

        if name == "ses_notifications":
            # The inbound-mail stack (infra/inbound.yaml) invokes this function: name it by
            # reference, since CloudFormation generates its physical name.
            permission = resources.get("InboundMailInvokesNotifications")
            if permission is not None:
                permission["Properties"]["FunctionName"] = {"Ref": logical_id}
            template.setdefault("Outputs", {})["SesNotificationsFunctionArn"] = {
                "Description": "Pass to infra/inbound.yaml as NotificationsFunctionArn.",
                "Value": {"Fn::GetAtt": [logical_id, "Arn"]},
            }
    return template
