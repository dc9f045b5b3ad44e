"""The service's store and queue on a real PostgreSQL server (``TRUFOR_TEST_POSTGRES_URL``).

.ci/run installs and starts PostgreSQL and exports the variable; locally these tests skip without it
(they drop and recreate the ``analyses`` table of that database: give them a database of their own).
"""

from __future__ import annotations

import os
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed (pip install -e '.[service]')")
pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[service]')")

URL = os.environ.get("TRUFOR_TEST_POSTGRES_URL")
if not URL:
    if os.environ.get("CI"):
        pytest.fail("TRUFOR_TEST_POSTGRES_URL is not set in CI (.ci/run starts PostgreSQL and exports it)",
                    pytrace=False)
    pytestmark = pytest.mark.skip(reason="TRUFOR_TEST_POSTGRES_URL is not set (e.g. postgresql://trufor:trufor@"
                                         "127.0.0.1/trufor_test; .ci/run starts such a server)")

from service_helpers import Server, png_bytes, wait_for  # noqa: E402
from trufor.service.store import Store, metadata  # noqa: E402


@pytest.fixture
def store():
    s = Store(URL)
    metadata.drop_all(s.engine)
    s.create()
    yield s
    s.dispose()


def add(store, key):
    return store.add(dedup_key=key, sha256="s" * 64, filename=f"{key}.png", size_bytes=1, model_name="m",
                     model_licence="l", read_options={})[0]


def test_each_row_is_claimed_exactly_once_by_concurrent_workers(store):
    ids = {add(store, f"k{i}") for i in range(30)}
    assert add(store, "k3") in ids  # the same key is the same analysis
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(name):
        own = Store(URL)
        while (c := own.claim(name, lease=30)) is not None:
            with lock:
                claimed.append(c.id)
            assert own.finish(c.id, name, score=0.1, height=1, width=1, seconds=0.01, warnings=[], summary={},
                              model_name="m", model_licence="l")
        own.dispose()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(ids)  # none twice, none lost
    assert store.counts()["done"] == 30
    buckets, total, count = store.seconds_histogram()
    assert count == 30 and buckets[0][1] == 30


def test_expired_lease_is_taken_again(store):
    a = add(store, "lease")
    assert store.claim("w1", lease=0.2).id == a
    assert store.claim("w2", lease=0.2) is None
    time.sleep(0.35)
    again = store.claim("w2", lease=10)
    assert again.id == a and again.attempts == 2
    assert not store.heartbeat(a, "w1", lease=10) and store.heartbeat(a, "w2", lease=10)
    rows, total = store.list(status="running")
    assert total == 1 and rows[0]["lease_owner"] == "w2"


def test_server_on_postgresql(tmp_path, store):
    from conftest import random_weights

    weights = random_weights("trufor_small", tmp_path / "small.safetensors")
    import httpx

    with Server(tmp_path / "data", weights, "--workers", "1", "--database", URL) as server, \
            httpx.Client(base_url=server.url) as client:
        r = client.post("/api/v1/analyses", files=[("files", (f"p{i}.png", png_bytes(300 + i), "image/png"))
                                                   for i in range(3)])
        assert r.status_code == 202
        for item in r.json()["analyses"]:
            assert wait_for(client, item["id"], timeout=90)["status"] == "done"
        assert not (tmp_path / "data" / "trufor.db").exists()  # the queue lives in PostgreSQL
    assert store.counts()["done"] == 3
