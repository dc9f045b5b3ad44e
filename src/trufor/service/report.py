"""What an analysis says, in words, and its reports: ``report.json`` and a self-contained ``report.html``.

The words are made here once and shown by the API, the web page and the reports alike.
"""

from __future__ import annotations

import base64
import html
import json
import time
from typing import Any

from .files import DataDir

#: (lowest score, words), highest first.
VERDICTS = (
    (0.8, "likely manipulated"),
    (0.5, "possibly manipulated"),
    (0.2, "no strong sign of manipulation"),
    (0.0, "no sign of manipulation found"),
)


def verdict(score: float | None) -> str | None:
    if score is None or score != score:
        return None
    return next(words for low, words in VERDICTS if score >= low)


def explanation(score: float | None, summary: dict[str, Any]) -> str | None:
    """How to read the score with the maps (the confidence map can veto a clear-looking map)."""
    if score is None or not summary:
        return None
    area = summary.get("map_area", 0.0)
    trusted = summary.get("trusted_map_area")
    mean_conf = summary.get("mean_confidence")
    parts = [f"The localization map flags {100 * area:.1f} % of the image"]
    if trusted is not None:
        parts.append(f"{100 * trusted:.1f} % where the confidence map trusts it")
    text = ", ".join(parts) + "."
    if mean_conf is not None:
        text += f" Mean confidence: {mean_conf:.2f}."
    if score < 0.5 and area > 0.01:
        text += (" A low score with a visible map can happen: where the confidence map is dark, the network "
                 "does not trust its own map, and the score follows the confidence (it vetoes the map).")
    elif score >= 0.5 and area <= 0.01:
        text += " A high score with little flagged area: look at the confidence map and the overlay closely."
    text += " The score and maps are evidence, not proof."
    return text


def short_name(text: str, stop: str = " (") -> str:
    """The head of a model name or licence that carries its whole provenance (the rest goes in a note)."""
    head = text.split(stop, 1)[0]
    return head or text


def public(row: dict[str, Any]) -> dict[str, Any]:
    """The API's view of an analysis row (no lease internals)."""
    times = {
        "created": row["created_at"],
        "started": row.get("started_at"),
        "finished": row.get("finished_at"),
        "analysis_seconds": row.get("analysis_seconds"),
        "total_seconds": (row["finished_at"] - row["created_at"]) if row.get("finished_at") else None,
    }
    done = row["status"] == "done"
    return {
        "id": row["id"],
        "filename": row["filename"],
        "sha256": row["sha256"],
        "size_bytes": row["size_bytes"],
        "status": row["status"],
        "error": row.get("error"),
        "score": row.get("score"),
        "verdict": verdict(row.get("score")),
        "explanation": explanation(row.get("score"), row.get("summary") or {}),
        "summary": row.get("summary") or {},
        "image_size": {"height": row["height"], "width": row["width"]} if row.get("height") else None,
        "model": {"name": row["model_name"], "licence": row["model_licence"]},
        "read_options": row.get("read_options") or {},
        "warnings": row.get("warnings") or [],
        "attempts": row.get("attempts", 0),
        "timings": times,
        "files": {name: f"/api/v1/analyses/{row['id']}/{name}" for name in
                  ("map.png", "conf.png", "overlay.png", "figure.png", "image.png", "thumb.png", "result.npz",
                   "report.json", "report.html")} if done else {},
    }


