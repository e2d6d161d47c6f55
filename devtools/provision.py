"""The one path from ``infra/template.yaml`` to local resources: plain AWS API calls.

The local stack (``devtools.stack``: tests, ``make run``, the benches) uses this against
moto server, DynamoDB Local or LocalStack, so their tables, bucket, queues and topics come
from the same template CloudFormation deploys on AWS. It resolves the intrinsics the
template uses (Ref, Sub, GetAtt, If, conditions...) for the resource types that have a
local meaning; the rest (CloudFront, alarms, policies...) is skipped.
``devtools.moto_cloudformation`` is not a second path: it checks that the template deploys
through a CloudFormation implementation, and makes nothing the app uses.

    python -m devtools.provision --stage local     # against $AWS_ENDPOINT_URL
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
from collections.abc import Callable
from typing import Any

from infra.template import load_template

ACCOUNT_ID = "123456789012"  # moto's default account

# boto3's Session.client: (service name) -> client.
ClientFactory = Callable[..., Any]


# AWS::NoValue: the property or list item is left out.
_NO_VALUE = object()


class _Resolver:
    def __init__(self, params: dict[str, str], region: str) -> None:
        self.values: dict[str, str] = {
            **params,
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.attributes: dict[str, dict[str, str]] = {}
        self.conditions: dict[str, Any] = {}

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" and arg == "AWS::NoValue":
                return _NO_VALUE
            if key == "Ref":
                return self.values[arg]
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(item) for item in arg)
            if key == "Fn::Or":
                return any(self.resolve(item) for item in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                names = {**self.values, **{k: self.resolve(v) for k, v in extra.items()}}
                return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub(m.group(1), names), text)
            if key == "Fn::GetAtt":
                return self.attributes[arg[0]][arg[1]]
            if key == "Fn::Join":
                return arg[0].join(str(self.resolve(part)) for part in arg[1])
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _sub(self, name: str, names: dict[str, str]) -> str:
        if "." in name:
            resource, attribute = name.split(".", 1)
            return self.attributes[resource][attribute]
        return names[name]


def _table(props: dict[str, Any], call: ClientFactory, region: str) -> tuple[str, dict[str, str]]:
    ddb = call("dynamodb")
    request: dict[str, Any] = {
        key: props[key]
        for key in ("TableName", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
                    "LocalSecondaryIndexes", "StreamSpecification")
        if key in props
    }
    request["BillingMode"] = props.get("BillingMode", "PAY_PER_REQUEST")
    if "StreamSpecification" in request:
        request["StreamSpecification"] = {"StreamEnabled": True, **request["StreamSpecification"]}
    if props.get("SSESpecification", {}).get("SSEEnabled"):
        request["SSESpecification"] = {"Enabled": True}
    description = ddb.create_table(**request)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(TableName=props["TableName"], TimeToLiveSpecification=ttl)
    return props["TableName"], {"Arn": description["TableArn"],
                                "StreamArn": description.get("LatestStreamArn", "")}


def _bucket(props: dict[str, Any], call: ClientFactory, region: str) -> tuple[str, dict[str, str]]:
    s3 = call("s3")
    name = props["BucketName"]
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
    if rules:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={"Rules": [
                {
                    "ID": rule["Id"],
                    "Status": rule["Status"],
                    "Filter": {"Prefix": rule.get("Prefix", "")},
                    "Expiration": {"Days": rule["ExpirationInDays"]},
                }
                for rule in rules
            ]},
        )
    return name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                  "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com"}


def _queue(props: dict[str, Any], call: ClientFactory, region: str) -> tuple[str, dict[str, str]]:
    attributes = {
        key: json.dumps(value) if isinstance(value, dict) else str(value)
        for key, value in props.items()
        if key not in {"QueueName", "Tags"}
    }
    url = call("sqs").create_queue(QueueName=props["QueueName"], Attributes=attributes)["QueueUrl"]
    arn = f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{props['QueueName']}"
    return url, {"Arn": arn, "QueueName": props["QueueName"], "QueueUrl": url}


def _topic(props: dict[str, Any], call: ClientFactory, region: str) -> tuple[str, dict[str, str]]:
    arn = call("sns").create_topic(Name=props["TopicName"])["TopicArn"]
    return arn, {"TopicArn": arn, "TopicName": props["TopicName"]}


def _identity(props: dict[str, Any], call: ClientFactory, region: str) -> tuple[str, dict[str, str]]:
    call("sesv2").create_email_identity(EmailIdentity=props["EmailIdentity"])
    return props["EmailIdentity"], {}


# Resource type -> builder(resolved properties, client factory, region) -> (Ref value, attributes).
_BUILDERS: dict[str, Callable[[dict[str, Any], ClientFactory, str], tuple[str, dict[str, str]]]] = {
    "AWS::DynamoDB::Table": _table,
    "AWS::S3::Bucket": _bucket,
    "AWS::SQS::Queue": _queue,
    "AWS::SNS::Topic": _topic,
    "AWS::SES::EmailIdentity": _identity,
}


def provision(
    stage: str,
    client: ClientFactory,
    region: str,
    template: dict[str, Any] | None = None,
    parameters: dict[str, str] | None = None,
) -> dict[str, str]:
    """Create every supported resource; return the template's outputs, resolved."""
    template = template or load_template()
    defaults = {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items()
                if "Default" in spec}
    resolver = _Resolver({**defaults, "Stage": stage, **(parameters or {})}, region)
    resolver.conditions = template.get("Conditions", {})
    pending = {logical_id: resource for logical_id, resource in template["Resources"].items()
               if "Condition" not in resource or resolver.condition(resource["Condition"])}
    # Types with no local meaning (CloudFront, alarms, SES configuration sets, ...) are
    # skipped before their properties are resolved: they may refer to each other.
    skipped = sorted(logical_id for logical_id, resource in pending.items()
                     if resource["Type"] not in _BUILDERS)
    for logical_id in skipped:
        del pending[logical_id]
    while pending:
        progressed = False
        for logical_id, resource in list(pending.items()):
            try:
                props = resolver.resolve(resource.get("Properties", {}))
            except KeyError:
                continue  # depends on a resource not made yet
            made = _BUILDERS[resource["Type"]](props, client, region)
            resolver.values[logical_id], resolver.attributes[logical_id] = made
            del pending[logical_id]
            progressed = True
        if not progressed:
            raise ValueError(f"unresolvable references in resources: {sorted(pending)}")
    outputs: dict[str, str] = {}
    for name, output in template.get("Outputs", {}).items():
        # An output of a resource type with no local counterpart is left out.
        with contextlib.suppress(KeyError):
            outputs[name] = str(resolver.resolve(output["Value"]))
    return outputs


def main(argv: list[str] | None = None) -> None:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--region", default="eu-north-1")
    args = parser.parse_args(argv)
    session = boto3.session.Session(region_name=args.region)
    outputs = provision(args.stage, session.client, args.region)
    print(json.dumps(outputs, indent=2))


if __name__ == "__main__":
    main()
