"""The one job runner (trufor.batch) as detect, eval, a service or a cluster use it: lazy planning, the
stages one by one, streamed reports, and read options that travel with a job (EXIF orientation: the maps,
the figure and the ground truth all follow the same pixels)."""

from __future__ import annotations

import csv
import json
import types

import numpy as np
import pytest
from PIL import Image

from trufor.batch import (Job, JobResult, ReportWriter, analyse_stage, count_images, existing_result, iter_jobs,
                          read_stage, write_stage)
from trufor.imageio import ReadOptions, apply_orientation, exif_orientation


def _rotated_jpeg(path, stored: np.ndarray, orientation: int = 6) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())


def test_planning_is_lazy_and_counts_without_jobs(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png", "sub/c.png"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src / name)
    jobs = iter_jobs([str(src)], tmp_path / "out")
    assert isinstance(jobs, types.GeneratorType)
    first = next(jobs)
    assert first.output == tmp_path / "out" / (first.relative + ".npz")
    assert count_images([str(src)]) == 3 and 1 + sum(1 for _ in jobs) == 3


def test_two_inputs_writing_one_output_are_refused_for_the_second(tmp_path):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / d / "same.png")
    jobs = list(iter_jobs([str(tmp_path / "x"), str(tmp_path / "y")], tmp_path / "out"))
    assert jobs[0].problem is None and "would also be written" in jobs[1].problem


def test_stages_one_by_one(tmp_path, small_weights):
    """What a queue worker does: read, analyse, write, then the job counts as done (resume)."""
    from trufor import load_model

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(tmp_path / "i.png")
    job = Job(tmp_path / "i.png", tmp_path / "o" / "i.png.npz", "i.png")
    assert existing_result(job) is None
    image, error = read_stage(job, ReadOptions())
    assert error is None and image.size == (36, 40)
    result, error = analyse_stage(load_model(small_weights), job, image)
    assert error is None and result.path == str(job.image)
    record = write_stage(job, result, image)
    assert record.status == "ok" and (record.height, record.width) == (36, 40)
    done = existing_result(job)
    assert done.status == "skipped" and done.score == pytest.approx(record.score)
    bad = Job(tmp_path / "missing.png", tmp_path / "o" / "missing.npz", "missing.png")
    assert read_stage(bad)[0] is None and "missing.png" in read_stage(bad)[1]


def test_report_writer_streams_and_keeps_a_short_table(tmp_path):
    writer = ReportWriter(tmp_path, {"name": "test model"}, table_rows=10)
    for i in range(100):
        status = "failed" if i % 25 == 0 else "ok"
        writer.add(JobResult(f"img{i}.png", f"img{i}.png.npz", status, None if status == "failed" else i / 100,
                             10, 12, 0.5, "broken" if status == "failed" else ""))
        if i == 49:  # the JSON Lines file is complete up to here while the run goes on
            assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 50
    csv_path, json_path = writer.close()
    rows, cut = writer.table()
    assert cut and [r.status for r in rows[:4]] == ["failed"] * 4
    assert [r.score for r in rows[4:]] == [0.99, 0.98, 0.97, 0.96, 0.95, 0.94]
    doc = json.loads(json_path.read_text())
    assert len(doc["results"]) == 100 and doc["counts"] == {"ok": 96, "skipped": 0, "failed": 4}
    with open(csv_path) as f:
        table = list(csv.DictReader(f))
    assert len(table) == 100 and table[0]["model"] == "test model"


def test_apply_orientation_matches_pil(tmp_path):
    stored = np.random.default_rng(2).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    for orientation in range(2, 9):
        path = tmp_path / f"o{orientation}.jpg"
        _rotated_jpeg(path, stored, orientation)
        assert exif_orientation(path) == orientation
        loaded = ReadOptions(exif_transpose=True).read(path)
        assert loaded.orientation == orientation
        with Image.open(path) as im:
            from PIL import ImageOps

            expected_shape = np.asarray(ImageOps.exif_transpose(im)).shape
        assert loaded.pixels.shape == expected_shape
        mask = np.zeros(stored.shape[:2], bool)
        mask[2:6, 3:12] = True
        assert apply_orientation(mask, orientation).shape == expected_shape[:2]


def test_figure_shows_the_pixels_that_were_analysed(tmp_path, small_weights):
    from trufor import load_model

    stored = np.random.default_rng(3).integers(0, 256, (40, 64, 3), dtype=np.uint8)
    _rotated_jpeg(tmp_path / "turned.jpg", stored)
    options = ReadOptions(exif_transpose=True)
    result = load_model(small_weights).analyze(options.read(tmp_path / "turned.jpg"))
    assert result.map.shape == (64, 40) and result.read_options == options
    fig = result.figure()
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape[:2] == (64, 40)


def test_eval_turns_masks_with_their_images(tmp_path):
    """A forgery marked in the stored grid, analysed with --exif-transpose: the mask follows the image."""
    from trufor.evaluation import datasets as D
    from trufor.evaluation import evaluate

    class RedIsForged:
        name = "red detector"

        def analyze(self, image, noiseprint=False):
            from trufor.results import AnalysisResult

            rgb = image.pixels.astype(np.float32)
            heat = ((rgb[..., 0] - rgb[..., 1:].mean(axis=-1)) > 60).astype(np.float32)
            return AnalysisResult(float(heat.mean()), heat, np.ones_like(heat), None)

    stored = np.full((96, 160, 3), 110, np.uint8)
    stored[10:60, 20:70] = (230, 40, 40)
    mask = np.zeros((96, 160), np.uint8)
    mask[10:60, 20:70] = 255
    _rotated_jpeg(tmp_path / "f.jpg", stored)
    Image.fromarray(mask).save(tmp_path / "f_gt.png")
    (tmp_path / "fake.txt").write_text("f.jpg,f_gt.png\n")
    ds = D.load_dataset("list:fake.txt", str(tmp_path))
    turned = evaluate(ds, RedIsForged(), tmp_path / "npz_turned", options=ReadOptions(exif_transpose=True))
    rec = turned.records[0]
    assert rec.status == "ok" and rec.metric("f1_best") > 0.95
    again = evaluate(ds, None, tmp_path / "npz_turned", options=ReadOptions(exif_transpose=True))  # cached
    assert again.records[0].cached and again.records[0].metric("f1_best") > 0.95
