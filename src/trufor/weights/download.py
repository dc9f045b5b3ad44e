"""Downloading the authors' official TruFor weights into a local cache.

The authors publish one archive, ``TruFor_weights.zip``, holding the checkpoint ``trufor.pth.tar``
(and possibly a licence/readme). :func:`download_official_weights` fetches it, checks its MD5,
and unpacks the checkpoint to ``<cache_dir>/trufor.pth.tar``, with any licence/readme text
members of the archive placed next to it.

Cache layout (all in ``cache_dir``)::

    trufor.pth.tar                 the checkpoint, copied out of the archive
    trufor.pth.tar.download.json   sidecar: archive URL and MD5, checkpoint size, SHA-256 and mtime
    LICENSE.txt, README.md, ...    licence/readme text members of the archive, if any

The sidecar is written last, only once the checkpoint is in place, and removed first when a
cached copy is replaced. A ``trufor.pth.tar`` is taken as a verified download only when the sidecar
exists, records the expected archive MD5, and the checkpoint still has the SHA-256 recorded when it
was unpacked (:func:`verify_cached_checkpoint`), so a stray file copied into the cache, one left
behind by an interrupted replacement, or one edited since, is never mistaken for it. The hash is
computed again only when the checkpoint's size or modification time differ from those recorded at
its last verification (hashing 270 MB costs about half a second).

The URL, MD5 and file name come from the weights registry (:mod:`trufor.weights.registry`).

Nothing partial is ever visible under a final name: the archive is streamed to a hidden ``*.part``
file, each extracted member is written to its own ``*.part`` file and moved into place with
:func:`os.replace` (atomic on one file system), and every ``*.part`` file is deleted on every
failure path. ``*.part`` files orphaned by a killed process are removed by a later call once they
are a day old.

Every failure raises :class:`trufor.errors.DownloadError` with one message saying what failed,
the URL, and how to get the weights by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import DownloadError, WeightsError
from .registry import TRUFOR_OFFICIAL

__all__ = [
    "OFFICIAL_WEIGHTS_URL",
    "OFFICIAL_WEIGHTS_MD5",
    "OFFICIAL_CHECKPOINT_NAME",
    "SIDECAR_NAME",
    "download_official_weights",
    "cached_official_checkpoint",
    "verify_cached_checkpoint",
]

OFFICIAL_WEIGHTS_URL = TRUFOR_OFFICIAL.url
"""Where the authors publish the weights archive (from the registry)."""

OFFICIAL_WEIGHTS_MD5 = TRUFOR_OFFICIAL.archive_md5
"""MD5 of ``TruFor_weights.zip`` as published by the authors (from the registry)."""

OFFICIAL_CHECKPOINT_NAME = TRUFOR_OFFICIAL.file_name
"""File name of the checkpoint, both inside the archive and in the cache (from the registry)."""

SIDECAR_NAME = OFFICIAL_CHECKPOINT_NAME + ".download.json"
"""Name of the sidecar that vouches for a cached checkpoint (see the module docstring)."""

_SIDECAR_FORMAT = 1
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20  # bytes per read/write while streaming
_TEXT_MEMBER_MAX = 1 << 20  # licence/readme members larger than this are not kept
_STALE_PART_AGE_S = 24 * 3600
_PART_PREFIX = ".trufor-download-"
_PART_SUFFIX = ".part"
_TEXT_STEMS = ("license", "licence", "copying", "notice", "readme")
_TEXT_SUFFIXES = ("", ".txt", ".md", ".rst")


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def cached_official_checkpoint(
    cache_dir: str | os.PathLike, *, md5: str | None = OFFICIAL_WEIGHTS_MD5
) -> Path | None:
    """The cached checkpoint in ``cache_dir`` if a verified download is present, else ``None``.

    "Verified" means the sidecar written by :func:`download_official_weights` is there, records the
    archive MD5 ``md5`` (any MD5 when ``md5`` is ``None``), and the checkpoint still has the size and
    SHA-256 it recorded (hashed again only when the file's size or mtime changed, see
    :func:`verify_cached_checkpoint`).
    """
    cache_dir = Path(cache_dir).expanduser()
    checkpoint = cache_dir / OFFICIAL_CHECKPOINT_NAME
    record = _read_sidecar(cache_dir)
    if record is None or record.get("format") != _SIDECAR_FORMAT:
        return None
    if md5 is not None and record.get("archive_md5") != _normalise_md5(md5):
        return None
    if record.get("checkpoint") != OFFICIAL_CHECKPOINT_NAME or not checkpoint.is_file():
        return None
    try:
        if not _matches_sidecar(cache_dir, record):
            return None
    except OSError:
        return None
    return checkpoint


def verify_cached_checkpoint(cache_dir: str | os.PathLike) -> bool:
    """Check the official checkpoint in ``cache_dir`` against the SHA-256 recorded when it was downloaded.

    Returns ``True`` when it matches the sidecar, ``False`` when there is no sidecar at all (a file
    copied into the cache by hand: unverified, the caller decides what to say). The hash is computed
    only when the file's size or modification time differ from those of its last verification.

    Raises:
        WeightsError: the checkpoint differs from the downloaded one (edited, damaged, replaced), or
            its sidecar is unreadable; the message says how to download it again.
    """
    cache_dir = Path(cache_dir).expanduser()
    checkpoint = cache_dir / OFFICIAL_CHECKPOINT_NAME
    sidecar = cache_dir / SIDECAR_NAME
    redo = (f"Download it again with `trufor weights download --force` (or, if you put this file there on "
            f"purpose, delete {sidecar})")
    try:
        record = _read_sidecar(cache_dir, strict=True)
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{checkpoint}: cannot verify the cached official checkpoint: its download record "
                           f"{sidecar.name} is unreadable ({_describe(exc)}). {redo}.") from None
    if record is None:
        return False
    try:
        matches = _matches_sidecar(cache_dir, record)
    except OSError as exc:
        raise WeightsError(f"{checkpoint}: cannot read the cached official checkpoint: {_describe(exc)}") from None
    if not matches:
        raise WeightsError(
            f"{checkpoint}: the cached official checkpoint does not match the SHA-256 recorded in {sidecar.name} "
            f"when it was downloaded: it has been modified or damaged since. {redo}."
        )
    return True


def download_official_weights(
    cache_dir: str | os.PathLike,
    *,
    url: str = OFFICIAL_WEIGHTS_URL,
    md5: str | None = OFFICIAL_WEIGHTS_MD5,
    progress: bool = True,
    force: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Download, verify and unpack the official weights; return the path of ``trufor.pth.tar``.

    Args:
        cache_dir: directory receiving the checkpoint (created if missing).
        url: where to fetch the archive (the authors' URL by default).
        md5: expected MD5 of the archive (hex); ``None`` skips the check.
        progress: show a progress bar on stderr (only when stderr is a terminal).
        force: download again even if a verified copy is cached. The cached copy stays in place
            until the new one has been downloaded and verified.
        timeout: seconds allowed for connecting and for each read from the server.

    Returns:
        ``cache_dir / "trufor.pth.tar"``.

    Raises:
        DownloadError: the server could not be reached or answered an error, the body was cut
            short, the MD5 does not match, the archive is corrupt, unsafe (absolute or ``..``
            member paths) or holds no ``.pth.tar`` checkpoint, or the cache could not be written.
    """
    cache_dir = Path(cache_dir).expanduser()
    expected_md5 = None if md5 is None else _normalise_md5(md5)

    if not force:
        cached = cached_official_checkpoint(cache_dir, md5=expected_md5)
        if cached is not None:
            return cached

    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"Cannot create the weights cache directory {cache_dir}: {_describe(exc)}. "
            "Choose another cache directory, or download the weights by hand from "
            f"{url} and pass --weights PATH/TO/{OFFICIAL_CHECKPOINT_NAME}."
        ) from None
    _remove_stale_parts(cache_dir)

    archive = _new_part(cache_dir, url)
    staged: list[tuple[Path, Path]] = []  # (temporary file, final path), checkpoint first
    try:
        got_md5 = _fetch(url, archive, timeout=timeout, progress=progress)
        if expected_md5 is not None and got_md5 != expected_md5:
            raise DownloadError(
                f"Checksum mismatch for the weights archive downloaded from {url}: "
                f"expected MD5 {expected_md5}, got {got_md5}. The download was corrupted or the "
                "file changed on the server; try again, or download it by hand from "
                f"{url}, check it, unpack it and pass --weights PATH/TO/{OFFICIAL_CHECKPOINT_NAME}."
            )
        checkpoint_sha256, extras = _extract(archive, cache_dir, url, staged)
        _install(cache_dir, staged, url, got_md5, checkpoint_sha256, extras)
    finally:
        for tmp in [archive, *(t for t, _ in staged)]:
            _unlink_quietly(tmp)
    return cache_dir / OFFICIAL_CHECKPOINT_NAME


