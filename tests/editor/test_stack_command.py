"""A second terminal beside ``make run``: the editor command with nothing but its command line.

The stack is started the way ``make run`` starts it (``python -m devtools.run_local``, in a
subprocess, its state in a folder of the test's); the command runs in another subprocess
with a fresh terminal's environment: no AWS variable, no stage, no addresses, no secret. It
finds the stack through the stack file ``make run`` wrote, so the site it renders keeps its
CSS and working links, and the digest it sends carries unsubscribe links the running API
accepts (the issue's traps: a NoCredentialsError, links to 127.0.0.1:8000, another APP_SECRET).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from chalicelib.captcha.work import solve
from devtools import outbox
from tests.support.images import photo
from tests.support.make_run import MakeRun, editor, get, links_of, start

pytestmark = pytest.mark.no_aws  # the stack is the subprocess's own moto server
ANSWER = "K7M2P"
READER = "laeser@example.org"
ARTICLE = """---
title: Borgerpaneler i praksis
teaser: Sådan kom tre kommuner i gang med borgerpaneler.
category: metoder
image: billeder/panel.jpg
image_alt: Et borgerpanel samlet om et bord
---
Et **borgerpanel** er en gruppe tilfældigt udvalgte borgere.

![Borgere, der stemmer med farvede kort](billeder/afstemning.jpg)
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    run = start(tmp_path_factory.mktemp("make-run"), CAPTCHA_TEST_ANSWER=ANSWER)
    yield run
    run.stop()
    assert not run.stack_file.exists()  # Ctrl-C takes the stack file away with the stack


