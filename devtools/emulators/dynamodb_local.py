"""DynamoDB Local, AWS's own DynamoDB emulator, as a second and stricter DynamoDB for tests.

moto accepts some requests that DynamoDB rejects (validation of keys, expressions, index
attributes, item sizes). The DynamoDB lane of ``make test`` runs the data-layer tests again
with DynamoDB calls sent to DynamoDB Local (``AWS_ENDPOINT_URL_DYNAMODB``, botocore's
per-service endpoint) while S3, SES and SQS still go to moto server.

The jar comes from the npm package ``amplify-dynamodb-simulator`` (``npm pack``: the
tarball alone, none of its Node dependencies) into the git-ignored ``.local/``; a small
launcher binds it to 127.0.0.1 (the jar itself always binds every interface).

    python -m devtools.emulators.dynamodb_local install     # fetch the jar, compile the launcher
    python -m devtools.emulators.dynamodb_local test [-- pytest args]   # the lane: pytest -m dynamodb
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devtools.emulators.moto_server import FAKE_CREDENTIALS, LoopbackServer, free_port

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "amplify-dynamodb-simulator"
VERSION = "2.9.30"  # ships DynamoDB Local 1.25.1
HOME = ROOT / ".local" / "dynamodb-local"
EMULATOR = HOME / "emulator"
CLASSES = HOME / "classes"
LAUNCHER_SOURCE = Path(__file__).with_name("LoopbackDynamoDBLocal.java")
STAMP = HOME / f".installed-{VERSION}"
BACKEND_ENV = "DYNAMODB_BACKEND"
BACKEND = "dynamodb-local"


class Unavailable(RuntimeError):
    """A tool the lane needs (java, javac, npm) is not on this machine."""


def missing_tools() -> list[str]:
    return [tool for tool in ("java", "javac", "npm") if shutil.which(tool) is None]


def _installed() -> bool:
    return STAMP.exists() and (CLASSES / "LoopbackDynamoDBLocal.class").exists()


def install() -> None:
    """Fetch the pinned jar and compile the loopback launcher, once per version. pytest-xdist's
    workers may all call this at once (each starts its own DynamoDB Local): a file lock lets
    one install while the others wait, then find it installed."""
    if _installed():
        return
    missing = missing_tools()
    if missing:
        raise Unavailable(f"missing {', '.join(missing)} (Debian: apt-get install "
                          "openjdk-17-jdk-headless npm)")
    HOME.mkdir(parents=True, exist_ok=True)
    with open(HOME / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not _installed():
            _install()


def _install() -> None:
    with tempfile.TemporaryDirectory(dir=HOME) as folder:
        subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", folder,
                        "--silent"], check=True, cwd=folder, stdout=subprocess.DEVNULL)
        (tarball,) = Path(folder).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/emulator/")]
            archive.extractall(folder, members=members, filter="data")
        shutil.rmtree(EMULATOR, ignore_errors=True)
        shutil.move(str(Path(folder) / "package" / "emulator"), EMULATOR)
    shutil.rmtree(CLASSES, ignore_errors=True)
    subprocess.run(["javac", "-nowarn", "-d", str(CLASSES), "-cp", _classpath(), str(LAUNCHER_SOURCE)],
                   check=True)
    STAMP.touch()


def _classpath() -> str:
    return os.pathsep.join([str(EMULATOR / "DynamoDBLocal.jar"), str(EMULATOR / "DynamoDBLocal_lib" / "*"),
                            str(CLASSES)])


class DynamoDBLocal(LoopbackServer):
    """DynamoDB Local on a loopback port."""


def _answers(url: str) -> bool:
    request = urllib.request.Request(url, data=b"{}", method="POST", headers={
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20200101/eu-north-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    })
    try:
        with urllib.request.urlopen(request, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answers; an error status is still an answer
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start(log_path: str | None = None, timeout: float = 90.0) -> DynamoDBLocal:
    """Start DynamoDB Local in memory on a free 127.0.0.1 port and wait until it answers."""
    install()
    port = free_port()
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        ["java", f"-Djava.library.path={EMULATOR / 'DynamoDBLocal_lib'}",
         # A test run is short: a quick JIT start beats peak speed, and a small heap is plenty.
         "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx512m",
         "-cp", _classpath(), "LoopbackDynamoDBLocal",
         "-inMemory", "-port", str(port), "-disableTelemetry"],
        stdout=out, stderr=subprocess.STDOUT, cwd=EMULATOR,
    )
    server = DynamoDBLocal(port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"DynamoDB Local exited early with code {process.returncode}")
        if _answers(server.url):
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"DynamoDB Local did not answer on port {port} within {timeout}s")


def drop_tables(ddb: Any) -> None:
    """Delete every table (DynamoDB Local has no reset): each test starts from none."""
    for page in ddb.get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            ddb.delete_table(TableName=name)


def run_lane(pytest_args: list[str]) -> int:
    """``pytest -m dynamodb`` with DynamoDB Local as the DynamoDB; CI must have the tools."""
    try:
        install()
    except Unavailable as problem:
        if os.environ.get("CI"):
            print(f"DynamoDB Local lane cannot run: {problem}", file=sys.stderr)
            return 1
        print(f"DynamoDB Local lane SKIPPED: {problem}. CI runs it (.ci/run installs them).")
        return 0
    env = {**os.environ, **FAKE_CREDENTIALS, BACKEND_ENV: BACKEND}
    command = [sys.executable, "-m", "pytest", "-m", "dynamodb", *pytest_args]
    print("DynamoDB Local lane:", " ".join(command[2:]), flush=True)
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("command", choices=["install", "test"])
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "install":
        install()
        print(f"DynamoDB Local ({PACKAGE} {VERSION}) in {EMULATOR}")
        return 0
    return run_lane([arg for arg in args.pytest_args if arg != "--"])


if __name__ == "__main__":
    sys.exit(main())
