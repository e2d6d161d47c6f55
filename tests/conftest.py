"""The test run's environment, its fixtures (tests/support/, through ``pytest_plugins``) and hooks.

The environment is set here, before any test module imports the app, because models read
their table names from settings when they are defined. pytest imports this file first, then
the plugins it names, then the test modules.
"""

from __future__ import annotations

import os
import secrets

import pytest

from devtools.stack import REGION  # the local stack's region (stdlib only: nothing of the app)

os.environ.update(
    {
        "STAGE": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "APP_SECRET": secrets.token_hex(32),  # throwaway, per test run
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        # Every challenge made in tests has this answer (issue 3: test keys, local stage only);
        # tests/captcha/test_challenges.py builds services with random answers to test those too.
        "CAPTCHA_TEST_ANSWER": "K7M2P",
        # moto reports SES's sandbox rate (1 mail/s); tests pace far faster than that.
        "DIGEST_MAX_SEND_RATE": "1000",
        # The editor command in this process works on the environment above, never on a
        # `make run` of the developer's (editor/target.py); subprocess tests name their stack.
        "BORGERDIALOG_STACK": "environment",
        # Every test makes its challenges from one address; the tests of these limits
        # (tests/captcha/test_limits.py) set them back to the defaults or lower.
        "CAPTCHA_IP_LIMIT_PER_HOUR": "100000",
        "CAPTCHA_PAGE_IP_LIMIT_PER_HOUR": "100000",
    }
)
os.environ.pop("AWS_PROFILE", None)

# Fixtures, for every test by name: moto, dynamodb_local_server, stack (autouse), client,
# aws_calls, outbox, add_articles (support/fixtures.py); faults (support/faults.py). The
# HARDENING lines at the end of a run, totalled over xdist's workers (support/report.py).
pytest_plugins = ["tests.support.fixtures", "tests.support.report", "tests.support.faults"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "no_aws: the test needs no moto server")
    config.addinivalue_line(
        "markers", "dynamodb: data-layer test that the DynamoDB Local lane runs a second time")
