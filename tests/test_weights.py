"""Weights files: the official layout, our safetensors format, and every way a file can be wrong."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from conftest import random_weights
from trufor import WeightsError, load_model
from trufor.errors import UnverifiedWeightsWarning
from trufor.modeling import VARIANTS, build_model, get_config
from trufor.weights import config_of, infer_config, load_into, load_network, read_weights, save_safetensors
from trufor.weights import registry
from trufor.weights.discovery import CACHE_CANDIDATES, ENV_CACHE, ENV_WEIGHTS, bundled_weights, find_weights


@pytest.fixture(scope="module")
def small_net():
    torch.manual_seed(1)
    return build_model("trufor_small").eval()


def test_official_layout_round_trip(small_net, tmp_path):
    path = tmp_path / "ckpt.pth.tar"
    torch.save({"state_dict": small_net.state_dict()}, path)
    loaded = read_weights(path)
    assert loaded.format == "official"
    assert infer_config(loaded.state_dict) == small_net.config
    model = load_model(path)
    assert model.config == small_net.config
    assert "official-format checkpoint ckpt.pth.tar" in model.name


def test_dataparallel_prefix_and_bare_state_dict(small_net, tmp_path):
    path = tmp_path / "bare.pth"
    torch.save({f"module.{k}": v for k, v in small_net.state_dict().items()}, path)
    loaded = read_weights(path)
    assert loaded.format == "state_dict"
    assert not any(k.startswith("module.") for k in loaded.state_dict)


@pytest.mark.parametrize("variant", ["trufor_b0", "trufor_b1", "trufor_small"])
def test_architecture_inferred_from_shapes(variant):
    net = build_model(variant)
    assert infer_config(net.state_dict()) == get_config(variant)


def test_safetensors_metadata_and_half(small_net, tmp_path):
    path = save_safetensors(small_net.state_dict(), tmp_path / "m.safetensors", small_net.config,
                            provenance="unit test", licence="CC0", half=True)
    loaded = read_weights(path)
    assert loaded.format == "safetensors"
    assert loaded.metadata["variant"] == "trufor_small"
    assert loaded.provenance == "unit test" and loaded.licence == "CC0"
    assert config_of(loaded) == small_net.config
    assert all(v.dtype in (torch.float32, torch.int64) for v in loaded.state_dict.values())
    ref = small_net.state_dict()["dncnn.0.weight"]
    assert torch.allclose(loaded.state_dict["dncnn.0.weight"], ref, atol=1e-3)
    full = sum(v.numel() * v.element_size() for v in small_net.state_dict().values())
    assert path.stat().st_size < 0.6 * full  # float16 storage halves the file


def test_missing_empty_folder(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        read_weights(tmp_path / "nope.pth.tar")
    (tmp_path / "empty.pth.tar").write_bytes(b"")
    with pytest.raises(WeightsError, match="empty"):
        read_weights(tmp_path / "empty.pth.tar")
    with pytest.raises(WeightsError, match="folder"):
        read_weights(tmp_path)


def test_truncated_torch_file(small_net, tmp_path):
    path = tmp_path / "t.pth.tar"
    torch.save({"state_dict": small_net.state_dict()}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        read_weights(path)


def test_truncated_safetensors(small_net, tmp_path):
    path = save_safetensors(small_net.state_dict(), tmp_path / "m.safetensors", small_net.config,
                            provenance="t", licence="t")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        read_weights(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "random.pth.tar"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(WeightsError):
        read_weights(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(WeightsError, match="not a TruFor checkpoint"):
        read_weights(path)
    path2 = tmp_path / "other.pth"
    torch.save({"state_dict": {"conv.weight": torch.zeros(3, 3)}}, path2)
    with pytest.raises(WeightsError, match="not a TruFor checkpoint: no key"):
        load_model(path2)


def test_other_architecture_names_keys_and_shapes(small_net, tmp_path):
    sd = dict(small_net.state_dict())
    sd.pop("detection.3.bias")
    sd["extra.head.weight"] = torch.zeros(1)
    sd["detection.0.weight"] = torch.zeros(64, 8)
    with pytest.raises(WeightsError) as err:
        load_into(build_model("trufor_small"), sd, "x.pth")
    msg = str(err.value)
    assert "another architecture" in msg
    assert "detection.3.bias" in msg and "extra.head.weight" in msg
    assert "detection.0.weight: file (64, 8) vs model (128, 8)" in msg


def test_pickle_payload_is_never_executed(tmp_path):
    """A checkpoint whose unpickling would create a file is refused and the file never appears."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth.tar"
    path.write_bytes(_zip_pickle(tmp_path, {"state_dict": Payload()}))
    with pytest.raises(WeightsError, match="refused"):
        read_weights(path)
    assert not marker.exists()
    legacy = tmp_path / "evil_legacy.pth"
    legacy.write_bytes(pickle.dumps({"state_dict": Payload()}, protocol=2))
    with pytest.raises(WeightsError):
        read_weights(legacy)
    assert not marker.exists()


