"""Fault injection: make chosen AWS calls fail the way AWS fails under load.

A ``before-call`` hook on the app's botocore clients (the mechanism botocore's Stubber
uses) answers matching calls with an AWS error instead of sending them; every other call
still goes to moto server. This is the error the app sees once botocore's own retries are
spent, so the app's answer to it is what a visitor would get.

    faults.inject("dynamodb.PutItem", THROUGHPUT)       # until cleared
    faults.inject("sesv2.*", MESSAGE_REJECTED, times=1)  # once
"""

from __future__ import annotations

import fnmatch
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tests.support.report import COUNTS


@dataclass(frozen=True)
class Fault:
    code: str
    status: int
    message: str
    # A cancelled transaction: each item's reason, in order ("None": not a reason).
    reasons: tuple[str, ...] = ()


THROUGHPUT = Fault("ProvisionedThroughputExceededException", 400,
                   "The level of configured provisioned throughput for the table was exceeded.")
THROTTLING = Fault("ThrottlingException", 400, "Rate of requests exceeds the allowed throughput.")
SLOW_DOWN = Fault("SlowDown", 503, "Please reduce your request rate.")
MESSAGE_REJECTED = Fault("MessageRejected", 400, "Email address is not verified.")
SES_TOO_MANY = Fault("TooManyRequestsException", 429, "Maximum sending rate exceeded.")


def cancelled(*reasons: str) -> Fault:
    """A TransactWriteItems cancelled for ``reasons`` (one per item, "None" for the others)."""
    return Fault("TransactionCanceledException", 400, "Transaction cancelled", tuple(reasons))


ACCESS_DENIED = Fault("AccessDeniedException", 400,
                      "User: arn:aws:sts::123456789012:assumed-role/x is not authorized")

# The faults each service is tested with.
BY_SERVICE: dict[str, tuple[Fault, ...]] = {
    "dynamodb": (THROUGHPUT, THROTTLING),
    "s3": (SLOW_DOWN,),
    "sesv2": (MESSAGE_REJECTED, SES_TOO_MANY),
    "sqs": (THROTTLING,),
}


@dataclass
class _Rule:
    pattern: str
    fault: Fault
    remaining: int | None
    skip: int


class FaultInjector:
    def __init__(self, clients: list[Any]) -> None:
        self._clients = clients
        self._rules: list[_Rule] = []
        self.injected: Counter[str] = Counter()
        self.calls: list[str] = []  # every call the app made, in order, failed or not
        self._lock = threading.Lock()  # the site sync PUTs from a thread pool
        for client in clients:
            client.meta.events.register("before-call.*.*", self._answer, unique_id="fault-injector")

    def inject(self, pattern: str, fault: Fault, *, times: int | None = None, after: int = 0) -> None:
        """Fail calls matching ``service.Operation`` (fnmatch) with ``fault``, letting the first
        ``after`` of them through; ``times`` None: until cleared."""
        self._rules.append(_Rule(pattern, fault, times, after))

    def clear(self) -> None:
        self._rules.clear()

    def close(self) -> None:
        self.clear()
        for client in self._clients:
            client.meta.events.unregister("before-call.*.*", unique_id="fault-injector")

    def _answer(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        call = f"{model.service_model.service_name}.{model.name}"
        with self._lock:
            return self._answer_locked(call)

    def _answer_locked(self, call: str) -> tuple[AWSResponse, dict[str, Any]] | None:
        self.calls.append(call)
        for rule in self._rules:
            if rule.remaining == 0 or not fnmatch.fnmatchcase(call, rule.pattern):
                continue
            if rule.skip > 0:
                rule.skip -= 1
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            self.injected[f"{call} {rule.fault.code}"] += 1
            COUNTS["faults injected"][rule.fault.code] += 1
            fault = rule.fault
            parsed: dict[str, Any] = {"Error": {"Code": fault.code, "Message": fault.message},
                      "ResponseMetadata": {"HTTPStatusCode": fault.status, "HTTPHeaders": {}}}
            if fault.reasons:
                parsed["CancellationReasons"] = [{"Code": reason} for reason in fault.reasons]
            http: Any = AWSResponse  # as botocore's Stubber builds it: no URL, headers or body
            return http(None, fault.status, {}, None), parsed
        return None


@pytest.fixture
def faults() -> Iterator[FaultInjector]:
    from devtools.call_counter import clients_in_use

    injector = FaultInjector(clients_in_use())
    yield injector
    injector.close()


def matrix(calls: list[str]) -> list[tuple[str, int, Fault]]:
    """Each call of a write path (``service.Operation`` in order) with each fault of its
    service: (operation, how many of that operation to let through first, fault)."""
    seen: Counter[str] = Counter()
    cases: list[tuple[str, int, Fault]] = []
    for call in calls:
        for fault in BY_SERVICE[call.split(".")[0]]:
            cases.append((call, seen[call], fault))
        seen[call] += 1
    return cases


def case_id(value: Any) -> str:
    if isinstance(value, Fault):
        return value.code
    return str(value)


INTERNALS = ("Traceback", "botocore", "arn:aws", "pynamodb", "File \"")


def assert_clean_unavailable(status: int, headers: dict[str, str], body: str) -> dict[str, Any]:
    """A 503 a client can act on: Retry-After, ``{"Code","Message"}`` in Danish, no internals."""
    assert status == 503, body
    assert int(headers["Retry-After"]) > 0
    assert headers["Cache-Control"] == "no-store"
    payload: dict[str, Any] = json.loads(body)
    assert set(payload) == {"Code", "Message"} and payload["Code"] == "ServiceUnavailable"
    assert "prøv igen" in payload["Message"].lower()
    assert not any(marker in body for marker in INTERNALS)
    return payload
