"""Fuzzing the provenance parsers as the image reader is fuzzed (tests/test_fuzz_imageio.py): whatever the
metadata blocks hold, :func:`inspect_bytes`, :func:`parse_jpeg` and :func:`parse_exif` return a report
(JSON-ready, problems as warnings) and never raise. Examples: ``TRUFOR_FUZZ_EXAMPLES`` (default 200)."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import mutate, operation_strategy
from PIL import Image

from trufor.exif import parse_exif
from trufor.provenance import inspect_bytes
from trufor.provenance.jpeg import parse_jpeg

FUZZ_EXAMPLES = int(os.environ.get("TRUFOR_FUZZ_EXAMPLES", "200"))
FUZZ_SETTINGS = settings(max_examples=FUZZ_EXAMPLES, deadline=None, print_blob=True,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmp:CreatorTool="Adobe Photoshop 22.0" '
       b'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"><xmpMM:History><rdf:Seq><rdf:li stEvt:action="saved" '
       b'stEvt:softwareAgent="Adobe Photoshop 22.0" stEvt:when="2021-01-01"/></rdf:Seq></xmpMM:History>'
       b'</rdf:Description></rdf:RDF></x:xmpmeta>')
IRB = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x05abcde\x008BIM\x04%\x00\x00\x00\x00\x00\x10" + bytes(16)


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body


def _seeds() -> list[bytes]:
    rng = np.random.default_rng(3)
    im = Image.fromarray(rng.integers(0, 256, (16, 24, 3), dtype=np.uint8))
    exif = im.getexif()
    exif[0x010F], exif[0x0110], exif[0x0131], exif[0x0112] = "Canon", "EOS", "GIMP", 6
    exif.get_ifd(0x8769)[0x9003] = "2020:01:01 00:00:00"
    exif.get_ifd(0x8825)[1] = "N"
    seeds = []
    for kw in ({"quality": 75, "exif": exif.tobytes()}, {"quality": 95, "progressive": True},
               {"quality": 60, "subsampling": 0}):
        buf = io.BytesIO()
        im.save(buf, "JPEG", **kw)
        seeds.append(buf.getvalue())
    # metadata segments spliced after SOI: XMP, a Photoshop IRB, an APP11 that looks like JUMBF
    extra = _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP) + _segment(0xED, IRB) \
        + _segment(0xEB, b"JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x10jumbc2pa")
    seeds.append(seeds[0][:2] + extra + seeds[0][2:])
    buf = io.BytesIO()
    im.save(buf, "PNG", exif=exif.tobytes())
    seeds.append(buf.getvalue())
    return seeds


SEEDS = _seeds()
EXTREMES = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]
_position = st.one_of(st.integers(0, 400), st.integers(0, 1 << 14))
_operation = operation_strategy(_position, EXTREMES)


def _check(report: dict) -> None:
    json.dumps(report)
    assert isinstance(report["warnings"], list) and isinstance(report["summary"], str)
    assert report["c2pa"]["state"] in ("none", "invalid", "valid-untrusted", "trusted", "not-checked", "error")


@pytest.mark.fuzz
@FUZZ_SETTINGS
@given(seed=st.sampled_from(SEEDS), operations=st.lists(_operation, min_size=1, max_size=6),
       with_c2pa=st.booleans())
def test_fuzz_mutated_metadata(seed, operations, with_c2pa):
    data = mutate(seed, operations)
    _check(inspect_bytes(data, c2pa=with_c2pa))
    parse_jpeg(data)


@pytest.mark.fuzz
@FUZZ_SETTINGS
@given(data=st.one_of(st.binary(max_size=2048),
                      st.builds(lambda tail: b"Exif\x00\x00MM\x00*" + tail, st.binary(max_size=512)),
                      st.builds(lambda tail: b"II*\x00" + tail, st.binary(max_size=512))))
def test_fuzz_exif_blocks(data):
    record = parse_exif(data)
    assert isinstance(record.problems, list)
    _check(inspect_bytes(b"\xff\xd8" + _segment(0xE1, data[:65000]) + b"\xff\xd9", c2pa=False))
