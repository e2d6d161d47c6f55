"""``make run`` fails loudly: when a process of the local stack exits, ``LocalStack.dead()``
names it, the site server answers a Danish 502 page instead of dropping the connection, and
``python -m devtools.run_local`` stops everything with a message and exit code 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.emulators import moto_server
from devtools.stack import LocalStack
from tests.support.fixtures import ROOT
from tests.support.site import call


def test_a_dead_chalice_local_is_reported_and_the_site_answers_502(moto: moto_server.MotoServer,
                                                                     tmp_path: Path) -> None:
    stack = LocalStack.start(log_dir=tmp_path, aws=moto, LOG_LEVEL="WARNING")
    try:
        assert stack.dead() == []
        status, _, _ = call(stack.site_url, "GET", "/api/categories")
        assert status == 200
        stack.api.terminate()
        stack.api.wait(timeout=10)
        assert stack.dead() == [f"chalice local (exit code {stack.api.returncode})"]
        status, headers, body = call(stack.site_url, "GET", "/api/nyhedsbrev", headers={"Accept": "text/html"})
        assert status == 502 and headers["Content-Type"].startswith("text/html")
        assert "API'et svarer ikke" in body.decode()
    finally:
        stack.stop()


def _children(pid: int) -> dict[int, str]:
    """The child processes of ``pid`` (Linux), by pid: their command lines."""
    found: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return found


@pytest.mark.no_aws  # it starts its own moto server, as make run does
def test_make_run_stops_with_a_message_when_moto_server_exits(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_ENDPOINT_URL")}
    run = subprocess.Popen([sys.executable, "-m", "devtools.run_local", "--log-dir", str(tmp_path)], cwd=ROOT,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert run.stdout is not None
        for line in run.stdout:  # until it says it runs (or exits: then the assert below says why)
            if "borgerdialog is running" in line:
                break
        assert run.poll() is None, run.stderr.read() if run.stderr else ""
        children = _children(run.pid)
        [moto] = [pid for pid, command in children.items() if "moto_launcher" in command]
        [chalice] = [pid for pid, command in children.items() if "chalice_local" in command]
        os.kill(moto, signal.SIGKILL)
        _, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 1
    assert "borgerdialog stopped: moto server (exit code -9) exited" in stderr
    assert str(tmp_path) in stderr
    deadline = time.monotonic() + 10  # and nothing of the stack is left running
    while Path(f"/proc/{chalice}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{chalice}").exists() or "zombie" in Path(f"/proc/{chalice}/status").read_text()
