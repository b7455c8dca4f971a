"""moto_server, answering one request at a time.

Why: moto 5.2.5 implements DynamoDB TransactWriteItems by deep-copying the tables, applying the
writes and restoring the copy when a condition fails. In moto's threaded server two transactions
running at once then undo each other's writes (a claim without its entry, an entry overwritten) —
something DynamoDB never does, since it serialises conflicting transactions. Running the same moto
application under one lock restores atomicity; clients still send concurrently, so concurrent
appends, lost races and retries are exercised for real.

Usage: python infra/moto_serialized.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""
import threading

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_lock = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__


def _serialized(self, environ, start_response):
    with _lock:
        # moto builds each response in full, so the body is complete before the lock is released.
        return list(_dispatch(self, environ, start_response))


DomainDispatcherApplication.__call__ = _serialized

if __name__ == "__main__":
    server.main()
