"""moto_server, answering one request at a time.

Why: moto 5.2.5 implements DynamoDB TransactWriteItems by deep-copying the tables, applying the
writes and restoring the copy when a condition fails. In moto's threaded server two transactions
running at once then undo each other's writes (a claim without its entry, an entry overwritten) —
something DynamoDB never does, since it serialises conflicting transactions. Running the same moto
application under one first-come-first-served lock restores atomicity; clients still send concurrently, so concurrent
appends, lost races and retries are exercised for real.

Usage: python infra/moto_serialized.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""
import copy
import sys
import threading
import time

import moto.dynamodb.models as _dynamodb_models
from moto import server
from moto.dynamodb.models.table import Table as _Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_dispatch = DomainDispatcherApplication.__call__


class _FifoLock:
    """One request at a time, in order of arrival. A plain threading.Lock is not fair: under a
    steady stream of requests (64 writers polling, a test seeding a table) one request could
    wait behind many later ones, past its client's attempt timeout."""

    def __init__(self):
        self._turn = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self):
        with self._turn:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._turn.wait()

    def __exit__(self, *exc):
        with self._turn:
            self._serving += 1
            self._turn.notify_all()


class _OneCopyPerTable:
    """moto's `copy` module as its DynamoDB backend sees it, except that a table is deep-copied
    at most once per request. Its TransactWriteItems copies each action's table before applying
    any action, once per action, and keeps only the last copy of each table: 100 actions on one
    table made 100 identical copies, each O(table). One copy per table is the same snapshot (no
    action has run yet when the copies are taken), so the rollback is unchanged; a transaction
    then costs O(table) instead of O(actions × table). Safe because requests run one at a time
    and the cache is cleared when each starts."""

    def __init__(self):
        self._copies = {}

    def clear(self):
        self._copies.clear()

    def deepcopy(self, value, memo=None):
        if not isinstance(value, _Table):
            return copy.deepcopy(value, memo)
        if id(value) not in self._copies:
            # The original is kept alongside, so its id cannot be reused within the request.
            self._copies[id(value)] = (value, copy.deepcopy(value, memo))
        return self._copies[id(value)][1]

    def __getattr__(self, name):
        return getattr(copy, name)


_copies = _OneCopyPerTable()
_dynamodb_models.copy = _copies
_lock = _FifoLock()
# A request that waited or ran longer than this is logged (to stderr, the moto log): the slow
# operations the test suite's timeouts depend on.
_SLOW_SECONDS = 1.0


def _serialized(self, environ, start_response):
    arrived = time.monotonic()
    with _lock:
        _copies.clear()
        started = time.monotonic()
        # moto builds each response in full, so the body is complete before the lock is released.
        body = list(_dispatch(self, environ, start_response))
    done = time.monotonic()
    if done - arrived > _SLOW_SECONDS:
        what = environ.get("HTTP_X_AMZ_TARGET") or (
            environ.get("REQUEST_METHOD", "?") + " " + environ.get("PATH_INFO", "?")
        )
        print(
            f"slow request: {what}: waited {started - arrived:.2f} s, ran {done - started:.2f} s",
            file=sys.stderr,
            flush=True,
        )
    return body


DomainDispatcherApplication.__call__ = _serialized

if __name__ == "__main__":
    server.main()
