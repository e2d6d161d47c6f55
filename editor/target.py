"""Which stack a command works on, settled before anything of ``chalicelib`` is imported.

The models read their table names when they are defined, and boto3 reads the endpoint and
credentials when its first client is made, so the command puts the right settings into its
own environment first (``apply``), then imports the rest. Three ways, in this order:

1. ``--stage dev|prod`` (or ``STAGE=dev|prod`` in the environment, as
   ``eval "$(python -m infra.configure env --stage dev)"`` leaves it): a deployed stage. Its
   settings are the stage's ``environment_variables`` in ``.chalice/config.json`` (table and
   bucket names, ``SITE_URL``, the SSM parameter holding the app secret); credentials come
   the usual boto3 way (``AWS_PROFILE``, SSO, environment variables). A stray
   ``AWS_ENDPOINT_URL`` is dropped: a deployed stage is never a local emulator.
2. The local stack ``make run`` started: ``make run`` writes its settings (endpoint, stage,
   names, addresses, the throwaway secrets and credentials) to ``.local/stack.json``
   (``--stack FILE`` or ``BORGERDIALOG_STACK`` name another), and the command takes them
   from there, so a second terminal needs nothing exported. The file must belong to a
   ``make run`` that is still running and whose AWS endpoint answers.
3. ``BORGERDIALOG_STACK=environment``: the environment as it is (the tests, scripts that
   set everything themselves).

Anything missing is a ``TargetError``: one sentence that says what to do, never a traceback.
See docs/editing.md.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STACK_FILE = ROOT / ".local" / "stack.json"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
STACK_ENV = "BORGERDIALOG_STACK"
USE_ENVIRONMENT = "environment"
DEPLOYED = ("dev", "prod")  # chalicelib.core.config.DEPLOYED_STAGES, without importing it
STACK_FILE_VERSION = 1


class TargetError(RuntimeError):
    """No stack to work on: the message is one sentence saying what to do."""


@dataclass(frozen=True)
class Target:
    kind: str  # "local" | "deployed" | "environment"
    stage: str
    description: str  # for messages: "the local stack of make run at http://127.0.0.1:8001"
    site_url: str | None = None


def stack_file(option: Path | None, environ: MutableMapping[str, str]) -> Path | None:
    """The stack file to read; None when the environment is to be used as it is."""
    if option is not None:
        return option
    named = environ.get(STACK_ENV, "").strip()
    if named == USE_ENVIRONMENT:
        return None
    return Path(named) if named else DEFAULT_STACK_FILE


def write_stack_file(path: Path, *, environment: dict[str, str], urls: dict[str, str], pid: int,
                     started_at: str) -> None:
    """What ``make run`` leaves for the editor command: readable by this user only (it holds
    the run's throwaway secrets), written whole (rename) so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    body = json.dumps({"version": STACK_FILE_VERSION, "written_by": "make run", "pid": pid,
                       "started_at": started_at, "urls": urls, "environment": environment},
                      indent=2, sort_keys=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(body + "\n")
    partial.replace(path)


def remove_stack_file(path: Path, pid: int) -> None:
    """Remove the file if it is still ours (another ``make run`` may have replaced it)."""
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def _answers(url: str, timeout: float = 2.0) -> bool:
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout):
            return True
    except OSError:
        return False


def _local(path: Path, environ: MutableMapping[str, str]) -> Target:
    start_it = "start it with `make run` in another terminal, or name a deployed stage with --stage dev"
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TargetError(f"No local stack is running ({_shown(path)} does not exist): {start_it}.") from None
    except (OSError, ValueError) as problem:
        raise TargetError(f"{_shown(path)} cannot be read ({problem}): {start_it}.") from None
    if not isinstance(data, dict) or data.get("version") != STACK_FILE_VERSION \
            or not isinstance(data.get("environment"), dict):
        raise TargetError(f"{_shown(path)} is not a stack file of this version of make run: {start_it}.")
    settings = {str(k): str(v) for k, v in data["environment"].items()}
    endpoint = settings.get("AWS_ENDPOINT_URL", "")
    pid = data.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        raise TargetError(f"The local stack in {_shown(path)} has stopped (make run, process {pid}, "
                          f"is gone): {start_it}.")
    if not _answers(endpoint):
        raise TargetError(f"The local stack in {_shown(path)} does not answer at {endpoint}: "
                          f"{start_it}.")
    stray = environ.get("AWS_ENDPOINT_URL")
    if stray and stray.rstrip("/") != endpoint.rstrip("/"):
        # An old export from an earlier run would send the command somewhere else.
        raise TargetError(f"AWS_ENDPOINT_URL={stray} is not the running local stack ({endpoint}): "
                          "unset it (`unset AWS_ENDPOINT_URL`); the command finds the stack by itself.")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        environ.pop(name, None)  # the stack's throwaway credentials, not a real account's
    environ.update(_chalice_stage("local"))
    environ.update(settings)
    urls: dict[str, Any] = data["urls"] if isinstance(data.get("urls"), dict) else {}
    site = str(urls.get("site") or settings.get("SITE_URL", ""))
    return Target("local", "local", f"the local stack of make run ({site})", site_url=site or None)


def _chalice_stage(stage: str) -> dict[str, str]:
    try:
        config = json.loads(CHALICE_CONFIG.read_text(encoding="utf-8"))
    except (OSError, ValueError) as problem:
        raise TargetError(f"{_shown(CHALICE_CONFIG)} cannot be read ({problem}).") from None
    stages = config.get("stages", {})
    if stage not in stages:
        raise TargetError(f"There is no stage {stage!r} in {_shown(CHALICE_CONFIG)}; "
                          f"the stages are {', '.join(sorted(stages))}.")
    return {str(k): str(v) for k, v in stages[stage].get("environment_variables", {}).items()}


def _deployed(stage: str, environ: MutableMapping[str, str]) -> Target:
    settings = _chalice_stage(stage)
    environ.pop("AWS_ENDPOINT_URL", None)
    # Throwaway secrets of a local run must not sign a deployed stage's links.
    for name in ("APP_SECRET", "ORIGIN_SECRET", "CAPTCHA_TEST_ANSWER"):
        environ.pop(name, None)
    environ.update(settings)
    site = settings.get("SITE_URL")
    return Target("deployed", stage, f"the deployed stage {stage} ({site or 'no SITE_URL'})", site_url=site)


def apply(*, stage: str | None, stack: Path | None,
          environ: MutableMapping[str, str] | None = None) -> Target:
    """Put the chosen stack's settings into ``environ`` (``os.environ``) and say which it is."""
    environ = os.environ if environ is None else environ
    if stage is None and environ.get("STAGE") in DEPLOYED:
        stage = environ["STAGE"]
    if stage is not None and stage != "local":
        if stage not in DEPLOYED:
            raise TargetError(f"--stage {stage}: the deployed stages are {', '.join(DEPLOYED)} "
                              "(the local one needs no --stage: make run's is found by itself).")
        return _deployed(stage, environ)
    path = stack_file(stack, environ)
    if path is None:
        stage_name = environ.get("STAGE", "local")
        return Target("environment", stage_name, f"the stack this environment names (stage {stage_name})",
                      site_url=environ.get("SITE_URL"))
    return _local(path, environ)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
