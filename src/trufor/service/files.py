"""Where the service keeps files: server-chosen names only, never a name a client gave.

Layout of the data folder::

    trufor.db                     the SQLite database (unless --database names another)
    analyses/<id[:2]>/<id>/       one folder per analysis (id: 32 hex digits chosen by the server)
        upload                    the uploaded bytes, as received
        result.npz                map, conf, score, imgsize (the official layout)
        map.png conf.png overlay.png figure.png image.png thumb.png
        provenance.json           the upload's provenance report (trufor.provenance), when it could be read

Every file is written atomically (:func:`trufor.outputs.atomic_write`). A request for a file names an
analysis id and one of :data:`ARTIFACTS`; both are checked against fixed patterns before any path is built,
and the resolved path must lie inside the data folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

#: Files of a finished analysis that can be downloaded, and their media types.
ARTIFACTS = {
    "map.png": "image/png",
    "conf.png": "image/png",
    "overlay.png": "image/png",
    "figure.png": "image/png",
    "image.png": "image/png",
    "thumb.png": "image/png",
    "result.npz": "application/octet-stream",
    "report.json": "application/json",
    "report.html": "text/html; charset=utf-8",
}
#: Artifacts written by the worker (the reports are made on request from the database and these).
WRITTEN = ("result.npz", "map.png", "conf.png", "overlay.png", "figure.png", "image.png", "thumb.png")
UPLOAD = "upload"
#: The provenance report of the upload, written by the worker beside the results (served inside report.json;
#: optional: a provenance failure never fails an analysis, and older analyses have none).
PROVENANCE = "provenance.json"

_ID = re.compile(r"[0-9a-f]{32}")


def valid_id(analysis_id: str) -> bool:
    return bool(_ID.fullmatch(analysis_id or ""))


class DataDir:
    """The data folder of a service (shared by the API and the workers)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()

    def prepare(self) -> "DataDir":
        (self.root / "analyses").mkdir(parents=True, exist_ok=True)
        return self

    def folder(self, analysis_id: str) -> Path:
        if not valid_id(analysis_id):
            raise ValueError(f"not an analysis id: {analysis_id!r}")
        path = (self.root / "analyses" / analysis_id[:2] / analysis_id).resolve()
        if self.root not in path.parents:  # cannot happen with a checked id; kept as a second lock
            raise ValueError("path outside the data folder")
        return path

    def path(self, analysis_id: str, name: str) -> Path:
        if name not in (UPLOAD, PROVENANCE) and name not in ARTIFACTS:
            raise ValueError(f"not a file of an analysis: {name!r}")
        return self.folder(analysis_id) / name

    def complete(self, analysis_id: str) -> bool:
        """Whether every file the worker writes is there."""
        return all(self.path(analysis_id, n).is_file() for n in WRITTEN)

    def remove(self, analysis_id: str) -> None:
        folder = self.folder(analysis_id)
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            folder.parent.rmdir()  # the <id[:2]> level, when now empty

    def database_url(self) -> str:
        return f"sqlite:///{self.root / 'trufor.db'}"
