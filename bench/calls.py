"""AWS calls per request, for every public route that touches AWS, against moto server.

Each route runs ``rounds`` times through Chalice's test client (the app's own handlers,
in this process) against a moto server process; the calls are counted at the app's
botocore clients (devtools/call_counter.py). The baseline is the designed count, the one
the tests hold (tests/core/test_efficiency.py, tests/captcha/, tests/newsletter/), so a
ratio above 1 means a route makes calls it was not designed to. Counts, not times: the
figures are the same on every machine.

    .venv/bin/python bench/calls.py [rounds=20]
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The script's own folder would come first on sys.path, and bench/captcha.py would hide
# the captcha package from the app: the repository root takes its place.
sys.path[0] = str(ROOT)
REGION = "eu-north-1"
ANSWER = "K7M2P"
HEADERS = {"content-type": "application/json", "user-agent": "bench/calls",
           "referer": "https://borgerdialog.dk/nyhedsbrev/"}

# What each request is designed to cost (the reason is in the test that holds it).
DESIGNED: dict[str, Counter[str]] = {
    "GET /articles": Counter({"dynamodb.Query": 1}),
    "GET /articles/{slug}": Counter({"dynamodb.GetItem": 1}),
    # The per-IP count of challenges (captcha.limit: one conditional UpdateItem), the picture,
    # the item. The count is the one call the limit on challenges adds (docs/captcha.md).
    "POST /captcha": Counter({"dynamodb.UpdateItem": 1, "s3.PutObject": 1, "dynamodb.PutItem": 1}),
    "GET /captcha/{id}/audio": Counter({"dynamodb.GetItem": 1}),
    "POST /subscriptions (new address)": Counter({
        "dynamodb.UpdateItem": 3, "dynamodb.GetItem": 1, "dynamodb.PutItem": 1,
        "dynamodb.TransactWriteItems": 1, "sesv2.SendEmail": 1}),
    "GET /subscriptions/confirm (page)": Counter({"dynamodb.GetItem": 1}),
    # The confirm's transaction also claims the welcome mail, which follows (docs/newsletter.md).
    "POST /subscriptions/confirm": Counter({"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1,
                                            "sesv2.SendEmail": 1}),
    "POST /subscriptions/unsubscribe (one-click)": Counter({"dynamodb.GetItem": 1,
                                                           "dynamodb.TransactWriteItems": 1}),
}


def main(argv: list[str]) -> int:
    rounds = int(argv[0]) if argv else 20
    from devtools.stack import aws_stack

    with aws_stack(CAPTCHA_TEST_ANSWER=ANSWER, SIGNUP_IP_LIMIT_PER_HOUR="1000000", LOG_LEVEL="WARNING",
                   CAPTCHA_IP_LIMIT_PER_HOUR="1000000", SES_CONFIGURATION_SET="") as server:
        return run(rounds, server.url)


def run(rounds: int, moto_url: str) -> int:
    from chalice.test import Client

    from app import app
    from chalicelib.captcha.work import solve
    from devtools import call_counter, outbox
    from devtools.seed_articles import add_articles

    slugs = add_articles(rounds, categories=["metoder"])
    measured: dict[str, list[Counter[str]]] = {route: [] for route in DESIGNED}

    with Client(app, stage_name="local", project_dir=str(ROOT)) as client:
        def measure(route: str, method: str, path: str, *ok: int, **request: Any) -> Any:
            with call_counter.counting(unique_id="bench-calls") as calls:
                response = getattr(client.http, method)(path, **request)
            if response.status_code not in ok:
                raise RuntimeError(f"{route}: {response.status_code} {response.body[:300]!r}")
            measured[route].append(calls)
            return response

        warm = json.loads(client.http.post("/captcha").body)["captcha_id"]
        # Pillow and the voice clips load once, outside the count.
        client.http.get(f"/captcha/{warm}/audio", headers={"accept": "audio/wav"})
        for number in range(rounds):
            measure("GET /articles", "get", "/articles?limit=10", 200)
            measure("GET /articles/{slug}", "get", f"/articles/{slugs[number]}", 200)
            captcha = json.loads(measure("POST /captcha", "post", "/captcha", 201).body)
            measure("GET /captcha/{id}/audio", "get", f"/captcha/{captcha['captcha_id']}/audio", 200,
                    headers={"accept": "audio/wav"})
            email = f"bench{number:03d}@example.org"
            signup = {"email": email, "captcha_id": captcha["captcha_id"], "captcha_answer": ANSWER,
                      "topics": ["metoder"], "consent": True,
                      "proof_of_work": solve(captcha["proof_of_work"])}
            measure("POST /subscriptions (new address)", "post", "/subscriptions", 202,
                    headers=HEADERS, body=json.dumps(signup).encode())
            mail = [m for m in outbox.read(moto_url) if m.recipients == [email]][-1]
            confirm = _path(re.search(r"https?://\S+/subscriptions/confirm\?token=\S+",
                                      mail.part("plain")))
            measure("GET /subscriptions/confirm (page)", "get", confirm, 200)
            measure("POST /subscriptions/confirm", "post", confirm, 200)
            unsubscribe = _path(_unsubscribe_link(email))  # the link every digest mail carries
            measure("POST /subscriptions/unsubscribe (one-click)", "post", unsubscribe,
                    200, 303,  # a form post is sent on to its result page
                    headers={"content-type": "application/x-www-form-urlencoded"},
                    body=b"List-Unsubscribe=One-Click")

    met = True
    for route, designed in DESIGNED.items():
        total = sum(measured[route], Counter())
        per_request = sum(total.values()) / rounds
        designed_total = sum(designed.values())
        exact = all(calls == designed for calls in measured[route])
        met = met and exact
        print(f"{route:46s} {per_request:5.2f} calls/request (designed {designed_total}) "
              f"{dict(sorted(total.items()))} over {rounds}")
        print("BENCH " + json.dumps({
            "figure": f"AWS calls per request: {route}", "value": f"{per_request:g}",
            "baseline": f"{designed_total} designed ({_describe(designed)})",
            "ratio": round(per_request / designed_total, 4), "goal": "<= 1.00"}, ensure_ascii=False))
    return 0 if met else 1


def _describe(calls: Counter[str]) -> str:
    return ", ".join(f"{count} {name.split('.', 1)[1]}" for name, count in sorted(calls.items()))


def _path(found: Any) -> str:
    url = found.group(0) if hasattr(found, "group") else str(found)
    parts = url.split("/", 3)
    return "/" + parts[3] if len(parts) > 3 else "/"


def _unsubscribe_link(email: str) -> str:
    from chalicelib.newsletter import tokens

    return tokens.one_click_unsubscribe_url(tokens.subscriber_id(email))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
