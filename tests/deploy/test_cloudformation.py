"""infra/template.yaml as CloudFormation: it lints, it deploys (on moto server's
CloudFormation), and its outputs become the stage config the app runs with."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.core import cdn, config
from chalicelib.core.openapi import DOCUMENT
from devtools import moto_cloudformation
from infra import configure
from infra.template import TEMPLATE, load_template
from tests.support.fixtures import REGION, ROOT

# What the tables/bucket/queue/topic outputs configure; each must name a real resource.
CORE_TYPES = {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::SNS::Topic"}


def _lint(path: Path) -> list[str]:
    from cfnlint.api import ManualArgs, lint_file

    return [str(match) for match in lint_file(path, ManualArgs())]


@pytest.mark.no_aws
def test_infra_template_passes_cfn_lint() -> None:
    assert _lint(TEMPLATE) == []


@pytest.mark.no_aws
def test_moto_subset_leaves_out_only_what_moto_cannot_make() -> None:
    template = load_template()
    subset = moto_cloudformation.supported_subset(template)
    known = moto_cloudformation.moto_resource_types()
    for logical_id, why in subset.left_out.items():
        kind = template["Resources"][logical_id]["Type"]
        assert kind not in CORE_TYPES, f"{logical_id} ({kind}) must deploy on moto: {why}"
        assert kind not in known or "refers to" in why
    kept = set(subset.template["Resources"])
    assert kept | set(subset.left_out) == set(template["Resources"])
    # Nothing kept may point at something left out.
    for logical_id in kept:
        assert not set(moto_cloudformation._references(subset.template["Resources"][logical_id])) & set(
            subset.left_out), logical_id


@pytest.mark.no_aws
def test_filter_follows_references_through_sub_getatt_and_depends_on() -> None:
    template: dict[str, Any] = {"Resources": {
        "Cdn": {"Type": "AWS::CloudFront::Distribution"},
        "Policy": {"Type": "AWS::S3::BucketPolicy",
                   "Properties": {"X": {"Fn::Sub": "arn:distribution/${Cdn}"}}},
        "Uses": {"Type": "AWS::SQS::Queue", "DependsOn": "Policy"},
        "Alone": {"Type": "AWS::SQS::Queue", "Properties": {"Q": {"Fn::GetAtt": ["Other", "Arn"]}}},
        "Other": {"Type": "AWS::SQS::Queue"},
    }, "Outputs": {"Domain": {"Value": {"Fn::GetAtt": ["Cdn", "DomainName"]}},
                   "Queue": {"Value": {"Ref": "Alone"}}}}
    known = frozenset({"AWS::SQS::Queue", "AWS::S3::BucketPolicy"})
    subset = moto_cloudformation.supported_subset(template, known)
    assert set(subset.left_out) == {"Cdn", "Policy", "Uses"}
    assert set(subset.template["Resources"]) == {"Alone", "Other"}
    assert set(subset.template["Outputs"]) == {"Queue"} and set(subset.dropped_outputs) == {"Domain"}


def test_template_deploys_on_moto_and_its_outputs_are_the_config_the_app_runs_with(
        capsys: pytest.CaptureFixture[str]) -> None:
    stage = "dev"
    subset = moto_cloudformation.supported_subset(load_template())
    cfn: Any = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName=configure.stack_name(stage), TemplateBody=json.dumps(subset.template),
                     Parameters=moto_cloudformation.parameters(stage))
    stack = cfn.describe_stacks(StackName=configure.stack_name(stage))["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")

    # What `eval "$(python -m infra.configure env --stage dev)"` puts in the editor's shell:
    # read from the stack, nothing from an earlier deploy.
    assert configure.main(["env", "--stage", stage, "--region", REGION]) == 0
    exported = dict(line.removeprefix("export ").split("=", 1)
                    for line in capsys.readouterr().out.splitlines())
    written = {name: shlex.split(value)[0] for name, value in exported.items()}
    values = configure.env_outputs(stack["Outputs"])
    assert {"ARTICLES_TABLE", "SITE_BUCKET", "DIGEST_QUEUE", "APP_SECRET_PARAMETER"} <= set(values)
    committed_env = configure.read_config()["stages"][stage]["environment_variables"]
    for name, value in values.items():
        assert written[name] == value
        if name in committed_env:
            assert committed_env[name] == value, f"{name}: config.json says {committed_env[name]}"
    # A bucket name is global across accounts: the stack's carries the account id.
    assert written["SITE_BUCKET"].endswith("-" + stack["StackId"].split(":")[4])

    # The app, configured from those outputs, names resources the stack made.
    settings = config.load({**written, "AWS_REGION": REGION})
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    made = set(ddb.list_tables()["TableNames"])
    for field in ("articles", "subscribers", "challenges", "ratelimits", "ledger", "deliveries", "site"):
        assert getattr(settings, f"{field}_table") in made
    boto3.client("s3", region_name=REGION).head_bucket(Bucket=settings.bucket)
    boto3.client("sqs", region_name=REGION).get_queue_url(QueueName=written["DIGEST_QUEUE"])
    topics = boto3.client("sns", region_name=REGION).list_topics()["Topics"]
    assert any(t["TopicArn"].endswith(":" + written["SES_NOTIFICATIONS_TOPIC"]) for t in topics)
    for name, value in written.items():
        if name.endswith("_TABLE"):
            assert value in made, name


@pytest.mark.no_aws
def test_cdn_keeps_cookies_out_and_sends_security_headers() -> None:
    resources = load_template()["Resources"]
    policies = {r["Properties"]["CachePolicyConfig"]["Name"]["Fn::Sub"]: r["Properties"]["CachePolicyConfig"]
                for r in resources.values() if r["Type"] == "AWS::CloudFront::CachePolicy"}
    for policy in policies.values():
        keys = policy["ParametersInCacheKeyAndForwardedToOrigin"]
        assert keys["CookiesConfig"] == {"CookieBehavior": "none"}
        assert keys["HeadersConfig"] == {"HeaderBehavior": "none"}
    static = policies["borgerdialog-${Stage}-static"]["ParametersInCacheKeyAndForwardedToOrigin"]
    assert static["QueryStringsConfig"] == {"QueryStringBehavior": "none"}

    (headers,) = [r["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
                  for r in resources.values() if r["Type"] == "AWS::CloudFront::ResponseHeadersPolicy"]
    csp = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    sources = {source for directive in csp.split(";") for source in directive.split()[1:]}
    assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources
    # Only WebAssembly (the search's Pagefind, docs/site.md#search) may be compiled, and only
    # by scripts: 'wasm-unsafe-eval' allows no eval of JavaScript.
    assert [d.split()[0] for d in csp.split(";") if "'wasm-unsafe-eval'" in d.split()] == ["script-src"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["ReferrerPolicy"]["ReferrerPolicy"]

    # The bucket is reached only through the distribution (origin access control).
    bucket = next(r for r in resources.values() if r["Type"] == "AWS::S3::Bucket")
    assert all(bucket["Properties"]["PublicAccessBlockConfiguration"].values())
    (grant,) = [s for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy"
                for s in r["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert grant["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert "AWS:SourceArn" in grant["Condition"]["StringEquals"]


def _documented_query_parameters() -> set[str]:
    """Every query parameter name of every operation in the API's contract."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            found: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                found = found[part]
            node = found
        return node

    names: set[str] = set()
    for item in document["paths"].values():
        operations = [op for method, op in item.items() if method in {"get", "put", "post", "delete", "patch",
                                                                    "head", "options"}]
        for parameter in [*item.get("parameters", []), *(p for op in operations for p in op.get("parameters", []))]:
            resolved = resolve(parameter)
            if resolved["in"] == "query":
                names.add(resolved["name"])
    return names


