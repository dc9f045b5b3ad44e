"""``trufor provenance FILE...``: what each file's metadata, JPEG coding and C2PA content credentials say
(a readable table, or ``--json``). Display only: everything comes from :mod:`trufor.provenance`."""

from __future__ import annotations

import argparse
import json

from ._common import console, fail


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "provenance",
        help="metadata, JPEG coding and C2PA content credentials of image files",
        description="For each FILE: format, size and SHA-256; EXIF summary (camera, lens, software, dates, GPS, "
                    "orientation); editing traces (EXIF Software, XMP, Photoshop IRB); JPEG coding (quantisation "
                    "tables, estimated quality, subsampling, progressive); EXIF size and thumbnail against the "
                    "image; C2PA content credentials (invalid / valid from an untrusted signer / trusted). "
                    "Absence of metadata proves nothing: see docs/PROVENANCE.md.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="image files")
    p.add_argument("--json", action="store_true", help="print one JSON document (a list, one object per file)")
    p.add_argument("--tables", action="store_true", help="also print the quantisation tables")
    add_trust_argument(p)
    p.add_argument("--no-c2pa", action="store_true", help="do not verify C2PA content credentials")
    p.set_defaults(func=run)


def add_trust_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-anchors", default=None, metavar="PEM",
                   help="PEM file of the certificates whose C2PA signers count as trusted (default: "
                        "$TRUFOR_C2PA_TRUST_ANCHORS; without any, a valid manifest is 'valid, untrusted signer')")


def run(args: argparse.Namespace) -> int:
    from ..provenance import inspect_file, trust_anchor_text

    try:
        anchors = trust_anchor_text(args.trust_anchors)
    except OSError as exc:
        return fail(f"{args.trust_anchors}: cannot read the trust anchors: {exc.strerror or exc}")
    reports, failed = [], 0
    for name in args.files:
        try:
            report = inspect_file(name, c2pa=not args.no_c2pa, trust_anchors=anchors)
        except OSError as exc:
            failed += 1
            fail(f"{name}: cannot read: {exc.strerror or exc}")
            continue
        if not args.tables and report.get("jpeg"):
            report["jpeg"].pop("tables", None)
        reports.append(report)
    if args.json:
        print(json.dumps(reports, indent=2))
    else:
        for report in reports:
            print_report(report)
    return 1 if failed else 0


def _rows(report: dict) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    f = report["file"]
    rows.append(("file", f"{f['format'] or 'unknown format'}, {f['size']:,} bytes"))
    rows.append(("sha256", f["sha256"]))
    img = report.get("image") or {}
    if img.get("width"):
        rows.append(("image", f"{img['width']} x {img['height']}"))
    exif = report.get("exif") or {}
    if not exif.get("present"):
        rows.append(("EXIF", "none (absence proves nothing: most sites and tools strip it)"))
    else:
        rows.append(("camera", exif.get("camera") or "-"))
        if exif.get("lens"):
            rows.append(("lens", exif["lens"]))
        rows.append(("software", exif.get("software") or "-"))
        d = exif.get("datetime") or {}
        dates = f"original {d.get('original') or '-'}, digitised {d.get('digitised') or '-'}, " \
                f"modified {d.get('modified') or '-'}"
        rows.append(("date-times", dates + ("  [DISAGREE]" if exif.get("datetimes_disagree") else "")))
        rows.append(("GPS", "present" if exif.get("gps") else "absent"))
        rows.append(("orientation", str(exif.get("orientation") or "-")))
        if exif.get("pixel_width"):
            rows.append(("EXIF size", f"{exif['pixel_width']} x {exif['pixel_height']}"))
    cons = report.get("consistency") or {}
    checks = []
    if cons.get("dimensions_match") is not None:
        checks.append("EXIF size " + ("matches the image" if cons["dimensions_match"] else "DIFFERS from the image"))
    if cons.get("thumbnail"):
        tw, th = cons["thumbnail"]
        checks.append(f"thumbnail {tw} x {th} " + ("same shape" if cons.get("thumbnail_aspect_match")
                                                   else "DIFFERENT shape from the image"))
    if checks:
        rows.append(("since capture", "; ".join(checks)))
    traces = report.get("editing_traces") or []
    rows.append(("editing traces", "\n".join(traces) if traces else "none found (proves nothing)"))
    jpeg = report.get("jpeg")
    if jpeg:
        q = jpeg.get("quality")
        qtext = "-" if not q else (f"{q['quality']} (standard IJG tables: a library or editor re-save)" if q["standard"]
                                   else f"~{q['quality']} (custom tables, IJG fit error {q['error']:.2f}/coefficient)")
        rows.append(("JPEG quality", qtext))
        rows.append(("JPEG coding", f"{'progressive' if jpeg['progressive'] else 'baseline'}, "
                                    f"subsampling {jpeg.get('subsampling') or '-'}"))
        if jpeg.get("tables"):
            for tid, values in jpeg["tables"].items():
                rows.append((f"table {tid}", "\n".join(" ".join(f"{v:3d}" for v in values[r * 8:r * 8 + 8])
                                                       for r in range(8))))
    c2pa = report.get("c2pa") or {}
    state = c2pa.get("state")
    state_text = {"none": "no manifest", "invalid": "present, INVALID (does not verify)",
                  "valid-untrusted": "present, valid, signer NOT trusted",
                  "trusted": "present, valid, signer trusted", "not-checked": "not checked",
                  "error": "present?, unreadable"}.get(state, str(state))
    rows.append(("C2PA", state_text))
    if c2pa.get("present"):
        if c2pa.get("claim_generator"):
            rows.append(("  claim generator", c2pa["claim_generator"]))
        signer = c2pa.get("signer") or {}
        if signer:
            rows.append(("  signer", f"{signer.get('common_name') or '-'} (issuer {signer.get('issuer') or '-'})"
                                     + (f", signed {signer['time']}" if signer.get("time") else "")))
        for a in c2pa.get("actions") or []:
            rows.append(("  action", f"{a['action']}" + (f" by {a['software']}" if a.get("software") else "")
                                    + (f" [{a['digital_source_type']}]" if a.get("digital_source_type") else "")
                                    + ("  AI-GENERATED" if a.get("ai_generated") else "")))
        for ing in c2pa.get("ingredients") or []:
            rows.append(("  ingredient", f"{ing.get('title')} ({ing.get('relationship')})"))
        for e in c2pa.get("errors") or []:
            rows.append(("  error", e))
    if c2pa.get("error"):
        rows.append(("  note", c2pa["error"]))
    for w in report.get("warnings") or []:
        rows.append(("warning", w))
    return rows


def print_report(report: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(str(report["file"]["name"])), show_header=False, title_justify="left")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in _rows(report):
        style = "red" if ("INVALID" in value or "DIFFER" in value or "DISAGREE" in value or key == "warning") else None
        table.add_row(escape(key), f"[{style}]{escape(value)}[/]" if style else escape(value))
    out = console()
    out.print(table)
    out.print(f"summary: {escape(report['summary'])}\n")
