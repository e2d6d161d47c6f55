"""The local stack for browser tests: chalice local and the site server on free loopback
ports, against the session's moto server, and Debian's chromium driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium (.ci/run installs
it with apt-get). axe-core comes from npm (the Makefile installs it into .venv/axe).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from devtools import moto_server
from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE = ROOT / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
CONFIRM_LINK = re.compile(r"https?://\S+/subscriptions/confirm\?token=[\w.~-]+")


def require_browser() -> None:
    """Skip when the browser is missing on a developer's machine; fail in CI, which must have it."""
    missing = [str(path) for path in (Path(CHROMIUM), AXE) if not path.exists()]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"missing {', '.join(missing)}: .ci/run and the Makefile install them")
        pytest.skip(f"missing {', '.join(missing)} (apt-get install chromium; make .venv/axe)")


@dataclass
class LocalStack:
    site_url: str
    api_url: str
    chalice: subprocess.Popen[bytes]
    site_server: Any

    def stop(self) -> None:
        self.site_server.shutdown()
        self.site_server.server_close()
        if self.chalice.poll() is None:
            self.chalice.terminate()
            try:
                self.chalice.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.chalice.kill()


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chalice local exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our loopback server
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def start_stack(moto: moto_server.MotoServer, log_path: Path) -> LocalStack:
    from chalicelib.config import get_settings
    from devtools.site_server import serve

    site_port, api_port = moto_server.free_port(), moto_server.free_port()
    site_url = f"http://127.0.0.1:{site_port}"
    api_url = f"{site_url}/api"  # as on AWS: the API under /api on the site's origin
    env = {**os.environ, "AWS_ENDPOINT_URL": moto.url, "SITE_URL": site_url, "API_URL": api_url,
           "STAGE": "local", "LOG_LEVEL": "WARNING"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    chalice = subprocess.Popen(
        [str(Path(sys.executable).with_name("chalice")), "local", "--host", "127.0.0.1",
         "--port", str(api_port), "--stage", "local", "--no-autoreload"],
        cwd=ROOT, env=env, stdout=open(log_path, "ab"),  # noqa: SIM115 - lives as long as the child
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(f"http://127.0.0.1:{api_port}/categories", chalice)
    except RuntimeError:
        chalice.kill()
        raise
    server = serve(site_port, bucket=get_settings().bucket, api=f"http://127.0.0.1:{api_port}",
                   moto_url=moto.url)
    return LocalStack(site_url=site_url, api_url=api_url, chalice=chalice, site_server=server)


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def confirm_link(mails: list[Any], to: str) -> str:
    mine = [mail for mail in mails if to in mail.recipients]
    assert mine, f"no mail to {to}"
    found = CONFIRM_LINK.search(mine[-1].part("plain"))
    assert found, "the confirmation mail has no confirm link"
    return found.group(0)


@lru_cache(maxsize=1)
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8") + "\n;true"


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page as it is now."""
    # Evaluated through the DevTools protocol, which the page's CSP does not govern: a
    # script tag would be refused (rightly) by script-src 'self'.
    page.evaluate(_axe_source())
    violations: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))}))")
    return [v for v in violations if v["impact"] in ("serious", "critical")]
