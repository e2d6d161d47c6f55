"""End to end in headless Chromium against the local stack (moto server, chalice local, the
site server): the signup with and without JavaScript (with it, the proof of work solved by
our Web Worker at the real setting, and timed), axe-core on every page type, and hostile
article bodies that must not run. Screenshots go to test-artifacts/."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.captcha import challenges
from chalicelib.captcha.words import NEW_PICTURE_AFTER
from chalicelib.core.config import get_settings
from devtools.emulators import moto_server
from devtools.stack import LocalStack
from editor.publishing import publish_paths
from editor.site.build import build_site
from tests.support.browser import (
    ARTIFACTS,
    axe_violations,
    confirm_link,
    launch,
    require_browser,
    start_stack,
)
from tests.support.fixtures import ROOT
from tests.support.images import photo
from tests.support.site import XSS_VECTORS, write_article

SEED = "samarbejde-med-borgere-kan-laeres"
ANSWER = os.environ["CAPTCHA_TEST_ANSWER"]
IMAGE_LOADED = """() => {
  const image = document.querySelector('img[data-captcha-image]');
  return image.src.includes('/captcha/') && image.complete && image.naturalWidth > 0;
}"""
# The picture is shown at its own pixel size: scaled, it blurs (issue 14).
IMAGE_SIZES = """() => {
  const image = document.querySelector('img[data-captcha-image]');
  return [image.naturalWidth, image.naturalHeight, image.clientWidth, image.clientHeight];
}"""


@pytest.fixture(scope="module")
def local(moto: moto_server.MotoServer) -> Iterator[LocalStack]:
    require_browser()
    started = start_stack(moto, ROOT / ".pytest_cache" / f"chalice-browser-{os.getpid()}.log")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def browser(local: LocalStack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def site(local: LocalStack, tmp_path: Path) -> LocalStack:
    """The site published into this test's clean bucket (content/ plus a second category)."""
    write_article(tmp_path, "metode-til-borgermoeder", title="En metode til borgermøder",
                  body="Sådan holder I et godt borgermøde.\n\n- Inviter bredt\n- Lyt først")
    report = publish_paths([ROOT / "content", tmp_path])
    assert not report.rejected
    build_site(report.changed, site_url=local.site_url, api_url=local.api_url)
    return local


