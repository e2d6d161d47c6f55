"""Counts the hardening tests print at the end of a run (faults injected, examples tried)."""

from __future__ import annotations

from collections import Counter, defaultdict

COUNTS: defaultdict[str, Counter[str]] = defaultdict(Counter)


def lines() -> list[str]:
    found: list[str] = []
    for title, counter in sorted(COUNTS.items()):
        if counter:
            detail = ", ".join(f"{key}: {value}" for key, value in sorted(counter.items()))
            found.append(f"{title}: {sum(counter.values())} ({detail})")
    return found
