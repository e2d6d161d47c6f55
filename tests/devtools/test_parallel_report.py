"""Under pytest-xdist the HARDENING lines are still the run's totals, printed once.

A small suite in a subprocess adds known counts from tests that the workers share out; the
controller must print every title once, with the sum over all workers, as a serial run does
(tests/support/report.py; docs/testing.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fixtures import ROOT

pytestmark = pytest.mark.no_aws

# Four files of four tests: with `--dist load` and two workers both get some of them.
SUITE = '''
import pytest
from tests.support.report import COUNTS

@pytest.mark.parametrize("n", range(4))
def test_count(n: int) -> None:
    COUNTS["faults injected"]["{code}"] += n + 1  # 1 + 2 + 3 + 4 = 10 per file
    COUNTS["examples tried"]["{code}"] += 1
'''


def _run(folder: Path, *args: str) -> str:
    for code in ("A", "B", "C", "D"):
        (folder / f"test_{code.lower()}.py").write_text(SUITE.replace("{code}", code), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # -c /dev/null: not the checkout's settings (its addopts); -p: the plugin under test alone.
    done = subprocess.run([sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(folder),
                           "-p", "tests.support.report", "-p", "no:cacheprovider", *args, str(folder)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _hardening(output: str) -> list[str]:
    return re.findall(r"^HARDENING .*$", output, flags=re.MULTILINE)


def test_workers_counts_are_added_up_and_printed_once(tmp_path: Path) -> None:
    output = _run(tmp_path, "-n", "2", "--dist", "load")
    assert "2 workers [16 items]" in output, output  # really shared out between two workers
    assert _hardening(output) == [
        "HARDENING examples tried: 16 (A: 4, B: 4, C: 4, D: 4)",
        "HARDENING faults injected: 40 (A: 10, B: 10, C: 10, D: 10)",
    ]


def test_a_serial_run_prints_the_same_totals(tmp_path: Path) -> None:
    serial = _hardening(_run(tmp_path, "-n", "0"))
    assert serial and serial == _hardening(_run(tmp_path, "-n", "2"))
