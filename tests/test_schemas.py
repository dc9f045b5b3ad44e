"""results.json / results.jsonl of `trufor detect` and metrics.json of `trufor eval` follow the JSON Schema
files shipped in the package (trufor/schemas), and carry their schema version."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

jsonschema = pytest.importorskip("jsonschema")


def _schema(name: str) -> dict:
    return json.loads(resources.files("trufor").joinpath("schemas", name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def detect_run(tmp_path_factory, small_weights):
    from trufor.cli import main

    tmp = tmp_path_factory.mktemp("schemas")
    src = tmp / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(src / f"ok{i}.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    rc = main(["detect", str(src), "-o", str(tmp / "out"), "--weights", str(small_weights), "-q"])
    assert rc == 1  # one image failed, the others went on
    return tmp / "out"


def test_results_json_matches_its_schema(detect_run):
    doc = json.loads((detect_run / "results.json").read_text())
    jsonschema.validate(doc, _schema("results.schema.json"))
    assert doc["schema_version"] == 1 and doc["counts"] == {"ok": 3, "skipped": 0, "failed": 1}
    assert doc["read_options"] == {"max_pixels": 200_000_000, "exif_transpose": False, "allow_truncated": False}


def test_results_jsonl_lines_are_results(detect_run):
    schema = _schema("results.schema.json")
    lines = (detect_run / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4
    validator = jsonschema.Draft202012Validator({**schema["$defs"]["result"], "$defs": schema["$defs"]})
    for line in lines:
        validator.validate(json.loads(line))
    assert [json.loads(x)["status"] for x in lines].count("failed") == 1


def test_a_wrong_document_is_refused_by_the_schema(detect_run):
    doc = json.loads((detect_run / "results.json").read_text())
    doc["results"][0]["status"] = "done"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, _schema("results.schema.json"))


def test_metrics_json_matches_its_schema(tmp_path, small_weights):
    from trufor.cli import main

    root = tmp_path / "data"
    root.mkdir()
    rng = np.random.default_rng(1)
    mask = np.zeros((40, 48), np.uint8)
    mask[8:24, 10:30] = 255
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(root / f"f{i}.png")
        Image.fromarray(mask).save(root / f"f{i}_gt.png")
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(root / f"r{i}.png")
    (root / "fake.txt").write_text("f0.png,f0_gt.png\nf1.png,f1_gt.png\n")
    (root / "real.txt").write_text("r0.png\nr1.png\n")
    rc = main(["eval", "list:fake.txt,real.txt", "--root", str(root), "-o", str(tmp_path / "rep"),
               "--weights", str(small_weights), "--no-plots", "-q", "--exif-transpose"])
    assert rc == 0
    doc = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    jsonschema.validate(doc, _schema("metrics.schema.json"))
    assert doc["protocol"]["read_options"]["exif_transpose"] is True
