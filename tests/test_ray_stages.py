"""The Ray backend's stages, run in this process (fast; no Ray cluster): they must give a plain run's outputs.

The worker stages of ``trufor.cluster.ray_backend`` (``read_row`` on Ray tasks, ``Analyser`` in Ray actors)
are called here one row after the other, on real photos and a broken file, for local paths and for fsspec
URLs (``memory://``: the object-store code path without a server; tests/test_ray_cluster.py runs a real
cluster and a real S3 server).
"""

from __future__ import annotations

import sys
from pathlib import Path

import fsspec
import pytest

from ray_helpers import assert_same_npz, comparable, load_rows, make_photos, npz_files
from trufor import load_model
from trufor.batch import ReportWriter, iter_jobs, iter_results
from trufor.cli import main
from trufor.cluster import ray_backend as rb
from trufor.errors import TruForError
from trufor.imageio import ReadOptions


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return make_photos(tmp_path_factory.mktemp("photos") / "in", 4, (96, 64), subfolder_every=3)


@pytest.fixture(scope="module")
def model(small_weights):
    return load_model(small_weights, device="cpu")


def _plain(model, photos: Path, out: Path) -> list[dict]:
    reports = ReportWriter(out, model.describe())
    for res in iter_results(model, iter_jobs([str(photos)], out)):
        reports.add(res)
    reports.close()
    return load_rows(out)


def _staged(model, small_weights, rows, settings) -> list[dict]:
    analyser = rb.Analyser(settings, str(small_weights), "cpu", "efficient", "fp32", None, None)
    return [r.to_dict() for r in rb.iter_rows_local(rows, settings, analyser)]


def test_plan_is_iter_jobs(photos, tmp_path):
    rows = rb.plan_rows([str(photos)], str(tmp_path / "out"))
    jobs = list(iter_jobs([str(photos)], tmp_path / "out"))
    assert [(r["image"], r["output"], r["relative"]) for r in rows] == \
        [(str(j.image), str(j.output), j.relative) for j in jobs]
    assert [r["index"] for r in rows] == list(range(len(rows)))
    with pytest.raises(TruForError, match="output folder"):
        rb.plan_rows([str(photos)], str(tmp_path / "one.npz"))
    with pytest.raises(TruForError, match="no such file"):
        rb.plan_rows([str(tmp_path / "missing")], str(tmp_path / "out"))


def test_stages_give_the_plain_run(model, small_weights, photos, tmp_path):
    plain = _plain(model, photos, tmp_path / "plain")
    out = tmp_path / "staged"
    settings = rb.StageSettings()
    rows = rb.plan_rows([str(photos)], str(out))
    # a temporary file left by a worker killed while writing: removed, never taken for a result
    (out / "sub").mkdir(parents=True)
    stale = out / "sub" / ".000.jpg.npz.abcdefgh.part"
    stale.write_bytes(b"half")
    got = _staged(model, small_weights, rows, settings)
    assert not stale.exists()
    strip = lambda rs, o: comparable(rs, str(photos), str(o))  # noqa: E731
    assert strip(got, out) == strip(plain, tmp_path / "plain")
    assert [r["status"] for r in got].count("failed") == 1
    broken = next(r for r in got if r["status"] == "failed")
    assert broken["image"].endswith("broken.jpg") and "broken.jpg" in broken["message"]
    assert npz_files(out) == npz_files(tmp_path / "plain")
    assert_same_npz(out, tmp_path / "plain", npz_files(out))
    # resume: everything done is skipped, the broken file is tried again
    again = _staged(model, small_weights, rows, settings)
    assert [r["status"] for r in again] == ["skipped" if r["status"] == "ok" else r["status"] for r in got]


def test_url_paths_take_the_same_stages(model, small_weights, photos, tmp_path):
    """fsspec URLs in and out (memory://): copied to node-local files, URLs in every row and message."""
    plain = _plain(model, photos, tmp_path / "plain")
    fs = fsspec.filesystem("memory")
    for p in sorted(photos.rglob("*")):
        if p.is_file():
            fs.pipe(f"/bucket/in/{p.relative_to(photos).as_posix()}", p.read_bytes())
    fs.pipe("/bucket/in/.hidden.jpg", b"x")
    fs.pipe("/bucket/in/notes.txt", b"x")
    rows = rb.plan_rows(["memory://bucket/in"], "memory://bucket/out")
    assert [r["relative"] for r in rows] == [r["image"][len(str(photos)) + 1:] for r in plain]
    got = _staged(model, small_weights, rows, rb.StageSettings())
    assert comparable(got, "memory://bucket/in", "memory://bucket/out") == \
        comparable(plain, str(photos), str(tmp_path / "plain"))
    local = tmp_path / "fetched"
    for name in npz_files(tmp_path / "plain"):
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(fs.cat(f"/bucket/out/{name}"))
    assert_same_npz(local, tmp_path / "plain", npz_files(tmp_path / "plain"))
    again = _staged(model, small_weights, rows, rb.StageSettings())
    assert [r["status"] for r in again].count("skipped") == len(npz_files(local))


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(TruForError, match=r"pip install 'trufor\[ray\]'"):
        rb.require_ray()


def test_cli_refuses_an_output_file_before_starting_ray(photos, tmp_path, small_weights, capsys):
    code = main(["detect", str(photos), "-o", str(tmp_path / "one.npz"), "--weights", str(small_weights),
                 "--ray", "local"])
    assert code == 1
    assert "output folder" in capsys.readouterr().err


def test_read_options_travel_with_the_rows(model, small_weights, photos, tmp_path):
    settings = rb.StageSettings(read_options=ReadOptions(max_pixels=100))
    rows = rb.plan_rows([str(photos)], str(tmp_path / "out"))
    got = _staged(model, small_weights, rows, settings)
    assert {r["status"] for r in got} == {"failed"}
    assert all(r["image"] in r["message"] for r in got)


def test_relative_paths_resolve_against_the_drivers_folder(model, small_weights, photos, tmp_path, monkeypatch):
    """A Ray worker's working folder is not the driver's: relative paths are resolved against the driver's
    and reported as given, as a plain run reports them."""
    monkeypatch.chdir(photos.parent)
    rows = rb.plan_rows(["in"], "out-rel")
    settings = rb.StageSettings(cwd=str(photos.parent))
    monkeypatch.chdir(tmp_path)  # the worker's folder
    got = _staged(model, small_weights, rows, settings)
    assert [r["image"] for r in got] == [r["image"] for r in rows] and got[0]["image"].startswith("in/")
    assert all(not r["message"] or r["message"].startswith("in/") for r in got)
    assert npz_files(photos.parent / "out-rel") and not (tmp_path / "out-rel").exists()


def test_actors_read_with_the_runs_views(small_weights, photos, tmp_path):
    """``--tta`` travels to every actor: the staged outputs are those of a plain run with the same views."""
    views = load_model(small_weights, device="cpu", tta="hflip")
    plain = _plain(views, photos, tmp_path / "plain")
    out = tmp_path / "staged"
    settings = rb.StageSettings()
    analyser = rb.Analyser(settings, str(small_weights), "cpu", "efficient", "fp32", None, None, tta="hflip")
    assert analyser.name == views.name and analyser.name.endswith("[test-time views: hflip]")
    got = [r.to_dict() for r in rb.iter_rows_local(rb.plan_rows([str(photos)], str(out)), settings, analyser)]
    strip = lambda rs, o: comparable(rs, str(photos), str(o))  # noqa: E731
    assert strip(got, out) == strip(plain, tmp_path / "plain")
    assert_same_npz(out, tmp_path / "plain", npz_files(out))
