"""Editor and developer commands.

    python -m editor publish content/      # upsert articles, update the site, report
    python -m editor rebuild [--force]     # render the whole site again (progress bar)
    python -m editor digest preview|send|runs   # the weekly digest (editor/digest_commands.py)
    python -m editor replay-failed [--dry-run]  # events functions failed on (editor/replay.py)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from editor.site.build import BuildReport

EX_TEMPFAIL = 75  # sysexits.h: a temporary failure, try again later


def _publish(args: argparse.Namespace) -> int:
    from editor.publishing import publish_paths

    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        report = publish_paths(paths)
    except Exception as problem:
        from chalicelib.core import faults

        found = faults.classify(problem)
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
    if not args.no_site:
        site = _build_site(report.changed)
        if isinstance(site, int):
            return site
    return 1 if report.rejected else 0


def _build_site(changed: list[str], *, full: bool = False, force: bool = False,
                progress: bool = False) -> BuildReport | int:
    """Render and upload the site; print its summary and every problem found, by article.
    On failure, print why and return the exit code instead."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.core import faults
    from editor.site.build import build_site

    try:
        site = build_site(changed, full=full, force=force, progress=_progress_bar if progress else None)
    except Exception as error:
        found = faults.classify(error)
        if found is not None:
            # The manifest records only objects that reached the bucket: a rerun sends the rest.
            print(f"error: the site could not be updated: AWS is busy or unreachable ({found.code}); "
                  "what was uploaded is recorded, run the same command again in a moment", file=sys.stderr)
            return EX_TEMPFAIL
        if not isinstance(error, (BotoCoreError, ClientError)):
            raise
        print(f"error: the site could not be updated: {error}", file=sys.stderr)
        return 1
    if progress:
        print(file=sys.stderr)
    for problem in site.problems:
        print(f"warning    {problem}", file=sys.stderr)
    print(site.summary())
    return site


def _progress_bar(phase: str, done: int, total: int) -> None:
    width = 30
    filled = width * done // total if total else width
    bar = "#" * filled + "-" * (width - filled)
    print(f"\r{phase:7} [{bar}] {done}/{total}", end="", file=sys.stderr, flush=True)
    if done == total:
        print(file=sys.stderr)


def _rebuild(args: argparse.Namespace) -> int:
    site = _build_site([], full=True, force=args.force, progress=sys.stderr.isatty() or args.progress)
    return site if isinstance(site, int) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m editor", description="borgerdialog commands")
    commands = parser.add_subparsers(dest="command", required=True)
    publish = commands.add_parser("publish", help="publish Markdown articles to DynamoDB")
    publish.add_argument("paths", nargs="+", help="Markdown files or folders of them")
    publish.add_argument("--no-site", action="store_true", help="only write the articles table")
    publish.set_defaults(run=_publish)
    rebuild = commands.add_parser("rebuild", help="render every page of the site and upload what changed")
    rebuild.add_argument("--force", action="store_true",
                         help="upload every object, even those the manifest says are unchanged")
    rebuild.add_argument("--progress", action="store_true", help="show the progress bar even when piped")
    rebuild.set_defaults(run=_rebuild)
    from editor.digest_commands import add_commands as add_digest_commands

    add_digest_commands(commands)
    from editor.replay import add_commands as add_replay_commands

    add_replay_commands(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
