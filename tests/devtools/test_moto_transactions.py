"""moto server's cheaper transaction rollback (devtools/moto_transactions.py) keeps moto's
semantics: a cancelled TransactWriteItems leaves every item as it was, including items an
update changed in place before a later operation failed, and a random mix of transactions
ends in the same table as moto's own, unpatched backend."""

from __future__ import annotations

import random
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.core.config import get_settings
from tests.support.fixtures import REGION


def _dynamodb(endpoint_url: str | None = None) -> Any:
    return boto3.session.Session(region_name=REGION).client("dynamodb", endpoint_url=endpoint_url)


def _site_key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "tx-test"}, "sk": {"S": sk}}


def _items(db: Any, table: str) -> list[dict[str, Any]]:
    items = db.scan(TableName=table, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: repr(sorted(item.items())))


def test_a_cancelled_transaction_undoes_an_in_place_update_and_a_put() -> None:
    db, table = _dynamodb(), get_settings().site_table
    db.put_item(TableName=table, Item={**_site_key("a"), "n": {"N": "1"}, "label": {"S": "før"}})
    db.put_item(TableName=table, Item={**_site_key("b"), "n": {"N": "5"}})
    before = _items(db, table)

    with pytest.raises(ClientError) as cancelled:
        db.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": _site_key("a"),
                        "UpdateExpression": "SET label = :x ADD n :one",
                        "ExpressionAttributeValues": {":x": {"S": "efter"}, ":one": {"N": "1"}}}},
            {"Put": {"TableName": table, "Item": {**_site_key("new"), "n": {"N": "0"}}}},
            {"Update": {"TableName": table, "Key": _site_key("b"), "UpdateExpression": "ADD n :one",
                        "ConditionExpression": "n < :zero",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":zero": {"N": "0"}}}},
        ])

    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _items(db, table) == before


def test_a_cancelled_transaction_on_a_hash_only_table_restores_a_deleted_item() -> None:
    db, table = _dynamodb(), get_settings().challenges_table
    db.put_item(TableName=table, Item={"captcha_id": {"S": "keep"}, "v": {"S": "1"}})
    db.put_item(TableName=table, Item={"captcha_id": {"S": "guard"}, "v": {"S": "1"}})
    before = _items(db, table)

    with pytest.raises(ClientError):
        db.transact_write_items(TransactItems=[
            {"Delete": {"TableName": table, "Key": {"captcha_id": {"S": "keep"}}}},
            {"ConditionCheck": {"TableName": table, "Key": {"captcha_id": {"S": "guard"}},
                                "ConditionExpression": "attribute_not_exists(captcha_id)"}},
        ])

    assert _items(db, table) == before


def test_a_table_named_by_arn_and_by_name_in_one_transaction_rolls_back_whole() -> None:
    db, table = _dynamodb(), get_settings().site_table
    arn = db.describe_table(TableName=table)["Table"]["TableArn"]
    db.put_item(TableName=table, Item={**_site_key("a"), "n": {"N": "1"}})
    db.put_item(TableName=table, Item={**_site_key("b"), "n": {"N": "1"}})
    before = _items(db, table)

    with pytest.raises(ClientError):
        db.transact_write_items(TransactItems=[
            {"Update": {"TableName": arn, "Key": _site_key("a"), "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"ConditionCheck": {"TableName": table, "Key": _site_key("b"),
                                "ConditionExpression": "attribute_not_exists(n)"}},
        ])

    assert _items(db, table) == before


SNAPSHOT_PROBE = """
import boto3
from moto import mock_aws
from moto.dynamodb.models.table import Table
from devtools.emulators import moto_transactions

moto_transactions.install()
with mock_aws():
    db = boto3.client("dynamodb", region_name="eu-north-1")
    db.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    tracked = len(Table.instances_tracked)
    for n in range(20):
        try:
            db.transact_write_items(TransactItems=[
                {"Put": {"TableName": "t", "Item": {"k": {"S": str(n)}}}},
                {"ConditionCheck": {"TableName": "t", "Key": {"k": {"S": "x"}},
                                    "ConditionExpression": "attribute_exists(k)"}}])
        except db.exceptions.TransactionCanceledException:
            pass
        db.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": {"k": {"S": str(n)}}}}])
    print(len(Table.instances_tracked) - tracked, len(db.scan(TableName="t")["Items"]))
"""


