"""Shared fixtures: where ../shared is, and the parity weights rebuilt from its seed."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PARITY = SHARED / "parity"
IN_CI = bool(os.environ.get("CI"))


def require_shared(sub: str) -> Path:
    """The folder ``../shared/<sub>``; skip when ../shared is absent, fail in CI when it is there but
    incomplete (so parity can never silently stop running in CI)."""
    path = SHARED / sub
    if path.exists():
        return path
    if IN_CI and SHARED.exists():
        pytest.fail(f"{path} is missing although {SHARED} exists")
    pytest.skip(f"{path} not available (the shared data folder lives beside the repository)")


def _load_make_weights():
    spec = importlib.util.spec_from_file_location("parity_make_weights", require_shared("parity") / "make_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def parity_state_dict():
    """The seed-1 parity weights (the official checkpoint layout), rebuilt from ../shared/parity."""
    parity = require_shared("parity")
    mw = _load_make_weights()
    return mw.build_state_dict(str(parity / "trufor_state_dict_keys.tsv"), 1,
                               str(parity / "overrides_seed1.npz"), str(parity / "noiseprint++.th"))


@pytest.fixture(scope="session")
def parity_checkpoint(parity_state_dict, tmp_path_factory) -> Path:
    """The parity weights saved as the official ``trufor.pth.tar`` ({'state_dict': ...})."""
    import torch

    path = tmp_path_factory.mktemp("weights") / "trufor.pth.tar"
    torch.save({"state_dict": parity_state_dict}, path)
    return path


@pytest.fixture(scope="session")
def parity_model(parity_checkpoint):
    """The parity weights loaded through the public API, on CPU."""
    from trufor import load_model

    return load_model(parity_checkpoint, device="cpu")


def random_weights(variant: str, path: Path) -> Path:
    """A randomly initialised (seed 0) model of ``variant`` saved in our safetensors format at ``path``."""
    import torch

    from trufor.modeling import build_model, get_config
    from trufor.weights import save_safetensors

    torch.manual_seed(0)
    config = get_config(variant)
    net = build_model(config).eval()
    save_safetensors(net.state_dict(), path, config, provenance="random init for tests", licence="test only")
    return path


@pytest.fixture(scope="session")
def small_weights(tmp_path_factory) -> Path:
    """A randomly initialised small model in our safetensors format (fast tests of the plumbing)."""
    return random_weights("trufor_small", tmp_path_factory.mktemp("small") / "small.safetensors")
