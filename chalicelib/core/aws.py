"""Lazily created boto3 clients: one per service per process, reused by a warm Lambda.

boto3 reads ``AWS_ENDPOINT_URL`` itself, so the same code talks to AWS, moto server or
LocalStack. Creating clients from the shared default session is not thread-safe, hence
the lock and the process-local session.

This module imports nothing of ours: ``config`` reads the app secret from SSM through it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

DEFAULT_REGION = "eu-north-1"  # Stockholm: where the stages run when nothing says otherwise
_lock = threading.Lock()
_sessions: list[boto3.session.Session] = []  # at most one; a list avoids `global`
_clients: dict[str, Any] = {}


def region(env: Mapping[str, str] | None = None) -> str:
    """The region the environment names (Lambda sets ``AWS_REGION``), else the default."""
    env = os.environ if env is None else env
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def client(service: str) -> Any:
    """The cached boto3 client for ``service`` (e.g. ``"s3"``, ``"sesv2"``)."""
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(service)
        if found is None:
            import boto3  # deferred: routes that touch no AWS service never pay for it

            if not _sessions:
                _sessions.append(boto3.session.Session())
            session: Any = _sessions[0]
            found = session.client(service, region_name=region())
            _clients[service] = found
        return found


def reset() -> None:
    """Forget every client (tests that swap the endpoint use this)."""
    with _lock:
        _clients.clear()
        _sessions.clear()
