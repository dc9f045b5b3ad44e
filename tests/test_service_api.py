"""The REST API of `trufor serve` in-process (FastAPI test client), with the worker run in the test thread."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed (pip install -e '.[service]')")

from fastapi.testclient import TestClient  # noqa: E402

from service_helpers import bomb_png, png_bytes  # noqa: E402
from trufor.service.app import create_app, purge_older  # noqa: E402
from trufor.service.config import ServiceConfig, is_loopback  # noqa: E402
from trufor.service.files import ARTIFACTS, DataDir  # noqa: E402
from trufor.service.store import Store  # noqa: E402
from trufor.service.worker import WorkerSettings, process, worker_owner  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from conftest import random_weights
    from trufor import load_model

    path = random_weights("trufor_small", tmp_path_factory.mktemp("w") / "small.safetensors")
    return load_model(path, device="cpu")


def make(tmp_path, model, **kw):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    config = ServiceConfig(data_dir=data, database_url=DataDir(data).database_url(), model_info=model.describe(),
                           read_options={"max_pixels": 200_000_000}, **kw)
    store = Store(config.database_url).create()
    app = create_app(config, store=store)
    return TestClient(app), store, DataDir(data)


def drain(store, data, model, lease=30.0):
    """Run the queue to empty in this thread (what a worker process does)."""
    settings = WorkerSettings(database_url=store.url, data_dir=str(data.root), lease=lease)
    owner = worker_owner()
    n = 0
    while (claim := store.claim(owner, lease=lease)) is not None:
        process(store, data, model, claim, settings)
        n += 1
    return n


def upload(client, *blobs, names=None, headers=None):
    names = names or [f"img{i}.png" for i in range(len(blobs))]
    files = [("files", (n, b, "image/png")) for n, b in zip(names, blobs)]
    return client.post("/api/v1/analyses", files=files, headers=headers or {})


def test_upload_analyse_and_every_file(tmp_path, model):
    client, store, data = make(tmp_path, model)
    r = upload(client, png_bytes(1), names=["../../etc/passwd photo.png"])
    assert r.status_code == 202, r.text
    item = r.json()["analyses"][0]
    assert item["status"] == "queued" and not item["existing"]
    assert item["filename"] == "passwd photo.png"  # display name only: the last component
    aid = item["id"]
    assert client.get(f"/api/v1/analyses/{aid}/map.png").status_code == 409  # not done yet
    assert drain(store, data, model) == 1
    body = client.get(f"/api/v1/analyses/{aid}").json()
    assert body["status"] == "done" and body["error"] is None
    assert 0.0 <= body["score"] <= 1.0 and body["verdict"]
    assert body["image_size"] == {"height": 64, "width": 64}
    assert body["model"]["name"] == model.name and body["model"]["licence"] == "test only"
    assert body["timings"]["analysis_seconds"] > 0 and body["timings"]["total_seconds"] >= 0
    assert "confidence" in body["explanation"]
    for name in ARTIFACTS:
        got = client.get(f"/api/v1/analyses/{aid}/{name}")
        assert got.status_code == 200, (name, got.text)
        assert got.headers["content-security-policy"]
        assert got.headers["x-content-type-options"] == "nosniff"
    npz = data.path(aid, "result.npz")
    from trufor.results import AnalysisResult

    res = AnalysisResult.from_npz(npz)
    assert res.map.shape == (64, 64) and res.conf.shape == (64, 64) and abs(res.score - body["score"]) < 1e-9
    with np.load(npz) as z:
        assert sorted(z.files) == ["conf", "imgsize", "map", "score"]
    html = client.get(f"/api/v1/analyses/{aid}/report.html")
    assert "data:image/png;base64," in html.text and "<script" not in html.text and "passwd photo.png" in html.text
    assert "script-src" not in html.headers["content-security-policy"]
    rep = client.get(f"/api/v1/analyses/{aid}/report.json").json()
    assert rep["schema"] == "trufor/service-report" and rep["score"] == body["score"]
    from PIL import Image

    with Image.open(data.path(aid, "map.png")) as im:
        assert im.mode == "RGBA" and im.size == (64, 64)
    prov = rep["provenance"]  # a PNG: file facts, no EXIF, no JPEG coding; the display name, not the path
    assert prov["file"]["format"] == "PNG" and prov["file"]["sha256"] == body["sha256"]
    assert prov["file"]["name"] == "passwd photo.png" and prov["jpeg"] is None
    assert str(data.root) not in html.text and str(data.root) not in str(rep)

    # A JPEG with EXIF Make/Model: its provenance (camera, JPEG quality) rides in report.json and report.html
    import io

    exif = Image.Exif()
    exif[0x010F] = "TestMaker"
    exif[0x0110] = "Model Z9"
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(
        buf, format="JPEG", quality=85, exif=exif.tobytes())
    r = client.post("/api/v1/analyses", files=[("files", ("camera.jpg", buf.getvalue(), "image/jpeg"))])
    assert r.status_code == 202, r.text
    jid = r.json()["analyses"][0]["id"]
    assert drain(store, data, model) == 1
    assert client.get(f"/api/v1/analyses/{jid}").json()["status"] == "done"
    assert data.path(jid, "provenance.json").is_file()
    prov = client.get(f"/api/v1/analyses/{jid}/report.json").json()["provenance"]
    assert prov["exif"]["make"] == "TestMaker" and prov["exif"]["model"] == "Model Z9"
    assert "model z9" in prov["exif"]["camera"].lower()
    assert prov["file"]["format"] == "JPEG" and prov["jpeg"]["quality"]["quality"] == 85
    assert prov["jpeg"]["quality"]["standard"] and prov["summary"].startswith(prov["exif"]["camera"])
    page = client.get(f"/api/v1/analyses/{jid}/report.html").text
    assert "Provenance" in page and prov["exif"]["camera"] in page and "quality ~85" in page and "<script" not in page


def test_same_bytes_same_analysis_and_several_files(tmp_path, model):
    client, store, data = make(tmp_path, model)
    a, b = png_bytes(2), png_bytes(3)
    first = upload(client, a).json()["analyses"][0]
    again = upload(client, a).json()["analyses"][0]
    assert again["id"] == first["id"] and again["existing"]
    both = upload(client, b, a, names=["b.png", "a.png"]).json()["analyses"]
    assert [x["filename"] for x in both] == ["b.png", "a.png"]
    assert both[1]["id"] == first["id"] and not both[0]["existing"]
    drain(store, data, model)
    page = client.get("/api/v1/analyses", params={"limit": 1}).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    assert client.get("/api/v1/analyses", params={"status": "done"}).json()["total"] == 2
    assert client.get("/api/v1/analyses", params={"status": "queued"}).json()["total"] == 0
    assert client.get("/api/v1/analyses", params={"status": "bogus"}).status_code == 422


def test_bad_uploads_are_refused_and_service_goes_on(tmp_path, model):
    client, store, data = make(tmp_path, model, max_upload_bytes=200_000)
    good = png_bytes(4)
    cases = {
        "text": (b"hello, this is not an image\n" * 10, 415),
        "truncated": (good[: len(good) // 2], 422),
        "bomb": (bomb_png(), 413),
        "huge": (b"\xff\xd8\xff" + b"\0" * 300_000, 413),
        "empty": (b"", 422),
    }
    for label, (blob, status) in cases.items():
        r = upload(client, blob, names=[f"{label}.png"])
        assert r.status_code == status, (label, r.status_code, r.text)
        detail = r.json()["detail"]
        assert isinstance(detail, str) and f"{label}.png" in detail, (label, detail)
        assert str(data.root) not in detail  # no server path leaks
    # a bad file among good ones: nothing is queued
    r = upload(client, good, b"not an image at all", names=["ok.png", "bad.txt"])
    assert r.status_code == 415 and "bad.txt" in r.json()["detail"]
    assert client.get("/api/v1/analyses").json()["total"] == 0
    assert not any((data.root / "analyses").rglob("upload"))
    # a request declaring more bytes than allowed is refused before its body is read
    r = client.post("/api/v1/analyses", content=b"x", headers={"content-length": str(10**12),
                                                               "content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413
    r = upload(client, good)
    assert r.status_code == 202
    drain(store, data, model)
    assert client.get(f"/api/v1/analyses/{r.json()['analyses'][0]['id']}").json()["status"] == "done"
    metrics = client.get("/metrics").text
    assert 'trufor_uploads_rejected_total{code="415"} 2' in metrics


def test_pixel_cap_of_the_read_options(tmp_path, model):
    client, store, data = make(tmp_path, model)
    client.app.state.config.read_options["max_pixels"] = 1000
    r = upload(client, png_bytes(5))
    assert r.status_code == 413 and "decompression-bomb guard" in r.json()["detail"]


def test_delete_and_traversal(tmp_path, model):
    client, store, data = make(tmp_path, model)
    aid = upload(client, png_bytes(6)).json()["analyses"][0]["id"]
    drain(store, data, model)
    folder = data.folder(aid)
    assert folder.is_dir()
    for bad in (f"/api/v1/analyses/{aid}/upload", f"/api/v1/analyses/{aid}/..%2F..%2Ftrufor.db",
                f"/api/v1/analyses/{aid}/%2e%2e", "/api/v1/analyses/..%2F..%2Fetc/map.png",
                "/api/v1/analyses/" + "A" * 32, "/static/..%2F..%2Fservice%2Fapp.py"):
        assert client.get(bad).status_code in (404, 405), bad
    assert client.delete(f"/api/v1/analyses/{aid}").status_code == 204
    assert not folder.exists()
    assert client.get(f"/api/v1/analyses/{aid}").status_code == 404
    assert client.delete(f"/api/v1/analyses/{aid}").status_code == 404


def test_token_required_when_set(tmp_path, model):
    client, store, data = make(tmp_path, model, token="s3cret")
    assert client.get("/api/v1/analyses").status_code == 401
    assert client.get("/api/v1/analyses", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/metrics").status_code == 401
    auth = {"Authorization": "Bearer s3cret"}
    assert client.get("/api/v1/analyses", headers=auth).status_code == 200
    assert upload(client, png_bytes(7)).status_code == 401
    assert upload(client, png_bytes(7), headers=auth).status_code == 202
    assert client.get("/api/v1/healthz").status_code == 200  # open: a load balancer's probe
    assert client.get("/").status_code == 200  # the page itself holds no data
    assert client.get("/api/v1/info").status_code == 401


def test_health_metrics_docs_and_page(tmp_path, model):
    client, store, data = make(tmp_path, model)
    upload(client, png_bytes(8))
    assert client.get("/api/v1/healthz").json()["status"] == "ok"
    text = client.get("/metrics").text
    assert "trufor_queue_length 1" in text and 'trufor_analyses{status="queued"} 1' in text
    drain(store, data, model)
    text = client.get("/metrics").text
    assert "trufor_queue_length 0" in text and "trufor_analysis_seconds_count 1" in text
    assert 'trufor_analysis_seconds_bucket{le="+Inf"} 1' in text
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/analyses" in spec["paths"] and "/api/v1/analyses/{analysis_id}/{name}" in spec["paths"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "access-control-allow-origin" not in {k.lower() for k in page.headers}  # CORS off


def test_store_leases(tmp_path):
    store2 = Store(f"sqlite:///{tmp_path / 'q2.db'}").create()
    a, _ = store2.add(dedup_key="k", sha256="s", filename="f", size_bytes=1, model_name="m", model_licence="l",
                      read_options={})
    first = store2.claim("w1", lease=0.2)
    assert first.id == a and first.attempts == 1
    assert store2.claim("w2", lease=0.2) is None  # leased
    time.sleep(0.3)
    second = store2.claim("w2", lease=5)  # the lease expired: taken again
    assert second.id == a and second.attempts == 2
    assert not store2.heartbeat(a, "w1", lease=5)  # the first owner has lost it
    assert not store2.finish(a, "w1", score=0.5, height=1, width=1, seconds=0.1, warnings=[], summary={},
                             model_name="m", model_licence="l")
    assert store2.finish(a, "w2", score=0.5, height=1, width=1, seconds=0.1, warnings=[], summary={},
                         model_name="m", model_licence="l")
    assert store2.get(a)["status"] == "done"
    b, _ = store2.add(dedup_key="k2", sha256="s", filename="f", size_bytes=1, model_name="m", model_licence="l",
                      read_options={})
    for _ in range(2):
        assert store2.claim("w", lease=0.05, max_attempts=2) is not None
        time.sleep(0.1)
    assert store2.claim("w", lease=0.05, max_attempts=2) is None
    row = store2.get(b)
    assert row["status"] == "failed" and "stopped 2 times" in row["error"]


def test_retention_purges_old_analyses(tmp_path, model):
    client, store, data = make(tmp_path, model)
    aid = upload(client, png_bytes(9)).json()["analyses"][0]["id"]
    drain(store, data, model)
    assert purge_older(store, data, 1.0) == 0
    with store.engine.begin() as conn:
        from sqlalchemy import update

        from trufor.service.store import analyses

        conn.execute(update(analyses).values(created_at=time.time() - 3 * 86400))
    assert purge_older(store, data, 1.0) == 1
    assert store.get(aid) is None and not data.folder(aid).exists()


def test_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


def test_serve_refuses_a_network_address_without_token(tmp_path, monkeypatch, capsys):
    from trufor.cli import main

    monkeypatch.delenv("TRUFOR_SERVE_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "d")]) == 1
    assert "token" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()  # refused before anything was created
