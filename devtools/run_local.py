"""The whole product on one machine: ``make run``.

Starts moto server on a free loopback port, creates the resources of infra/template.yaml,
publishes content/ (articles and the static site), starts ``chalice local`` and the site
server (the bucket, the security headers, the API under /api, the outbox), prints the
URLs, and stops it all on Ctrl-C.
No AWS account is involved: every call goes to the moto server.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

from devtools import moto_server

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-north-1"


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers; a 4xx is still an answer
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run borgerdialog locally against moto server.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")),
                        help="port for the API (default: a free one)")
    parser.add_argument("--site-port", type=int, default=int(os.environ.get("SITE_PORT", "0")),
                        help="port for the site (default: a free one)")
    args = parser.parse_args(argv)

    state = ROOT / ".local"
    state.mkdir(exist_ok=True)
    moto = moto_server.start(log_path=str(state / "moto.log"))
    api_port = args.port or moto_server.free_port()
    chalice_url = f"http://127.0.0.1:{api_port}"
    site_port = args.site_port or moto_server.free_port()
    site_url = f"http://127.0.0.1:{site_port}"
    # As on AWS, the API lives under /api on the site's origin (the site server proxies it),
    # so links in mails and the pages' forms use the same addresses a visitor would.
    api_url = f"{site_url}/api"
    os.environ.update({
        **moto_server.FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "STAGE": "local",
        # Throwaway: cursors and tokens of this run die with it, as they should locally.
        "APP_SECRET": os.environ.get("APP_SECRET") or secrets.token_hex(32),
        "API_URL": api_url,
        "SITE_URL": site_url,
    })
    os.environ.pop("AWS_PROFILE", None)
    children: list[subprocess.Popen[bytes]] = []

    def stop(signum: int | None = None, frame: FrameType | None = None) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
        moto.stop()
        if signum is not None:
            print("\nborgerdialog stopped.")
            sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        import boto3

        from infra.provision import provision

        session = boto3.session.Session(region_name=REGION)
        outputs = provision("local", session.client, REGION)
        print(f"Created {len(outputs)} resources from infra/template.yaml on moto server {moto.url}")

        from chalicelib.publishing import publish_paths

        report = publish_paths([ROOT / "content"])
        print(f"Published content/: {report.summary()}")
        for message in report.rejected:
            print(f"  rejected {message}")

        from chalicelib.site.build import build_site

        site = build_site(report.changed)
        print(f"Rendered the site into the bucket: {site.summary()}")
        for problem in site.problems:
            print(f"  warning {problem}")

        chalice = subprocess.Popen(
            [str(Path(sys.executable).with_name("chalice")), "local", "--host", "127.0.0.1",
             "--port", str(api_port), "--stage", "local", "--no-autoreload"],
            cwd=ROOT,
            stdout=open(state / "chalice.log", "ab"),  # noqa: SIM115 - lives as long as the child
            stderr=subprocess.STDOUT,
        )
        children.append(chalice)
        _wait_for(f"{chalice_url}/categories", chalice)

        from chalicelib.config import get_settings
        from devtools.site_server import serve

        site_server = serve(site_port, bucket=get_settings().bucket, api=chalice_url, moto_url=moto.url)
        print(f"""
borgerdialog is running (Ctrl-C stops everything):
  site         {site_url}/
  signup       {site_url}/nyhedsbrev
  outbox       {site_url}/_outbox   (or: AWS_ENDPOINT_URL={moto.url} .venv/bin/python -m devtools.outbox)
  API          {api_url}/articles   (chalice local itself: {chalice_url})
  an article   {api_url}/articles/samarbejde-med-borgere-kan-laeres
  categories   {api_url}/categories
  moto server  {moto.url}/moto-api/   (AWS_ENDPOINT_URL={moto.url})
  logs         {state}/chalice.log, {state}/moto.log
""", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a server stopped unexpectedly; see the logs above", file=sys.stderr)
        site_server.shutdown()
        return 1
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
