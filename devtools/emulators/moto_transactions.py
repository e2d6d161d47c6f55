"""TransactWriteItems in moto server at a cost that does not grow with the table.

moto 5.2 takes its rollback copy of a transaction by deep-copying *every table the
transaction names* (``DynamoDBBackend.transact_write_items``), so one claim against a
10,000-item table copies 10,000 items: the digest benchmark fell to about one claim per
second and past 10 GB. DynamoDB's own cost per transaction is constant.

Only the items a transaction names can change, so the rollback copy needs only those:
while a transaction runs, a table's deep copy is a new ``Table`` sharing the untouched
item objects (the item dicts themselves are copied, so puts and deletes do not leak into
it) with deep copies of the touched items (``update_item`` changes items in place). A
rollback then restores exactly what the full copy would have. Outside a transaction a
``Table`` deep-copies as before (backups).

Semantics are moto's: the same function runs, with a cheaper snapshot. The tests hold
the rollback (tests/devtools/test_moto_transactions.py) and the DynamoDB Local lane runs the data
layer against AWS's own emulator as well.
"""

from __future__ import annotations

import copy
import threading
from collections import defaultdict
from collections.abc import Callable
from functools import wraps
from typing import Any

_active = threading.local()  # the keys the running transaction names, per table


def _touched_keys(backend: Any, transact_items: list[dict[str, Any]]) -> dict[str, list[tuple[Any, Any]]]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    touched: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    for item in transact_items:
        for op_type, op in item.items():
            try:  # by name or by ARN, as moto resolves it
                table = backend.get_table(op.get("TableName"))
            except Exception:  # noqa: S112 - an unknown table: moto answers with its own error
                continue
            key = op["Item"] if op_type == "Put" else op.get("Key", {})
            if table.hash_key_attr not in key:
                continue  # moto answers this with its own validation error
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = (DynamoType(key[table.range_key_attr])
                           if table.range_key_attr and table.range_key_attr in key else None)
            touched[table.name].append((hash_value, range_value))
    return touched


def _snapshot(table: Any, memo: dict[int, Any]) -> Any:
    """A Table whose items equal ``table``'s now, copying only the items the transaction names."""
    keys = _active.keys.get(table.name, [])
    # Not copy.copy: moto's BaseModel.__new__ records every instance (instances_tracked,
    # cleared only by a reset), and each snapshot holds a copy of the items dict.
    clone = object.__new__(type(table))
    clone.__dict__.update(table.__dict__)
    memo[id(table)] = clone
    if table.range_key_attr:
        clone.items = defaultdict(dict, {h: dict(by_range) for h, by_range in table.items.items()})
        for hash_value, range_value in keys:
            current = clone.items.get(hash_value, {}).get(range_value)
            if current is not None:
                clone.items[hash_value][range_value] = copy.deepcopy(current)
    else:
        clone.items = defaultdict(dict, table.items)
        for hash_value, _ in keys:
            if hash_value in clone.items:
                clone.items[hash_value] = copy.deepcopy(clone.items[hash_value])
    if table.stream_shard is not None:  # stream records a cancelled transaction added go too
        shard = object.__new__(type(table.stream_shard))
        shard.__dict__.update(table.stream_shard.__dict__)
        shard.items = list(table.stream_shard.items)
        shard.table = clone
        clone.stream_shard = shard
    return clone


def _table_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
    if getattr(_active, "keys", None) is not None:
        return _snapshot(self, memo)
    clone = self.__class__.__new__(self.__class__)  # what copy.deepcopy does without a hook
    memo[id(self)] = clone
    for name, value in self.__dict__.items():
        setattr(clone, name, copy.deepcopy(value, memo))
    return clone


def install() -> None:
    """Patch moto's DynamoDB backend in this process (the moto server launcher calls it)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original: Callable[..., None] = DynamoDBBackend.transact_write_items
    if getattr(original, "_item_snapshots", False):
        return

    @wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        try:
            _active.keys = _touched_keys(self, transact_items)
        except Exception:  # a malformed request: moto's full copy, then moto's own error
            _active.keys = None
        try:
            original(self, transact_items)
        finally:
            _active.keys = None

    transact_write_items._item_snapshots = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Table.__deepcopy__ = _table_deepcopy  # type: ignore[attr-defined]
