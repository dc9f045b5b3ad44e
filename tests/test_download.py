"""Tests of the official-weights download against a local HTTP server on 127.0.0.1.

Nothing here touches the real internet: every URL points at a ``http.server`` started by the test
on an ephemeral port, serving small archives built in the test.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import socket
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from trufor.errors import DownloadError, TruForError, WeightsError
from trufor.weights import download as dl
from trufor.weights.download import (
    OFFICIAL_CHECKPOINT_NAME,
    OFFICIAL_WEIGHTS_MD5,
    OFFICIAL_WEIGHTS_URL,
    SIDECAR_NAME,
    cached_official_checkpoint,
    download_official_weights,
)

CHECKPOINT_BYTES = b"fake checkpoint \x00\x01\x02" * 5000  # ~100 KB, several read chunks once zipped
LICENSE_TEXT = b"Copyright (c) the TruFor authors. Research use only.\n"


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2023, 1, 1, 0, 0, 0)), data, compression)
    return buf.getvalue()


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


GOOD_ZIP = make_zip(
    {"weights/trufor.pth.tar": CHECKPOINT_BYTES, "LICENSE.txt": LICENSE_TEXT, "weights/": b""}
)
GOOD_MD5 = md5_of(GOOD_ZIP)


class LocalServer:
    """Routes: path -> (kind, payload). kinds: body, status, truncate, redirect, hang_*."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[str, object]] = {}
        self.requests: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                server.requests.append(self.path)
                kind, payload = server.routes.get(self.path, ("status", 404))
                if kind == "status":
                    self.send_error(int(payload))
                elif kind == "redirect":
                    self.send_response(302)
                    self.send_header("Location", str(payload))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif kind == "body":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/zip")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                elif kind == "body_no_length":
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(payload)
                    self.close_connection = True
                elif kind == "truncate":
                    # Announce the full length, send half, hang up.
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                elif kind == "hang_before_headers":
                    server.release.wait(10)
                elif kind == "hang_after_headers":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[:100])
                    self.wfile.flush()
                    server.release.wait(10)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(self, path: str, kind: str, payload: object = None) -> str:
        self.routes[path] = (kind, payload)
        return self.url(path)

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = LocalServer()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory)) if directory.exists() else []


def fetch(cache: Path, url: str, md5: str | None, **kwargs) -> Path:
    kwargs.setdefault("progress", False)
    kwargs.setdefault("timeout", 5.0)
    return download_official_weights(cache, url=url, md5=md5, **kwargs)


# --------------------------------------------------------------------------------------------
# constants
# --------------------------------------------------------------------------------------------


def test_official_constants():
    assert OFFICIAL_WEIGHTS_URL == "https://www.grip.unina.it/download/prog/TruFor/TruFor_weights.zip"
    assert OFFICIAL_WEIGHTS_MD5 == "7bee48f3476c75616c3c5721ab256ff8"
    assert OFFICIAL_CHECKPOINT_NAME == "trufor.pth.tar"
    assert issubclass(DownloadError, TruForError)


# --------------------------------------------------------------------------------------------
# success and the cache
# --------------------------------------------------------------------------------------------