# --------------------------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------------------------


def _fetch(url: str, dest: Path, *, timeout: float, progress: bool) -> str:
    """Stream ``url`` into ``dest``; return the body's MD5 (hex)."""
    hint = (
        f"Check your connection and try again, or download it by hand from {url}, unpack it and "
        f"pass --weights PATH/TO/{OFFICIAL_CHECKPOINT_NAME}."
    )

    def network_error(what: str, exc: BaseException | None = None) -> DownloadError:
        detail = f": {_describe(exc)}" if exc is not None else ""
        return DownloadError(f"{what} {url}{detail}. {hint}")

    request = urllib.request.Request(url, headers={"User-Agent": _user_agent()})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DownloadError(
            f"The server answered HTTP {exc.code} {exc.reason} for {url}. The file may have "
            f"moved or the server may be down; try again later, or download it by hand from "
            f"{url} (or the TruFor project page), unpack it and pass "
            f"--weights PATH/TO/{OFFICIAL_CHECKPOINT_NAME}."
        ) from None
    except urllib.error.URLError as exc:
        reason = exc.reason if isinstance(exc.reason, BaseException) else None
        if isinstance(reason, TimeoutError):
            raise network_error(f"Timed out after {timeout:g} s connecting to") from None
        detail = _describe(reason) if reason is not None else str(exc.reason)
        raise DownloadError(f"Could not connect to {url}: {detail}. {hint}") from None
    except TimeoutError:
        raise network_error(f"Timed out after {timeout:g} s connecting to") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise network_error("Could not download", exc) from None

    with response:
        status = getattr(response, "status", 200)
        if status != 200:
            raise network_error(f"The server answered HTTP {status} (expected 200) for")
        expected = _content_length(response.headers.get("Content-Length"))
        digest = hashlib.md5(usedforsecurity=False)
        received = 0
        try:
            out = open(dest, "wb")
        except OSError as exc:
            raise _cache_write_error(dest.parent, url, exc) from None
        with out, _progress_bar(expected, url, progress) as bar:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except http.client.IncompleteRead as exc:
                    received += len(exc.partial)
                    raise _truncated(url, received, expected, hint) from None
                except TimeoutError:
                    raise network_error(
                        f"Timed out after {timeout:g} s waiting for data "
                        f"({_size(received)} received) from"
                    ) from None
                except (OSError, http.client.HTTPException) as exc:
                    raise network_error(
                        f"The connection broke after {_size(received)} while downloading", exc
                    ) from None
                if not chunk:
                    break
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise _cache_write_error(dest.parent, url, exc) from None
                digest.update(chunk)
                received += len(chunk)
                bar(len(chunk))
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise _cache_write_error(dest.parent, url, exc) from None
    if expected is not None and received != expected:
        raise _truncated(url, received, expected, hint)
    if received == 0:
        raise network_error("The server sent an empty file for")
    return digest.hexdigest()


