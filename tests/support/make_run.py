"""``make run`` in a subprocess, and the editor command against it as a second terminal would
run it: a fresh environment (no AWS variable, no stage, no addresses), only a command line.

The stack's state folder (logs and ``stack.json``) is the test's own, never the checkout's
``.local/``, so a developer's running ``make run`` is left alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tests.support.fixtures import ROOT

STARTUP_S = 180.0


def terminal_environment(**extra: str) -> dict[str, str]:
    """What a new terminal has: a PATH, a HOME, a locale; nothing of AWS or the stack."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", str(Path.home())),
            "LANG": "C.UTF-8", **extra}


@dataclass
class MakeRun:
    process: subprocess.Popen[bytes]
    state: Path

    @property
    def stack_file(self) -> Path:
        return self.state / "stack.json"

    @property
    def settings(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stack_file.read_text(encoding="utf-8"))
        return data

    @property
    def site_url(self) -> str:
        return str(self.settings["urls"]["site"])

    @property
    def moto_url(self) -> str:
        return str(self.settings["urls"]["moto"])

    def log(self) -> str:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace")[-4000:]
                         for path in [*sorted(self.state.glob("*.log")), self.state / "run.out"]
                         if path.exists())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # as Ctrl-C: the stack stops, stack.json goes
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(state: Path, **environment: str) -> MakeRun:
    """``python -m devtools.run_local`` (what ``make run`` runs), until it has written its
    stack file: the stack is up and ``content/`` published."""
    state.mkdir(parents=True, exist_ok=True)
    out = open(state / "run.out", "wb")  # noqa: SIM115 - lives as long as the child
    process = subprocess.Popen([sys.executable, "-m", "devtools.run_local", "--log-dir", str(state)],
                               cwd=ROOT, env=terminal_environment(**environment), stdout=out,
                               stderr=subprocess.STDOUT)
    run = MakeRun(process, state)
    deadline = time.monotonic() + STARTUP_S
    while not run.stack_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            run.stop()
            raise RuntimeError(f"make run did not start:\n{run.log()}")
        time.sleep(0.2)
    return run


def editor(*args: str, cwd: Path = ROOT, timeout: float = 300,
           **environment: str) -> subprocess.CompletedProcess[str]:
    """``python -m editor ARGS`` in a fresh terminal's environment."""
    return subprocess.run([sys.executable, "-m", "editor", *args], cwd=cwd, capture_output=True, text=True,
                          env=terminal_environment(**environment), timeout=timeout, check=False)


def get(url: str, *, method: str = "GET", data: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our loopback stack
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Links(HTMLParser):
    """Every address a page names: href, src and each srcset candidate."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("href", "src", "action"):
                self.found.append(value)
            elif name == "srcset":
                self.found.extend(part.strip().split(" ")[0] for part in value.split(",") if part.strip())


def links_of(body: bytes) -> list[str]:
    parser = Links()
    parser.feed(body.decode("utf-8"))
    return parser.found