def test_good_archive_is_unpacked_verified_and_cached(server, cache):
    url = server.serve("/TruFor_weights.zip", "body", GOOD_ZIP)
    assert cached_official_checkpoint(cache, md5=GOOD_MD5) is None

    path = fetch(cache, url, GOOD_MD5)

    assert path == cache / OFFICIAL_CHECKPOINT_NAME
    assert path.read_bytes() == CHECKPOINT_BYTES
    assert (cache / "LICENSE.txt").read_bytes() == LICENSE_TEXT
    assert listing(cache) == sorted([OFFICIAL_CHECKPOINT_NAME, SIDECAR_NAME, "LICENSE.txt"])
    record = json.loads((cache / SIDECAR_NAME).read_text())
    assert record["archive_md5"] == GOOD_MD5
    assert record["archive_url"] == url
    assert record["checkpoint"] == OFFICIAL_CHECKPOINT_NAME
    assert record["checkpoint_size"] == len(CHECKPOINT_BYTES)
    assert record["checkpoint_sha256"] == hashlib.sha256(CHECKPOINT_BYTES).hexdigest()
    assert record["extra_files"] == ["LICENSE.txt"]
    assert len(server.requests) == 1

    # Second call: served from the cache, no request at all.
    assert fetch(cache, url, GOOD_MD5) == path
    assert len(server.requests) == 1
    assert cached_official_checkpoint(cache, md5=GOOD_MD5) == path
    assert cached_official_checkpoint(str(cache), md5=GOOD_MD5.upper()) == path
    assert cached_official_checkpoint(cache, md5=None) == path
    # The cache belongs to this archive, not the official one.
    assert cached_official_checkpoint(cache) is None


def test_force_downloads_again(server, cache):
    url = server.serve("/w.zip", "body", GOOD_ZIP)
    fetch(cache, url, GOOD_MD5)
    new_bytes = b"a newer checkpoint" * 100
    new_zip = make_zip({"weights/trufor.pth.tar": new_bytes})
    server.serve("/w.zip", "body", new_zip)

    path = fetch(cache, url, md5_of(new_zip), force=True)

    assert len(server.requests) == 2
    assert path.read_bytes() == new_bytes
    assert json.loads((cache / SIDECAR_NAME).read_text())["archive_md5"] == md5_of(new_zip)
    assert not [n for n in listing(cache) if n.endswith(".part")]


def test_failed_forced_download_keeps_the_verified_copy(server, cache):
    url = server.serve("/w.zip", "body", GOOD_ZIP)
    fetch(cache, url, GOOD_MD5)
    before = listing(cache)
    server.serve("/w.zip", "truncate", GOOD_ZIP)

    with pytest.raises(DownloadError):
        fetch(cache, url, GOOD_MD5, force=True)

    assert listing(cache) == before
    assert cached_official_checkpoint(cache, md5=GOOD_MD5) == cache / OFFICIAL_CHECKPOINT_NAME
    assert (cache / OFFICIAL_CHECKPOINT_NAME).read_bytes() == CHECKPOINT_BYTES


def test_stray_checkpoint_without_sidecar_is_not_trusted(server, cache):
    cache.mkdir()
    (cache / OFFICIAL_CHECKPOINT_NAME).write_bytes(b"half a file")
    url = server.serve("/w.zip", "body", GOOD_ZIP)
    assert cached_official_checkpoint(cache, md5=GOOD_MD5) is None

    path = fetch(cache, url, GOOD_MD5)

    assert len(server.requests) == 1
    assert path.read_bytes() == CHECKPOINT_BYTES


@pytest.mark.parametrize(
    "tamper",
    ["other_md5", "other_size", "garbage_sidecar", "no_checkpoint", "old_format"],
)
def test_sidecar_must_match(server, cache, tamper):
    url = server.serve("/w.zip", "body", GOOD_ZIP)
    fetch(cache, url, GOOD_MD5)
    sidecar = cache / SIDECAR_NAME
    record = json.loads(sidecar.read_text())
    if tamper == "other_md5":
        record["archive_md5"] = "0" * 32
        sidecar.write_text(json.dumps(record))
    elif tamper == "other_size":
        (cache / OFFICIAL_CHECKPOINT_NAME).write_bytes(CHECKPOINT_BYTES[:-1])
    elif tamper == "garbage_sidecar":
        sidecar.write_text("{not json")
    elif tamper == "no_checkpoint":
        (cache / OFFICIAL_CHECKPOINT_NAME).unlink()
    elif tamper == "old_format":
        record["format"] = 0
        sidecar.write_text(json.dumps(record))

    assert cached_official_checkpoint(cache, md5=GOOD_MD5) is None
    path = fetch(cache, url, GOOD_MD5)  # repaired by downloading again
    assert len(server.requests) == 2
    assert path.read_bytes() == CHECKPOINT_BYTES
    assert cached_official_checkpoint(cache, md5=GOOD_MD5) == path