def _truncated(url: str, received: int, expected: int | None, hint: str) -> DownloadError:
    of = f" of the {_size(expected)} announced" if expected is not None else ""
    return DownloadError(
        f"The download of {url} was cut short: received {_size(received)}{of} "
        f"(the connection closed early). {hint}"
    )


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        length = int(value.strip())
    except ValueError:
        return None
    return length if length >= 0 else None


class _NoBar:
    def __call__(self, n: int) -> None:
        pass

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _TqdmBar:
    def __init__(self, total: int | None, url: str):
        from tqdm import tqdm

        name = PurePosixPath(urllib.request.urlparse(url).path).name or "weights"
        self._bar = tqdm(
            total=total,
            desc=name,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            leave=True,
            dynamic_ncols=True,
        )

    def __call__(self, n: int) -> None:
        self._bar.update(n)

    def __enter__(self) -> "_TqdmBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()


def _progress_bar(total: int | None, url: str, progress: bool) -> _NoBar | _TqdmBar:
    """A callable taking byte counts; a tqdm bar on stderr when wanted and stderr is a terminal."""
    stream = sys.stderr
    if not progress or stream is None or not getattr(stream, "isatty", lambda: False)():
        return _NoBar()
    return _TqdmBar(total, url)


# --------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------


def _extract(
    archive: Path, cache_dir: Path, url: str, staged: list[tuple[Path, Path]]
) -> tuple[str, list[str]]:
    """Copy the checkpoint and licence/readme members of ``archive`` to ``*.part`` files.

    Appends (temporary file, final path) pairs to ``staged`` as they are created, so the caller
    can delete them whatever happens. Returns the checkpoint's SHA-256 and the extra file names.
    """
    hint = (
        f"Try again; if it persists, download it by hand from {url}, unpack it and "
        f"pass --weights PATH/TO/{OFFICIAL_CHECKPOINT_NAME}."
    )
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            for member in zf.infolist():
                if not _is_safe_member_name(member.filename):
                    raise DownloadError(
                        f"Refusing the weights archive from {url}: member {member.filename!r} "
                        "has an absolute path or '..' and could write outside the cache. "
                        f"Download it by hand from {url}, inspect it and pass "
                        f"--weights PATH/TO/{OFFICIAL_CHECKPOINT_NAME}."
                    )
            checkpoint = _pick_checkpoint(members, url)
            extras = _pick_text_members(members, checkpoint)

            tmp = _new_part(cache_dir, url)
            staged.append((tmp, cache_dir / OFFICIAL_CHECKPOINT_NAME))
            sha256 = _copy_member(zf, checkpoint, tmp, url)
            names = []
            for member, name in extras:
                tmp = _new_part(cache_dir, url)
                staged.append((tmp, cache_dir / name))
                _copy_member(zf, member, tmp, url)
                names.append(name)
    except DownloadError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as exc:
        raise DownloadError(
            f"The file downloaded from {url} is not a valid zip archive ({_describe(exc)}). {hint}"
        ) from None
    except (RuntimeError, NotImplementedError) as exc:  # encrypted / unsupported compression
        raise DownloadError(
            f"Cannot unpack the weights archive from {url}: {_describe(exc)}. "
            f"Unpack it by hand and pass --weights PATH/TO/{OFFICIAL_CHECKPOINT_NAME}."
        ) from None
    except OSError as exc:
        raise _cache_write_error(cache_dir, url, exc) from None
    return sha256, names


