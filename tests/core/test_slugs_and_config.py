from __future__ import annotations

import pytest

from chalicelib.articles import slugs
from chalicelib.core import config

pytestmark = pytest.mark.no_aws


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Samarbejde med borgere kan læres", "samarbejde-med-borgere-kan-laeres"),
        ("Ærø, Øresund og Århus", "aeroe-oeresund-og-aarhus"),
        ("Café-dialog: “Hvad nu?”", "cafe-dialog-hvad-nu"),
        ("  --  ", ""),
    ],
)
def test_danish_titles_make_ascii_slugs(title: str, slug: str) -> None:
    assert slugs.slugify(title) == slug


def test_long_titles_are_cut_at_a_word_boundary_free_slug() -> None:
    slug = slugs.slugify("ord " * 100)
    assert len(slug) <= slugs.MAX_LENGTH and slugs.is_slug(slug)


def test_deployed_stage_refuses_to_start_without_a_secret() -> None:
    with pytest.raises(config.ConfigError, match="APP_SECRET"):
        config.load({"STAGE": "prod"})
    with pytest.raises(config.ConfigError, match="at least 32"):
        config.load({"STAGE": "dev", "APP_SECRET": "short"})


def test_local_stage_makes_a_throwaway_secret() -> None:
    first, second = config.load({"STAGE": "local"}), config.load({"STAGE": "local"})
    assert first.app_secret != second.app_secret
    assert first.secret_for("cursor") != first.secret_for("captcha")


def test_resource_names_follow_the_stage() -> None:
    settings = config.load({"STAGE": "dev", "APP_SECRET": "x" * 40})
    assert settings.articles_table == "borgerdialog-dev-articles"
    assert settings.bucket == "borgerdialog-dev-site"


def test_captcha_test_answer_only_outside_deployed_stages() -> None:
    assert config.load({"STAGE": "local", "CAPTCHA_TEST_ANSWER": "K7M2P"}).captcha_test_answer == "K7M2P"
    assert config.load({"STAGE": "local"}).captcha_test_answer is None
    for stage in sorted(config.DEPLOYED_STAGES):
        with pytest.raises(config.ConfigError, match="CAPTCHA_TEST_ANSWER"):
            config.load({"STAGE": stage, "APP_SECRET": "x" * 40, "CAPTCHA_TEST_ANSWER": "K7M2P"})
    assert config.load({"STAGE": "prod", "APP_SECRET": "x" * 40}).captcha_test_answer is None


@pytest.mark.parametrize("answer", ["K7M2", "K7M2PQ", "k7m2p", "K0M2P", "KIM2P", "K7M2 "])
def test_captcha_test_answer_must_be_a_possible_answer(answer: str) -> None:
    with pytest.raises(config.ConfigError, match="CAPTCHA_TEST_ANSWER"):
        config.load({"STAGE": "local", "CAPTCHA_TEST_ANSWER": answer})