def test_md5_none_skips_the_check(server, cache):
    url = server.serve("/w.zip", "body", GOOD_ZIP)
    path = fetch(cache, url, None)
    assert path.read_bytes() == CHECKPOINT_BYTES
    # The sidecar still records what was actually downloaded.
    assert json.loads((cache / SIDECAR_NAME).read_text())["archive_md5"] == GOOD_MD5


def test_redirect_is_followed(server, cache):
    server.serve("/real.zip", "body", GOOD_ZIP)
    url = server.serve("/moved.zip", "redirect", server.url("/real.zip"))
    assert fetch(cache, url, GOOD_MD5).read_bytes() == CHECKPOINT_BYTES
    assert server.requests == ["/moved.zip", "/real.zip"]


def test_body_without_content_length(server, cache):
    url = server.serve("/w.zip", "body_no_length", GOOD_ZIP)
    assert fetch(cache, url, GOOD_MD5).read_bytes() == CHECKPOINT_BYTES


def test_checkpoint_found_anywhere_and_renamed(server, cache):
    archive = make_zip(
        {
            "TruFor_weights/README.md": b"# readme\n",
            "TruFor_weights/model/best.pth.tar": CHECKPOINT_BYTES,
            "TruFor_weights/big.bin": b"x" * 10,
        }
    )
    url = server.serve("/w.zip", "body", archive)
    path = fetch(cache, url, md5_of(archive))
    assert path == cache / OFFICIAL_CHECKPOINT_NAME
    assert path.read_bytes() == CHECKPOINT_BYTES
    assert listing(cache) == sorted([OFFICIAL_CHECKPOINT_NAME, SIDECAR_NAME, "README.md"])


def test_stored_members_and_directory_created(server, tmp_path):
    archive = make_zip({"weights/trufor.pth.tar": CHECKPOINT_BYTES}, zipfile.ZIP_STORED)
    url = server.serve("/w.zip", "body", archive)
    deep = tmp_path / "a" / "b" / "cache"
    assert fetch(deep, url, md5_of(archive)).read_bytes() == CHECKPOINT_BYTES


