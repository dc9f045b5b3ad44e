"""Faults around a batch run: unusable output folders, kills, damaged outputs and bad weights files.

Issue 6, items 2 and 3 (docs/ROBUSTNESS.md, sections "Outputs" and "Weights files"). Every case
ends in a complete result or one clear error line, never a traceback. Runs on the small random
model (``small_weights``) and tiny images.

We run as root in CI and here, so ``chmod`` cannot make a folder unwritable: permission and
disk-full errors are simulated by making ``tempfile.mkstemp`` or ``os.fsync`` raise; a file
standing where a folder is needed is a real case.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trufor.cli import main
from trufor.errors import OutputError
from trufor.outputs import PART_SUFFIX, atomic_write, remove_stale_parts, save_npz
from trufor.results import is_complete_npz

NPZ_KEYS = {"map", "conf", "score", "imgsize"}


def _run(*args) -> int:
    return main([str(a) for a in args])


def _images(folder: Path, n: int, size: tuple[int, int] = (24, 20)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    paths = []
    for i in range(n):
        path = folder / f"img{i:02d}.png"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error:")]


def _parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(f".*{PART_SUFFIX}")) if folder.exists() else []


def _npz_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.npz")) if folder.exists() else []


def _check_complete(path: Path, shape: tuple[int, int]) -> float:
    with np.load(path, allow_pickle=False) as d:
        assert set(d.files) == NPZ_KEYS
        assert d["map"].shape == shape and d["conf"].shape == shape
        assert tuple(d["imgsize"]) == shape
        return float(d["score"])


# --------------------------------------------------------------------------------------------
# Unusable output folders


def test_output_parent_is_a_file(tmp_path, small_weights, capsys):
    """A real unwritable destination: `-o FILE/out`. One line, before the model is even loaded."""
    _images(tmp_path / "in", 2)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    assert _run("detect", tmp_path / "in", "-o", blocker / "out", "--weights", small_weights) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == _error_lines(err)  # nothing else: no model line, no per-image errors
    [line] = _error_lines(err)
    assert f"{blocker} is a file, not a folder" in line and "-o" in line
    assert blocker.read_text() == "a file, not a folder"


def test_output_folder_is_a_file(tmp_path, small_weights, capsys):
    _images(tmp_path / "in", 2)
    blocker = tmp_path / "results"
    blocker.write_bytes(b"x")
    assert _run("detect", tmp_path / "in", "-o", blocker, "--weights", small_weights, "-q") == 1
    [line] = _error_lines(capsys.readouterr().err)
    assert f"{blocker} is a file, not a folder" in line


@pytest.mark.parametrize(("code", "says"), [
    (errno.EACCES, "permission denied"),
    (errno.EPERM, "permission denied"),
    (errno.EROFS, "read-only file system"),
    (errno.ENOSPC, "disk is full"),
])
def test_unwritable_output_folder_simulated(tmp_path, small_weights, capsys, monkeypatch, code, says):
    """No file can be created in the output folder: one line before any image is analysed."""
    _images(tmp_path / "in", 3)

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = tmp_path / "out"
    assert _run("detect", tmp_path / "in", "-o", out, "--weights", small_weights) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == _error_lines(err)
    [line] = _error_lines(err)
    assert says in line and str(out) in line
    assert _npz_files(out) == [] and _parts(out) == []


def test_disk_full_mid_batch_stops_then_resumes(tmp_path, small_weights, capsys, monkeypatch):
    """The disk fills up while saving the 2nd of 4 results: the run stops at once (the 3rd and 4th
    would fail the same way), the 1st result stays complete, nothing half-written remains, and
    the same command finishes the job once there is space again."""
    _images(tmp_path / "in", 4)
    out = tmp_path / "out"
    real_fsync = os.fsync
    saves = []

    def fsync(fd):
        saves.append(fd)
        if len(saves) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    args = ("detect", tmp_path / "in", "-o", out, "--weights", small_weights, "-q")
    assert _run(*args) == 1
    [line] = _error_lines(capsys.readouterr().err)
    assert "img01.png.npz: cannot write: the disk is full" in line
    assert "run the same command again to resume" in line
    assert len(saves) == 2  # stopped: neither the other images nor the reports were attempted
    assert [p.name for p in _npz_files(out)] == ["img00.png.npz"]
    _check_complete(out / "img00.png.npz", (24, 20))
    assert _parts(out) == [] and not (out / "results.csv").exists()

    monkeypatch.setattr(os, "fsync", real_fsync)
    assert _run(*args) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["status"] for r in rows] == ["skipped", "ok", "ok", "ok"]


def test_unwritable_subfolder_fails_only_its_images(tmp_path, small_weights, capsys):
    """A file where one output subfolder must go: that image fails, the others are analysed."""
    _images(tmp_path / "in", 2)
    _images(tmp_path / "in" / "sub", 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("in the way")
    assert _run("detect", tmp_path / "in", "-o", out, "--weights", small_weights, "-q") == 1
    [line] = _error_lines(capsys.readouterr().err)
    assert f"{out / 'sub'} is a file, not a folder" in line
    rows = {r["image"]: r["status"] for r in csv.DictReader(open(out / "results.csv"))}
    assert sorted(rows.values()) == ["failed", "ok", "ok"]
    assert rows[str(tmp_path / "in" / "sub" / "img00.png")] == "failed"


# --------------------------------------------------------------------------------------------
# Atomic writes


def test_atomic_write_failure_keeps_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "r.npz"
    with pytest.raises(ValueError):
        with atomic_write(target) as f:
            f.write(b"half a result")
            raise ValueError("the writer failed midway")
    assert not target.exists() and _parts(tmp_path) == []

    save_npz(target, {"map": np.zeros((2, 3), np.float32), "score": np.float64(0.5)})
    before = target.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as f:
            f.write(b"PK\x03\x04 a new, unfinished version")
            raise KeyboardInterrupt
    assert target.read_bytes() == before and is_complete_npz(target)
    assert _parts(tmp_path) == []


def test_atomic_write_rename_failure(tmp_path, monkeypatch):
    target = tmp_path / "r.npz"
    save_npz(target, {"map": np.zeros((2, 3), np.float32), "score": np.float64(0.5)})
    before = target.read_bytes()

    def no_rename(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OutputError, match="r.npz: cannot write: permission denied") as info:
        save_npz(target, {"map": np.ones((2, 3), np.float32), "score": np.float64(0.9)})
    assert info.value.errno == errno.EACCES
    assert target.read_bytes() == before and _parts(tmp_path) == []


def test_remove_stale_parts_only_touches_our_targets(tmp_path):
    ours = tmp_path / "a b[1].png.npz"  # glob characters in the name are taken literally
    names = [
        f".{ours.name}.k2j_x9q0{PART_SUFFIX}",  # left by a killed write of `ours`: removed
        f".{ours.name}.short{PART_SUFFIX}",  # not a name atomic_write makes
        f".other.png.npz.k2j_x9q0{PART_SUFFIX}",  # another target
        f"{ours.name}.k2j_x9q0{PART_SUFFIX}",  # not hidden
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_parts([ours, tmp_path / "missing" / "x.npz"])
    assert removed == [tmp_path / names[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])


# --------------------------------------------------------------------------------------------
# kill -9 in the middle of a batch, then the same command again


def test_sigkill_mid_batch_then_rerun_completes(tmp_path, small_weights, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    images = _images(src, 12, size=(96, 80))
    cmd = [sys.executable, "-m", "trufor", "detect", str(src), "-o", str(out), "--weights", str(small_weights),
           "-q", "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while len(_npz_files(out)) < 3:
            assert proc.poll() is None, f"the batch ended before it could be killed: {proc.stderr.read()!r}"
            assert time.monotonic() < deadline, "no output after 300 s"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    # Every visible file is a complete result; unfinished writes can only be hidden .part files.
    present = _npz_files(out)
    assert 3 <= len(present) < 12
    others = [p for p in out.rglob("*") if not p.name.startswith(".") and p.suffix != ".npz"]
    assert others in ([], [out / "results.jsonl"])  # the JSON Lines log grows with the run; no report yet
    if others:  # every line of it is whole and names a complete output
        for line in others[0].read_text().splitlines():
            record = json.loads(line)
            assert record["status"] == "ok" and is_complete_npz(record["output"])
    for path in present:
        _check_complete(path, (96, 80))
    assert not (out / "results.csv").exists() and not (out / "results.json").exists()
    # As if the kill had also caught a write in progress (an old result and a pending one).
    done, pending = present[0].name, "img11.png.npz"
    for name in (done, pending):
        (out / f".{name}.zz9_kill{PART_SUFFIX}").write_bytes(b"PK\x03\x04 cut")
    mtimes = {p: p.stat().st_mtime_ns for p in present}

    assert _run("detect", src, "-o", out, "--weights", small_weights, "-q") == 0
    assert [p.name for p in _npz_files(out)] == [f"{p.name}.npz" for p in images]
    assert _parts(out) == []
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())  # reused, not redone
    scores = {str(src / p.name[: -len(".npz")]): _check_complete(p, (96, 80)) for p in _npz_files(out)}

    rows = list(csv.DictReader(open(out / "results.csv")))
    doc = json.loads((out / "results.json").read_text())
    assert [r["image"] for r in rows] == [r["image"] for r in doc["results"]] == sorted(scores)
    assert doc["counts"] == {"ok": 12 - len(present), "skipped": len(present), "failed": 0}
    for row, entry in zip(rows, doc["results"]):
        assert row["status"] == entry["status"] == ("skipped" if Path(row["output"]) in mtimes else "ok")
        assert Path(row["output"]) == Path(entry["output"]) == out / (Path(row["image"]).name + ".npz")
        assert float(row["score"]) == entry["score"] == scores[row["image"]]  # exactly the npz score
        assert (int(row["height"]), int(row["width"])) == (entry["height"], entry["width"]) == (96, 80)


def test_damaged_existing_outputs(tmp_path, small_weights):
    """What a rerun does with outputs that are not ours or not whole: reuses the valid ones
    (also an official-style score stored as a 1-element vector) and redoes the rest."""
    src, out = tmp_path / "in", tmp_path / "out"
    _images(src, 5)
    out.mkdir()
    rng = np.random.default_rng(0)
    good = {"map": rng.random((24, 20)).astype(np.float32), "conf": np.ones((24, 20), np.float32),
            "imgsize": np.asarray((24, 20)), "score": np.float64(0.75)}
    save_npz(out / "img00.png.npz", {**good, "score": np.asarray([0.25])})  # reused
    save_npz(out / "img01.png.npz", good)
    (out / "img01.png.npz").write_bytes((out / "img01.png.npz").read_bytes()[:300])  # cut short
    save_npz(out / "img02.png.npz", {**good, "map": np.zeros(480, np.float32)})  # map not 2-D
    (out / "img03.png.npz").write_bytes(os.urandom(2048))
    save_npz(out / "img04.png.npz", {k: v for k, v in good.items() if k != "score"})  # no score
    assert _run("detect", src, "-o", out, "--weights", small_weights, "-q") == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["status"] for r in rows] == ["skipped", "ok", "ok", "ok", "ok"]
    assert float(rows[0]["score"]) == 0.25
    for i in range(1, 5):
        _check_complete(out / f"img0{i}.png.npz", (24, 20))


# --------------------------------------------------------------------------------------------
# Weights files that must be refused, through the command line


def _st_raw(header: dict | bytes, data: bytes, length: int | None = None) -> bytes:
    """A hand-made safetensors file: 8-byte little-endian header length, JSON header, data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