def test_snapshots_are_not_kept_by_moto() -> None:
    """moto records every model instance it creates until a reset; a snapshot per
    transaction (each holding the table's item dict) would grow the server without bound."""
    import subprocess
    import sys

    from tests.support.fixtures import ROOT

    done = subprocess.run([sys.executable, "-c", SNAPSHOT_PROBE], cwd=ROOT, capture_output=True,
                          text=True, check=True, env={"AWS_ACCESS_KEY_ID": "testing",
                                                      "AWS_SECRET_ACCESS_KEY": "testing",
                                                      "PATH": "/usr/bin:/bin"})
    assert done.stdout.split() == ["0", "20"]  # no Table kept; 20 cancelled, 20 written


def _random_transactions(seed: int, count: int, table: str) -> list[list[dict[str, Any]]]:
    """Puts, in-place updates, deletes and condition checks over six keys; many cancel."""
    rng = random.Random(seed)
    transactions = []
    for _ in range(count):
        keys = rng.sample("abcdef", rng.randint(1, 3))
        ops: list[dict[str, Any]] = []
        for sk in keys:
            kind = rng.choice(["Put", "Update", "Delete", "ConditionCheck"])
            limit = {":limit": {"N": str(rng.randint(0, 4))}}
            guard: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(n) OR n < :limit",
                                     "ExpressionAttributeValues": limit} if rng.random() < 0.6 else {}
            if kind == "Put":
                ops.append({"Put": {"TableName": table, "Item": {**_site_key(sk), "n": {"N": "0"}},
                                    **guard}})
            elif kind == "Update":
                values = {":one": {"N": "1"}, **guard.get("ExpressionAttributeValues", {})}
                ops.append({"Update": {"TableName": table, "Key": _site_key(sk),
                                       "UpdateExpression": "ADD n :one",
                                       **guard, "ExpressionAttributeValues": values}})
            elif kind == "Delete":
                ops.append({"Delete": {"TableName": table, "Key": _site_key(sk), **guard}})
            else:
                ops.append({"ConditionCheck": {"TableName": table, "Key": _site_key(sk),
                                               "ConditionExpression": "attribute_exists(n) AND n < :limit",
                                               "ExpressionAttributeValues": limit}})
        transactions.append(ops)
    return transactions


def _apply(db: Any, transactions: list[list[dict[str, Any]]]) -> list[str]:
    outcomes = []
    for ops in transactions:
        try:
            db.transact_write_items(TransactItems=ops)
            outcomes.append("ok")
        except ClientError as problem:
            reasons = problem.response.get("CancellationReasons", [])
            outcomes.append("cancelled " + ",".join(r.get("Code", "") for r in reasons))
    return outcomes


def test_random_transactions_end_as_in_unpatched_moto() -> None:
    table = get_settings().site_table
    transactions = _random_transactions(seed=48, count=150, table=table)
    server = _dynamodb()
    server_outcomes = _apply(server, transactions)
    on_server = _items(server, table)

    with mock_aws():  # moto's own backend in this process, without the launcher's patch
        reference = _dynamodb(endpoint_url=f"https://dynamodb.{REGION}.amazonaws.com")
        reference.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                               KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                          {"AttributeName": "sk", "KeyType": "RANGE"}],
                               AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                     {"AttributeName": "sk", "AttributeType": "S"}])
        reference_outcomes = _apply(reference, transactions)
        in_reference = _items(reference, table)

    assert "ok" in server_outcomes and any(o != "ok" for o in server_outcomes)  # both kinds ran
    assert server_outcomes == reference_outcomes
    assert on_server == in_reference
