"""Writing an evaluation report folder.

Files (all written atomically)::

    metrics.json    aggregated metrics, counts, settings, skipped images (NaN written as null)
    per_image.csv   one row per sample: status, reason, score, localization metrics, warnings
    summary.md      the headline numbers as a Markdown table
    roc.png, scores.png, f1_hist.png, gallery_worst.png, gallery_best.png
    report.html     one page linking and showing all of the above
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..outputs import atomic_write
from . import plots
from .runner import DETECTION_ONLY, LOCALIZATION_KEYS, SKIPPED, EvalResult, ImageRecord

CSV_FIELDS = (
    "name", "label", "status", "reason", "score", *LOCALIZATION_KEYS, "best_threshold", "best_inverted",
    "n_forged", "n_pristine", "n_ignored", "forged_fraction", "cached", "warnings", "image", "mask", "npz",
)

#: Headline rows: (key in the JSON section, label).
LOCALIZATION_ROWS = (
    ("f1_best", "F1, best threshold per image"),
    ("f1_th", "F1, threshold 0.5"),
    ("iou_best", "IoU, best threshold per image"),
    ("iou_th", "IoU, threshold 0.5"),
    ("mcc_best", "MCC, best threshold per image"),
    ("mcc_th", "MCC, threshold 0.5"),
    ("pixel_auc", "pixel AUC, mean per image"),
    ("pixel_auc_pooled", "pixel AUC, pooled over images"),
)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None (strict JSON has no NaN), numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def headline_rows(result: EvalResult) -> list[tuple[str, str, str]]:
    """(section, metric, value) rows shown in summary.md, report.html and the terminal."""
    loc, det = result.localization, result.detection
    n_loc = loc.get("n_images", 0)
    rows = [("localization", f"{label}", _fmt(loc.get(key))) for key, label in LOCALIZATION_ROWS]
    rows.append(("localization", "fake images with a usable mask", str(n_loc)))
    thin = loc.get("n_no_forged_after_erosion", 0)
    if thin:
        rows.append(("localization", "  of which no forged pixel after erosion (F1 0)", str(thin)))
    rows += [
        ("detection", "ROC AUC", _fmt(det.auc)),
        ("detection", "balanced accuracy (score > 0.5)", _fmt(det.balanced_accuracy)),
    ]
    rows += [("detection", f"TPR at {t:.0%} FPR", _fmt(v)) for t, v in det.tpr_at_fpr.items()]
    rows.append(("detection", "images (fake + real)", f"{det.n_fake} + {det.n_real}"))
    return rows


#: Version of the layout of metrics.json (``trufor/schemas/metrics.schema.json``).
METRICS_SCHEMA_VERSION = 1


def metrics_document(result: EvalResult) -> dict[str, Any]:
    ds = result.dataset
    return _clean({
        "schema": "trufor/metrics",
        "schema_version": METRICS_SCHEMA_VERSION,
        "dataset": {
            "name": ds.name,
            "root": ds.root,
            "mask_format": ds.mask_format.describe(),
            "notes": ds.notes,
        },
        "model": result.model_name,
        "protocol": {
            **result.settings,
            "localization": "fake images only; F1/IoU = max(map, inverted map), MCC absolute; "
                            "NaN-safe mean over images",
            "detection": "ROC AUC of the score; balanced accuracy of score > 0.5; NaN scores dropped, "
                         "+inf = certainly fake, -inf = certainly real",
        },
        "counts": result.counts,
        "localization": result.localization,
        "detection": result.detection.as_dict(),
        "skipped": [{"name": r.name, "label": "fake" if r.is_fake else "real", "reason": r.reason}
                    for r in result.records if r.status == SKIPPED],
        "detection_only": [{"name": r.name, "reason": r.reason}
                           for r in result.records if r.status == DETECTION_ONLY],
        "notes": result.notes,
        "seconds": round(result.seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "trufor_version": __version__,
    })


def _csv_row(r: ImageRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": r.name, "label": "fake" if r.is_fake else "real", "status": r.status, "reason": r.reason,
        "score": "" if math.isnan(r.score) else repr(float(r.score)),
        "forged_fraction": "" if math.isnan(r.forged_fraction) else f"{r.forged_fraction:.6f}",
        "cached": int(r.cached), "warnings": "; ".join(r.warnings),
        "image": r.image, "mask": r.mask or "", "npz": r.npz or "",
    }
    for key in (*LOCALIZATION_KEYS, "best_threshold", "best_inverted", "n_forged", "n_pristine", "n_ignored"):
        v = r.metrics.get(key, "")
        row[key] = "" if (isinstance(v, float) and math.isnan(v)) else v
    return row


def write_csv(result: EvalResult, path: str | os.PathLike) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in result.records:
        writer.writerow(_csv_row(r))
    with atomic_write(path, "w") as f:
        f.write(buf.getvalue())
    return Path(path)


def summary_markdown(result: EvalResult) -> str:
    c = result.counts
    lines = [
        f"# TruFor evaluation: {result.dataset.name}",
        "",
        f"- model: {result.model_name or 'n/a (cached outputs only)'}",
        f"- images: {c['fake']} fake + {c['real']} real; {c['evaluated']} evaluated "
        f"({c['cached']} from cache), {c['detection_only']} fake without usable mask, {c['skipped']} skipped",
        f"- ground truth: {result.dataset.mask_format.describe()}; forged = 15x15 erosion, "
        f"pristine = outside 11x11 dilation, band between ignored",
        "",
        "| | metric | value |",
        "|---|---|---|",
    ]
    lines += [f"| {sec} | {name} | {val} |" for sec, name, val in headline_rows(result)]
    if result.notes:
        lines += [""] + [f"> note: {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def _table(rows: list[list[str]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;
font-size:14px}th{background:#f3f3f3}img{max-width:100%;border:1px solid #ddd;margin:.3em 0}
.plots img{max-width:49%}code{background:#f3f3f3;padding:0 3px}
"""


