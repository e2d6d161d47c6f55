"""The prod stage's one-stack template, built once per run for every deploy test that reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools import lambda_package


@pytest.fixture(scope="session")
def merged_prod(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make package STAGE=prod MERGE=1`` into a temporary directory: sam.json + deployment.zip.
    Building downloads the pinned wheels from PyPI (about a minute)."""
    out = tmp_path_factory.mktemp("package") / "prod"
    lambda_package.build("prod", out, merge=True)
    return out
