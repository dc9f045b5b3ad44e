"""`trufor serve` as a real server on 127.0.0.1: worker killed with kill -9, restart, a bounded load test."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed (pip install -e '.[service]')")
import httpx  # noqa: E402

from service_helpers import Server, png_bytes, wait_for  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from conftest import random_weights

    return random_weights("trufor_small", tmp_path_factory.mktemp("w") / "small.safetensors")


def post(client, blob, name):
    return client.post("/api/v1/analyses", files=[("files", (name, blob, "image/png"))])


def test_worker_killed_mid_analysis_loses_nothing(tmp_path, weights):
    data = tmp_path / "data"
    with Server(data, weights, "--workers", "1", "--lease", "2",
                env={"TRUFOR_SERVICE_DEBUG_DELAY": "2.5"}) as server, httpx.Client(base_url=server.url) as client:
        aid = post(client, png_bytes(11), "victim.png").json()["analyses"][0]["id"]
        wait_for(client, aid, statuses=("running",), timeout=60)
        with sqlite3.connect(data / "trufor.db") as db:
            owner = db.execute("SELECT lease_owner FROM analyses WHERE id=?", (aid,)).fetchone()[0]
        pid = int(owner.split(":")[1])
        os.kill(pid, signal.SIGKILL)  # in the middle of the analysis (it sleeps 2.5 s before the network)
        body = wait_for(client, aid, timeout=90)
        assert body["status"] == "done", body
        assert body["attempts"] == 2
        for name in ("result.npz", "map.png", "conf.png", "overlay.png", "report.html"):
            assert client.get(f"/api/v1/analyses/{aid}/{name}").status_code == 200
        assert not list((data / "analyses").rglob("*.part"))  # no half-written file left under a final name
        assert client.get("/api/v1/healthz").json()["workers"] == 1  # the supervisor replaced the dead worker
        assert server.proc.poll() is None


def test_restarted_server_resumes_the_queue(tmp_path, weights):
    data = tmp_path / "data"
    with Server(data, weights, "--workers", "0") as server, httpx.Client(base_url=server.url) as client:
        ids = [post(client, png_bytes(20 + i), f"q{i}.png").json()["analyses"][0]["id"] for i in range(3)]
        time.sleep(0.5)
        assert all(client.get(f"/api/v1/analyses/{i}").json()["status"] == "queued" for i in ids)
    with Server(data, weights, "--workers", "1") as server, httpx.Client(base_url=server.url) as client:
        for i in ids:
            assert wait_for(client, i, timeout=90)["status"] == "done"


def test_load_50_concurrent_uploads(tmp_path, weights):
    """50 uploads at once to 127.0.0.1: every one accepted, analysed, none lost, the queue drains."""
    data = tmp_path / "data"
    n = 50
    blobs = [png_bytes(100 + i) for i in range(n)]
    with Server(data, weights, "--workers", "2") as server:
        start = time.monotonic()

        def one(i):
            with httpx.Client(base_url=server.url, timeout=60) as c:
                r = post(c, blobs[i], f"load{i}.png")
                return r.status_code, r.json()["analyses"][0]["id"] if r.status_code == 202 else r.text

        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(one, range(n)))
        accepted = time.monotonic() - start
        assert [s for s, _ in results] == [202] * n, results
        ids = {aid for _, aid in results}
        assert len(ids) == n
        with httpx.Client(base_url=server.url, timeout=30) as client:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                page = client.get("/api/v1/analyses", params={"status": "done", "limit": 1}).json()
                if page["total"] == n:
                    break
                time.sleep(0.5)
            drained = time.monotonic() - start
            listing = client.get("/api/v1/analyses", params={"limit": 500}).json()
            assert listing["total"] == n
            assert {x["id"] for x in listing["items"]} == ids
            assert all(x["status"] == "done" for x in listing["items"]), [x for x in listing["items"] if x["status"] != "done"][:3]
            metrics = client.get("/metrics").text
            assert "trufor_queue_length 0" in metrics and f'trufor_analyses{{status="done"}} {n}' in metrics
        print(f"\nload test: {n} uploads accepted in {accepted:.1f} s, all analysed in {drained:.1f} s, 0 failed")


def test_analysis_timeout_fails_the_job_and_the_service_goes_on(tmp_path, weights):
    data = tmp_path / "data"

    def running_pid(aid):  # the worker process holding the analysis's lease
        wait_for(client, aid, statuses=("running",), timeout=60)
        with sqlite3.connect(data / "trufor.db") as db:
            owner = db.execute("SELECT lease_owner FROM analyses WHERE id=?", (aid,)).fetchone()[0]
        return int(owner.split(":")[1])

    with Server(data, weights, "--workers", "1", "--analysis-timeout", "1", "--lease", "1",
                env={"TRUFOR_SERVICE_DEBUG_DELAY": "4"}) as server, httpx.Client(base_url=server.url) as client:
        aid = post(client, png_bytes(51), "slow.png").json()["analyses"][0]["id"]
        first = running_pid(aid)
        body = wait_for(client, aid, timeout=90)
        assert body["status"] == "failed" and "timed out after 1 s" in body["error"]
        again = post(client, png_bytes(51), "slow.png").json()["analyses"][0]  # the same bytes: tried again
        assert again["id"] == aid and again["existing"]
        assert client.get(f"/api/v1/analyses/{aid}").json()["status"] in ("queued", "running")
        second = running_pid(aid)
        assert second != first  # the timed-out worker ended and a fresh one took the retry
        retried = wait_for(client, aid, timeout=90)  # the delay still applies: the retry times out as well
        assert retried["status"] == "failed" and "timed out after 1 s" in retried["error"]
        # nothing left to claim: a replacement stays up. One reading per check (a check, then a second call, could
        # race the ending of a worker)
        deadline, workers = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            workers = client.get("/api/v1/healthz").json().get("workers")
            if workers == 1:
                break
            time.sleep(0.5)
        assert workers == 1  # the timed-out workers were replaced


def test_served_with_test_time_views(tmp_path, weights):
    """`trufor serve --tta hflip`: the workers read every image with the mirror view, and say so."""
    import io

    import numpy as np
    from PIL import Image

    from trufor import load_model

    blob = png_bytes(31)
    expected = load_model(weights, device="cpu", tta="hflip").analyze(np.asarray(Image.open(io.BytesIO(blob))))
    with Server(tmp_path / "data", weights, "--workers", "1", "--tta", "hflip") as server, \
            httpx.Client(base_url=server.url) as client:
        aid = post(client, blob, "views.png").json()["analyses"][0]["id"]
        body = wait_for(client, aid, timeout=90)
        assert body["status"] == "done", body
        assert body["model"]["name"].endswith("[test-time views: hflip]"), body
        assert body["score"] == pytest.approx(expected.score, abs=1e-5)
