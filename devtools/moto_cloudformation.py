"""A check of the template, not a way to make resources: deploy infra/template.yaml through
moto server's CloudFormation, the part moto can make (``tests/deploy``). The app's local
resources come from ``devtools.provision``, the one path from the template to a local stack.

moto's CloudFormation knows DynamoDB tables, S3 buckets, SQS queues and SNS topics, but not
CloudFront, CloudWatch alarms, SES configuration sets or bucket/topic policies. Handing it
the whole template would leave those out silently and then fail on the first ``!GetAtt`` of
one. So the template is filtered first, openly: resources of a type moto does not know are
left out, then everything that refers to a left-out resource (resources, conditions'
users, outputs), until nothing refers to a missing name. ``left_out`` says what and why.

    python -m devtools.moto_cloudformation --list       # what moto would not deploy, and why
"""

from __future__ import annotations

import argparse
import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def moto_resource_types() -> frozenset[str]:
    """The resource types moto's CloudFormation makes (its server has the same list)."""
    from moto.cloudformation.parsing import get_model_map

    return frozenset(get_model_map())


def _references(value: Any) -> Iterator[str]:
    """Logical ids a template fragment refers to (Ref, GetAtt, Sub, DependsOn)."""
    if isinstance(value, list):
        for item in value:
            yield from _references(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                yield arg
            elif key == "Fn::GetAtt":
                yield arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                yield from _SUB_NAME.findall(text)
                if not isinstance(arg, str):
                    yield from _references(arg[1])
            elif key == "DependsOn":
                yield from [arg] if isinstance(arg, str) else arg
            else:
                yield from _references(arg)


@dataclass
class Subset:
    template: dict[str, Any]
    # logical id -> why it was left out
    left_out: dict[str, str] = field(default_factory=dict)
    dropped_outputs: dict[str, str] = field(default_factory=dict)


def supported_subset(template: dict[str, Any], known: frozenset[str] | None = None) -> Subset:
    """The template without what moto cannot make and what depends on it."""
    known = moto_resource_types() if known is None else known
    result = Subset(copy.deepcopy(template))
    resources: dict[str, Any] = result.template["Resources"]
    for logical_id, resource in list(resources.items()):
        if resource["Type"] not in known:
            result.left_out[logical_id] = f"{resource['Type']} is not in moto's CloudFormation"
            del resources[logical_id]
    changed = True
    while changed:
        changed = False
        for logical_id, resource in list(resources.items()):
            missing = sorted(set(_references(resource)) & set(result.left_out))
            if missing:
                result.left_out[logical_id] = f"{resource['Type']} refers to {', '.join(missing)}"
                del resources[logical_id]
                changed = True
    outputs: dict[str, Any] = result.template.get("Outputs", {})
    for name, output in list(outputs.items()):
        missing = sorted(set(_references(output)) & set(result.left_out))
        if missing:
            result.dropped_outputs[name] = f"refers to {', '.join(missing)}"
            del outputs[name]
    return result


def parameters(stage: str, **overrides: str) -> list[dict[str, str]]:
    return [{"ParameterKey": key, "ParameterValue": value}
            for key, value in {"Stage": stage, **overrides}.items()]


def main(argv: list[str] | None = None) -> None:
    from infra.template import load_template

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--list", action="store_true", help="print what is left out, and why")
    parser.parse_args(argv)
    subset = supported_subset(load_template())
    for logical_id, why in sorted(subset.left_out.items()):
        print(f"resource  {logical_id:32} {why}")
    for name, why in sorted(subset.dropped_outputs.items()):
        print(f"output    {name:32} {why}")


if __name__ == "__main__":
    main()
