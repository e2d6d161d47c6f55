"""Security headers: one list (chalicelib/data/security_headers.json), sent by the local
site server and by the CDN's response headers policy in infra/template.yaml."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from chalicelib.core.config import get_settings
from chalicelib.site.headers import security_headers
from devtools.emulators import moto_server
from editor.publishing import publish_paths
from editor.site.build import build_site
from infra.template import load_template
from tests.support.fixtures import ROOT


@pytest.mark.no_aws
def test_the_cdn_policy_sends_exactly_the_shared_headers() -> None:
    headers = security_headers()
    policy = load_template()["Resources"]["SecurityHeadersPolicy"]["Properties"][
        "ResponseHeadersPolicyConfig"]
    security = policy["SecurityHeadersConfig"]
    assert " ".join(security["ContentSecurityPolicy"]["ContentSecurityPolicy"].split()) == (
        headers["Content-Security-Policy"])
    hsts = security["StrictTransportSecurity"]
    assert headers["Strict-Transport-Security"] == "; ".join(
        [f"max-age={hsts['AccessControlMaxAgeSec']}"]
        + (["includeSubDomains"] if hsts["IncludeSubdomains"] else []) + (["preload"] if hsts["Preload"] else []))
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == headers["Referrer-Policy"] == "no-referrer"
    assert security["FrameOptions"]["FrameOption"] == headers["X-Frame-Options"] == "DENY"
    assert "ContentTypeOptions" in security and headers["X-Content-Type-Options"] == "nosniff"
    custom = {item["Header"]: item["Value"] for item in policy["CustomHeadersConfig"]["Items"]}
    assert custom == {name: value for name, value in headers.items() if name in (
        "Permissions-Policy", "Cross-Origin-Opener-Policy")}
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]


@pytest.fixture
def site_server(moto: moto_server.MotoServer) -> Iterator[str]:
    from devtools.site_server import serve

    server = serve(0, bucket=get_settings().bucket, api="http://127.0.0.1:9", moto_url=moto.url)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our loopback server
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_local_site_server_serves_the_bucket_with_the_headers(site_server: str) -> None:
    report = publish_paths([ROOT / "content"])
    build_site(report.changed)
    expected = security_headers(local_http=True)
    status, headers, body = _get(site_server + "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"Samarbejde med borgere kan l" in body
    for name, value in expected.items():
        assert headers[name] == value, name
    assert "upgrade-insecure-requests" not in headers["Content-Security-Policy"]  # plain http locally
    status, headers, body = _get(site_server + "/findes/ikke")
    assert status == 404 and b"Siden findes ikke" in body
    assert headers["Referrer-Policy"] == "no-referrer"
    status, _, body = _get(site_server + "/api/articles")
    assert status == 502 and b"svarer ikke" in body  # nothing listens on port 9


