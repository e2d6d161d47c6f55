"""CloudWatch metrics as Embedded Metric Format (EMF) log lines: no PutMetricData call on a
request path. CloudWatch Logs turns each line a Lambda prints into metrics in namespace
``Borgerdialog`` with the dimension ``Stage`` (the dashboard in infra/template.yaml reads
them). Outside Lambda (tests, ``make run``) nothing is printed unless ``METRICS_EMF=1``.

Our own ten lines instead of Powertools' ``Metrics``: we need one flat line per change, no
decorator, no flush at the end of the invocation, and nothing added to ``import app`` or the
package (docs/decisions/metrics-emf.md).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping

NAMESPACE = "Borgerdialog"


def counts(names: Iterable[str]) -> dict[str, int]:
    return dict(Counter(names))


def enabled() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) or os.environ.get("METRICS_EMF") == "1"


def line(values: Mapping[str, float], *, stage: str) -> str:
    """One EMF document: every value a Count metric with the dimension Stage."""
    return json.dumps({
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Stage"]],
                "Metrics": [{"Name": name, "Unit": "Count"} for name in sorted(values)],
            }],
        },
        "Stage": stage,
        **{name: value for name, value in sorted(values.items())},
    }, separators=(",", ":"))


def emit(values: Mapping[str, float]) -> None:
    """Print one EMF line (stdout is the function's log) when running in Lambda."""
    if not values or not enabled():
        return
    from chalicelib.core.config import get_settings

    sys.stdout.write(line(values, stage=get_settings().stage) + "\n")
    sys.stdout.flush()
