"""The local stack, started one way by the tests, ``make run`` and the benches.

Each piece is a real process talking AWS's or HTTP's wire protocol on 127.0.0.1:

- ``start_aws()``: a moto server (``devtools.emulators.moto_server``) on a free port;
- ``use_aws(url)``: this process's environment pointed at it (throwaway credentials and
  app secret, the local stage, the region), so boto3 and pynamodb talk to it;
- ``create_resources()``: the resources of ``infra/template.yaml`` (``devtools.provision``);
- ``start_api()``: ``chalice local`` serving the app (``devtools.emulators.chalice_local``:
  ``identity.sourceIp`` is the TCP peer, as API Gateway's is);
- ``start_site()``: the site server in front of the bucket and the API, shaped like the
  CDN's ``/api/*`` behaviour (``devtools.site_server``); it and chalice local share a
  throwaway origin secret (``ORIGIN_SECRET``), as CloudFront and the Lambda share one.

``aws_stack()`` is the first three as one context manager (benches); ``LocalStack`` is all of
it (``make run``, the browser tests). See docs/testing.md.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.emulators import moto_server
from devtools.emulators.moto_server import FAKE_CREDENTIALS, MotoServer, free_port

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-north-1"


def start_aws(log_path: Path | None = None) -> MotoServer:
    """A moto server process on a free loopback port, answering."""
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    return moto_server.start(log_path=str(log_path) if log_path else None)


def local_environment(aws_url: str, **settings: str) -> dict[str, str]:
    """What the app's environment holds locally: the endpoint, throwaway credentials and
    secret, the local stage and region, and any ``settings`` (e.g. ``SITE_URL``)."""
    return {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": aws_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "STAGE": "local",
        # Throwaway: cursors and tokens made with it die with the run, as they should locally.
        "APP_SECRET": os.environ.get("APP_SECRET") or secrets.token_hex(32),
        # Throwaway too: what the site server sends and chalice local checks (chalicelib/core/cdn.py).
        "ORIGIN_SECRET": os.environ.get("ORIGIN_SECRET") or secrets.token_hex(32),
        **settings,
    }


def use_aws(aws_url: str, **settings: str) -> None:
    """Point this process at ``aws_url`` (set before the app's modules are imported: the
    models read their table names when they are defined)."""
    os.environ.update(local_environment(aws_url, **settings))
    os.environ.pop("AWS_PROFILE", None)


def create_resources(stage: str = "local") -> dict[str, str]:
    """The template's tables, bucket, queues and topics, made through the endpoint the
    environment names; returns the template's outputs that have a local meaning."""
    import boto3

    from devtools.provision import provision

    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION", REGION))
    return provision(stage, session.client, session.region_name or REGION)


@contextmanager
def aws_stack(log_path: Path | None = None, **settings: str) -> Iterator[MotoServer]:
    """moto server started, this process pointed at it, the resources made; stopped after."""
    server = start_aws(log_path)
    try:
        use_aws(server.url, **settings)
        create_resources()
        yield server
    finally:
        server.stop()


def wait_for(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60.0) -> None:
    """Until ``url`` answers at all (a 4xx is an answer); fails early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def start_api(port: int, log_path: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``chalice local`` for the local stage on ``port``, answering."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.emulators.chalice_local", "local", "--host", "127.0.0.1",
         "--port", str(port), "--stage", "local", "--no-autoreload"],
        cwd=ROOT, env=dict(env) if env is not None else None,
        stdout=open(log_path, "ab"),  # noqa: SIM115 - lives as long as the child
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/categories", process)
    except RuntimeError:
        process.kill()
        raise
    return process


@dataclass
class LocalStack:
    """The whole product on loopback: moto server, ``chalice local`` and the site server.
    As on AWS, the API lives under ``/api`` on the site's origin."""

    aws: MotoServer
    site_url: str
    api_url: str
    chalice_url: str
    api: subprocess.Popen[bytes]
    site: Any
    owns_aws: bool = True
    # What the API's environment adds to this process's: the endpoint, the throwaway
    # credentials and secrets, the stage, the addresses (make run hands it to the editor).
    environment: dict[str, str] = field(default_factory=dict)
    stopped: bool = field(default=False)

    @classmethod
    def start(cls, *, log_dir: Path, aws: MotoServer | None = None, site_port: int = 0,
              api_port: int = 0, **settings: str) -> LocalStack:
        """Start what is missing. With ``aws`` given (the tests' server) this process's
        environment is left alone and the API gets its own; without, a new moto server is
        started, this process pointed at it and the resources made."""
        from devtools.site_server import serve

        owns_aws = aws is None
        server = aws or start_aws(log_dir / "moto.log")
        site_port, api_port = site_port or free_port(), api_port or free_port()
        site_url = f"http://127.0.0.1:{site_port}"
        urls = {"SITE_URL": site_url, "API_URL": f"{site_url}/api"}
        try:
            if owns_aws:
                use_aws(server.url, **urls, **settings)
                create_resources()
            added = local_environment(server.url, **urls, **settings)
            env = {**os.environ, **added}
            api = start_api(api_port, log_dir / "chalice.log", env)
        except BaseException:
            if owns_aws:
                server.stop()
            raise
        from chalicelib.core.config import load

        bucket = load(env).bucket
        chalice_url = f"http://127.0.0.1:{api_port}"
        try:
            site = serve(site_port, bucket=bucket, api=chalice_url, moto_url=server.url,
                         origin_secret=env["ORIGIN_SECRET"])
        except BaseException:
            api.kill()
            api.wait()
            if owns_aws:
                server.stop()
            raise
        return cls(aws=server, site_url=site_url, api_url=urls["API_URL"], chalice_url=chalice_url,
                   api=api, site=site, owns_aws=owns_aws, environment=added)

    def dead(self) -> list[str]:
        """The processes of this stack that have exited."""
        found = []
        if self.api.poll() is not None:
            found.append(f"chalice local (exit code {self.api.returncode})")
        if self.owns_aws and self.aws.process.poll() is not None:
            found.append(f"moto server (exit code {self.aws.process.returncode})")
        return found

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.site.shutdown()
        self.site.server_close()
        if self.api.poll() is None:
            self.api.terminate()
            try:
                self.api.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.api.kill()
        if self.owns_aws:
            self.aws.stop()