class Watch:
    """What a page says in its console (CSP refusals land there) and which dialogs opened."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        def console(message: Any) -> None:
            if message.type == "error":
                self.errors.append(message.text)

        page.on("console", console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

        def dismiss(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", dismiss)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def assert_accessible(page: Any, label: str) -> None:
    assert axe_violations(page) == [], label


def test_signup_with_javascript(site: LocalStack, browser: Any, outbox: Callable[[], list[Any]]) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="da-DK")
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{site.site_url}/nyhedsbrev")
    page.wait_for_function(IMAGE_LOADED)  # the script fetched a challenge and the PNG loaded
    assert page.locator("[data-nojs-only]").first.is_hidden()
    assert_accessible(page, "newsletter (static, with a challenge)")
    shot(page, "js-1-signup-form")
    assert page.evaluate(IMAGE_SIZES) == [240, 80, 240, 80]
    first_id = page.input_value("input[name=captcha_id]")
    # The audio is made when asked for, by the API, and fetched as audio/wav.
    with page.expect_response(lambda r: r.url.endswith(f"/captcha/{first_id}/audio")) as played:
        page.click("button[data-captcha-play]")
    assert played.value.status == 200 and played.value.headers["content-type"] == "audio/wav"
    assert played.value.headers["cache-control"] == "no-store"
    assert played.value.request.headers["accept"] == "audio/wav"
    page.wait_for_function("() => document.querySelector('audio[data-captcha-audio]').src.startsWith('blob:')")
    page.click("button[data-captcha-reload]")
    page.wait_for_function(f"() => document.querySelector('input[name=captcha_id]').value !== '{first_id}'")
    page.wait_for_function(IMAGE_LOADED)

    page.fill("#email", "borger.js@example.dk")
    page.check("input[name=consent]")
    # A wrong answer: a new picture, and the message beside the field says so.
    second_id = page.input_value("input[name=captcha_id]")
    page.fill("#captcha_answer", "22222")
    with page.expect_request(lambda r: r.url.endswith("/api/subscriptions")) as wrong_post:
        page.click("main button[type=submit]")
    # The worker's solution went with it, for the challenge shown (the server checked it first,
    # then the answer, and spent it: a new picture brings new work).
    assert _posted_proof(wrong_post.value)["captcha_id"] == second_id
    error = page.locator("#captcha-error")
    error.wait_for()
    assert error.inner_text() == NEW_PICTURE_AFTER["CaptchaWrong"]
    page.wait_for_function(f"() => document.querySelector('input[name=captcha_id]').value !== '{second_id}'")
    page.wait_for_function(IMAGE_LOADED)
    assert page.get_attribute("#captcha_answer", "aria-invalid") == "true"
    assert page.input_value("#captcha_answer") == "" and page.input_value("#email") == "borger.js@example.dk"
    assert page.locator("[data-form-status]").inner_text() == ""  # one message, where the answer goes
    assert_accessible(page, "newsletter (a wrong answer)")
    shot(page, "js-1b-wrong-answer")
    # The browser logs the refused post's status itself; nothing else may appear.
    assert watch.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    watch.errors.clear()

    page.fill("#captcha_answer", ANSWER)
    with page.expect_request(lambda r: r.url.endswith("/api/subscriptions")) as right_post:
        page.click("main button[type=submit]")
    solved = _posted_proof(right_post.value)
    assert solved["captcha_id"] == page.input_value("input[name=captcha_id]") != second_id
    success = page.locator(".notice.success")
    success.wait_for()
    assert "bekræfte" in success.inner_text()
    assert page.url == f"{site.site_url}/nyhedsbrev"  # an inline message, no page change
    shot(page, "js-2-signup-sent")

    page.goto(confirm_link(outbox(), "borger.js@example.dk"))
    assert page.locator("h1").inner_text() == "Bekræft din tilmelding"
    assert_accessible(page, "confirm page")
    shot(page, "js-3-confirm-page")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Tak – du er tilmeldt"
    assert_accessible(page, "result page")
    shot(page, "js-4-confirmed")
    assert watch.errors == [] and watch.dialogs == []
    context.close()


def _posted_proof(request: Any) -> dict[str, Any]:
    """The JSON the script posted: its challenge and the worker's solution, which the app's own
    check accepts for that challenge (ALTCHA's payload, with the worker's ``took`` in ms)."""
    posted = json.loads(request.post_data)
    fields = json.loads(base64.b64decode(posted["proof_of_work"]))
    assert isinstance(fields["took"], int) and fields["took"] >= 0
    challenges.default_service().work.verify(posted["proof_of_work"], posted["captcha_id"], datetime.now(UTC))
    return {"captcha_id": posted["captcha_id"], **fields}


# Solves the proof of work of a few fresh challenges with the site's own Web Worker, one after
# another, as the signup page does: the rate of this machine's Chromium at the real setting.
SOLVE_IN_THE_WORKER = """async (count) => {
  const form = document.querySelector('form[data-signup]');
  const script = form.getAttribute('data-work-script');
  const solved = [];
  for (let i = 0; i < count; i += 1) {
    const response = await fetch(form.getAttribute('data-api') + '/captcha', {method: 'POST'});
    const challenge = await response.json();
    const payload = await new Promise((resolve, reject) => {
      const worker = new Worker(script);
      worker.onmessage = (event) => { worker.terminate(); resolve(event.data.payload); };
      worker.onerror = (event) => reject(new Error(event.message));
      worker.postMessage(challenge.proof_of_work);
    });
    solved.push({captcha_id: challenge.captcha_id, payload: payload,
                 maxnumber: challenge.proof_of_work.maxnumber});
  }
  return solved;
}"""


def test_the_worker_solves_the_proof_of_work_at_the_real_setting(site: LocalStack, browser: Any) -> None:
    """Our Web Worker, under the site's CSP, with WebCrypto: its solutions pass the server's
    check, and its rate here is written to test-artifacts/ (bench/bot_economics.py measures it
    properly, with a phone's rate from it: docs/decisions/proof-of-work.md)."""
    context = browser.new_context()
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{site.site_url}/nyhedsbrev")
    page.wait_for_function(IMAGE_LOADED)
    solved = page.evaluate(SOLVE_IN_THE_WORKER, 6)
    service = challenges.default_service()
    fields = []
    for one in solved:
        service.work.verify(one["payload"], one["captcha_id"], datetime.now(UTC))
        fields.append(json.loads(base64.b64decode(one["payload"])))
    assert {one["maxnumber"] for one in solved} == {get_settings().pow_max_number}
    hashes = sum(found["number"] + 1 for found in fields)
    seconds = sum(found["took"] for found in fields) / 1000
    rate = hashes / max(seconds, 0.001)
    expected = get_settings().pow_max_number / 2 / rate  # a visitor's average wait here
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "proof-of-work-chromium.json").write_text(json.dumps({
        "solves": len(fields), "hashes": hashes, "seconds": round(seconds, 3),
        "hashes_per_second": round(rate), "expected_seconds_per_solve": round(expected, 3)}, indent=2))
    # About a second on a phone a third as fast as this machine (the decision's assumption),
    # with room for a machine busy with other tests.
    assert expected < 1.0, (rate, expected)
    assert watch.errors == [] and watch.dialogs == []  # the CSP let the worker run
    context.close()