def _is_safe_member_name(name: str) -> bool:
    """False for member names that are absolute, carry a drive letter or climb with ``..``."""
    posix = name.replace("\\", "/")
    if not posix or posix.startswith("/") or re.match(r"^[A-Za-z]:", posix) or "\x00" in posix:
        return False
    return ".." not in posix.split("/")


def _pick_checkpoint(members: list[zipfile.ZipInfo], url: str) -> zipfile.ZipInfo:
    candidates = [m for m in members if _basename(m.filename).lower().endswith(".pth.tar")]
    if not candidates:
        listing = ", ".join(m.filename for m in members[:10]) or "nothing"
        raise DownloadError(
            f"The archive downloaded from {url} holds no .pth.tar checkpoint (it contains: "
            f"{listing}). The archive layout may have changed; download it by hand from {url}, "
            "find the checkpoint and pass --weights PATH."
        )
    exact = [m for m in candidates if _basename(m.filename) == OFFICIAL_CHECKPOINT_NAME]
    if len(exact) == 1:
        return exact[0]
    if len(candidates) == 1:
        return candidates[0]
    listing = ", ".join(m.filename for m in candidates)
    raise DownloadError(
        f"The archive downloaded from {url} holds several checkpoints ({listing}) and none is "
        f"unambiguously {OFFICIAL_CHECKPOINT_NAME}. Unpack it by hand and pass --weights PATH."
    )