def _zip_pickle(tmp_path: Path, obj) -> bytes:
    """A torch zip-format file whose data.pkl is ``pickle.dumps(obj)`` (as a malicious file would be)."""
    import zipfile

    out = tmp_path / "payload.zip"
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(obj, protocol=2))
        z.writestr("archive/version", "3\n")
        z.writestr("archive/byteorder", "little")
    return out.read_bytes()


def test_discovery_order(small_weights, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.delenv(ENV_WEIGHTS, raising=False)
    monkeypatch.setattr("trufor.weights.discovery.bundled_weights", lambda: None)
    with pytest.raises(WeightsError, match="trufor weights download"):
        find_weights()
    (tmp_path / "cache").mkdir()
    cached = tmp_path / "cache" / "trufor.pth.tar"
    cached.write_bytes(b"x")
    with pytest.warns(UnverifiedWeightsWarning):  # copied in by hand (see test_download.py for the checks)
        assert find_weights().origin == "cache"
    monkeypatch.setenv(ENV_WEIGHTS, str(small_weights))
    assert find_weights().origin == "environment"
    assert find_weights(small_weights).origin == "argument"
    monkeypatch.setenv(ENV_WEIGHTS, str(tmp_path / "missing.pth"))
    with pytest.raises(WeightsError, match="TRUFOR_WEIGHTS"):
        find_weights()


# ------------------------------------------------------------------------------------------ registry


def test_registry_entries_name_known_variants():
    assert {"trufor_official", "trufor_bundled_lite0"} <= set(registry.REGISTRY)
    for name, entry in registry.REGISTRY.items():
        assert entry.name == name
        assert entry.variant in VARIANTS, f"{name}: unknown architecture {entry.variant!r}"
        assert name not in VARIANTS  # weights are named apart from architectures
        assert entry.location in registry.LOCATIONS
    assert registry.official().variant == "trufor_b2"
    assert registry.get_weights("trufor_official") is registry.official()
    with pytest.raises(WeightsError, match="unknown weights 'trufor_b2'"):
        registry.get_weights("trufor_b2")


def test_registry_is_the_source_of_the_official_facts():
    from trufor.weights import checkpoint, download

    entry = registry.official()
    assert entry.location == "cache" and entry.url and entry.archive_md5 and "CVPR" in entry.citation
    assert (download.OFFICIAL_WEIGHTS_URL, download.OFFICIAL_WEIGHTS_MD5, download.OFFICIAL_CHECKPOINT_NAME) == (
        entry.url, entry.archive_md5, entry.file_name)
    assert checkpoint.OFFICIAL_LICENCE == entry.licence
    assert "non-commercial" in entry.licence
    assert CACHE_CANDIDATES == ("trufor.safetensors", "trufor.pth.tar")


def test_registry_bundled_entry_matches_the_bundled_file():
    from safetensors import safe_open

    from trufor.training.loop import OWN_WEIGHTS_LICENCE_PREFIXES

    entry = registry.bundled()
    assert entry.location == "bundled" and entry.licence == "Apache-2.0"
    assert entry.bundled_path == Path(__file__).resolve().parents[1] / "src/trufor/bundled/trufor_lite0.safetensors"
    assert entry.bundled_path.is_file()
    assert bundled_weights() == entry.bundled_path
    with safe_open(str(entry.bundled_path), framework="pt") as f:
        meta = f.metadata()
    assert meta["variant"] == entry.variant == "trufor_lite0_top"
    assert meta["licence"].startswith(entry.licence) and meta["licence"].startswith(OWN_WEIGHTS_LICENCE_PREFIXES)
    # its provenance opens with what it started from, as its licence says (ImageNet weights: not "from scratch");
    # data folders are named relative to the data root, never as the training machine's paths
    from trufor.training.export import summary_line

    assert "efficientnet_lite0 ImageNet weights" in meta["licence"]
    assert meta["provenance"].split("\n")[0] == summary_line([], meta["licence"])
    assert "/work/" not in meta["provenance"] and "${shared}/data/" in meta["provenance"]


def test_display_names_come_from_the_registry(tmp_path):
    path = tmp_path / "x.pth.tar"
    assert registry.display_name("trufor_lite0", origin="bundled", fmt="safetensors", path=path) == \
        "trufor_lite0 (bundled model, trained by the trufor project)"
    assert registry.display_name("trufor_b2", origin="cache", fmt="official", path=path) == \
        "trufor_b2 (official-format checkpoint x.pth.tar)"
    assert registry.display_name("trufor_small", origin="argument", fmt="safetensors", path=path,
                                 metadata={"provenance": "mine"}) == "trufor_small (x.pth.tar: mine)"
    assert registry.display_name("trufor_small", origin="bundled", fmt="safetensors", path=path,
                                 metadata={"model_name": "named"}) == "named"


def test_a_display_name_carries_a_short_summary_of_a_long_provenance(tmp_path):
    """A weight average's provenance holds its parts' histories (484 kB for run 26's file): the name, on every row of
    results.csv, carries the file name and the first clause of the first line, never the whole."""
    history = ("trained by the trufor project with `trufor train` (independent TruFor implementation); fine-tuned from "
               "an earlier export of ours\n" + "weight average of 4 files: ...\n" * 20000)
    name = registry.display_name("trufor_lite0_top", origin="argument", fmt="safetensors",
                                 path=tmp_path / "run26.safetensors", metadata={"provenance": history})
    assert name == ("trufor_lite0_top (run26.safetensors: trained by the trufor project with `trufor train` "
                    "(independent TruFor implementation))")
    long_clause = "word " * 100
    summary = registry.provenance_summary(long_clause)
    assert len(summary) <= registry.NAME_SUMMARY_CHARS and summary.endswith("word...")
    assert registry.provenance_summary("") == "custom weights"
    assert registry.provenance_summary("x" * 300) == "x" * (registry.NAME_SUMMARY_CHARS - 3) + "..."


# ------------------------------------------------------------------------------------- load_network


def test_load_network_safetensors(tmp_path):
    path = random_weights("trufor_small", tmp_path / "r.safetensors")
    network = load_network(path)
    assert network.config == get_config("trufor_small") and network.variant == "trufor_small"
    assert not network.net.training
    assert network.weights.format == "safetensors" and network.metadata["provenance"] == "random init for tests"
    stored = read_weights(path).state_dict
    assert all(torch.equal(v, stored[k]) for k, v in network.net.state_dict().items())
    assert network.display_name() == "trufor_small (r.safetensors: random init for tests)"


def test_load_network_official_layout(small_net, tmp_path):
    path = tmp_path / "ckpt.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in small_net.state_dict().items()}}, path)
    network = load_network(path)
    assert network.weights.format == "official" and network.config == small_net.config
    assert network.weights.licence == registry.official().licence
    assert all(torch.equal(v, small_net.state_dict()[k]) for k, v in network.net.state_dict().items())
    assert network.display_name("cache") == "trufor_small (official-format checkpoint ckpt.pth.tar)"
    assert load_model(path).name == network.display_name()


def test_load_network_refuses_noiseprint_only(small_net, tmp_path):
    path = tmp_path / "np.pth"
    torch.save({"network": {k: v for k, v in small_net.state_dict().items() if k.startswith("dncnn.")}}, path)
    with pytest.raises(WeightsError, match="holds only Noiseprint"):
        load_network(path)
