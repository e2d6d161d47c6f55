"""Counting the AWS calls the app makes, at its botocore clients (tests and bench/).

Every client the app talks through is hooked: pynamodb's (one per model) and
``chalicelib.aws``'s. A count is ``Counter({"dynamodb.Query": 1})``: deterministic, so
"calls per request" is a figure a test can hold and a benchmark can report.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SERVICES = ("s3", "sesv2", "ses", "sqs", "sns")


def clients_in_use() -> list[Any]:
    """Every botocore client the app talks through: pynamodb's (one per model) and ours."""
    from pynamodb.models import Model

    from chalicelib import aws

    found: list[Any] = []
    for model in all_models(Model):
        client = model._get_connection().connection.client
        if all(client is not seen for seen in found):
            found.append(client)
    for service in SERVICES:
        found.append(aws.client(service))
    return found


def all_models(base: type[Any]) -> list[type[Any]]:
    import chalicelib.models

    for info in pkgutil.iter_modules(chalicelib.models.__path__):
        importlib.import_module(f"chalicelib.models.{info.name}")
    found: list[type[Any]] = []
    for subclass in base.__subclasses__():
        if getattr(getattr(subclass, "Meta", None), "table_name", None):
            found.append(subclass)
        found.extend(all_models(subclass))
    return found


@contextmanager
def counting(unique_id: str = "call-counter") -> Iterator[Counter[str]]:
    """Counts calls on every client in use while the block runs (thread-safe)."""
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def count(model: Any, **_: Any) -> None:
        with lock:
            calls[f"{model.service_model.service_name}.{model.name}"] += 1

    clients = clients_in_use()
    for client in clients:
        client.meta.events.register("before-call.*.*", count, unique_id=unique_id)
    try:
        yield calls
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.*.*", unique_id=unique_id)
