"""Editor and developer commands.

    python -m chalicelib.cli publish content/      # upsert articles, report what changed
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

EX_TEMPFAIL = 75  # sysexits.h: a temporary failure, try again later


def _publish(args: argparse.Namespace) -> int:
    from chalicelib.publishing import publish_paths

    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        report = publish_paths(paths)
    except Exception as problem:
        from chalicelib import transient

        found = transient.classify(problem)
        if found is None:
            raise
        # Each article is one conditional write, so what was written is whole: run it again.
        print(f"error: AWS is busy or unreachable ({found.code}); nothing is half-written, "
              "run publish again in a moment", file=sys.stderr)
        return EX_TEMPFAIL
    for label, slugs_ in (("created", report.created), ("updated", report.updated),
                          ("unchanged", report.unchanged)):
        for slug in slugs_:
            print(f"{label:9}  {slug}")
    for message in report.rejected:
        print(f"rejected   {message}", file=sys.stderr)
    print(report.summary())
    return 1 if report.rejected else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description="borgerdialog commands")
    commands = parser.add_subparsers(dest="command", required=True)
    publish = commands.add_parser("publish", help="publish Markdown articles to DynamoDB")
    publish.add_argument("paths", nargs="+", help="Markdown files or folders of them")
    publish.set_defaults(run=_publish)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