def _pick_text_members(
    members: list[zipfile.ZipInfo], checkpoint: zipfile.ZipInfo
) -> list[tuple[zipfile.ZipInfo, str]]:
    """Small licence/readme/text members, with the file name each gets in the cache."""
    chosen: list[tuple[zipfile.ZipInfo, str]] = []
    taken = {OFFICIAL_CHECKPOINT_NAME.lower(), SIDECAR_NAME.lower()}
    for member in members:
        if member is checkpoint or member.file_size > _TEXT_MEMBER_MAX:
            continue
        name = _basename(member.filename)
        stem, suffix = os.path.splitext(name.lower())
        is_text = (stem.startswith(_TEXT_STEMS) and suffix in _TEXT_SUFFIXES) or suffix in (
            ".txt",
            ".md",
        )
        if not is_text or name.startswith(".") or name.lower() in taken:
            continue
        taken.add(name.lower())
        chosen.append((member, name))
    return chosen


def _copy_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, dest: Path, url: str) -> str:
    """Write ``member`` to ``dest``; return its SHA-256. zipfile checks the CRC at the end."""
    digest = hashlib.sha256()
    written = 0
    with zf.open(member) as src, open(dest, "wb") as out:
        while True:
            chunk = src.read(_CHUNK)
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if written != member.file_size:
        raise zipfile.BadZipFile(
            f"member {member.filename!r} unpacked to {written} bytes, expected {member.file_size}"
        )
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# installing into the cache
# --------------------------------------------------------------------------------------------


def _install(
    cache_dir: Path,
    staged: list[tuple[Path, Path]],
    url: str,
    archive_md5: str,
    checkpoint_sha256: str,
    extras: list[str],
) -> None:
    """Move the staged files into place, then write the sidecar that vouches for them."""
    sidecar = cache_dir / SIDECAR_NAME
    checkpoint = cache_dir / OFFICIAL_CHECKPOINT_NAME
    try:
        # Withdraw the old voucher first: if we die between the moves below, the cache reads as
        # "not downloaded" rather than pairing an old sidecar with a new file.
        _unlink_quietly(sidecar, missing_ok_only=False)
        while staged:  # drop each entry once moved, so cleanup never touches a reused name
            tmp, final = staged[0]
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
            staged.pop(0)
        installed = checkpoint.stat()
        record = {
            "format": _SIDECAR_FORMAT,
            "archive_url": url,
            "archive_md5": archive_md5,
            "checkpoint": OFFICIAL_CHECKPOINT_NAME,
            "checkpoint_size": installed.st_size,
            "checkpoint_sha256": checkpoint_sha256,
            "checkpoint_mtime_ns": installed.st_mtime_ns,
            "extra_files": extras,
            "downloaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        tmp = _new_part(cache_dir, url)
        staged.append((tmp, sidecar))
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, sidecar)
        staged.clear()
    except OSError as exc:
        raise _cache_write_error(cache_dir, url, exc) from None


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _new_part(cache_dir: Path, url: str) -> Path:
    """Create an empty hidden ``*.part`` file in ``cache_dir`` and return its path."""
    try:
        fd, name = tempfile.mkstemp(prefix=_PART_PREFIX, suffix=_PART_SUFFIX, dir=cache_dir)
    except OSError as exc:
        raise _cache_write_error(cache_dir, url, exc) from None
    os.close(fd)
    return Path(name)


