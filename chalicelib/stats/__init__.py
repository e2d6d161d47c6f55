"""Figures for operators, from our own events only (no open pixel, no click redirect, nothing
per reader): ``counting`` keeps counters per ISO week, month and digest in the site table,
written in the same transaction as the ledger event that changes them; ``metrics`` writes
CloudWatch metrics as Embedded Metric Format log lines. The editor's ``stats`` command reads
the counters (editor/stats.py). See docs/operations.md#figures.
"""
