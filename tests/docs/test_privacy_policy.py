"""The privacy policy's retention figures are the code's (issue 16, item 8).

content/sider/privatlivspolitik.md has a table "Så længe gemmer vi oplysningerne"; each row
is held against the setting, TTL or lifecycle rule that decides it: the production stage's
settings (.chalice/config.json), the TTLs the store, the limiter and the digest write, and
the expiry rules in infra/template.yaml. Change one without the other and this fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chalicelib.core import aws, config
from chalicelib.limits.limiter import kept_seconds
from chalicelib.newsletter import signup
from infra.template import load_template

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "content" / "sider" / "privatlivspolitik.md"
DAY, HOUR = 24 * 3600, 3600
NUMBERS = {"1": 1, "en": 1, "et": 1, "2": 2, "to": 2}
REGIONS = {"eu-north-1": "Stockholm", "eu-west-1": "Irland", "eu-central-1": "Frankfurt"}


def _retention() -> dict[str, str]:
    """The retention table: its first column → its second."""
    text = POLICY.read_text(encoding="utf-8")
    section = text.split("## Så længe gemmer vi oplysningerne", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip().strip("|").split("|") for line in section.splitlines() if line.startswith("|")]
    return {what.strip(): how.strip() for what, how in rows[2:]}


def _row(table: dict[str, str], words: str) -> str:
    [found] = [how for what, how in table.items() if words in what]
    return found


def _amount(text: str, unit: str) -> int:
    """The number before ``unit`` ("48 timer", "Højst 2 døgn", "1 døgn")."""
    found = re.search(rf"(\d+|en|et|to) {unit}\b", text)
    assert found, (text, unit)
    value = found.group(1)
    return int(value) if value.isdigit() else NUMBERS[value]


def _production() -> config.Settings:
    stages = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))["stages"]
    env = {**stages["prod"].get("environment_variables", {}), "APP_SECRET": "x" * 32}
    env.pop("APP_SECRET_PARAMETER", None)
    env.pop("ORIGIN_SECRET_PARAMETER", None)
    return config.load(env)


@pytest.mark.no_aws
def test_the_retention_table_says_what_the_code_does() -> None:
    from chalicelib.captcha.challenges import LIFETIME, TTL_SLACK
    from chalicelib.digest.worker import DELIVERY_TTL

    table = _retention()
    settings = _production()
    # A signup never confirmed: the pending item and its events expire with the link.
    assert _amount(_row(table, "ikke bekræfter"), "timer") == settings.confirm_token_hours
    assert _amount(_row(table, "nyhedsbreve vi har sendt"), "dage") == DELIVERY_TTL.days
    # The CAPTCHA's picture and sound: the bucket's rule for captcha/; its item goes sooner.
    resources = load_template()["Resources"]
    rules = {rule["Prefix"]: rule["ExpirationInDays"]
             for rule in resources["SiteBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert _amount(_row(table, "Billede og lyd"), "døgn") == rules["captcha/"]
    assert (LIFETIME + TTL_SLACK).total_seconds() <= rules["captcha/"] * DAY
    # The counters: a keyed hash, kept two windows at most.
    assert _amount(_row(table, "fra din IP-adresse"), "timer") * HOUR == kept_seconds(signup.IP_WINDOW_SECONDS)
    # The mailbox's mail times (limiter.take_slot): the item expires a day after the newest.
    assert _amount(_row(table, "mails til din adresse"), "døgn") * DAY == signup.DAY_SECONDS
    # The technical log of visits: CloudFront's logs, API Gateway's access log, the functions' logs.
    stages = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))["stages"]
    kept = {
        "cloudfront": resources["LogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"],
        "api access log": resources["ApiAccessLogGroup"]["Properties"]["RetentionInDays"],
        "lambda logs": stages["prod"]["log_retention_in_days"],
    }
    assert {name: _amount(_row(table, "tekniske log"), "dage") for name in kept} == kept


@pytest.mark.no_aws
def test_the_policy_names_the_region_the_controller_and_the_rights() -> None:
    text = POLICY.read_text(encoding="utf-8")
    assert f"datacenter i {REGIONS[aws.DEFAULT_REGION]}" in text
    for needed in ("artikel 6, stk. 1, litra a", "artikel 7", "databehandler", "Datatilsynet", "CVR-nr.",
                   "Hent alt, hvad vi har om dig", "slettet alt", "Afmeld"):
        assert needed in text, needed
