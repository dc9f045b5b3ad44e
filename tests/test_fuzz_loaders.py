"""Fuzzing the readers of result files and weights files: load, or fail with one clear TruForError.

* Result ``.npz`` files, as read to resume a batch (``is_complete_npz``, then the skipped job's
  size and score), by ``trufor eval`` (``AnalysisResult.from_npz``) and by ``trufor visualize``: never an
  exception (visualize: exit status 0 or 1 and one error line), and a file judged complete is one
  whose size and score can be read.
* Weights files (a torch zip checkpoint, a legacy torch file and our safetensors, small ones built
  for the purpose, and the header of a whole small model): ``read_weights``, ``config_of`` and
  ``load_into`` load them or raise ``trufor.errors.TruForError``; nothing else, never a hang.

Mutations: bit flips, bytes overwritten (also with extreme integers), ranges deleted or
duplicated, truncation. Examples per property: ``TRUFOR_FUZZ_EXAMPLES`` (default 100). Select
with ``-m fuzz``. Inputs that once broke a reader live in ``tests/corpus/npz/`` and
``tests/corpus/weights/`` and are re-read on every run (``test_*_corpus``, not marked).
"""

from __future__ import annotations

import contextlib
import faulthandler
import functools
import io
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from mutations import mutate
from PIL import Image

from trufor.batch import Job
from trufor.batch import existing_result as _read_existing
from trufor.cli import main
from trufor.errors import TruForError
from trufor.errors import ResultFileError
from trufor.results import AnalysisResult
from trufor.modeling import build_model
from trufor.modeling.variants import TruForConfig
from trufor.results import is_complete_npz, npz_summary
from trufor.weights import config_of, load_into, read_weights

FUZZ_EXAMPLES = int(os.environ.get("TRUFOR_FUZZ_EXAMPLES", "100"))
CORPUS = Path(__file__).parent / "corpus"
HANG_SECONDS = 120  # a single read taking this long is a hang: dump tracebacks and end the run

FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
    print_blob=True,
)


def note(outcome: str) -> None:
    """Count an outcome in hypothesis' statistics (``--hypothesis-show-statistics``)."""
    if currently_in_test_context():
        event(outcome)


@contextlib.contextmanager
def hang_guard():
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


# --------------------------------------------------------------------------------------------
# Mutations (the same operations as tests/test_fuzz_imageio.py; positions also count from the end,
# where a zip file keeps its directory)

EXTREMES = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
            0xFFFFFFFFFFFFFFFF]
_position = st.one_of(st.integers(0, 128), st.integers(0, 1 << 16), st.integers(-200, -1))
_operation = st.one_of(
    st.tuples(st.just("flip"), _position, st.integers(0, 7)),
    st.tuples(st.just("byte"), _position, st.integers(0, 255)),
    st.tuples(st.just("int"), _position, st.sampled_from(EXTREMES), st.sampled_from([2, 4, 8]),
              st.sampled_from(["big", "little"])),
    st.tuples(st.just("delete"), _position, st.integers(1, 64)),
    st.tuples(st.just("duplicate"), _position, st.integers(1, 64)),
    st.tuples(st.just("truncate"), _position),
)
operations = st.lists(_operation, min_size=1, max_size=6)


# --------------------------------------------------------------------------------------------
# Result npz files


def _npz(compressed: bool = False, **arrays) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def _npz_seeds() -> list[bytes]:
    rng = np.random.default_rng(3)
    heat = rng.random((6, 5)).astype(np.float32)
    conf = rng.random((6, 5)).astype(np.float32)
    ours = dict(map=heat, imgsize=np.asarray((6, 5), np.int64), score=np.float64(0.625), conf=conf)
    return [
        _npz(**ours),
        _npz(**ours, **{"np++": rng.standard_normal((6, 5)).astype(np.float32)}),
        _npz(compressed=True, **ours),
        _npz(map=heat, score=np.array([0.25])),  # score stored as a 1-element vector
        _npz(map=heat, conf=conf),  # no score (a localization-only tool)
    ]


NPZ_SEEDS = _npz_seeds()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz_loaders")
    Image.fromarray(np.full((6, 5, 3), 128, np.uint8)).save(folder / "image.png")
    return folder


def check_npz_readers(path: Path) -> None:
    """The resume and eval readers on ``path``: never an exception; 'complete' means readable."""
    with hang_guard():
        complete = is_complete_npz(path)
        assert isinstance(complete, bool)
        note(f"complete: {complete}")
        existing = _read_existing(Job(path.with_suffix(".png"), path, path.name))
        try:
            cached = AnalysisResult.from_npz(path)
        except ResultFileError:
            cached = None
    if complete:
        height, width, score = npz_summary(path)
        assert height >= 1 and width >= 1 and isinstance(score, float)
        assert existing is not None and existing.status == "skipped"
        assert (existing.height, existing.width, existing.score) == (height, width, score) or np.isnan(score)
    else:
        assert existing is None  # an incomplete output is analysed again, never reused
    if cached is not None:
        assert cached.map.ndim == 2 and isinstance(cached.score, float)