def report_html(result: EvalResult, files: dict[str, str]) -> str:
    c = result.counts
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>TruFor evaluation - {esc(result.dataset.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>TruFor evaluation: {esc(result.dataset.name)}</h1>",
        f"<p>Model: <b>{esc(result.model_name or 'n/a (cached outputs only)')}</b><br>",
        f"Dataset root: <code>{esc(result.dataset.root)}</code><br>",
        f"{c['fake']} fake + {c['real']} real images: {c['evaluated']} evaluated ({c['cached']} from cache, "
        f"{c['analyzed']} analysed), {c['detection_only']} fake without usable mask, {c['skipped']} skipped. "
        f"Took {result.seconds:.1f} s.</p>",
        "<p>Files: " + " | ".join(f"<a href='{esc(f)}'>{esc(f)}</a>"
                                  for k, f in files.items() if k in ("metrics", "csv", "summary")) + "</p>",
        "<h2>Metrics</h2>",
        _table([list(r) for r in headline_rows(result)], ["", "metric", "value"]),
        f"<p>Protocol: ground truth {esc(result.dataset.mask_format.describe())}; forged pixels = 15x15 "
        "erosion of the mask, pristine pixels = outside its 11x11 dilation, the band between is ignored; "
        "a pixel is predicted forged when its map value is &gt; the threshold; F1 and IoU are the maximum "
        "over the map and the inverted map; per-image values are averaged ignoring NaN (images where a "
        "metric is undefined).</p>",
        "<h2>Plots</h2><div class='plots'>",
    ]
    for key in ("roc", "scores", "f1_hist"):
        if key in files:
            parts.append(f"<a href='{esc(files[key])}'><img src='{esc(files[key])}' alt='{key}'></a>")
    parts.append("</div>")
    for key, title in (("gallery_worst", "Worst localizations"), ("gallery_best", "Best localizations")):
        if key in files:
            parts.append(f"<h2>{title}</h2><a href='{esc(files[key])}'><img src='{esc(files[key])}' alt='{key}'></a>")
    skipped = [[r.name, "fake" if r.is_fake else "real", r.status, r.reason]
               for r in result.records if r.status in (SKIPPED, DETECTION_ONLY)]
    parts.append(f"<h2>Images not fully evaluated ({len(skipped)})</h2>")
    parts.append(_table(skipped, ["image", "label", "status", "reason"]) if skipped else "<p>None.</p>")
    warned = [[r.name, "; ".join(r.warnings)] for r in result.records if r.warnings]
    parts.append(f"<h2>Warnings ({len(warned)})</h2>")
    parts.append(_table(warned, ["image", "warning"]) if warned else "<p>None.</p>")
    notes = result.notes + result.dataset.notes
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    parts.append(f"<p style='color:#888'>trufor {esc(__version__)}</p></body></html>")
    return "\n".join(parts)


def write_report(result: EvalResult, out_dir: str | os.PathLike, *, plots_too: bool = True,
                 gallery_size: int = 6) -> dict[str, Path]:
    """Write the report folder; returns the written files by key (``html``, ``metrics``, ``csv``...)."""
    out = Path(out_dir)
    files: dict[str, str] = {"metrics": "metrics.json", "csv": "per_image.csv", "summary": "summary.md"}
    with atomic_write(out / files["metrics"], "w") as f:
        json.dump(metrics_document(result), f, indent=2, allow_nan=False)
    write_csv(result, out / files["csv"])
    with atomic_write(out / files["summary"], "w") as f:
        f.write(summary_markdown(result))
    if plots_too:
        mismatch = result.settings.get("mask_mismatch", "fix")
        plots.roc_figure(result, out / "roc.png")
        plots.score_histogram_figure(result, out / "scores.png")
        plots.f1_histogram_figure(result, out / "f1_hist.png")
        files.update(roc="roc.png", scores="scores.png", f1_hist="f1_hist.png")
        worst, best = plots.pick_gallery(result, gallery_size)
        if worst:
            plots.gallery_figure(result, worst, f"Worst {len(worst)} by best-threshold F1", out / "gallery_worst.png", mismatch)
            files["gallery_worst"] = "gallery_worst.png"
        if best:
            plots.gallery_figure(result, best, f"Best {len(best)} by best-threshold F1", out / "gallery_best.png", mismatch)
            files["gallery_best"] = "gallery_best.png"
    files["html"] = "report.html"
    with atomic_write(out / files["html"], "w") as f:
        f.write(report_html(result, files))
    return {k: out / v for k, v in files.items()}