def test_signup_without_javascript(site: LocalStack, browser: Any, outbox: Callable[[], list[Any]]) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    images: list[tuple[str, int, str]] = []

    def loaded(response: Any) -> None:
        if "/captcha/" in response.url:
            images.append((response.url, response.status, response.headers.get("content-type", "")))

    page.on("response", loaded)
    page.goto(f"{site.site_url}/nyhedsbrev")
    assert page.locator("form[data-signup]").is_hidden()
    shot(page, "nojs-1-static-page")
    page.click("text=Brug tilmeldingssiden uden JavaScript")
    page.wait_for_load_state("load")  # images included
    assert page.url == f"{site.api_url}/nyhedsbrev"
    captcha_id = page.input_value("input[name=captcha_id]")
    assert (f"{site.site_url}/captcha/{captcha_id}.png", 200, "image/png") in images
    assert page.evaluate(IMAGE_SIZES) == [240, 80, 240, 80]
    shot(page, "nojs-2-signup-form")

    page.fill("#email", "borger.nojs@example.dk")
    page.fill("#captcha_answer", "22222")
    page.check("input[name=consent]")
    page.click("main button[type=submit]")  # a wrong answer: the form again, a new picture
    assert page.locator("#captcha-error").inner_text() == NEW_PICTURE_AFTER["CaptchaWrong"]
    assert page.input_value("input[name=captcha_id]") != captcha_id
    assert page.input_value("#email") == "borger.nojs@example.dk"
    shot(page, "nojs-2b-wrong-answer")

    page.fill("#captcha_answer", ANSWER)
    page.click("main button[type=submit]")  # POST, 303, the result page
    assert page.locator("h1").inner_text() == "Tjek din indbakke"
    shot(page, "nojs-3-check-inbox")

    page.goto(confirm_link(outbox(), "borger.nojs@example.dk"))
    shot(page, "nojs-4-confirm-page")
    page.click("main button[type=submit]")
    assert page.locator("h1").inner_text() == "Tak – du er tilmeldt"
    shot(page, "nojs-5-confirmed")
    context.close()


