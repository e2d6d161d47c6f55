"""The local stack for browser tests: chalice local and the site server on free loopback
ports, against the session's moto server, and Debian's chromium driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium (.ci/run installs
it with apt-get). axe-core comes from npm (the Makefile installs it into .venv/axe).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from devtools.emulators import moto_server
from devtools.stack import LocalStack
from tests.support.fixtures import ROOT

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


def start_stack(moto: moto_server.MotoServer, log_path: Path) -> LocalStack:
    """``chalice local`` and the site server in front of the tests' moto server."""
    return LocalStack.start(log_dir=log_path.parent / log_path.stem, aws=moto, LOG_LEVEL="WARNING")


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
