"""Chain of custody in every results.json, and `trufor detect --provenance` (results, summary column, the
figure's line), through the one job runner; the stages alone."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from trufor.batch import Job, ReportWriter, inspect_stage


def _images(folder):
    folder.mkdir()
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "Canon EOS 5D", "Adobe Photoshop 7.0"
    im.save(folder / "edited.jpg", quality=75, exif=exif.tobytes())
    im.save(folder / "plain.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_weights):
    from trufor.cli import main

    tmp = tmp_path_factory.mktemp("custody")
    src = _images(tmp / "in")
    assert main(["detect", str(src), "-o", str(tmp / "plain"), "--weights", str(small_weights), "-q"]) == 1
    assert main(["detect", str(src), "-o", str(tmp / "prov"), "--weights", str(small_weights), "--provenance",
                 "--save-png"]) == 1
    return tmp, src, small_weights


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_custody_without_provenance(runs):
    tmp, src, weights = runs
    doc = json.loads((tmp / "plain" / "results.json").read_text())
    custody = doc["custody"]
    assert custody["tool"] == "trufor" and custody["tool_version"]
    assert custody["weights"]["sha256"] == _sha(weights) and custody["weights"]["name"]
    assert custody["options"]["provenance"] is False and custody["options"]["read_options"]["max_pixels"]
    assert custody["started"] == doc["created"]
    by_name = {r["image"].rsplit("/", 1)[-1]: r for r in doc["results"]}
    for name in ("edited.jpg", "plain.png", "broken.png"):  # the broken file was read: its bytes are hashed
        assert by_name[name]["sha256"] == _sha(src / name)
        assert "provenance" not in by_name[name]
    rows = (tmp / "plain" / "results.csv").read_text().splitlines()
    assert rows[0].endswith(",sha256,provenance")


def test_results_with_provenance(runs, capsys):
    tmp, src, _ = runs
    doc = json.loads((tmp / "prov" / "results.json").read_text())
    by_name = {r["image"].rsplit("/", 1)[-1]: r for r in doc["results"]}
    edited = by_name["edited.jpg"]["provenance"]
    assert edited["exif"]["camera"] == "canon eos 5d" and edited["jpeg"]["quality"]["quality"] == 75
    assert any("Photoshop" in t for t in edited["editing_traces"])
    assert edited["file"]["sha256"] == by_name["edited.jpg"]["sha256"] == _sha(src / "edited.jpg")
    assert by_name["plain.png"]["provenance"]["exif"] == {"present": False}
    assert doc["custody"]["options"]["provenance"] is True
    assert (tmp / "prov" / "edited.jpg.figure.png").is_file()


def test_schema_accepts_the_new_fields(runs):
    jsonschema = pytest.importorskip("jsonschema")
    from importlib import resources

    schema = json.loads(resources.files("trufor").joinpath("schemas", "results.schema.json").read_text())
    tmp, _, _ = runs
    for run in ("plain", "prov"):
        jsonschema.validate(json.loads((tmp / run / "results.json").read_text()), schema)


def test_summary_column(tmp_path, small_weights, capsys):
    from trufor.cli import main

    src = _images(tmp_path / "in")
    (src / "broken.png").unlink()
    assert main(["detect", str(src), "-o", str(tmp_path / "out"), "--weights", str(small_weights),
                 "--provenance"]) == 0
    out = capsys.readouterr().out
    assert "provenance" in out and "EXIF, edited" in out and "no EXIF" in out


def test_inspect_stage_never_raises(tmp_path):
    path = tmp_path / "x.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe1\xff\xff" + bytes(100))
    digest, report, warnings = inspect_stage(Job(path, tmp_path / "x.npz", "x.jpg"), provenance=True)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest() and report["warnings"]
    assert warnings and all(w.startswith("metadata: ") for w in warnings)
    assert inspect_stage(Job(tmp_path / "absent.jpg", tmp_path / "a.npz", "a")) == (None, None, [])


def test_result_figure_takes_a_provenance_line():
    from trufor.visualize import result_figure

    fig = result_figure({"map": np.zeros((8, 8)), "conf": np.ones((8, 8)), "score": np.array(0.5)},
                        provenance="canon eos 5d; JPEG q75 (IJG tables)")
    assert any("JPEG q75" in t.get_text() for t in fig.texts)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")


def test_report_writer_header_has_custody(tmp_path):
    writer = ReportWriter(tmp_path, {"name": "m", "weights": None}, options={"command": "test"})
    writer.close()
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["custody"]["weights"] == {"name": "m", "file": None, "sha256": None}
    assert doc["custody"]["options"] == {"command": "test"}
