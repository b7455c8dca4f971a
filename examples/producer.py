#!/usr/bin/env python3
"""An example signal producer for the ingest function URL, in Python.

Signs each request with botocore's SigV4Auth (service "lambda"), credentials from botocore's
default chain (environment, profile, web identity, container or instance role), and sends it with
the standard library (urllib). Every signal carries a signal_id (a UUID is added when absent), and
every retry reuses it, so the ledger stores it at most once: a retry of a signal that an earlier,
timed-out attempt did store is answered 200 with the original entry. 429, 500, 502, 503, 504,
timeouts and connection errors are retried, bounded; Retry-After (seconds) is honoured, capped.
A 4xx refusal is printed and not retried: retrying cannot fix it.

Usage:
  producer.py --url FUNCTION_URL [SIGNAL.json]     post a signal (a file, or stdin); prints the entry
  producer.py sign-vector VECTOR.json               print the headers signing the vector's request

Exit status: 0 stored (201) or already stored (200), 1 refused, 2 not stored after every retry.
Needs botocore (pip install botocore; it comes with boto3).
"""

import argparse
import datetime
import json
import random
import sys
import time
import urllib.error
import urllib.request
import uuid
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import get_session

SERVICE = "lambda"
RETRYABLE = {429, 500, 502, 503, 504}


def sign(method, url, headers, body, credentials, region, when=None):
    """The headers SigV4 adds to the request (x-amz-date, authorization, x-amz-security-token).

    `when` pins the signing time (for the known-answer vector); by default it is now.
    """
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    auth = SigV4Auth(credentials, SERVICE, region)
    if when is None:
        auth.add_auth(request)
    else:
        utc = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        with mock.patch("botocore.auth.get_current_datetime", return_value=utc):
            auth.add_auth(request)
    return {name.lower(): request.headers[name]
            for name in ("X-Amz-Date", "Authorization", "X-Amz-Security-Token") if name in request.headers}


class Producer:
    def __init__(self, function_url, region=None, attempts=6, timeout=10.0, max_retry_after=30.0):
        self.base = function_url.rstrip("/")
        session = get_session()
        self.credentials = session.get_credentials()
        if self.credentials is None:
            raise SystemExit("error: no AWS credentials found (environment, profile or role)")
        self.region = region or session.get_config_variable("region")
        if not self.region:
            raise SystemExit("error: no AWS region configured (set AWS_REGION or a profile's region)")
        self.attempts, self.timeout, self.max_retry_after = attempts, timeout, max_retry_after

    def submit(self, signal):
        """Returns (status, entry, attempts); raises Refused or GaveUp."""
        signal = dict(signal)
        if not isinstance(signal.get("signal_id"), str):
            signal["signal_id"] = str(uuid.uuid7() if hasattr(uuid, "uuid7") else uuid.uuid4())
        body = json.dumps(signal).encode()
        url = f"{self.base}/signals"
        last = None
        for attempt in range(1, self.attempts + 1):
            frozen = self.credentials.get_frozen_credentials()  # refreshed when temporary ones expire
            headers = {"content-type": "application/json"}
            headers.update(sign("POST", url, headers, body, frozen, self.region))
            request = urllib.request.Request(url, data=body, method="POST", headers=headers)
            retry_after = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, json.loads(response.read()), attempt
            except urllib.error.HTTPError as error:
                payload = error.read()
                try:
                    payload = json.loads(payload)
                except ValueError:
                    payload = payload.decode("utf-8", "replace")
                if error.code not in RETRYABLE:
                    raise Refused(error.code, payload) from None
                last = f"HTTP {error.code}: {json.dumps(payload)}"
                header = (error.headers.get("Retry-After") or "").strip()
                retry_after = float(header) if header.isdigit() else None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                # Stored or not, the same signal_id makes the retry safe.
                last = f"{type(error).__name__}: {error}"
            if attempt < self.attempts:
                time.sleep(self.delay(attempt, retry_after))
        raise GaveUp(self.attempts, last)

    def delay(self, retry, retry_after):
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return random.uniform(0, min(5.0, 0.2 * 2**retry))


class Refused(Exception):
    def __init__(self, status, problem):
        super().__init__(f"refused with HTTP {status}: {json.dumps(problem)}")
        self.status, self.problem = status, problem


class GaveUp(Exception):
    def __init__(self, attempts, last):
        super().__init__(f"not stored after {attempts} attempts; last: {last}")


def sign_vector(path):
    with open(path, encoding="utf-8") as file:
        v = json.load(file)
    credentials = Credentials(v["access_key_id"], v["secret_access_key"], v.get("session_token"))
    when = datetime.datetime.fromisoformat(v["time"].replace("Z", "+00:00"))
    return sign(v["method"], v["url"], v["headers"], v["body"].encode(), credentials, v["region"], when)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "sign-vector":
        print(json.dumps(sorted(sign_vector(sys.argv[2]).items())))
        return 0
    parser = argparse.ArgumentParser(description="Post a signal to the ingest function URL, SigV4-signed.")
    parser.add_argument("--url", required=True, help="the function URL, e.g. https://<id>.lambda-url.<region>.on.aws")
    parser.add_argument("--region", help="defaults to the configured region (AWS_REGION, profile)")
    parser.add_argument("--attempts", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per attempt")
    parser.add_argument("signal", nargs="?", help="a JSON file with the signal (default: stdin)")
    args = parser.parse_args()
    text = open(args.signal, encoding="utf-8").read() if args.signal else sys.stdin.read()
    producer = Producer(args.url, args.region, args.attempts, args.timeout)
    try:
        status, entry, attempts = producer.submit(json.loads(text))
    except Refused as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except GaveUp as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    what = "stored" if status == 201 else "already stored"
    print(f"{what} (HTTP {status}, {attempts} attempt(s)): {entry['signal_id']} at chain index {entry['chain_index']}",
          file=sys.stderr)
    print(json.dumps(entry, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
