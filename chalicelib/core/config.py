"""Every setting the app reads, taken from the environment once per process.

The AWS endpoint is not a setting here: boto3 and pynamodb's botocore read
``AWS_ENDPOINT_URL`` themselves when a client is first made, so it can be set late.

Chalice puts a stage's ``environment_variables`` (from ``.chalice/config.json``) into the
environment of the Lambda function, of ``chalice local`` and of ``chalice.test.Client``;
the local stack and the tests add the endpoint and the throwaway secret.

A deployed stage names its secret instead of carrying it: ``APP_SECRET_PARAMETER`` is an SSM
SecureString, read on first use (a cold start's first keyed request) and kept for the life
of the process, so neither ``import app`` nor a route that needs no key pays for it.

The origin secret (the header CloudFront adds to every request for the API, see
``chalicelib/core/cdn.py`` and docs/decisions/cdn-origin-secret.md) comes the same way:
``ORIGIN_SECRET`` locally, ``ORIGIN_SECRET_PARAMETER`` (a String parameter: CloudFront reads
the same value through CloudFormation) in deployed stages, read on a cold start's first request.
``REQUIRE_CDN`` (on by default in deployed stages) refuses requests without it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from chalicelib.core import aws

# Stages that run against real AWS: they must get their secret from the environment
# (SSM at deploy time) and may never carry test shortcuts.
DEPLOYED_STAGES = frozenset({"dev", "prod"})

# When the weekly digest goes out. EventBridge rules read cron in UTC only, so this is
# Monday 06:00, 06:20 and 06:40 UTC = 07:00-07:40 in Copenhagen in winter (CET) and
# 08:00-08:40 in summer (CEST). The first run makes the week's digest; the later ones
# resume a fan-out that stopped for time or failed, or just record themselves.
# Chalice reads it when it loads the app to deploy, hence a constant, not a setting.
DIGEST_SCHEDULE = "cron(0,20,40 6 ? * MON *)"


# The CAPTCHA's answers: no look-alikes, so what the picture shows is what the visitor
# types. Besides 0/O and 1/I/L, one of each pair people misread in our pictures is left
# out (K/X, M/N, V/Y/W, 7/T, 2/Z, D/Q, A/4; docs/captcha.md#the-picture). Kept here
# because the test answer must be one of them.
CAPTCHA_ALPHABET = "ABCDEFGHJKMPRSUV2356789"
CAPTCHA_LENGTH = 5
# The proof of work's default maxnumber: on average 40 000 SHA-256 in a browser's Web Worker,
# about a second on a mid-range phone (docs/decisions/proof-of-work.md: how it was measured).
POW_MAX_NUMBER = 80_000


def _is_captcha_answer(value: str) -> bool:
    return len(value) == CAPTCHA_LENGTH and all(char in CAPTCHA_ALPHABET for char in value)


class ConfigError(RuntimeError):
    """A setting is missing or unsafe for the stage: the app must not start."""


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    articles_table: str
    subscribers_table: str
    challenges_table: str
    ratelimits_table: str
    ledger_table: str
    deliveries_table: str
    site_table: str
    bucket: str
    site_url: str
    api_url: str
    # Newsletter signup (chalicelib/newsletter/signup.py): how long a confirmation link works,
    # how long one mailbox waits between confirmation mails and how many it gets in any 24
    # hours (a lost mail costs minutes, yet a stranger cannot fill an inbox), and how many
    # signups one source IP may make per hour.
    confirm_token_hours: int
    confirm_mail_interval_minutes: int
    confirm_mails_per_day: int
    signup_ip_limit_per_hour: int
    # New CAPTCHA challenges per source IP per sliding hour: from POST /captcha (each with a
    # proof-of-work puzzle), and from the no-JavaScript signup page (none: a lower limit).
    # See chalicelib/captcha/limit.py and docs/captcha.md#limits-on-challenges.
    captcha_ip_limit_per_hour: int
    captcha_page_ip_limit_per_hour: int
    # The proof of work's maxnumber: a browser hashes maxnumber / 2 times on average
    # (chalicelib/captcha/work.py; how it was chosen: docs/decisions/proof-of-work.md).
    pow_max_number: int
    log_level: str
    # "json" (one object per line, for CloudWatch Logs Insights) or "text"; LOG_FORMAT,
    # json by default in deployed stages.
    log_format: str
    # Who mail comes from; its domain is the SES identity infra/ creates (MailDomain).
    mail_from: str
    # SES configuration set that routes bounces/complaints to SNS; None locally.
    ses_configuration_set: str | None
    # Digest: the SQS queue the fan-out feeds, the SNS topic SES reports bounces and
    # complaints to (names; Chalice wires the handlers to them on deploy).
    digest_queue: str
    ses_notifications_topic: str
    # The pause switch: while set, no digest mail is sent (runs are still recorded).
    digest_paused: bool
    # Mails per second across all workers. Unset: the SES account's MaxSendRate. Set it to
    # send slower than the account allows, or locally (moto reports 1 mail/s).
    digest_max_send_rate: float | None
    # Concurrent digest workers (the SQS event source's MaximumConcurrency); each sends at
    # digest_max_send_rate / digest_workers, so together they stay within the rate.
    digest_workers: int
    # The mailto: in List-Unsubscribe, for clients that do not do RFC 8058 one-click.
    unsubscribe_mailto: str
    # Fixes every CAPTCHA answer (like reCAPTCHA's test keys) so tests and `make run` can
    # drive the signup end to end; refused in deployed stages (see load()).
    captcha_test_answer: str | None = None
    # The secret when the environment carries it; None when it lives in SSM.
    configured_secret: bytes | None = field(default=None, repr=False)
    # SSM parameter (SecureString) holding the secret, read on first use.
    app_secret_parameter: str | None = None
    # The origin secret CloudFront sends to the API (chalicelib/core/cdn.py): from the
    # environment, or the SSM parameter holding it, read on first use. Neither: no request
    # is known to come through the CDN, so the viewer address is never trusted.
    configured_origin_secret: bytes | None = field(default=None, repr=False)
    origin_secret_parameter: str | None = None
    # Refuse (403) every request without the origin secret: on in deployed stages, where the
    # API Gateway address must not be a way around the CDN; off locally (REQUIRE_CDN).
    require_cdn: bool = False

    @cached_property
    def app_secret(self) -> bytes:
        """The app secret: from the environment, or read once from SSM.

        Concurrent first uses may both read SSM; they get the same value, so no lock.
        """
        if self.configured_secret is not None:
            return self.configured_secret
        if not self.app_secret_parameter:
            raise ConfigError("neither APP_SECRET nor APP_SECRET_PARAMETER is set")
        return _checked_secret(_read_parameter(self.app_secret_parameter, "APP_SECRET_PARAMETER"))

    @cached_property
    def origin_secret(self) -> bytes | None:
        """The origin secret: from the environment, read once from SSM, or None (not set).

        With ``require_cdn`` and no secret the app cannot tell CloudFront from anyone else:
        that is a deployment error, raised on first use (every request then fails loudly).
        """
        if self.configured_origin_secret is not None:
            return self.configured_origin_secret
        if self.origin_secret_parameter:
            return _checked_secret(_read_parameter(self.origin_secret_parameter, "ORIGIN_SECRET_PARAMETER"),
                                   "ORIGIN_SECRET")
        if self.require_cdn:
            raise ConfigError(
                "REQUIRE_CDN is on but neither ORIGIN_SECRET nor ORIGIN_SECRET_PARAMETER is set")
        return None

    @property
    def deployed(self) -> bool:
        return self.stage in DEPLOYED_STAGES

    def secret_for(self, purpose: str) -> bytes:
        """A key for one purpose (cursors, captcha, tokens), derived from the app secret.

        Deriving keeps one secret to rotate while a leak of one derived key (say, in a log)
        does not expose the others.
        """
        return hmac.new(self.app_secret, purpose.encode(), hashlib.sha256).digest()


def _table(env: dict[str, str], name: str, stage: str) -> str:
    return env.get(f"{name.upper()}_TABLE") or f"borgerdialog-{stage}-{name}"


def _log_format(raw: str) -> str:
    if raw not in {"json", "text"}:
        raise ConfigError(f"LOG_FORMAT must be json or text, not {raw!r}")
    return raw


def _checked_secret(secret: str, setting: str = "APP_SECRET") -> bytes:
    if len(secret) < 32:
        raise ConfigError(f"{setting} must be at least 32 characters")
    return secret.encode()


def _read_parameter(name: str, setting: str) -> str:
    from botocore.exceptions import ClientError

    try:
        response = aws.client("ssm").get_parameter(Name=name, WithDecryption=True)
    except ClientError as problem:
        # Fail loudly and say which parameter: a missing secret must stop the app.
        raise ConfigError(f"cannot read {setting} {name!r}: {problem}") from problem
    return str(response["Parameter"]["Value"])


def load(env: dict[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (``os.environ`` by default)."""
    env = dict(os.environ if env is None else env)
    stage = env.get("STAGE", "local")
    secret = env.get("APP_SECRET", "")
    parameter = env.get("APP_SECRET_PARAMETER") or None
    configured: bytes | None = None
    if secret:
        configured = _checked_secret(secret)
    elif parameter is None:
        if stage in DEPLOYED_STAGES:
            raise ConfigError(
                f"APP_SECRET or APP_SECRET_PARAMETER must be set for the deployed stage {stage!r}")
        # A throwaway key: local cursors and tokens die with the process, which is fine there.
        configured = secrets.token_hex(32).encode()
    test_answer = env.get("CAPTCHA_TEST_ANSWER") or None
    if test_answer is not None:
        if stage in DEPLOYED_STAGES:
            raise ConfigError(
                f"CAPTCHA_TEST_ANSWER is set in the deployed stage {stage!r}: it would let anyone"
                " pass the CAPTCHA; remove it from the stage's environment"
            )
        if not _is_captcha_answer(test_answer):
            raise ConfigError(
                f"CAPTCHA_TEST_ANSWER must be {CAPTCHA_LENGTH} characters from {CAPTCHA_ALPHABET}"
            )
    origin_secret = env.get("ORIGIN_SECRET", "")
    require_cdn = env.get("REQUIRE_CDN", "").strip()
    return Settings(
        stage=stage,
        region=aws.region(env),
        articles_table=_table(env, "articles", stage),
        subscribers_table=_table(env, "subscribers", stage),
        challenges_table=_table(env, "challenges", stage),
        ratelimits_table=_table(env, "ratelimits", stage),
        ledger_table=_table(env, "ledger", stage),
        deliveries_table=_table(env, "deliveries", stage),
        site_table=_table(env, "site", stage),
        bucket=env.get("SITE_BUCKET") or f"borgerdialog-{stage}-site",
        site_url=env.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/"),
        api_url=env.get("API_URL", "http://127.0.0.1:8000").rstrip("/"),
        confirm_token_hours=_positive_int(env, "CONFIRM_TOKEN_HOURS", 48),
        confirm_mail_interval_minutes=_positive_int(env, "CONFIRM_MAIL_INTERVAL_MINUTES", 15),
        confirm_mails_per_day=_positive_int(env, "CONFIRM_MAILS_PER_DAY", 3),
        signup_ip_limit_per_hour=_positive_int(env, "SIGNUP_IP_LIMIT_PER_HOUR", 20),
        captcha_ip_limit_per_hour=_positive_int(env, "CAPTCHA_IP_LIMIT_PER_HOUR", 60),
        captcha_page_ip_limit_per_hour=_positive_int(env, "CAPTCHA_PAGE_IP_LIMIT_PER_HOUR", 6),
        pow_max_number=_positive_int(env, "POW_MAX_NUMBER", POW_MAX_NUMBER),
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        log_format=_log_format(env.get("LOG_FORMAT") or ("json" if stage in DEPLOYED_STAGES else "text")),
        mail_from=env.get("MAIL_FROM", "Center for Borgerdialog <nyhedsbrev@borgerdialog.dk>"),
        ses_configuration_set=env.get("SES_CONFIGURATION_SET") or None,
        captcha_test_answer=test_answer,
        configured_secret=configured,
        app_secret_parameter=parameter,
        configured_origin_secret=_checked_secret(origin_secret, "ORIGIN_SECRET") if origin_secret else None,
        origin_secret_parameter=env.get("ORIGIN_SECRET_PARAMETER") or None,
        require_cdn=_flag(require_cdn) if require_cdn else stage in DEPLOYED_STAGES,
        digest_queue=env.get("DIGEST_QUEUE") or f"borgerdialog-{stage}-digest",
        ses_notifications_topic=(env.get("SES_NOTIFICATIONS_TOPIC")
                                 or f"borgerdialog-{stage}-ses-notifications"),
        digest_paused=_flag(env.get("DIGEST_PAUSED", "")),
        digest_max_send_rate=_positive_float(env, "DIGEST_MAX_SEND_RATE"),
        digest_workers=_positive_int(env, "DIGEST_WORKERS", 2),
        unsubscribe_mailto=env.get("UNSUBSCRIBE_MAILTO", "afmeld@borgerdialog.dk"),
    )


def _flag(raw: str) -> bool:
    if raw.strip().lower() in {"", "0", "false", "no", "off"}:
        return False
    if raw.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    raise ConfigError(f"expected true/false, got {raw!r}")


def _positive_float(env: dict[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{name} must be above 0, got {raw!r}")
    return value


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return load()
