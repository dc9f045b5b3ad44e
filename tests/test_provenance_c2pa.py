"""C2PA content credentials: a file the test signs with its own ES256 certificate chain (made here with
`cryptography`) is valid but from an untrusted signer, trusted once the test root is a trust anchor,
invalid after one byte of the image data changes; a file without a manifest has none."""

from __future__ import annotations

import datetime
import io
import json

import numpy as np
import pytest
from PIL import Image

c2pa = pytest.importorskip("c2pa")
pytest.importorskip("cryptography")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from trufor.provenance import inspect_bytes, inspect_file  # noqa: E402


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "trufor tests")])


def _usage(**on) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


def make_chain():
    """(signer chain PEM, signer key PEM, root PEM): a test root CA and an end-entity signing certificate."""
    now = datetime.datetime.now(datetime.timezone.utc)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def build(subject, issuer, public, ca):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
        if ca:
            return b.add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
        return (b.add_extension(_usage(digital_signature=True), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                               critical=False))

    root = build(_name("trufor test root"), _name("trufor test root"), root_key.public_key(), True).sign(
        root_key, hashes.SHA256())
    leaf = build(_name("trufor test signer"), root.subject, key.public_key(), False).sign(root_key, hashes.SHA256())
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return pem(leaf) + pem(root), key_pem, pem(root).decode()


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """Paths of: the signed JPEG, the same with one byte of image data changed, an unsigned JPEG; the root PEM."""
    folder = tmp_path_factory.mktemp("c2pa")
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    plain = buf.getvalue()
    chain, key, root = make_chain()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None))
    manifest = {
        "claim_generator_info": [{"name": "trufor-tests", "version": "1.0"}], "title": "signed.jpg",
        "format": "image/jpeg",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.created",
             "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"},
            {"action": "c2pa.edited", "softwareAgent": {"name": "trufor-tests"}}]}}],
    }
    out = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.sign(signer, "image/jpeg", io.BytesIO(plain), out)
    data = out.getvalue()
    tampered = bytearray(data)
    tampered[-200] ^= 0x01  # inside the entropy-coded scan, far from the manifest
    paths = {}
    for name, blob in (("signed.jpg", data), ("tampered.jpg", bytes(tampered)), ("plain.jpg", plain)):
        paths[name] = folder / name
        paths[name].write_bytes(blob)
    (folder / "root.pem").write_text(root)
    paths["root"] = folder / "root.pem"
    return paths


def test_signed_is_valid_from_an_untrusted_signer(signed, monkeypatch):
    monkeypatch.delenv("TRUFOR_C2PA_TRUST_ANCHORS", raising=False)
    cred = inspect_file(signed["signed.jpg"])["c2pa"]
    assert cred["present"] and cred["state"] == "valid-untrusted" and cred["untrusted_signer"]
    assert cred["errors"] == []
    assert cred["claim_generator"].startswith("trufor-tests 1.0")
    assert cred["signer"]["common_name"] == "trufor test signer" and cred["signer"]["issuer"] == "trufor tests"
    assert [a["action"] for a in cred["actions"]] == ["c2pa.created", "c2pa.edited"]
    assert cred["ai_generated"] and cred["actions"][0]["ai_generated"]
    assert cred["ingredients"] == []


def test_trusted_once_the_test_root_is_a_trust_anchor(signed):
    root = signed["root"].read_text()
    cred = inspect_file(signed["signed.jpg"], trust_anchors=root)["c2pa"]
    assert cred["state"] == "trusted" and not cred["untrusted_signer"] and cred["trust_anchors_given"]
    # another root does not make it trusted
    _, _, other = make_chain()
    assert inspect_file(signed["signed.jpg"], trust_anchors=other)["c2pa"]["state"] == "valid-untrusted"


def test_one_changed_byte_is_invalid(signed):
    cred = inspect_file(signed["tampered.jpg"], trust_anchors=signed["root"].read_text())["c2pa"]
    assert cred["state"] == "invalid"
    assert any("dataHash.mismatch" in e for e in cred["errors"])


def test_no_manifest(signed):
    report = inspect_file(signed["plain.jpg"])
    assert report["c2pa"] == {"present": False, "state": "none"}
    assert "no C2PA" in report["summary"]


def test_cli_shows_the_three_states(signed, capsys, monkeypatch):
    from trufor.cli import main

    monkeypatch.delenv("TRUFOR_C2PA_TRUST_ANCHORS", raising=False)
    assert main(["provenance", str(signed["signed.jpg"]), str(signed["tampered.jpg"])]) == 0
    out = capsys.readouterr().out
    assert "signer NOT trusted" in out and "INVALID" in out and "AI-GENERATED" in out
    monkeypatch.setenv("TRUFOR_C2PA_TRUST_ANCHORS", str(signed["root"]))
    assert main(["provenance", "--json", str(signed["signed.jpg"])]) == 0
    assert json.loads(capsys.readouterr().out)[0]["c2pa"]["state"] == "trusted"
    assert main(["provenance", "--trust-anchors", str(signed["root"].parent / "none.pem"),
                 str(signed["signed.jpg"])]) == 1


def test_without_c2pa_python_the_rest_works(signed, monkeypatch):
    import trufor.provenance.credentials as cred

    monkeypatch.setattr(cred, "c2pa_available", lambda: False)
    report = inspect_bytes(signed["signed.jpg"].read_bytes())
    assert report["c2pa"]["state"] == "not-checked" and report["c2pa"]["present"] is True
    assert "trufor[provenance]" in report["c2pa"]["error"]
    assert report["jpeg"]["quality"]["quality"] == 90
