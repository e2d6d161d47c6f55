"""Carry the infra stack's facts into Chalice's config, and Chalice's API back into the stack.

    python -m infra.configure outputs --stage dev      # stack outputs -> .chalice/config.json
    python -m infra.configure api-origin --stage dev   # the deployed API -> CloudFront's /api/*
    python -m infra.configure throttle --stage dev     # API Gateway stage throttling from config.json
    eval "$(python -m infra.configure env --stage dev)" # the stage's settings in this shell (editor CLI)

``outputs`` reads the stack ``borgerdialog-<stage>`` and writes every output whose
Description starts with ``env NAME`` into that stage's ``environment_variables``, so nobody
copies a table name or URL by hand. It prints each variable it set and whether it changed.

``api-origin`` reads the REST API that ``chalice deploy`` made (``.chalice/deployed/<stage>.json``)
and updates the stack with its host name, so CloudFront sends ``/api/*`` there.

``throttle`` applies the stage's ``api_throttling`` (``rate_limit`` requests/s, ``burst_limit``)
from ``.chalice/config.json`` to every method of the API's stage: Chalice has no setting for it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

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


def write_config(config: dict[str, Any], path: Path = CONFIG) -> None:
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def apply_outputs(config: dict[str, Any], stage: str, values: dict[str, str]) -> dict[str, str | None]:
    """Set the stage's variables; returns name -> previous value (None: new) for each change."""
    if stage not in config["stages"]:
        raise SystemExit(f"no stage {stage!r} in .chalice/config.json")
    env: dict[str, str] = config["stages"][stage].setdefault("environment_variables", {})
    changed: dict[str, str | None] = {}
    for name, value in values.items():
        if env.get(name) != value:
            changed[name] = env.get(name)
            env[name] = value
    return changed


def _outputs(args: argparse.Namespace, session: Any) -> int:
    stack = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
    values = env_outputs(stack.get("Outputs", []))
    if not values:
        print(f"stack {args.stack} has no env outputs", file=sys.stderr)
        return 1
    config = read_config(args.config)
    changed = apply_outputs(config, args.stage, values)
    write_config(config, args.config)
    for name, value in sorted(values.items()):
        state = "unchanged" if name not in changed else ("new" if changed[name] is None else "changed")
        print(f"{name:28} {value}  ({state})")
    print(f"wrote {len(changed)} change(s) to {args.config}")
    return 0


def deployed_rest_api(config_path: Path, stage: str) -> dict[str, str]:
    """The REST API record `chalice deploy` left in .chalice/deployed/<stage>.json."""
    path = config_path.parent / "deployed" / f"{stage}.json"
    if path.exists():
        for resource in json.loads(path.read_text(encoding="utf-8"))["resources"]:
            if resource.get("resource_type") == "rest_api":
                return dict(resource)
    raise SystemExit(f"no REST API in {path}: run `chalice deploy --stage {stage}` first")


def _api_origin(args: argparse.Namespace, session: Any) -> int:
    host = urlparse(deployed_rest_api(args.config, args.stage)["rest_api_url"]).netloc
    cfn = session.client("cloudformation")
    stack = cfn.describe_stacks(StackName=args.stack)["Stacks"][0]
    # The stack's current values, given back as they are (none is NoEcho).
    params = [
        {"ParameterKey": p["ParameterKey"], "ParameterValue": p["ParameterValue"]}
        for p in stack.get("Parameters", []) if p["ParameterKey"] != "ApiDomainName"
    ]
    params.append({"ParameterKey": "ApiDomainName", "ParameterValue": host})
    cfn.update_stack(StackName=args.stack, UsePreviousTemplate=True, Parameters=params)
    print(f"updating {args.stack}: /api/* -> {host} (CloudFront takes a few minutes)")
    cfn.get_waiter("stack_update_complete").wait(StackName=args.stack)
    print(f"{args.stack}: UPDATE_COMPLETE")
    return 0


def throttle_patch(config: dict[str, Any], stage: str) -> list[dict[str, str]]:
    limits = config["stages"][stage].get("api_throttling")
    if not limits:
        raise SystemExit(f"no api_throttling for stage {stage!r} in .chalice/config.json")
    return [
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(limits["rate_limit"])},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(limits["burst_limit"])},
    ]


def _throttle(args: argparse.Namespace, session: Any) -> int:
    config = read_config(args.config)
    patch = throttle_patch(config, args.stage)
    api = deployed_rest_api(args.config, args.stage)
    stage_name = config["stages"][args.stage].get("api_gateway_stage", "api")
    session.client("apigateway").update_stage(
        restApiId=api["rest_api_id"], stageName=stage_name, patchOperations=patch)
    print(f"{api['rest_api_id']}/{stage_name}: rate {patch[0]['value']}/s, burst {patch[1]['value']}")
    return 0


def _env(args: argparse.Namespace, session: Any) -> int:
    import shlex

    env = read_config(args.config)["stages"][args.stage].get("environment_variables", {})
    for name, value in sorted(env.items()):
        print(f"export {name}={shlex.quote(value)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("outputs", "api-origin", "throttle", "env"):
        command = commands.add_parser(name)
        command.add_argument("--stage", required=True)
        command.add_argument("--stack", help="default: borgerdialog-<stage>")
        command.add_argument("--region", help="default: the AWS CLI's")
        command.add_argument("--config", type=Path, default=CONFIG)
    args = parser.parse_args(argv)
    args.stack = args.stack or stack_name(args.stage)
    session = boto3.session.Session(region_name=args.region)
    handlers = {"outputs": _outputs, "api-origin": _api_origin, "throttle": _throttle, "env": _env}
    return handlers[args.command](args, session)


if __name__ == "__main__":
    sys.exit(main())
