"""Render the Lambda's least-privilege IAM policy per stage from ``infra/iam/*.yaml``.

Each capability owns one fragment (a list of statements, ``${Stage}`` in resource names),
so adding a capability adds a file instead of editing a shared JSON document. Chalice reads
the result from ``.chalice/policy-<stage>.json`` (``autogen_policy: false``); a test checks
that the committed files are what this renders.

    python -m infra.policy            # write .chalice/policy-dev.json and policy-prod.json
    python -m infra.policy --check    # exit 1 if they are out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FRAGMENTS = Path(__file__).with_name("iam")
DEPLOYED_STAGES = ("dev", "prod")


def _substitute(value: Any, stage: str) -> Any:
    if isinstance(value, str):
        return value.replace("${Stage}", stage)
    if isinstance(value, list):
        return [_substitute(item, stage) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, stage) for key, item in value.items()}
    return value


def render(stage: str) -> dict[str, Any]:
    statements: list[dict[str, Any]] = []
    for fragment in sorted(FRAGMENTS.glob("*.yaml")):
        loaded = yaml.safe_load(fragment.read_text(encoding="utf-8")) or []
        statements.extend(_substitute(statement, stage) for statement in loaded)
    sids = [statement["Sid"] for statement in statements]
    duplicated = sorted({sid for sid in sids if sids.count(sid) > 1})
    if duplicated:
        raise ValueError(f"duplicate Sid(s) across infra/iam: {', '.join(duplicated)}")
    return {"Version": "2012-10-17", "Statement": statements}


def policy_path(stage: str) -> Path:
    return ROOT / ".chalice" / f"policy-{stage}.json"


def dumps(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render .chalice/policy-<stage>.json")
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for stage in DEPLOYED_STAGES:
        text = dumps(render(stage))
        path = policy_path(stage)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date (run python -m infra.policy): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
