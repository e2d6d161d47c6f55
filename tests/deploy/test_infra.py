"""infra/template.yaml is the one description of resources; the models must agree with it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib.articles.model import Article
from chalicelib.core.config import get_settings
from infra.template import load_template
from tests.support.fixtures import REGION


def _keys(schema: list[dict[str, str]]) -> dict[str, str]:
    return {entry["KeyType"]: entry["AttributeName"] for entry in schema}


@pytest.mark.dynamodb
def test_every_model_matches_its_provisioned_table() -> None:
    """Each pynamodb model's keys and indexes are what infra/template.yaml made."""
    from devtools.models import all_models

    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    models = all_models()
    assert Article in models
    for model in models:
        table = ddb.describe_table(TableName=model.Meta.table_name)["Table"]
        expected = {"HASH": model._hash_keyname}
        if model._range_keyname:
            expected["RANGE"] = model._range_keyname
        assert _keys(table["KeySchema"]) == expected, model.__name__
        provisioned = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
        for index in model._indexes.values():
            meta = index.Meta
            found = provisioned[meta.index_name]
            keys = {("HASH" if attr.is_hash_key else "RANGE"): name
                    for name, attr in meta.attributes.items() if attr.is_hash_key or attr.is_range_key}
            assert _keys(found["KeySchema"]) == keys, meta.index_name
            assert found["Projection"]["ProjectionType"] == meta.projection.projection_type
            if meta.projection.non_key_attributes:
                assert sorted(found["Projection"]["NonKeyAttributes"]) == sorted(
                    meta.projection.non_key_attributes)


@pytest.mark.dynamodb
def test_every_configured_resource_name_is_made_by_the_template() -> None:
    settings = get_settings()
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    tables = set(ddb.list_tables()["TableNames"])
    for name in (settings.articles_table, settings.subscribers_table, settings.challenges_table,
                 settings.ratelimits_table, settings.ledger_table, settings.deliveries_table,
                 settings.site_table):
        assert name in tables
    s3: Any = boto3.client("s3", region_name=REGION)
    rules = s3.get_bucket_lifecycle_configuration(Bucket=settings.bucket)["Rules"]
    assert any(rule["Filter"]["Prefix"] == "captcha/" and rule["Expiration"]["Days"] == 1 for rule in rules)


def test_template_stage_names_match_chalice_config() -> None:
    import json

    from tests.support.fixtures import ROOT

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    template = load_template()
    for stage, settings in config["stages"].items():
        env = settings["environment_variables"]
        assert env["STAGE"] == stage
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::DynamoDB::Table":
                continue
            name = resource["Properties"]["TableName"]["Fn::Sub"].replace("${Stage}", stage)
            assert name in env.values(), (stage, logical_id)


def test_committed_iam_policies_are_rendered_from_infra_iam() -> None:
    from infra import policy

    for stage in policy.DEPLOYED_STAGES:
        committed = policy.policy_path(stage).read_text(encoding="utf-8")
        assert committed == policy.dumps(policy.render(stage)), f"run: python -m infra.policy ({stage})"
        assert "borgerdialog-dev-" not in committed or stage == "dev"
