"""What the package's compiled .pyc save at a Lambda cold start.

The prod package (devtools/lambda_package.py) is unzipped twice: as shipped (unchecked-hash
.pyc beside every module) and without any .pyc, run read-only like Lambda's /var/task
(python -B: nothing can be cached, so every cold start compiles again). In
fresh interpreters, interleaved, both import what a first request needs: the app, boto3 and
pynamodb. Prints the medians and the ratio without/with (goal: compiled at least 1.5x faster),
and the zip's size against the package budget of devtools/lambda_package.py.

    .venv/bin/python bench/cold_start_pyc.py [rounds] [--zip build/prod/deployment.zip]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GOAL = 1.5
PROBE = ("import sys, time; sys.path[:] = ['.'] + [p for p in sys.path if 'site-packages' not in p and p]; "
         "t = time.perf_counter(); import app, boto3, pynamodb.models; "
         "print(time.perf_counter() - t)")


def timed(task: Path) -> float:
    env = {"STAGE": "prod", "AWS_REGION": "eu-north-1", "LOG_FORMAT": "text",
           "APP_SECRET_PARAMETER": "/borgerdialog/prod/app-secret"}
    # -B: nothing may be written (Lambda's /var/task is read-only); -I ignores PYTHON* variables.
    done = subprocess.run([sys.executable, "-I", "-B", "-c", PROBE], cwd=task, env=env,
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def main() -> None:
    from devtools import lambda_package

    parser = argparse.ArgumentParser()
    parser.add_argument("rounds", nargs="?", type=int, default=9)
    parser.add_argument("--zip", type=Path)
    args = parser.parse_args()
    package = args.zip
    if package is None:
        package = lambda_package.build("prod", ROOT / "build" / "bench-prod")
    report = lambda_package.check(package)
    print(report.summary(lambda_package.BUDGET_MB))
    print("BENCH " + json.dumps({
        "figure": "prod Lambda package (deployment.zip)", "value": f"{report.size / 1e6:.1f} MB",
        "baseline": f"{lambda_package.BUDGET_MB:.0f} MB budget (Lambda's limit: 50 MB)",
        "ratio": round(report.size / 1e6 / lambda_package.BUDGET_MB, 3), "goal": "<= 1.00"}))
    with tempfile.TemporaryDirectory() as folder:
        compiled, source = Path(folder) / "compiled", Path(folder) / "source"
        with zipfile.ZipFile(package) as archive:
            archive.extractall(compiled)
            for info in archive.infolist():
                if "__pycache__/" not in info.filename:
                    archive.extract(info, source)
        timed(compiled)  # the OS file cache warm for both, as on a warm Lambda host
        timed(source)
        with_pyc, without = [], []
        for _ in range(args.rounds):
            with_pyc.append(timed(compiled))
            without.append(timed(source))
    ours_ms, base_ms = statistics.median(with_pyc) * 1000, statistics.median(without) * 1000
    ratio = base_ms / ours_ms
    print(f"first-request imports, package with .pyc:    {ours_ms:7.1f} ms (median of {args.rounds})")
    print(f"first-request imports, package without .pyc: {base_ms:7.1f} ms (baseline, same run)")
    print(f"without / with:                               {ratio:7.2f}  (goal >= {GOAL:.2f}) "
          f"{'OK' if ratio >= GOAL else 'UNDER'}")
    print("BENCH " + json.dumps({"figure": "cold-start imports: package without .pyc vs with",
                                 "value": f"{ours_ms:.1f} ms", "baseline": f"{base_ms:.1f} ms",
                                 "ratio": round(ratio, 3), "goal": f">= {GOAL:.2f}"}, ensure_ascii=False))


if __name__ == "__main__":
    main()