@pytest.mark.no_aws
def test_cdn_forwards_exactly_the_query_parameters_the_api_reads() -> None:
    """Behind CloudFront a query parameter reaches the API only when the API cache policy names
    it: a parameter missing there is dropped (the no-JavaScript result page's ``status`` was)."""
    resources = load_template()["Resources"]
    api = resources["ApiCachePolicy"]["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
    assert api["QueryStringsConfig"]["QueryStringBehavior"] == "whitelist"
    documented = _documented_query_parameters()
    assert {"limit", "cursor", "category", "token", "status"} <= documented  # the reader finds them
    assert set(api["QueryStringsConfig"]["QueryStrings"]) == documented, (
        "name every query parameter of chalicelib/data/openapi.json in ApiCachePolicy's QueryStrings")
    origin = resources["ApiOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"]
    assert origin["QueryStringsConfig"] == {"QueryStringBehavior": "none"}  # the cache policy's list is all


@pytest.mark.no_aws
def test_the_api_origin_proves_requests_came_through_the_distribution() -> None:
    """CloudFront adds the origin secret the app checks (chalicelib/core/cdn.py), from the parameter
    the Lambda reads, and forwards the viewer address the app then trusts."""
    template = load_template()
    resources = template["Resources"]
    origins = resources["SiteDistribution"]["Properties"]["DistributionConfig"]["Origins"]
    (api,) = [origin["Fn::If"][1] for origin in origins if "Fn::If" in origin]
    assert api["Id"] == "api"
    (header,) = api["OriginCustomHeaders"]
    assert header["HeaderName"].lower() == cdn.ORIGIN_HEADER.lower()
    parameter = template["Outputs"]["OriginSecretParameterName"]["Value"]["Fn::Sub"]
    # `ssm`, not `ssm-secure`: CloudFront's properties are not among those that resolve secure strings.
    assert header["HeaderValue"] == {"Fn::Sub": "{{resolve:ssm:" + parameter + "}}"}
    assert parameter == "/borgerdialog/${Stage}/origin-secret"
    forwarded = resources["ApiOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"]["HeadersConfig"]
    assert cdn.VIEWER_HEADER in forwarded["Headers"]
    assert cdn.ORIGIN_HEADER.lower() not in {name.lower() for name in forwarded["Headers"]}


@pytest.mark.no_aws
def test_security_headers_match_the_site_servers_list() -> None:
    """The local site server and CloudFront send the same headers (one list, two senders)."""
    listed = ROOT / "chalicelib" / "data" / "security_headers.json"
    if not listed.exists():
        pytest.skip("reason: the static site's chalicelib/data/security_headers.json has not landed")
    expected = {k: v for k, v in json.loads(listed.read_text(encoding="utf-8")).items()
                if not k.startswith("_")}
    resources = load_template()["Resources"]
    (policy,) = [r["Properties"]["ResponseHeadersPolicyConfig"] for r in resources.values()
                 if r["Type"] == "AWS::CloudFront::ResponseHeadersPolicy"]
    security = policy["SecurityHeadersConfig"]
    sent = {
        "Content-Security-Policy": " ".join(security["ContentSecurityPolicy"]["ContentSecurityPolicy"].split()),
        "Strict-Transport-Security": "max-age={}{}{}".format(
            security["StrictTransportSecurity"]["AccessControlMaxAgeSec"],
            "; includeSubDomains" if security["StrictTransportSecurity"].get("IncludeSubdomains") else "",
            "; preload" if security["StrictTransportSecurity"].get("Preload") else ""),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": security["ReferrerPolicy"]["ReferrerPolicy"],
        "X-Frame-Options": security["FrameOptions"]["FrameOption"],
        **{item["Header"]: item["Value"] for item in policy.get("CustomHeadersConfig", {}).get("Items", [])},
    }
    assert sent == expected
