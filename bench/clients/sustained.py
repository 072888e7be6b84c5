"""bench/peers, sustained leg, Python: one process, WORKERS threads, each looping: a connection
from mssql-python's pool (on by default; `mssql_python.pooling(max_size=POOL_SIZE)`), the query,
the five rows, close (back to the pool, reset on reuse); for SECONDS after WARMUP seconds. The
token comes from azure-identity's WorkloadIdentityCredential on every connect (it caches tokens).
mssql-python's pool does not wait when all its connections are out: `connect` fails at once
("ConnectionPool::acquire: pool size limit reached"). So, as an application must, the threads
wait on a semaphore of the pool's size before they connect.

SUSTAINED_HELD=1: each thread instead connects once and runs every query on that one connection
(no pool, no token per query): ODBC Driver 18's cost per query alone, issue 15's first
comparison (with one worker: `SUSTAINED_HELD=1 python sustained.py 1 10 2 1`).
Prints one JSON line: queries, wall seconds and this process's CPU seconds in the window.

    python sustained.py WORKERS SECONDS WARMUP POOL_SIZE
"""

import json
import os
import sys
import threading
import time

import mssql_python

from workload_identity import access_token_attrs, connection_string, credential

QUERY = "SELECT customer_id FROM dbo.Customer ORDER BY customer_id"


def main():
    workers, seconds, warmup, pool_size = (int(a) for a in sys.argv[1:5])
    mssql_python.pooling(max_size=pool_size)
    cred = credential()
    conn_str = connection_string()
    counts = {"queries": 0, "errors": 0}
    lock = threading.Lock()
    stop = threading.Event()
    slots = threading.BoundedSemaphore(pool_size)

    def held():
        conn = mssql_python.connect(conn_str, attrs_before=access_token_attrs(cred), autocommit=True)
        cursor = conn.cursor()
        while not stop.is_set():
            cursor.execute(QUERY)
            ok = len(cursor.fetchall()) == 5
            with lock:
                counts["queries" if ok else "errors"] += 1
        conn.close()

    def loop():
        while not stop.is_set():
            ok = False
            slots.acquire()
            try:
                conn = mssql_python.connect(conn_str, attrs_before=access_token_attrs(cred), autocommit=True)
                try:
                    cursor = conn.cursor()
                    cursor.execute(QUERY)
                    ok = len(cursor.fetchall()) == 5
                finally:
                    conn.close()
            except Exception:  # counted, the loop goes on
                ok = False
            finally:
                slots.release()
            with lock:
                counts["queries" if ok else "errors"] += 1

    work = held if os.environ.get("SUSTAINED_HELD") == "1" else loop
    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    time.sleep(warmup)
    q0, cpu0, t0 = counts["queries"], time.process_time(), time.monotonic()
    time.sleep(seconds)
    q1, cpu1, t1 = counts["queries"], time.process_time(), time.monotonic()
    stop.set()
    for t in threads:
        t.join()
    print(json.dumps({"queries": q1 - q0, "seconds": round(t1 - t0, 3), "cpu_seconds": round(cpu1 - cpu0, 3), "errors": counts["errors"]}))


if __name__ == "__main__":
    main()