def check_visualize(path: Path, image: Path, capsys) -> None:
    """``trufor visualize IMAGE NPZ``: a figure (exit 0) or one error line (exit 1), never a traceback."""
    capsys.readouterr()
    with hang_guard():
        rc = main(["visualize", str(image), str(path), "-o", str(path.with_suffix(".fig.png"))])
    err = capsys.readouterr().err
    note(f"visualize exit {rc}")
    assert rc in (0, 1)
    if rc == 1:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], err


@pytest.mark.fuzz
@FUZZ_SETTINGS
@given(seed=st.sampled_from(range(len(NPZ_SEEDS))), ops=operations)
def test_fuzz_npz_resume_and_eval_readers(work, seed, ops):
    path = work / "case.npz"
    path.write_bytes(mutate(NPZ_SEEDS[seed], ops))
    check_npz_readers(path)


@pytest.mark.fuzz
@FUZZ_SETTINGS
@given(seed=st.sampled_from(range(len(NPZ_SEEDS))), ops=operations)
def test_fuzz_npz_visualize(work, capsys, seed, ops):
    path = work / "vis.npz"
    path.write_bytes(mutate(NPZ_SEEDS[seed], ops))
    check_visualize(path, work / "image.png", capsys)


@pytest.mark.fuzz
@FUZZ_SETTINGS
@given(data=st.binary(max_size=1024))
def test_fuzz_npz_random_bytes(work, capsys, data):
    path = work / "random.npz"
    path.write_bytes(data if not data[:1] else b"PK\x03\x04" + data)
    check_npz_readers(path)
    check_visualize(path, work / "image.png", capsys)


@pytest.mark.parametrize("index", range(len(NPZ_SEEDS)))
def test_npz_seeds_are_complete_results(work, capsys, index):
    path = work / f"seed{index}.npz"
    path.write_bytes(NPZ_SEEDS[index])
    check_npz_readers(path)
    assert is_complete_npz(path) == (index != 4)  # the last seed has no score
    check_visualize(path, work / "image.png", capsys)
    assert (work / f"seed{index}.fig.png").exists()


NPZ_CORPUS = sorted((CORPUS / "npz").glob("*.npz"))


@pytest.mark.parametrize("path", NPZ_CORPUS, ids=[p.name for p in NPZ_CORPUS])
def test_npz_corpus(work, capsys, path):
    assert path.stat().st_size <= 16 * 1024, "keep corpus files tiny"
    copy = work / path.name
    copy.write_bytes(path.read_bytes())
    check_npz_readers(copy)
    check_visualize(copy, work / "image.png", capsys)


# --------------------------------------------------------------------------------------------
# Weights files


def skeleton_state_dict() -> dict[str, torch.Tensor]:
    """A few KB of tensors with every key and leading size ``infer_config`` reads (a trufor_small
    shape), so a mutated copy can go all the way through ``config_of`` to ``load_into``."""
    sd: dict[str, torch.Tensor] = {}
    for i, width in enumerate((32, 64, 160, 256), start=1):
        sd[f"backbone.patch_embed{i}.proj.weight"] = torch.randn(width, 1, 1, 1).half()
        for j in range(2):
            sd[f"backbone.block{i}.{j}.norm1.weight"] = torch.ones(2)
    sd["decode_head.linear_fuse.0.weight"] = torch.randn(128, 1, 1, 1).half()
    sd["decode_head.linear_pred.weight"] = torch.randn(2, 1, 1, 1)
    sd["dncnn.0.weight"] = torch.randn(32, 1, 1, 1).half()
    for k in range(1, 17):
        sd[f"dncnn.{k}.weight"] = torch.randn(1, 1, 1, 1)
    sd["bn.num_batches_tracked"] = torch.tensor(7)
    return sd


def _torch_bytes(obj, legacy: bool = False) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def _safetensors_bytes(sd: dict[str, torch.Tensor], metadata: dict[str, str] | None) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in sd.items()}, metadata=metadata)


SMALL_CONFIG = TruForConfig(encoder="mit_b0", decoder_dim=128, noiseprint_features=32)


def _weights_seeds() -> list[tuple[str, bytes]]:
    torch.manual_seed(5)
    sd = skeleton_state_dict()
    meta = {"format": "trufor-weights", "config": json.dumps(SMALL_CONFIG.to_dict()), "variant": "trufor_small"}
    return [
        (".pth.tar", _torch_bytes({"state_dict": sd})),
        (".pth", _torch_bytes({f"module.{k}": v for k, v in sd.items()}, legacy=True)),
        (".safetensors", _safetensors_bytes(sd, meta)),
    ]