@pytest.fixture(scope="module")
def published(stack: MakeRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[MakeRun, str]:
    """A new article with pictures, published from a second terminal: only a command line."""
    content = tmp_path_factory.mktemp("content")
    (content / "borgerpaneler.md").write_text(ARTICLE, encoding="utf-8")
    photo(content / "billeder" / "panel.jpg", (1800, 1200))
    photo(content / "billeder" / "afstemning.jpg", (1200, 900), colour=(150, 60, 60))
    done = editor("publish", str(content), "--stack", str(stack.stack_file))
    assert done.returncode == 0, done.stderr
    return stack, done.stdout


def test_publish_from_a_second_terminal_keeps_the_running_site_whole(published: tuple[MakeRun, str]) -> None:
    stack, out = published
    assert "created    borgerpaneler-i-praksis" in out
    assert "images: 2 made (12 variant(s) uploaded), 0 unchanged" in out
    site = stack.site_url
    status, _, home = get(f"{site}/")
    assert status == 200
    assert f'<a href="{site}/artikler/borgerpaneler-i-praksis">Borgerpaneler i praksis</a>' in home.decode()
    stylesheet = re.search(rb'<link rel="stylesheet" href="([^"]+)"', home)
    assert stylesheet and stylesheet.group(1).decode().startswith(f"{site}/assets/site.")
    status, headers, _ = get(stylesheet.group(1).decode())
    assert status == 200 and headers["Content-Type"].startswith("text/css")

    # Every address the home page and the new article name answers, on the running site.
    checked: set[str] = set()
    for page in (f"{site}/", f"{site}/artikler/borgerpaneler-i-praksis"):
        status, _, body = get(page)
        assert status == 200, page
        for url in links_of(body):
            if url.startswith(("mailto:", "tel:", "#")) or url in checked:
                continue
            assert url.startswith(f"{site}/"), (page, url)  # not the config default 127.0.0.1:8000
            checked.add(url)
            if urlsplit(url).path.startswith("/api/") and not url.endswith(("/nyhedsbrev", "/articles")):
                continue  # form targets (POST)
            status, _, _ = get(url)
            assert status == 200, (page, url)
    assert any("/billeder/panel-" in url and url.endswith(".webp") for url in checked)
    assert any("/billeder/afstemning-" in url and url.endswith(".jpg") for url in checked)


def _confirmed_reader(stack: MakeRun) -> None:
    """A signup through the running site's API, confirmed through the mailed link's page."""
    site = stack.site_url
    headers = {"Content-Type": "application/json", "Origin": site}
    status, _, body = get(f"{site}/api/captcha", method="POST", data=b"{}", headers=headers)
    assert status == 201, body
    challenge = json.loads(body)
    # The running site's script would solve the proof of work in its Web Worker; this does the same.
    signup = {"email": READER, "captcha_id": challenge["captcha_id"], "captcha_answer": ANSWER,
              "topics": [], "consent": True, "proof_of_work": solve(challenge["proof_of_work"])}
    status, _, body = get(f"{site}/api/subscriptions", method="POST", data=json.dumps(signup).encode(),
                          headers=headers)
    assert status in (200, 202), body
    mail = next(m for m in outbox.read(stack.moto_url) if READER in m.recipients)
    link = re.search(r"https?://\S+/subscriptions/confirm\?token=[\w.~-]+", mail.part("plain"))
    assert link, mail.part("plain")
    token = link.group(0).split("token=", 1)[1]
    status, _, body = get(f"{site}/api/subscriptions/confirm", method="POST", data=f"token={token}".encode(),
                          headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": site})
    assert status in (200, 303), body


def test_a_digest_sent_from_the_command_unsubscribes_in_the_running_api(
        published: tuple[MakeRun, str]) -> None:
    stack, _ = published
    _confirmed_reader(stack)
    command = ("--stack", str(stack.stack_file))
    # The command signs with the running API's secret: it knows the subscriber by their address.
    preview = editor("digest", "preview", "--email", READER, *command)
    assert preview.returncode == 0, preview.stderr
    assert "(confirmed)" in preview.stdout and "not a subscriber" not in preview.stdout

    sent = editor("digest", "send", *command)
    assert sent.returncode == 0, sent.stderr
    assert "sent 1," in sent.stdout
    digest = [m for m in outbox.read(stack.moto_url) if READER in m.recipients and "uge" in m.subject][-1]
    html = digest.part("html")
    assert f'href="{stack.site_url}/artikler/borgerpaneler-i-praksis"' in html
    picture = re.search(r'<img src="([^"]+/billeder/panel-[0-9a-f]{12}-960\.jpg)" width="552" height="368" '
                        r'alt="Et borgerpanel samlet om et bord"', html)
    assert picture, html
    assert get(picture.group(1))[0] == 200  # the lead image, on the running site

    one_click = re.search(r"<(https?://[^>]+/subscriptions/unsubscribe\?token=[^>]+)>",
                          str(digest.message["List-Unsubscribe"]))
    assert one_click
    in_body = re.search(r"Afmeld nyhedsbrevet: (\S+)", digest.part("plain"))
    assert in_body and in_body.group(1) == one_click.group(1)
    status, _, page = get(one_click.group(1))  # the page behind the mail's link: no "Linket virker ikke"
    assert status == 200 and "Linket virker ikke" not in page.decode()
    status, _, body = get(one_click.group(1), method="POST", data=b"List-Unsubscribe=One-Click",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body  # RFC 8058 one-click, as Gmail sends it
    after = editor("digest", "preview", "--email", READER, *command)
    assert "(unsubscribed)" in after.stdout


def test_the_stack_file_is_this_users_and_holds_the_running_api_s_settings(stack: MakeRun) -> None:
    assert stack.stack_file.stat().st_mode & 0o077 == 0  # the run's throwaway secrets: not for others
    environment = stack.settings["environment"]
    assert environment["AWS_ENDPOINT_URL"] == stack.moto_url and environment["STAGE"] == "local"
    assert environment["SITE_URL"] == stack.site_url and environment["API_URL"] == f"{stack.site_url}/api"
    assert len(environment["APP_SECRET"]) >= 32 and stack.settings["pid"] == stack.process.pid
    assert os.environ.get("APP_SECRET") != environment["APP_SECRET"]  # make run's own, not the tests'
