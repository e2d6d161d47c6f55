"""A deployed stage's settings in this shell, from its stack: nothing kept on the machine.

    eval "$(python -m infra.configure env --stage dev)"  # the stage's settings (editor CLI)

``env`` prints ``export NAME=value`` for the stage's ``environment_variables`` in
``.chalice/config.json`` overlaid with every output of the stack ``borgerdialog-<stage>``
whose Description starts with ``env NAME`` (table, bucket, queue names, the site's URL). The
functions get the same values from the stack itself (infra/merged.py), so nobody copies a
name by hand and a fresh clone needs no file from an earlier deploy
(docs/decisions/deploy-path.md).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".chalice" / "config.json"
_ENV_DESCRIPTION = re.compile(r"^env ([A-Z][A-Z0-9_]*)\b")


def stack_name(stage: str) -> str:
    return f"borgerdialog-{stage}"


def env_outputs(outputs: list[dict[str, str]]) -> dict[str, str]:
    """Environment variable -> value, from outputs described ``env NAME``."""
    found: dict[str, str] = {}
    for output in outputs:
        match = _ENV_DESCRIPTION.match(output.get("Description", ""))
        if match:
            found[match.group(1)] = output["OutputValue"]
    return found


def read_config(path: Path = CONFIG) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return config


def stage_environment(config: dict[str, Any], stage: str,
                      outputs: list[dict[str, str]]) -> dict[str, str]:
    """The stage's variables from config.json, overlaid with the stack's ``env`` outputs."""
    if stage not in config["stages"]:
        raise SystemExit(f"no stage {stage!r} in .chalice/config.json")
    env: dict[str, str] = dict(config["stages"][stage].get("environment_variables", {}))
    env.update(env_outputs(outputs))
    return env


def _env(args: argparse.Namespace, session: Any) -> int:
    import shlex

    stack = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
    env = stage_environment(read_config(args.config), args.stage, stack.get("Outputs", []))
    for name, value in sorted(env.items()):
        print(f"export {name}={shlex.quote(value)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("env", help="export the stage's settings (eval it)")
    command.add_argument("--stage", required=True)
    command.add_argument("--stack", help="default: borgerdialog-<stage>")
    command.add_argument("--region", help="default: the AWS CLI's")
    command.add_argument("--config", type=Path, default=CONFIG)
    args = parser.parse_args(argv)
    args.stack = args.stack or stack_name(args.stage)
    return _env(args, boto3.session.Session(region_name=args.region))


if __name__ == "__main__":
    sys.exit(main())