WEIGHTS_SEEDS = _weights_seeds()


@functools.lru_cache(maxsize=4)
def _net(config: TruForConfig) -> torch.nn.Module:
    return build_model(config)


def check_weights(path: Path) -> str:
    """The whole loading path of ``load_model`` on ``path``: a loaded model or a TruForError.

    Returns how far it got ("refused: ..." or "loaded").
    """
    with hang_guard():
        try:
            loaded = read_weights(path)
            config = config_of(loaded)
            # config_of only returns sizes read from the tensors present, so building is bounded.
            assert config.mit is not None and config.noiseprint_depth >= 2
            load_into(_net(config), loaded.state_dict, str(path))
        except TruForError as exc:
            text = str(exc)
            assert text and "\n" not in text, text
            note(f"refused: {type(exc).__name__}")
            return f"refused: {text}"
    note("loaded")
    return "loaded"


@pytest.mark.fuzz
@FUZZ_SETTINGS
@given(seed=st.sampled_from(range(len(WEIGHTS_SEEDS))), ops=operations)
def test_fuzz_weights_files(tmp_path_factory, seed, ops):
    ext, data = WEIGHTS_SEEDS[seed]
    path = tmp_path_factory.getbasetemp() / f"fuzz_weights{ext}"
    path.write_bytes(mutate(data, ops))
    check_weights(path)


def test_a_multi_line_torch_error_is_refused_in_one_line(tmp_path):
    """A case the fuzzer found: one byte deleted from a legacy .pth makes torch raise a TypeError whose message runs
    over many lines; the refusal names the file in one line."""
    ext, data = WEIGHTS_SEEDS[1]
    path = tmp_path / f"cut{ext}"
    path.write_bytes(mutate(data, [("delete", 469, 1)]))
    assert check_weights(path).startswith(f"refused: {path}: ")


@pytest.mark.fuzz
@FUZZ_SETTINGS
@given(data=st.one_of(st.binary(max_size=2048),
                      st.builds(lambda head, tail: head + tail,
                                st.sampled_from([b"PK\x03\x04", b"\x80\x02", b"\x80\x04", struct.pack("<Q", 64) + b"{"]),
                                st.binary(max_size=1024))))
def test_fuzz_weights_random_bytes(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "fuzz_random.pth.tar"
    path.write_bytes(data)
    check_weights(path)


@pytest.fixture(scope="module")
def small_model_safetensors(small_weights) -> tuple[bytes, bytes]:
    """The small random model's safetensors file split into (header, tensor data)."""
    data = small_weights.read_bytes()
    n = int.from_bytes(data[:8], "little")
    return data[: 8 + n], data[8 + n :]


@pytest.mark.fuzz
@settings(FUZZ_SETTINGS, max_examples=max(5, FUZZ_EXAMPLES // 5))
@given(ops=st.lists(st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 16), st.integers(0, 7)),
    st.tuples(st.just("byte"), st.integers(0, 1 << 16), st.sampled_from(b'"0123456789,:[]{}FIUBC')),
), min_size=1, max_size=4))
def test_fuzz_small_model_header(tmp_path_factory, small_model_safetensors, ops):
    """A whole model (every key present) with a damaged header: shapes, dtypes and offsets change
    while the tensors stay, so ``load_into``'s checks are reached too. The header's length field is
    kept, so the mutations land in the JSON."""
    header, body = small_model_safetensors
    path = tmp_path_factory.getbasetemp() / "fuzz_model.safetensors"
    path.write_bytes(header[:8] + mutate(header[8:], [(op[0], op[1] % (len(header) - 8), op[2]) for op in ops]) + body)
    check_weights(path)


@pytest.mark.parametrize("index", range(len(WEIGHTS_SEEDS)))
def test_weights_seeds_reach_load_into(tmp_path, index):
    ext, data = WEIGHTS_SEEDS[index]
    path = tmp_path / f"seed{ext}"
    path.write_bytes(data)
    outcome = check_weights(path)
    # The skeleton has the shapes of trufor_small but not its tensors: refused by load_into.
    assert outcome.startswith("refused: ") and "another architecture" in outcome, outcome


WEIGHTS_CORPUS = sorted(p for p in (CORPUS / "weights").glob("*") if p.suffix != ".md")


@pytest.mark.parametrize("path", WEIGHTS_CORPUS, ids=[p.name for p in WEIGHTS_CORPUS])
def test_weights_corpus(path):
    assert path.stat().st_size <= 16 * 1024, "keep corpus files tiny"
    assert check_weights(path).startswith("refused: ")



def test_corpus_is_present():
    """The regression corpus ships with the repository (a lost file would silently skip its test)."""
    assert len(NPZ_CORPUS) >= 6
    assert len(list((CORPUS / "weights").glob("*.*"))) >= 6
