"""A CUDA out-of-memory error on one image: retried with smaller budgets, then on the CPU; the batch goes on.

No GPU is needed: the error is injected into the engine of a CPU model with the fallback switched on (the
logic, not a fake figure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture()
def model(small_weights):
    from trufor import load_model

    m = load_model(small_weights)
    m.oom_fallback = True  # on by default on CUDA only
    return m


def _inject(model, monkeypatch, fail_when):
    """Make the efficient engine raise CUDA's out-of-memory error while ``fail_when(tile, band)`` holds."""
    engine = model._efficient
    calls = []
    original = type(engine).forward

    def forward(self, image):
        calls.append((self.tile, self.band_bytes, self is engine))
        if self is engine and fail_when(self.tile, self.band_bytes):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (injected)")
        return original(self, image)

    monkeypatch.setattr(type(engine), "forward", forward)
    return calls


def test_retry_with_smaller_budget_gives_the_same_result(model, monkeypatch):
    img = np.random.default_rng(0).integers(0, 256, (80, 96, 3), dtype=np.uint8)
    expected = model.analyze(img)
    plan = (model._efficient.tile, model._efficient.band_bytes)
    calls = _inject(model, monkeypatch, lambda tile, band: tile > 512)
    res = model.analyze(img)
    assert [c[:2] for c in calls] == [plan, (512, 16 * 2**20)]
    assert any("ran out of memory (CUDA out of memory. Tried to allocate 20.00 GiB (injected))" in w
               and "tile 512 px" in w for w in res.warnings)
    assert np.array_equal(res.map, expected.map) and res.score == expected.score
    assert (model._efficient.tile, model._efficient.band_bytes) == plan  # the budget is restored afterwards


def test_every_budget_fails_then_cpu_with_warning_and_the_batch_goes_on(model, monkeypatch, tmp_path):
    from trufor.batch import iter_jobs, iter_results

    rng = np.random.default_rng(1)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (64, 72, 3), dtype=np.uint8)).save(folder / name)
    expected = model.analyze(folder / "a.png")
    calls = _inject(model, monkeypatch, lambda tile, band: True)
    results = list(iter_results(model, iter_jobs([str(folder)], tmp_path / "out")))
    assert [r.status for r in results] == ["ok", "ok"], [r.message for r in results]
    assert all(any("analysed on the CPU instead" in w for w in r.warnings) for r in results)
    assert any("tile 128 px / bands 4 MiB" in w for w in results[0].warnings)
    # per image: the plan, three smaller budgets, then the CPU copy (a different engine object)
    assert [c[2] for c in calls] == [True, True, True, True, False] * 2
    with np.load(tmp_path / "out" / "a.png.npz") as data:
        assert np.array_equal(data["map"], expected.map)


def test_no_fallback_without_cuda_by_default(small_weights, monkeypatch):
    from trufor import load_model
    from trufor.batch import Job, analyse_stage

    m = load_model(small_weights)
    assert m.oom_fallback is False
    _inject(m, monkeypatch, lambda tile, band: True)
    result, error = analyse_stage(m, Job(image=Path("x.png"), output=Path("x.npz"), relative="x.png"), np.zeros((40, 40, 3), np.uint8))
    assert result is None and "OutOfMemoryError" in error and "x.png" in error