def test_progress_bar_on_a_terminal(server, cache, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    url = server.serve("/TruFor_weights.zip", "body", GOOD_ZIP)
    fetch(cache, url, GOOD_MD5, progress=True)
    assert "TruFor_weights.zip" in term.getvalue()


def test_no_progress_output_when_disabled_or_not_a_terminal(server, cache, capsys):
    url = server.serve("/w.zip", "body", GOOD_ZIP)
    fetch(cache, url, GOOD_MD5, progress=True)  # captured stderr is not a terminal
    fetch(cache, url, GOOD_MD5, progress=False, force=True)
    assert capsys.readouterr().err == ""


def test_bad_md5_argument(cache):
    with pytest.raises(ValueError, match="32 hexadecimal"):
        download_official_weights(cache, url="http://127.0.0.1:9/x.zip", md5="abc")


# --------------------------------------------------------------------------------------------
# failures: one clear DownloadError, nothing left behind
# --------------------------------------------------------------------------------------------


def assert_clean_failure(exc: pytest.ExceptionInfo, cache: Path, url: str) -> str:
    message = str(exc.value)
    assert url in message
    assert "--weights" in message
    assert "\n" not in message
    assert listing(cache) == []
    return message


def test_wrong_checksum(server, cache):
    url = server.serve("/w.zip", "body", GOOD_ZIP)
    wrong = "0123456789abcdef0123456789abcdef"
    with pytest.raises(DownloadError) as exc:
        fetch(cache, url, wrong)
    message = assert_clean_failure(exc, cache, url)
    assert wrong in message and GOOD_MD5 in message
    assert "expected" in message


def test_connection_cut_half_way(server, cache):
    url = server.serve("/w.zip", "truncate", GOOD_ZIP)
    with pytest.raises(DownloadError) as exc:
        fetch(cache, url, GOOD_MD5)
    message = assert_clean_failure(exc, cache, url)
    assert "cut short" in message


def test_truncated_without_checksum_is_still_refused(server, cache):
    # Without an MD5 to check, Content-Length is what catches the cut.
    url = server.serve("/w.zip", "truncate", GOOD_ZIP)
    with pytest.raises(DownloadError, match="cut short"):
        fetch(cache, url, None)
    assert listing(cache) == []


@pytest.mark.parametrize("code", [404, 500, 403])
def test_http_error(server, cache, code):
    url = server.serve("/w.zip", "status", code)
    with pytest.raises(DownloadError) as exc:
        fetch(cache, url, GOOD_MD5)
    message = assert_clean_failure(exc, cache, url)
    assert f"HTTP {code}" in message


def test_connection_refused(cache):
    with socket.socket() as sock:  # a port that is surely closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/w.zip"
    with pytest.raises(DownloadError) as exc:
        fetch(cache, url, GOOD_MD5)
    message = assert_clean_failure(exc, cache, url)
    assert "Could not connect" in message


@pytest.mark.parametrize("kind", ["hang_before_headers", "hang_after_headers"])
def test_timeout(server, cache, kind):
    url = server.serve("/w.zip", kind, GOOD_ZIP)
    start = time.monotonic()
    with pytest.raises(DownloadError) as exc:
        fetch(cache, url, GOOD_MD5, timeout=0.3)
    assert time.monotonic() - start < 5
    message = assert_clean_failure(exc, cache, url)
    assert "Timed out" in message


@pytest.mark.parametrize(
    "evil", ["../evil.txt", "weights/../../evil.txt", "/tmp/evil.txt", "..\\evil.txt", "C:/evil.txt"]
)
def test_zip_slip_is_refused(server, cache, tmp_path, evil):
    archive = make_zip({"weights/trufor.pth.tar": CHECKPOINT_BYTES, evil: b"pwned"})
    url = server.serve("/w.zip", "body", archive)
    with pytest.raises(DownloadError) as exc:
        fetch(cache, url, md5_of(archive))
    message = assert_clean_failure(exc, cache, url)
    assert "Refusing" in message and repr(evil) in message
    assert not list(tmp_path.rglob("evil.txt"))


def test_zip_without_checkpoint(server, cache):
    archive = make_zip({"weights/model.pth": b"abc", "LICENSE.txt": LICENSE_TEXT})
    url = server.serve("/w.zip", "body", archive)
    with pytest.raises(DownloadError) as exc:
        fetch(cache, url, md5_of(archive))
    message = assert_clean_failure(exc, cache, url)
    assert "no .pth.tar" in message and "weights/model.pth" in message


def test_ambiguous_checkpoints(server, cache):
    archive = make_zip({"a.pth.tar": b"1", "b.pth.tar": b"2"})
    url = server.serve("/w.zip", "body", archive)
    with pytest.raises(DownloadError, match="several checkpoints"):
        fetch(cache, url, md5_of(archive))
    assert listing(cache) == []


def test_not_a_zip(server, cache):
    body = b"<html>maintenance</html>"
    url = server.serve("/w.zip", "body", body)
    with pytest.raises(DownloadError) as exc:
        fetch(cache, url, md5_of(body))
    message = assert_clean_failure(exc, cache, url)
    assert "not a valid zip" in message


def test_corrupt_member_crc(server, cache):
    archive = bytearray(make_zip({"weights/trufor.pth.tar": CHECKPOINT_BYTES}, zipfile.ZIP_STORED))
    at = bytes(archive).index(CHECKPOINT_BYTES[:32]) + 1000
    archive[at] ^= 0xFF
    body = bytes(archive)
    url = server.serve("/w.zip", "body", body)
    with pytest.raises(DownloadError) as exc:
        fetch(cache, url, None)
    message = assert_clean_failure(exc, cache, url)
    assert "not a valid zip" in message


def test_empty_body(server, cache):
    url = server.serve("/w.zip", "body", b"")
    with pytest.raises(DownloadError) as exc:
        fetch(cache, url, None)
    assert "empty" in assert_clean_failure(exc, cache, url)


def test_unwritable_cache_dir(server, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    url = server.serve("/w.zip", "body", GOOD_ZIP)
    with pytest.raises(DownloadError, match="cache directory"):
        fetch(blocker / "cache", url, GOOD_MD5)
    assert server.requests == []


def test_stale_part_files_are_swept(server, cache):
    cache.mkdir()
    old = cache / ".trufor-download-old.part"
    fresh = cache / ".trufor-download-fresh.part"  # maybe another process's download in progress
    unrelated = cache / "notes.part"
    for p in (old, fresh, unrelated):
        p.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    os.utime(unrelated, (two_days_ago, two_days_ago))
    url = server.serve("/w.zip", "body", GOOD_ZIP)

    fetch(cache, url, GOOD_MD5)

    assert not old.exists()
    assert fresh.exists() and unrelated.exists()


def test_failure_paths_remove_all_part_files(server, cache, monkeypatch):
    """A failure after extraction (here: the sidecar cannot be written) leaves no *.part."""
    url = server.serve("/w.zip", "body", GOOD_ZIP)
    real_replace = os.replace

    def failing_replace(src, dst, *args, **kwargs):
        if os.fspath(dst).endswith(SIDECAR_NAME):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(dl.os, "replace", failing_replace)
    with pytest.raises(DownloadError, match="No space left"):
        fetch(cache, url, GOOD_MD5)
    assert not [n for n in listing(cache) if n.endswith(".part")]
    # The checkpoint moved into place but is not vouched for, so it is not taken as valid.
    assert cached_official_checkpoint(cache, md5=GOOD_MD5) is None


def test_interrupt_during_extraction_leaves_nothing(server, cache, monkeypatch):
    """Ctrl-C (or any exception) between download and install: no file of any kind is left."""
    url = server.serve("/w.zip", "body", GOOD_ZIP)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "_install", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch(cache, url, GOOD_MD5)
    assert listing(cache) == []


# --------------------------------------------------------------------------------------------
# discovery: the cached checkpoint against the SHA-256 recorded at download
# --------------------------------------------------------------------------------------------


@pytest.fixture
def user_cache(cache, monkeypatch):
    """``cache`` as the user cache of find_weights (never the real one), with nothing else to find."""
    from trufor.weights import discovery

    monkeypatch.setenv(discovery.ENV_CACHE, str(cache))
    monkeypatch.delenv(discovery.ENV_WEIGHTS, raising=False)
    monkeypatch.setattr(discovery, "bundled_weights", lambda: None)
    return cache


def count_hashing(monkeypatch) -> list[int]:
    """Count the SHA-256 objects the download module creates (one per full hash of the checkpoint)."""
    calls: list[int] = []
    real = dl.hashlib.sha256

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(dl.hashlib, "sha256", counting)
    return calls


def edit_same_size(path: Path) -> None:
    """Change one byte of ``path``, as an edit does: same size, a later mtime (moved forward explicitly,
    so the test does not depend on the file system's timestamp resolution)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    before = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == before.st_size


def test_discovery_accepts_a_verified_download_without_rehashing(server, user_cache, monkeypatch):
    import warnings

    from trufor.weights.discovery import find_weights

    url = server.serve("/w.zip", "body", GOOD_ZIP)
    path = fetch(user_cache, url, GOOD_MD5)
    record = json.loads((user_cache / SIDECAR_NAME).read_text())
    assert record["checkpoint_mtime_ns"] == path.stat().st_mtime_ns  # recorded when unpacked
    hashed = count_hashing(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "unverified" warning
        found = find_weights()
    assert (found.path, found.origin) == (path, "cache")
    assert hashed == []  # size and mtime unchanged since the download: no second hash


def test_discovery_refuses_a_tampered_checkpoint(server, user_cache):
    from trufor.weights.discovery import find_weights

    url = server.serve("/w.zip", "body", GOOD_ZIP)
    path = fetch(user_cache, url, GOOD_MD5)
    edit_same_size(path)  # same size: only the hash can tell

    with pytest.raises(WeightsError) as err:
        find_weights()
    msg = str(err.value)
    assert str(path) in msg and "does not match the SHA-256" in msg
    assert "trufor weights download --force" in msg
    # A plain download sees it too and repairs the cache.
    assert cached_official_checkpoint(user_cache, md5=GOOD_MD5) is None
    assert fetch(user_cache, url, GOOD_MD5).read_bytes() == CHECKPOINT_BYTES
    assert len(server.requests) == 2
    assert find_weights().path == path


def test_old_sidecar_is_hashed_once_then_the_cache_check_catches_a_later_edit(server, user_cache, monkeypatch):
    """A sidecar written before mtimes were recorded: the first run hashes and records the mtime, the
    next ones do not hash, and a same-size edit (new mtime) is still caught."""
    from trufor.weights.discovery import find_weights

    url = server.serve("/w.zip", "body", GOOD_ZIP)
    path = fetch(user_cache, url, GOOD_MD5)
    sidecar = user_cache / SIDECAR_NAME
    record = json.loads(sidecar.read_text())
    del record["checkpoint_mtime_ns"]
    sidecar.write_text(json.dumps(record))
    old = time.time_ns() - 3600 * 10**9  # a checkpoint unpacked an hour ago
    os.utime(path, ns=(old, old))
    hashed = count_hashing(monkeypatch)

    assert find_weights().path == path
    assert len(hashed) == 1
    assert json.loads(sidecar.read_text())["checkpoint_mtime_ns"] == old
    assert find_weights().path == path
    assert len(hashed) == 1  # verification cached

    edit_same_size(path)
    with pytest.raises(WeightsError, match="does not match the SHA-256"):
        find_weights()
    assert len(hashed) == 2


def test_discovery_warns_about_a_checkpoint_copied_in_by_hand(user_cache):
    from trufor.errors import UnverifiedWeightsWarning
    from trufor.weights.discovery import find_weights

    user_cache.mkdir()
    (user_cache / OFFICIAL_CHECKPOINT_NAME).write_bytes(CHECKPOINT_BYTES)
    with pytest.warns(UnverifiedWeightsWarning, match="unverified") as caught:
        found = find_weights()
    assert found.path == user_cache / OFFICIAL_CHECKPOINT_NAME
    assert str(found.path) in str(caught[0].message)


def test_discovery_refuses_an_unreadable_sidecar(server, user_cache):
    from trufor.weights.discovery import find_weights

    url = server.serve("/w.zip", "body", GOOD_ZIP)
    fetch(user_cache, url, GOOD_MD5)
    (user_cache / SIDECAR_NAME).write_text("{not json")
    with pytest.raises(WeightsError, match="unreadable.*trufor weights download --force"):
        find_weights()


def test_cli_prints_the_unverified_warning_and_the_mismatch_error(server, user_cache, capsys):
    from trufor.cli import main

    user_cache.mkdir()
    (user_cache / OFFICIAL_CHECKPOINT_NAME).write_bytes(CHECKPOINT_BYTES)
    assert main(["weights", "path"]) == 0
    captured = capsys.readouterr()
    assert str(user_cache / OFFICIAL_CHECKPOINT_NAME) in captured.out
    assert "warning:" in captured.err and "unverified weights" in captured.err

    url = server.serve("/w.zip", "body", GOOD_ZIP)
    path = fetch(user_cache, url, GOOD_MD5)
    edit_same_size(path)
    assert main(["weights", "path"]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "does not match the SHA-256" in err
