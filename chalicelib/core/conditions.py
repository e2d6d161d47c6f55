"""Conditional writes and transactions, and the one place their refusals are read.

Every state change that must happen once is a conditional write or a transaction
(docs/decisions/conditional-writes.md). Their refusals come back as pynamodb errors whose
meaning hides in botocore's response; this module names it:

- ``condition_failed(error)``: a conditional PutItem/UpdateItem/DeleteItem was refused
  because its condition did not hold (the data is not what we expected), as opposed to
  AWS being busy or a bug.
- ``Transaction``: pynamodb's ``TransactWrite`` with a name per item. When DynamoDB
  cancels it, ``TransactionCancelled.reasons`` says which named item failed and why, so
  no caller reads cancellation reasons by position.

A cancellation for load (throttling, a conflicting transaction) is still a
``TransactionCancelled``; its cause is pynamodb's ``TransactWriteError``, so
``core.faults.classify`` finds it transient and the route guard answers 503.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pynamodb.expressions.condition import Condition
    from pynamodb.expressions.update import Action
    from pynamodb.models import Model

CONDITION_FAILED = "ConditionalCheckFailedException"
# The reason DynamoDB gives an item of a cancelled transaction whose condition did not hold.
ITEM_CONDITION_FAILED = "ConditionalCheckFailed"


def condition_failed(error: BaseException) -> bool:
    """A conditional single-item write refused because its condition did not hold."""
    return getattr(error, "cause_response_code", None) == CONDITION_FAILED


class TransactionCancelled(Exception):
    """DynamoDB cancelled a ``Transaction``. ``reasons`` maps the name of each item that was
    refused to DynamoDB's reason code (``ConditionalCheckFailed``, ``ThrottlingError``,
    ``TransactionConflict``...); items that were fine are absent."""

    def __init__(self, reasons: Mapping[str, str]) -> None:
        super().__init__(f"transaction cancelled: {dict(reasons)}")
        self.reasons = dict(reasons)

    def failed(self, name: str) -> bool:
        """The named item's condition did not hold."""
        return self.reasons.get(name) == ITEM_CONDITION_FAILED

    @property
    def only_conditions(self) -> bool:
        """Cancelled only because conditions did not hold: the data differs from what was
        read. Anything else (load, conflicts) is for the caller to re-raise as a fault."""
        return bool(self.reasons) and all(
            reason == ITEM_CONDITION_FAILED for reason in self.reasons.values())


class Transaction:
    """One TransactWriteItems whose items carry names, committed when the block ends::

        with Transaction(Subscriber) as transaction:
            transaction.update(Subscriber(sid), actions, condition=..., name="subscriber")
            transaction.save(event, condition=..., name="event")

    ``model`` only picks the connection (the tables' region and endpoint are shared).
    Raises ``TransactionCancelled`` when DynamoDB cancels it; other errors propagate.
    """

    # pynamodb sends condition checks, then deletes, then puts, then updates, whatever the
    # order they were added in (Connection.transact_write_items); DynamoDB's cancellation
    # reasons follow the order sent. tests/core/test_conditions.py holds this.
    _SENT_ORDER = ("condition_check", "delete", "save", "update")

    def __init__(self, model: type[Model]) -> None:
        from pynamodb.transactions import TransactWrite

        self._write = TransactWrite(connection=model._get_connection().connection)
        self._names: dict[str, list[str]] = {kind: [] for kind in self._SENT_ORDER}

    def _named(self, kind: str, name: str) -> None:
        if any(name in names for names in self._names.values()):
            raise ValueError(f"two items named {name!r} in one transaction")
        self._names[kind].append(name)

    def save(self, item: Model, condition: Condition | None = None, *, name: str) -> None:
        self._named("save", name)
        self._write.save(item, condition=condition)

    def update(self, item: Model, actions: list[Action], condition: Condition | None = None, *,
               name: str) -> None:
        self._named("update", name)
        self._write.update(item, actions=actions, condition=condition)

    def delete(self, item: Model, condition: Condition | None = None, *, name: str) -> None:
        self._named("delete", name)
        self._write.delete(item, condition=condition)

    def condition_check(self, model: type[Model], hash_key: Any, range_key: Any = None, *,
                        condition: Condition, name: str) -> None:
        self._named("condition_check", name)
        self._write.condition_check(model, hash_key, range_key=range_key, condition=condition)

    def sent_order(self) -> list[str]:
        """The item names in the order DynamoDB receives (and answers) them."""
        return [name for kind in self._SENT_ORDER for name in self._names[kind]]

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        from pynamodb.exceptions import TransactWriteError

        try:
            self._write.__exit__(kind, error, traceback)  # type: ignore[no-untyped-call] # commits if the block succeeded
        except TransactWriteError as problem:
            if problem.cause_response_code != "TransactionCanceledException":
                raise
            reasons = problem.cancellation_reasons or []
            named = {
                name: reason.code
                for name, reason in zip(self.sent_order(), reasons, strict=False)
                if reason is not None and reason.code not in (None, "", "None")
            }
            raise TransactionCancelled(named) from problem