def test_every_page_type_passes_axe_and_the_csp(site: LocalStack, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    pages = {
        "home": "/", "article": f"/artikler/{SEED}", "category": "/kategori/cases", "all-articles": "/artikler",
        "about": "/om", "privacy": "/privatlivspolitik", "accessibility": "/tilgaengelighedserklaering",
        "not-found": "/findes-ikke", "api-signup-form": "/api/nyhedsbrev",
        "tag": "/emne/kompetenceudvikling", "search": "/soeg?q=borgerm%C3%B8der",
    }
    for name, path in pages.items():
        response = page.goto(site.site_url + path)
        assert response.status == (404 if name == "not-found" else 200), name
        if name == "search":
            page.wait_for_selector("[data-search-results] li")
        assert_accessible(page, name)
        shot(page, f"page-{name}")
        if name == "not-found":  # the browser logs the 404 status itself; nothing else may appear
            assert watch.errors == ["Failed to load resource: the server responded with a status of "
                                    "404 (Not Found)"]
            watch.errors.clear()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{site.site_url}/artikler/{SEED}")
    shot(page, "page-article-mobile")
    assert_accessible(page, "article on a phone")
    assert watch.errors == [] and watch.dialogs == []
    context.close()


def test_search_from_the_header_with_the_keyboard(site: LocalStack, browser: Any) -> None:
    """The header's search box on any page leads to /soeg, which finds Danish inflected forms
    in the static index under the real CSP, announces the count and marks the hit."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="da-DK")
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{site.site_url}/artikler/{SEED}")
    page.fill("#sidehoved-soeg", "borgermøderne")
    page.keyboard.press("Enter")
    page.wait_for_url("**/soeg?q=*")
    first = page.wait_for_selector("[data-search-results] li a")
    assert first.get_attribute("href") in ("/artikler/metode-til-borgermoeder",
                                           f"{site.site_url}/artikler/metode-til-borgermoeder")
    status = page.locator("[data-search-status]")
    assert status.get_attribute("aria-live") == "polite" and status.get_attribute("role") == "status"
    assert "fundet for »borgermøderne«" in status.inner_text()
    assert page.locator("[data-search-results] li").first.locator("mark").count() >= 1
    assert page.locator("[data-search-results] li").first.locator("time").inner_text()
    # Typing a new word in the page's own field searches as one types (no Enter needed).
    page.fill("#soeg-felt", "")
    page.locator("#soeg-felt").press_sequentially("læres", delay=30)
    page.wait_for_function("() => document.querySelector('[data-search-status]').textContent.includes('læres')")
    hrefs = page.locator("[data-search-results] li h2 a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    assert any(href.endswith(f"/artikler/{SEED}") for href in hrefs[:3]), hrefs
    assert page.url.endswith("/soeg?q=l%C3%A6res")
    page.fill("#soeg-felt", "")
    page.locator("#soeg-felt").press_sequentially("xylofonorkester", delay=10)
    page.wait_for_function("() => document.querySelector('[data-search-status]').textContent.includes('Ingen')")
    assert page.locator("[data-search-results]").is_hidden()
    shot(page, "page-search")
    assert_accessible(page, "search without results")
    assert watch.errors == []  # a CSP refusal of the WebAssembly or the index would land here
    context.close()


def search_for(page: Any, base: str, query: str) -> tuple[str, list[str]]:
    """/soeg?q=…, as a linked search: (what the status says, the results' addresses)."""
    page.goto(f"{base}/soeg?q={query}")
    page.wait_for_function(f"() => document.querySelector('[data-search-status]').textContent.includes('{query}')")
    hrefs = page.locator("[data-search-results] li h2 a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    return page.locator("[data-search-status]").inner_text(), hrefs


def test_search_shows_an_archived_article_as_it_reads_now_and_never_once_unpublished(
        site: LocalStack, browser: Any, tmp_path: Path) -> None:
    """Two old articles in the archive index; one is edited, the other unpublished. The
    archive is not made again (only the recent index and its list of hidden copies): the
    edited article is found by its new words, once, and not by its old ones; the unpublished
    one is not found at all."""
    write_article(tmp_path, "vandloeb", title="Lodsejerne ved åen", published_at="2020-03-01T09:00:00Z",
                  body="Lodsejerne aftalte en vandløbsrestaurering med kommunen.")
    write_article(tmp_path, "kystsikring", title="Kystsikring med naboerne", published_at="2020-04-01T09:00:00Z",
                  body="Digelaget holdt stormflodsmøder med lodsejerne.")
    report = publish_paths([ROOT / "content", tmp_path])
    build_site(report.changed, site_url=site.site_url, api_url=site.api_url, full=True)  # both archived
    write_article(tmp_path, "vandloeb", title="Lodsejerne ved åen", published_at="2020-03-01T09:00:00Z",
                  body="Lodsejerne aftalte en grødeskæring med kommunen.")
    write_article(tmp_path, "kystsikring", title="Kystsikring med naboerne", published_at="2020-04-01T09:00:00Z",
                  body="Digelaget holdt stormflodsmøder med lodsejerne.", status="draft")
    report = publish_paths([ROOT / "content", tmp_path])
    built = build_site(report.changed, site_url=site.site_url, api_url=site.api_url)
    assert not [key for key in built.sync.put if key.startswith("pagefind/")]  # the archive stays
    assert "pagefind-nyt/skjult.json" in built.sync.put

    context = browser.new_context(locale="da-DK")
    page = context.new_page()
    watch = Watch(page)
    said, found = search_for(page, site.site_url, "grødeskæring")
    assert said.startswith("1 artikel fundet") and [href.rsplit("/", 1)[1] for href in found] == ["vandloeb"]
    said, found = search_for(page, site.site_url, "vandløbsrestaurering")
    assert said.startswith("Ingen artikler fundet") and found == []
    said, found = search_for(page, site.site_url, "stormflodsmøder")
    assert said.startswith("Ingen artikler fundet") and found == []
    said, found = search_for(page, site.site_url, "lodsejerne")  # both had it: the edited one, once
    slugs = [href.rsplit("/", 1)[1] for href in found]
    assert slugs.count("vandloeb") == 1 and "kystsikring" not in slugs, slugs
    assert said.startswith(f"{len(found)} artik"), said  # the count is of what is shown
    assert watch.errors == []
    context.close()


def test_search_without_javascript_offers_the_lists(site: LocalStack, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    response = page.goto(f"{site.site_url}/soeg?q=borger")
    assert response.status == 200
    notice = page.locator("main .notice")
    assert notice.is_visible() and "kræver JavaScript" in notice.inner_text()
    links = notice.locator("a")
    targets = [links.nth(number).get_attribute("href") for number in range(links.count())]
    assert f"{site.site_url}/artikler" in targets and f"{site.site_url}/kategori/cases" in targets
    assert page.locator("[data-search-results]").is_hidden()
    context.close()


# Every layout shift the page makes, from its first paint (buffered), summed as CLS counts it
# (shifts right after a user's input do not count; this test gives none).
LAYOUT_SHIFT = """() => new Promise(resolve => {
  let total = 0;
  new PerformanceObserver(list => {
    for (const entry of list.getEntries()) { if (!entry.hadRecentInput) total += entry.value; }
  }).observe({type: 'layout-shift', buffered: true});
  setTimeout(() => resolve(total), 500);
})"""
PICTURES_LOADED = """() => [...document.querySelectorAll('main picture img')].map(img => ({
  complete: img.complete, width: img.naturalWidth, src: img.currentSrc, box: img.getBoundingClientRect().height,
  loading: img.loading}))"""


def test_an_article_shows_its_pictures_without_moving_the_text(local: LocalStack, browser: Any,
                                                               tmp_path: Path) -> None:
    """The pictures arrive late (a slow network: each held back 400 ms); the text below them
    must not move when they do (CLS 0), because each <img> carries its width and height."""
    photo(tmp_path / "billeder" / "forside.jpg", (1800, 1200))
    photo(tmp_path / "billeder" / "moede.jpg", (1200, 900), colour=(150, 60, 60))
    body = "\n\n".join([
        "Indledning til artiklen.",
        "![Borgere omkring et bord i Hvidovre](billeder/moede.jpg)",
        *[f"Afsnit {n}: " + "borgerdialog " * 60 for n in range(12)],
        "![Det samme møde, senere på aftenen](billeder/moede.jpg)",
    ])
    path = write_article(tmp_path, "billeder", title="En artikel med billeder", body=body)
    text = path.read_text(encoding="utf-8").replace(
        "status: published\n", "status: published\nimage: billeder/forside.jpg\n"
        "image_alt: Et fyldt borgermøde i en gymnastiksal\n")
    path.write_text(text, encoding="utf-8")
    report = publish_paths([path], site_url=local.site_url)
    assert not report.rejected, report.rejected
    build_site(report.changed, site_url=local.site_url, api_url=local.api_url)

    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    requested: list[str] = []

    def late(route: Any) -> None:
        requested.append(route.request.url)
        page.wait_for_timeout(400)
        route.continue_()

    page.route("**/billeder/**", late)
    page.goto(f"{local.site_url}/artikler/billeder", wait_until="load")
    pictures = page.evaluate(PICTURES_LOADED)
    hero, first, last = pictures
    assert hero["complete"] and hero["width"] > 0 and hero["src"].endswith(".webp")  # the WebP source
    assert hero["loading"] == "auto" and first["loading"] == last["loading"] == "lazy"
    assert all(picture["box"] > 100 for picture in pictures)  # room kept before any arrived
    assert not any("-1600." in url for url in requested if "moede" in url)  # sizes: no larger than needed
    page.mouse.wheel(0, 20000)  # down to the last picture: the lazy ones load now
    page.wait_for_function("() => [...document.querySelectorAll('main picture img')].every("
                           "img => img.complete && img.naturalWidth > 0)")
    assert page.evaluate(LAYOUT_SHIFT) == 0
    assert_accessible(page, "article with pictures")
    shot(page, "article-pictures")
    assert watch.errors == [] and watch.dialogs == []
    # Let a picture request still held back finish before the page goes: its handler would
    # otherwise run later, against a closed page, inside the next test.
    page.unroute_all(behavior="wait")
    context.close()


def test_hostile_article_runs_nothing_in_the_browser(local: LocalStack, browser: Any, tmp_path: Path) -> None:
    write_article(tmp_path, "xss", title='<img src=x onerror="window.__xss=1">Titel',
                  body="\n\n".join(XSS_VECTORS))
    report = publish_paths([tmp_path])
    build_site(report.changed, site_url=local.site_url, api_url=local.api_url)
    context = browser.new_context()
    page = context.new_page()
    watch = Watch(page)
    for path in ("/artikler/xss", "/", "/kategori/metoder"):
        page.goto(local.site_url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("() => window.__xss") is None, path
    shot(page, "xss-category")
    page.goto(local.site_url + "/artikler/xss")
    shot(page, "xss-article")
    assert watch.dialogs == []
    assert all("Content Security Policy" not in error for error in watch.errors), watch.errors
    context.close()


def test_a_form_on_another_site_is_refused(site: LocalStack, browser: Any, outbox: Callable[[], list[Any]]) -> None:
    """Another site's page posts our signup form: Chromium sends its Origin, or ``null`` from a
    page with no-referrer, and ``Sec-Fetch-Site: cross-site``; the site server passes both on
    as CloudFront does, and the visitor lands on the Danish 400 page. Nothing is recorded."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    for name, head, origin in (("foreign-origin", "", "http://evil.example"),
                               ("origin-null", '<meta name="referrer" content="no-referrer">', "null")):
        # A real challenge and its answer: only where the post came from is wrong.
        challenge = context.request.post(f"{site.api_url}/captcha", data="{}",
                                         headers={"Content-Type": "application/json"})
        captcha_id = challenge.json()["captcha_id"]
        form = (f'<!doctype html><html lang="en"><head><title>Win</title>{head}</head><body>'
                f'<form method="post" action="{site.api_url}/subscriptions">'
                f'<input name="email" value="offer@example.dk"><input name="captcha_id" value="{captcha_id}">'
                f'<input name="captcha_answer" value="{ANSWER}"><input name="consent" value="on">'
                '<button type="submit">Win a prize</button></form></body></html>')
        page.route("http://evil.example/**", lambda route, _request, body=form: route.fulfill(
            status=200, content_type="text/html", body=body))
        page.goto("http://evil.example/")
        with page.expect_response(lambda r: r.url.endswith("/api/subscriptions")) as posted:
            page.click("button[type=submit]")
        # (Playwright does not list the Sec-Fetch-* headers Chromium adds; the API reads them.)
        assert posted.value.request.all_headers().get("origin") == origin, name
        assert posted.value.status == 400, name
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Formularen kom fra en anden hjemmeside", name
        assert_accessible(page, f"cross-site refusal ({name})")
        shot(page, f"cross-site-{name}")
        page.unroute("http://evil.example/**")
    assert outbox() == []
    context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_a_subscriber_walks_from_signup_to_erase(site: LocalStack, browser: Any, outbox: Callable[[], list[Any]], *,
                                                 client: Any, add_articles: Any, javascript: bool) -> None:
    """Issue 16: signup → confirm → welcome mail → preferences (topics and frequency) → the
    digest respects them → unsubscribe → the unsubscribe page says so → export → erase → the
    export page says nothing is held. Every step is a page and a form, with or without
    JavaScript; each page passes axe (run with JavaScript: axe is a script)."""
    from chalicelib.digest.planner import DigestPlanner
    from chalicelib.newsletter import tokens
    from tests.support.digest import pump

    name = "js" if javascript else "nojs"
    email = f"vandrer.{name}@example.dk"
    context = browser.new_context(viewport={"width": 1100, "height": 900}, java_script_enabled=javascript)
    page = context.new_page()
    watch = Watch(page)

    def mails(subject_start: str) -> list[Any]:
        return [m for m in outbox() if m.recipients == [email] and m.subject.startswith(subject_start)]

    def link(mail: Any, path: str) -> str:
        [found] = {word for word in mail.part("plain").split() if f"/subscriptions/{path}?token=" in word}
        return str(found)

    def step(label: str, heading: str) -> None:
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == heading, (label, page.locator("h1").inner_text())
        if javascript:
            assert_accessible(page, f"{label} ({name})")
        shot(page, f"walk-{name}-{label}")

    # Sign up on the form page (a form post with or without the script), and confirm.
    page.goto(f"{site.api_url}/nyhedsbrev")
    page.fill("#email", email)
    page.fill("#captcha_answer", ANSWER)
    page.check("input[name=consent]")
    page.click("main button[type=submit]")
    step("1-check-inbox", "Tjek din indbakke")
    page.goto(confirm_link(outbox(), email))
    page.click("main button[type=submit]")
    step("2-confirmed", "Tak – du er tilmeldt")

    # The welcome mail brings the links; its preferences link opens the page.
    [welcome] = mails("Velkommen")
    page.goto(link(welcome, "preferences"))
    step("3-preferences", "Dine valg for nyhedsbrevet")
    for box in page.locator("input[name=topics]").all():
        box.uncheck()
    page.check("input[name=topics][value=metoder]")
    page.check("input[name=frequency][value=monthly]")
    page.click("main button[type=submit]")
    step("4-preferences-saved", "Dine valg er gemt")
    page.goto(link(welcome, "preferences"))
    assert page.is_checked("input[name=frequency][value=monthly]")
    assert [b.get_attribute("value") for b in page.locator("input[name=topics]:checked").all()] == ["metoder"]

    # The digest respects them: a month's digest with only the chosen topic (today is the
    # first run of the month for it), and no weekly one.
    add_articles(1, category="cases", prefix=f"{name}-case", start=datetime.now(UTC) - timedelta(hours=1))
    add_articles(1, category="metoder", prefix=f"{name}-metode", start=datetime.now(UTC) - timedelta(hours=1))
    DigestPlanner().run()
    pump(client)
    [digest] = mails("Nyt fra Center for Borgerdialog")
    month = digest.subject.split(",", 1)[1].split(":")[0].strip()
    assert not month.startswith("uge"), digest.subject
    assert f"{name}-metode-0000" in digest.part("plain") and f"{name}-case-0000" not in digest.part("plain")

    # Unsubscribe from the welcome's link; the same link then says it is done.
    page.goto(link(welcome, "unsubscribe"))
    step("5-unsubscribe", "Afmeld nyhedsbrevet")
    page.click("main button[type=submit]")
    step("6-unsubscribed", "Du er afmeldt")
    page.goto(link(welcome, "unsubscribe"))
    step("7-unsubscribe-again", "Du er afmeldt")
    assert page.locator("main button").count() == 0

    # Export and erase take the link mailed to the address (asked for on the export page).
    page.goto(link(welcome, "export"))
    page.click("main button[type=submit]")
    step("8-rights-link-sent", "Tjek din indbakke")
    [rights] = mails("Dit link")
    export_url = link(rights, "export")
    page.goto(export_url)
    step("9-export", "Hent dine data")
    page.click("button[value=html]")
    step("9b-my-data", "Dine data")
    assert "Du afmeldte dig med knappen på afmeldingssiden." in page.locator("main").inner_text()
    page.goto(link(rights, "erase"))
    step("10-erase", "Slet dine data")
    page.click("main button[type=submit]")
    step("11-erased", "Dine data er slettet")
    page.goto(export_url)
    step("12-nothing-held", "Vi har ingen oplysninger om dig")
    assert page.locator("main button").count() == 0
    from chalicelib.newsletter.models import Subscriber

    assert Subscriber.count(tokens.subscriber_id(email)) == 0
    assert watch.errors == [] and watch.dialogs == []
    context.close()
