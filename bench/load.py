"""A bounded load run of mixed traffic against the real stack, then proof nothing broke.

Starts moto server, creates the resources of infra/template.yaml, publishes content/ plus
synthetic articles, and runs ``chalice local`` (all on 127.0.0.1). A pool of client threads
then sends, for a fixed time: article lists and articles (most traffic), categories, new
CAPTCHAs, and, when the API has them, signups (CAPTCHA + its proof of work + POST
/subscriptions, some for an address already used, some replaying a spent CAPTCHA and its
proof). The proof of work is set small here (``POW_MAX_NUMBER``): this run measures the
server, and a client's work is bench/bot_economics.py's. Afterwards it checks the invariants
against the stores themselves: one subscriber per address, exactly one confirmation mail
per accepted address, every CAPTCHA answer used once (replays refused).

Baselines, measured in the same run with the same threads: the bare AWS work a read
needs (one DynamoDB Query on the published index, straight from boto3 to the same moto
server) and ``GET /categories`` (Chalice local alone, no AWS call). The ratios say what
the app adds on top of the AWS call it cannot avoid.

    .venv/bin/python bench/load.py [seconds=30] [threads=8]      (seconds <= 60)
"""

from __future__ import annotations

import http.client
import json
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools import stack  # noqa: E402
from devtools.emulators.moto_server import free_port  # noqa: E402

REGION = "eu-north-1"
TEST_ANSWER = "K7M2P"
BASELINE_SECONDS = 5.0
MAX_SECONDS = 60.0
SYNTHETIC_ARTICLES = 60
# Share of each kind of request in the mixed run (signups only when the API has them).
MIX = {"list": 30, "list_category": 10, "article": 30, "categories": 5, "captcha": 10, "signup": 15}
REUSED_ADDRESS_SHARE = 0.15  # signups for an address signed up before: no second subscriber or mail
REPLAY_SHARE = 0.05  # signups replaying a spent CAPTCHA: must be refused


