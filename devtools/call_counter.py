"""Counting the AWS calls the app makes, at its botocore clients (tests and bench/).

Every client the app talks through is hooked: pynamodb's (one per model) and
``chalicelib.aws``'s. A count is ``Counter({"dynamodb.Query": 1})``: deterministic, so
"calls per request" is a figure a test can hold and a benchmark can report.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SERVICES = ("s3", "sesv2", "ses", "sqs", "sns")


def clients_in_use() -> list[Any]:
    """Every botocore client the app talks through: pynamodb's (one per model) and ours."""
    from chalicelib.core import aws
    from devtools.models import all_models

    found: list[Any] = []
    for model in all_models():
        client = model._get_connection().connection.client
        if all(client is not seen for seen in found):
            found.append(client)
    for service in SERVICES:
        found.append(aws.client(service))
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
