"""Images of one size analysed in batches: the same outputs as one by one, in input order, errors per file."""

from __future__ import annotations

import numpy as np
from PIL import Image


def _folder(tmp_path):
    rng = np.random.default_rng(7)
    folder = tmp_path / "in"
    folder.mkdir()
    sizes = [(64, 48)] * 3 + [(40, 56)] + [(64, 48)] * 2 + [(20, 30)]
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    (folder / "img3b.jpg").write_bytes(b"\xff\xd8 broken")  # between two sizes: fails alone, in order
    return folder


def test_batches_match_one_by_one(small_weights, tmp_path):
    from trufor import load_model
    from trufor.batch import iter_jobs, iter_results

    model = load_model(small_weights)
    folder = _folder(tmp_path)
    one = list(iter_results(model, iter_jobs([str(folder)], tmp_path / "one"), save_noiseprint=True))
    calls = []
    original = model.analyze_batch

    def spy(images, **kw):
        calls.append(len(images))
        return original(images, **kw)

    model.analyze_batch = spy
    many = list(iter_results(model, iter_jobs([str(folder)], tmp_path / "many"), save_noiseprint=True,
                             batch_size=2))
    assert [r.image for r in many] == [r.image for r in one]
    assert [r.status for r in many] == [r.status for r in one]
    assert [r.status for r in many].count("failed") == 1 and "img3b.jpg" in next(
        r.message for r in many if r.status == "failed")
    assert calls == [2, 1, 1, 2, 1]  # 3 of one size as 2 + 1, the odd size, 2 more, the tiny one
    for r in one:
        if r.status != "ok":
            continue
        name = r.image.rsplit("/", 1)[-1] + ".npz"
        with np.load(tmp_path / "one" / name) as a, np.load(tmp_path / "many" / name) as b:
            for key in ("map", "conf", "np++"):
                assert np.max(np.abs(a[key] - b[key])) <= 1e-5, (name, key)
            assert abs(float(a["score"]) - float(b["score"])) <= 1e-6