def load_provenance(data: DataDir | None, analysis_id: str) -> dict[str, Any] | None:
    """The provenance report the worker wrote for an analysis (None: not written, or unreadable)."""
    if data is None:
        return None
    from .files import PROVENANCE

    try:
        value = json.loads(data.path(analysis_id, PROVENANCE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


_C2PA_WORDS = {"none": "no content credentials", "invalid": "INVALID content credentials",
               "valid-untrusted": "valid, signer not trusted", "trusted": "valid, trusted signer",
               "not-checked": "not checked", "error": "unreadable"}


def provenance_facts(prov: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The provenance fields shown by report.html (the page's app.js shows the same ones), as plain text."""
    if not prov:
        return []
    exif = prov.get("exif") or {}
    dates = exif.get("datetime") or {}
    when = "; ".join(f"{k}: {v}" for k, v in dates.items() if v)
    if exif.get("datetimes_disagree"):
        when += " (they disagree)"
    jpeg = prov.get("jpeg")
    q = (jpeg or {}).get("quality")
    if q:
        coding = f"quality ~{q['quality']}, " + ("standard IJG tables" if q.get("standard") else
                                                f"custom tables (fit error {q.get('error', 0):.2f})")
    else:
        coding = "not a JPEG" if jpeg is None else "no quality estimate"
    c2pa = prov.get("c2pa") or {}
    state = c2pa.get("state") or ""
    credentials = _C2PA_WORDS.get(state, state or "-")
    if c2pa.get("ai_generated"):
        credentials += ", AI-generated"
    return [
        ("Camera", exif.get("camera") or ("EXIF without camera" if exif.get("present") else "no EXIF")),
        ("Software", exif.get("software") or "-"),
        ("Date-times", when or "-"),
        ("JPEG coding", coding),
        ("Content credentials (C2PA)", credentials),
        ("SHA-256", str((prov.get("file") or {}).get("sha256") or "-")),
        ("Summary", str(prov.get("summary") or "")),
    ]


def report_json(row: dict[str, Any], data: DataDir | None = None) -> dict[str, Any]:
    """The API view of an analysis, plus its provenance report (``provenance``: None when there is none)."""
    out = public(row)
    out["schema"] = "trufor/service-report"
    out["schema_version"] = 1
    out["generated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out["provenance"] = load_provenance(data, row["id"])
    return out


def _data_uri(data: DataDir, analysis_id: str, name: str) -> str:
    raw = data.path(analysis_id, name).read_bytes()
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;color:#111;margin:2em auto;max-width:60em;padding:0 1em}
h1{font-size:1.4em;margin:0 0 .2em} h2{font-size:1.15em;margin:1.2em 0 0} table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left;vertical-align:top}
.pics{display:grid;grid-template-columns:repeat(3,1fr);gap:.8em} figure{margin:0}
figure img{width:100%;border:1px solid #ccc} figcaption{font-size:.9em;color:#444}
.score{font-size:1.3em;font-weight:600} .note{color:#333} footer{margin-top:2em;font-size:.85em;color:#555}
@media print{body{margin:0;max-width:none} .pics{grid-template-columns:repeat(3,1fr)} a{color:inherit}}
"""


def report_html(row: dict[str, Any], data: DataDir) -> str:
    """A one-page, self-contained (images inlined), printable report of a finished analysis."""
    r = report_json(row, data)
    e = html.escape
    size = r["image_size"] or {}
    rows = [
        ("File", e(r["filename"])),
        ("SHA-256", f"<code>{e(r['sha256'])}</code>"),
        ("Size", f"{size.get('width')} x {size.get('height')} pixels, {r['size_bytes']} bytes"),
        ("Integrity score", f"<span class=score>{r['score']:.3f}</span> &mdash; {e(r['verdict'] or '')}"),
        ("Reading", e(r["explanation"] or "")),
        ("Model", f"{e(short_name(r['model']['name']))} (licence: {e(short_name(r['model']['licence'], ':'))})"
                  f"<br><small>{e(r['model']['name'])}<br>Licence: {e(r['model']['licence'])}</small>"),
        ("Read options", e(", ".join(f"{k}={v}" for k, v in r["read_options"].items()))),
        ("Submitted", e(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(r["timings"]["created"])))),
        ("Analysis time", f"{(r['timings']['analysis_seconds'] or 0):.2f} s"),
        ("Analysis id", f"<code>{e(r['id'])}</code>"),
    ]
    if r["warnings"]:
        rows.append(("Warnings", "<br>".join(e(w) for w in r["warnings"])))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    facts = provenance_facts(r["provenance"])
    provenance = ("<h2>Provenance</h2><p class=note>What the file's metadata, JPEG coding and content "
                  "credentials say (metadata can be edited: a clue, not proof).</p><table>" + "".join(
                      f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts) + "</table>") if facts else ""
    pics = "".join(
        f"<figure><img alt='{e(cap)}' src='{_data_uri(data, r['id'], name)}'><figcaption>{e(cap)}</figcaption></figure>"
        for name, cap in (("image.png", "Image (as analysed)"),
                          ("overlay.png", "Localization map over the image (red = likely manipulated)"),
                          ("conf.png", "Confidence map (white = the map can be trusted)")))
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>TruFor report: {e(r['filename'])}"
            f"</title><style>{_CSS}</style></head><body><h1>TruFor analysis report</h1>"
            f"<p class=note>{e(r['filename'])}</p><table>{table}</table>{provenance}<div class=pics>{pics}</div>"
            f"<footer>Generated {e(r['generated'])} by trufor serve. TruFor (Guillaro et al., CVPR 2023), "
            "independent implementation. The score and maps are evidence, not proof; read them with the "
            "confidence map.</footer></body></html>")