def _remove_stale_parts(cache_dir: Path) -> None:
    """Delete our ``*.part`` files older than a day (left by a killed process)."""
    now = time.time()
    try:
        entries = list(os.scandir(cache_dir))
    except OSError:
        return
    for entry in entries:
        if not (entry.name.startswith(_PART_PREFIX) and entry.name.endswith(_PART_SUFFIX)):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and (
                now - entry.stat(follow_symlinks=False).st_mtime > _STALE_PART_AGE_S
            ):
                os.unlink(entry.path)
        except OSError:
            pass


def _unlink_quietly(path: Path, *, missing_ok_only: bool = True) -> None:
    """Remove ``path``; ignore its absence, and (unless ``missing_ok_only``) nothing else."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        if not missing_ok_only:
            raise


def _cache_write_error(cache_dir: Path, url: str, exc: BaseException) -> DownloadError:
    return DownloadError(
        f"Cannot write the weights to the cache directory {cache_dir}: {_describe(exc)}. "
        "Free some space or choose another cache directory, or download the weights by hand "
        f"from {url} and pass --weights PATH/TO/{OFFICIAL_CHECKPOINT_NAME}."
    )


def _read_sidecar(cache_dir: Path, *, strict: bool = False) -> dict[str, Any] | None:
    """The sidecar record of ``cache_dir``; ``None`` when there is none.

    An unreadable or malformed sidecar is ``None`` too, unless ``strict`` (then OSError/ValueError).
    """
    try:
        with open(cache_dir / SIDECAR_NAME, encoding="utf-8") as fh:
            record = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        if strict:
            raise
        return None
    if not isinstance(record, dict) or not _SHA256_RE.fullmatch(str(record.get("checkpoint_sha256", ""))):
        if strict:
            raise ValueError("no checkpoint SHA-256 in it")
        return None
    return record


def _matches_sidecar(cache_dir: Path, record: dict[str, Any]) -> bool:
    """Whether the cached checkpoint is still the file ``record`` describes (size and SHA-256).

    The SHA-256 is computed only when the size or mtime differ from the ``checkpoint_mtime_ns``
    recorded at the last verification; a successful hash records the present mtime (best effort,
    and only for a file not modified in the last second, so that an edit made within the same
    timestamp tick cannot hide behind it). Raises OSError when the checkpoint cannot be read.
    """
    checkpoint = cache_dir / OFFICIAL_CHECKPOINT_NAME
    before = checkpoint.stat()
    if record.get("checkpoint_size") != before.st_size:
        return False
    if record.get("checkpoint_mtime_ns") == before.st_mtime_ns:
        return True
    digest = hashlib.sha256()
    with open(checkpoint, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != record["checkpoint_sha256"]:
        return False
    after = checkpoint.stat()
    settled = time.time_ns() - after.st_mtime_ns > 1_000_000_000
    if settled and (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns):
        _record_verification(cache_dir, {**record, "checkpoint_mtime_ns": after.st_mtime_ns})
    return True


def _record_verification(cache_dir: Path, record: dict[str, Any]) -> None:
    """Rewrite the sidecar atomically with ``record``; a read-only cache is simply left as it is."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=_PART_PREFIX, suffix=_PART_SUFFIX, dir=cache_dir)
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, cache_dir / SIDECAR_NAME)
    except OSError:
        pass
    finally:
        _unlink_quietly(Path(tmp))


def _normalise_md5(md5: str) -> str:
    value = md5.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{32}", value):
        raise ValueError(f"md5 must be 32 hexadecimal digits, got {md5!r}")
    return value


def _basename(member_name: str) -> str:
    return member_name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f" ({exc.filename})" if exc.filename else "")
    text = str(exc).strip()
    return text or type(exc).__name__


def _user_agent() -> str:
    from .. import __version__

    return f"trufor/{__version__} (+python-urllib)"


def _size(n: int) -> str:
    """A byte count for messages: ``123 bytes``, ``4.5 MiB``."""
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    return f"{n} bytes"  # unreachable
