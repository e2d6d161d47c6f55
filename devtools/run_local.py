"""The whole product on one machine: ``make run``.

Starts the local stack (``devtools.stack``: moto server with the template's resources,
``chalice local``, the site server), publishes ``content/`` (articles, pages, images and the
static site), writes the stack's settings to ``.local/stack.json`` for the editor command
(``borgerdialog publish …`` in a second terminal finds the stack there: endpoint, names,
addresses, the run's throwaway secret; see editor/target.py), prints the URLs, and stops it
all on Ctrl-C, removing that file. No AWS account is involved: every call goes to the moto
server.

It fails loudly: when a process of the stack (moto server, chalice local) does not start or
exits, everything stops with a message naming it and the logs, and the exit code is 1, rather
than a site that half answers.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from devtools.stack import ROOT, LocalStack
from editor.target import remove_stack_file, write_stack_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run borgerdialog locally against moto server.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")),
                        help="port for the API (default: a free one)")
    parser.add_argument("--site-port", type=int, default=int(os.environ.get("SITE_PORT", "0")),
                        help="port for the site (default: a free one)")
    parser.add_argument("--log-dir", type=Path, default=ROOT / ".local",
                        help="where moto.log, chalice.log and stack.json go (default: .local/)")
    parser.add_argument("--content", type=Path, default=ROOT / "content",
                        help="what to publish on start (default: content/)")
    args = parser.parse_args(argv)

    state = args.log_dir
    try:
        stack = LocalStack.start(log_dir=state, site_port=args.site_port, api_port=args.port)
    except RuntimeError as problem:
        print(f"borgerdialog did not start: {problem}; see the logs in {state}", file=sys.stderr)
        return 1

    stack_file = state / "stack.json"

    def stop(signum: int | None = None, frame: FrameType | None = None) -> None:
        remove_stack_file(stack_file, os.getpid())
        stack.stop()
        if signum is not None:
            print("\nborgerdialog stopped.")
            sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        _publish(args.content)
        moto = stack.aws.url
        write_stack_file(stack_file, environment=stack.environment, pid=os.getpid(),
                         started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                         urls={"site": stack.site_url, "api": stack.api_url, "chalice": stack.chalice_url,
                               "moto": moto})
        print(f"""
borgerdialog is running (Ctrl-C stops everything):
  site         {stack.site_url}/
  signup       {stack.site_url}/nyhedsbrev
  outbox       {stack.site_url}/_outbox   (or: AWS_ENDPOINT_URL={moto} .venv/bin/python -m devtools.outbox)
  API          {stack.api_url}/articles   (chalice local itself: {stack.chalice_url})
  an article   {stack.api_url}/articles/samarbejde-med-borgere-kan-laeres
  categories   {stack.api_url}/categories
  moto server  {moto}/moto-api/
  logs         {state}/chalice.log, {state}/moto.log

In a second terminal, the editor command finds this stack by itself ({stack_file}):
  .venv/bin/borgerdialog publish content/     (or: .venv/bin/python -m editor publish content/)
  .venv/bin/borgerdialog preview content/<file>.md
  .venv/bin/borgerdialog digest send
""", flush=True)
        while not stack.dead():
            time.sleep(0.5)
        print(f"borgerdialog stopped: {', '.join(stack.dead())} exited; see the logs in {state}",
              file=sys.stderr)
        return 1
    finally:
        stop()


def _publish(content: Path) -> None:
    """The editor's publish, in this process (its environment points at the stack)."""
    from editor.publishing import publish_paths
    from editor.site.build import build_site

    report = publish_paths([content])
    print(f"Published {content.name}/: {report.summary()}")
    for line in report.details():
        print(f"  {line}")
    for message in report.rejected:
        print(f"  rejected {message}")
    site = build_site(report.changed)
    print(f"Rendered the site into the bucket: {site.summary()}")
    for problem in site.problems:
        print(f"  warning {problem}")


if __name__ == "__main__":
    sys.exit(main())
