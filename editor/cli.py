"""The editors' command: ``borgerdialog`` (installed by ``make``), or ``python -m editor``.

    borgerdialog publish content/              # articles, pages and images; then the site
    borgerdialog preview content/x.md          # a draft as it will look, nothing published
    borgerdialog rebuild [--force]             # render the whole site again
    borgerdialog digest preview|send|runs      # the weekly digest (editor/digest_commands.py)
    borgerdialog replay-failed [--dry-run]     # events functions failed on (editor/replay.py)
    borgerdialog stats [--week W|--month M]    # figures and a chart (editor/stats.py)

Which stack: the local one ``make run`` started (found through ``.local/stack.json``), or a
deployed stage named with ``--stage dev|prod`` (editor/target.py). ``--quiet`` prints only
warnings and errors; ``--progress`` shows the bar also when the output is not a terminal.
Exit codes (docs/editing.md#exit-codes): 0 done, 1 something was rejected or not done,
2 a usage error, 69 no stack to work on, 75 AWS busy (run it again), 77 no credentials or
no permission, 78 a configuration error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from editor.progress import Output

if TYPE_CHECKING:
    from editor.site.build import BuildReport

EX_USAGE = 2
EX_UNAVAILABLE = 69  # sysexits.h: no stack to work on
EX_TEMPFAIL = 75  # sysexits.h: a temporary failure, try again later
EX_NOPERM = 77  # sysexits.h: no credentials, or not allowed
EX_CONFIG = 78  # sysexits.h: a setting is missing or wrong
PROGRAM = "borgerdialog"


class _Failed(Exception):
    """A command ends here with this exit code (the message is already printed)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# -- publish ----------------------------------------------------------------------------------


def _publish(args: argparse.Namespace, output: Output) -> int:
    from editor.publishing import publish_paths

    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        output.error(f"no such file or folder: {', '.join(missing)}")
        return EX_USAGE
    try:
        report = publish_paths(paths, progress=output.step)
    except Exception as problem:
        _transient(problem, output, "nothing is half-written, run publish again in a moment")
        raise
    for label, slugs_ in (("created", report.created), ("updated", report.updated),
                          ("unchanged", report.unchanged)):
        for slug in slugs_:
            output.line(f"{label:9}  {slug}")
    for label, slugs_ in (("created", report.pages.created), ("updated", report.pages.updated),
                          ("unchanged", report.pages.unchanged)):
        for slug in slugs_:
            output.line(f"{label:9}  page /{slug}")
    for note in report.pages.notes:
        output.line(f"note       {note}")
    for message in report.rejected:
        output.rejected(message)
    output.summary(report.summary())
    for line in report.details():
        output.summary(line)
    if not args.no_site:
        site = _build_site(report.changed, output)
        if isinstance(site, int):
            return site
    return 1 if report.rejected else 0


def _transient(problem: BaseException, output: Output, advice: str) -> None:
    """An AWS fault that will pass: say so and end with EX_TEMPFAIL."""
    from chalicelib.core import faults

    found = faults.classify(problem)
    if found is not None:
        output.error(f"AWS is busy or unreachable ({found.code}); {advice}")
        raise _Failed(EX_TEMPFAIL) from problem


def _build_site(changed: list[str], output: Output, *, full: bool = False,
                force: bool = False) -> BuildReport | int:
    """Render and upload the site; print its summary and every problem found, by article.
    On failure, print why and return the exit code instead."""
    from botocore.exceptions import BotoCoreError, ClientError

    from editor.site.build import build_site

    try:
        site = build_site(changed, full=full, force=force, progress=output.step)
    except Exception as error:
        # The manifest records only objects that reached the bucket: a rerun sends the rest.
        _transient(error, output, "the site could not be updated; what was uploaded is recorded, "
                                  "run the same command again in a moment")
        if not isinstance(error, (BotoCoreError, ClientError)) or _is_setup_problem(error):
            raise
        output.error(f"the site could not be updated: {error}")
        return 1
    for problem in site.problems:
        output.warning(problem)
    output.summary(site.summary())
    return site


def _rebuild(args: argparse.Namespace, output: Output) -> int:
    site = _build_site([], output, full=True, force=args.force)
    return site if isinstance(site, int) else 0


def _preview(args: argparse.Namespace, output: Output) -> int:
    from editor import preview

    return preview.run(Path(args.path), output, upload=args.upload, port=args.port)


