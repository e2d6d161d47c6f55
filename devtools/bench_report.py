"""``make bench``: run every ``bench/*.py`` and collect their BENCH lines into one table.

Each script prints human lines plus one machine-readable line per figure:
``BENCH {"figure", "value", "baseline", "ratio", "goal"}``. This runs them one after
another (never in parallel: they time things), echoes their output, and writes
``bench/RESULTS.md`` with the date, the machine and the commit, so the figures can be
compared commit to commit. A script that fails is listed as failed and the exit code is 1.

    python -m devtools.bench_report                 # every bench/*.py, a new table
    python -m devtools.bench_report bench/load.py   # run only these; keep the other rows
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "RESULTS.md"
PREFIX = "BENCH "
_GOAL = re.compile(r"^\s*(<=|>=|<|>|==)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Row:
    script: str
    figure: str
    value: str
    baseline: str
    ratio: str
    goal: str
    met: str


def goal_met(ratio: Any, goal: str) -> str:
    """"yes"/"no" when the goal is a comparison of the ratio with a number, else "–"."""
    match = _GOAL.match(goal or "")
    try:
        number = float(ratio)
    except (TypeError, ValueError):
        return "–"
    if match is None:
        return "–"
    operator, limit = match.group(1), float(match.group(2))
    met = {"<=": number <= limit, ">=": number >= limit, "<": number < limit,
           ">": number > limit, "==": number == limit}[operator]
    return "yes" if met else "**no**"


def parse(script: str, output: str) -> list[Row]:
    rows: list[Row] = []
    for line in output.splitlines():
        if not line.startswith(PREFIX):
            continue
        data = json.loads(line[len(PREFIX):])
        ratio = data.get("ratio", "")
        rows.append(Row(script, str(data["figure"]), str(data.get("value", "")),
                        str(data.get("baseline", "")), "" if ratio in (None, "") else f"{ratio}",
                        str(data.get("goal", "")), goal_met(ratio, str(data.get("goal", "")))))
    return rows


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
            f"Python {platform.python_version()}")


def _commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True, check=False).stdout.strip()
    return (result.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty else "")


def previous_rows(text: str, keep: set[str]) -> list[Row]:
    """Rows of an earlier RESULTS.md whose script is in ``keep`` (a partial rerun keeps them)."""
    rows: list[Row] = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith(("| figure ", "|---")):
            continue
        cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip("|"))]
        if len(cells) == 7 and cells[6] in keep:
            rows.append(Row(cells[6], cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows: list[Row], failed: list[str], seconds: dict[str, float], *, partial: bool = False) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, "
        f"commit {_commit()}.",
        f"Machine: {_machine()}.",
        "Each ratio compares a figure with a baseline measured in the same run on the same machine.",
        *(["Partial run: only the scripts listed below ran now; the other rows are from the run before."]
          if partial else []),
        "",
        "| figure | value | baseline | ratio | goal | met | script |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(c) for c in (row.figure, row.value, row.baseline, row.ratio,
                                                            row.goal, row.met, row.script)) + " |")
    lines.append("")
    lines.append("Scripts: " + ", ".join(f"`{name}` {secs:.0f} s" for name, secs in seconds.items()) + ".")
    if failed:
        lines.append("")
        lines.append("**Failed** (no figures): " + ", ".join(f"`{name}`" for name in failed) + ".")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    scripts = [Path(a) for a in args] if args else sorted(BENCH.glob("*.py"))
    rows: list[Row] = []
    failed: list[str] = []
    seconds: dict[str, float] = {}
    for script in scripts:
        name = script.name
        print(f"== {name}", flush=True)
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        output: list[str] = []
        for line in process.stdout:
            print(line, end="", flush=True)
            output.append(line)
        seconds[name] = time.monotonic() - started
        found = parse(name, "".join(output))
        if process.wait() != 0 or not found:
            failed.append(name)
        rows.extend(found)
    if args and RESULTS.exists():
        # A partial rerun: the scripts not run keep their rows (and say so by their script).
        others = {path.name for path in BENCH.glob("*.py")} - {script.name for script in scripts}
        rows = previous_rows(RESULTS.read_text(encoding="utf-8"), others) + rows
        rows.sort(key=lambda row: row.script)
    RESULTS.write_text(render(rows, failed, seconds, partial=bool(args)), encoding="utf-8")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}: {len(rows)} figures from {len(scripts)} scripts"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
