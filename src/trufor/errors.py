"""Exceptions raised by trufor, and the warnings it issues.

Every error that can reach a user names the file concerned and says what to do, so the CLI can print
one clear line per failure instead of a traceback.
"""

from __future__ import annotations

import os


class TruForError(Exception):
    """Base class of every error raised on purpose by trufor."""


class ImageReadError(TruForError):
    """An input image could not be read or decoded."""

    def __init__(self, path: str | os.PathLike | None, problem: str, hint: str | None = None):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        self.hint = hint
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{problem}" + (f" ({hint})" if hint else ""))


class WeightsError(TruForError):
    """A weights file is missing, unreadable, unsafe or of another architecture."""


class DownloadError(TruForError):
    """Downloading or verifying the official weights archive failed."""


class OutputError(TruForError):
    """An output could not be written (permissions, disk full, ...)."""


class ResultFileError(TruForError):
    """A result file (``.npz``) is missing, damaged or not a TruFor result."""


class DatasetError(TruForError):
    """A dataset cannot be listed: missing folder, unreadable or malformed list file, bad option."""


class ConfigError(TruForError):
    """A training config is invalid: unknown key, wrong type or value, unreadable file."""


class TrainingError(TruForError):
    """A training run cannot start or continue (bad checkpoint, mismatched resume, no data, wrong init)."""


class EvaluationAborted(TruForError):
    """Raised by a model (e.g. when its weights cannot be loaded) to stop the whole run instead of
    failing image after image."""


class TruForWarning(UserWarning):
    """Base class of the warnings trufor issues (the CLI prints them as ``warning: ...`` lines)."""


class UnverifiedWeightsWarning(TruForWarning):
    """Weights are used that could not be verified (e.g. a checkpoint copied into the cache by hand)."""
