#!/usr/bin/env python3
"""A day in the life of the ledger, against a running local stack (started by infra/local.sh).

Posts a batch of realistic signals through the ingest function URL (plus a few invalid ones and a
modification and a deletion attempt, to show them refused and audited), then runs the night's
jobs through cargo lambda watch's invoke API: backup, verify-backup, the integrity sweep (init,
incremental, full) and the compliance report of today. Prints progress, then the verdicts and
where the HTML report is. Exits non-zero if any step fails, any verdict is not PASS, or a report
object is not COMPLIANCE-locked.

Usage: day_in_the_life.py WATCH_BASE_URL REPORT_DIR   (AWS_ENDPOINT_URL etc. from the environment)
Standard library plus boto3 (installed in .venv with moto) for the lock check.
"""

import datetime
import json
import os
import random
import sys
import urllib.error
import urllib.request
from pathlib import Path

SYMBOLS = {"AAPL": 189.40, "MSFT": 415.10, "NVDA": 131.25, "AMZN": 201.80, "JPM": 238.55, "XOM": 118.30}
RATIONALES = [
    "Breakout above the 50-day moving average on {v:.1f}x average volume; sector strength confirms.",
    "Earnings revision momentum turned positive; implied volatility {v:.1f} points below realised.",
    "Mean reversion after a {v:.1f}-sigma gap down with no change in fundamentals.",
    "Relative strength versus the index at a 3-month high; funding costs eased by {v:.1f} bp.",
]


def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=900) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def invoke(base, function, payload):
    status, body = call("POST", f"{base}/2015-03-31/functions/{function}/invocations", payload)
    if status != 200 or not isinstance(body, dict) or "errorMessage" in body:
        sys.exit(f"error: {function} failed ({status}): {json.dumps(body)}")
    return body


def signal(rng, n):
    symbol = rng.choice(sorted(SYMBOLS))
    price = SYMBOLS[symbol] * (1 + rng.uniform(-0.01, 0.01))
    action = rng.choice(["BUY", "SELL"])
    sign = 1 if action == "BUY" else -1
    generated = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(milliseconds=rng.randint(5, 250))
    return {
        "signal_id": f"day-{datetime.date.today():%Y%m%d}-{n:04d}-{rng.randrange(16**6):06x}",
        "symbol": symbol,
        "action": action,
        "entry_price": f"{price:.2f}",
        "target_price": f"{price * (1 + sign * 0.06):.2f}",
        "stop_loss": f"{price * (1 - sign * 0.03):.2f}",
        "confidence": round(rng.uniform(0.55, 0.95), 2),
        "rationale": rng.choice(RATIONALES).format(v=rng.uniform(1.2, 3.5)),
        "generated_at": generated.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "producer": "day-in-the-life",
        "model": "momentum-v3",
    }


