"""``trufor detect --ray``: real Ray clusters and a real S3 server on this machine (slow: ``-m slow``).

* ``--ray local`` equals a plain run, bit for bit (actors run torch with the plain run's thread count),
  with a broken file in the batch; a rerun skips what is done.
* a two-node cluster (``ray start --head`` and a second ``ray start`` process with its own resource): both
  nodes analyse images and the outputs equal a plain run; an actor process killed with SIGKILL in the middle
  of a run has its images analysed again, with no duplicate row and no half-written file.
* ``s3://`` input and output against moto's S3 server on 127.0.0.1.

Every Ray process started here is stopped by the fixtures (the ``ray start --block`` processes are
terminated by their PID, which stops their nodes). Clusters use one CPU per node.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ray_helpers import (assert_same_npz, comparable, load_rows, make_photos, no_part_files, npz_files,
                         require_ray_module)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
N_PHOTOS = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    """This environment, with the package's source first on the path of every Ray worker."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


def _ray_bin() -> str:
    return str(Path(PYTHON).with_name("ray"))


def _trufor(*args, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "trufor", "detect", *map(str, args), "-q"], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    require_ray_module()
    return make_photos(tmp_path_factory.mktemp("ray") / "in", N_PHOTOS, subfolder_every=5)


@pytest.fixture(scope="module")
def plain(photos, small_weights, tmp_path_factory) -> Path:
    """A plain ``trufor detect`` run with one torch thread (as each actor of the tests)."""
    out = tmp_path_factory.mktemp("plain") / "out"
    res = _trufor(photos, "-o", out, "--weights", small_weights, env=_env(OMP_NUM_THREADS="1"))
    assert res.returncode == 1, res.stderr  # the broken file
    return out


def _assert_equals_plain(out: Path, photos: Path, plain: Path, out_root: str | None = None) -> list[dict]:
    rows = load_rows(out)
    assert comparable(rows, str(photos), out_root or str(out)) == comparable(load_rows(plain), str(photos), str(plain))
    assert npz_files(out) == npz_files(plain)
    assert_same_npz(out, plain, npz_files(plain))
    assert not no_part_files(out)
    return rows


def test_ray_local_equals_plain_and_resumes(photos, plain, small_weights, tmp_path):
    out = tmp_path / "out"
    token = secrets.token_hex(32)  # Ray's token authentication, without writing ~/.ray
    env = _env(RAY_AUTH_TOKEN=token, RAY_AUTH_MODE="token", RAY_ADDRESS="")
    res = _trufor(photos, "-o", out, "--weights", small_weights, "--ray", "local", "--ray-threads", "1", env=env)
    assert res.returncode == 1, res.stderr
    assert "broken.jpg" in res.stderr
    rows = _assert_equals_plain(out, photos, plain)
    assert [r["status"] for r in rows].count("failed") == 1
    import pyarrow.parquet as pq

    table = pq.read_table(out / "results.parquet").to_pylist()
    assert [t["path"] for t in table] == [r["image"] for r in rows]
    assert [t["status"] for t in table] == [r["status"] for r in rows]
    assert {"score", "height", "width", "model", "seconds", "error"} <= set(table[0])
    assert next(t for t in table if t["status"] == "failed")["error"].startswith(str(photos / "broken.jpg"))
    # a rerun skips what is done
    res = _trufor(photos, "-o", out, "--weights", small_weights, "--ray", "local", "--ray-threads", "1", env=env)
    again = load_rows(out)
    assert [r["status"] for r in again] == ["skipped" if r["status"] == "ok" else "failed" for r in rows]