# -- the command line -------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options every command takes, before or after its name (``publish content/ --stage dev``).
    On the commands their default is "not given", so they never undo the top level's."""
    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    parser.add_argument("--stage", choices=("dev", "prod"), default=default(None),
                        help="work on this deployed stage (credentials: AWS_PROFILE or the usual AWS "
                             "variables); default: the local stack of make run")
    parser.add_argument("--stack", type=Path, default=default(None), metavar="FILE",
                        help="the local stack's settings file (default: .local/stack.json, written by "
                             "make run)")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False),
                        help="print only warnings and errors")
    parser.add_argument("--progress", action="store_true", default=default(False),
                        help="show the progress bar even when the output is not a terminal")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=PROGRAM, description="Publish borgerdialog's articles and pages, preview them, "
        "run the digest. Works on the local stack of make run, or on --stage dev|prod.",
        epilog="Exit codes: 0 done, 1 something rejected or not done, 2 usage, 69 no stack, "
               "75 AWS busy (run again), 77 no credentials or permission, 78 configuration. "
               "Guide: docs/editing.md")
    _common(top, top=True)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    publish = commands.add_parser("publish", help="publish articles, pages and images, then update the site")
    publish.add_argument("paths", nargs="+", metavar="PATH", help="Markdown files or folders of them")
    publish.add_argument("--no-site", action="store_true",
                         help="write articles, pages and images only, not the site's pages")
    publish.set_defaults(run=_publish, needs_stack=True)

    preview = commands.add_parser("preview", help="show one article or page as it will look, draft or not, "
                                                  "without publishing it")
    preview.add_argument("path", metavar="FILE", help="the Markdown file")
    preview.add_argument("--port", type=int, default=0, help="serve on this port (default: a free one)")
    preview.add_argument("--upload", action="store_true",
                         help="put it under a private, unguessable address on the stack's site instead, "
                              "for others to see (noindex, deleted after a day on AWS)")
    preview.set_defaults(run=_preview, needs_stack=None)

    rebuild = commands.add_parser("rebuild", help="render every page of the site and upload what changed")
    rebuild.add_argument("--force", action="store_true",
                         help="upload every object, even those the manifest says are unchanged")
    rebuild.set_defaults(run=_rebuild, needs_stack=True)

    for command in (publish, preview, rebuild):
        _common(command, top=False)
    from editor.digest_commands import add_commands as add_digest_commands

    add_digest_commands(commands, lambda command: _common(command, top=False))
    from editor.replay import add_commands as add_replay_commands

    add_replay_commands(commands, lambda command: _common(command, top=False))
    from editor.stats import add_commands as add_stats_commands

    add_stats_commands(commands, lambda command: _common(command, top=False))
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    output = Output(quiet=args.quiet, progress=True if args.progress else None)
    needs_stack = args.needs_stack if args.needs_stack is not None else bool(getattr(args, "upload", False))
    try:
        if needs_stack:
            _target(args, output)
        result: int = args.run(args, output)
        return result
    except _Failed as failed:
        return failed.code
    except KeyboardInterrupt:
        output.error("stopped (Ctrl-C); what was written is whole, run the command again to finish")
        return 130
    except Exception as problem:
        code = _explain(problem, output)
        if code is None:
            raise  # a bug: the traceback is what a developer needs
        return code


def _target(args: argparse.Namespace, output: Output) -> None:
    from editor import target

    try:
        found = target.apply(stage=args.stage, stack=args.stack)
    except target.TargetError as problem:
        output.error(str(problem))
        raise _Failed(EX_UNAVAILABLE) from problem
    logging.getLogger(__name__).info("Working on %s", found.description)


def _is_setup_problem(error: BaseException) -> bool:
    return _explain(error, None) is not None


def _explain(problem: BaseException, output: Output | None) -> int | None:
    """The exit code and one sentence for what is not a bug: no credentials, no permission,
    a stage that is not deployed, a missing setting, AWS busy. None: a bug."""
    from botocore import exceptions as aws

    from chalicelib.core import faults
    from chalicelib.core.config import ConfigError

    def say(code: int, text: str) -> int:
        if output is not None:
            output.error(text)
        return code

    chain: list[BaseException] = []
    link: BaseException | None = problem
    while link is not None and link not in chain:
        chain.append(link)
        cause = getattr(link, "cause", None)
        link = cause if isinstance(cause, BaseException) else (link.__cause__ or link.__context__)
    for link in chain:
        if isinstance(link, (aws.NoCredentialsError, aws.PartialCredentialsError)):
            return say(EX_NOPERM, "no AWS credentials: log in first (e.g. `aws sso login --profile X` and "
                                  "AWS_PROFILE=X), or use the local stack of make run without --stage")
        if isinstance(link, ConfigError):
            return say(EX_CONFIG, f"a setting is missing or wrong: {link}")
        if isinstance(link, aws.ClientError):
            code = str(link.response.get("Error", {}).get("Code", ""))
            if code in ("AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
                        "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException"):
                return say(EX_NOPERM, f"AWS refused the credentials or the action ({code}): "
                                      f"{link.response.get('Error', {}).get('Message', '')}".rstrip(": "))
            if code in ("ResourceNotFoundException", "NoSuchBucket", "QueueDoesNotExist",
                        "AWS.SimpleQueueService.NonExistentQueue"):
                return say(EX_UNAVAILABLE, f"the stack has no such table, bucket or queue ({code}): is the "
                                           "stage deployed, and is it the stage you meant?")
    found = faults.classify(problem)
    if found is not None:
        return say(EX_TEMPFAIL, f"AWS is busy or unreachable ({found.code}); what was written is whole, "
                                "run the same command again in a moment")
    return None


if __name__ == "__main__":
    sys.exit(main())
