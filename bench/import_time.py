"""Cold-start cost of `import app` against a hello-world Chalice app that imports boto3.

Both are timed in fresh interpreters in the same run, interleaved, so machine noise hits
both alike; prints the median of each and the ratio (goal: <= 1.10).

    .venv/bin/python bench/import_time.py [rounds]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.10
HELLO = """
import boto3
from chalice import Chalice
app = Chalice(app_name="hello")
@app.route("/")
def index():
    return {"hello": "world"}
"""


def timed_import(module: str, cwd: Path) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                            check=True, env={"STAGE": "local", "AWS_DEFAULT_REGION": "eu-north-1",
                                             "PYTHONDONTWRITEBYTECODE": ""})
    return float(result.stdout.strip())


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory() as folder:
        hello_dir = Path(folder)
        (hello_dir / "hello_app.py").write_text(HELLO)
        timed_import("hello_app", hello_dir)  # warm the .pyc caches of both
        timed_import("app", ROOT)
        ours, baseline = [], []
        for _ in range(rounds):
            baseline.append(timed_import("hello_app", hello_dir))
            ours.append(timed_import("app", ROOT))
    ours_ms, base_ms = statistics.median(ours) * 1000, statistics.median(baseline) * 1000
    ratio = ours_ms / base_ms
    print(f"import app:            {ours_ms:7.1f} ms (median of {rounds})")
    print(f"hello Chalice + boto3: {base_ms:7.1f} ms (baseline, same run)")
    print(f"ratio:                 {ratio:7.2f}  (goal <= {GOAL:.2f}) {'OK' if ratio <= GOAL else 'OVER'}")
    # One machine-readable line per figure, collected by `make bench` into bench/RESULTS.md.
    print("BENCH " + json.dumps({"figure": "import app vs hello Chalice+boto3", "value": f"{ours_ms:.1f} ms",
                                 "baseline": f"{base_ms:.1f} ms", "ratio": round(ratio, 3),
                                 "goal": f"<= {GOAL:.2f}"}, ensure_ascii=False))


if __name__ == "__main__":
    main()