class _Payload:
    """Unpickling this would create ``self.marker``."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _zip_pickle(obj) -> bytes:
    import io
    import pickle
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(obj, protocol=2))
        z.writestr("archive/version", "3\n")
        z.writestr("archive/byteorder", "little")
    return buf.getvalue()


@pytest.fixture(scope="module")
def bad_weights(small_weights, tmp_path_factory) -> tuple[Path, dict[str, tuple[Path, str]]]:
    """name -> (file, what the error line must say); and the marker a code-running pickle would create."""
    import pickle

    from safetensors.torch import save_file

    from trufor.modeling.variants import get_config
    from trufor.weights import read_weights

    folder = tmp_path_factory.mktemp("bad_weights")
    marker = folder / "pwned"
    _Payload.marker = str(marker)
    sd = read_weights(small_weights).state_dict
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in sd.items()}
    config = get_config("trufor_small").to_dict()
    cases: dict[str, tuple[bytes | None, str]] = {}

    def torch_bytes(obj) -> bytes:
        path = folder / "tmp.pth"
        torch.save(obj, path)
        return path.read_bytes()

    full = torch_bytes({"state_dict": sd})
    cases["truncated torch checkpoint"] = (full[: len(full) // 2], "truncated or corrupt weights file")
    st = small_weights.read_bytes()
    cases["truncated safetensors"] = (st[: len(st) // 2], "truncated or corrupt safetensors file")
    cases["empty file"] = (b"", "empty weights file")
    cases["random bytes"] = (np.random.default_rng(1).bytes(4096), "truncated or corrupt weights file")
    cases["code-running pickle (torch zip)"] = (_zip_pickle({"state_dict": _Payload()}), "refused to load")
    cases["code-running pickle (legacy)"] = (pickle.dumps({"state_dict": _Payload()}, protocol=2), "refused to load")
    cases["another network"] = (torch_bytes({"conv1.weight": torch.zeros(8, 3, 3, 3), "fc.bias": torch.zeros(10)}),
                                "not a TruFor checkpoint: no key")
    cases["TruFor with a missing tensor"] = (torch_bytes({k: v for k, v in sd.items() if k != "detection.3.bias"}),
                                             "checkpoint of another architecture: 1 missing keys")
    cases["Noiseprint++ only"] = (torch_bytes({"network": {k: v for k, v in sd.items() if k.startswith("dncnn.")}}),
                                  "holds only Noiseprint++ weights")
    cases["safetensors header length 2**63"] = (struct.pack("<Q", 2**63) + b'{"a": 1}', "header too large")
    cases["safetensors header longer than the file"] = (_st_raw(b'{"a": 1}', b"", 99_999_999), "invalid header length")
    cases["safetensors header not JSON"] = (_st_raw(b"{not json}", b""), "invalid JSON in header")
    cases["safetensors offsets past the end"] = (
        _st_raw({"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 1 << 30]}}, bytes(16)),
        "invalid shape, data type, or offset")
    cases["safetensors shape overflowing"] = (
        _st_raw({"x": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 16]}}, bytes(16)), "overflow")
    cases["safetensors exotic dtype F4"] = (
        _st_raw({"x": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}}, b"\x01"),
        "truncated or corrupt safetensors file")

    def with_config(**changes) -> bytes:
        path = folder / "tmp.safetensors"
        save_file(half, str(path), metadata={"config": json.dumps({**config, **changes})})
        return path.read_bytes()

    cases["metadata config: decoder_dim 10**9"] = (with_config(decoder_dim=10**9), "config disagrees with its tensors")
    cases["metadata config: 10**6 Noiseprint++ layers"] = (with_config(noiseprint_depth=10**6),
                                                           "noiseprint_depth=1000000 but the tensors say 17")
    cases["metadata config: unknown encoder"] = (with_config(encoder="mit_b9"), "config disagrees with its tensors")
    cases["metadata config: eps not a number"] = (with_config(loc_bn_eps="x"), "not a number in (0, 1)")
    cases["metadata config: unknown key"] = (with_config(layers=3), "unknown model config keys")
    complex_sd = dict(half, **{"detection.3.bias": torch.zeros(sd["detection.3.bias"].shape, dtype=torch.complex64)})
    path = folder / "tmp.safetensors"
    save_file(complex_sd, str(path))
    cases["complex tensor"] = (path.read_bytes(), "tensors of an unusable type")
    cases["a folder"] = (None, "is a folder")

    files = {}
    for i, (name, (data, says)) in enumerate(cases.items()):
        target = folder / f"case{i:02d}.weights"
        if data is None:
            target.mkdir()
        else:
            target.write_bytes(data)
        files[name] = (target, says)
    return marker, files


BAD_WEIGHTS = [
    "truncated torch checkpoint", "truncated safetensors", "empty file", "random bytes",
    "code-running pickle (torch zip)", "code-running pickle (legacy)", "another network",
    "TruFor with a missing tensor", "Noiseprint++ only", "safetensors header length 2**63",
    "safetensors header longer than the file", "safetensors header not JSON", "safetensors offsets past the end",
    "safetensors shape overflowing", "safetensors exotic dtype F4", "metadata config: decoder_dim 10**9",
    "metadata config: 10**6 Noiseprint++ layers", "metadata config: unknown encoder",
    "metadata config: eps not a number", "metadata config: unknown key", "complex tensor", "a folder",
]


@pytest.mark.parametrize("case", BAD_WEIGHTS)
def test_bad_weights_detect_one_line_exit_1(bad_weights, tmp_path, capsys, case):
    marker, files = bad_weights
    assert set(files) == set(BAD_WEIGHTS)
    path, says = files[case]
    image = _images(tmp_path / "in", 1)[0]
    start = time.monotonic()
    assert _run("detect", image, "-o", tmp_path / "out", "--weights", path) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == _error_lines(err), err  # exactly one line, no traceback
    [line] = _error_lines(err)
    assert str(path) in line and says in line, line
    assert time.monotonic() - start < 30  # refused from the file, not after building a huge model
    assert not marker.exists()  # no pickle payload ever ran
    assert _npz_files(tmp_path / "out") == []


@pytest.mark.parametrize("case", BAD_WEIGHTS)
def test_bad_weights_info_reports_the_problem(bad_weights, capsys, case):
    """`trufor info` is a diagnostic: it says why the weights are unusable and exits 0."""
    marker, files = bad_weights
    path, says = files[case]
    assert _run("info", "--weights", path) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    [line] = [ln for ln in captured.out.splitlines() if ln.startswith("model ")]
    assert "none: " in line and str(path) in line and says in line, line
    assert not marker.exists()


def test_outputs_get_normal_permissions(tmp_path):
    """Atomic writes go through mkstemp (owner-only); the final file gets the usual umask mode."""
    from trufor.outputs import default_file_mode, save_npz

    target = save_npz(tmp_path / "x.npz", {"map": np.zeros((2, 2), np.float32)})
    assert (target.stat().st_mode & 0o777) == default_file_mode()
