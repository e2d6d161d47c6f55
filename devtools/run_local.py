"""The whole product on one machine: ``make run``.

Starts the local stack (``devtools.stack``: moto server with the template's resources,
``chalice local``, the site server), publishes ``content/`` (articles and the static site),
prints the URLs, and stops it all on Ctrl-C. No AWS account is involved: every call goes to
the moto server.

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
from pathlib import Path
from types import FrameType

from devtools.stack import ROOT, LocalStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run borgerdialog locally against moto server.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")),
                        help="port for the API (default: a free one)")
    parser.add_argument("--site-port", type=int, default=int(os.environ.get("SITE_PORT", "0")),
                        help="port for the site (default: a free one)")
    parser.add_argument("--log-dir", type=Path, default=ROOT / ".local",
                        help="where moto.log and chalice.log go (default: .local/)")
    args = parser.parse_args(argv)

    state = args.log_dir
    try:
        stack = LocalStack.start(log_dir=state, site_port=args.site_port, api_port=args.port)
    except RuntimeError as problem:
        print(f"borgerdialog did not start: {problem}; see the logs in {state}", file=sys.stderr)
        return 1

    def stop(signum: int | None = None, frame: FrameType | None = None) -> None:
        stack.stop()
        if signum is not None:
            print("\nborgerdialog stopped.")
            sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        _publish(ROOT / "content")
        moto = stack.aws.url
        print(f"""
borgerdialog is running (Ctrl-C stops everything):
  site         {stack.site_url}/
  signup       {stack.site_url}/nyhedsbrev
  outbox       {stack.site_url}/_outbox   (or: AWS_ENDPOINT_URL={moto} .venv/bin/python -m devtools.outbox)
  API          {stack.api_url}/articles   (chalice local itself: {stack.chalice_url})
  an article   {stack.api_url}/articles/samarbejde-med-borgere-kan-laeres
  categories   {stack.api_url}/categories
  moto server  {moto}/moto-api/   (AWS_ENDPOINT_URL={moto})
  logs         {state}/chalice.log, {state}/moto.log
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
    for message in report.rejected:
        print(f"  rejected {message}")
    site = build_site(report.changed)
    print(f"Rendered the site into the bucket: {site.summary()}")
    for problem in site.problems:
        print(f"  warning {problem}")


if __name__ == "__main__":
    sys.exit(main())
