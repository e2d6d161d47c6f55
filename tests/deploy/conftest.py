"""The prod stage's one-stack template, built once per run for every deploy test that reads it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from devtools import lambda_package


@pytest.fixture(scope="session")
def merged_prod(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make package STAGE=prod MERGE=1`` into a temporary directory: sam.json + deployment.zip.
    Building downloads the pinned wheels from PyPI (about a minute).

    Once per run even under pytest-xdist (docs/testing.md): the first worker to need it builds
    into the folder all workers share, the others wait on a lock and read that build. Two
    builds at once would also overwrite each other's zip in the checkout's
    ``.chalice/deployments/`` (``lambda_package.build``), which a test here reads."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # each worker's basetemp is a folder of the run's one
    out, built = shared / "package" / "prod", shared / "package" / "built"
    with open(shared / "package.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not built.exists():
            lambda_package.build("prod", out, merge=True)
            built.touch()
    return out