def main():
    base, report_dir = sys.argv[1], Path(sys.argv[2])
    ingest = f"{base}/lambda-url/ingest/signals"
    rng = random.Random()
    count = 120

    print(f"--- morning: producers post {count} signals")
    stored = []
    for n in range(count):
        status, body = call("POST", ingest, signal(rng, n))
        if status != 201:
            sys.exit(f"error: signal {n} was not stored ({status}): {body}")
        stored.append(body)
        if (n + 1) % 20 == 0:
            print(f"  {n + 1}/{count} stored, chain index {body['chain_index']}, latency {body['delivery_latency_ms']} ms")

    print("--- subscribers confirm delivery: receipts for the first 40 signals, two desks each")
    latencies = []
    for body in stored[:40]:
        generated = datetime.datetime.strptime(body["generated_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        for desk in ["desk-7.ws-gateway", "mobile:push-2"]:
            delivered = generated + datetime.timedelta(milliseconds=rng.randint(20, 300))
            receipt = {"subscriber": desk, "delivered_at": delivered.isoformat(timespec="milliseconds") + "Z"}
            status, answer = call("POST", f"{ingest}/{body['signal_id']}/receipts", receipt)
            if status != 201:
                sys.exit(f"error: a receipt was not recorded ({status}): {answer}")
            latencies.append(answer["client_latency_ms"])
    status, _ = call("POST", f"{ingest}/{stored[0]['signal_id']}/receipts", receipt | {"delivered_at": "2000-01-01T00:00:00Z"})
    if status != 400:
        sys.exit(f"error: a receipt delivered before its signal was generated was not refused ({status})")
    latencies.sort()
    print(f"  {len(latencies)} receipts, client delivery latency p50 {latencies[len(latencies) // 2]} ms, "
          f"max {latencies[-1]} ms; one delivered before generation: HTTP 400 (audited)")

    print("--- refused and audited: invalid signals, a modification and a deletion attempt")
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    for description, body in [
        ("empty rationale", {"symbol": "AAPL", "action": "BUY", "entry_price": "189.40", "rationale": "", "generated_at": now}),
        ("rationale too short", {"symbol": "AAPL", "action": "BUY", "entry_price": "189.40", "rationale": "Short", "generated_at": now}),
        ("unknown action", {"symbol": "AAPL", "action": "HOLD", "entry_price": "189.40", "rationale": "Holding through earnings, no edge either way.", "generated_at": now}),
    ]:
        status, answer = call("POST", ingest, body)
        fields = ", ".join(f"{e['field']} ({e['rule']})" for e in (answer or {}).get("errors", []))
        print(f"  {description}: HTTP {status} {fields}")
        if status != 400:
            sys.exit(f"error: an invalid signal was not refused with 400 ({status})")
    target = stored[3]["signal_id"]
    for method in ["PUT", "DELETE"]:
        status, _ = call(method, f"{ingest}/{target}", {"entry_price": "1.00"})
        print(f"  {method} /signals/{target}: HTTP {status} (signals are immutable; the attempt is audited)")
        if status != 405:
            sys.exit(f"error: {method} was not refused with 405 ({status})")

    print("--- 02:00 backup")
    backup = invoke(base, "backup", {})
    print(f"  backup {backup['backup_id']}: {backup['row_count']} rows -> {backup['csv_key']}")
    print("--- 02:30 verify-backup (every backup, with the restore drill)")
    verified = invoke(base, "verify-backup", {"mode": "all"})
    print(f"  passed={verified['passed']}, {verified['rows_checked']} rows, entries [0, {verified['covered_to']}) in verified backups")
    if not verified["passed"]:
        sys.exit("error: backup verification failed")
    print("--- integrity sweep: init, hourly incremental, 03:00 full")
    for mode in ["init", "incremental", "full"]:
        record = invoke(base, "integrity-sweep", {"mode": mode})
        print(f"  {mode}: {record['status']}, {record['entries_verified']} entries verified, tree size {record['tree_size']}")
    print("--- the compliance report of today")
    today = datetime.date.today().isoformat()
    outcome = invoke(base, "report", {"from": today, "to": today})

    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind in ["json", "html"]:
        with urllib.request.urlopen(outcome[kind]["download_url"], timeout=60) as response:
            path = report_dir / Path(outcome[kind]["key"]).name
            path.write_bytes(response.read())
            paths[kind] = path

    import boto3  # from .venv (moto's dependency); only for the lock check

    s3 = boto3.client("s3")
    bucket = os.environ["VAULT_BUCKET"]
    for kind in ["json", "html"]:
        head = s3.head_object(Bucket=bucket, Key=outcome[kind]["key"], VersionId=outcome[kind]["version_id"])
        lock = head.get("ObjectLockMode")
        print(f"  s3://{bucket}/{outcome[kind]['key']}: lock {lock} until {head.get('ObjectLockRetainUntilDate')}, {head.get('ServerSideEncryption')}")
        if lock != "COMPLIANCE":
            sys.exit(f"error: the {kind} report is not COMPLIANCE-locked")

    print("\nVerdicts")
    for section, verdict in outcome["verdicts"].items():
        print(f"  {section:<13} {verdict}")
    print(f"  {'overall':<13} {outcome['overall_verdict']}")
    print(f"\nThe HTML report: {paths['html'].resolve()}\nThe JSON report: {paths['json'].resolve()}")
    not_passed = [s for s, v in outcome["verdicts"].items() if v != "PASS"]
    if not_passed:
        sys.exit(f"error: not every verdict is PASS: {', '.join(not_passed)}")


if __name__ == "__main__":
    main()
