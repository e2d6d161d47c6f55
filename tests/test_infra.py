"""infra/template.yaml is the one description of resources; the models must agree with it."""

from __future__ import annotations

from typing import Any

import boto3

from chalicelib.config import get_settings
from chalicelib.models.articles import Article
from infra.provision import load_template
from tests.conftest import REGION


def _keys(schema: list[dict[str, str]]) -> dict[str, str]:
    return {entry["KeyType"]: entry["AttributeName"] for entry in schema}


def test_article_model_matches_the_provisioned_table() -> None:
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    table = ddb.describe_table(TableName=get_settings().articles_table)["Table"]
    assert _keys(table["KeySchema"]) == {"HASH": Article._hash_keyname}
    provisioned = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    indexes: list[Any] = [Article.published_index, Article.category_index]
    for index in indexes:
        meta = index.Meta
        found = provisioned[meta.index_name]
        hash_key = next(name for name, attr in index.Meta.attributes.items() if attr.is_hash_key)
        range_key = next(name for name, attr in index.Meta.attributes.items() if attr.is_range_key)
        assert _keys(found["KeySchema"]) == {"HASH": hash_key, "RANGE": range_key}
        assert sorted(found["Projection"]["NonKeyAttributes"]) == sorted(meta.projection.non_key_attributes)


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

    from tests.conftest import ROOT

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
