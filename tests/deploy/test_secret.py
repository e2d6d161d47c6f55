"""A deployed stage reads APP_SECRET from SSM Parameter Store: lazily, once, loudly on failure."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.core import aws, config
from tests.support.fixtures import REGION

PARAMETER = "/borgerdialog/dev/app-secret"


@pytest.fixture
def ssm_calls() -> Iterator[Counter[str]]:
    """GetParameter calls through the app's cached SSM client."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    events = aws.client("ssm").meta.events
    events.register("before-call.ssm.*", count, unique_id="ssm-count")
    yield calls
    events.unregister("before-call.ssm.*", unique_id="ssm-count")


def _put(value: str, name: str = PARAMETER) -> None:
    ssm: Any = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name=name, Value=value, Type="SecureString")


def test_secret_comes_from_ssm_on_first_use_and_is_read_once(ssm_calls: Counter[str]) -> None:
    value = secrets.token_hex(32)
    _put(value)
    settings = config.load({"STAGE": "dev", "APP_SECRET_PARAMETER": PARAMETER})
    assert ssm_calls == Counter(), "loading settings (import app) must not call SSM"

    keys = {settings.secret_for(purpose) for purpose in ("cursor", "captcha", "tokens", "cursor")}
    assert ssm_calls == Counter({"GetParameter": 1})
    assert len(keys) == 3
    assert settings.app_secret == value.encode()
    # The same derivation as a stage that carries the secret in its environment.
    direct = config.load({"STAGE": "dev", "APP_SECRET": value})
    assert settings.secret_for("cursor") == direct.secret_for("cursor")


def test_secret_never_shows_in_the_settings_repr() -> None:
    value = secrets.token_hex(32)
    settings = config.load({"STAGE": "dev", "APP_SECRET": value})
    assert value not in repr(settings)


def test_a_missing_parameter_stops_the_app_and_names_it() -> None:
    settings = config.load({"STAGE": "prod", "APP_SECRET_PARAMETER": "/borgerdialog/prod/nope"})
    with pytest.raises(config.ConfigError, match="/borgerdialog/prod/nope"):
        settings.secret_for("cursor")


def test_a_short_secret_in_ssm_is_refused() -> None:
    _put("kort")
    settings = config.load({"STAGE": "dev", "APP_SECRET_PARAMETER": PARAMETER})
    with pytest.raises(config.ConfigError, match="at least 32"):
        settings.secret_for("cursor")


@pytest.mark.no_aws
def test_deployed_stage_needs_a_secret_or_a_parameter() -> None:
    with pytest.raises(config.ConfigError, match="APP_SECRET_PARAMETER"):
        config.load({"STAGE": "prod"})
    # Naming the parameter is enough to start; it is read when a key is first needed.
    assert config.load({"STAGE": "prod", "APP_SECRET_PARAMETER": PARAMETER}).deployed


@pytest.mark.no_aws
def test_every_deployed_stage_names_its_parameter_and_no_secret() -> None:
    from infra.configure import read_config

    for stage in config.DEPLOYED_STAGES:
        env = read_config()["stages"][stage]["environment_variables"]
        assert "APP_SECRET" not in env, f"a secret in .chalice/config.json ({stage})"
        assert env["APP_SECRET_PARAMETER"] == f"/borgerdialog/{stage}/app-secret"


def test_origin_secret_comes_from_its_parameter_on_first_use_and_is_read_once(
        ssm_calls: Counter[str]) -> None:
    value = secrets.token_hex(32)
    # A String, not a SecureString: CloudFront reads the same value through an `ssm` reference.
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/borgerdialog/dev/origin-secret", Value=value, Type="String")
    settings = config.load({"STAGE": "dev", "APP_SECRET": secrets.token_hex(32),
                            "ORIGIN_SECRET_PARAMETER": "/borgerdialog/dev/origin-secret"})
    assert ssm_calls == Counter(), "loading settings (import app) must not call SSM"
    assert settings.origin_secret == value.encode()
    assert settings.origin_secret == value.encode()
    assert ssm_calls == Counter({"GetParameter": 1})


def test_a_missing_origin_secret_parameter_names_itself() -> None:
    settings = config.load({"STAGE": "prod", "APP_SECRET": secrets.token_hex(32),
                            "ORIGIN_SECRET_PARAMETER": "/borgerdialog/prod/nope"})
    with pytest.raises(config.ConfigError, match="ORIGIN_SECRET_PARAMETER '/borgerdialog/prod/nope'"):
        settings.origin_secret  # noqa: B018


@pytest.mark.no_aws
def test_every_deployed_stage_names_its_origin_secret_parameter_and_no_secret() -> None:
    from infra.configure import read_config

    for stage in config.DEPLOYED_STAGES:
        env = read_config()["stages"][stage]["environment_variables"]
        assert "ORIGIN_SECRET" not in env, f"an origin secret in .chalice/config.json ({stage})"
        assert env["ORIGIN_SECRET_PARAMETER"] == f"/borgerdialog/{stage}/origin-secret"
        assert env.get("REQUIRE_CDN", "true") == "true", f"{stage} must refuse requests around the CDN"
