"""The DynamoDB lane really talks to DynamoDB Local, so its green means something."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from chalicelib.articles.model import Article
from chalicelib.core.config import get_settings
from tests.support.fixtures import ON_DYNAMODB_LOCAL, REGION


@pytest.mark.dynamodb
def test_dynamodb_calls_reach_the_backend_the_lane_names() -> None:
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    arn = ddb.describe_table(TableName=get_settings().articles_table)["Table"]["TableArn"]
    # DynamoDB Local names its own fake region and account in ARNs; moto uses the default account.
    assert (":ddblocal:000000000000:" in arn) is ON_DYNAMODB_LOCAL
    pynamodb_endpoint = Article._get_connection().connection.client.meta.endpoint_url
    s3_endpoint: str = boto3.client("s3", region_name=REGION).meta.endpoint_url
    assert s3_endpoint == os.environ["AWS_ENDPOINT_URL"]  # everything else stays on moto server
    if ON_DYNAMODB_LOCAL:
        assert pynamodb_endpoint == os.environ["AWS_ENDPOINT_URL_DYNAMODB"] != s3_endpoint
    else:
        assert pynamodb_endpoint == s3_endpoint
