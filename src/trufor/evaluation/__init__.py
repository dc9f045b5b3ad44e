"""Evaluating a model on a benchmark: run (or reuse) the analyses, score them, write a report.

    >>> from trufor.evaluation.datasets import load_dataset
    >>> from trufor.evaluation import evaluate, write_report
    >>> ds = load_dataset("casia1", "/data/casia1")
    >>> result = evaluate(ds, model, "report/npz")
    >>> write_report(result, "report")
"""

from __future__ import annotations

from ..errors import EvaluationAborted
from .report import write_report
from .runner import (
    DETECTION_ONLY,
    OK,
    SKIPPED,
    EvalResult,
    ImageRecord,
    evaluate,
    npz_path_for,
)

__all__ = [
    "DETECTION_ONLY",
    "OK",
    "SKIPPED",
    "EvalResult",
    "EvaluationAborted",
    "ImageRecord",
    "evaluate",
    "npz_path_for",
    "write_report",
]