# ------------------------------------------------------------------------------- two-node cluster
class Cluster:
    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.marker = uuid.uuid4().hex  # in the environment of every process of this cluster
        self.env = _env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), TRUFOR_TEST_CLUSTER=self.marker)
        self.logs = root
        self.procs: list[subprocess.Popen] = []
        common = ["--block", "--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
                  "--object-store-memory=300000000"]
        self._start(["start", "--head", f"--port={self.port}", "--include-dashboard=false", *common], "head")
        self._wait_nodes(1)
        self._start(["start", f"--address={self.address}", '--resources={"second_node": 1}', *common], "second")
        self._wait_nodes(2)

    def _start(self, args: list[str], name: str) -> None:
        log = open(self.logs / f"{name}.log", "w")
        self.procs.append(subprocess.Popen([_ray_bin(), *args], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True))

    def _wait_nodes(self, n: int, timeout: float = 120) -> None:
        probe = ("import ray; ray.init(address='auto', logging_level='ERROR'); "
                 "print(sum(1 for x in ray.nodes() if x['Alive']))")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                break
            res = subprocess.run([PYTHON, "-c", probe], env=dict(self.env, RAY_ADDRESS=self.address),
                                 capture_output=True, text=True, timeout=120)
            if res.returncode == 0 and res.stdout.strip().splitlines()[-1:] == [str(n)]:
                return
            time.sleep(2)
        self.stop()
        logs = "\n".join((self.logs / f).read_text()[-2000:] for f in ("head.log", "second.log") if (self.logs / f).exists())
        pytest.fail(f"the Ray test cluster did not reach {n} nodes:\n{logs}")

    def actor_pids(self, title: str = "ray::MapWorker(Map(Analyser))") -> list[int]:
        """PIDs of this cluster's model actors (their process title, and this cluster's marker)."""
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if not (proc / "cmdline").read_bytes().startswith(title.encode()):
                    continue
                if f"TRUFOR_TEST_CLUSTER={self.marker}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                    pids.append(int(proc.name))
            except OSError:
                continue
        return pids

    def stop(self) -> None:
        for p in reversed(self.procs):  # the second node first; `ray start --block` stops its node on SIGTERM
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, photos):
    if not sys.platform.startswith("linux"):
        pytest.skip("the two-node test cluster runs on Linux")
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.stop()


def test_two_node_cluster_equals_plain(cluster, photos, plain, small_weights, tmp_path):
    out = tmp_path / "out"
    res = _trufor(photos, "-o", out, "--weights", small_weights, "--ray", "auto",
                  env=dict(cluster.env, RAY_ADDRESS=cluster.address))
    assert res.returncode == 1, res.stderr
    _assert_equals_plain(out, photos, plain)
    import pyarrow.parquet as pq

    nodes = {t["node"] for t in pq.read_table(out / "results.parquet").to_pylist() if t["status"] == "ok"}
    assert len(nodes) == 2, f"only {nodes} did work"


def test_killed_actor_is_retried(cluster, photos, plain, small_weights, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([PYTHON, "-m", "trufor", "detect", str(photos), "-o", str(out), "-q", "--weights",
                             str(small_weights), "--ray", "auto"], env=dict(cluster.env, RAY_ADDRESS=cluster.address),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed, done_at_kill = None, 0
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:  # kill an actor once it has written a result
            pids = cluster.actor_pids()
            done_at_kill = len(npz_files(out)) if out.exists() else 0
            if pids and done_at_kill:
                killed = pids[0]
                os.kill(killed, signal.SIGKILL)
                break
            time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed is not None, "the run ended before an actor could be killed"
    assert done_at_kill < N_PHOTOS, "the actor was killed after the last image"
    assert proc.returncode == 1, stderr
    rows = _assert_equals_plain(out, photos, plain)
    assert len({r["image"] for r in rows}) == len(rows) == N_PHOTOS + 1  # no duplicate rows
    assert killed not in cluster.actor_pids()


# ------------------------------------------------------------------------------------------- S3
@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    require_ray_module()
    pytest.importorskip("moto") if not os.environ.get("CI") else __import__("moto")
    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")
    proc = subprocess.Popen([PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield env
    proc.terminate()
    proc.wait(timeout=30)


def test_s3_input_and_output(s3_server, photos, plain, small_weights, tmp_path, monkeypatch):
    import s3fs

    for k, v in s3_server.items():
        monkeypatch.setenv(k, v)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server["AWS_ENDPOINT_URL"]})
    fs.mkdir("trufor-test")
    fs.put(str(photos) + "/", "trufor-test/in/", recursive=True)
    env = _env(RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_AUTH_MODE="token", RAY_ADDRESS="", **s3_server)
    res = _trufor("s3://trufor-test/in", "-o", "s3://trufor-test/out", "--weights", small_weights, "--ray", "local",
                  "--ray-threads", "1", env=env)
    assert res.returncode == 1, res.stderr
    local = tmp_path / "fetched"
    fs.get("trufor-test/out/", str(local) + "/", recursive=True)
    rows = load_rows(local)
    assert comparable(rows, "s3://trufor-test/in", "s3://trufor-test/out") == \
        comparable(load_rows(plain), str(photos), str(plain))
    assert npz_files(local) == npz_files(plain)
    assert_same_npz(local, plain, npz_files(plain))
    assert (local / "results.parquet").is_file() and (local / "results.json").is_file()
    # a rerun skips what is done in the bucket
    res = _trufor("s3://trufor-test/in", "-o", "s3://trufor-test/out", "--weights", small_weights, "--ray", "local",
                  "--ray-threads", "1", env=env)
    again = json.loads(fs.cat("trufor-test/out/results.json"))["results"]
    assert [r["status"] for r in again] == ["skipped" if r["status"] == "ok" else "failed" for r in rows]
    shutil.rmtree(local)
