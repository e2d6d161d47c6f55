"""Counts the hardening tests print at the end of a run (faults injected, examples tried), and
the pytest plugin that prints them (registered through ``pytest_plugins`` in tests/conftest.py).

The tests add to ``COUNTS``; the run ends with one ``HARDENING <title>: <total> (<detail>)``
line per title, for CI logs. Under pytest-xdist (docs/testing.md) each worker counts only its
own tests: a worker hands its counts to the controller through ``config.workeroutput`` when its
session ends, the controller adds every worker's up (``pytest_testnodedown``) and alone prints
the totals, once, as a serial run would.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

COUNTS: defaultdict[str, Counter[str]] = defaultdict(Counter)
WORKER_OUTPUT_KEY = "hardening_counts"


def lines() -> list[str]:
    found: list[str] = []
    for title, counter in sorted(COUNTS.items()):
        if counter:
            detail = ", ".join(f"{key}: {value}" for key, value in sorted(counter.items()))
            found.append(f"{title}: {sum(counter.values())} ({detail})")
    return found


def _is_worker(config: pytest.Config) -> bool:
    """An xdist worker has ``workerinput``; a serial run and the controller have none."""
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _is_worker(session.config):
        # Plain dicts: execnet carries only builtin types. xdist sends workeroutput after
        # every plugin's pytest_sessionfinish (its own is a hook wrapper).
        output: dict[str, Any] = session.config.workeroutput  # type: ignore[attr-defined]
        output[WORKER_OUTPUT_KEY] = {title: dict(counter) for title, counter in COUNTS.items()}


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook; absent with -p no:xdist
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the controller: a worker finished; add its counts (none if it crashed)."""
    for title, counter in getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY, {}).items():
        COUNTS[title].update(counter)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _is_worker(config):
        return  # the controller prints the totals
    for line in lines():
        terminalreporter.write_line(f"HARDENING {line}")