@dataclass
class Results:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[str] = field(default_factory=list)  # 5xx, connection errors, surprises
    accepted_addresses: Counter[str] = field(default_factory=Counter)
    spent_captchas: list[str] = field(default_factory=list)
    spent_proofs: dict[str, str] = field(default_factory=dict)  # captcha id → its spent proof
    replays_accepted: int = 0
    replays_refused: int = 0

    def record(self, kind: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[kind][status] += 1


class Api:
    """One keep-alive-free HTTP client per call: chalice local speaks HTTP/1.0."""

    def __init__(self, port: int, results: Results) -> None:
        self.port = port
        self.results = results

    def call(self, kind: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        started = time.perf_counter()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            connection.close()
        except (OSError, http.client.HTTPException) as problem:
            self.results.record(kind, time.perf_counter() - started, 0)
            with self.results.lock:
                self.results.errors.append(f"{method} {path}: {type(problem).__name__}: {problem}")
            return 0, {}
        elapsed = time.perf_counter() - started
        self.results.record(kind, elapsed, response.status)
        text = raw.decode("utf-8", "replace")
        if response.status >= 500 or "Traceback" in text or "botocore" in text:
            with self.results.lock:
                self.results.errors.append(f"{method} {path}: {response.status} {text[:200]}")
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}
        return response.status, data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Plan:
    mix: dict[str, int]
    seconds: float
    signups: bool
    slugs: list[str]


def _worker(api: Api, plan: Plan, deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    my_addresses: list[str] = []
    kinds, weights, slugs = list(plan.mix), list(plan.mix.values()), plan.slugs
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        if kind == "list":
            api.call(kind, "GET", f"/articles?limit={rng.choice([5, 10, 20])}")
        elif kind == "list_category":
            api.call(kind, "GET", f"/articles?category={rng.choice(['cases', 'metoder', 'erfaringer'])}")
        elif kind == "article":
            api.call(kind, "GET", f"/articles/{rng.choice(slugs)}")
        elif kind == "categories":
            api.call(kind, "GET", "/categories")
        elif kind == "raw_query":
            _raw_query(api.results)
        elif kind == "captcha":
            status, _ = api.call(kind, "POST", "/captcha")
            if status != 201:
                api.results.errors.append(f"POST /captcha answered {status}")
        elif kind == "signup" and plan.signups:
            _signup(api, rng, my_addresses)


def _raw_query(results: Results) -> None:
    from chalicelib.articles.model import PUBLISHED_FEED, Article

    started = time.perf_counter()
    found = list(Article.published_index.query(PUBLISHED_FEED, scan_index_forward=False, limit=11,
                                               page_size=11))
    results.record("raw_query", time.perf_counter() - started, 200 if found else 0)


def _signup(api: Api, rng: random.Random, my_addresses: list[str]) -> None:
    results = api.results
    if results.spent_captchas and rng.random() < REPLAY_SHARE:
        with results.lock:
            spent = rng.choice(results.spent_captchas)
        status, _ = api.call("signup_replay", "POST", "/subscriptions", {
            "email": f"replay-{secrets.token_hex(6)}@example.org", "captcha_id": spent,
            "captcha_answer": TEST_ANSWER, "consent": True, "proof_of_work": results.spent_proofs[spent]})
        with results.lock:
            if 200 <= status < 300:
                results.replays_accepted += 1
            elif 400 <= status < 500:
                results.replays_refused += 1
        return
    status, challenge = api.call("captcha", "POST", "/captcha")
    if status != 201:
        return
    if my_addresses and rng.random() < REUSED_ADDRESS_SHARE:
        address = rng.choice(my_addresses)
    else:
        address = f"laeser-{secrets.token_hex(6)}@example.org"
        my_addresses.append(address)
    from chalicelib.captcha.work import solve

    proof = solve(challenge["proof_of_work"])
    status, _ = api.call("signup", "POST", "/subscriptions", {
        "email": address, "captcha_id": challenge["captcha_id"], "captcha_answer": TEST_ANSWER,
        "topics": [], "consent": True, "proof_of_work": proof})
    with results.lock:
        if 200 <= status < 300:
            results.accepted_addresses[address] += 1
            results.spent_captchas.append(challenge["captcha_id"])
            results.spent_proofs[challenge["captcha_id"]] = proof
        elif status != 503:
            results.errors.append(f"signup for a fresh challenge answered {status}")


def _run(port: int, threads: int, plan: Plan) -> tuple[Results, float]:
    results = Results()
    api = Api(port, results)
    deadline = time.monotonic() + plan.seconds
    started = time.perf_counter()
    pool = [threading.Thread(target=_worker, args=(api, plan, deadline, n)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=plan.seconds + 60)
    return results, time.perf_counter() - started


def _percentile(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _seed_articles() -> list[str]:
    from devtools.seed_articles import add_articles
    from editor.publishing import publish_paths

    report = publish_paths([ROOT / "content"])
    return list(report.created) + add_articles(
        SYNTHETIC_ARTICLES, categories=["erfaringer", "cases", "metoder", "udgivelser"],
        prefix="belastning", body_lines=40, tags=["belastning"])


def _check_invariants(results: Results, moto_url: str, signups: bool) -> list[str]:
    """What must hold whatever the load did; returns the violations."""
    from chalicelib.captcha.model import ChallengeItem
    from devtools import outbox

    violations: list[str] = []
    if results.replays_accepted:
        violations.append(f"{results.replays_accepted} signups replaying a spent CAPTCHA were accepted")
    spent = results.spent_captchas
    if len(spent) != len(set(spent)):
        violations.append("one CAPTCHA was accepted for two signups")
    solved = {item.captcha_id for item in ChallengeItem.scan() if item.solved_at is not None}
    if not set(spent) <= solved:
        violations.append(f"{len(set(spent) - solved)} accepted signups whose CAPTCHA is not marked used")
    if not signups:
        return violations
    from chalicelib.newsletter.models import Subscriber

    subscribers = Counter(item.email for item in Subscriber.scan())
    duplicates = [email for email, count in subscribers.items() if count > 1]
    if duplicates:
        violations.append(f"{len(duplicates)} addresses have more than one subscriber")
    missing = set(results.accepted_addresses) - set(subscribers)
    if missing:
        violations.append(f"{len(missing)} accepted addresses have no subscriber")
    mails = Counter(recipient for mail in outbox.read(moto_url) for recipient in mail.recipients)
    wrong = {address: mails[address] for address in results.accepted_addresses if mails[address] != 1}
    if wrong:
        violations.append(f"{len(wrong)} accepted addresses did not get exactly one mail: "
                          f"{list(wrong.items())[:3]}")
    strangers = set(mails) - set(results.accepted_addresses)
    if strangers:
        violations.append(f"{len(strangers)} mails to addresses no accepted signup named")
    return violations


def _summary(name: str, results: Results, seconds: float) -> tuple[int, float, dict[int, float]]:
    total = sum(sum(counter.values()) for counter in results.statuses.values())
    everything = [value for values in results.latencies.values() for value in values]
    rps = total / seconds if seconds else 0.0
    overall = {p: _percentile(everything, p) * 1000 for p in (50, 95, 99)}
    print(f"\n{name}: {total} requests in {seconds:.1f} s = {rps:.1f} req/s; "
          f"p50 {overall[50]:.1f} ms, p95 {overall[95]:.1f} ms, p99 {overall[99]:.1f} ms")
    print(f"  {'kind':15} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    for kind in sorted(results.latencies):
        values = results.latencies[kind]
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(results.statuses[kind].items()))
        print(f"  {kind:15} {len(values):6d} {_percentile(values, 50) * 1000:8.1f} "
              f"{_percentile(values, 95) * 1000:8.1f} {_percentile(values, 99) * 1000:8.1f}  {statuses}")
    return total, rps, overall


def _bench(figure: str, value: str, baseline: str, ratio: float, goal: str) -> None:
    print("BENCH " + json.dumps({"figure": figure, "value": value, "baseline": baseline,
                                 "ratio": round(ratio, 3), "goal": goal}, ensure_ascii=False))


def main(argv: list[str]) -> int:
    seconds = min(float(argv[0]) if argv else 30.0, MAX_SECONDS)
    threads = int(argv[1]) if len(argv) > 1 else 8
    state = ROOT / ".local"
    moto = stack.start_aws(state / "bench-load-moto.log")
    api_port = free_port()
    stack.use_aws(
        moto.url, API_URL=f"http://127.0.0.1:{api_port}", SITE_URL=f"http://127.0.0.1:{api_port}",
        CAPTCHA_TEST_ANSWER=TEST_ANSWER,
        # Every request comes from 127.0.0.1: the per-address limits would refuse all but the
        # first few, and this run measures the rest of the path.
        SIGNUP_IP_LIMIT_PER_HOUR="1000000", CAPTCHA_IP_LIMIT_PER_HOUR="1000000", LOG_LEVEL="WARNING",
        POW_MAX_NUMBER="1000",  # the server's check costs the same whatever the work
    )
    chalice: subprocess.Popen[bytes] | None = None
    try:
        stack.create_resources()
        slugs = _seed_articles()
        chalice = stack.start_api(api_port, state / "bench-load-chalice.log")
        warm = Api(api_port, Results())
        _, document = warm.call("warm", "GET", "/openapi.json")
        signups = "/subscriptions" in document.get("paths", {})
        for path in ("/articles", f"/articles/{slugs[0]}", "/categories"):
            warm.call("warm", "GET", path)
        warm.call("warm", "POST", "/captcha")  # loads the picture and audio code once
        mix = {kind: weight for kind, weight in MIX.items() if kind != "signup" or signups}
        print(f"load: {threads} threads against chalice local on 127.0.0.1:{api_port} "
              f"(moto server {moto.url}); signups {'included' if signups else 'not in this API yet'}")

        base_results, base_seconds = _run(api_port, threads, Plan({"raw_query": 1}, BASELINE_SECONDS,
                                                                  False, slugs))
        _, base_rps, base_latency = _summary("baseline: one DynamoDB Query straight from boto3",
                                             base_results, base_seconds)
        chalice_results, chalice_seconds = _run(api_port, threads, Plan({"categories": 1}, BASELINE_SECONDS,
                                                                        False, slugs))
        _summary("for reference: GET /categories (Chalice local, no AWS call)", chalice_results,
                 chalice_seconds)
        results, run_seconds = _run(api_port, threads, Plan(mix, seconds, signups, slugs))
        total, rps, latency = _summary("mixed traffic", results, run_seconds)
    finally:
        if chalice is not None and chalice.poll() is None:
            chalice.terminate()
            chalice.wait(timeout=10)
    try:
        violations = _check_invariants(results, moto.url, signups)
    finally:
        moto.stop()

    accepted = sum(results.accepted_addresses.values())
    print(f"\nsignups accepted: {accepted} for {len(results.accepted_addresses)} addresses; "
          f"CAPTCHA replays refused: {results.replays_refused}, accepted: {results.replays_accepted}")
    print(f"errors (5xx, connection, internals shown): {len(results.errors)}")
    for line in results.errors[:10]:
        print(f"  {line}")
    print(f"invariant violations: {len(violations)}")
    for line in violations:
        print(f"  {line}")
    reads = results.latencies["list"] + results.latencies["list_category"] + results.latencies["article"]
    read_p95 = _percentile(reads, 95) * 1000
    raw = "(one DynamoDB Query from boto3)"
    _bench("load: throughput, mixed traffic", f"{rps:.1f} req/s", f"{base_rps:.1f} req/s {raw}",
           rps / base_rps if base_rps else 0.0, ">= 0.5")
    _bench("load: p95 latency, article reads under mixed load", f"{read_p95:.1f} ms",
           f"{base_latency[95]:.1f} ms {raw}", read_p95 / base_latency[95] if base_latency[95] else 0.0,
           "<= 2")
    _bench("load: p99 latency, mixed traffic", f"{latency[99]:.1f} ms", f"{base_latency[99]:.1f} ms {raw}",
           latency[99] / base_latency[99] if base_latency[99] else 0.0, "<= 3")
    _bench("load: errors (5xx, connection, internals)", f"{len(results.errors)} of {total}", "0",
           len(results.errors) / total if total else 1.0, "== 0")
    _bench("load: invariant violations", str(len(violations)), "0", float(len(violations)), "== 0")
    return 1 if results.errors or violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
